"""Any stage name deploys (docs/deploy.md#stages): the name rule, the entry `make infra` / `make stage` write for a
stage config.json lacks and `make infra-delete` takes back out, and the usage plan `chalice delete` removes.

The whole path against the emulator is tests/tooling/integration/test_deploy.py; these are its pieces, offline.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from infra.chalice_hooks import delete_usage_plans, usage_plan_name
from infra.stack import (
    STAGE_PATTERN,
    InfraError,
    check_stage,
    infra_template,
    max_stage_length,
    remove_deploy_config,
    stage_names,
    write_deploy_config,
    write_stage_entry,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())

GOOD_STAGES = ["staging", "dev", "alice", "feat-123", "pr-42", "a" * max_stage_length(ROOT)]
BAD_STAGES = [
    pytest.param("Staging", "lowercase letters", id="uppercase"),
    pytest.param("feature_x", "lowercase letters", id="underscore"),
    pytest.param("1st", "starting with a letter", id="leading-digit"),
    pytest.param("-x", "starting with a letter", id="leading-hyphen"),
    pytest.param("x-", "not ending with a hyphen", id="trailing-hyphen"),
    pytest.param("a--b", "single hyphens", id="double-hyphen"),
    pytest.param("", "lowercase letters", id="empty"),
    pytest.param("feat/x", "lowercase letters", id="slash"),
    pytest.param("a" * (max_stage_length(ROOT) + 1), "at most", id="too-long"),
    pytest.param("local", "chalice local", id="chalice-locals-stage"),
]


def _names_stage(value: str, stage: str) -> bool:
    return re.search(rf"(?<![a-z0-9]){stage}(?![a-z0-9])", value) is not None


@pytest.mark.parametrize("stage", GOOD_STAGES)
def test_a_stage_name_aws_accepts_everywhere_is_accepted(stage):
    check_stage(stage, ROOT)


@pytest.mark.parametrize(("stage", "says"), BAD_STAGES)
def test_a_bad_stage_name_is_refused_with_the_rule_it_breaks(stage, says):
    with pytest.raises(InfraError, match=says):
        check_stage(stage, ROOT)


def test_the_longest_name_a_stage_makes_fits_aws_limits():
    longest = max((f"{CONFIG['app_name']}-{'a' * max_stage_length(ROOT)}-{handler}-event"
                  for handler in CONFIG["lambda_functions"]), key=len)
    assert len(longest) == 64


@pytest.mark.parametrize("template", ["data.json", "resources.json"])
def test_the_templates_refuse_the_stage_names_make_infra_refuses(template):
    """CloudFormation checks the same rule (a template deployed without make infra: make package, an emulator)."""
    stage = json.loads((ROOT / "infra" / template).read_text())["Parameters"]["Stage"]
    assert "AllowedValues" not in stage
    assert stage["AllowedPattern"] == STAGE_PATTERN
    assert stage["MaxLength"] == max_stage_length(ROOT)
    for good in GOOD_STAGES:
        assert re.fullmatch(stage["AllowedPattern"], good)
    for bad in [param.values[0] for param in BAD_STAGES if param.id not in ("too-long", "chalice-locals-stage")]:
        assert not re.fullmatch(stage["AllowedPattern"], bad)


@pytest.mark.parametrize("template", ["data.json", "resources.json"])
def test_no_setting_depends_on_the_stage_name(template):
    """Sizing, retention and protection are parameters with defaults; a mapping or condition keyed on the stage's
    name would fail (or silently differ) for any stage it does not list."""
    body = json.loads((ROOT / "infra" / template).read_text())
    assert "Mappings" not in body
    for condition in body.get("Conditions", {}).values():
        assert {"Ref": "Stage"} not in condition.get("Fn::Equals", [])


def _project(tmp_path: Path) -> Path:
    for name in ("infra", ".chalice"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("generated", "deployments",
                                                                                    "deployed", "__pycache__"))
    return tmp_path


def _stack_outputs(project: Path, stage: str) -> dict[str, str]:
    """What a deployed stack answers, with made-up account values and the names the template gives the stage."""
    outputs = {key: f"arn:aws:made-up:{stage}:{key}" for key in infra_template(project)["Outputs"]}
    outputs.update({"AccountId": "123456789012", "Region": "eu-west-1", "Partition": "aws",
                    "LambdaSubnetIds": "subnet-a,subnet-b", "LambdaSecurityGroupIds": "sg-1"})
    outputs.update(stage_names(stage, project))
    return outputs


def test_make_infra_writes_a_new_stages_entry_and_infra_delete_takes_it_out(tmp_path):
    project = _project(tmp_path)
    before = (project / ".chalice" / "config.json").read_text()

    write_deploy_config(project, "pr-42", _stack_outputs(project, "pr-42"), from_stage="dev")
    entry = json.loads((project / ".chalice" / "config.json").read_text())["stages"]["pr-42"]
    assert entry["environment_variables"]["STAGE"] == entry["api_gateway_stage"] == "pr-42"
    assert entry["environment_variables"]["REDIS_URL"] == "arn:aws:made-up:pr-42:EnvRedisUrl"
    assert entry["lambda_functions"]["dispatch_sms"]["reserved_concurrency"] == \
        CONFIG["stages"]["dev"]["lambda_functions"]["dispatch_sms"]["reserved_concurrency"]
    assert not _names_stage(json.dumps(entry), "dev")

    remove_deploy_config(project, "pr-42")
    assert (project / ".chalice" / "config.json").read_text() == before
    assert not (project / ".chalice" / "generated" / "pr-42").exists()


def test_infra_delete_keeps_an_entry_it_did_not_write(tmp_path):
    project = _project(tmp_path)
    before = json.loads((project / ".chalice" / "config.json").read_text())

    write_deploy_config(project, "prod", _stack_outputs(project, "prod"))
    remove_deploy_config(project, "prod")
    assert json.loads((project / ".chalice" / "config.json").read_text()) == before


def test_a_new_stage_takes_nothing_of_what_make_infra_wrote_for_the_stage_it_starts_from(tmp_path):
    project = _project(tmp_path)
    write_deploy_config(project, "prod", _stack_outputs(project, "prod"))  # prod deployed from this checkout

    write_stage_entry(project, "staging", "prod")  # offline: nothing of a stack overwrites what it copied
    staging = json.loads((project / ".chalice" / "config.json").read_text())["stages"]["staging"]
    assert "REDIS_URL" not in staging["environment_variables"]
    assert all(set(overrides) <= {"lambda_memory_size", "reserved_concurrency"}
               for overrides in staging["lambda_functions"].values())
    assert not _names_stage(json.dumps(staging), "prod")  # no ARN, URL, policy or name of prod's


def test_a_new_stage_must_start_from_a_stage_config_json_has(tmp_path):
    project = _project(tmp_path)
    with pytest.raises(InfraError, match="FROM_STAGE='qa' is not one of its stages"):
        write_deploy_config(project, "staging", _stack_outputs(project, "staging"), from_stage="qa")


def test_make_stage_writes_the_names_the_stack_gives_the_stage(tmp_path):
    project = _project(tmp_path)
    write_stage_entry(project, "staging", "dev")
    written = json.loads((project / ".chalice" / "config.json").read_text())["stages"]["staging"]
    for variable, value in CONFIG["stages"]["dev"]["environment_variables"].items():
        renamed = re.sub(r"(?<![a-z0-9])dev(?![a-z0-9])", "staging", value)
        assert written["environment_variables"][variable] == renamed, variable
    with pytest.raises(InfraError, match="already has stage staging"):
        write_stage_entry(project, "staging", "dev")


@mock_aws
def test_chalice_delete_takes_the_stages_usage_plan_with_the_api():
    client = boto3.client("apigateway", region_name="us-east-1")
    ours = client.create_rest_api(name="sms-gateway")["id"]
    other = client.create_rest_api(name="sms-gateway")["id"]
    for api in (ours, other):
        root = client.get_resources(restApiId=api)["items"][0]["id"]
        client.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
        client.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    client.create_deployment(restApiId=ours, stageName="staging")
    client.create_deployment(restApiId=other, stageName="prod")
    plan = client.create_usage_plan(name=usage_plan_name("staging"), apiStages=[{"apiId": ours, "stage": "staging"}])
    client.create_usage_plan(name=usage_plan_name("prod"), apiStages=[{"apiId": other, "stage": "prod"}])

    assert delete_usage_plans(client, ours, usage_plan_name("staging")) == [plan["id"]]
    assert [p["name"] for p in client.get_usage_plans()["items"]] == [usage_plan_name("prod")]
    assert delete_usage_plans(client, other, usage_plan_name("staging")) == []
