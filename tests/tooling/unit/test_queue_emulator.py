"""The local event source mapping against moto SQS: Lambda's record shape and its partial-failure rules."""

from __future__ import annotations

import time

import pytest

from localdev.queue_emulator import EventSourceMapping, LambdaContext, build_event, failed_ids

pytestmark = pytest.mark.unit

REGION = "us-east-1"


@pytest.fixture
def queue(aws):
    url = aws.sqs.create_queue(QueueName="emulated", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    return aws.sqs, url


def receive(sqs, url, n=10):
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n, AttributeNames=["All"],
                               MessageAttributeNames=["All"]).get("Messages", [])


def send(sqs, url, *bodies):
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body,
                         MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}})


def left_on_queue(sqs, url) -> list[str]:
    return sorted(m["Body"] for m in receive(sqs, url))


def test_build_event_has_lambdas_record_shape(queue):
    sqs, url = queue
    send(sqs, url, "one", "two")
    messages = receive(sqs, url)
    event = build_event(messages, "arn:aws:sqs:us-east-1:123456789012:emulated", REGION)
    records = event["Records"]
    assert [r["body"] for r in records] == ["one", "two"]
    assert len({r["messageId"] for r in records}) == 2
    record = records[0]
    assert (record["eventSource"], record["awsRegion"]) == ("aws:sqs", REGION)
    assert record["receiptHandle"] == messages[0]["ReceiptHandle"]
    assert record["messageAttributes"]["kind"]["stringValue"] == "test"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"
    assert "ApproximateReceiveCount" in record["attributes"]


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        pytest.param({"batchItemFailures": []}, set(), id="none-failed"),
        pytest.param({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}, id="one-failed"),
        pytest.param({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, {"a", "b"}, id="unknown-id-fails-all"),
        pytest.param({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b"}, id="empty-id-fails-all"),
        pytest.param(None, set(), id="no-answer-is-success"),
        pytest.param({"other": 1}, set(), id="no-failures-key"),
    ],
)
def test_failed_ids_read_as_lambda_reads_them(response, expected):
    assert failed_ids(response, [{"messageId": "a"}, {"messageId": "b"}]) == expected


def test_invoke_deletes_successes_and_leaves_reported_failures(queue):
    sqs, url = queue
    send(sqs, url, "keep", "done-1", "done-2")

    def handler(event, context):
        assert isinstance(context, LambdaContext) and context.get_remaining_time_in_millis() > 0
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]
                                      if r["body"] == "keep"]}

    mapping = EventSourceMapping(sqs, url, handler, region=REGION)
    failed = mapping.invoke(receive(sqs, url))
    assert len(failed) == 1
    assert left_on_queue(sqs, url) == ["keep"]
    assert (mapping.stats.records, mapping.stats.deleted, mapping.stats.reported_failures) == (3, 2, 1)


def test_crashed_invocation_leaves_every_record(queue):
    sqs, url = queue
    send(sqs, url, "a", "b")

    def handler(event, context):
        raise RuntimeError("boom")

    mapping = EventSourceMapping(sqs, url, handler, region=REGION)
    assert len(mapping.invoke(receive(sqs, url))) == 2
    assert left_on_queue(sqs, url) == ["a", "b"]
    assert mapping.stats.handler_errors == 1


def test_polling_feeds_the_handler_until_stopped(queue):
    import threading

    sqs, url = queue
    send(sqs, url, "x", "y", "z")
    seen, done = [], threading.Event()

    def handler(event, context):
        seen.extend(r["body"] for r in event["Records"])
        if len(seen) >= 3:
            done.set()
        return {"batchItemFailures": []}

    mapping = EventSourceMapping(sqs, url, handler, region=REGION, batching_window_s=0, concurrency=1,
                                 wait_time_s=0).start()
    try:
        assert done.wait(10)
    finally:
        mapping.stop()
    assert sorted(seen) == ["x", "y", "z"]
    assert left_on_queue(sqs, url) == []


def test_nothing_is_received_while_every_invocation_slot_is_busy(aws):
    import threading

    sqs = aws.sqs
    url = sqs.create_queue(QueueName="busy", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    send(sqs, url, *[f"m{i}" for i in range(13)])
    first_batch, release = threading.Event(), threading.Event()
    seen: list[str] = []

    def handler(event, context):
        seen.extend(r["body"] for r in event["Records"])
        first_batch.set()
        release.wait(10)
        return {"batchItemFailures": []}

    mapping = EventSourceMapping(sqs, url, handler, region=REGION, batching_window_s=0, concurrency=1,
                                 wait_time_s=0).start()
    try:
        assert first_batch.wait(10)
        time.sleep(0.5)  # the poller had time to take more, had it a free slot
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert (len(seen), int(attributes["ApproximateNumberOfMessages"])) == (10, 3)  # the rest wait on the queue
    finally:
        release.set()
        mapping.stop()


def test_a_queue_left_with_a_long_visibility_timeout_gives_a_failed_message_back_after_the_mappings_own(aws):
    """A previous run's queue holds messages out of sight for 180 s; this run's mapping asks for 1 s."""
    import threading

    sqs = aws.sqs
    url = sqs.create_queue(QueueName="left-behind", Attributes={"VisibilityTimeout": "180"})["QueueUrl"]
    send(sqs, url, "again")
    seen, twice = [], threading.Event()

    def handler(event, context):
        seen.extend(r["body"] for r in event["Records"])
        if len(seen) == 2:
            twice.set()
            return {"batchItemFailures": []}
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}

    mapping = EventSourceMapping(sqs, url, handler, region=REGION, batching_window_s=0, concurrency=1,
                                 wait_time_s=0, visibility_timeout_s=1).start()
    try:
        assert twice.wait(10), seen
    finally:
        mapping.stop()
    assert seen == ["again", "again"]


def test_messages_received_as_the_mapping_stops_go_back_on_the_queue_at_once(aws):
    """Stopping while a receive is in flight: what it brings is released, not hidden for the visibility timeout."""
    import threading

    sqs = aws.sqs
    url = sqs.create_queue(QueueName="stopping", Attributes={"VisibilityTimeout": "180"})["QueueUrl"]
    send(sqs, url, "a", "b")
    handled: list[str] = []

    class StopsDuringReceive:
        def __getattr__(self, name):
            return getattr(sqs, name)

        def receive_message(self, **kwargs):
            messages = sqs.receive_message(**kwargs)
            stopper = threading.Thread(target=mapping.stop)
            stopper.start()
            time.sleep(0.3)  # the stop is under way when the receive returns
            return messages

    mapping = EventSourceMapping(StopsDuringReceive(), url, lambda event, context: handled.append(event),
                                 region=REGION, batching_window_s=0, concurrency=1, wait_time_s=0)
    mapping.start()
    time.sleep(1.0)
    mapping.stop()

    assert handled == []
    assert left_on_queue(sqs, url) == ["a", "b"]
