"""The benchmark's pure helpers: the figures in the report are only as right as these."""

from __future__ import annotations

import pytest

from bench import stats
from bench.aws_proxy import items_in, operation_of, received_count
from bench.measure import commands_between, cpu_spent
from bench.report import cost_per_million, evaluate_goals

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        pytest.param([5.0], 99, 5.0, id="one-value"),
        pytest.param([1, 2, 3, 4], 50, 2.5, id="median-interpolates"),
        pytest.param(list(range(1, 101)), 99, 99.01, id="p99-of-1-to-100"),
        pytest.param([3, 1, 2], 0, 1, id="p0-is-min"),
        pytest.param([3, 1, 2], 100, 3, id="p100-is-max"),
    ],
)
def test_percentile_interpolates_between_closest_ranks(values, q, expected):
    assert stats.percentile(values, q) == pytest.approx(expected)


def test_percentile_of_nothing_is_none_and_bad_q_is_refused():
    assert stats.percentile([], 50) is None
    with pytest.raises(ValueError):
        stats.percentile([1], 101)


def test_summarize_reports_the_latency_shape():
    summary = stats.summarize([10, 20, 30, 40])
    assert summary == {"count": 4, "p50": 25.0, "p95": 38.5, "p99": 39.7, "max": 40, "mean": 25.0}
    assert stats.summarize([])["p99"] is None


def test_window_counting_is_half_open():
    # Exactly one second apart: two different windows.
    assert stats.max_in_any_window([0.0, 1.0, 2.0]) == 1
    assert stats.max_in_any_window([0.0, 0.999, 1.0]) == 2


def test_trailing_counts_peak_equals_max_in_any_window():
    times = [0.0, 0.1, 0.5, 0.95, 1.05, 1.2, 3.0]
    trailing = stats.trailing_window_counts(times)
    assert [n for _, n in trailing] == [1, 2, 3, 4, 4, 4, 1]
    assert max(n for _, n in trailing) == stats.max_in_any_window(times)


def test_per_second_bins_from_the_start():
    assert stats.per_second([10.0, 10.5, 11.2, 13.9, 14.0], start=10.0, end=14.0) == [2, 1, 0, 1]


def test_duplicates_are_references_sent_more_than_once():
    refs = ["a", "b", "a", None, "c", "a"]
    assert stats.duplicates(refs) == {"a": 3}
    assert stats.duplicates(["x", "y"]) == {}


def test_lost_are_accepted_requests_that_never_became_terminal():
    final = {"r1": "sent", "r2": "failed", "r3": "retrying", "r4": "pending"}
    assert stats.lost(["r1", "r2", "r3", "r4", "r5"], final) == ["r3", "r4", "r5"]


def test_saturated_rate_counts_only_seconds_with_a_second_of_work_queued():
    # 40/s accepted for 3 s against 30/s capacity; sends at 30/s, then the backlog drains.
    accepted = [k + i / 40 for k in range(3) for i in range(40)]
    sent = [k + i / 30 for k in range(4) for i in range(30)]
    rate = stats.backlog_saturated_rate(accepted, sent, capacity_per_s=30, start=0, end=4)
    # backlog at the start of each second: 0, 10, 20, 30 -> only the 4th second counts.
    assert rate["saturated_seconds"] == 1
    assert rate["delivered_per_s"] == 30
    assert rate["ratio"] == 1.0


def test_saturated_rate_without_backlog_is_none():
    rate = stats.backlog_saturated_rate([0.1, 0.2], [0.3, 0.4], capacity_per_s=30, start=0, end=1)
    assert rate["saturated_seconds"] == 0
    assert rate["ratio"] is None


def test_cutoff_is_the_last_arrival_before_a_quiet_second():
    arrivals = [9.0, 10.1, 10.3, 10.6, 11.2, 16.0, 16.1]  # down at 10; tripped after 11.2; probes at 16
    cut = stats.cutoff_after(arrivals, down_at=10.0, quiet_s=1.0)
    assert cut == {"seconds_to_no_traffic": 1.2, "requests_spent": 4, "probes_after": 2}
    assert stats.cutoff_after([1.0, 2.0], down_at=5.0)["requests_spent"] == 0


def test_fixed_window_lets_twice_the_limit_through_across_a_boundary():
    # 10 decisions just before the boundary at t=1 and 10 just after it: both windows admit all.
    times = [0.95 + i * 0.001 for i in range(10)] + [1.0 + i * 0.001 for i in range(10)]
    overshoot = stats.fixed_window_overshoot(times, limit=10)
    assert overshoot == {"admitted": 20, "max_in_any_window": 20, "over_limit_by": 10}


def test_fixed_window_holds_when_demand_is_spread_out():
    times = [i / 10 for i in range(30)]  # 10/s, evenly
    assert stats.fixed_window_overshoot(times, limit=10)["over_limit_by"] == 0
    assert stats.fixed_window_admit([0.1] * 15, limit=10) == [0.1] * 10


class _Headers(dict):
    def get(self, key, default=None):
        return super().get(key, default)


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        pytest.param({"X-Amz-Target": "DynamoDB_20120810.PutItem"}, b"{}", ("dynamodb", "PutItem"), id="dynamodb"),
        pytest.param({"X-Amz-Target": "AmazonSQS.SendMessage"}, b"{}", ("sqs", "SendMessage"), id="sqs-json"),
        pytest.param({"Authorization": "AWS4-HMAC-SHA256 Credential=AK/20250101/us-east-1/sqs/aws4_request, x"},
                     b"Action=ReceiveMessage&QueueUrl=q", ("sqs", "ReceiveMessage"), id="sqs-query"),
    ],
)
def test_proxy_names_each_aws_call(headers, body, expected):
    assert operation_of(_Headers(headers), body) == expected


def test_proxy_counts_items_and_received_messages():
    assert items_in("dynamodb", "TransactWriteItems", b'{"TransactItems": [{}, {}, {}]}') == 3
    assert items_in("dynamodb", "BatchWriteItem", b'{"RequestItems": {"t": [{}, {}]}}') == 2
    assert items_in("dynamodb", "PutItem", b"{}") == 1
    assert received_count("ReceiveMessage", b'{"Messages": [{}, {}]}') == 2
    assert received_count("SendMessage", b"{}") is None


def test_cpu_spent_counts_a_restarted_process_from_zero():
    before = {"api": (10, 100.0), "dispatcher-0": (20, 50.0)}
    after = {"api": (10, 160.0), "dispatcher-0": (21, 30.0), "gone": (30, None)}
    assert cpu_spent(before, after) == {"api": 60.0, "dispatcher-0": 30.0, "gone": None}


def test_redis_commands_between_snapshots_leave_out_info():
    assert commands_between({"evalsha": 5, "info": 2}, {"evalsha": 9, "info": 4, "ping": 1}) == {
        "evalsha": 4, "ping": 1}


def _cost(delivered=100, accepted=100):
    per = {"sqs_requests": 1.2, "dynamodb_wru": 4.0, "dynamodb_reads": 0.0}
    return {"per_delivered": per, "delivered": delivered, "accepted": accepted, "dispatcher_invocations": 10}


def test_cost_per_million_adds_up_the_priced_lines():
    estimate = cost_per_million(_cost(), api_latency_p50_ms=20, dispatcher_wall_ms=100)
    lines = estimate["usd_per_million_messages"]
    assert lines["sqs"] == pytest.approx(0.48)
    assert lines["dynamodb_writes"] == pytest.approx(2.5)
    assert lines["api_gateway"] == pytest.approx(3.5)
    assert lines["lambda_requests"] == pytest.approx(0.22)
    assert estimate["total"] == pytest.approx(round(sum(lines.values()), 2))


def test_goals_flag_a_provider_over_its_limit():
    scenario = {"providers": {n: {"max_in_any_1s": 10, "limit": 10} for n in ("alpha", "beta", "gamma")},
                "lost": 0, "unfinished": 0, "duplicates": 0, "health": {}}
    scenario["providers"]["beta"]["max_in_any_1s"] = 11
    goals = evaluate_goals({"profile": "scaled", "scenarios": {"flaky": scenario}})
    window = next(g for g in goals if g["goal"].startswith("max arrivals in any 1 s per provider"))
    assert window["met"] is False
    assert "flaky/beta: 11" in window["note"]
