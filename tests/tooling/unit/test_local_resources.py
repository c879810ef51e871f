"""The local stack's tables and queues come from infra/data.json (moto in-process), and a queue a previous
run or another tool left behind is used as it is."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from chalicelib.settings import get_settings
from localdev.resources import create_queues, create_tables, data_template, resource_names

pytestmark = pytest.mark.unit


@pytest.fixture
def local_aws():
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1"), boto3.client("dynamodb", region_name="us-east-1")


def test_the_settings_name_every_table_and_queue_of_the_template():
    settings = get_settings({"STAGE": "local", "REQUESTS_TABLE": "req1", "DISPATCH_QUEUE_NAME": "q1"})
    names = resource_names(settings)
    assert set(names) == {k for k, v in data_template()["Resources"].items()
                          if v["Type"] in ("AWS::DynamoDB::Table", "AWS::SQS::Queue")}
    assert names["RequestsTable"] == "req1"
    assert (names["DispatchQueue"], names["DispatchDeadLetterQueue"]) == ("q1", "q1-dlq")


def test_tables_have_the_templates_keys_indexes_and_ttl(local_aws, settings):
    _, dynamodb = local_aws
    created = create_tables(settings)
    assert create_tables(settings) == []  # a second run keeps what exists
    template = data_template()["Resources"]
    for logical_id, name in resource_names(settings).items():
        if template[logical_id]["Type"] != "AWS::DynamoDB::Table":
            continue
        assert name in created
        table = dynamodb.describe_table(TableName=name)["Table"]
        properties = template[logical_id]["Properties"]
        assert table["KeySchema"] == properties["KeySchema"]
        assert {g["IndexName"] for g in table.get("GlobalSecondaryIndexes", [])} == {
            g["IndexName"] for g in properties.get("GlobalSecondaryIndexes", [])}
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert (ttl["TimeToLiveStatus"] == "ENABLED") == ("TimeToLiveSpecification" in properties)


def test_queue_has_the_templates_attributes_with_the_local_overrides(local_aws, settings):
    sqs, _ = local_aws
    url = create_queues(settings, overrides={"DispatchQueue": {"VisibilityTimeout": "30", "maxReceiveCount": "3"}})

    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    template = data_template()["Resources"]["DispatchQueue"]["Properties"]
    assert attributes["VisibilityTimeout"] == "30"
    assert attributes["MessageRetentionPeriod"] == str(template["MessageRetentionPeriod"])
    assert attributes["ReceiveMessageWaitTimeSeconds"] == str(template["ReceiveMessageWaitTimeSeconds"])
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(f":{settings.queues.dispatch_queue_name}-dlq")
    assert int(redrive["maxReceiveCount"]) == 3


def test_a_queue_left_with_other_attributes_is_used_as_it_is(local_aws, settings):
    sqs, _ = local_aws
    left = sqs.create_queue(QueueName=settings.queues.dispatch_queue_name,
                            Attributes={"VisibilityTimeout": "180"})["QueueUrl"]
    notes = []

    url = create_queues(settings, overrides={"DispatchQueue": {"VisibilityTimeout": "30"}}, report=notes.append)

    assert url == left
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"] == {
        "VisibilityTimeout": "180"}
    (note,) = notes
    assert "VisibilityTimeout 180 (wanted 30)" in note


def test_running_twice_with_the_same_attributes_reports_nothing(local_aws, settings):
    notes = []
    first = create_queues(settings, report=notes.append)
    assert create_queues(settings, report=notes.append) == first
    assert notes == []
