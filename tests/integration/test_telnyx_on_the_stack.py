"""Telnyx on the local stack (`SIM_KINDS=telnyx`; `make run`'s default mix is the four kinds before it): the stack
finds the telnyx simulator from the registry, makes up its API key and Ed25519 key pair, and gives the gateway the
public half. A request ends sent through it (Bearer auth checked), then delivered or undelivered by its signed
message.finalized, with the message.sent before it shown as progress."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

pytestmark = pytest.mark.integration

N = 12


@pytest.fixture(scope="module")
def stack_env():
    return {"SIM_KINDS": "telnyx", "SIM_RECEIPT_DELAY_S": "0.5", "SIM_RECEIPT_JITTER_S": "1",
            "SIM_UNDELIVERED_SHARE": "0.25"}


def test_the_stack_starts_a_telnyx_simulator_with_credentials_and_a_key_of_this_run(stack):
    [provider] = stack.state["providers"]
    assert (provider["name"], provider["kind"]) == ("telnyx", "telnyx")


def test_requests_end_sent_then_as_the_signed_receipts_say(fresh_stack):
    fresh_stack.configure("telnyx", interim_receipts=True, receipt_delay_s=2, receipt_jitter_s=0.5)
    ids = [fresh_stack.send("+14155550100", f"telnyx {i} ✓") for i in range(N)]

    views = fresh_stack.wait_delivery_result(ids, timeout_s=90)

    arrivals = fresh_stack.arrivals("telnyx")
    assert {(a["kind"], a["path"], a["auth"]) for a in arrivals} == {("telnyx", "/v2/messages", "ok")}
    said = {}
    for receipt in httpx.get(f"{fresh_stack.simulators['telnyx']}/_receipts", timeout=10).json():
        assert 200 <= receipt["status"] < 300, receipt  # verified and acknowledged, never refused
        if not receipt.get("interim"):
            said[receipt["message_id"]] = "delivered" if receipt["delivered"] else "undelivered"
    for view in views.values():
        assert view["provider_used"] == "telnyx"
        assert view["status"] == said[view["provider_message_id"]]
        events = [event["event"] for event in view["timeline"]]
        assert events[-1] == view["status"] and "progress" in events, view["timeline"]
    assert sum(Counter(view["status"] for view in views.values()).values()) == N
