"""Tables and queues for the local stack and the tests, created from infra/data.json, the template AWS gets:
the same keys, indexes, TTL, queue attributes and redrive, under the names the settings give.

Which setting names which resource is read from infra/resources.json, which binds them on AWS
(REQUESTS_TABLE: {"Ref": "RequestsTable"}, DISPATCH_QUEUE_NAME: {"Fn::GetAtt": ["DispatchQueue", ...]});
each DLQ is <its queue>-dlq, as the template names it. The delivery-events queue's SNS topic is AWS's
business: locally the aws simulator puts the events on the queue itself.

Not part of the Lambda package: on AWS the infra stack creates them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from chalicelib.settings import ENV_NAMES, Settings, value_of

INFRA = Path(__file__).resolve().parent.parent / "infra"
# CloudFormation properties of AWS::SQS::Queue that are SQS attributes of the same name.
QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds", "DelaySeconds",
                    "MaximumMessageSize", "SqsManagedSseEnabled")


def data_template() -> dict:
    return json.loads((INFRA / "data.json").read_text())


def resource_names(settings: Settings) -> dict[str, str]:
    """{logical id in infra/data.json: the name this environment gives it}."""
    names = {}
    for patch in json.loads((INFRA / "resources.json").read_text())["Resources"].values():
        for variable, value in patch.get("Properties", {}).get("Environment", {}).get("Variables", {}).items():
            if isinstance(value, dict) and variable in ENV_NAMES:
                logical_id = value.get("Ref") or value.get("Fn::GetAtt", [None])[0]
                if logical_id in data_template()["Resources"]:
                    names.setdefault(logical_id, value_of(settings, variable))
    names["DispatchDeadLetterQueue"] = f"{settings.queues.dispatch_queue_name}-dlq"
    names["CallbackDeadLetterQueue"] = settings.queues.callback_dlq_name
    names["DeliveryEventsDeadLetterQueue"] = f"{settings.queues.delivery_events_queue_name}-dlq"
    return names


def _resources(kind: str) -> dict[str, dict]:
    return {k: v["Properties"] for k, v in data_template()["Resources"].items() if v["Type"] == kind}


def create_tables(settings: Settings, *, wait: bool = True) -> list[str]:
    """Create every table of the template that does not exist yet; returns the names created."""
    dynamodb = boto3.session.Session().client("dynamodb", region_name=settings.aws_region)
    names = resource_names(settings)
    created = []
    for logical_id, properties in _resources("AWS::DynamoDB::Table").items():
        name = names[logical_id]
        arguments: dict[str, Any] = {key: properties[key] for key in
                                     ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes", "BillingMode")
                                     if key in properties}
        try:
            dynamodb.create_table(TableName=name, **arguments)
        except dynamodb.exceptions.ResourceInUseException:
            continue  # it exists: left as it is
        created.append(name)
        if wait or "TimeToLiveSpecification" in properties:
            dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
        if "TimeToLiveSpecification" in properties:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=properties["TimeToLiveSpecification"])
    return created


def queue_attributes(logical_id: str, dlq_arn: str | None, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The SQS attributes of a queue of the template (its redrive pointing at dlq_arn), with overrides."""
    properties = _resources("AWS::SQS::Queue")[logical_id]
    attributes = {key: str(properties[key]).lower() if isinstance(properties[key], bool) else str(properties[key])
                  for key in QUEUE_ATTRIBUTES if key in properties}
    if "RedrivePolicy" in properties:
        redrive = {**properties["RedrivePolicy"], "deadLetterTargetArn": dlq_arn}
        if overrides and "maxReceiveCount" in overrides:
            redrive["maxReceiveCount"] = overrides["maxReceiveCount"]
        attributes["RedrivePolicy"] = json.dumps(redrive)
    attributes.update({k: v for k, v in (overrides or {}).items() if k in QUEUE_ATTRIBUTES})
    return attributes


def create_queues(settings: Settings, *, overrides: dict[str, dict[str, str]] | None = None,
                  report=print) -> str:
    """The dispatch queue, the callbacks queue, the delivery-events queue and their DLQs, as the template makes
    them (overrides: {logical id: {attribute: value}}; maxReceiveCount changes the redrive). A queue that exists
    already is used as it is, whatever its attributes (SQS refuses to create it again with others): a previous
    run, or another tool, made it; the differences are reported. Returns the dispatch queue's URL."""
    sqs = boto3.session.Session().client("sqs", region_name=settings.aws_region)
    names = resource_names(settings)
    overrides = overrides or {}
    for queue, dlq in (("CallbackQueue", "CallbackDeadLetterQueue"),):
        url = _create_queue(sqs, names[dlq], queue_attributes(dlq, None, overrides.get(dlq)), report)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        _create_queue(sqs, names[queue], queue_attributes(queue, arn, overrides.get(queue)), report)
    dlq_url = _create_queue(sqs, names["DispatchDeadLetterQueue"],
                            queue_attributes("DispatchDeadLetterQueue", None, overrides.get("DispatchDeadLetterQueue")),
                            report)
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    dispatch_url = _create_queue(sqs, names["DispatchQueue"],
                                 queue_attributes("DispatchQueue", dlq_arn, overrides.get("DispatchQueue")), report)
    events_dlq_url = _create_queue(sqs, names["DeliveryEventsDeadLetterQueue"],
                                   queue_attributes("DeliveryEventsDeadLetterQueue", None), report)
    events_dlq_arn = sqs.get_queue_attributes(QueueUrl=events_dlq_url,
                                              AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    _create_queue(sqs, names["DeliveryEventsQueue"], queue_attributes("DeliveryEventsQueue", events_dlq_arn), report)
    return dispatch_url


def _create_queue(sqs, name: str, attributes: dict[str, str], report) -> str:
    try:
        return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    existing = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(attributes))["Attributes"]
    differences = ", ".join(f"{key} {existing.get(key)} (wanted {value})" for key, value in attributes.items()
                            if _normalized(existing.get(key)) != _normalized(value))
    report(f"queue {name} exists with other attributes, used as it is: {differences}")
    return url


def _normalized(value: str | None) -> Any:
    """"5" and 5 alike inside a JSON attribute (RedrivePolicy), as SQS does not keep the caller's spelling."""
    try:
        parsed = json.loads(value) if value and value.startswith("{") else None
    except ValueError:
        return value
    return {key: str(item) for key, item in parsed.items()} if isinstance(parsed, dict) else value
