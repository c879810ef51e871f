"""Every status a route answers is one its OpenAPI declaration lists: a client generated from the document
(or a person reading /docs) never meets an answer it was not told about.

One table, one row per (route, status) the code can give, each with a request that produces it. A row checks
that the route really answers that status (so the table stays true) and that the document declares it; the
last test checks the reverse, that every declared status has a row (a declared status no request reaches is
a guess)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from urllib.parse import urlencode

import pytest

from chalicelib import wiring
from chalicelib.clients import key_hash
from chalicelib.vendors import http_json
from chalicelib.vendors.vonage.adapter import signature as vonage_signature
from tests.functional.conftest import API_KEY

pytestmark = pytest.mark.functional

SENDER_KEY = "sender-only-key-" + "s" * 24  # the send role only
OPERATOR_KEY = "operator-only-key-" + "o" * 22  # the operator role only
ONE_A_DAY_KEY = "one-a-day-key-" + "d" * 26  # the send role, and a daily quota of 1
WEBHOOK_SECRET = "alpha-webhook-secret"
VONAGE = {"name": "vg", "kind": "vonage", "api_key": "vgkey001", "from": "Gateway", "timeout_s": 1,
          "signature_secret": "vg-signature-secret", "signature_method": "sha256", "base_url": "http://127.0.0.1:9"}
JSON = "application/json"
UNKNOWN_ID = "0" * 32

SEND = LIST = "/api/sms"
ONE, PROVIDERS, RECEIPT = "/api/sms/{id}", "/api/providers", "/webhooks/{provider}"
PAUSE, RESUME = "/api/providers/{name}/pause", "/api/providers/{name}/resume"
PAUSE_BODY = json.dumps({"reason": "vendor incident"})


# ----------------------------------------------------------------- requests


def sms(text: str = "hello") -> str:
    return json.dumps({"phone": "+14155550100", "text": text})


def headers(key: str | None = API_KEY, content_type: str | None = JSON, **more: str) -> dict[str, str]:
    return {**({"X-Api-Key": key} if key else {}), **({"Content-Type": content_type} if content_type else {}), **more}


def post(path: str, body: str | bytes = b"", **kwargs) -> Callable:
    return lambda app: app.http.post(path, body=body, **kwargs)


def get(path: str, **kwargs) -> Callable:
    return lambda app: app.http.get(path, **kwargs)


def send(app) -> str:
    """A request accepted for the full client; its id."""
    return json.loads(app.http.post(SEND, body=sms(), headers=headers()).body)["id"]


def http_json_receipt(receipt: dict, secret: str = WEBHOOK_SECRET) -> dict:
    body = json.dumps(receipt).encode()
    return {"body": body, "headers": {"Content-Type": JSON,
                                      "X-Signature": http_json.signature_header(body, secret, int(time.time()))}}


def vonage_receipt(params: dict, secret: str = VONAGE["signature_secret"]) -> str:
    params = {**params, "timestamp": str(int(time.time()))}
    return "/webhooks/vg?" + urlencode({**params, "sig": vonage_signature(params, secret, "sha256")})


def idempotency_key_reused_with_another_body(app):
    app.http.post(SEND, body=sms("first"), headers=headers(**{"Idempotency-Key": "k-1"}))
    return app.http.post(SEND, body=sms("second"), headers=headers(**{"Idempotency-Key": "k-1"}))


def over_the_daily_quota(app):
    app.http.post(SEND, body=sms(), headers=headers(ONE_A_DAY_KEY))
    return app.http.post(SEND, body=sms(), headers=headers(ONE_A_DAY_KEY))


def claimed_but_not_recorded(app, provider: str) -> str:
    request_id = send(app)
    wiring.get_claims().claim(request_id, 1, provider)  # the provider answered; its answer is not recorded yet
    return request_id


# Signed when the row runs, not when the table is built: in a long session (every tier in one run) a receipt
# signed at collection is more than 300 s old by the time its row runs, and is refused as replayed.
def post_receipt(receipt: dict, secret: str = WEBHOOK_SECRET) -> Callable:
    return lambda app: app.http.post("/webhooks/alpha", **http_json_receipt(receipt, secret))


def get_receipt(params: dict, secret: str = VONAGE["signature_secret"]) -> Callable:
    return lambda app: app.http.get(vonage_receipt(params, secret))


def http_json_receipt_too_early(app):
    receipt = {"message_id": "m-early", "status": "delivered", "reference": claimed_but_not_recorded(app, "alpha")}
    return app.http.post("/webhooks/alpha", **http_json_receipt(receipt))


def vonage_receipt_too_early(app):
    params = {"messageId": "m-early", "status": "delivered", "client-ref": claimed_but_not_recorded(app, "vg")}
    return app.http.get(vonage_receipt(params))


# ----------------------------------------------------------------- what goes wrong


def with_a_bug_in(getter: str, call: Callable) -> Callable:
    """A bug: the named wiring getter raises what no handler expects."""
    def run(app, monkeypatch, inject):
        def bug(*_args, **_kwargs):
            raise RuntimeError("a bug")
        monkeypatch.setattr(wiring, getter, bug)
        return call(app)
    return run


def with_a_malformed_setting(call: Callable) -> Callable:
    """An operator's mistake in the environment: the routes that read the settings answer 503 until it is fixed."""
    def run(app, monkeypatch, inject):
        monkeypatch.setenv("MAX_RETRIES", "many")
        return call(app)
    return run


def with_redis_down(call: Callable) -> Callable:
    def run(app, monkeypatch, inject):
        import redis

        # The discard port: nothing listens there.
        inject(redis=redis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2, socket_timeout=0.2))
        return call(app)
    return run


def row(path: str, method: str, status: int, call: Callable, why: str):
    return pytest.param(path, method, status, call, id=f"{method.upper()} {path} {status}: {why}")


ANSWERS = [
    row(SEND, "post", 202, post(SEND, sms(), headers=headers()), "accepted"),
    row(SEND, "post", 400, post(SEND, "{", headers=headers()), "malformed JSON"),
    row(SEND, "post", 401, post(SEND, sms(), headers=headers(key=None)), "no key"),
    row(SEND, "post", 403, post(SEND, sms(), headers=headers(OPERATOR_KEY)), "no send role"),
    row(SEND, "post", 409, idempotency_key_reused_with_another_body, "Idempotency-Key reused"),
    row(SEND, "post", 413, post(SEND, sms("x" * 20_000), headers=headers()), "body over the cap"),
    row(SEND, "post", 415, post(SEND, sms(), headers=headers(content_type="text/plain")), "not JSON"),
    row(SEND, "post", 422, post(SEND, sms("x" * 2_000), headers=headers()), "too many segments"),
    row(SEND, "post", 429, over_the_daily_quota, "daily quota used up"),
    row(SEND, "post", 500, with_a_bug_in("get_intake", post(SEND, sms(), headers=headers())), "a bug"),
    row(SEND, "post", 503, with_a_malformed_setting(post(SEND, sms(), headers=headers())), "malformed setting"),

    row(LIST, "get", 200, get(LIST, headers=headers()), "a page"),
    row(LIST, "get", 400, get(LIST + "?limit=0", headers=headers()), "limit out of range"),
    row(LIST, "get", 401, get(LIST, headers=headers(key="not-a-key")), "unknown key"),
    row(LIST, "get", 403, get(LIST, headers=headers(OPERATOR_KEY)), "no send role"),
    row(LIST, "get", 500, with_a_bug_in("get_queries", get(LIST, headers=headers())), "a bug"),
    row(LIST, "get", 503, with_a_malformed_setting(get(LIST, headers=headers())), "malformed setting"),

    row(ONE, "get", 200, lambda app: app.http.get(f"{SEND}/{send(app)}", headers=headers()), "the request"),
    row(ONE, "get", 400, get(f"{SEND}/not-an-id", headers=headers()), "malformed id"),
    row(ONE, "get", 401, get(f"{SEND}/{UNKNOWN_ID}", headers=headers(key=None)), "no key"),
    row(ONE, "get", 403, get(f"{SEND}/{UNKNOWN_ID}", headers=headers(OPERATOR_KEY)), "no send role"),
    row(ONE, "get", 404, get(f"{SEND}/{UNKNOWN_ID}", headers=headers()), "unknown id"),
    row(ONE, "get", 500, with_a_bug_in("get_requests", get(f"{SEND}/{UNKNOWN_ID}", headers=headers())), "a bug"),
    row(ONE, "get", 503, with_a_malformed_setting(get(f"{SEND}/{UNKNOWN_ID}", headers=headers())),
        "malformed setting"),

    row(PROVIDERS, "get", 200, get(PROVIDERS, headers=headers(OPERATOR_KEY)), "operator"),
    row(PROVIDERS, "get", 401, get(PROVIDERS, headers=headers(key=None)), "no key"),
    row(PROVIDERS, "get", 403, get(PROVIDERS, headers=headers(SENDER_KEY)), "no operator role"),
    row(PROVIDERS, "get", 500, with_a_bug_in("get_router", get(PROVIDERS, headers=headers())), "a bug"),
    row(PROVIDERS, "get", 503, with_redis_down(get(PROVIDERS, headers=headers())), "Redis down"),

    row(PAUSE, "post", 200, post("/api/providers/alpha/pause", PAUSE_BODY, headers=headers(OPERATOR_KEY)), "paused"),
    row(PAUSE, "post", 400, post("/api/providers/alpha/pause", "{", headers=headers()), "malformed JSON"),
    row(PAUSE, "post", 401, post("/api/providers/alpha/pause", PAUSE_BODY, headers=headers(key=None)), "no key"),
    row(PAUSE, "post", 403, post("/api/providers/alpha/pause", PAUSE_BODY, headers=headers(SENDER_KEY)),
        "no operator role"),
    row(PAUSE, "post", 404, post("/api/providers/nobody/pause", PAUSE_BODY, headers=headers()), "unknown provider"),
    row(PAUSE, "post", 413, post("/api/providers/alpha/pause", "x" * 20_000, headers=headers()), "body over the cap"),
    row(PAUSE, "post", 415, post("/api/providers/alpha/pause", PAUSE_BODY, headers=headers(content_type="text/plain")),
        "not JSON"),
    row(PAUSE, "post", 422, post("/api/providers/alpha/pause", "{}", headers=headers()), "no reason"),
    row(PAUSE, "post", 500, with_a_bug_in("get_router", post("/api/providers/alpha/pause", PAUSE_BODY,
                                                              headers=headers())), "a bug"),
    row(PAUSE, "post", 503, with_redis_down(post("/api/providers/alpha/pause", PAUSE_BODY, headers=headers())),
        "Redis down"),

    row(RESUME, "post", 200, post("/api/providers/alpha/resume", headers=headers(OPERATOR_KEY)), "resumed"),
    row(RESUME, "post", 401, post("/api/providers/alpha/resume", headers=headers(key=None)), "no key"),
    row(RESUME, "post", 403, post("/api/providers/alpha/resume", headers=headers(SENDER_KEY)), "no operator role"),
    row(RESUME, "post", 404, post("/api/providers/nobody/resume", headers=headers()), "unknown provider"),
    row(RESUME, "post", 500, with_a_bug_in("get_router", post("/api/providers/alpha/resume", headers=headers())),
        "a bug"),
    row(RESUME, "post", 503, with_redis_down(post("/api/providers/alpha/resume", headers=headers())), "Redis down"),

    # The receipt webhooks: the vendor's signature is the authentication, not an API key.
    row(RECEIPT, "post", 204, post_receipt({"message_id": "m", "status": "delivered"}), "acknowledged"),
    row(RECEIPT, "post", 400, post_receipt({"status": "delivered"}), "signed, but no message_id"),
    row(RECEIPT, "post", 401, post("/webhooks/alpha", b"{}", headers={"Content-Type": JSON}), "unsigned"),
    row(RECEIPT, "post", 403, post_receipt({"message_id": "m", "status": "delivered"}, secret="another-secret"),
        "signed with another secret"),
    row(RECEIPT, "post", 404, post("/webhooks/nobody"), "unknown provider"),
    row(RECEIPT, "post", 409, http_json_receipt_too_early, "answer not recorded yet"),
    row(RECEIPT, "post", 413, post("/webhooks/alpha", b"x" * 70_000, headers={"Content-Type": JSON}),
        "body over the 64 KB cap"),
    row(RECEIPT, "post", 500, with_a_bug_in("get_webhooks", post("/webhooks/alpha")), "a bug"),
    row(RECEIPT, "post", 503, with_a_malformed_setting(post("/webhooks/alpha")), "malformed setting"),

    row(RECEIPT, "get", 204, get_receipt({"messageId": "m", "status": "delivered"}), "acknowledged"),
    row(RECEIPT, "get", 400, get_receipt({"status": "delivered"}), "signed, but no messageId"),
    row(RECEIPT, "get", 401, get("/webhooks/vg?messageId=m&status=delivered"), "unsigned"),
    row(RECEIPT, "get", 403, get_receipt({"messageId": "m", "status": "delivered"}, secret="another"),
        "signed with another secret"),
    row(RECEIPT, "get", 404, get("/webhooks/nobody"), "unknown provider"),
    row(RECEIPT, "get", 405, get("/webhooks/alpha"), "http-json receipts come as POST"),
    row(RECEIPT, "get", 409, vonage_receipt_too_early, "answer not recorded yet"),
    row(RECEIPT, "get", 413, get("/webhooks/vg?" + "&".join(f"p{i}=1" for i in range(150))),
        "more than 100 query parameters"),
    row(RECEIPT, "get", 500, with_a_bug_in("get_webhooks", get("/webhooks/vg")), "a bug"),
    row(RECEIPT, "get", 503, with_a_malformed_setting(get("/webhooks/vg")), "malformed setting"),

    row("/health", "get", 200, get("/health"), "every dependency answers"),
    row("/health", "get", 500, with_a_bug_in("dependency_checks", get("/health")), "a bug"),
    row("/health", "get", 503, with_redis_down(get("/health")), "Redis down"),
    row("/openapi.json", "get", 200, get("/openapi.json"), "the document"),
    row("/docs", "get", 200, get("/docs"), "the page"),
]


@pytest.fixture
def app(gateway, monkeypatch):
    """The app with a client of each role, one with a daily quota of 1, and two providers taking signed receipts:
    alpha (http-json, POST) and vg (vonage, GET)."""
    monkeypatch.setenv("CLIENTS", json.dumps({"clients": {
        "full": {"key_hashes": [key_hash(API_KEY)], "roles": ["send", "operator"]},
        "sender": {"key_hashes": [key_hash(SENDER_KEY)], "roles": ["send"]},
        "operator": {"key_hashes": [key_hash(OPERATOR_KEY)], "roles": ["operator"]},
        "one-a-day": {"key_hashes": [key_hash(ONE_A_DAY_KEY)], "roles": ["send"], "daily_quota": 1},
    }}))
    providers = json.loads(os.environ["SMS_PROVIDERS"])
    providers[0]["webhook_secret"] = WEBHOOK_SECRET
    monkeypatch.setenv("SMS_PROVIDERS", json.dumps([*providers, VONAGE]))
    return gateway


@pytest.fixture(scope="module")
def declared() -> dict[tuple[str, str], set[int]]:
    """{(path, method): the statuses the document declares}."""
    from app import API_VERSION
    from chalicelib.api.openapi import build_openapi

    paths = build_openapi(version=API_VERSION)["paths"]
    return {(path, method): {int(status) for status in operation["responses"]}
            for path, item in paths.items() for method, operation in item.items()}


@pytest.mark.parametrize(("path", "method", "status", "call"), ANSWERS)
def test_every_status_a_route_answers_is_declared_for_it(app, monkeypatch, inject, declared, path, method, status,
                                                         call):
    response = call(app, monkeypatch, inject) if call.__code__.co_argcount == 3 else call(app)

    assert response.status_code == status, response.body  # the row produces what it says
    assert status in declared[(path, method)], f"{method.upper()} {path} answers {status}, not declared"


def test_every_declared_status_has_a_request_that_produces_it(declared):
    exercised: dict[tuple[str, str], set[int]] = {}
    for case in ANSWERS:
        path, method, status, _ = case.values
        exercised.setdefault((path, method), set()).add(status)

    assert exercised == declared
