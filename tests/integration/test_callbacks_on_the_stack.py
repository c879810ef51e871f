"""Status callbacks on the real local stack: every request's `sent` callback reaches the local receiver
(localdev/callback_receiver.py, signature verified), each event is processed once, and a receiver that stops
listening for a while loses nothing."""

from __future__ import annotations

import time

import httpx
import pytest

pytestmark = pytest.mark.integration

REQUESTS = 50


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    # Retries 1, 2, 4, 8, 16 s apart, so that an outage of 20 s is over within one test's patience.
    return {"CALLBACK_RETRY_BASE_S": "1"}


def receiver_stats(stack) -> dict:
    return httpx.get(f"{stack.state['callback_receiver_url']}/_stats", timeout=5).json()


def send_with_callback(stack, count: int) -> list[str]:
    url = f"{stack.state['callback_receiver_url']}/sms-status"
    ids = []
    for i in range(count):
        response = stack.http.post("/api/sms", json={"phone": "+14155550100", "text": f"cb {i}",
                                                     "callback_url": url})
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


def wait_for_callbacks(stack, ids: list[str], timeout_s: float) -> dict[str, dict]:
    """request id -> the payload the receiver processed for it, once every id has one (or the time is up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            stats = receiver_stats(stack)
        except httpx.TransportError:  # the receiver is down: its callbacks wait on the queue
            if time.monotonic() > deadline:
                return {}
            time.sleep(1)
            continue
        by_request = {p["id"]: p for p in stats["events"].values() if p["id"] in ids}
        if len(by_request) == len(ids) or time.monotonic() > deadline:
            return by_request
        time.sleep(1)


def test_every_request_calls_back_once_per_event_signed(fresh_stack):
    httpx.post(f"{fresh_stack.state['callback_receiver_url']}/_reset", timeout=5)
    ids = send_with_callback(fresh_stack, REQUESTS)
    views = fresh_stack.wait_terminal(ids, timeout_s=90)
    by_request = wait_for_callbacks(fresh_stack, ids, timeout_s=60)
    assert set(by_request) == set(ids), f"{len(ids) - len(by_request)} callbacks missing"
    for request_id, payload in by_request.items():
        assert payload["status"] == views[request_id]["status"]  # sent (or failed), as the API says
    stats = receiver_stats(fresh_stack)
    assert stats["bad_signatures"] == 0
    mine = [p for p in stats["events"].values() if p["id"] in ids]
    assert len(mine) == len(ids)  # one event per request: no second event id for one status change


def test_a_receiver_down_for_20_s_loses_nothing(fresh_stack):
    receiver = fresh_stack.state["callback_receiver_url"]
    httpx.post(f"{receiver}/_reset", timeout=5)
    httpx.post(f"{receiver}/_config", json={"down_for_s": 20}, timeout=5)
    time.sleep(0.5)
    ids = send_with_callback(fresh_stack, 20)
    fresh_stack.wait_terminal(ids, timeout_s=60)
    with pytest.raises(httpx.HTTPError):  # still down: the first tries were refused
        httpx.get(f"{receiver}/_stats", timeout=2)
    by_request = wait_for_callbacks(fresh_stack, ids, timeout_s=90)
    assert set(by_request) == set(ids), f"{len(ids) - len(by_request)} callbacks lost"
    assert receiver_stats(fresh_stack)["bad_signatures"] == 0
    log = (fresh_stack.log_dir / "callbacks.log").read_text()
    assert "callback failed, retry scheduled" in log and "ConnectError" in log  # they were tried while it was down
