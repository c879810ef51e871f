"""DLQ replay against SQS (moto in-process): a dry run changes nothing, a replay moves every message once."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from moto import mock_aws

from ops.dlq_replay import main, replay

pytestmark = pytest.mark.unit


@pytest.fixture
def queues(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url = sqs.create_queue(QueueName="sms-dispatch")["QueueUrl"]
        dlq_url = sqs.create_queue(QueueName="sms-dispatch-dlq")["QueueUrl"]
        yield sqs, queue_url, dlq_url


def _count(sqs, url) -> int:
    return int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"])


def _bodies(sqs, url) -> list[str]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return sorted(m["Body"] for m in messages)


def test_dry_run_lists_messages_and_leaves_the_dlq_as_it_was(queues):
    sqs, queue_url, dlq_url = queues
    for i in range(3):
        sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps({"id": f"req{i}", "attempt": 1}))
    out = io.StringIO()

    report = replay(sqs, dlq_url, queue_url, dry_run=True, max_messages=100, out=out)

    assert report.seen == 3 and report.replayed == 0
    assert out.getvalue().count("would replay request") == 3
    assert _count(sqs, dlq_url) == 3
    assert _count(sqs, queue_url) == 0


def test_replay_moves_each_message_once_and_keeps_malformed_ones(queues):
    sqs, queue_url, dlq_url = queues
    bodies = [json.dumps({"id": f"req{i}", "attempt": 2}) for i in range(4)]
    for body in bodies:
        sqs.send_message(QueueUrl=dlq_url, MessageBody=body)
    sqs.send_message(QueueUrl=dlq_url, MessageBody="not json")

    report = replay(sqs, dlq_url, queue_url, dry_run=False, max_messages=100, out=io.StringIO())

    assert (report.seen, report.replayed, report.malformed) == (5, 4, 1)
    assert _bodies(sqs, queue_url) == sorted(bodies)
    assert _count(sqs, dlq_url) == 1


def test_max_bounds_how_many_messages_are_replayed(queues):
    sqs, queue_url, dlq_url = queues
    for i in range(5):
        sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps({"id": f"req{i}"}))

    report = replay(sqs, dlq_url, queue_url, dry_run=False, max_messages=2, out=io.StringIO())

    assert report.replayed == 2
    assert _count(sqs, queue_url) == 2


def test_cli_prints_a_summary(queues, capsys):
    sqs, _, dlq_url = queues
    sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps({"id": "req1"}))

    assert main(["--dry-run"]) == 0

    assert "1 message(s) seen, would replay 1" in capsys.readouterr().out


def test_callbacks_replay_starts_a_new_retry_window_with_the_same_event_id(queues, capsys):
    from chalicelib.callbacks import CallbackEvent

    sqs, _, _ = queues
    queue_url = sqs.create_queue(QueueName="sms-callbacks")["QueueUrl"]
    dlq_url = sqs.create_queue(QueueName="sms-callbacks-dlq")["QueueUrl"]
    dead = CallbackEvent(event_id="ev-9", id="c" * 32, status="sent", occurred_at="2026-12-02T04:00:00.000Z",
                         url="https://hooks.example.com/s", client="team-a", attempt=101, first_try_at=1.0,
                         dead_reason="no 2xx for 86400 s (101 attempts); last: answered 500")
    sqs.send_message(QueueUrl=dlq_url, MessageBody=dead.to_body())
    assert main(["--callbacks", "--dry-run"]) == 0
    assert "would replay callback ev-9 (sent)" in capsys.readouterr().out and _count(sqs, dlq_url) == 1
    assert main(["--callbacks"]) == 0
    assert "answered 500" in capsys.readouterr().out
    [body] = _bodies(sqs, queue_url)
    replayed = CallbackEvent.from_body(body)
    assert (replayed.event_id, replayed.attempt, replayed.first_try_at, replayed.dead_reason) == ("ev-9", 1, None,
                                                                                                  None)
    assert _count(sqs, dlq_url) == 0
