"""Telnyx's webhooks (chalicelib/vendors/telnyx/receipts.py): the Ed25519 signature and the message.sent /
message.finalized receipts.

Vectors. Telnyx's SDKs have no fixed vectors: their tests sign with a key pair generated per run
(team-telnyx/telnyx-python at 6d68c8ca, tests/test_webhook.py at be6fb3d6 (2.1.1), the ED25519 tests of
telnyx-go lib/webhook_verification_test.go and telnyx-ruby test/telnyx/lib/webhooks_ed25519_test.rb). So:

- RFC 8032 section 7.1, TEST 1-3 (https://www.rfc-editor.org/rfc/rfc8032#section-7.1): the Ed25519 primitive
  and the reading of a raw 32-byte public key;
- PUBLIC_KEY, TIMESTAMP, BODY, SIGNATURE: RFC 8032 TEST 1's key signing "<timestamp>|<body>" as Telnyx signs
  a webhook (the message the SDK verifies, src/telnyx/lib/webhook_verification.py:
  f"{timestamp_header}|{payload_str}"); the signature was made with `cryptography`, and the same with
  `openssl pkeyutl -sign -rawin` (Ed25519 is deterministic);
- the SDK tests' own cases, with a key pair generated here: valid, tampered body, 64 zero bytes, 10 minutes
  old or ahead, a header missing, a key of the wrong size.
"""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chalicelib.delivery_receipt import DeliveryReason, DeliveryState
from chalicelib.errors import SignatureInvalid, SignatureMissing, ValidationFailed
from chalicelib.vendors.telnyx import receipts as telnyx

pytestmark = pytest.mark.unit

# RFC 8032 7.1: (public key, message, signature), hex.
RFC8032 = [
    pytest.param("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
                 "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd2"
                 "5bf5f0595bbe24655141438e7a100b", id="test-1"),
    pytest.param("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
                 "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c3"
                 "87b2eaeb4302aeeb00d291612bb0c00", id="test-2"),
    pytest.param("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
                 "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594"
                 "a7c15e9716ed28dc027beceea1ec40a", id="test-3"),
]

# RFC 8032 TEST 1's key (base64, as Mission Control shows a public key) signing a message.finalized webhook.
PUBLIC_KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
TIMESTAMP = "1700000000"
BODY = (b'{"data":{"event_type":"message.finalized","id":"4ee8c3a6-4995-4309-a3c6-38e3db9ea4be","occurred_at":'
        b'"2023-11-14T22:13:20.000+00:00","payload":{"id":"40385f64-5717-4562-b3fc-2c963f66afa6","to":[{"phone_'
        b'number":"+14155550100","status":"delivered"}],"errors":[]},"record_type":"event"},"meta":{"attempt":1,'
        b'"delivered_to":"https://example.com/webhooks/telnyx"}}')
SIGNATURE = "k3bjCkO1e4O44cVJBo11P8UMTUQ62z6V8uWuRft+2unG5UM3v6TP8dWMKIMLpET33s47PPJeAS05OoHuag7nBA=="
NOW = float(TIMESTAMP)


@pytest.mark.parametrize(("public_key", "message", "signature"), RFC8032)
def test_rfc8032_vectors_verify_and_a_flipped_bit_does_not(public_key, message, signature):
    key = telnyx.public_key_of(base64.b64encode(bytes.fromhex(public_key)).decode())
    assert telnyx.signature_valid(key, bytes.fromhex(signature), bytes.fromhex(message))
    flipped = bytearray(bytes.fromhex(signature))
    flipped[0] ^= 1
    assert not telnyx.signature_valid(key, bytes(flipped), bytes.fromhex(message))
    assert not telnyx.signature_valid(key, bytes.fromhex(signature), bytes.fromhex(message) + b"!")


def test_the_telnyx_vector_verifies():
    telnyx.verify(BODY, SIGNATURE, TIMESTAMP, PUBLIC_KEY, NOW)


@pytest.mark.parametrize("now", [NOW - 300, NOW + 300], ids=["300-s-ahead", "300-s-old"])
def test_the_sdks_tolerance_is_300_s_either_way(now):
    telnyx.verify(BODY, SIGNATURE, TIMESTAMP, PUBLIC_KEY, now)


@pytest.mark.parametrize("now", [NOW - 301, NOW + 301], ids=["301-s-ahead", "301-s-old"])
def test_a_signature_past_the_tolerance_is_a_replay(now):
    with pytest.raises(SignatureInvalid, match="replayed"):
        telnyx.verify(BODY, SIGNATURE, TIMESTAMP, PUBLIC_KEY, now)


@pytest.mark.parametrize(
    ("body", "signature", "timestamp"),
    [
        pytest.param(BODY.replace(b"delivered", b"delivery_failed"), SIGNATURE, TIMESTAMP, id="body-changed"),
        pytest.param(BODY + b"\n", SIGNATURE, TIMESTAMP, id="body-reserialised"),
        pytest.param(BODY, SIGNATURE, "1700000001", id="another-timestamp"),
        pytest.param(BODY, base64.b64encode(bytes(64)).decode(), TIMESTAMP, id="64-zero-bytes"),
        pytest.param(BODY, SIGNATURE[:-4], TIMESTAMP, id="signature-cut"),
        pytest.param(BODY, "not base64!", TIMESTAMP, id="not-base64"),
        pytest.param(BODY, "k3bjCkO1e4O44cVJ…", TIMESTAMP, id="not-ascii"),
        pytest.param(BODY, SIGNATURE, "1700000000.5", id="timestamp-not-whole"),
        pytest.param(BODY, SIGNATURE, "\u0661\u0667" + "\u0660" * 8, id="timestamp-other-digits"),
    ],
)
def test_anything_but_the_signed_bytes_is_refused(body, signature, timestamp):
    with pytest.raises(SignatureInvalid):
        telnyx.verify(body, signature, timestamp, PUBLIC_KEY, NOW)


@pytest.mark.parametrize(("signature", "timestamp", "field"), [
    pytest.param(None, TIMESTAMP, "telnyx-signature-ed25519", id="no-signature"),
    pytest.param("", TIMESTAMP, "telnyx-signature-ed25519", id="empty-signature"),
    pytest.param(SIGNATURE, None, "telnyx-timestamp", id="no-timestamp"),
])
def test_a_missing_header_is_named(signature, timestamp, field):
    with pytest.raises(SignatureMissing) as raised:
        telnyx.verify(BODY, signature, timestamp, PUBLIC_KEY, NOW)
    assert raised.value.field == field


@pytest.mark.parametrize("public_key", [
    pytest.param(base64.b64encode(b"too-short").decode(), id="wrong-size"),
    pytest.param("not-valid-base64!!!", id="not-base64"),
    pytest.param("", id="empty"),
])
def test_a_public_key_that_is_not_one_refuses_every_receipt_and_says_so(public_key):
    assert telnyx.public_key_of(public_key) is None
    with pytest.raises(SignatureInvalid, match="public_key") as raised:
        telnyx.verify(BODY, SIGNATURE, TIMESTAMP, public_key, NOW)
    assert raised.value.field == "provider"


def test_a_key_pair_of_this_run_signs_and_verifies_as_the_sdks_tests_do():
    private = Ed25519PrivateKey.generate()
    public = base64.b64encode(private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()
    body = b'{"data":{"id":"test-id","event_type":"message.sent"}}'
    signature = base64.b64encode(private.sign(TIMESTAMP.encode() + b"|" + body)).decode()
    telnyx.verify(body, signature, TIMESTAMP, public, NOW)
    with pytest.raises(SignatureInvalid):  # another account's key
        telnyx.verify(body, signature, TIMESTAMP, PUBLIC_KEY, NOW)


# ------------------------------------------------------------------ receipts


def event(event_type="message.finalized", status="delivered", errors=(), **payload) -> bytes:
    """A Telnyx messaging webhook, shaped as https://developers.telnyx.com/docs/messaging/messages/receiving-webhooks
    shows message.finalized (and https://developers.telnyx.com/api-reference/callbacks/delivery-update message.sent)."""
    body = {"data": {"event_type": event_type, "id": "4ee8c3a6-4995-4309-a3c6-38e3db9ea4be",
                     "occurred_at": "2019-12-09T21:32:14.148+00:00", "record_type": "event",
                     "payload": {"id": "40385f64-5717-4562-b3fc-2c963f66afa6", "record_type": "message",
                                 "direction": "outbound", "type": "SMS", "errors": list(errors),
                                 "to": [{"phone_number": "+14155550100", "status": status,
                                         "carrier": "T-MOBILE USA, INC.", "line_type": "Wireless"}],
                                 "completed_at": "2019-12-09T21:32:14.148+00:00", **payload}},
            "meta": {"attempt": 1, "delivered_to": "https://gw.example/webhooks/tx"}}
    return json.dumps(body).encode()


def test_a_finalized_delivered_message_is_delivered_at_its_completion_time():
    receipt = telnyx.parse("tx", event(), [("ref", "d" * 32)])
    assert (receipt.provider, receipt.message_id, receipt.state) == (
        "tx", "40385f64-5717-4562-b3fc-2c963f66afa6", DeliveryState.DELIVERED)
    assert (receipt.request_id, receipt.error_code, receipt.reason) == ("d" * 32, None, None)
    assert receipt.occurred_at == 1575927134.148


@pytest.mark.parametrize(
    ("status", "errors", "code", "reason"),
    [
        pytest.param("delivery_failed", [{"code": "40001", "title": "Not routable"}], "40001",
                     DeliveryReason.UNREACHABLE, id="40001-landline"),
        pytest.param("delivery_failed", [{"code": "40003", "title": "Blocked as spam - permanent"}], "40003",
                     DeliveryReason.BLOCKED, id="40003-spam"),
        pytest.param("delivery_failed", [{"code": "40300", "title": "Blocked due to STOP message"}], "40300",
                     DeliveryReason.BLOCKED, id="40300-stop"),
        pytest.param("delivery_failed", [{"code": "40008", "title": "Undeliverable"}], "40008",
                     DeliveryReason.REJECTED, id="40008-undeliverable"),
        pytest.param("sending_failed", [{"code": "40014", "title": "Message expired in queue"}], "40014",
                     DeliveryReason.EXPIRED, id="40014-expired-in-queue"),
        pytest.param("expired", [], None, DeliveryReason.EXPIRED, id="expired-without-code"),
        pytest.param("delivery_failed", [{"code": "49999", "title": "?"}], "49999", DeliveryReason.UNKNOWN,
                     id="unknown-code"),
        pytest.param("delivery_failed", [], None, DeliveryReason.UNKNOWN, id="no-code"),
    ],
)
def test_a_finalized_failure_is_undelivered_with_its_reason(status, errors, code, reason):
    receipt = telnyx.parse("tx", event(status=status, errors=errors))
    assert (receipt.state, receipt.error_code, receipt.reason) == (DeliveryState.UNDELIVERED, code, reason)


@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        pytest.param("message.sent", "sent", id="message-sent"),
        pytest.param("message.finalized", "delivery_unconfirmed", id="delivery-unconfirmed"),
        pytest.param("message.finalized", "queued", id="finalized-queued"),
        pytest.param("message.received", "webhook_delivered", id="an-inbound-message"),
    ],
)
def test_anything_else_is_interim(event_type, status):
    receipt = telnyx.parse("tx", event(event_type, status, [{"code": "40001"}]))
    assert (receipt.state, receipt.error_code, receipt.reason) == (DeliveryState.INTERIM, None, None)


@pytest.mark.parametrize("body", [
    pytest.param(b"[]", id="not-an-object"),
    pytest.param(b"{", id="not-json"),
    pytest.param(b'{"data": {"event_type": "message.finalized"}}', id="no-payload"),
    pytest.param(event(id=""), id="empty-id"),
    pytest.param(b"[" * 100_000, id="nested-too-deep"),
])
def test_a_verified_body_that_is_not_a_receipt_is_a_400(body):
    with pytest.raises(ValidationFailed):
        telnyx.parse("tx", body)
