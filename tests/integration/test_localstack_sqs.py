"""The integration tier against LocalStack's SQS (its runtime without Docker, Python 3.13 from pyenv or
PATH), with DynamoDB from moto: the same stack, the same code path, another SQS. This is
`AWS_ENDPOINT_URL_SQS=http://127.0.0.1:4566 make run`, on a LocalStack that a previous run left a dispatch
queue in, with other attributes than this run asks for.

LocalStack's DynamoDB needs Java and a download (offline here), so only SQS comes from LocalStack.
localstack/run-localstack.sh installs localstack-core into .localstack-venv on first use (~40 s). The test's
own AWS clients come from localstack-client, pointed at this LocalStack.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess

import pytest
from localstack_client.session import Session

from localdev.stack import ROOT, free_port

pytestmark = pytest.mark.integration
LEFT_BEHIND = {"VisibilityTimeout": "180", "MessageRetentionPeriod": "345600"}


def _python313_available() -> bool:
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip() if shutil.which(
        "pyenv") else os.path.expanduser("~/.pyenv")
    return bool(glob.glob(f"{root}/versions/3.13.*/bin/python")) or bool(shutil.which("python3.13"))


@pytest.fixture(scope="module")
def localstack_sqs(tmp_path_factory):
    if not _python313_available():
        pytest.skip("LocalStack's runtime needs Python 3.13 (pyenv install 3.13); moto serves SQS instead")
    port = free_port()
    env = {**os.environ, "LOCALSTACK_PORT": str(port),
           "LOCALSTACK_DATA_DIR": str(tmp_path_factory.mktemp("localstack"))}
    started = subprocess.run(["bash", "localstack/run-localstack.sh"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=600)
    assert started.returncode == 0, started.stderr[-3000:]
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AWS_ENDPOINT_URL", raising=False)  # localstack-client would take it over localstack_host
        sqs = Session(localstack_host=f"127.0.0.1:{port}").client("sqs")
    # What a previous run (or the old init hook) left: the dispatch queue, with a longer visibility timeout.
    sqs.create_queue(QueueName="sms-dispatch", Attributes=LEFT_BEHIND)
    yield f"http://127.0.0.1:{port}", sqs
    subprocess.run(["bash", "localstack/run-localstack.sh", "stop"], cwd=ROOT, env=env, timeout=60)


@pytest.fixture(scope="module")
def stack_env(localstack_sqs):
    return {"AWS_ENDPOINT_URL_SQS": localstack_sqs[0]}


def test_the_dispatch_queue_lives_in_localstack_and_was_kept_as_left(stack, localstack_sqs):
    _, sqs = localstack_sqs
    url = sqs.get_queue_url(QueueName="sms-dispatch")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == LEFT_BEHIND["VisibilityTimeout"]
    dlq = sqs.get_queue_url(QueueName="sms-dispatch-dlq")["QueueUrl"]  # created, from infra/data.json
    dlq_attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["MessageRetentionPeriod"])["Attributes"]
    assert dlq_attributes["MessageRetentionPeriod"] == "1209600"
    output = (stack.log_dir / "stack.out").read_text()
    assert "sms-dispatch exists with other attributes, used as it is" in output
    assert "Traceback" not in output


def test_sms_is_sent_through_localstack_sqs(fresh_stack):
    request_id = fresh_stack.send(text="via LocalStack SQS")

    view = fresh_stack.wait_terminal([request_id], timeout_s=60)[request_id]

    assert view["status"] == "sent"
    sends = [s for name in fresh_stack.simulators for s in fresh_stack.sent(name)]
    assert [s["reference"] for s in sends] == [request_id]


def test_retry_with_delay_seconds_works_on_localstack_sqs(fresh_stack):
    fresh_stack.configure("alpha", mode="fail")
    fresh_stack.configure("beta", mode="fail")
    ids = [fresh_stack.send(text=f"retry via LocalStack {i}") for i in range(3)]

    views = fresh_stack.wait_terminal(ids, timeout_s=60)

    for view in views.values():
        assert view["status"] == "sent"
        assert view["provider_used"] == "gamma"


def test_a_second_run_against_the_same_localstack_starts_and_sends(stack, localstack_sqs, tmp_path):
    """make run again, after the first one stopped: its queues are still in LocalStack, and are used."""
    from tests.integration.conftest import start_stack

    stack.stop()  # one run at a time: two stacks' dispatchers would share the queue
    again = start_stack(tmp_path, AWS_ENDPOINT_URL_SQS=localstack_sqs[0])
    try:
        request_id = again.send(text="second run")
        assert again.wait_terminal([request_id], timeout_s=60)[request_id]["status"] == "sent"
        assert "Traceback" not in (again.log_dir / "stack.out").read_text()
    finally:
        again.stop()
    assert json.loads(json.dumps(again.state))["aws_endpoint_url"] != localstack_sqs[0]  # DynamoDB stayed on moto
