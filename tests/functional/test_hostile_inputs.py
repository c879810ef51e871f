"""A hostile review, replayed: two clients sharing one gateway, forged and borrowed cursors, odd dates,
broken secrets, premium numbers, exhausted quotas, replayed and orphaned idempotency keys.

Every case states what the caller must see. None may end in a 500 (an unhandled error); a 503 appears
only where it is the documented answer (the operator's configuration is broken or a dependency is down),
and then with its error code and Retry-After.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

import boto3
import pytest

from chalicelib import wiring
from chalicelib.clients import key_hash
from chalicelib.settings import get_settings
from chalicelib.storage.idempotency import IdempotencyKeys, fingerprint
from tests.functional.conftest import API_KEY

pytestmark = pytest.mark.functional

KEY_A, KEY_B, KEY_OPS, KEY_QUOTA, KEY_RATE, KEY_SHOP = (secrets.token_urlsafe(32) for _ in range(6))
PHONE = "+14155550100"
REGISTRY = {"cursor_key": "k" * 40, "clients": {
    "team-a": {"key_hashes": [key_hash(KEY_A)]},
    "team-b": {"key_hashes": [key_hash(KEY_B)], "countries": ["GB", "US"]},
    "ops": {"key_hashes": [key_hash(KEY_OPS)], "roles": ["operator"]},
    "quota": {"key_hashes": [key_hash(KEY_QUOTA)], "daily_quota": 2},
    "slow": {"key_hashes": [key_hash(KEY_RATE)], "rate_limit": 1},
    "shop": {"key_hashes": [key_hash(KEY_SHOP)], "senders": ["ACME", "+14155550199"]},
}}


@dataclass
class Api:
    client: object
    monkeypatch: object

    def call(self, method: str, path: str, key: str | None = KEY_A, body=None, headers: dict | None = None):
        sent = {"Content-Type": "application/json", **({"X-Api-Key": key} if key else {}), **(headers or {})}
        raw = body if body is None or isinstance(body, str) else json.dumps(body)
        response = self.client.http.request(method, path, headers=sent, body=raw or b"")
        assert response.status_code != 500, response.body
        return response

    def send(self, key=KEY_A, phone=PHONE, text="hello", sender=None, **headers):
        body = {"phone": phone, "text": text, **({"from": sender} if sender is not None else {})}
        return self.call("POST", "/api/sms", key, body, headers)

    def sent_id(self, key=KEY_A, **headers) -> str:
        response = self.send(key, **headers)
        assert response.status_code == 202, response.body
        return json.loads(response.body)["id"]

    def list(self, query: str, key=KEY_A):
        return self.call("GET", f"/api/sms?{query}", key)


@pytest.fixture
def api(monkeypatch, gateway) -> Api:
    monkeypatch.setenv("CLIENTS", json.dumps(REGISTRY))
    return Api(gateway, monkeypatch)


def error(response) -> dict:
    return json.loads(response.body)["error"]


def refused(status: int, code: str, field: str | None = None, saying: str | None = None) -> Callable:
    def check(response):
        assert response.status_code == status, response.body
        found = error(response)
        assert found["code"] == code, found
        if field is not None:
            assert found["field"] == field, found
        if saying is not None:
            assert saying in found["message"], found
        if status in (429, 503) or code == "idempotency_key_in_flight":
            assert int(response.headers["Retry-After"]) >= 1
        return found

    return check


def answered(status: int) -> Callable:
    def check(response):
        assert response.status_code == status, response.body

    return check


def empty_list(response) -> None:
    assert response.status_code == 200, response.body
    assert json.loads(response.body)["items"] == []


def rate_headers(limit: str, remaining: str) -> Callable:
    def check(response):
        assert response.status_code == 202, response.body
        assert (response.headers["RateLimit-Limit"], response.headers["RateLimit-Remaining"]) == (limit, remaining)
        assert int(response.headers["RateLimit-Reset"]) >= 1

    return check


def cursor_of(api: Api, key: str, query: str = "limit=1") -> str:
    for _ in range(2):
        api.sent_id(key)
    cursor = json.loads(api.list(query, key).body)["next_cursor"]
    assert cursor
    return cursor


def _tampered(cursor: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[-1] ^= 1
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def _orphaned_key(api: Api, key: str) -> None:
    """An Idempotency-Key whose first call died after reserving it (defect B1)."""
    keys = IdempotencyKeys(wiring.tables_for(get_settings()), time.time, ttl_s=3600)
    keys.reserve(fingerprint("team-a", key), fingerprint(PHONE, "hello"), "f" * 32)


def _https_providers(api: Api) -> None:
    """The simulators' entries as if they were served over TLS (nothing is sent in these cases)."""
    import os

    providers = json.loads(os.environ["SMS_PROVIDERS"])
    for entry in providers:
        entry["url"] = entry["url"].replace("http://", "https://")
    api.monkeypatch.setenv("SMS_PROVIDERS", json.dumps(providers))


def _break_secret(api: Api, secret_string: str | None) -> None:
    name = "gw/clients-" + secrets.token_hex(4)
    if secret_string is not None:
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name=name, SecretString=secret_string)
    api.monkeypatch.setenv("API_KEYS_SECRET_ID", name)


CASES = [
    # --- two clients ---
    pytest.param(lambda api: api.call("GET", f"/api/sms/{api.sent_id(KEY_A)}", KEY_B),
                 refused(404, "not_found", "id"), id="another-clients-request-is-not-found"),
    pytest.param(lambda api: (api.sent_id(KEY_A), api.list("limit=100", KEY_B))[1],
                 empty_list, id="another-clients-list-is-empty"),
    pytest.param(lambda api: api.list(f"cursor={cursor_of(api, KEY_A)}", KEY_B),
                 refused(400, "invalid_cursor", "cursor"), id="borrowed-cursor"),
    pytest.param(lambda api: api.call("GET", "/api/providers", KEY_A), refused(403, "forbidden", "X-Api-Key"),
                 id="providers-need-the-operator-role"),
    pytest.param(lambda api: api.call("GET", "/api/providers", KEY_OPS),
                 answered(200), id="operator-sees-providers"),
    pytest.param(lambda api: api.send(KEY_OPS), refused(403, "forbidden", "X-Api-Key"),
                 id="operator-only-key-cannot-send"),
    pytest.param(lambda api: api.send(key=None), refused(401, "missing_api_key", "X-Api-Key"), id="no-key"),
    pytest.param(lambda api: api.send(key=KEY_A[:-1]), refused(401, "invalid_api_key", "X-Api-Key"), id="wrong-key"),
    pytest.param(lambda api: api.send(key=key_hash(KEY_A)), refused(401, "invalid_api_key"), id="the-hash-as-key"),
    pytest.param(lambda api: (api.monkeypatch.setenv("CLIENTS", json.dumps({"clients": {
        "team-b": REGISTRY["clients"]["team-b"]}})), api.send(KEY_A))[1],
                 refused(401, "invalid_api_key"), id="removed-client-is-refused-once-the-registry-changes"),
    # --- cursors ---
    pytest.param(lambda api: api.list("cursor=AAAA"), refused(400, "invalid_cursor", "cursor"), id="short-cursor"),
    pytest.param(lambda api: api.list("cursor=" + base64.urlsafe_b64encode(b'{"id":{"S":"x"}}' * 3).decode()),
                 refused(400, "invalid_cursor", "cursor"), id="unsigned-dynamodb-key-cursor"),
    pytest.param(lambda api: api.list(f"cursor={_tampered(cursor_of(api, KEY_A))}"),
                 refused(400, "invalid_cursor", "cursor"), id="tampered-cursor"),
    pytest.param(lambda api: api.list(f"status=sent&cursor={cursor_of(api, KEY_A)}"),
                 refused(400, "invalid_cursor", "cursor"), id="cursor-with-other-filters"),
    pytest.param(lambda api: api.list("cursor=" + "A" * 3000), refused(400, "invalid_cursor", "cursor"),
                 id="huge-cursor"),
    pytest.param(lambda api: api.list("cursor=%2F%2E%2E%2F"), refused(400, "invalid_cursor", "cursor"),
                 id="cursor-not-base64"),
    # --- dates ---
    pytest.param(lambda api: api.list("until=0001-01-01T00:00:00Z"), empty_list, id="until-year-1-lists-nothing"),
    pytest.param(lambda api: api.list("since=0001-01-01"), answered(200), id="since-year-1-is-since-1970"),
    pytest.param(lambda api: api.list("until=0001-01-01T00:00:00-23:59"), empty_list,
                 id="until-before-the-calendar-starts"),
    pytest.param(lambda api: api.list("until=9999-12-31T23:59:59%2B00:00"), answered(200),
                 id="until-end-of-calendar"),
    pytest.param(lambda api: api.list("since=10000-01-01"), refused(400, "invalid_datetime", "since"),
                 id="since-year-10000"),
    pytest.param(lambda api: api.list("since=1970-01-01"),
                 answered(200), id="since-1970-is-one-bounded-read"),
    pytest.param(lambda api: api.list("since=2024-05-02&until=2024-05-01"), empty_list,
                 id="since-after-until-is-an-empty-range"),
    pytest.param(lambda api: api.list("since=%00"), refused(400, "invalid_datetime", "since"), id="since-nul"),
    pytest.param(lambda api: api.list("limit=-1"), refused(400, "invalid_limit", "limit"), id="negative-limit"),
    pytest.param(lambda api: api.list("limit=1e3"), refused(400, "invalid_limit", "limit"), id="exponent-limit"),
    pytest.param(lambda api: api.list("provider=../../etc"), refused(400, "unknown_provider", "provider"),
                 id="provider-path"),
    pytest.param(lambda api: api.list("client=team-b"), refused(400, "unknown_parameter", "client"),
                 id="asking-for-another-client"),
    # --- numbers and texts ---
    pytest.param(lambda api: api.send(phone="+19005550100"), refused(422, "number_type_not_allowed", "phone"),
                 id="premium-rate-number"),
    pytest.param(lambda api: api.send(phone="+448000000000"), refused(422, "number_type_not_allowed", "phone"),
                 id="toll-free-number"),
    pytest.param(lambda api: api.send(phone="+33891234567"), refused(422, "number_type_not_allowed", "phone"),
                 id="french-premium-rate"),
    pytest.param(lambda api: api.send(phone="+442079460958"), refused(422, "number_type_not_allowed", "phone"),
                 id="landline"),
    pytest.param(lambda api: api.send(KEY_B, phone="+33612345678"), refused(422, "country_not_allowed", "phone"),
                 id="country-the-client-may-not-send-to"),
    pytest.param(lambda api: api.send(KEY_B, phone="+447400123456"),
                 answered(202), id="country-the-client-may-send-to"),
    pytest.param(lambda api: api.send(phone="+4930000000000000"), refused(400, "invalid_phone", "phone"),
                 id="more-digits-than-e164"),
    pytest.param(lambda api: api.send(text="\u200b\u200d\ufeff"), refused(400, "empty_text", "text"),
                 id="invisible-text"),
    pytest.param(lambda api: api.send(text="\u2800\u3164\u00ad"), refused(400, "empty_text", "text"),
                 id="blank-braille-and-hangul-filler"),
    pytest.param(lambda api: api.call("POST", "/api/sms", KEY_A, '{"phone": 14155550100, "text": "x"}'),
                 refused(400, "invalid_type", "phone"), id="phone-as-number"),
    pytest.param(lambda api: api.call("POST", "/api/sms", KEY_A, '{"phone": "+14155550100", "phone": "+1"}'),
                 refused(400, "duplicate_field", "phone"), id="duplicate-field"),
    # --- sender ids: a client's own, or the provider's configured one; nobody else's ---
    pytest.param(lambda api: (api.monkeypatch.delenv("CLIENTS"), api.send(API_KEY, sender="PAYPAL"))[1],
                 refused(422, "sender_not_allowed", "from"), id="api-keys-client-sends-as-paypal"),
    pytest.param(lambda api: api.send(KEY_A, sender="PAYPAL"), refused(422, "sender_not_allowed", "from"),
                 id="client-without-senders-sends-as-paypal"),
    pytest.param(lambda api: api.send(KEY_A, sender="+14155550199"), refused(422, "sender_not_allowed", "from"),
                 id="client-sends-as-another-clients-number"),
    pytest.param(lambda api: api.send(KEY_SHOP, sender="PAYPAL"), refused(422, "sender_not_allowed", "from"),
                 id="client-with-senders-sends-as-another-brand"),
    pytest.param(lambda api: api.send(KEY_SHOP, sender="+14155550199"), answered(202),
                 id="client-sends-from-its-own-number"),
    pytest.param(lambda api: (api.monkeypatch.delenv("CLIENTS"), api.send(API_KEY))[1], answered(202),
                 id="api-keys-client-without-from-gets-the-providers-sender"),
    # --- limits ---
    pytest.param(lambda api: [api.send(KEY_QUOTA) for _ in range(3)][-1],
                 refused(429, "daily_quota_exceeded", "X-Api-Key"), id="daily-quota-exhausted"),
    pytest.param(lambda api: [api.send(KEY_RATE) for _ in range(2)][-1],
                 refused(429, "rate_limited", "X-Api-Key"), id="rate-limit-reached"),
    pytest.param(lambda api: api.send(KEY_RATE),
                 rate_headers("1", "0"), id="ratelimit-headers-on-an-accepted-request"),
    pytest.param(lambda api: (api.send(KEY_QUOTA), api.send(KEY_QUOTA), api.send(KEY_A))[-1],
                 answered(202), id="one-clients-quota-is-not-anothers"),
    # --- idempotency keys ---
    pytest.param(lambda api: (api.sent_id(**{"Idempotency-Key": "k1"}), api.send(**{"Idempotency-Key": "k1"}))[1],
                 answered(202), id="replayed-key-same-body"),
    pytest.param(lambda api: (api.sent_id(**{"Idempotency-Key": "k2"}),
                              api.send(text="other", **{"Idempotency-Key": "k2"}))[1],
                 refused(409, "idempotency_key_reused", "Idempotency-Key"), id="replayed-key-other-body"),
    pytest.param(lambda api: (api.sent_id(KEY_A, **{"Idempotency-Key": "k3"}),
                              api.send(KEY_B, **{"Idempotency-Key": "k3"}))[1],
                 answered(202), id="same-key-of-two-clients"),
    pytest.param(lambda api: (_orphaned_key(api, "k4"), api.send(**{"Idempotency-Key": "k4"}))[1],
                 refused(409, "idempotency_key_in_flight", "Idempotency-Key"), id="orphaned-key-in-flight"),
    pytest.param(lambda api: api.send(**{"Idempotency-Key": "has space"}),
                 refused(400, "invalid_idempotency_key", "Idempotency-Key"), id="key-with-space"),
    # --- broken configuration: 503 configuration_error, never a partial key list ---
    pytest.param(lambda api: (api.monkeypatch.setenv("CLIENTS", "{not json"), api.send())[1],
                 refused(503, "configuration_error"), id="clients-document-not-json"),
    pytest.param(lambda api: (api.monkeypatch.setenv("CLIENTS", json.dumps({"clients": {
        "team-a": {"key_hashes": [key_hash(KEY_A)]}, "bad": {"key_hashes": ["nope"]}}})), api.send())[1],
                 refused(503, "configuration_error"), id="clients-document-half-valid"),
    pytest.param(lambda api: (_break_secret(api, "[\"short\"]"), api.monkeypatch.setenv("STAGE", "dev"),
                              _https_providers(api), api.send())[-1],
                 refused(503, "configuration_error", saying="shorter than 32"), id="short-key-outside-the-local-stage"),
    pytest.param(lambda api: (_break_secret(api, '{"clients": 5}'), api.send())[-1],
                 refused(503, "configuration_error"), id="secret-of-the-wrong-shape"),
    pytest.param(lambda api: (_break_secret(api, None), api.send())[-1],
                 refused(503, "configuration_error"), id="secret-missing"),
    pytest.param(lambda api: (api.monkeypatch.setenv("STAGE", "dev"), api.send())[-1],
                 refused(503, "configuration_error", saying="must be https://"),
                 id="providers-in-clear-outside-the-local-stage"),
]


@pytest.mark.parametrize(("sequence", "expect"), CASES)
def test_hostile_input_gets_a_clear_answer_and_never_a_500(api, sequence, expect):
    assert get_settings().is_local
    expect(sequence(api))


def test_the_table_covers_at_least_forty_hostile_inputs():
    assert len(CASES) >= 40


# ------------------------------------------------------------------ delivery receipt webhooks
# No API key: the vendor's signature is the authentication. Whatever arrives, the answer is 204 (verified),
# 400 (verified but unreadable, or unreadable before it can be verified), 401/403 (unsigned, badly signed) or
# 413 (over the cap, never parsed); never a 500.

TWILIO_TOKEN, VONAGE_SECRET, RECEIPT_SECRET = "hostile-twilio-token", "hostile-vonage-secret", "hostile-receipts"
ACCOUNT_SID = "AC" + "7" * 32
TWILIO_URL = "https://sms.example.com/prod/webhooks/tw"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
NOW_SKEW_S = 60


@dataclass
class Receipts(Api):
    sqs_event: Callable = None
    queued_bodies: Callable = None
    providers: tuple[list, list] = ([], [])  # (the http-json ones, all of them)

    def twilio(self, body: str | bytes, signature: str | None = "bm9wZQ=="):
        headers = {**FORM, **({"X-Twilio-Signature": signature} if signature is not None else {})}
        return self.call("POST", "/webhooks/tw", None, body, headers)

    def signed_twilio(self, params: list[tuple[str, str]]):
        from chalicelib.vendors.twilio import receipts as twilio

        return self.twilio(urlencode(params), twilio.signature(TWILIO_URL, params, TWILIO_TOKEN))

    def vonage_json(self, body: str):
        return self.call("POST", "/webhooks/vg", None, body, {"Content-Type": "application/json"})

    def vonage_get(self, params: dict):
        return self.call("GET", "/webhooks/vg?" + urlencode(params), None)

    def http_json(self, body: str, header: str, provider: str = "alpha"):
        return self.call("POST", f"/webhooks/{provider}", None, body, {"X-Signature": header})

    def signed_http_json(self, receipt: dict, provider: str = "alpha"):
        from chalicelib.vendors import http_json

        body = json.dumps(receipt)  # NaN and Infinity as JavaScript writes them: Python's json reads them
        return self.http_json(body, http_json.signature_header(body.encode(), RECEIPT_SECRET, int(time.time())),
                              provider)

    def sent(self) -> tuple[str, str, str]:
        """(request id, provider, the vendor's message id) of a request one of the simulators accepted."""
        http_json_only, every_one = self.providers
        self.monkeypatch.setenv("SMS_PROVIDERS", json.dumps(http_json_only))  # sent by a simulator that answers
        request_id = self.sent_id()
        self.client.lambda_.invoke("dispatch_sms", self.sqs_event(*self.queued_bodies()))
        self.monkeypatch.setenv("SMS_PROVIDERS", json.dumps(every_one))
        view = json.loads(self.call("GET", f"/api/sms/{request_id}").body)
        assert view["status"] == "sent", view
        return request_id, view["provider_used"], view["provider_message_id"]

    def receipt_applied(self, **receipt) -> object:
        """A validly signed delivered receipt with ``receipt``'s fields; the request as GET then shows it."""
        request_id, provider, message_id = self.sent()
        answer = self.signed_http_json({"message_id": message_id, "status": "delivered", **receipt}, provider)
        assert answer.status_code == 204, answer.body
        return self.call("GET", f"/api/sms/{request_id}")


@pytest.fixture
def receipts(monkeypatch, gateway, gateway_env, sqs_event, queued_bodies) -> Receipts:
    """The simulators' http-json providers with a webhook_secret, and a Twilio and a Vonage provider."""
    monkeypatch.setenv("CLIENTS", json.dumps(REGISTRY))
    import os

    http_json = [{**entry, "webhook_secret": RECEIPT_SECRET} for entry in json.loads(os.environ["SMS_PROVIDERS"])]
    nowhere = "http://127.0.0.1:9"  # nothing is sent through tw and vg here
    providers = [*http_json,
        {"name": "tw", "kind": "twilio", "account_sid": ACCOUNT_SID, "from": "+15005550006", "auth_token": TWILIO_TOKEN,
         "webhook_url": TWILIO_URL, "base_url": nowhere, "weight": 1},
        {"name": "vg", "kind": "vonage", "api_key": "vgkey001", "from": "Gateway", "signature_secret": VONAGE_SECRET,
         "signature_method": "sha256", "base_url": nowhere, "weight": 1},
    ]
    monkeypatch.setenv("SMS_PROVIDERS", json.dumps(providers))
    return Receipts(gateway, monkeypatch, sqs_event=sqs_event, queued_bodies=queued_bodies,
                    providers=(http_json, providers))


def _vonage_signed(**params) -> dict:
    from chalicelib.vendors.vonage.adapter import signature

    params = {"messageId": "0A0000001234", "status": "delivered", "timestamp": str(int(time.time())), **params}
    return {**params, "sig": signature(params, VONAGE_SECRET, "sha256")}


def delivered_about_now(response) -> None:
    """The receipt was applied; the time it claimed could not be true, so the time it arrived stands."""
    view = json.loads(response.body)
    assert (response.status_code, view["status"]) == (200, "delivered"), view
    delivered_at = datetime.fromisoformat(view["delivered_at"]).timestamp()
    assert abs(delivered_at - time.time()) < NOW_SKEW_S, view["delivered_at"]


DEEP_JSON_UNDER_THE_CAP = "[" * 30_000 + "]" * 30_000  # 60 KB: within the cap, deeper than any parser recurses

WEBHOOK_CASES = [
    # --- size: refused before anything is parsed ---
    pytest.param(lambda r: r.twilio("MessageStatus=delivered&Body=" + "x" * (5_400_000)),
                 refused(413, "payload_too_large", "body"), id="twilio-unsigned-5-mb-form"),
    pytest.param(lambda r: r.twilio("&".join(f"f{i}=1" for i in range(5_000))),
                 refused(413, "payload_too_large", "body"), id="twilio-form-of-5000-fields"),
    pytest.param(lambda r: r.vonage_json("[" * 100_000 + "]" * 100_000),
                 refused(413, "payload_too_large", "body"), id="vonage-json-nested-100000-deep"),
    pytest.param(lambda r: r.vonage_json(DEEP_JSON_UNDER_THE_CAP),
                 refused(400, "invalid_field", "body"), id="vonage-json-nested-30000-deep-under-the-cap"),
    pytest.param(lambda r: r.vonage_json(json.dumps({f"f{i}": 1 for i in range(150)})),
                 refused(413, "payload_too_large", "body"), id="vonage-json-of-150-members"),
    pytest.param(lambda r: r.vonage_get({f"f{i}": "1" for i in range(500)}),
                 refused(413, "payload_too_large", "query"), id="vonage-query-of-500-parameters"),
    # --- signatures that are not even text a digest could be ---
    pytest.param(lambda r: r.twilio("MessageSid=SM1&MessageStatus=delivered", signature="é" * 28),
                 refused(403, "signature_invalid", "X-Twilio-Signature"), id="twilio-non-ascii-signature"),
    pytest.param(lambda r: r.twilio("MessageSid=SM1&MessageStatus=delivered", signature=None),
                 refused(401, "signature_missing", "X-Twilio-Signature"), id="twilio-unsigned"),
    pytest.param(lambda r: r.vonage_get({**_vonage_signed(), "sig": "é" * 64}),
                 refused(403, "signature_invalid", "sig"), id="vonage-non-ascii-sig"),
    pytest.param(lambda r: r.vonage_get(_vonage_signed(timestamp="9" * 5_000)),
                 refused(403, "signature_invalid", "timestamp"), id="vonage-5000-digit-timestamp"),
    pytest.param(lambda r: r.vonage_get(_vonage_signed(timestamp="²")),
                 refused(403, "signature_invalid", "timestamp"), id="vonage-timestamp-superscript-two"),
    pytest.param(lambda r: r.http_json('{"message_id": "m", "status": "delivered"}', f"t={int(time.time())},v1=é"),
                 refused(403, "signature_invalid", "X-Signature"), id="http-json-non-ascii-v1"),
    pytest.param(lambda r: r.http_json('{"message_id": "m", "status": "delivered"}', "t=²,v1=00"),
                 refused(403, "signature_invalid", "X-Signature"), id="http-json-t-superscript-two"),
    pytest.param(lambda r: r.http_json('{"message_id": "m", "status": "delivered"}', "t=" + "9" * 5_000 + ",v1=00"),
                 refused(403, "signature_invalid", "X-Signature"), id="http-json-5000-digit-t"),
    pytest.param(lambda r: r.http_json(DEEP_JSON_UNDER_THE_CAP, f"t={int(time.time())},v1=00"),
                 refused(403, "signature_invalid", "X-Signature"), id="http-json-deep-body-is-never-parsed-unsigned"),
    # --- validly signed, and still garbage ---
    pytest.param(lambda r: r.http_json(DEEP_JSON_UNDER_THE_CAP, _signed(DEEP_JSON_UNDER_THE_CAP)),
                 refused(400, "invalid_field", "body"), id="http-json-signed-deep-body"),
    pytest.param(lambda r: r.signed_twilio([("MessageSid", "SM" + "0" * 32), ("MessageStatus", "delivered")] * 3),
                 answered(204), id="twilio-signed-repeated-fields"),
    pytest.param(lambda r: r.receipt_applied(occurred_at=time.time() * 1000), delivered_about_now,
                 id="http-json-signed-occurred-at-in-milliseconds"),
    pytest.param(lambda r: r.receipt_applied(occurred_at=-62_167_219_200), delivered_about_now,
                 id="http-json-signed-occurred-at-year-0"),
    pytest.param(lambda r: r.receipt_applied(occurred_at="0000-01-01T00:00:00Z"), delivered_about_now,
                 id="http-json-signed-occurred-at-year-0-as-text"),
    pytest.param(lambda r: r.receipt_applied(occurred_at="0001-01-01T00:00:00+01:00"), delivered_about_now,
                 id="http-json-signed-occurred-at-before-year-1"),
    pytest.param(lambda r: r.receipt_applied(occurred_at=float("nan")), delivered_about_now,
                 id="http-json-signed-occurred-at-nan"),
    pytest.param(lambda r: r.receipt_applied(occurred_at=float("inf")), delivered_about_now,
                 id="http-json-signed-occurred-at-infinity"),
    pytest.param(lambda r: r.receipt_applied(occurred_at=1e308), delivered_about_now,
                 id="http-json-signed-occurred-at-1e308"),
]


def _signed(body: str) -> str:
    from chalicelib.vendors import http_json

    return http_json.signature_header(body.encode(), RECEIPT_SECRET, int(time.time()))


@pytest.mark.parametrize(("sequence", "expect"), WEBHOOK_CASES)
def test_hostile_webhook_call_gets_a_clear_answer_and_never_a_500(receipts, sequence, expect):
    expect(sequence(receipts))


def test_an_unsigned_5_mb_twilio_form_is_refused_before_it_is_parsed(receipts, monkeypatch):
    from chalicelib.receipts import webhook_call

    parsed = []
    monkeypatch.setattr(webhook_call, "parse_qsl", lambda *args, **kwargs: parsed.append(args) or [])
    answer = receipts.twilio("MessageStatus=delivered&Body=" + "x" * 5_400_000)
    assert (answer.status_code, parsed) == (413, [])
