"""`make infra` / `make infra-delete`: the stage's infrastructure as one CloudFormation stack, deployed with
boto3, for a stage whose functions `chalice deploy` creates (docs/deploy.md).

    python -m infra.stack deploy --stage prod     # VPC_ID=vpc-... PRIVATE_SUBNET_IDS=subnet-a,subnet-b
    python -m infra.stack deploy --stage staging --from-stage prod    # a stage config.json does not have yet
    python -m infra.stack delete --stage staging [--purge-data]
    python -m infra.stack stage --stage staging --from-stage prod     # only the entry, for `make package`
    python -m infra.stack check --stage staging                       # a valid name with an entry

The template is built from the same files `make package` merges into chalice's template, so the two deploy
paths cannot drift: infra/data.json (queues, tables) and infra/resources.json (Redis, secrets, log groups,
alarms, and patches to chalice's functions). What differs when chalice deploys the functions itself:

- the patches to chalice's resources have nothing to patch; they are read instead, for what the functions
  need from this stack (their environment, VPC and log group), and that becomes the stack's outputs;
- a log group is named /aws/lambda/<function>, where Lambda writes without a LoggingConfig (which chalice
  1.34 cannot set); a function's Ref (an alarm's dimension) is its name, which chalice derives;
- what refers to chalice's REST API (the gateway responses) is left out: chalice creates the API later.

After the stack is up, its outputs go where `chalice deploy --stage <stage>` reads them: the stage's section
of .chalice/config.json (REDIS_URL, DISPATCH_QUEUE_URL, DISPATCH_QUEUE_ARN,
CALLBACK_QUEUE_URL, CALLBACK_DLQ_URL, CALLBACK_QUEUE_ARN; each function's policy file,
subnets and security groups) and .chalice/generated/<stage>/policy-*.json, the least-privilege policies of
.chalice/policy-*.json with real ARNs in place of their CloudFormation references.

Any stage name that check_stage accepts deploys. A stage without an entry in config.json gets one, written by
`deploy` from another stage's entry (--from-stage, FROM_STAGE, default dev: its providers, tunables and
sizing) with the new stage's resource names taken from the stack's outputs; `delete` removes an entry it
wrote. Sizing that differs by environment is never read from the stage's name: the stack takes it as
parameters with documented defaults (docs/deploy.md), config.json's entry holds the functions' own.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError, WaiterError

from infra.combine_templates import combine_files

ROOT = Path(__file__).resolve().parents[1]
GENERATED = "generated"  # under .chalice/, as iam_policy_file paths are relative to it
# Written by `deploy`, removed by `delete`: per function in the stage, and in the stage's environment.
FUNCTION_KEYS = ("iam_policy_file", "subnet_ids", "security_group_ids")
ACCOUNT_VARIABLES = ("REDIS_URL", "DISPATCH_QUEUE_URL", "DISPATCH_QUEUE_ARN", "CALLBACK_QUEUE_URL", "CALLBACK_DLQ_URL",
                     "CALLBACK_QUEUE_ARN", "DELIVERY_EVENTS_QUEUE_ARN")
PSEUDO_PARAMETERS = {"AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::StackName", "AWS::URLSuffix",
                     "AWS::NoValue", "AWS::StackId", "AWS::NotificationARNs"}
# Stack parameters from the environment (the same names infra/deploy.sh reads); no default = required.
PARAMETERS_FROM_ENV = {"VpcId": "VPC_ID", "PrivateSubnetIds": "PRIVATE_SUBNET_IDS", "AlarmEmail": "ALARM_EMAIL",
                       "RedisNodeType": "REDIS_NODE_TYPE", "RedisNumCacheClusters": "REDIS_NUM_CACHE_CLUSTERS",
                       "RedisTransitEncryption": "REDIS_TRANSIT_ENCRYPTION",
                       "LogRetentionDays": "LOG_RETENTION_DAYS", "BacklogAgeAlarmS": "BACKLOG_AGE_ALARM_S",
                       "TableDeletionProtection": "TABLE_DELETION_PROTECTION"}
# A stage names the stack, the functions, their roles and schedules, queues, tables, secrets, the Redis group and
# the API stage. The narrowest of those rules: a stack name takes letters, digits and hyphens; ElastiCache ids are
# lowercase without "--" or a trailing hyphen; Lambda function, IAM role and EventBridge rule names are at most
# 64 characters (NAME_LIMIT). infra/data.json and infra/resources.json carry the same pattern and length
# (tests/tooling/unit/test_infra_stage.py keeps them equal), so CloudFormation refuses what this refuses.
STAGE_PATTERN = r"[a-z][a-z0-9]*(-[a-z0-9]+)*"
NAME_LIMIT = 64
LOCAL_STAGE = "local"  # config.json's stage for `chalice local`, never deployed
# What a purge finds already deleted: DynamoDB and Secrets Manager, SQS (query and JSON protocols).
GONE = ("ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
CREATED_MARKER = "stage-entry-written-by-make-infra"  # in .chalice/generated/<stage>/


class InfraError(RuntimeError):
    """Something an operator must fix; the message says what."""


# ------------------------------------------------------------------------------------------ the stage


def longest_stage_name(project: Path = ROOT) -> str:
    """The longest name chalice derives from a stage: a schedule's rule, <app>-<stage>-<handler>-event."""
    config = json.loads((project / ".chalice" / "config.json").read_text())
    handler = max(config["lambda_functions"], key=len)
    return f"{config['app_name']}-{{stage}}-{handler}-event"


def max_stage_length(project: Path = ROOT) -> int:
    return NAME_LIMIT - len(longest_stage_name(project).format(stage=""))


def check_stage(stage: str, project: Path = ROOT) -> None:
    """Raise InfraError, saying which rule, for a stage name AWS would refuse somewhere along the deploy."""
    if not re.fullmatch(STAGE_PATTERN, stage):
        raise InfraError(f"stage {stage!r}: use lowercase letters, digits and single hyphens, starting with a letter "
                         f"and not ending with a hyphen (it names the CloudFormation stack, the Redis replication "
                         f"group, the functions, queues and tables)")
    if stage == LOCAL_STAGE:
        raise InfraError(f"stage {stage!r} is `chalice local`'s (make run, make deps): give the deployed stage "
                         f"another name")
    if len(stage) > (limit := max_stage_length(project)):
        raise InfraError(f"stage {stage!r} has {len(stage)} characters, at most {limit}: "
                         f"{longest_stage_name(project).format(stage=stage)} must fit the {NAME_LIMIT} characters "
                         f"of a Lambda function, IAM role or EventBridge rule name")


# ------------------------------------------------------------------------------------- the template


def chalice_functions(project: Path, stage: str) -> dict[str, dict[str, str]]:
    """{logical id in `chalice package`'s template: {"handler", "name"}}, by chalice's naming rules: the
    REST handler is APIHandler and named <app>-<stage>; every other function <Handler> and
    <app>-<stage>-<handler>."""
    config = json.loads((project / ".chalice" / "config.json").read_text())
    app_name = config["app_name"]
    functions = {}
    for handler in config["lambda_functions"]:
        if handler == "api_handler":
            functions["APIHandler"] = {"handler": handler, "name": f"{app_name}-{stage}"}
        else:
            logical_id = "".join(part.capitalize() for part in handler.split("_"))
            functions[logical_id] = {"handler": handler, "name": f"{app_name}-{stage}-{handler}"}
    return functions


def _references(node: Any) -> set[str]:
    """Every logical id or parameter a template fragment refers to (Ref, Fn::GetAtt, ${X} in Fn::Sub)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= _references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text)}
                if isinstance(value, list):
                    found |= _references(value[1]) - set(value[1])
            else:
                found |= _references(value)
    return found


def _replace_refs(node: Any, replacements: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_replace_refs(item, replacements) for item in node]
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in replacements:
            return replacements[node["Ref"]]
        return {key: _replace_refs(value, replacements) for key, value in node.items()}
    return node


def _output_key(variable: str) -> str:
    return "Env" + "".join(part.capitalize() for part in variable.split("_"))


def _policy_references(project: Path) -> set[str]:
    chalice_dir = project / ".chalice"
    config = json.loads((chalice_dir / "config.json").read_text())
    named = set().union(*(_references(json.loads((chalice_dir / spec["iam_policy_file"]).read_text()))
                          for spec in config["lambda_functions"].values() if spec.get("iam_policy_file")))
    return named - PSEUDO_PARAMETERS - {"Stage"}  # those are substituted, not resources with an ARN


def infra_template(project: Path = ROOT) -> dict:
    combined = combine_files([project / "infra" / "data.json", project / "infra" / "resources.json"])
    functions = chalice_functions(project, "${Stage}")
    patches = {logical_id: body for logical_id, body in combined["Resources"].items() if "Type" not in body}
    resources = {logical_id: body for logical_id, body in combined["Resources"].items() if "Type" in body}
    # The REST API (and what names it) only exists in the `make package` path; `chalice deploy` makes its own,
    # and infra/chalice_hooks.py throttles that one.
    patches.pop("RestAPI", None)
    if unknown := set(patches) - set(functions):
        raise InfraError(f"infra/resources.json patches resources chalice does not create: {sorted(unknown)}")

    # A function's Ref is its name; chalice names it from the app, the stage and the handler.
    resources = _replace_refs(resources, {logical_id: {"Fn::Sub": function["name"]}
                                          for logical_id, function in functions.items()})
    for logical_id, patch in patches.items():
        log_group = patch["Properties"].get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        if log_group:
            function_name = functions[logical_id]["name"]
            resources[log_group]["Properties"]["LogGroupName"] = {"Fn::Sub": f"/aws/lambda/{function_name}"}
    known = set(resources) | set(combined.get("Parameters", {})) | PSEUDO_PARAMETERS
    while dangling := [k for k, body in resources.items() if _references(body) - known]:
        for logical_id in dangling:  # refers to what chalice creates later (its REST API), or to a dropped one
            del resources[logical_id]
        known -= set(dangling)

    outputs: dict[str, Any] = {}
    for patch in patches.values():
        for variable, value in patch["Properties"].get("Environment", {}).get("Variables", {}).items():
            outputs[_output_key(variable)] = {"Value": value, "Description": variable}
    outputs[_output_key("DISPATCH_QUEUE_ARN")] = {"Value": {"Fn::GetAtt": ["DispatchQueue", "Arn"]},
                                                  "Description": "DISPATCH_QUEUE_ARN"}
    outputs[_output_key("CALLBACK_QUEUE_ARN")] = {"Value": {"Fn::GetAtt": ["CallbackQueue", "Arn"]},
                                                  "Description": "CALLBACK_QUEUE_ARN"}
    outputs[_output_key("DELIVERY_EVENTS_QUEUE_ARN")] = {"Value": {"Fn::GetAtt": ["DeliveryEventsQueue", "Arn"]},
                                                         "Description": "DELIVERY_EVENTS_QUEUE_ARN"}
    outputs["DeliveryEventsTopicArn"] = {"Value": {"Ref": "DeliveryEventsTopic"},
                                         "Description": "the SNS event destination of the aws providers' "
                                         "configuration set"}
    vpc_configs = {json.dumps(p["Properties"]["VpcConfig"], sort_keys=True) for p in patches.values()
                   if "VpcConfig" in p["Properties"]}
    if len(vpc_configs) > 1:
        raise InfraError("the functions in the VPC must share one VpcConfig in infra/resources.json")
    for vpc_config in map(json.loads, vpc_configs):
        outputs["LambdaSubnetIds"] = {"Value": {"Fn::Join": [",", vpc_config["SubnetIds"]]}}
        outputs["LambdaSecurityGroupIds"] = {"Value": {"Fn::Join": [",", vpc_config["SecurityGroupIds"]]}}
    # What a policy may name besides the stack's resources (${AWS::AccountId}, ${Stage}, ...): see policy_values.
    for name in ("AccountId", "Region", "Partition"):
        outputs[name] = {"Value": {"Ref": f"AWS::{name}"}}
    for logical_id in sorted(_policy_references(project)):
        kind = resources[logical_id]["Type"]
        arn = {"Ref": logical_id} if kind == "AWS::SecretsManager::Secret" else {"Fn::GetAtt": [logical_id, "Arn"]}
        outputs[f"{logical_id}Arn"] = {"Value": arn}

    template = {key: value for key, value in combined.items() if key not in ("Resources", "Outputs")}
    # Parameters only what was dropped used (the API's throttle): a stack takes no value it does not use.
    used = _references(resources) | _references(outputs) | _references(combined.get("Conditions", {}))
    template["Parameters"] = {name: body for name, body in combined.get("Parameters", {}).items() if name in used}
    template["Description"] = ("sms-gateway: queues, tables, Redis, secrets, log groups and alarms of a stage "
                               "whose functions `chalice deploy` creates (infra/stack.py).")
    template["Resources"] = resources
    template["Outputs"] = outputs
    return template


# ------------------------------------------------------------------------------- policies and config


def render_policy(policy: Any, arns: dict[str, str]) -> Any:
    """A policy of .chalice/ with its CloudFormation references ({"Fn::GetAtt": [X, "Arn"]}, {"Ref": X},
    {"Fn::Sub": "${X.Arn}..."}) replaced by the ARNs of the stack's resources."""
    if isinstance(policy, list):
        return [render_policy(item, arns) for item in policy]
    if not isinstance(policy, dict):
        return policy
    if set(policy) == {"Fn::GetAtt"} and policy["Fn::GetAtt"][1] == "Arn":
        return arns[policy["Fn::GetAtt"][0]]
    if set(policy) == {"Ref"}:
        return arns[policy["Ref"]]
    if set(policy) == {"Fn::Sub"} and isinstance(policy["Fn::Sub"], str):
        # ${X.Arn} is a resource's ARN; ${AWS::AccountId}, ${AWS::Region}, ${AWS::Partition}, ${Stage} are values.
        return re.sub(r"\$\{([\w:]+?)(?:\.Arn)?\}", lambda match: arns[match.group(1)], policy["Fn::Sub"])
    rendered = {key: render_policy(value, arns) for key, value in policy.items()}
    if any(key.startswith("Fn::") or key == "Ref" for key in rendered):
        raise InfraError(f"a policy uses a CloudFormation function infra/stack.py cannot resolve: {policy}")
    return rendered


def policy_values(outputs: dict[str, str], stage: str) -> dict[str, str]:
    """What render_policy substitutes: each resource's ARN by logical id, the account, region, partition and
    stage."""
    values = {key.removesuffix("Arn"): value for key, value in outputs.items() if key.endswith("Arn")}
    values.update({f"AWS::{name}": outputs[name] for name in ("AccountId", "Region", "Partition")})
    values["Stage"] = stage
    return values


def _strip_account_values(stage_config: dict) -> None:
    """Take out of a stage's entry what write_deploy_config adds from a stack."""
    environment = stage_config.get("environment_variables", {})
    for variable in ACCOUNT_VARIABLES:
        environment.pop(variable, None)
    overrides_by_handler = stage_config.get("lambda_functions", {})
    for handler, overrides in list(overrides_by_handler.items()):
        for key in FUNCTION_KEYS:
            overrides.pop(key, None)
        if not overrides:
            del overrides_by_handler[handler]
    if "lambda_functions" in stage_config and not overrides_by_handler:
        del stage_config["lambda_functions"]


# The property that names a resource, for the types a stage's entry names (its tables, queues and secrets).
NAME_PROPERTIES = {"AWS::DynamoDB::Table": "TableName", "AWS::SQS::Queue": "QueueName",
                   "AWS::SecretsManager::Secret": "Name"}


def stage_names(stage: str, project: Path = ROOT) -> dict[str, str]:
    """The stack's Env* outputs that name a table, queue or secret, resolved offline from the template for a stage:
    what new_stage_config needs when no stack is deployed (the CloudFormation-only path). A secret is named by its
    name here, by its ARN in a deployed stack's outputs; Secrets Manager takes either."""
    template = infra_template(project)
    names = {}
    for key, output in template["Outputs"].items():
        value = output["Value"]
        if "Ref" in value:
            logical_id = value["Ref"]
        elif value.get("Fn::GetAtt", [None, None])[1] == "QueueName":
            logical_id = value["Fn::GetAtt"][0]
        else:
            continue
        resource = template["Resources"].get(logical_id, {})
        if resource.get("Type") == "AWS::SQS::Queue" and "Ref" in value:
            continue  # a queue's Ref is its URL, which only the account knows
        name = resource.get("Properties", {}).get(NAME_PROPERTIES.get(resource.get("Type"), ""))
        if isinstance(name, dict) and set(name) == {"Fn::Sub"} and isinstance(name["Fn::Sub"], str):
            names[key] = name["Fn::Sub"].replace("${Stage}", stage)
    return names


def write_stage_entry(project: Path, stage: str, from_stage: str) -> Path:
    """`make stage`: the entry of a stage config.json lacks, offline, for `make package` (make infra writes its own)."""
    check_stage(stage, project)
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    if stage in config["stages"]:
        raise InfraError(f"config.json already has stage {stage}")
    config["stages"][stage] = new_stage_config(config, stage, from_stage, stage_names(stage, project))
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    return config_path


def check_from_stage(config: dict, stage: str, from_stage: str) -> None:
    """A stage config.json lacks starts from one it has (not `local`, which only `chalice local` serves)."""
    if stage not in config["stages"] and (from_stage not in config["stages"] or from_stage == LOCAL_STAGE):
        deployable = sorted(name for name in config["stages"] if name != LOCAL_STAGE)
        raise InfraError(f"config.json has no stage {stage!r}, and FROM_STAGE={from_stage!r} is not one of its "
                         f"stages to start it from ({', '.join(deployable)})")


def new_stage_config(config: dict, stage: str, from_stage: str, outputs: dict[str, str]) -> dict:
    """The entry of a stage config.json does not have: from_stage's entry (providers, tunables, the functions'
    sizing) with this stage's name, and the names of this stack's resources where from_stage has its own."""
    check_from_stage(config, stage, from_stage)
    entry = copy.deepcopy(config["stages"][from_stage])
    _strip_account_values(entry)
    environment = entry.setdefault("environment_variables", {})
    for variable in environment:
        if _output_key(variable) in outputs:  # a table, queue or secret of the stack
            environment[variable] = outputs[_output_key(variable)]
    environment["STAGE"] = stage
    entry["api_gateway_stage"] = stage
    if "tags" in entry:
        entry["tags"]["stage"] = stage
    # A value that still names from_stage may point this stage at from_stage's resources (a provider's sandbox
    # URL may only look like it): said, not refused.
    leftover = [key for key, value in environment.items()
                if re.search(rf"(?<![a-z0-9]){re.escape(from_stage)}(?![a-z0-9])", value)]
    if leftover:
        print(f"warning: stage {stage}'s {', '.join(leftover)}, copied from stage {from_stage}, still name "
              f"{from_stage}: check them in .chalice/config.json", file=sys.stderr)
    return entry


def write_deploy_config(project: Path, stage: str, outputs: dict[str, str], from_stage: str = "dev") -> list[Path]:
    """The stack's outputs where `chalice deploy` reads them, and the stage's entry when config.json has none
    (marked as written here, for remove_deploy_config). Returns the files written."""
    chalice_dir = project / ".chalice"
    config_path = chalice_dir / "config.json"
    config = json.loads(config_path.read_text())
    policy_dir = chalice_dir / GENERATED / stage
    policy_dir.mkdir(parents=True, exist_ok=True)
    if stage not in config["stages"]:
        config["stages"][stage] = new_stage_config(config, stage, from_stage, outputs)
        (policy_dir / CREATED_MARKER).write_text(f"config.json's stage {stage} was written by make infra "
                                                 f"from stage {from_stage}; make infra-delete removes it\n")
    stage_config = config["stages"][stage]
    environment = stage_config.setdefault("environment_variables", {})
    # The names config.json already declares (tables, queue, secrets) stay as they are: the stack was built
    # from the same names (tests/tooling/unit/test_deploy_package.py keeps them equal). What only the account
    # knows is added.
    for variable in ACCOUNT_VARIABLES:
        environment[variable] = outputs[_output_key(variable)]

    arns = policy_values(outputs, stage)
    written = []
    functions = {spec["handler"]: logical_id for logical_id, spec in chalice_functions(project, stage).items()}
    patches = json.loads((project / "infra" / "resources.json").read_text())["Resources"]
    for handler, spec in config["lambda_functions"].items():
        overrides = stage_config.setdefault("lambda_functions", {}).setdefault(handler, {})
        if spec.get("iam_policy_file"):
            policy = render_policy(json.loads((chalice_dir / spec["iam_policy_file"]).read_text()), arns)
            target = policy_dir / Path(spec["iam_policy_file"]).name
            target.write_text(json.dumps(policy, indent=2) + "\n")
            written.append(target)
            overrides["iam_policy_file"] = str(target.relative_to(chalice_dir))
        if "VpcConfig" in patches.get(functions[handler], {}).get("Properties", {}):
            overrides["subnet_ids"] = outputs["LambdaSubnetIds"].split(",")
            overrides["security_group_ids"] = outputs["LambdaSecurityGroupIds"].split(",")
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    return [config_path, *written]


def remove_deploy_config(project: Path, stage: str) -> None:
    """Undo write_deploy_config: the keys it adds (the whole entry if it wrote it), and the generated policies."""
    chalice_dir = project / ".chalice"
    config_path = chalice_dir / "config.json"
    config = json.loads(config_path.read_text())
    generated = chalice_dir / GENERATED / stage
    if (generated / CREATED_MARKER).exists():
        config["stages"].pop(stage, None)
        record = chalice_dir / "deployed" / f"{stage}.json"  # what `chalice delete` leaves: a record of nothing
        if record.exists() and not json.loads(record.read_text()).get("resources"):
            record.unlink()
    elif stage in config["stages"]:
        _strip_account_values(config["stages"][stage])
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    for path in [*generated.glob("*.json"), generated / CREATED_MARKER]:
        path.unlink(missing_ok=True)
    if generated.is_dir() and not any(generated.iterdir()):
        generated.rmdir()


# ------------------------------------------------------------------------------------------ the stack


def stack_name(stage: str) -> str:
    return f"sms-gateway-{stage}-infra"


def _parameters(template: dict, stage: str, environ: dict[str, str]) -> list[dict[str, str]]:
    parameters = [{"ParameterKey": "Stage", "ParameterValue": stage}]
    for name, spec in template["Parameters"].items():
        if name == "Stage":
            continue
        value = environ.get(PARAMETERS_FROM_ENV.get(name, name), "")
        if not value and "Default" not in spec:
            raise InfraError(f"set {PARAMETERS_FROM_ENV.get(name, name)} (stack parameter {name}: "
                             f"{spec.get('Description', spec['Type'])})")
        if value:
            parameters.append({"ParameterKey": name, "ParameterValue": value})
    return parameters


def _wait(cloudformation, waiter_name: str, name: str, delay_s: int) -> None:
    try:
        cloudformation.get_waiter(waiter_name).wait(StackName=name, WaiterConfig={"Delay": delay_s,
                                                                                   "MaxAttempts": 3600 // delay_s})
    except WaiterError as exc:
        events = cloudformation.describe_stack_events(StackName=name)["StackEvents"][:8]
        reasons = "; ".join(f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', e['ResourceStatus'])}"
                            for e in events if "FAILED" in e["ResourceStatus"])
        raise InfraError(f"stack {name} did not finish: {exc} {reasons}") from None


def deploy(stage: str, project: Path = ROOT, environ: dict[str, str] | None = None,
           from_stage: str | None = None) -> dict[str, str]:
    """Create or update the stack, wait for it, and write its outputs for `chalice deploy` (and the stage's
    entry, from from_stage's, when config.json has none). Returns them."""
    environ = dict(os.environ if environ is None else environ)
    check_stage(stage, project)
    from_stage = from_stage or environ.get("FROM_STAGE") or "dev"
    check_from_stage(json.loads((project / ".chalice" / "config.json").read_text()), stage, from_stage)  # before AWS
    template = infra_template(project)
    cloudformation = boto3.client("cloudformation")
    name = stack_name(stage)
    arguments = {"StackName": name, "TemplateBody": json.dumps(template),
                 "Parameters": _parameters(template, stage, environ),
                 "Capabilities": ["CAPABILITY_IAM"],
                 "Tags": [{"Key": "service", "Value": "sms-gateway"}, {"Key": "stage", "Value": stage}]}
    delay_s = int(environ.get("INFRA_POLL_S", "10"))
    try:
        status = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except ClientError:
        status = None
    if status is None or status == "ROLLBACK_COMPLETE":  # a failed first create can only be deleted
        if status == "ROLLBACK_COMPLETE":
            cloudformation.delete_stack(StackName=name)
            _wait(cloudformation, "stack_delete_complete", name, delay_s)
        cloudformation.create_stack(**arguments)
        _wait(cloudformation, "stack_create_complete", name, delay_s)
    else:
        try:
            cloudformation.update_stack(**arguments)
            _wait(cloudformation, "stack_update_complete", name, delay_s)
        except ClientError as exc:
            if "No updates are to be performed" not in str(exc):
                raise
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    for path in write_deploy_config(project, stage, outputs, from_stage):
        print(f"wrote {path.relative_to(project)}")
    return outputs


def retained_resources(cloudformation, name: str) -> list[tuple[str, str, str]]:
    """(logical id, type, physical id) of the stack's resources that outlive it (DeletionPolicy: Retain); none
    when the stack is gone already (a delete run again after it failed halfway)."""
    try:
        body = cloudformation.get_template(StackName=name)["TemplateBody"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return []
        raise
    template = json.loads(body) if isinstance(body, str) else body
    retained = {logical_id for logical_id, resource in template["Resources"].items()
                if resource.get("DeletionPolicy") == "Retain"}
    pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=name)
    return [(r["LogicalResourceId"], r["ResourceType"], r["PhysicalResourceId"])
            for page in pages for r in page["StackResourceSummaries"] if r["LogicalResourceId"] in retained]


def purge(resources: list[tuple[str, str, str]]) -> None:
    """Delete what a stack retained: its tables (deletion protection off first), queues and secrets."""
    dynamodb, sqs, secrets = boto3.client("dynamodb"), boto3.client("sqs"), boto3.client("secretsmanager")
    for logical_id, kind, physical_id in resources:
        try:
            if kind == "AWS::DynamoDB::Table":
                if dynamodb.describe_table(TableName=physical_id)["Table"].get("DeletionProtectionEnabled"):
                    dynamodb.update_table(TableName=physical_id, DeletionProtectionEnabled=False)
                    dynamodb.get_waiter("table_exists").wait(TableName=physical_id)  # ACTIVE again
                dynamodb.delete_table(TableName=physical_id)
            elif kind == "AWS::SQS::Queue":
                sqs.delete_queue(QueueUrl=physical_id)
            elif kind == "AWS::SecretsManager::Secret":
                secrets.delete_secret(SecretId=physical_id, ForceDeleteWithoutRecovery=True)
            else:
                raise InfraError(f"--purge-data cannot delete {logical_id} ({kind}: {physical_id}); delete it by hand")
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in GONE:
                raise
        print(f"purged {logical_id} {physical_id}")


def delete(stage: str, project: Path = ROOT, environ: dict[str, str] | None = None, purge_data: bool = False) -> None:
    """Delete the stack and take its outputs out of config.json; with purge_data, also what it retains (the
    tables, the DLQs and the secrets: a throwaway stage's data)."""
    environ = dict(os.environ if environ is None else environ)
    check_stage(stage, project)
    cloudformation = boto3.client("cloudformation")
    name = stack_name(stage)
    retained = retained_resources(cloudformation, name)
    cloudformation.delete_stack(StackName=name)
    _wait(cloudformation, "stack_delete_complete", name, int(environ.get("INFRA_POLL_S", "10")))
    remove_deploy_config(project, stage)
    if purge_data:
        purge(retained)
        print(f"deleted {name} and the data it kept")
    elif not retained:
        print(f"deleted {name}")
    else:
        print(f"deleted {name}; kept (DeletionPolicy: Retain; make infra-delete PURGE_DATA=1 deletes them): "
              + ", ".join(physical_id for _, _, physical_id in retained))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["deploy", "delete", "template", "stage", "check"])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--project-dir", type=Path, default=ROOT)
    parser.add_argument("--from-stage", help="deploy: the stage whose config.json entry a new stage starts from "
                        "(default: FROM_STAGE, else dev)")
    parser.add_argument("--purge-data", action="store_true", help="delete: also the tables, DLQs and secrets the "
                        "stack keeps (DeletionPolicy: Retain)")
    args = parser.parse_args(argv)
    try:
        if args.action == "template":
            json.dump(infra_template(args.project_dir), sys.stdout, indent=2)
        elif args.action == "check":  # infra/package.sh, before `chalice package --stage`
            check_stage(args.stage, args.project_dir.resolve())
            if args.stage not in json.loads((args.project_dir / ".chalice" / "config.json").read_text())["stages"]:
                raise InfraError(f"config.json has no stage {args.stage}: write its entry with `make stage "
                                 f"STAGE={args.stage} FROM_STAGE=dev` (or prod), and commit it")
        elif args.action == "stage":
            from_stage = args.from_stage or os.environ.get("FROM_STAGE") or "dev"
            path = write_stage_entry(args.project_dir.resolve(), args.stage, from_stage)
            print(f"wrote stage {args.stage} (from {from_stage}) in {path}")
        elif args.action == "deploy":
            deploy(args.stage, args.project_dir.resolve(), from_stage=args.from_stage)
            print(f"next: chalice deploy --stage {args.stage}")
        else:
            delete(args.stage, args.project_dir.resolve(), purge_data=args.purge_data)
    except (InfraError, ClientError) as exc:
        print(f"infra: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
