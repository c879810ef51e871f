"""Retries through SQS DelaySeconds on the real local stack (the health rule neutralised)."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise

import pytest

pytestmark = pytest.mark.integration

BACKOFF_S = [1, 2, 4, 8, 16]


@pytest.fixture(scope="module")
def stack_env():
    return {"HEALTH_MIN_SAMPLES": "1000000", "HEALTH_FAILURE_STREAK": "0"}


def _at(attempt: dict) -> float:
    return datetime.fromisoformat(attempt["at"].replace("Z", "+00:00")).timestamp()


def test_every_provider_failing_ends_failed_after_six_attempts_with_backoff(fresh_stack):
    for name in fresh_stack.simulators:
        fresh_stack.configure(name, mode="fail")
    ids = [fresh_stack.send(text=f"retry {i}") for i in range(3)]

    views = fresh_stack.wait_terminal(ids, timeout_s=90)

    for request_id in ids:
        view = views[request_id]
        assert view["status"] == "failed"
        assert view["failure_reason"] == "retries_exhausted"
        attempts = view["attempts"]
        assert [a["attempt"] for a in attempts] == [1, 2, 3, 4, 5, 6]
        assert all(a["outcome"] == "provider_failure" and a["status_code"] == 500 for a in attempts)
        # Delays read from the attempt records: at least the backoff, and not much more.
        gaps = [_at(b) - _at(a) for a, b in pairwise(attempts)]
        for gap, backoff in zip(gaps, BACKOFF_S, strict=True):
            assert backoff - 0.2 <= gap <= backoff + 4, (gaps, BACKOFF_S)
        providers = [a["provider"] for a in attempts]
        # While a provider is untried, a retry never goes back to one that failed ...
        assert len(set(providers[:3])) == 3
        # ... and once all have failed, only the last one stays excluded.
        assert all(b != a for a, b in pairwise(providers[2:]))


def test_a_failing_provider_is_retried_elsewhere_and_the_request_is_sent(fresh_stack):
    fresh_stack.configure("alpha", mode="fail")
    ids = [fresh_stack.send(text=f"failover {i}") for i in range(9)]

    views = fresh_stack.wait_terminal(ids, timeout_s=60)

    assert {v["status"] for v in views.values()} == {"sent"}
    for view in views.values():
        assert view["provider_used"] != "alpha"
        failed = [a["provider"] for a in view["attempts"] if a["outcome"] == "provider_failure"]
        assert set(failed) <= {"alpha"}
