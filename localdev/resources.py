"""Tables and queues for the local stack and the tests, as infra/ defines them on AWS.

Not part of the Lambda package: on AWS the infra stack creates them."""

from __future__ import annotations

import json

import boto3

from chalicelib.settings import Settings
from chalicelib.wiring import tables_for


def create_tables(settings: Settings, *, wait: bool = True) -> list[str]:
    """Create every table that does not exist yet. PynamoDB's create_table also turns on the TTL of
    models that have a TTLAttribute."""
    created = []
    for model in tables_for(settings).all():
        if not model.exists():
            model.create_table(wait=wait, ignore_update_ttl_errors=True)
            created.append(model.Meta.table_name)
    return created


def create_queues(settings: Settings, *, visibility_timeout_s: int = 30, max_receive_count: int = 5) -> str:
    """The dispatch queue and its DLQ (redrive after max_receive_count receives). Returns the queue URL."""
    sqs = boto3.session.Session().client("sqs", region_name=settings.aws_region)
    dlq_url = sqs.create_queue(QueueName=f"{settings.dispatch_queue_name}-dlq",
                               Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)})
    return sqs.create_queue(
        QueueName=settings.dispatch_queue_name,
        Attributes={"VisibilityTimeout": str(visibility_timeout_s), "RedrivePolicy": redrive},
    )["QueueUrl"]
