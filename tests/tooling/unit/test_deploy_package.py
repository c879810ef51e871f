"""The deploy path, checked offline: `chalice package` + infra/ merge into one valid SAM template per stage.

`chalice package` runs once per stage for the whole module (about 10 s the first time, while it builds the
Lambda dependencies; chalice then reuses its cached package). Every assertion below reads the packaged
template, the thing CloudFormation would receive, not the hand-written fragments.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cfnlint.api import lint_all

from chalicelib.settings import ENV_NAMES, get_settings
from chalicelib.wiring import tables_for

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra"
STAGES = ("dev", "prod")
CHALICE_CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())

# Logical ids `chalice package` gives the app's functions (from its output; see docs/deploy.md).
FUNCTIONS = ("APIHandler", "DispatchSms", "ApplyDeliveryEvents", "SweepStuckRequests", "SnapshotProviderHealth",
             "DeliverCallbacks")
VPC_FUNCTIONS = ("APIHandler", "DispatchSms", "SnapshotProviderHealth")  # the ones that talk to Redis
SQS_EVENT = ("DispatchSms", "DispatchSmsSqsEventSource")

# Read by aws-lambda-powertools, not by chalicelib.settings.
LIBRARY_VARIABLES = {"POWERTOOLS_SERVICE_NAME"}
# Lambda refuses these names in a function's environment.
LAMBDA_RESERVED = re.compile(r"^(AWS_REGION|AWS_DEFAULT_REGION|AWS_LAMBDA_\w+|AWS_EXECUTION_ENV|_HANDLER|"
                             r"AWS_ACCESS_KEY(_ID)?|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|LAMBDA_\w+)$")
# Send latency assumed when sizing the dispatcher (docs/deploy.md#sizing).
ASSUMED_SEND_LATENCY_S = 0.2


def _load_combiner():
    sys.path.insert(0, str(INFRA))
    try:
        import combine_templates
    finally:
        sys.path.remove(str(INFRA))
    return combine_templates


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> dict[str, Path]:
    """{stage: output dir} of `chalice package --merge-template` (what infra/package.sh runs)."""
    out = tmp_path_factory.mktemp("chalice-package")
    merge = out / "merge-template.json"
    merge.write_text(json.dumps(_load_combiner().combine_files([INFRA / "data.json", INFRA / "resources.json"])))
    chalice = Path(sys.executable).parent / "chalice"
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    dirs = {}
    for stage in STAGES:
        dirs[stage] = out / stage
        result = subprocess.run(
            [str(chalice), "package", "--stage", stage, "--merge-template", str(merge), str(dirs[stage])],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, f"chalice package --stage {stage} failed:\n{result.stdout}{result.stderr}"
    return dirs


@pytest.fixture(scope="module")
def templates(packaged) -> dict[str, dict]:
    return {stage: json.loads((path / "sam.json").read_text()) for stage, path in packaged.items()}


def _resources(template: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == kind}


def _sqs_event(template: dict) -> dict:
    function, event = SQS_EVENT
    return template["Resources"][function]["Properties"]["Events"][event]


def _stage_setting(template: dict, stage: str, value):
    """Resolve {"Fn::FindInMap": ["StageSettings", {"Ref": "Stage"}, key]} for a stage; literals pass."""
    if isinstance(value, dict) and "Fn::FindInMap" in value:
        mapping, stage_ref, key = value["Fn::FindInMap"]
        assert stage_ref == {"Ref": "Stage"}
        return template["Mappings"][mapping][stage][key]
    return value


def _sub_stage(value, stage: str) -> str:
    assert isinstance(value, dict) and set(value) == {"Fn::Sub"}, value
    return value["Fn::Sub"].replace("${Stage}", stage)


def _statements(template: dict):
    for logical_id, role in _resources(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield logical_id, statement
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for logical_id, policy in _resources(template, kind).items():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                yield logical_id, statement


def _pairs(entries: list[dict]) -> set[tuple]:
    """Key schemas and attribute definitions compare as sets of (name, type) pairs."""
    return {tuple(sorted(entry.items())) for entry in entries}


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.fixture
def models_bound_to_logical_ids(templates):
    """The tables bound to the template's logical ids, so each model names its own table resource.

    Uses the app's own model-to-variable mapping (Settings + tables_for) instead of a copy of it."""
    env = templates["prod"]["Resources"]["DispatchSms"]["Properties"]["Environment"]["Variables"]
    names = {name: env[name]["Ref"] for name in
             ("REQUESTS_TABLE", "RESPONSES_TABLE", "HEALTH_TABLE", "IDEMPOTENCY_TABLE")}
    tables = tables_for(get_settings({**names, "STAGE": "local", "AWS_DEFAULT_REGION": "us-east-1"}))
    return {model: model.Meta.table_name for model in tables.all()}


# ------------------------------------------------------------------------------------------ package


@pytest.mark.parametrize("stage", STAGES)
def test_chalice_package_writes_template_and_deployment_zip(packaged, stage):
    assert (packaged[stage] / "sam.json").is_file()
    assert (packaged[stage] / "deployment.zip").is_file()


def test_deployment_zip_carries_the_app_and_lua_scripts_but_no_local_tooling(packaged):
    with zipfile.ZipFile(packaged["prod"] / "deployment.zip") as archive:
        names = set(archive.namelist())
        unzipped_bytes = sum(info.file_size for info in archive.infolist())
    assert "app.py" in names
    for script in (ROOT / "chalicelib" / "lua").glob("*.lua"):
        assert f"chalicelib/lua/{script.name}" in names
    assert not [n for n in names if n.split("/")[0] in {"tests", "localdev", "localstack", "infra", "bench"}]
    assert unzipped_bytes < 250 * 1024 * 1024  # Lambda's limit for an unzipped package


@pytest.mark.parametrize("template_name", ["data.json", "dev", "prod"])
def test_cfn_lint_finds_no_error_or_warning(packaged, template_name):
    path = INFRA / template_name if template_name.endswith(".json") else packaged[template_name] / "sam.json"
    matches = [m for m in lint_all(path.read_text()) if m.rule.id[0] in "EW"]
    assert not matches, "\n".join(f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches)


def test_merge_template_only_patches_resources_chalice_generates(templates):
    """A patch whose logical id chalice stopped generating would leave a resource without a Type."""
    for template in templates.values():
        assert all("Type" in body for body in template["Resources"].values())
    patched = {k for k, v in json.loads((INFRA / "resources.json").read_text())["Resources"].items()
               if "Type" not in v}
    assert patched == {*FUNCTIONS, "RestAPI"}


@pytest.mark.parametrize("stage", STAGES)
def test_the_api_stage_is_throttled_in_front_of_the_per_client_limits(templates, stage):
    resources = templates[stage]["Resources"]
    [settings] = resources["RestAPI"]["Properties"]["MethodSettings"]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRate"}
    plan = resources["ApiUsagePlan"]["Properties"]
    assert plan["ApiStages"] == [{"ApiId": {"Ref": "RestAPI"}, "Stage": {"Ref": "RestAPI.Stage"}}]
    assert plan["Throttle"]["RateLimit"] == {"Ref": "ApiThrottleRate"}


@pytest.mark.parametrize("stage", STAGES)
def test_the_dispatcher_has_reserved_concurrency_so_an_api_flood_cannot_starve_it(templates, stage):
    dispatcher = templates[stage]["Resources"]["DispatchSms"]["Properties"]
    reserved = dispatcher["ReservedConcurrentExecutions"]
    env = CHALICE_CONFIG["stages"][stage]["environment_variables"]
    assert reserved >= int(env["DISPATCHER_MAX_CONCURRENCY"])  # every invocation the queue may start can run


# ------------------------------------------------------------------------------- dispatcher + queue


@pytest.mark.parametrize("stage", STAGES)
def test_dispatcher_reports_batch_item_failures(templates, stage):
    event = _sqs_event(templates[stage])
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["Queue"] == {"Fn::Sub": "${DispatchQueue.Arn}"}
    assert event["Properties"]["BatchSize"] <= 10


@pytest.mark.parametrize("stage", STAGES)
def test_dispatcher_concurrency_covers_the_providers_combined_rate(templates, stage):
    template = templates[stage]
    properties = _sqs_event(template)["Properties"]
    maximum = _stage_setting(template, stage, properties["ScalingConfig"]["MaximumConcurrency"])
    assert 2 <= maximum <= 1000  # what Lambda accepts
    providers = json.loads(CHALICE_CONFIG["stages"][stage]["environment_variables"]["SMS_PROVIDERS"])
    combined_rate = sum(p["rate_limit"] for p in providers)
    # Each invocation sends its batch concurrently (one thread per record).
    sends_per_s = maximum * properties["BatchSize"] / ASSUMED_SEND_LATENCY_S
    assert sends_per_s >= combined_rate


@pytest.mark.parametrize("stage", STAGES)
def test_dispatcher_times_out_at_30_s_and_queue_visibility_is_six_times_that(templates, stage):
    template = templates[stage]
    timeout = template["Resources"]["DispatchSms"]["Properties"]["Timeout"]
    assert timeout == 30
    queue = template["Resources"]["DispatchQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * timeout


@pytest.mark.parametrize("stage", STAGES)
def test_claim_lease_outlives_the_dispatcher_but_not_the_visibility_timeout(templates, stage):
    """timeout (30 s) < CLAIM_LEASE_S < VisibilityTimeout: when SQS hands a message out again after a
    dispatcher died mid-send, the dead dispatcher's claim has already lapsed and can be taken over."""
    resources = templates[stage]["Resources"]
    dispatcher = resources["DispatchSms"]["Properties"]
    lease = int(dispatcher["Environment"]["Variables"]["CLAIM_LEASE_S"])
    assert dispatcher["Timeout"] < lease < resources["DispatchQueue"]["Properties"]["VisibilityTimeout"]


def test_dispatch_queue_redrives_to_a_dlq_kept_14_days(templates):
    resources = templates["prod"]["Resources"]
    redrive = resources["DispatchQueue"]["Properties"]["RedrivePolicy"]
    assert redrive == {"deadLetterTargetArn": {"Fn::GetAtt": ["DispatchDeadLetterQueue", "Arn"]},
                       "maxReceiveCount": 5}
    assert resources["DispatchDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"] == 14 * 86400


# ---------------------------------------------------------------------------------------- tables


def test_tables_have_the_keys_and_indexes_of_the_models(templates, models_bound_to_logical_ids):
    resources = templates["prod"]["Resources"]
    for model, logical_id in models_bound_to_logical_ids.items():
        table = resources[logical_id]
        assert table["Type"] == "AWS::DynamoDB::Table", logical_id
        props = table["Properties"]
        schema = model._get_schema()
        assert _pairs(props["KeySchema"]) == _pairs(schema["key_schema"]), logical_id
        assert _pairs(props["AttributeDefinitions"]) == _pairs(schema["attribute_definitions"]), logical_id
        expected = {g["index_name"]: (_pairs(g["key_schema"]), g["projection"])
                    for g in schema["global_secondary_indexes"]}
        actual = {g["IndexName"]: (_pairs(g["KeySchema"]), g["Projection"])
                  for g in props.get("GlobalSecondaryIndexes", [])}
        assert actual == expected, logical_id
        assert props["BillingMode"] == model.Meta.billing_mode == "PAY_PER_REQUEST"


def test_ttl_is_on_exactly_the_models_ttl_attributes(templates, models_bound_to_logical_ids):
    resources = templates["prod"]["Resources"]
    ttl_tables = 0
    for model, logical_id in models_bound_to_logical_ids.items():
        ttl_attribute = model._ttl_attribute()
        spec = resources[logical_id]["Properties"].get("TimeToLiveSpecification")
        if ttl_attribute is None:
            assert spec is None, f"{logical_id}: TTL would delete items the model keeps"
        else:
            ttl_tables += 1
            assert spec == {"AttributeName": ttl_attribute.attr_name, "Enabled": True}
    # sms_requests and sms_responses: purge_at (RETENTION_DAYS); sms_idempotency: expires_at
    assert ttl_tables == 3


def test_every_table_has_point_in_time_recovery(templates):
    for logical_id, table in _resources(templates["prod"], "AWS::DynamoDB::Table").items():
        spec = table["Properties"]["PointInTimeRecoverySpecification"]
        assert spec == {"PointInTimeRecoveryEnabled": True}, logical_id
        assert table["DeletionPolicy"] == "Retain", logical_id


# ------------------------------------------------------------------------------------------- IAM


def test_no_iam_action_is_a_wildcard(templates):
    for template in templates.values():
        for logical_id, statement in _statements(template):
            assert "NotAction" not in statement, logical_id
            for action in _as_list(statement["Action"]):
                assert "*" not in action, f"{logical_id} {statement.get('Sid')}: {action}"


def test_only_the_lambda_vpc_statement_uses_resource_star(templates):
    for template in templates.values():
        for logical_id, statement in _statements(template):
            if "*" in _as_list(statement["Resource"]):
                assert statement["Sid"] == "LambdaVpcNetworkInterfaces", logical_id
                assert all(a.startswith("ec2:") for a in statement["Action"])


def test_functions_have_their_own_roles_without_managed_policies(templates):
    resources = templates["prod"]["Resources"]
    roles = {resources[name]["Properties"]["Role"]["Fn::GetAtt"][0] for name in FUNCTIONS}
    assert len(roles) == len(FUNCTIONS)
    for role in roles:
        assert "ManagedPolicyArns" not in resources[role]["Properties"]


def test_each_secret_is_readable_only_by_the_function_that_needs_it(templates):
    readers: dict[str, set[str]] = {}
    for logical_id, statement in _statements(templates["prod"]):
        if "secretsmanager:GetSecretValue" in _as_list(statement["Action"]):
            for resource in _as_list(statement["Resource"]):
                # A secret of the stack by its logical id; the providers' own secrets by their name pattern.
                secret = resource["Ref"] if "Ref" in resource else resource["Fn::Sub"].split(":secret:", 1)[1]
                readers.setdefault(secret, set()).add(logical_id)
    # The registry: the API authenticates with it; the dispatcher, the sweeper and the delivery events read clients'
    # default callback URLs from it, the callbacks function their callback secrets. The API reads the providers'
    # secrets too: the receipt webhooks check vendor signatures with them.
    assert readers == {"ApiKeysSecret": {"ApiHandlerRole", "DispatchSmsRole", "SweepStuckRequestsRole",
                                         "ApplyDeliveryEventsRole", "DeliverCallbacksRole"},
                       "ProviderKeysSecret": {"DispatchSmsRole", "ApiHandlerRole"},
                       "sms-gateway/${Stage}/providers/*": {"DispatchSmsRole", "ApiHandlerRole"}}


# ----------------------------------------------------------------------------------- environment


@pytest.mark.parametrize("stage", STAGES)
def test_functions_get_every_setting_they_need_and_no_secret(templates, stage):
    for function in FUNCTIONS:
        env = templates[stage]["Resources"][function]["Properties"]["Environment"]["Variables"]
        unknown = set(env) - set(ENV_NAMES) - LIBRARY_VARIABLES
        assert not unknown, f"{function}: variables nobody reads: {unknown}"
        assert not [name for name in env if LAMBDA_RESERVED.match(name)]
        for name in ("REDIS_URL", "DISPATCH_QUEUE_URL", "API_KEYS_SECRET_ID", "PROVIDER_KEYS_SECRET_ID",
                     "REQUESTS_TABLE",
                     "RESPONSES_TABLE", "HEALTH_TABLE", "IDEMPOTENCY_TABLE", "SMS_PROVIDERS"):
            assert name in env, f"{function} lacks {name}"
        assert "API_KEYS" not in env  # client keys come from the secret
        literal = {k: v for k, v in env.items() if isinstance(v, str)}
        settings = get_settings({**literal, "AWS_DEFAULT_REGION": "us-east-1"})  # parses, or raises
        assert all(p.api_key is None for p in settings.providers), "provider keys belong in a secret"


@pytest.mark.parametrize("stage", STAGES)
def test_config_json_names_match_what_the_stack_creates(templates, stage):
    """config.json documents the stage's names; the template overrides them with Refs to the same resources."""
    config_env = CHALICE_CONFIG["stages"][stage]["environment_variables"]
    resources = templates[stage]["Resources"]
    env = resources["DispatchSms"]["Properties"]["Environment"]["Variables"]
    for name in ("REQUESTS_TABLE", "RESPONSES_TABLE", "HEALTH_TABLE", "IDEMPOTENCY_TABLE"):
        table = resources[env[name]["Ref"]]["Properties"]
        assert _sub_stage(table["TableName"], stage) == config_env[name]
    queue = resources[env["DISPATCH_QUEUE_URL"]["Ref"]]["Properties"]
    assert _sub_stage(queue["QueueName"], stage) == config_env["DISPATCH_QUEUE_NAME"]
    for name, secret in (("API_KEYS_SECRET_ID", "ApiKeysSecret"), ("PROVIDER_KEYS_SECRET_ID", "ProviderKeysSecret")):
        assert env[name] == {"Ref": secret}
        assert _sub_stage(resources[secret]["Properties"]["Name"], stage) == config_env[name]


def test_redis_url_points_at_the_replication_group_over_tls_when_enabled(templates):
    env = templates["prod"]["Resources"]["DispatchSms"]["Properties"]["Environment"]["Variables"]
    condition, tls_url, plain_url = env["REDIS_URL"]["Fn::If"]
    endpoint = [{"Fn::GetAtt": ["RedisReplicationGroup", "PrimaryEndPoint.Address"]}, ":",
                {"Fn::GetAtt": ["RedisReplicationGroup", "PrimaryEndPoint.Port"]}, "/0"]
    assert tls_url == {"Fn::Join": ["", ["rediss://", *endpoint]]}
    assert plain_url == {"Fn::Join": ["", ["redis://", *endpoint]]}
    redis = templates["prod"]["Resources"]["RedisReplicationGroup"]["Properties"]
    assert redis["TransitEncryptionEnabled"] == {"Fn::If": [condition, True, False]}


# ------------------------------------------------------------------------------------------- VPC


def test_redis_functions_run_in_the_vpc_and_only_they_reach_redis(templates):
    resources = templates["prod"]["Resources"]
    for function in FUNCTIONS:
        vpc = resources[function]["Properties"].get("VpcConfig")
        if function in VPC_FUNCTIONS:
            assert vpc == {"SecurityGroupIds": [{"Ref": "LambdaSecurityGroup"}],
                           "SubnetIds": {"Ref": "PrivateSubnetIds"}}, function
        else:
            assert vpc is None, function
    ingress = [r["Properties"] for r in _resources(templates["prod"], "AWS::EC2::SecurityGroupIngress").values()]
    assert ingress == [{
        "GroupId": {"Fn::GetAtt": ["RedisSecurityGroup", "GroupId"]}, "IpProtocol": "tcp",
        "FromPort": 6379, "ToPort": 6379,
        "SourceSecurityGroupId": {"Fn::GetAtt": ["LambdaSecurityGroup", "GroupId"]},
        "Description": "gateway Lambdas to Redis",
    }]
    redis = resources["RedisReplicationGroup"]["Properties"]
    assert redis["SecurityGroupIds"] == [{"Fn::GetAtt": ["RedisSecurityGroup", "GroupId"]}]
    assert resources["RedisSubnetGroup"]["Properties"]["SubnetIds"] == {"Ref": "PrivateSubnetIds"}


# ---------------------------------------------------------------------------------------- alarms


def _alarm_on(template: dict, metric: str, queue: str | None = None) -> dict:
    found = [a["Properties"] for a in _resources(template, "AWS::CloudWatch::Alarm").values()
             if a["Properties"]["MetricName"] == metric
             and (queue is None or a["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": [queue, "QueueName"]})]
    assert len(found) == 1, metric
    return found[0]


@pytest.mark.parametrize("dlq", ["DispatchDeadLetterQueue", "CallbackDeadLetterQueue", "DeliveryEventsDeadLetterQueue"])
def test_alarm_fires_on_any_message_in_a_dlq(templates, dlq):
    alarm = _alarm_on(templates["prod"], "ApproximateNumberOfMessagesVisible", dlq)
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_callbacks_function_consumes_its_own_queue_outside_the_vpc(templates):
    callbacks = templates["prod"]["Resources"]["DeliverCallbacks"]["Properties"]
    assert "VpcConfig" not in callbacks  # it needs no Redis; outside the VPC it cannot reach the VPC's addresses
    [event] = callbacks["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::Sub": "${CallbackQueue.Arn}"}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def _callback_publishers(template: dict) -> set[str]:
    """The functions whose policy lets them publish status callbacks (tests/functional/test_iam_policies.py
    proves that each function that publishes has the grant, and that each grant is used)."""
    resources = template["Resources"]
    roles = {resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]: function for function in FUNCTIONS}
    return {roles[role] for role, statement in _statements(template) if statement.get("Sid") == "QueueStatusCallbacks"}


def test_one_alarm_hears_callback_not_queued_from_every_function_that_publishes_callbacks(templates):
    template = templates["prod"]
    alarm = _alarm_on(template, "CallbackNotQueued")
    publishers = _callback_publishers(template)
    assert publishers == {"APIHandler", "DispatchSms", "ApplyDeliveryEvents", "SweepStuckRequests"}
    filters = {f["Properties"]["LogGroupName"]["Ref"]: f["Properties"]
               for f in _resources(template, "AWS::Logs::MetricFilter").values()
               if f["Properties"]["MetricTransformations"][0]["MetricName"] == "CallbackNotQueued"}
    log_groups = {template["Resources"][f]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] for f in publishers}
    assert set(filters) == log_groups
    source = (ROOT / "chalicelib" / "callbacks" / "publisher.py").read_text()
    for log_group, metric_filter in filters.items():
        assert metric_filter["MetricTransformations"][0]["MetricNamespace"] == alarm["Namespace"], log_group
        message = re.search(r'\$\.message = "([^"]+)"', metric_filter["FilterPattern"]).group(1)
        assert f'logger.error("{message}"' in source, log_group


@pytest.mark.parametrize("stage", STAGES)
def test_functions_that_publish_callbacks_are_given_the_callback_queues_urls(templates, stage):
    # Without both URLs the publisher looks the queues up by name: sqs:GetQueueUrl, which no policy grants.
    for function in _callback_publishers(templates[stage]):
        env = templates[stage]["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert env.get("CALLBACK_QUEUE_URL") == {"Ref": "CallbackQueue"}, function
        assert env.get("CALLBACK_DLQ_URL") == {"Ref": "CallbackDeadLetterQueue"}, function


def test_alarm_watches_the_age_of_the_oldest_dispatch_message(templates):
    alarm = _alarm_on(templates["prod"], "ApproximateAgeOfOldestMessage")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["DispatchQueue", "QueueName"]}}]


def test_provider_unhealthy_alarm_counts_the_dispatchers_health_log_lines(templates):
    template = templates["prod"]
    alarm = _alarm_on(template, "ProviderBecameUnhealthy")
    filters = [f["Properties"] for f in _resources(template, "AWS::Logs::MetricFilter").values()
               if f["Properties"]["MetricTransformations"][0]["MetricName"] == "ProviderBecameUnhealthy"]
    assert len(filters) == 1
    assert filters[0]["LogGroupName"] == {"Ref": "DispatchSmsLogGroup"}
    assert filters[0]["MetricTransformations"][0]["MetricNamespace"] == alarm["Namespace"]
    logging = template["Resources"]["DispatchSms"]["Properties"]["LoggingConfig"]
    assert logging["LogGroup"] == {"Ref": "DispatchSmsLogGroup"}
    # The pattern matches the dispatcher's structured log line; keep the two in step.
    message = re.search(r'\$\.message = "([^"]+)"', filters[0]["FilterPattern"]).group(1)
    source = (ROOT / "chalicelib" / "outcomes.py").read_text()
    assert f'"{message}"' in source
    assert '"healthy": change.healthy' in source


def test_api_gateway_errors_use_the_apis_error_shape(templates):
    """Unknown routes and throttling answered by API Gateway itself still read {"error": {...}}."""
    resources = templates["dev"]["Resources"]
    responses = {r["Properties"]["ResponseType"]: r["Properties"] for r in resources.values()
                 if r["Type"] == "AWS::ApiGateway::GatewayResponse"}
    assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    for response in responses.values():
        assert '"error": {"code"' in response["ResponseTemplates"]["application/json"]


# ------------------------------------------------------------------- the `chalice deploy` path (make infra)


@pytest.fixture(scope="module")
def infra_template():
    from infra.stack import infra_template as build

    return build(ROOT)


def test_infra_stack_template_has_no_cfn_lint_error_or_warning(infra_template, tmp_path):
    path = tmp_path / "infra-stack.json"
    path.write_text(json.dumps(infra_template))
    matches = [m for m in lint_all(path.read_text()) if m.rule.id[0] in "EW"]
    assert not matches, "\n".join(f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches)


def test_infra_stack_holds_what_the_merge_template_adds_but_chalices_api(infra_template, templates):
    """Same data, Redis, secrets, log groups and alarms as `make package`; only what needs chalice's REST API
    (which chalice deploy creates afterwards) is left out."""
    packaged = {k for k, v in templates["prod"]["Resources"].items()}
    chalice_generated = packaged - set(json.loads((INFRA / "resources.json").read_text())["Resources"]) - set(
        json.loads((INFRA / "data.json").read_text())["Resources"])
    merged_own = packaged - chalice_generated - set(FUNCTIONS)
    assert set(infra_template["Resources"]) == merged_own - {"ApiDefault4xxResponse", "ApiDefault5xxResponse",
                                                            "ApiUsagePlan", "RestAPI"}


def test_infra_stack_log_groups_are_where_lambda_writes_without_a_logging_config(infra_template):
    names = {k: v["Properties"]["LogGroupName"]["Fn::Sub"] for k, v in infra_template["Resources"].items()
             if v["Type"] == "AWS::Logs::LogGroup"}
    assert names == {
        "ApiHandlerLogGroup": "/aws/lambda/sms-gateway-${Stage}",
        "DispatchSmsLogGroup": "/aws/lambda/sms-gateway-${Stage}-dispatch_sms",
        "ApplyDeliveryEventsLogGroup": "/aws/lambda/sms-gateway-${Stage}-apply_delivery_events",
        "SweepStuckRequestsLogGroup": "/aws/lambda/sms-gateway-${Stage}-sweep_stuck_requests",
        "SnapshotProviderHealthLogGroup": "/aws/lambda/sms-gateway-${Stage}-snapshot_provider_health",
        "DeliverCallbacksLogGroup": "/aws/lambda/sms-gateway-${Stage}-deliver_callbacks",
    }


def test_infra_stack_outputs_an_arn_for_every_resource_a_policy_names(infra_template):
    from infra.stack import policy_values, render_policy

    outputs = {key: f"arn:aws:test:::{key}" for key in infra_template["Outputs"] if key.endswith("Arn")}
    arns = policy_values({**outputs, "AccountId": "123456789012", "Region": "eu-west-1", "Partition": "aws"}, "prod")
    for policy_file in (ROOT / ".chalice").glob("policy-*.json"):
        rendered = json.dumps(render_policy(json.loads(policy_file.read_text()), arns))
        assert "Fn::" not in rendered and '"Ref"' not in rendered, policy_file.name


def test_policy_references_become_the_arns_of_the_stack():
    from infra.stack import render_policy

    arns = {"RequestsTable": "arn:aws:dynamodb:eu-west-1:1:table/r", "ApiKeysSecret": "arn:aws:secretsmanager:x"}
    policy = {"Resource": [{"Fn::GetAtt": ["RequestsTable", "Arn"]}, {"Fn::Sub": "${RequestsTable.Arn}/index/*"},
                           {"Ref": "ApiKeysSecret"}, "*"]}
    assert render_policy(policy, arns) == {"Resource": [
        "arn:aws:dynamodb:eu-west-1:1:table/r", "arn:aws:dynamodb:eu-west-1:1:table/r/index/*",
        "arn:aws:secretsmanager:x", "*"]}


@pytest.mark.parametrize("stage", STAGES)
def test_the_api_stage_path_is_not_a_routes_first_segment(stage):
    """Public URLs are /<api_gateway_stage><route>; a stage named like the routes' prefix reads /api/api/sms."""
    import app as gateway

    api_stage = CHALICE_CONFIG["stages"][stage]["api_gateway_stage"]
    assert all(route.split("/")[1] != api_stage for route in gateway.app.routes)


def test_the_lambda_runtime_is_pinned_and_other_pythons_are_refused():
    import click

    from infra.chalice_hooks import pinned_runtime, require_pinned_runtime

    assert pinned_runtime() == CHALICE_CONFIG["lambda_python_version"] == "python3.11"
    require_pinned_runtime(version_info=(3, 11))
    with pytest.raises(click.ClickException, match=r"pins the Lambda runtime to python3\.11"):
        require_pinned_runtime(version_info=(3, 12))


def test_sqs_event_source_calls_ask_for_partial_batch_responses():
    from infra.chalice_hooks import add_batch_item_failures

    create = {"EventSourceArn": "arn:aws:sqs:us-east-1:1:q", "FunctionName": "f", "BatchSize": 10}
    update = {"UUID": "u-1", "BatchSize": 10}
    stream = {"EventSourceArn": "arn:aws:kinesis:us-east-1:1:stream/s", "FunctionName": "f"}
    for params in (create, update, stream):
        add_batch_item_failures(params)
    assert create["FunctionResponseTypes"] == update["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "FunctionResponseTypes" not in stream
