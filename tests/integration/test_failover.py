"""A provider that goes hard down under load: it trips within its failure streak, gets no more traffic,
and every message still ends sent through the others (the routing rules of docs/architecture.md, default
health rule)."""

from __future__ import annotations

import threading
import time

import pytest

pytestmark = pytest.mark.integration

STREAK = 15
IN_FLIGHT_MAX = 2 * 4 * 10  # dispatcher processes x invocations x records per batch


@pytest.fixture(scope="module")
def stack_env():
    return {"HEALTH_FAILURE_STREAK": str(STREAK), "SIM_RATE_LIMIT": "50"}


def test_a_provider_going_down_under_load_is_dropped_and_nothing_is_lost(fresh_stack):
    results: list = []
    load = threading.Thread(target=lambda: results.extend(fresh_stack.offer_load(rate=20, duration_s=8)))
    load.start()
    time.sleep(3)
    fresh_stack.configure("alpha", mode="fail")
    went_down = time.time()
    load.join(120)

    accepted = [request_id for status, request_id in results if status == 202]
    views = fresh_stack.wait_terminal(accepted, timeout_s=180)

    assert {view["status"] for view in views.values()} == {"sent"}
    failed_at_alpha = [a for a in fresh_stack.arrivals("alpha") if a["t"] >= went_down and a["status"] == 500]
    # Tripped by the streak: what alpha saw after going down is the streak plus what was already in flight.
    assert len(failed_at_alpha) <= STREAK + IN_FLIGHT_MAX, len(failed_at_alpha)
    alpha = next(p for p in fresh_stack.http.get("/api/providers").json()["providers"] if p["name"] == "alpha")
    assert alpha["healthy"] is False
    assert alpha["unhealthy_until"] is not None
