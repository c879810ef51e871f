"""The IAM evaluator the policy tests rely on (localdev/iam_policies.py): it must deny what AWS denies, or a
missing grant passes unseen."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.settings import get_settings
from localdev.iam_policies import (
    Account,
    Call,
    CallRecorder,
    UnsupportedPolicy,
    allows,
    enforce_function_policy,
    function_policies,
    grants_of,
    needed_by,
    queue_account,
)

pytestmark = pytest.mark.unit

ACCOUNT = "123456789012"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/sms_requests"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:sms-dispatch"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:sms-gateway/prod/api-keys-AbCdEf"


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(actions, resources, sid="S") -> dict:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


@pytest.mark.parametrize(("action", "resource", "expected"), [
    pytest.param("dynamodb:GetItem", TABLE, True, id="granted"),
    pytest.param("DynamoDB:getitem", TABLE, True, id="actions-ignore-case"),
    pytest.param("dynamodb:PutItem", TABLE, False, id="another-action"),
    pytest.param("dynamodb:GetItem", TABLE + "2", False, id="another-table"),
    pytest.param("dynamodb:Query", TABLE + "/index/by_client", False, id="an-index-is-not-its-table"),
    pytest.param("dynamodb:GetItem", TABLE.upper(), False, id="resources-keep-case"),
])
def test_a_grant_covers_its_own_actions_on_its_own_resources(action, resource, expected):
    grants = grants_of(policy(allow(["dynamodb:GetItem", "dynamodb:Query"], [TABLE])))
    assert allows(grants, action, resource) is expected


@pytest.mark.parametrize(("pattern", "resource", "expected"), [
    pytest.param(TABLE + "/index/*", TABLE + "/index/by_client", True, id="star-covers-any-index"),
    pytest.param(TABLE + "/index/*", TABLE, False, id="star-needs-the-prefix"),
    pytest.param("arn:aws:sqs:us-east-1:*:sms-dispatch", QUEUE, True, id="star-in-the-middle"),
    pytest.param("arn:aws:sqs:us-east-1:123456789012:sms-dispatc?", QUEUE, True, id="question-mark-is-one-char"),
    pytest.param("arn:aws:sqs:us-east-1:123456789012:sms-dispatch?", QUEUE, False, id="question-mark-needs-one"),
    pytest.param("arn:aws:sqs:us-east-1:123456789012:sms.dispatch", QUEUE, False, id="a-dot-is-a-dot"),
    pytest.param("*", QUEUE, True, id="star-alone"),
])
def test_wildcards_in_resources_match_as_iam_matches_them(pattern, resource, expected):
    assert allows(grants_of(policy(allow("sqs:SendMessage", pattern))), "sqs:SendMessage", resource) is expected


def test_wildcards_in_actions():
    grants = grants_of(policy(allow(["sqs:Receive*", "ec2:*"], "*")))
    assert allows(grants, "sqs:ReceiveMessage", QUEUE)
    assert allows(grants, "ec2:CreateNetworkInterface", "*")
    assert not allows(grants, "sqs:SendMessage", QUEUE)


def test_an_explicit_deny_wins_over_any_allow():
    grants = grants_of(policy(allow("sqs:*", "*"), {"Effect": "Deny", "Action": "sqs:SendMessage", "Resource": QUEUE}))
    assert not allows(grants, "sqs:SendMessage", QUEUE)
    assert allows(grants, "sqs:SendMessage", QUEUE + "-dlq")


@pytest.mark.parametrize("statement", [
    pytest.param({"Effect": "Allow", "NotAction": "sqs:*", "Resource": "*"}, id="not-action"),
    pytest.param({**allow("sqs:*", "*"), "Condition": {"Bool": {"aws:SecureTransport": "true"}}}, id="condition"),
    pytest.param(allow("sqs:*", [{"Fn::GetAtt": ["DispatchQueue", "Arn"]}]), id="unrendered-reference"),
    pytest.param(allow("sqs:*", {"Ref": "DispatchQueue"}), id="unrendered-ref"),
])
def test_grammar_it_does_not_evaluate_is_refused_not_guessed(statement):
    with pytest.raises(UnsupportedPolicy):
        grants_of(policy(statement))


def test_a_grant_is_needed_when_taking_it_out_denies_an_allowed_call():
    grants = grants_of(policy(allow(["sqs:SendMessage", "sqs:GetQueueAttributes"], [QUEUE, QUEUE + "-dlq"], "Q"),
                              allow("secretsmanager:GetSecretValue", SECRET, "K")))
    calls = [Call("f", "sqs:SendMessage", (QUEUE,)), Call("f", "dynamodb:GetItem", (TABLE,))]  # one never allowed
    needed = needed_by(calls, grants)
    assert needed("Q", action="sqs:SendMessage")
    assert needed("Q", resource=QUEUE)
    assert not needed("Q", action="sqs:GetQueueAttributes")
    assert not needed("Q", resource=QUEUE + "-dlq")
    assert not needed("K", action="secretsmanager:GetSecretValue")


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def test_calls_are_recorded_with_the_resources_iam_evaluates(aws):
    sqs, dynamodb = boto3.client("sqs"), boto3.client("dynamodb")
    secrets = boto3.client("secretsmanager")
    url = sqs.create_queue(QueueName="sms-dispatch")["QueueUrl"]
    dynamodb.create_table(TableName="sms_requests", BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    arn = secrets.create_secret(Name="sms-gateway/prod/api-keys", SecretString="{}")["ARN"]
    recorder = CallRecorder(Account(ACCOUNT, secret_arns={"sms-gateway/prod/api-keys": arn}))
    with recorder.installed(), recorder.running("api_handler"):
        sqs.send_message(QueueUrl=url, MessageBody="x")
        sqs.get_queue_url(QueueName="sms-dispatch")
        dynamodb.get_item(TableName="sms_requests", Key={"id": {"S": "1"}})
        with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):  # recorded all the same
            dynamodb.query(TableName="sms_requests", IndexName="by_client", KeyConditionExpression="id = :i",
                           ExpressionAttributeValues={":i": {"S": "1"}})
        dynamodb.batch_get_item(RequestItems={"sms_requests": {"Keys": [{"id": {"S": "1"}}]}})
        secrets.get_secret_value(SecretId="sms-gateway/prod/api-keys")
        secrets.get_secret_value(SecretId=arn)
        with recorder.running(None):
            sqs.get_queue_attributes(QueueUrl=url)  # the test's own: not recorded
        boto3.client("sns").list_topics()
    assert [(c.action, c.resources) for c in recorder.calls] == [
        ("sqs:SendMessage", (QUEUE,)),
        ("sqs:GetQueueUrl", (QUEUE,)),
        ("dynamodb:GetItem", (TABLE,)),
        ("dynamodb:Query", (TABLE + "/index/by_client",)),
        ("dynamodb:BatchGetItem", (TABLE,)),
        ("secretsmanager:GetSecretValue", (arn,)),
        ("secretsmanager:GetSecretValue", (arn,)),
        ("sns:ListTopics", ("*",)),
    ]
    assert {c.function for c in recorder.calls} == {"api_handler"}
    grants = grants_of(policy(allow("sqs:SendMessage", QUEUE), allow("secretsmanager:GetSecretValue", arn)))
    assert [str(call) for call in recorder.denied({"api_handler": grants})] == [
        f"api_handler: sqs:GetQueueUrl on {QUEUE}", f"api_handler: dynamodb:GetItem on {TABLE}",
        f"api_handler: dynamodb:Query on {TABLE}/index/by_client", f"api_handler: dynamodb:BatchGetItem on {TABLE}",
        "api_handler: sns:ListTopics on *"]


def test_a_secret_read_by_an_unknown_name_matches_only_a_pattern():
    account = Account(ACCOUNT)
    (resource,) = account.resources_of("secretsmanager", "us-east-1", "GetSecretValue",
                                       {"SecretId": "sms-gateway/prod/providers/tw"})
    pattern = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:sms-gateway/prod/providers/*"
    assert allows(grants_of(policy(allow("secretsmanager:GetSecretValue", pattern))), "secretsmanager:GetSecretValue",
                  resource)
    assert not allows(grants_of(policy(allow("secretsmanager:GetSecretValue", SECRET))),
                      "secretsmanager:GetSecretValue", resource)


def test_an_sms_send_is_on_its_origination_identity():
    account = Account(ACCOUNT)
    assert account.resources_of("sms-voice", "us-east-1", "SendTextMessage", {"OriginationIdentity": "+15005550007"}) \
        == (f"arn:aws:sms-voice:us-east-1:{ACCOUNT}:phone-number/+15005550007",)
    pool = f"arn:aws:sms-voice:us-east-1:{ACCOUNT}:pool/pool-1"
    assert account.resources_of("sms-voice", "us-east-1", "SendTextMessage", {"OriginationIdentity": pool}) == (pool,)


def test_enforced_a_call_the_policy_does_not_allow_is_refused_as_aws_refuses_it(aws, capsys):
    sqs = boto3.client("sqs")
    allowed, other = (sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("sms-dispatch", "sms-callbacks"))
    grants = grants_of(policy(allow("sqs:SendMessage", QUEUE)))
    recorder = CallRecorder(Account(ACCOUNT), enforce={"api_handler": grants})
    platform = boto3.client("sqs")
    recorder.exempt(platform)
    with recorder.installed(), recorder.running("api_handler"):
        sqs.send_message(QueueUrl=allowed, MessageBody="x")
        with pytest.raises(ClientError) as refused:
            sqs.send_message(QueueUrl=other, MessageBody="x")
        platform.receive_message(QueueUrl=allowed)  # the event source's: not the function's to be granted
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert "sqs:SendMessage on resource: arn:aws:sqs:us-east-1:123456789012:sms-callbacks" in str(refused.value)
    assert capsys.readouterr().err == (f"iam: api_handler: sqs:SendMessage on {QUEUE[:-len('dispatch')]}callbacks "
                                       "denied (not in .chalice/policy-api.json)\n")
    assert [call.action for call in recorder.calls] == ["sqs:SendMessage", "sqs:SendMessage"]


def test_every_functions_policy_renders_for_an_environment(monkeypatch):
    settings = get_settings({"STAGE": "local", "API_KEYS_SECRET_ID": "sms-gateway/local/api-keys"})
    policies = function_policies(settings, Account(ACCOUNT), "us-east-1")
    assert set(policies) == {"api_handler", "dispatch_sms", "apply_delivery_events", "sweep_stuck_requests",
                             "snapshot_provider_health", "deliver_callbacks"}
    api = policies["api_handler"]
    assert allows(api, "dynamodb:Query", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/sms_requests/index/by_client")
    assert allows(api, "secretsmanager:GetSecretValue",
                  Account(ACCOUNT).secret_arn("sms-gateway/local/api-keys", "us-east-1"))
    assert allows(api, "secretsmanager:GetSecretValue",
                  f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:sms-gateway/local/api-keys-AbCdEf")
    assert not allows(api, "secretsmanager:GetSecretValue",
                      f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:sms-gateway/prod/api-keys-AbCdEf")
    assert not allows(policies["snapshot_provider_health"], "sqs:SendMessage", QUEUE)


def test_a_process_can_run_as_one_function(aws):
    recorder = enforce_function_policy("snapshot_provider_health")
    try:
        with pytest.raises(ClientError, match="AccessDenied"):
            boto3.client("sqs").list_queues()
    finally:
        recorder.uninstall()
    assert recorder.calls == []  # checked, not kept: a stack's process runs for hours
    boto3.client("sqs").list_queues()  # uninstalled: moto answers again


def test_queues_of_another_sqs_emulator_are_in_its_own_account(aws, monkeypatch):
    # The LocalStack tier: SQS is LocalStack's (account 000000000000), everything else moto's.
    url = "http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/sms-dispatch"
    monkeypatch.setenv("DISPATCH_QUEUE_URL", url)
    recorder = enforce_function_policy("dispatch_sms")
    recorder.uninstall()
    (queue,) = recorder.account.resources_of("sqs", "us-east-1", "SendMessage", {"QueueUrl": url})
    assert queue == "arn:aws:sqs:us-east-1:000000000000:sms-dispatch"
    assert allows(recorder.enforce["dispatch_sms"], "sqs:SendMessage", queue)
    assert allows(recorder.enforce["dispatch_sms"], "dynamodb:UpdateItem",
                  f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/sms_requests")


def test_one_thread_may_run_as_a_function_while_the_others_are_not_checked(aws):
    recorder = enforce_function_policy(None)
    try:
        boto3.client("sqs").list_queues()  # the process's own call: not checked
        with recorder.running_in_this_thread("snapshot_provider_health"), pytest.raises(ClientError):
            boto3.client("sqs").list_queues()
        boto3.client("sqs").list_queues()
    finally:
        recorder.uninstall()


@pytest.mark.parametrize("url", [
    pytest.param("https://sqs.us-east-1.amazonaws.com/000000000000/sms-dispatch", id="aws"),
    pytest.param("http://127.0.0.1:5055/000000000000/sms-dispatch", id="moto"),
    pytest.param("http://127.0.0.1:4566/queue/us-east-1/000000000000/sms-dispatch", id="localstack-path"),
])
def test_the_queues_account_is_read_from_each_emulators_url(url):
    """The local stack renders the queues' ARNs in the account of whoever serves SQS (LocalStack's is not moto's)."""
    assert queue_account(url) == "000000000000"
