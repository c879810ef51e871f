"""The callback signature, and the receiver's verification snippet docs/api.md gives clients."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import pytest

from chalicelib.callbacks import CallbackEvent, signature_header, verify_signature

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
SECRET = "whsec-0123456789abcdef"
NOW = 1_800_000_000


def event() -> CallbackEvent:
    return CallbackEvent(event_id="e-1", id="a" * 32, status="sent", occurred_at="2026-12-02T04:00:00.000Z",
                         url="https://example.com/cb", client="team-a", reference="order-7", provider="alpha")


def docs_verifier():
    """The verification snippet of docs/api.md, run as a client would paste it."""
    text = (ROOT / "docs" / "api.md").read_text()
    section = text.split("### Verifying a callback", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/api.md", "exec"), namespace)
    return namespace["verify"]


def test_the_header_is_hmac_sha256_of_timestamp_dot_body():
    body = event().payload()
    header = signature_header(SECRET, body, NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + body, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"


def test_a_signed_body_verifies_and_anything_changed_does_not():
    body = event().payload()
    header = signature_header(SECRET, body, NOW)
    assert verify_signature(SECRET, body, header, now=NOW + 10)
    assert not verify_signature(SECRET, body.replace(b"sent", b"failed"), header, now=NOW)
    assert not verify_signature("another-secret-0123", body, header, now=NOW)
    assert not verify_signature(SECRET, body, header.replace(f"t={NOW}", f"t={NOW + 1}"), now=NOW)
    assert not verify_signature(SECRET, body, header, now=NOW + 301)  # an old capture replayed
    assert not verify_signature(SECRET, body, None, now=NOW)
    assert not verify_signature(SECRET, body, "garbage", now=NOW)


def test_the_payload_carries_the_documented_fields_and_nothing_else():
    import json

    payload = json.loads(event().payload())
    assert list(payload) == ["event_id", "id", "reference", "status", "provider", "error", "occurred_at"]


def test_the_docs_snippet_verifies_what_the_gateway_signs():
    verify = docs_verifier()
    body = event().payload()
    header = signature_header(SECRET, body, NOW)
    assert verify(SECRET, body, header, now=NOW + 5) is True
    assert verify(SECRET, body + b" ", header, now=NOW) is False
    assert verify("another-secret-0123", body, header, now=NOW) is False
    assert verify(SECRET, body, header, now=NOW + 3600) is False
