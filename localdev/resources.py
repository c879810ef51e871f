"""Queues for the local stack and the tests, as infra/ defines them on AWS."""

from __future__ import annotations

import json

import boto3

from chalicelib.settings import Settings


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
