"""Several clients on one real local stack: each sees only its own requests, and a client's limit holds under
load as the limiter counts it (read from Redis while the load runs), with nothing lost of what was accepted."""

from __future__ import annotations

import secrets
import time
from collections import Counter

import httpx
import pytest

from bench.client_limit import AdmissionLog, registry
from chalicelib.lifecycle import TERMINAL
from localdev.provider_simulator import max_in_any_window

pytestmark = pytest.mark.integration

LIMITED_KEY, KEY_A, KEY_B = (secrets.token_urlsafe(32) for _ in range(3))
LIMIT = 20
PREFIX = "itclients" + secrets.token_hex(3)


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    return {"CLIENTS": registry(LIMITED_KEY, LIMIT, **{"team-a": KEY_A, "team-b": KEY_B}),
            "REDIS_KEY_PREFIX": PREFIX, "SIM_RATE_LIMIT": "200"}


def client(stack, key: str) -> httpx.Client:
    return httpx.Client(base_url=stack.state["api_url"], headers={"X-Api-Key": key}, timeout=10)


def test_a_client_sees_only_its_own_requests(stack):
    a, b = client(stack, KEY_A), client(stack, KEY_B)
    sent = a.post("/api/sms", json={"phone": "+14155550100", "text": "for team a"})
    assert sent.status_code == 202
    request_id = sent.json()["id"]
    assert a.get(f"/api/sms/{request_id}").status_code == 200
    assert b.get(f"/api/sms/{request_id}").status_code == 404
    assert request_id not in [item["id"] for item in b.get("/api/sms", params={"limit": 100}).json()["items"]]
    assert request_id in [item["id"] for item in a.get("/api/sms", params={"limit": 100}).json()["items"]]


def test_the_client_limit_holds_under_five_times_its_rate_and_nothing_accepted_is_lost(stack):
    http = client(stack, LIMITED_KEY)
    accepted = []
    with AdmissionLog(stack.state["redis_url"], PREFIX) as log:
        answers = Counter()
        for response in _offer(http, rate=100, seconds=4):
            answers[response.status_code] += 1
            if response.status_code == 202:
                accepted.append(response.json()["id"])
            elif response.status_code == 429:
                assert int(response.headers["Retry-After"]) >= 1
                assert response.headers["RateLimit-Limit"] == str(LIMIT)
    assert set(answers) <= {202, 429}, answers
    admitted = sorted(log.seen.values())
    assert len(accepted) == len(admitted)
    assert max_in_any_window(admitted, 1000) <= LIMIT  # by the Redis server's own clock
    deadline = time.monotonic() + 60
    pending = set(accepted)
    while pending and time.monotonic() < deadline:
        pending = {i for i in pending if http.get(f"/api/sms/{i}").json()["status"] not in TERMINAL}
        time.sleep(0.5)
    assert not pending, f"{len(pending)} accepted requests did not end"


def _offer(http: httpx.Client, *, rate: float, seconds: float):
    """Open loop: request i is sent at t0 + i/rate whatever the answers."""
    from concurrent.futures import ThreadPoolExecutor

    t0 = time.monotonic() + 0.1

    def send(i: int) -> httpx.Response:
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return http.post("/api/sms", json={"phone": "+14155550100", "text": f"limited {i}"})

    with ThreadPoolExecutor(max_workers=32) as pool:
        yield from pool.map(send, range(int(rate * seconds)))
