"""The two deploy commands of docs/deploy.md, offline, for a stage config.json does not have:
`make infra STAGE=staging FROM_STAGE=prod` (python -m infra.stack, which writes the stage's entry) and
`chalice deploy --stage staging`, against the local AWS emulator over HTTP; then what they created is read
back and compared with what the project declares; then `chalice delete` and `make infra-delete PURGE_DATA=1`
undo it, and nothing of the stage is left in the emulator.

The emulator (localdev/aws_emulator.py) keeps what IAM, Lambda, event source mappings, EventBridge and API
Gateway are sent, and refuses what they would refuse (a policy with CloudFormation functions in it, a mapping
to a queue that does not exist). It cannot run the functions (Lambda needs Docker there), so the API's code is
run from the package chalice deployed, with the deployed environment, on the event API Gateway sends for a
request under the stage path.

The project is copied to a temporary directory: both commands write into .chalice/. Packaging reuses
.chalice/deployments/ of the checkout (chalice's cache of the Lambda dependencies, keyed on requirements.txt);
on a clean machine the first run downloads the Lambda wheels from PyPI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from urllib.parse import urljoin

import boto3
import httpx
import pytest

from localdev.stack import ROOT, free_port, wait_until

pytestmark = pytest.mark.integration

STAGE = "staging"  # not in .chalice/config.json: `make infra` writes its entry from FROM_STAGE's
FROM_STAGE = "prod"
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
APP_NAME = CONFIG["app_name"]
API_STAGE = STAGE
BIN = Path(sys.executable).parent
PROJECT_FILES = ("app.py", "chalicelib", "infra", "localdev", "requirements.txt")


def stage_config(lifecycle: dict) -> dict:
    """The stage's entry as `make infra` wrote it."""
    return lifecycle["config"]["stages"][STAGE]


def function_name(handler: str) -> str:
    return f"{APP_NAME}-{STAGE}" if handler == "api_handler" else f"{APP_NAME}-{STAGE}-{handler}"


def _run(args: list[str], project: Path, env: dict[str, str]) -> float:
    began = time.monotonic()
    result = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-4000:]}{result.stderr[-4000:]}"
    return time.monotonic() - began


def _readback(env: dict[str, str]) -> dict:
    """Everything the deploy leaves in the account, in plain dicts."""
    session = boto3.session.Session(region_name=env["AWS_DEFAULT_REGION"], aws_access_key_id="testing",
                                    aws_secret_access_key="testing")
    lam, iam, events, apigw = (session.client(s, endpoint_url=env["AWS_ENDPOINT_URL"])
                               for s in ("lambda", "iam", "events", "apigateway"))
    prefix = f"{APP_NAME}-{STAGE}"
    functions = {f["FunctionName"]: f for f in lam.list_functions()["Functions"]
                 if f["FunctionName"].startswith(prefix)}
    roles = {}
    for role in iam.list_roles()["Roles"]:
        if role["RoleName"].startswith(prefix):
            names = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
            roles[role["RoleName"]] = {name: iam.get_role_policy(RoleName=role["RoleName"], PolicyName=name)
                                       ["PolicyDocument"] for name in names}
    mappings = [m for f in functions.values()
                for m in lam.list_event_source_mappings(FunctionName=f["FunctionArn"])["EventSourceMappings"]]
    rules = {r["Name"]: {**r, "Targets": [t["Arn"] for t in events.list_targets_by_rule(Rule=r["Name"])["Targets"]]}
             for r in events.list_rules(NamePrefix=prefix)["Rules"]}
    apis = []
    for api in apigw.get_rest_apis()["items"]:
        resources = {}
        for resource in apigw.get_resources(restApiId=api["id"], limit=500)["items"]:
            methods = {}
            for method in resource.get("resourceMethods", {}):
                integration = apigw.get_integration(restApiId=api["id"], resourceId=resource["id"], httpMethod=method)
                methods[method] = integration.get("uri", "")
            resources[resource["path"]] = methods
        stages = {s["stageName"]: s.get("methodSettings", {}) for s in apigw.get_stages(restApiId=api["id"])["item"]}
        apis.append({"id": api["id"], "name": api["name"], "resources": resources, "stages": list(stages),
                     "method_settings": stages})
    concurrency = {name: lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
                   for name in functions}
    plans = [p for p in apigw.get_usage_plans()["items"] if p["name"] == f"{APP_NAME}-{STAGE}"]
    return {"functions": functions, "roles": roles, "mappings": mappings, "rules": rules, "apis": apis,
            "concurrency": concurrency, "usage_plans": plans}


def _log_retention(env: dict[str, str]) -> dict[str, int | None]:
    logs = boto3.client("logs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    return {group["logGroupName"]: group.get("retentionInDays")
            for group in logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{APP_NAME}-{STAGE}")["logGroups"]}


def _names_the_stage(item) -> bool:
    return re.search(rf"(?<![a-z0-9]){STAGE}(?![a-z0-9])", json.dumps(item, default=str)) is not None


def _leftovers(env: dict[str, str]) -> dict[str, list]:
    """Whatever in the emulator names the stage (in its name, ARN, URL or tags), by kind."""
    session = boto3.session.Session(region_name=env["AWS_DEFAULT_REGION"], aws_access_key_id="testing",
                                    aws_secret_access_key="testing")
    client = lambda service: session.client(service, endpoint_url=env["AWS_ENDPOINT_URL"])  # noqa: E731
    lam, apigw = client("lambda"), client("apigateway")
    found = {
        "functions": lam.list_functions()["Functions"],
        "event source mappings": lam.list_event_source_mappings()["EventSourceMappings"],
        "roles": client("iam").list_roles()["Roles"],
        "rules": client("events").list_rules()["Rules"],
        "usage plans": apigw.get_usage_plans()["items"],
        "api keys": apigw.get_api_keys(includeValues=False)["items"],
        "stacks": [s for s in client("cloudformation").list_stacks()["StackSummaries"]
                   if s["StackStatus"] != "DELETE_COMPLETE"],
        "queues": client("sqs").list_queues().get("QueueUrls", []),
        "tables": client("dynamodb").list_tables()["TableNames"],
        "secrets": client("secretsmanager").list_secrets()["SecretList"],
        "log groups": client("logs").describe_log_groups()["logGroups"],
        "metric filters": client("logs").describe_metric_filters()["metricFilters"],
        "topics": client("sns").list_topics()["Topics"],
        "subscriptions": client("sns").list_subscriptions()["Subscriptions"],
        "alarms": client("cloudwatch").describe_alarms()["MetricAlarms"],
        "security groups": client("ec2").describe_security_groups()["SecurityGroups"],
    }
    leftovers = {kind: [item for item in items if _names_the_stage(item)] for kind, items in found.items()}
    leftovers["rest apis"] = apigw.get_rest_apis()["items"]  # chalice names the API after the app alone
    return {kind: items for kind, items in leftovers.items() if items}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("emulator") / "emulator.log"
    process = subprocess.Popen([sys.executable, "-m", "localdev.aws_emulator", "--port", str(port)], cwd=ROOT,
                               stdout=open(log, "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("AWS_", "CHALICE_")) and name not in ("STAGE", "SMS_PROVIDERS")}
    env.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "INFRA_POLL_S": "1",
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
    try:
        wait_until(lambda: httpx.get(f"{env['AWS_ENDPOINT_URL']}/moto-api/").status_code == 200, 30, "emulator")
        yield env
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def lifecycle(emulator, tmp_path_factory):
    """Provision, deploy, read back, redeploy, read back, delete, read back; every step's result."""
    project = tmp_path_factory.mktemp("project")
    for name in PROJECT_FILES:
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, project / name)
    (project / ".chalice").mkdir()
    for source in (ROOT / ".chalice").glob("*.json"):
        shutil.copy(source, project / ".chalice" / source.name)
    (ROOT / ".chalice" / "deployments").mkdir(exist_ok=True)
    (project / ".chalice" / "deployments").symlink_to(ROOT / ".chalice" / "deployments")

    ec2 = boto3.client("ec2", endpoint_url=emulator["AWS_ENDPOINT_URL"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    env = {**emulator, "VPC_ID": vpc, "PRIVATE_SUBNET_IDS": ",".join(subnets[:2])}
    state: dict = {"project": project, "subnets": subnets[:2], "seconds": {}}

    state["seconds"]["make infra"] = _run([sys.executable, "-m", "infra.stack", "deploy", "--stage", STAGE],
                                          project, {**env, "FROM_STAGE": FROM_STAGE})
    state["config"] = json.loads((project / ".chalice" / "config.json").read_text())
    state["policies"] = {str(path.relative_to(project / ".chalice")): json.loads(path.read_text())
                         for path in (project / ".chalice" / "generated" / STAGE).glob("*.json")}
    state["stack"] = boto3.client("cloudformation", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                                  aws_access_key_id="testing", aws_secret_access_key="testing"
                                  ).describe_stacks(StackName=f"{APP_NAME}-{STAGE}-infra")["Stacks"][0]
    state["log_retention"] = {"first": _log_retention(env)}
    state["seconds"]["make infra (again, LOG_RETENTION_DAYS=14)"] = _run(
        [sys.executable, "-m", "infra.stack", "deploy", "--stage", STAGE], project, {**env, "LOG_RETENTION_DAYS": "14"})
    state["log_retention"]["updated"] = _log_retention(env)
    state["seconds"]["chalice deploy"] = _run([str(BIN / "chalice"), "deploy", "--stage", STAGE], project, env)
    state["deployed"] = _readback(env)
    package = max((project / ".chalice" / "deployments").glob("*.zip"), key=os.path.getmtime)
    with tempfile.TemporaryDirectory() as unpacked:
        zipfile.ZipFile(package).extractall(unpacked)
        state["answers"] = {path: _invoke_api(state, Path(unpacked), path) for path in ("/openapi.json", "/docs")}
    state["seconds"]["chalice deploy (again)"] = _run([str(BIN / "chalice"), "deploy", "--stage", STAGE], project, env)
    state["redeployed"] = _readback(env)
    state["seconds"]["chalice delete"] = _run([str(BIN / "chalice"), "delete", "--stage", STAGE], project, env)
    state["deleted"] = _readback(env)
    state["seconds"]["make infra-delete"] = _run([sys.executable, "-m", "infra.stack", "delete", "--stage", STAGE,
                                                  "--purge-data"], project, env)
    state["config_after_delete"] = json.loads((project / ".chalice" / "config.json").read_text())
    state["left"] = _leftovers(env)
    print("\ndeploy lifecycle: " + ", ".join(f"{step} {s:.1f} s" for step, s in state["seconds"].items()))
    return state


def _invoke_api(state: dict, unpacked: Path, path: str) -> dict:
    """Run the deployed API function on API Gateway's event for GET /<stage><path> (REST proxy integration)."""
    function = state["deployed"]["functions"][function_name("api_handler")]
    api_id = state["deployed"]["apis"][0]["id"]
    event = {
        "resource": path, "path": path, "httpMethod": "GET", "headers": {"Host": f"{api_id}.execute-api.amazonaws.com"},
        "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": None, "stageVariables": None, "body": None, "isBase64Encoded": False,
        "requestContext": {"resourcePath": path, "httpMethod": "GET", "path": f"/{API_STAGE}{path}",
                           "stage": API_STAGE, "apiId": api_id, "requestId": "deploy-test",
                           "identity": {"sourceIp": "127.0.0.1"}},
    }
    handler_module, handler_name = function["Handler"].rsplit(".", 1)
    code = (f"import json, sys; sys.path.insert(0, {str(unpacked)!r}); import {handler_module} as m; "
            f"print(json.dumps(m.{handler_name}(json.loads(sys.stdin.read()), None)))")
    env = {"PATH": os.environ["PATH"], "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
           "AWS_LAMBDA_FUNCTION_NAME": function["FunctionName"], **function["Environment"]["Variables"]}
    result = subprocess.run([sys.executable, "-I", "-c", code], input=json.dumps(event), env=env, cwd=unpacked,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------ the stage


def _names_stage(value: str, stage: str) -> bool:
    return re.search(rf"(?<![a-z0-9]){stage}(?![a-z0-9])", value) is not None


def test_make_infra_writes_the_new_stages_entry_from_another_with_the_stacks_names(lifecycle):
    outputs = {o["OutputKey"]: o["OutputValue"] for o in lifecycle["stack"]["Outputs"]}
    entry, base = stage_config(lifecycle), CONFIG["stages"][FROM_STAGE]
    assert (entry["api_gateway_stage"], entry["tags"]["stage"], entry["environment_variables"]["STAGE"]) == \
        (STAGE, STAGE, STAGE)
    environment = entry["environment_variables"]
    for variable, value in base["environment_variables"].items():
        if variable == "STAGE":
            continue
        if _names_stage(value, FROM_STAGE):  # a table, queue or secret of the base stage: this stack's own
            assert environment[variable] in outputs.values(), variable
            assert _names_stage(environment[variable], STAGE), variable
        else:  # providers, tunables, sizing: the base stage's
            assert environment[variable] == value, variable
    assert not _names_stage(json.dumps(entry), FROM_STAGE)
    for handler, overrides in base.get("lambda_functions", {}).items():
        assert overrides.items() <= entry["lambda_functions"][handler].items()


def test_log_retention_is_a_default_that_make_infra_overrides(lifecycle):
    """Sizing comes from the stack's parameters (LOG_RETENTION_DAYS), not from the stage's name; changing it
    updates the stack in place."""
    first, updated = lifecycle["log_retention"]["first"], lifecycle["log_retention"]["updated"]
    assert set(first) == {f"/aws/lambda/{function_name(handler)}" for handler in CONFIG["lambda_functions"]}
    assert set(first.values()) == {90}
    assert updated == dict.fromkeys(first, 14)


def test_a_stage_name_the_templates_refuse_is_a_validation_error(emulator):
    from botocore.exceptions import ClientError

    cloudformation = boto3.client("cloudformation", endpoint_url=emulator["AWS_ENDPOINT_URL"], region_name="us-east-1",
                                  aws_access_key_id="testing", aws_secret_access_key="testing")
    with pytest.raises(ClientError, match=r"ValidationError.*lowercase letters"):
        cloudformation.create_stack(StackName="bad-stage", TemplateBody=(ROOT / "infra" / "data.json").read_text(),
                                    Parameters=[{"ParameterKey": "Stage", "ParameterValue": "Feature_X"}])


def test_a_template_that_fails_rolls_the_stack_back_with_the_reason(emulator):
    """moto answered a 500 and left the stack CREATE_IN_PROGRESS for ever; CloudFormation rolls it back."""
    cloudformation = boto3.client("cloudformation", endpoint_url=emulator["AWS_ENDPOINT_URL"], region_name="us-east-1",
                                  aws_access_key_id="testing", aws_secret_access_key="testing")
    template = {"Parameters": {"Stage": {"Type": "String"}},
                "Mappings": {"StageSettings": {"dev": {"Retention": 14}, "prod": {"Retention": 90}}},
                "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {
                    "MessageRetentionPeriod": {"Fn::FindInMap": ["StageSettings", {"Ref": "Stage"}, "Retention"]}}}}}
    cloudformation.create_stack(StackName="unmapped-stage", TemplateBody=json.dumps(template),
                                Parameters=[{"ParameterKey": "Stage", "ParameterValue": STAGE}])
    [stack] = cloudformation.describe_stacks(StackName="unmapped-stage")["Stacks"]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cloudformation.describe_stack_events(StackName="unmapped-stage")["StackEvents"]
    assert any(e["ResourceStatus"] == "CREATE_FAILED" and STAGE in e["ResourceStatusReason"] for e in events)
    cloudformation.delete_stack(StackName="unmapped-stage")


# ----------------------------------------------------------------------------------------- functions


def test_every_function_is_deployed_with_its_configuration(lifecycle):
    functions = lifecycle["deployed"]["functions"]
    assert set(functions) == {function_name(handler) for handler in CONFIG["lambda_functions"]}
    stage_functions = stage_config(lifecycle).get("lambda_functions", {})
    for handler, declared in CONFIG["lambda_functions"].items():
        function = functions[function_name(handler)]
        assert function["Runtime"] == CONFIG["lambda_python_version"]
        assert function["Timeout"] == declared["lambda_timeout"]
        memory = stage_functions.get(handler, {}).get("lambda_memory_size", declared["lambda_memory_size"])
        assert function["MemorySize"] == memory, handler


def test_the_dispatcher_has_its_reserved_concurrency_so_an_api_flood_cannot_starve_it(lifecycle):
    reserved = stage_config(lifecycle)["lambda_functions"]["dispatch_sms"]["reserved_concurrency"]
    assert lifecycle["deployed"]["concurrency"][function_name("dispatch_sms")] == reserved


def test_the_api_stage_is_throttled_and_in_its_usage_plan(lifecycle):
    env = stage_config(lifecycle)["environment_variables"]
    rate, burst = float(env["API_THROTTLE_RATE"]), int(env["API_THROTTLE_BURST"])
    for deployed in (lifecycle["deployed"], lifecycle["redeployed"]):
        [api] = deployed["apis"]
        settings = api["method_settings"][API_STAGE]["*/*"]
        assert (settings["throttlingRateLimit"], settings["throttlingBurstLimit"]) == (rate, burst)
        [plan] = deployed["usage_plans"]
        assert plan["throttle"] == {"rateLimit": rate, "burstLimit": burst}
        assert plan["apiStages"] == [{"apiId": api["id"], "stage": API_STAGE}]


def test_functions_get_the_stage_environment_and_the_stacks_redis_and_queue(lifecycle):
    outputs = {o["OutputKey"]: o["OutputValue"] for o in lifecycle["stack"]["Outputs"]}
    for function in lifecycle["deployed"]["functions"].values():
        variables = function["Environment"]["Variables"]
        for name, value in stage_config(lifecycle)["environment_variables"].items():
            assert variables[name] == value, name
        assert variables["REDIS_URL"] == outputs["EnvRedisUrl"]
        assert variables["REDIS_URL"].startswith("rediss://")
        assert variables["DISPATCH_QUEUE_URL"] == outputs["EnvDispatchQueueUrl"]
        assert variables["CALLBACK_QUEUE_URL"] == outputs["EnvCallbackQueueUrl"]
        assert variables["CALLBACK_DLQ_URL"] == outputs["EnvCallbackDlqUrl"]


def test_redis_functions_run_in_the_private_subnets_with_the_stacks_security_group(lifecycle):
    outputs = {o["OutputKey"]: o["OutputValue"] for o in lifecycle["stack"]["Outputs"]}
    in_vpc = {name: f.get("VpcConfig", {}).get("SubnetIds") for name, f in lifecycle["deployed"]["functions"].items()}
    assert {name for name, subnets in in_vpc.items() if subnets} == {
        function_name(h) for h in ("api_handler", "dispatch_sms", "snapshot_provider_health")}
    for name, subnets in in_vpc.items():
        if subnets:
            assert sorted(subnets) == sorted(lifecycle["subnets"])
            groups = lifecycle["deployed"]["functions"][name]["VpcConfig"]["SecurityGroupIds"]
            assert groups == outputs["LambdaSecurityGroupIds"].split(",")


# ------------------------------------------------------------------------------------------ policies


def test_each_function_has_its_own_role_with_the_generated_least_privilege_policy(lifecycle):
    roles = lifecycle["deployed"]["roles"]
    assert set(roles) == {f"{APP_NAME}-{STAGE}-{handler}" for handler in CONFIG["lambda_functions"]}
    for handler in CONFIG["lambda_functions"]:
        role = f"{APP_NAME}-{STAGE}-{handler}"
        policy_file = stage_config(lifecycle)["lambda_functions"][handler]["iam_policy_file"]
        (document,) = roles[role].values()
        assert document == lifecycle["policies"][policy_file]


def _account_scoped(outputs: dict[str, str]) -> set[str]:
    """What a policy template names by the account and stage alone (a provider's own secrets, the SMS API),
    rendered for this stack: those are the only resources that need not be the stack's own."""
    from infra.stack import PSEUDO_PARAMETERS, _references, policy_values

    values = policy_values(outputs, STAGE)
    found = set()
    for policy_file in (ROOT / ".chalice").glob("policy-*.json"):
        for statement in json.loads(policy_file.read_text())["Statement"]:
            resources = statement["Resource"]
            for resource in resources if isinstance(resources, list) else [resources]:
                if isinstance(resource, dict) and set(resource) == {"Fn::Sub"} and \
                        _references(resource) <= PSEUDO_PARAMETERS | {"Stage"}:
                    found.add(re.sub(r"\$\{([\w:]+)\}", lambda m: values[m.group(1)], resource["Fn::Sub"]))
    return found


def test_policies_name_the_stacks_resources_by_arn(lifecycle):
    outputs = {o["OutputKey"]: o["OutputValue"] for o in lifecycle["stack"]["Outputs"]}
    stack_arns = {value for key, value in outputs.items() if key.endswith("Arn")} | _account_scoped(outputs)
    for policies in lifecycle["deployed"]["roles"].values():
        for document in policies.values():
            assert "Fn::" not in json.dumps(document) and '"Ref"' not in json.dumps(document)
            for statement in document["Statement"]:
                resources = statement["Resource"]
                for resource in resources if isinstance(resources, list) else [resources]:
                    if resource == "*":
                        assert statement["Sid"] == "LambdaVpcNetworkInterfaces"
                    else:
                        # a table's indexes (all of them, or one by name) are the table's
                        assert re.sub(r"/index/[^/]+$", "", resource) in stack_arns, resource


# -------------------------------------------------------------------------------------- event source


def _mapping_of(readback: dict, handler: str) -> dict:
    (mapping,) = [m for m in readback["mappings"] if m["FunctionArn"].endswith(f":function:{function_name(handler)}")]
    return mapping


def test_the_only_event_sources_are_the_dispatch_callbacks_and_delivery_events_queues(lifecycle):
    for readback in ("deployed", "redeployed"):
        assert len(lifecycle[readback]["mappings"]) == 3


def test_dispatcher_consumes_the_stacks_queue_with_partial_batch_responses(lifecycle):
    outputs = {o["OutputKey"]: o["OutputValue"] for o in lifecycle["stack"]["Outputs"]}
    for readback in ("deployed", "redeployed"):  # a redeploy updates the mapping and keeps every setting
        mapping = _mapping_of(lifecycle[readback], "dispatch_sms")
        assert mapping["EventSourceArn"] == outputs["DispatchQueueArn"]
        assert mapping["BatchSize"] == 10
        assert mapping["MaximumBatchingWindowInSeconds"] == 1
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        expected = int(stage_config(lifecycle)["environment_variables"]["DISPATCHER_MAX_CONCURRENCY"])
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": expected}


def test_callbacks_function_consumes_the_callbacks_queue_with_partial_batch_responses(lifecycle):
    outputs = {o["OutputKey"]: o["OutputValue"] for o in lifecycle["stack"]["Outputs"]}
    for readback in ("deployed", "redeployed"):
        mapping = _mapping_of(lifecycle[readback], "deliver_callbacks")
        assert mapping["EventSourceArn"] == outputs["CallbackQueueArn"]
        assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]) == (10, 1)
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_delivery_events_function_consumes_the_delivery_events_queue_with_partial_batch_responses(lifecycle):
    outputs = {o["OutputKey"]: o["OutputValue"] for o in lifecycle["stack"]["Outputs"]}
    for readback in ("deployed", "redeployed"):
        mapping = _mapping_of(lifecycle[readback], "apply_delivery_events")
        assert mapping["EventSourceArn"] == outputs["DeliveryEventsQueueArn"]
        assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]) == (10, 1)
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


# ---------------------------------------------------------------------------------------- schedules


def test_scheduled_functions_run_every_minute(lifecycle):
    rules = lifecycle["deployed"]["rules"]
    scheduled = {handler: rule for handler in ("sweep_stuck_requests", "snapshot_provider_health")
                 for name, rule in rules.items() if name.startswith(function_name(handler))}
    assert set(scheduled) == {"sweep_stuck_requests", "snapshot_provider_health"}
    for handler, rule in scheduled.items():
        assert rule["ScheduleExpression"] == "rate(1 minute)"
        assert rule["State"] == "ENABLED"
        assert [arn.rsplit(":", 1)[1] for arn in rule["Targets"]] == [function_name(handler)]


# ------------------------------------------------------------------------------------------- the API


def test_every_route_is_deployed_once_and_reaches_the_api_function(lifecycle):
    import app as gateway

    (api,) = lifecycle["deployed"]["apis"]
    assert api["stages"] == [API_STAGE]
    declared = {path: set(methods) for path, methods in gateway.app.routes.items()}
    deployed = {path: set(methods) for path, methods in api["resources"].items() if methods}
    assert deployed == declared
    for methods in api["resources"].values():
        for uri in methods.values():
            assert uri.endswith(f":function:{function_name('api_handler')}/invocations")
    # Public URLs are /<stage><route>: the stage must not be the routes' own first segment (/api/api/sms).
    assert all(path.split("/")[1] != API_STAGE for path in declared)


def test_the_document_under_the_stage_path_names_the_stage_as_its_server(lifecycle):
    answer = lifecycle["answers"]["/openapi.json"]
    assert answer["statusCode"] == 200
    document = json.loads(answer["body"])
    assert document["servers"] == [{"url": f"/{API_STAGE}"}]
    import app as gateway

    def shape(path: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", path)

    assert {shape(path) for path in document["paths"]} <= {shape(path) for path in gateway.app.routes}


def test_the_docs_page_under_the_stage_path_fetches_the_document_under_it(lifecycle):
    answer = lifecycle["answers"]["/docs"]
    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"].startswith("text/html")
    page = answer["body"]
    fetched = page.split("const OPENAPI_URL = ", 1)[1].split(";", 1)[0]
    host = "https://api-id.execute-api.us-east-1.amazonaws.com"
    assert urljoin(f"{host}/{API_STAGE}/docs", json.loads(fetched)) == f"{host}/{API_STAGE}/openapi.json"


# ---------------------------------------------------------------------------------------- undo it


def test_chalice_delete_removes_everything_it_deployed(lifecycle):
    deleted = lifecycle["deleted"]
    assert deleted["functions"] == {}
    assert deleted["roles"] == {}
    assert deleted["mappings"] == []
    assert deleted["rules"] == {}
    assert deleted["apis"] == []
    assert deleted["usage_plans"] == []  # made by infra/chalice_hooks.py, deleted by it with the API


def test_nothing_of_the_stage_is_left_after_chalice_delete_and_infra_delete(lifecycle):
    assert lifecycle["left"] == {}


def test_infra_delete_leaves_config_json_as_it_was(lifecycle):
    assert lifecycle["config_after_delete"] == CONFIG
    assert not (lifecycle["project"] / ".chalice" / "generated" / STAGE).exists()
    assert not (lifecycle["project"] / ".chalice" / "deployed" / f"{STAGE}.json").exists()  # chalice's empty record
