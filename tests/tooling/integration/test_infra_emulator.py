"""infra/data.json (the queues and tables of the stack) deploys through CloudFormation on moto's server,
and the app's own store and queue work against what it created: nothing is created by the app.

ElastiCache, VPC, secrets and alarms are in infra/resources.json, which an emulator cannot deploy
meaningfully; test_deploy_package.py checks them statically.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from chalicelib.dispatch_queue import DispatchMessage, DispatchQueue
from chalicelib.lifecycle import Status
from chalicelib.settings import ENV_NAMES, get_settings
from chalicelib.storage.queries import ListFilter, RequestQueries
from chalicelib.storage.requests import RequestStore
from chalicelib.storage.tables import SmsRequestModel
from chalicelib.wiring import tables_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
STACK = "sms-gateway-dev"
OUTPUT_TO_VARIABLE = {
    "RequestsTableName": "REQUESTS_TABLE",
    "ResponsesTableName": "RESPONSES_TABLE",
    "ProviderHealthTableName": "HEALTH_TABLE",
    "IdempotencyTableName": "IDEMPOTENCY_TABLE",
}


@pytest.fixture(scope="module")
def emulator():
    """A moto server over HTTP, with the environment every AWS client (boto3 and PynamoDB) reads."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    with pytest.MonkeyPatch.context() as mp:
        for name in ENV_NAMES:
            mp.delenv(name, raising=False)
        for name in ("AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("STAGE", "local")
        yield mp
    server.stop()


@pytest.fixture(scope="module")
def stack_outputs(emulator) -> dict[str, str]:
    cfn = boto3.client("cloudformation")
    cfn.create_stack(StackName=STACK, TemplateBody=(ROOT / "infra" / "data.json").read_text(),
                     Parameters=[{"ParameterKey": "Stage", "ParameterValue": "dev"}])
    deadline = time.monotonic() + 60
    while (stack := cfn.describe_stacks(StackName=STACK)["Stacks"][0])["StackStatus"].endswith("IN_PROGRESS"):
        assert time.monotonic() < deadline, "stack creation did not finish"
        time.sleep(0.2)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


@pytest.fixture(scope="module")
def gateway_settings(emulator, stack_outputs):
    """The gateway's settings for the stack."""
    for output, variable in OUTPUT_TO_VARIABLE.items():
        emulator.setenv(variable, stack_outputs[output])
    emulator.setenv("DISPATCH_QUEUE_NAME", stack_outputs["DispatchQueueArn"].rsplit(":", 1)[1])
    return get_settings()


def test_dispatch_queue_redrives_to_its_dlq(stack_outputs):
    sqs = boto3.client("sqs")
    queue_url = sqs.get_queue_url(QueueName="sms-dispatch-dev")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":sms-dispatch-dev-dlq")
    assert int(redrive["maxReceiveCount"]) == 5
    assert int(attributes["VisibilityTimeout"]) >= 180


def test_stack_tables_carry_the_models_indexes(gateway_settings):
    dynamodb = boto3.client("dynamodb")
    table = dynamodb.describe_table(TableName=gateway_settings.tables.requests)["Table"]
    expected = {g["index_name"] for g in SmsRequestModel._get_schema()["global_secondary_indexes"]}
    assert {g["IndexName"] for g in table["GlobalSecondaryIndexes"]} == expected


def test_request_store_writes_and_reads_a_request_in_the_stack_tables(gateway_settings):
    tables = tables_for(gateway_settings)
    store = RequestStore(tables, time.time, sweep_after_s=gateway_settings.sweep_after_s, retention_s=86400)
    request_id = uuid.uuid4().hex
    store.create(request_id, client="team-a", phone="+14155550100", text="hello", encoding="GSM-7", segments=1,
                 ttl_s=3600)

    stored = store.get(request_id)
    assert (stored.id, stored.status, stored.phone) == (request_id, Status.PENDING, "+14155550100")
    pending, _ = RequestQueries(tables, time.time).list_requests(ListFilter("team-a", status=Status.PENDING), limit=10,
                                                                 cursor=None, cursor_key=b"k")
    assert request_id in [item.id for item in pending]  # through the by_client GSI


def test_dispatch_queue_found_by_name_carries_a_message(gateway_settings):
    sqs = boto3.client("sqs")
    queue = DispatchQueue.by_name(sqs, gateway_settings.queues.dispatch_queue_name)
    message = DispatchMessage(id=uuid.uuid4().hex, expires_at=int(time.time()) + 3600)
    queue.send(message)

    received = sqs.receive_message(QueueUrl=queue.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
    assert [DispatchMessage.from_body(m["Body"]) for m in received["Messages"]] == [message]
