"""Delivery receipts on the local stack (`make run`'s four kinds): the twilio, vonage and http-json simulators send
each accepted message's receipt to the webhooks in their vendor's format and signature, the aws one puts its
delivery event on the sms-delivery-events queue as SNS would; 90% delivered and 10% undelivered. Every request
ends delivered or undelivered, exactly as its simulator said."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

pytestmark = pytest.mark.integration

N = 50
FINAL = {"delivered", "undelivered"}


@pytest.fixture(scope="module")
def stack_env():
    return {"SIM_KINDS": "twilio,vonage,aws,http-json", "SIM_RECEIPT_DELAY_S": "0.5", "SIM_RECEIPT_JITTER_S": "1",
            "SIM_UNDELIVERED_SHARE": "0.1"}


def test_every_request_ends_delivered_or_undelivered_as_its_simulator_said(fresh_stack):
    ids = [fresh_stack.send("+14155550100", f"receipt {i}") for i in range(N)]

    views = fresh_stack.wait_delivery_result(ids, timeout_s=90)

    assert Counter(view["status"] for view in views.values()) <= Counter({"delivered": N, "undelivered": N})
    assert all(view["status"] in FINAL for view in views.values()), Counter(v["status"] for v in views.values())
    said = {}
    for name in fresh_stack.simulators:
        for receipt in httpx.get(f"{fresh_stack.simulators[name]}/_receipts", timeout=10).json():
            said[(name, receipt["message_id"])] = "delivered" if receipt["delivered"] else "undelivered"
            assert 200 <= receipt["status"] < 300, receipt  # acknowledged, never refused
    for view in views.values():
        assert view["status"] == said[(view["provider_used"], view["provider_message_id"])]
        assert [event["event"] for event in view["timeline"]][-2:] == ["sent", view["status"]]
    counts = Counter(view["status"] for view in views.values())
    assert counts == Counter(said[(v["provider_used"], v["provider_message_id"])] for v in views.values())
    assert counts["undelivered"] <= 15  # 10% of 50, with room for chance
    assert {view["provider_used"] for view in views.values()} == {"twilio", "vonage", "aws", "http"}


def test_an_intermediate_receipt_before_each_final_one_shows_as_progress_and_the_final_one_decides(fresh_stack):
    """Each simulator sends its vendor's intermediate receipt first (Twilio `sent`, Vonage `accepted`, AWS
    `TEXT_SUCCESSFUL` or a transient `TEXT_CARRIER_UNREACHABLE` with isFinal false, http-json `sent`)."""
    for name in fresh_stack.simulators:
        # The intermediate one leaves after 1-1.25 s: one arriving before the request is recorded sent is not kept.
        fresh_stack.configure(name, interim_receipts=True, receipt_delay_s=2, receipt_jitter_s=0.5)
    ids = [fresh_stack.send("+14155550100", f"interim {i}") for i in range(16)]

    views = fresh_stack.wait_delivery_result(ids, timeout_s=90)

    said = {}
    for name in fresh_stack.simulators:
        for receipt in httpx.get(f"{fresh_stack.simulators[name]}/_receipts", timeout=10).json():
            if not receipt.get("interim"):
                said[(name, receipt["message_id"])] = "delivered" if receipt["delivered"] else "undelivered"
    for view in views.values():
        assert view["status"] == said[(view["provider_used"], view["provider_message_id"])]
        events = [event["event"] for event in view["timeline"]]
        assert events[-1] == view["status"]
        # A webhook's intermediate receipt arrives a second before the final one. The aws events share a queue
        # that keeps no order: an intermediate one handled after the final one is acknowledged and not kept.
        if view["provider_used"] != "aws":
            assert "progress" in events, (view["provider_used"], view["timeline"])
