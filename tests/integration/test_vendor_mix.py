"""The vendors' Done-when scenario on the real local stack: SMS_PROVIDERS with one provider of each vendor kind
(twilio, vonage, aws) pointing at simulators of those kinds, 300 requests offered at 30 RPS.

Asserted: every request ends `sent`, the providers share them by weight (3:2:1), each simulator saw only
requests in its own vendor's format with valid auth (Basic with the account SID and token; api_key and
api_secret; a SigV4 signature it verified), each text was sent once, and GET /api/sms/{id} shows the vendor's
message id. Printed (and written to bench/results/vendor_mix.json): how long it took, and the spread.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from localdev.stack import ROOT, free_port, http_ok, wait_until

pytestmark = pytest.mark.integration

RATE, DURATION_S = 30, 10
WEIGHTS = {"tw": 3, "vg": 2, "aws": 1}
SPREAD_TOLERANCE = 0.05  # of all requests: weighted round-robin is exact over a full cycle, give or take a retry
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "vendor_mix.json"
AWS_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
SEND_PATHS = {"twilio": "/2010-04-01/Accounts/", "vonage": "/sms/json", "aws": "/"}


class Simulators:
    """The three vendor simulators in a process of their own (as `make run` runs them), read over HTTP."""

    def __init__(self, many: list[dict]):
        self.base = {entry["name"]: f"http://127.0.0.1:{entry['port']}" for entry in many}
        self.kind = {entry["name"]: entry["kind"] for entry in many}
        self.process = subprocess.Popen([sys.executable, "-m", "localdev.provider_simulator", "--many",
                                         json.dumps(many)], cwd=ROOT, stdout=subprocess.DEVNULL)
        for base in self.base.values():
            wait_until(lambda base=base: http_ok(f"{base}/_health"), 15, "vendor simulator")

    def arrivals(self, name: str) -> list[dict]:
        return httpx.get(f"{self.base[name]}/_arrivals", timeout=10).json()

    def sent(self, name: str) -> list[dict]:
        return httpx.get(f"{self.base[name]}/_sent", timeout=10).json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="module")
def vendors():
    """The simulators, and the kind's fields of each one's SMS_PROVIDERS entry (credentials made up here)."""
    account_sid, token, secret = "AC" + uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    setups = {
        "tw": ("twilio", {"account_sid": account_sid, "auth_token": token},
               {"account_sid": account_sid, "auth_token": token, "from": "+15005550006"}),
        "vg": ("vonage", {"api_key": "mixkey01", "api_secret": secret},
               {"api_key": "mixkey01", "api_secret": secret, "from": "Gateway"}),
        "aws": ("aws", AWS_KEYS, {"origination_identity": "+15005550007"}),
    }
    many = [{"name": name, "kind": kind, "port": free_port(), "credentials": credentials, "latency_ms": 20}
            for name, (kind, credentials, _) in setups.items()]
    simulators = Simulators(many)
    entries = {}
    for name, (kind, _, fields) in setups.items():
        url_field = "endpoint_url" if kind == "aws" else "base_url"
        entries[name] = {"kind": kind, url_field: simulators.base[name], **fields}
    yield simulators, entries
    simulators.stop()


@pytest.fixture(scope="module")
def stack_env(vendors):
    _, entries = vendors
    providers = [{"name": name, "weight": WEIGHTS[name], "rate_limit": 50, "timeout_s": 5, **entry}
                 for name, entry in entries.items()]
    return {"SMS_PROVIDERS": json.dumps(providers), "AWS_ACCESS_KEY_ID": AWS_KEYS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": AWS_KEYS["aws_secret_access_key"]}


def offer_as_a_client_would(stack, rate: float, duration_s: float) -> tuple[list[str], Counter]:
    """Open loop: request i leaves at t0 + i/rate. A 503 (the emulators behind the API are slow on a busy
    machine) is sent again after its Retry-After with the same Idempotency-Key, as the API asks: it can never
    make a second request. Returns the accepted ids in order, and every answer's status."""
    total = int(rate * duration_s)
    ids: list[str | None] = [None] * total
    answers: Counter = Counter()
    t0 = time.monotonic() + 0.2

    local = threading.local()

    def send(i: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=stack.state["api_url"], timeout=30,
                                                 headers={"X-Api-Key": stack.state["api_key"]})
        time.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        for _ in range(10):
            response = client.post("/api/sms", json={"phone": "+14155550100", "text": f"load {i}"},
                                   headers={"Idempotency-Key": f"mix-{i}"})
            answers[response.status_code] += 1
            if response.status_code != 503:
                break
            time.sleep(float(response.headers.get("Retry-After", "1")))
        if response.status_code == 202:
            ids[i] = response.json()["id"]

    # Enough threads that a slow answer never holds back the next request's departure.
    with ThreadPoolExecutor(max_workers=min(total, 100)) as pool:
        list(pool.map(send, range(total)))
    return [request_id for request_id in ids if request_id], answers


@pytest.mark.timeout(600)
def test_300_requests_at_30_rps_end_sent_by_weight_each_vendor_in_its_own_format(stack, vendors):
    simulators, _ = vendors
    began, began_at = time.monotonic(), time.time()
    accepted, answers = offer_as_a_client_would(stack, RATE, DURATION_S)
    offered_s = time.monotonic() - began
    assert len(accepted) == RATE * DURATION_S, answers

    views = stack.wait_terminal(accepted, timeout_s=300)
    settled_s = time.monotonic() - began

    assert Counter(view["status"] for view in views.values()) == {"sent": len(accepted)}
    spread = Counter(view["provider_used"] for view in views.values())
    for name, weight in WEIGHTS.items():
        expected = len(accepted) * weight / sum(WEIGHTS.values())
        assert abs(spread[name] - expected) <= SPREAD_TOLERANCE * len(accepted), spread

    # A retry would mean a timeout or a failure at a vendor, which none of them deduplicates: say so first.
    assert all(view["retries"] == 0 for view in views.values()), Counter(view["last_error"] for view in views.values())
    texts: Counter = Counter()
    for name in WEIGHTS:
        kind = simulators.kind[name]
        arrivals = simulators.arrivals(name)
        assert {(a["kind"], a["auth"]) for a in arrivals} == {(kind, "ok")}, name
        assert all(a["path"].startswith(SEND_PATHS[kind]) for a in arrivals), name
        sent = simulators.sent(name)
        texts.update(entry["text"] for entry in sent)
        mine = {view["provider_message_id"] for view in views.values() if view["provider_used"] == name}
        assert mine == {entry["message_id"] for entry in sent}, name
    assert set(texts) == {f"load {i}" for i in range(len(accepted))}
    assert texts.most_common(1)[0][1] == 1, "an SMS was sent twice"

    # GET /api/sms/{id}, one request in ten: the vendor's id, and the one accepted attempt that produced it.
    for request_id in accepted[::10]:
        view = stack.get(request_id)
        assert view["provider_message_id"] == views[request_id]["provider_message_id"]
        assert [a["outcome"] for a in view["attempts"]][-1] == "accepted"

    last_send_at = max(entry["t"] for name in WEIGHTS for entry in simulators.sent(name))
    figures = {"offered": len(accepted), "rate_rps": RATE, "offered_in_s": round(offered_s, 1),
               "api_answers": dict(answers),
               "last_send_arrived_after_s": round(last_send_at - began_at, 1),
               "all_seen_sent_through_the_api_after_s": round(settled_s, 1), "spread": dict(spread), "weights": WEIGHTS,
               "arrivals": {name: len(simulators.arrivals(name)) for name in WEIGHTS}}
    print(f"\nvendor mix: {json.dumps(figures)}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
