"""The vendors' Done-when scenario on the real local stack: SMS_PROVIDERS with one provider of each vendor kind
(twilio, vonage, aws) pointing at simulators of those kinds, 300 requests offered at 30 RPS.

Asserted: every request ends `sent`, the providers share them by weight (3:2:1), each simulator saw only
requests in its own vendor's format with valid auth (Basic with the account SID and token; api_key and
api_secret; a SigV4 signature it verified), each text was sent once, and GET /api/sms/{id} shows the vendor's
message id. Printed (and written to bench/results/vendor_mix.json): how long it took, and the spread.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from localdev.provider_simulator import ProviderSimulator, SimulatorConfig

pytestmark = pytest.mark.integration

RATE, DURATION_S = 30, 10
WEIGHTS = {"tw": 3, "vg": 2, "aws": 1}
SPREAD_TOLERANCE = 0.05  # of all requests: weighted round-robin is exact over a full cycle, give or take a retry
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "vendor_mix.json"
AWS_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
SEND_PATHS = {"twilio": "/2010-04-01/Accounts/", "vonage": "/sms/json", "aws": "/"}


@pytest.fixture(scope="module")
def vendors():
    """name -> (simulator, the kind's fields of its SMS_PROVIDERS entry), credentials made up for the module."""
    account_sid, token, secret = "AC" + uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    setups = {
        "tw": ("twilio", {"account_sid": account_sid, "auth_token": token},
               {"account_sid": account_sid, "auth_token": token, "from": "+15005550006"}),
        "vg": ("vonage", {"api_key": "mixkey01", "api_secret": secret},
               {"api_key": "mixkey01", "api_secret": secret, "from": "Gateway"}),
        "aws": ("aws", AWS_KEYS, {"origination_identity": "+15005550007"}),
    }
    started = {}
    for name, (kind, credentials, fields) in setups.items():
        sim = ProviderSimulator(SimulatorConfig(name=name, kind=kind, credentials=credentials)).start()
        url_field = "endpoint_url" if kind == "aws" else "base_url"
        started[name] = (sim, {"kind": kind, url_field: sim.url, **fields})
    yield started
    for sim, _ in started.values():
        sim.stop()


@pytest.fixture(scope="module")
def stack_env(vendors):
    providers = [{"name": name, "weight": WEIGHTS[name], "rate_limit": 50, "timeout_s": 5, **entry}
                 for name, (_, entry) in vendors.items()]
    return {"SMS_PROVIDERS": json.dumps(providers), "AWS_ACCESS_KEY_ID": AWS_KEYS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": AWS_KEYS["aws_secret_access_key"]}


@pytest.mark.timeout(600)
def test_300_requests_at_30_rps_end_sent_by_weight_each_vendor_in_its_own_format(stack, vendors):
    simulators = {name: sim for name, (sim, _) in vendors.items()}
    began, began_at = time.monotonic(), time.time()
    results = stack.offer_load(rate=RATE, duration_s=DURATION_S)
    offered_s = time.monotonic() - began
    accepted = [request_id for status, request_id in results if status == 202]
    assert len(accepted) == RATE * DURATION_S, Counter(status for status, _ in results)

    views = stack.wait_terminal(accepted, timeout_s=300)
    settled_s = time.monotonic() - began

    assert Counter(view["status"] for view in views.values()) == {"sent": len(accepted)}
    spread = Counter(view["provider_used"] for view in views.values())
    for name, weight in WEIGHTS.items():
        expected = len(accepted) * weight / sum(WEIGHTS.values())
        assert abs(spread[name] - expected) <= SPREAD_TOLERANCE * len(accepted), spread

    texts: Counter = Counter()
    for name, sim in simulators.items():
        kind = sim.kind
        arrivals = sim.arrivals()
        assert {(a["kind"], a["auth"]) for a in arrivals} == {(kind, "ok")}, name
        assert all(a["path"].startswith(SEND_PATHS[kind]) for a in arrivals), name
        sent = sim.sent()
        texts.update(entry["text"] for entry in sent)
        message_ids = {entry["message_id"] for entry in sent}
        mine = [view for view in views.values() if view["provider_used"] == name]
        assert {view["provider_message_id"] for view in mine} == message_ids, name
    assert set(texts) == {f"load {i}" for i in range(len(accepted))}
    assert texts.most_common(1)[0][1] == 1, "an SMS was sent twice"

    # GET /api/sms/{id}, one request in ten: the vendor's id, and the one accepted attempt that produced it.
    for request_id in accepted[::10]:
        view = stack.get(request_id)
        assert view["provider_message_id"] == views[request_id]["provider_message_id"]
        assert [a["outcome"] for a in view["attempts"]][-1] == "accepted"

    last_send_at = max(entry["t"] for sim in simulators.values() for entry in sim.sent())
    figures = {"offered": len(accepted), "rate_rps": RATE, "offered_in_s": round(offered_s, 1),
               "last_send_arrived_after_s": round(last_send_at - began_at, 1),
               "all_seen_sent_through_the_api_after_s": round(settled_s, 1), "spread": dict(spread), "weights": WEIGHTS,
               "arrivals": {name: len(sim.arrivals()) for name, sim in simulators.items()}}
    print(f"\nvendor mix: {json.dumps(figures)}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
