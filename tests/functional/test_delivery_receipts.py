"""Delivery receipts through the app (chalice.test.Client, moto, real simulators): each vendor's signed webhook
moves a sent request to delivered or undelivered once; a bad, missing or replayed signature is refused and
changes nothing; GET /api/sms/{id} shows the timeline."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from chalicelib.vendors import http_json
from chalicelib.vendors.twilio import receipts as twilio
from chalicelib.vendors.vonage.adapter import signature as vonage_signature
from tests.functional.conftest import API_KEY

pytestmark = pytest.mark.functional

ACCOUNT_SID = "AC" + "8" * 32
TWILIO = {"account_sid": ACCOUNT_SID, "auth_token": "tw-receipts-token"}
VONAGE = {"api_key": "vgkey001", "signature_secret": "vg-signature-secret", "signature_method": "sha256"}
WEBHOOK_SECRET = "alpha-webhook-secret"
TWILIO_WEBHOOK_URL = "https://sms.example.com/prod/webhooks/tw"


@pytest.fixture
def providers(gateway, simulators, monkeypatch):
    """alpha (http-json), tw (twilio) and vg (vonage), each with what its receipts are checked with."""
    sims = {"alpha": simulators("alpha"),
            "tw": simulators("tw", kind="twilio", credentials=TWILIO),
            "vg": simulators("vg", kind="vonage", credentials=VONAGE)}
    entries = {
        "alpha": {"name": "alpha", "url": sims["alpha"].url, "timeout_s": 1, "webhook_secret": WEBHOOK_SECRET},
        "tw": {"name": "tw", "kind": "twilio", "account_sid": ACCOUNT_SID, "from": "+15005550006", "timeout_s": 1,
               "auth_token": TWILIO["auth_token"], "base_url": sims["tw"].url, "webhook_url": TWILIO_WEBHOOK_URL},
        "vg": {"name": "vg", "kind": "vonage", "api_key": VONAGE["api_key"], "from": "Gateway", "timeout_s": 1,
               "signature_secret": VONAGE["signature_secret"], "signature_method": "sha256",
               "base_url": sims["vg"].url},
    }

    def use(*names: str) -> None:
        monkeypatch.setenv("SMS_PROVIDERS", json.dumps([entries[name] for name in names]))

    use("alpha", "tw", "vg")
    use.sims = sims
    return use


@pytest.fixture
def sent_via(gateway, providers, sqs_event, queued_bodies):
    """sent_via(name) -> (request id, the vendor's message id) of a request that provider accepted."""

    def send(name: str) -> tuple[str, str]:
        providers(name)
        response = gateway.http.post("/api/sms", headers={"X-Api-Key": API_KEY, "Content-Type": "application/json"},
                                     body=json.dumps({"phone": "+14155550100", "text": "hello"}))
        request_id = json.loads(response.body)["id"]
        gateway.lambda_.invoke("dispatch_sms", sqs_event(*queued_bodies()))
        request = view(gateway, request_id)
        assert (request["status"], request["provider_used"]) == ("sent", name), request
        providers("alpha", "tw", "vg")
        return request_id, request["provider_message_id"]

    return send


def view(gateway, request_id: str) -> dict:
    return json.loads(gateway.http.get(f"/api/sms/{request_id}", headers={"X-Api-Key": API_KEY}).body)


def post_http_json(gateway, receipt: dict, *, secret=WEBHOOK_SECRET, timestamp=None, header=None):
    body = json.dumps(receipt).encode()
    header = header if header is not None else http_json.signature_header(body, secret, timestamp or int(time.time()))
    headers = {"Content-Type": "application/json", **({"X-Signature": header} if header else {})}
    return gateway.http.post("/webhooks/alpha", headers=headers, body=body)


def post_twilio(gateway, params: list[tuple[str, str]], *, url=TWILIO_WEBHOOK_URL, token=TWILIO["auth_token"],
                query: str = ""):
    """As Twilio posts a status callback: to webhook_url (+ the ?ref= the adapter added), signed over that URL."""
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Twilio-Signature": twilio.signature(url + query, params, token)}
    return gateway.http.post("/webhooks/tw" + query, body=urlencode(params), headers=headers)


def signed_vonage(params: dict, secret=VONAGE["signature_secret"], timestamp=None) -> dict:
    params = {**params, "timestamp": str(timestamp or int(time.time()))}
    return {**params, "sig": vonage_signature(params, secret, "sha256")}


def test_http_json_delivered_receipt_moves_the_request_and_the_timeline_shows_it(gateway, sent_via):
    request_id, message_id = sent_via("alpha")
    answer = post_http_json(gateway, {"message_id": message_id, "status": "delivered"})
    assert answer.status_code == 204, answer.body
    request = view(gateway, request_id)
    assert request["status"] == "delivered" and request["delivered_at"]
    assert [event["event"] for event in request["timeline"]] == ["accepted", "attempt", "sent", "delivered"]
    assert request["timeline"][-1]["provider"] == "alpha"
    assert [e["at"] for e in request["timeline"][:-1]] == sorted(e["at"] for e in request["timeline"][:-1])


def test_a_duplicate_and_a_late_receipt_change_nothing(gateway, sent_via):
    request_id, message_id = sent_via("alpha")
    post_http_json(gateway, {"message_id": message_id, "status": "undelivered", "reason": "blocked",
                             "error_code": "B7"})
    before = view(gateway, request_id)
    for late in ({"status": "undelivered", "reason": "blocked"}, {"status": "delivered"}, {"status": "sent"}):
        assert post_http_json(gateway, {"message_id": message_id, **late}).status_code == 204
    after = view(gateway, request_id)
    assert after == before
    assert (after["status"], after["delivery_reason"], after["delivery_error_code"]) == ("undelivered", "blocked", "B7")


@pytest.mark.parametrize(("kwargs", "status"), [
    pytest.param({"header": ""}, 401, id="missing"),
    pytest.param({"secret": "not-the-secret"}, 403, id="wrong-secret"),
    pytest.param({"timestamp": int(time.time()) - 600}, 403, id="replayed"),
    pytest.param({"header": "t=1,v1=zz"}, 403, id="garbage"),
])
def test_a_badly_signed_receipt_is_refused_and_changes_nothing(gateway, sent_via, kwargs, status):
    request_id, message_id = sent_via("alpha")
    answer = post_http_json(gateway, {"message_id": message_id, "status": "delivered"}, **kwargs)
    assert answer.status_code == status
    assert json.loads(answer.body)["error"]["code"] in ("signature_missing", "signature_invalid")
    assert view(gateway, request_id)["status"] == "sent"


def test_a_well_signed_receipt_for_an_unknown_message_is_acknowledged(gateway, providers):
    assert post_http_json(gateway, {"message_id": "never-sent", "status": "delivered"}).status_code == 204


def test_a_receipt_before_the_answer_is_recorded_is_asked_for_again(gateway, providers):
    from chalicelib import wiring
    response = gateway.http.post("/api/sms", headers={"X-Api-Key": API_KEY, "Content-Type": "application/json"},
                                 body=json.dumps({"phone": "+14155550100", "text": "hello"}))
    request_id = json.loads(response.body)["id"]
    wiring.get_claims().claim(request_id, 1, "alpha")  # the provider answered; nothing recorded yet
    answer = post_http_json(gateway, {"message_id": "m-early", "status": "delivered", "reference": request_id})
    assert answer.status_code == 409 and answer.headers.get("Retry-After")
    assert view(gateway, request_id)["status"] == "processing"


@pytest.mark.parametrize("with_ref", [True, False], ids=["callback-names-the-request", "found-by-message-id"])
def test_twilio_undelivered_callback_is_recorded_with_its_code_and_reason(gateway, sent_via, with_ref):
    request_id, sid = sent_via("tw")
    params = [("MessageSid", sid), ("MessageStatus", "undelivered"), ("ErrorCode", "30003"),
              ("AccountSid", ACCOUNT_SID), ("ApiVersion", "2010-04-01")]
    assert post_twilio(gateway, params, query=f"?ref={request_id}" if with_ref else "").status_code == 204
    request = view(gateway, request_id)
    assert (request["status"], request["delivery_reason"], request["delivery_error_code"]) == (
        "undelivered", "unreachable", "30003")
    assert request["timeline"][-1] == {"event": "undelivered", "at": request["delivered_at"], "provider": "tw",
                                       "detail": "unreachable (30003)"}


@pytest.mark.parametrize("kwargs", [
    pytest.param({"url": "https://sms.example.com/dev/webhooks/tw"}, id="signed-for-another-url"),
    pytest.param({"token": "another-token"}, id="another-token"),
])
def test_twilio_callback_signed_for_another_url_or_token_is_refused(gateway, providers, sent_via, kwargs):
    request_id, sid = sent_via("tw")
    assert post_twilio(gateway, [("MessageSid", sid), ("MessageStatus", "delivered")], **kwargs).status_code == 403
    # the status callback the adapter asked Twilio for names the request and the public URL
    assert providers.sims["tw"].sent()[-1]["fields"]["StatusCallback"] == f"{TWILIO_WEBHOOK_URL}?ref={request_id}"
    assert view(gateway, request_id)["status"] == "sent"


def test_twilio_interim_statuses_are_acknowledged_and_change_nothing(gateway, sent_via):
    request_id, sid = sent_via("tw")
    for status in ("queued", "sending", "sent"):
        assert post_twilio(gateway, [("MessageSid", sid), ("MessageStatus", status)]).status_code == 204
    assert view(gateway, request_id)["status"] == "sent"


@pytest.mark.parametrize("method", ["GET", "POST-form", "POST-json"])
def test_vonage_dlr_arrives_by_get_form_or_json(gateway, sent_via, method):
    request_id, message_id = sent_via("vg")
    params = signed_vonage({"msisdn": "14155550100", "to": "Gateway", "messageId": message_id, "status": "delivered",
                            "err-code": "0", "client-ref": request_id, "message-timestamp": "2026-01-02 03:04:05"})
    if method == "GET":
        answer = gateway.http.get("/webhooks/vg?" + urlencode(params))
    elif method == "POST-form":
        answer = gateway.http.post("/webhooks/vg", body=urlencode(params),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    else:
        answer = gateway.http.post("/webhooks/vg", body=json.dumps(params),
                                   headers={"Content-Type": "application/json"})
    assert answer.status_code == 204, answer.body
    request = view(gateway, request_id)
    assert (request["status"], request["delivered_at"]) == ("delivered", "2026-01-02T03:04:05.000Z")


@pytest.mark.parametrize(("change", "status"), [
    pytest.param(lambda p: {k: v for k, v in p.items() if k != "sig"}, 401, id="unsigned"),
    pytest.param(lambda p: {**p, "status": "failed"}, 403, id="tampered"),
    pytest.param(lambda p: signed_vonage({k: v for k, v in p.items() if k not in ("sig", "timestamp")},
                                         timestamp=int(time.time()) - 600), 403, id="replayed"),
])
def test_vonage_dlr_unsigned_tampered_or_replayed_is_refused(gateway, sent_via, change, status):
    request_id, message_id = sent_via("vg")
    params = change(signed_vonage({"messageId": message_id, "status": "delivered", "err-code": "0"}))
    assert gateway.http.get("/webhooks/vg?" + urlencode(params)).status_code == status
    assert view(gateway, request_id)["status"] == "sent"


@pytest.mark.parametrize(("path", "method", "status"), [
    pytest.param("/webhooks/nobody", "POST", 404, id="unknown-provider"),
    pytest.param("/webhooks/tw", "GET", 405, id="twilio-by-get"),
])
def test_webhook_for_an_unknown_provider_or_method_is_refused(gateway, providers, path, method, status):
    answer = getattr(gateway.http, method.lower())(path, **({"body": b""} if method == "POST" else {}))
    assert answer.status_code == status
    if status == 405:  # says which method this provider's receipts come by
        assert answer.headers["Allow"] == "POST"
        assert json.loads(answer.body)["error"]["message"] == "twilio receipts come as POST"


def test_receipts_need_no_api_key_but_the_api_still_does(gateway, sent_via):
    request_id, message_id = sent_via("alpha")
    assert post_http_json(gateway, {"message_id": message_id, "status": "delivered"}).status_code == 204
    assert gateway.http.get(f"/api/sms/{request_id}").status_code == 401


def test_a_refused_receipt_is_one_warning_line_the_metric_filter_counts_without_the_secret(gateway, sent_via,
                                                                                             log_output):
    _, message_id = sent_via("alpha")
    post_http_json(gateway, {"message_id": message_id, "status": "delivered"}, secret="guessed-secret")
    records = [json.loads(line) for line in log_output.getvalue().splitlines() if line.strip()]
    refused = [r for r in records if r["message"] == "receipt refused"]
    # infra/resources.json ReceiptsRefusedMetricFilter: { $.message = "receipt refused" }, dimension $.provider
    assert [(r["level"], r["provider"], r["code"]) for r in refused] == [("WARNING", "alpha", "signature_invalid")]
    assert WEBHOOK_SECRET not in log_output.getvalue() and "guessed-secret" not in log_output.getvalue()
