"""A scheduled SMS through the whole local stack: accepted now, held on the queue by its delay, sent by a
dispatcher no earlier than its send_at, with the client's sender, and found again by its reference."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

pytestmark = pytest.mark.integration

LEAD_S = 5


def test_sms_with_send_at_is_sent_not_before_it_and_found_by_its_reference(fresh_stack):
    reference = f"it-{uuid.uuid4().hex[:12]}"
    send_at = time.time() + LEAD_S
    send_at_text = datetime.fromtimestamp(send_at, UTC).isoformat().replace("+00:00", "Z")
    response = fresh_stack.http.post("/api/sms", json={
        "phone": "+14155550100", "text": "scheduled hello", "reference": reference, "from": "ACME",
        "send_at": send_at_text})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert (accepted["status"], accepted["reference"]) == ("pending", reference)
    stored_send_at = datetime.fromisoformat(accepted["send_at"]).timestamp()  # UTC, milliseconds
    assert abs(stored_send_at - send_at) < 0.002

    assert fresh_stack.get(accepted["id"])["status"] == "pending"  # waiting for its time, not sent
    view = fresh_stack.wait_terminal([accepted["id"]], timeout_s=LEAD_S + 30)[accepted["id"]]

    assert view["status"] == "sent"
    assert (view["reference"], view["from"], view["send_at"]) == (reference, "ACME", accepted["send_at"])
    sent = [message for name in fresh_stack.simulators for message in fresh_stack.sent(name)]
    assert [(message["reference"], message["fields"]["from"]) for message in sent] == [(accepted["id"], "ACME")]
    assert sent[0]["t"] >= stored_send_at  # the provider received it at or after send_at, never before

    listed = fresh_stack.http.get("/api/sms", params={"reference": reference}).json()
    assert ([item["id"] for item in listed["items"]], listed["next_cursor"]) == ([accepted["id"]], None)
    assert listed["items"][0]["reference"] == reference
