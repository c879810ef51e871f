"""The delivery-truth benchmark's pure helpers (bench/delivery_truth.py): rates, latencies, per-message deltas."""

from __future__ import annotations

import json

import pytest

from bench.delivery_truth import (
    callback_latencies_ms,
    extra_per_message,
    log_records,
    parse_iso,
    rate,
    without_vendor_calls,
)

pytestmark = pytest.mark.unit


def test_parse_iso_reads_the_gateway_and_the_log_formats_as_utc():
    assert parse_iso("1970-01-01T00:00:01.500Z") == 1.5
    assert parse_iso("1970-01-01T00:00:02.250+00:00") == 2.25
    assert parse_iso("1970-01-01T01:00:00+01:00") == 0.0
    assert parse_iso("1970-01-01T00:00:03") == 3.0  # naive: UTC


def test_log_records_keeps_only_the_named_message_with_its_time():
    lines = [
        json.dumps({"message": "delivery recorded", "timestamp": "1970-01-01T00:00:10.000+00:00", "request_id": "a"}),
        json.dumps({"message": "receipt changes nothing", "timestamp": "1970-01-01T00:00:11.000+00:00"}),
        "not json at all",
        "{broken json",
        json.dumps({"message": "delivery recorded"}),  # no timestamp: left out
        json.dumps({"message": "delivery recorded", "timestamp": "1970-01-01T00:00:12.500+00:00", "request_id": "b"}),
    ]
    found = log_records(lines, "delivery recorded")
    assert [(r["request_id"], r["t"]) for r in found] == [("a", 10.0), ("b", 12.5)]


def test_rate_is_intervals_per_second_from_first_to_last():
    # 11 events evenly over 5 s: 10 intervals, 2 per second; a half-open 1-s window holds 2 of them.
    times = [10 + i * 0.5 for i in range(11)]
    assert rate(times) == {"count": 11, "span_s": 5.0, "per_s": 2.0, "max_in_any_1s": 2}
    assert rate([3.0, 1.0, 2.0])["span_s"] == 2.0  # order does not matter


def test_rate_of_nothing_or_one_event_has_no_per_second():
    assert rate([]) == {"count": 0, "span_s": None, "per_s": None, "max_in_any_1s": 0}
    assert rate([5.0]) == {"count": 1, "span_s": 0.0, "per_s": None, "max_in_any_1s": 1}


EVENTS = {
    "e1": {"id": "r1", "status": "delivered", "occurred_at": "1970-01-01T00:00:10.000Z"},
    "e2": {"id": "r2", "status": "undelivered", "occurred_at": "1970-01-01T00:00:20.000Z"},
    "e3": {"id": "r1", "status": "sent", "occurred_at": "1970-01-01T00:00:09.000Z"},
    "e4": {"id": "r3", "status": "delivered", "occurred_at": "1970-01-01T00:00:30.000Z"},  # never arrived
}
ARRIVED = {"e1": 10.25, "e2": 21.0, "e3": 9.5}


def test_callback_latency_from_occurred_at_by_status():
    assert sorted(callback_latencies_ms(EVENTS, ARRIVED, statuses=("delivered", "undelivered"))) == [250.0, 1000.0]
    assert callback_latencies_ms(EVENTS, ARRIVED, statuses=("sent",)) == [500.0]
    assert callback_latencies_ms(EVENTS, ARRIVED, statuses=("delivered",), ids={"r2"}) == []


def test_callback_latency_from_the_gateway_write_time_when_given():
    changed = {"r1": 10.2}  # r2's write not in the logs: left out
    latencies = callback_latencies_ms(EVENTS, ARRIVED, statuses=("delivered", "undelivered"), changed_at=changed)
    assert latencies == [pytest.approx(50.0)]


def test_extra_per_message_is_the_difference_key_by_key():
    base = {"writes": 2.0, "sqs": 3.0, "gone": None}
    measured = {"writes": 3.5, "sqs": 3.0, "new": 1.25, "gone": 1.0}
    assert extra_per_message(base, measured) == {"gone": None, "new": 1.25, "sqs": 0.0, "writes": 1.5}


def test_without_vendor_calls_takes_the_simulators_queue_puts_out():
    aws = {"calls": {"sqs": {"GetQueueUrl": 10, "SendMessage": 30, "ReceiveMessage": 5}, "dynamodb": {"PutItem": 4}},
           "items": {"sqs": {"GetQueueUrl": 10, "SendMessage": 30}}, "nonempty_receives": 2}
    gateway = without_vendor_calls(aws, receipts_on_queue=12)
    assert gateway["calls"]["sqs"] == {"GetQueueUrl": 0, "SendMessage": 18, "ReceiveMessage": 5}
    assert gateway["items"]["sqs"]["SendMessage"] == 18
    assert gateway["calls"]["dynamodb"] == {"PutItem": 4}
    assert gateway["nonempty_receives"] == 2
    assert aws["calls"]["sqs"]["SendMessage"] == 30  # the input is left alone
