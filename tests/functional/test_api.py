"""The HTTP API through chalice.test.Client: statuses, bodies and headers a client sees."""

from __future__ import annotations

import json

import pytest

from tests.functional.conftest import API_KEY

pytestmark = pytest.mark.functional

JSON = {"Content-Type": "application/json", "X-Api-Key": API_KEY}


def post_sms(client, body, headers=None):
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.http.post("/api/sms", headers={**JSON, **(headers or {})}, body=raw)


def body_of(response) -> dict:
    return json.loads(response.body)


def assert_error(response, status, field=None):
    assert response.status_code == status, response.body
    error = body_of(response)["error"]
    assert set(error) == {"code", "message", "field"}
    assert error["code"] and error["message"]
    if field is not None:
        assert error["field"] == field
    return error


def dispatch_all(gateway, sqs_event, queued_bodies) -> dict:
    return gateway.lambda_.invoke("dispatch_sms", sqs_event(*queued_bodies())).payload


def test_send_is_accepted_as_pending(gateway, queued_bodies):
    response = post_sms(gateway, {"phone": "+14155550100", "text": "hello"})
    assert response.status_code == 202
    body = body_of(response)
    assert (body["status"], body["phone"], body["encoding"], body["segments"]) == ("pending", "+14155550100",
                                                                                  "GSM-7", 1)
    assert len(body["id"]) == 32
    [queued] = queued_bodies()
    assert json.loads(queued)["id"] == body["id"]


def test_sent_request_shows_its_status_and_attempt(gateway, gateway_env, sqs_event, queued_bodies):
    request_id = body_of(post_sms(gateway, {"phone": "+14155550100", "text": "hello"}))["id"]
    assert dispatch_all(gateway, sqs_event, queued_bodies) == {"batchItemFailures": []}
    response = gateway.http.get(f"/api/sms/{request_id}", headers={"X-Api-Key": API_KEY})
    assert response.status_code == 200
    view = body_of(response)
    assert view["status"] == "sent"
    assert view["provider_used"] in gateway_env
    [attempt] = view["attempts"]
    assert (attempt["attempt"], attempt["provider"], attempt["status_code"], attempt["outcome"]) == (
        1, view["provider_used"], 200, "accepted")
    assert attempt["latency_ms"] >= 0 and attempt["at"]
    [sent] = gateway_env[view["provider_used"]].sent()
    assert view["provider_message_id"] == sent["message_id"]
    assert "text" not in view  # the message text is never served back


def test_sent_request_is_listed_by_status(gateway, sqs_event, queued_bodies):
    request_id = body_of(post_sms(gateway, {"phone": "+14155550100", "text": "hello"}))["id"]
    pending_id = None
    dispatch_all(gateway, sqs_event, queued_bodies)
    pending_id = body_of(post_sms(gateway, {"phone": "+14155550101", "text": "later"}))["id"]
    sent = body_of(gateway.http.get("/api/sms?status=sent", headers={"X-Api-Key": API_KEY}))
    assert [item["id"] for item in sent["items"]] == [request_id]
    assert sent["next_cursor"] is None
    everything = body_of(gateway.http.get("/api/sms?limit=1", headers={"X-Api-Key": API_KEY}))
    assert [item["id"] for item in everything["items"]] == [pending_id]
    assert everything["next_cursor"]
    rest = body_of(gateway.http.get(f"/api/sms?limit=1&cursor={everything['next_cursor']}",
                                    headers={"X-Api-Key": API_KEY}))
    assert [item["id"] for item in rest["items"]] == [request_id]


def test_same_idempotency_key_returns_the_same_request(gateway, queued_bodies):
    headers = {"Idempotency-Key": "order-42"}
    first = post_sms(gateway, {"phone": "+14155550100", "text": "hello"}, headers)
    again = post_sms(gateway, {"phone": "+14155550100", "text": "hello"}, headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert body_of(first)["id"] == body_of(again)["id"]
    assert len(queued_bodies()) == 1
    other = post_sms(gateway, {"phone": "+14155550100", "text": "something else"}, headers)
    assert_error(other, 409, "Idempotency-Key")


def test_unknown_id_is_404(gateway):
    assert_error(gateway.http.get("/api/sms/" + "0" * 32, headers={"X-Api-Key": API_KEY}), 404, "id")


def test_malformed_id_is_400(gateway):
    assert_error(gateway.http.get("/api/sms/not-an-id", headers={"X-Api-Key": API_KEY}), 400, "id")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("post", "/api/sms", id="send"),
        pytest.param("get", "/api/sms", id="list"),
        pytest.param("get", "/api/sms/" + "0" * 32, id="get"),
        pytest.param("get", "/api/providers", id="providers"),
    ],
)
@pytest.mark.parametrize("key", [pytest.param(None, id="missing-key"), pytest.param("wrong", id="wrong-key")])
def test_api_refuses_without_a_valid_key(gateway, queued_bodies, method, path, key):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["X-Api-Key"] = key
    call = getattr(gateway.http, method)
    kwargs = {"body": json.dumps({"phone": "+14155550100", "text": "hi"})} if method == "post" else {}
    assert_error(call(path, headers=headers, **kwargs), 401, "X-Api-Key")
    assert queued_bodies() == []


@pytest.mark.parametrize(
    ("body", "headers", "status", "field"),
    [
        pytest.param("{not json", {}, 400, None, id="not-json"),
        pytest.param({"phone": "+14155550100", "text": "hi", "extra": 1}, {}, 400, "extra", id="unknown-field"),
        pytest.param({"phone": "12", "text": "hi"}, {}, 400, "phone", id="invalid-phone"),
        pytest.param({"phone": "+14155550100", "text": ""}, {}, 400, "text", id="empty-text"),
        pytest.param({"phone": "+14155550100"}, {}, 400, "text", id="missing-text"),
        pytest.param({"phone": 14155550100, "text": "hi"}, {}, 400, "phone", id="phone-not-a-string"),
        pytest.param([1, 2], {}, 400, None, id="not-an-object"),
        pytest.param({"phone": "+14155550100", "text": "x" * 2000}, {}, 422, "text", id="too-many-segments"),
        pytest.param({"phone": "+14155550100", "text": "hi"}, {"Content-Type": "text/plain"}, 415, None,
                     id="wrong-content-type"),
        pytest.param("x" * 20_000, {}, 413, None, id="too-large"),
    ],
)
def test_bad_input_is_a_4xx_json_error_naming_the_field(gateway, queued_bodies, body, headers, status, field):
    assert_error(post_sms(gateway, body, headers), status, field)
    assert queued_bodies() == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        pytest.param("status=bogus", "status", id="unknown-status"),
        pytest.param("provider=nobody", "provider", id="unknown-provider"),
        pytest.param("limit=0", "limit", id="limit-zero"),
        pytest.param("since=yesterday", "since", id="bad-since"),
        pytest.param("cursor=eyJwIjoxfQ", "cursor", id="forged-cursor"),
    ],
)
def test_bad_list_query_is_400_naming_the_parameter(gateway, query, field):
    assert_error(gateway.http.get(f"/api/sms?{query}", headers={"X-Api-Key": API_KEY}), 400, field)


def test_providers_show_health_and_limits(gateway):
    response = gateway.http.get("/api/providers", headers={"X-Api-Key": API_KEY})
    assert response.status_code == 200
    providers = body_of(response)["providers"]
    assert [p["name"] for p in providers] == ["alpha", "beta", "gamma"]
    assert set(providers[0]) == {"name", "healthy", "failure_rate", "successes", "failures", "unhealthy_until",
                                 "rate_limit", "weight", "in_use_last_second", "booked_ahead", "jitter_guard_ms",
                                 "effective_rate_limit", "paused"}
    assert all(p["healthy"] and p["rate_limit"] == 50 and p["unhealthy_until"] is None for p in providers)
    # Nothing measured yet: the least jitter guard, the full rate.
    assert all(p["jitter_guard_ms"] == 10 and p["effective_rate_limit"] == 50 for p in providers)


def test_health_is_ok_when_every_dependency_answers(gateway):
    response = gateway.http.get("/health")
    assert response.status_code == 200
    assert body_of(response) == {"status": "ok", "checks": {"redis": "ok", "dynamodb": "ok", "sqs": "ok"}}


# ------------------------------------------------------------------ dependencies down


@pytest.fixture
def sqs_down(monkeypatch, closed_port):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("DISPATCH_QUEUE_URL", f"http://127.0.0.1:{closed_port}/123456789012/sms-dispatch")
    from chalicelib import wiring

    wiring.reset()  # boto3 reads the endpoint when a client is built
    yield
    wiring.reset()


@pytest.fixture
def redis_down(monkeypatch, closed_port):
    from tests.conftest import real_redis_reachable

    if not real_redis_reachable():  # fakeredis stands in (functional/conftest.py)
        pytest.skip("needs the real redis client")
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{closed_port}/0")


@pytest.fixture
def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_queue_down_is_503_with_retry_after_and_nothing_stored(gateway, sqs_down):
    response = post_sms(gateway, {"phone": "+14155550100", "text": "hello"})
    error = assert_error(response, 503)
    assert error["code"] == "dependency_unavailable"
    assert response.headers["Retry-After"] == "1"
    from chalicelib import wiring
    from chalicelib.settings import get_settings

    assert list(wiring.tables_for(get_settings()).requests.scan()) == []


def test_redis_down_is_503_for_providers(gateway, redis_down):
    response = gateway.http.get("/api/providers", headers={"X-Api-Key": API_KEY})
    assert_error(response, 503)
    assert response.headers["Retry-After"] == "1"


def test_health_names_the_failing_dependency(gateway, redis_down):
    response = gateway.http.get("/health")
    assert response.status_code == 503
    body = body_of(response)
    assert body["status"] == "unavailable"
    assert body["checks"]["dynamodb"] == "ok" and body["checks"]["sqs"] == "ok"
    assert body["checks"]["redis"] != "ok"


def test_health_names_sqs_when_the_queue_is_unreachable(gateway, sqs_down):
    response = gateway.http.get("/health")
    assert response.status_code == 503
    assert body_of(response)["checks"]["sqs"].startswith("SQS unavailable: ")
    assert body_of(response)["checks"]["redis"] == "ok"


def test_cors_preflight_is_answered_for_an_allowed_origin_and_refused_otherwise(monkeypatch, gateway):
    monkeypatch.setenv("CORS_ALLOW_ORIGIN", "https://app.example")
    allowed = gateway.http.request("OPTIONS", "/api/sms", headers={"origin": "https://app.example"})
    refused = gateway.http.request("OPTIONS", "/api/sms", headers={"origin": "https://evil.example"})
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
