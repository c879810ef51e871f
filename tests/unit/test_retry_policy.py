"""One retry rule for dispatch retries and callback retries (chalicelib/retry_policy.py)."""

from __future__ import annotations

import pytest

from chalicelib.retry_policy import RetryPolicy

pytestmark = pytest.mark.unit


def test_dispatch_retry_delays_double_from_one_second_and_stop_at_the_sqs_ceiling():
    policy = RetryPolicy(base_s=1, max_retries=5)
    assert [policy.delay_for(n) for n in range(1, 6)] == [1, 2, 4, 8, 16]
    assert policy.delay_for(20) == 900


def test_dispatch_retries_stop_after_max_retries():
    policy = RetryPolicy(base_s=1, max_retries=5)
    assert [policy.gives_up(n) for n in range(1, 7)] == [False] * 5 + [True]
    assert policy.schedule() == [0, 1, 3, 7, 15, 31]


def test_callback_retry_delays_double_from_the_base_and_stop_at_the_sqs_ceiling():
    policy = RetryPolicy(base_s=30, retry_for_s=86_400)
    assert [policy.delay_for(n) for n in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]
    assert policy.delay_for(10_000) == 900


def test_callback_retries_stop_once_a_try_failed_retry_for_s_after_the_first():
    policy = RetryPolicy(base_s=30, retry_for_s=86_400)
    assert not policy.gives_up(500, first_try_at=1000.0, now=1000.0 + 86_399)
    assert policy.gives_up(2, first_try_at=1000.0, now=1000.0 + 86_400)
    times = policy.schedule()
    assert times[:7] == [0, 30, 90, 210, 450, 930, 1830]
    assert len(times) == 101 and times[-2] < 86_400 <= times[-1]


def test_a_policy_without_a_limit_has_no_schedule():
    with pytest.raises(ValueError):
        RetryPolicy(base_s=1).schedule()
