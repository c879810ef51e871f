"""Delivery truth end to end on the local stack, as issue 13 asks: 200 requests with a callback_url, the four
vendor simulators delivering 90% and failing 10% in their own receipt formats, and the client's callback
receiver down for the first 30 s. Every request ends delivered or undelivered, and the receiver ends up with
each request's `sent` and its final status, each event processed once (it deduplicates on event_id and counts
the duplicates at-least-once delivery brings)."""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest

pytestmark = pytest.mark.integration

REQUESTS = 200
FINAL = {"delivered", "undelivered"}


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    return {"SIM_KINDS": "twilio,vonage,aws,http-json", "SIM_RECEIPT_DELAY_S": "0.5", "SIM_RECEIPT_JITTER_S": "1",
            "SIM_UNDELIVERED_SHARE": "0.1",
            # Callback retries 1, 2, 4, 8, 16, 32 s apart: a receiver back after 30 s is reached within a minute.
            "CALLBACK_RETRY_BASE_S": "1"}


def receiver(stack) -> str:
    return stack.state["callback_receiver_url"]


def stats(stack) -> dict | None:
    try:
        return httpx.get(f"{receiver(stack)}/_stats", timeout=5).json()
    except httpx.TransportError:  # down: the callbacks wait on their queue
        return None


def wait_callbacks(stack, expected: set[tuple[str, str]], timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        seen = stats(stack)
        if seen is not None:
            got = {(p["id"], p["status"]) for p in seen["events"].values()}
            if expected <= got or time.monotonic() > deadline:
                return seen
        elif time.monotonic() > deadline:
            pytest.fail("the callback receiver never came back")
        time.sleep(1)


def test_200_requests_end_delivered_or_undelivered_and_every_status_change_calls_back_once(fresh_stack):
    httpx.post(f"{receiver(fresh_stack)}/_reset", timeout=5)
    httpx.post(f"{receiver(fresh_stack)}/_config", json={"down_for_s": 30}, timeout=5)
    url = f"{receiver(fresh_stack)}/sms-status"
    ids = []
    for i in range(REQUESTS):
        response = fresh_stack.http.post("/api/sms", json={"phone": "+14155550100", "text": f"truth {i}",
                                                           "reference": f"order-{i}", "callback_url": url})
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])

    views = fresh_stack.wait_delivery_result(ids, timeout_s=180)
    statuses = Counter(view["status"] for view in views.values())
    assert set(statuses) <= FINAL, statuses
    assert 0 < statuses["undelivered"] < REQUESTS * 0.2, statuses  # 10% asked of the simulators, with room for chance

    expected = {(request_id, "sent") for request_id in ids} | {(i, views[i]["status"]) for i in ids}
    seen = wait_callbacks(fresh_stack, expected, timeout_s=180)
    mine = [payload for payload in seen["events"].values() if payload["id"] in set(ids)]
    got = Counter((payload["id"], payload["status"]) for payload in mine)
    assert set(got) == expected, f"{len(expected - set(got))} callbacks missing"
    assert max(got.values()) == 1  # one event id per status change, processed once
    assert seen["bad_signatures"] == 0
    by_request = {payload["id"]: payload for payload in mine if payload["status"] in FINAL}
    for request_id, payload in by_request.items():
        view = views[request_id]
        assert payload["reference"] == view["reference"]
        assert payload["provider"] == view["provider_used"]
        assert (payload["error"] is None) == (view["status"] == "delivered")
        assert payload["occurred_at"] == view["delivered_at"]  # ISO-8601 UTC, whatever the vendor's clock format
    log = (fresh_stack.log_dir / "callbacks.log").read_text()
    assert "callback failed, retry scheduled" in log  # the receiver was down: the first tries failed, and were kept
