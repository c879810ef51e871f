"""An operator takes a provider out of rotation (POST /api/providers/{name}/pause) and puts it back (/resume),
through chalice.test.Client: the roles, the refusals naming their field, and the dispatches that follow."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.clients import key_hash
from tests.functional.conftest import API_KEY

pytestmark = pytest.mark.functional

OPERATOR_KEY = "operator-only-key-" + "o" * 22
SENDER_KEY = "sender-only-key-" + "s" * 24
PAUSE, RESUME = "/api/providers/{}/pause", "/api/providers/{}/resume"


def headers(key: str | None = OPERATOR_KEY) -> dict[str, str]:
    return {"Content-Type": "application/json", **({"X-Api-Key": key} if key else {})}


def body_of(response) -> dict:
    return json.loads(response.body)


def pause(app, name: str, body, key: str | None = OPERATOR_KEY):
    raw = body if isinstance(body, str) else json.dumps(body)
    return app.http.post(PAUSE.format(name), headers=headers(key), body=raw)


def resume(app, name: str, key: str | None = OPERATOR_KEY):
    return app.http.post(RESUME.format(name), headers=headers(key))


def providers(app) -> dict[str, dict]:
    response = app.http.get("/api/providers", headers=headers())
    assert response.status_code == 200
    return {provider["name"]: provider for provider in body_of(response)["providers"]}


def in_hours(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def send_and_dispatch(app, sqs_event, queued_bodies, count: int) -> None:
    for _ in range(count):
        response = app.http.post("/api/sms", headers=headers(API_KEY),
                                 body=json.dumps({"phone": "+14155550100", "text": "hello"}))
        assert response.status_code == 202, response.body
    assert app.lambda_.invoke("dispatch_sms", sqs_event(*queued_bodies())).payload == {"batchItemFailures": []}


@pytest.fixture
def app(gateway, monkeypatch):
    monkeypatch.setenv("CLIENTS", json.dumps({"clients": {
        "full": {"key_hashes": [key_hash(API_KEY)], "roles": ["send", "operator"]},
        "ops": {"key_hashes": [key_hash(OPERATOR_KEY)], "roles": ["operator"]},
        "sender": {"key_hashes": [key_hash(SENDER_KEY)], "roles": ["send"]},
    }}))
    return gateway


def test_a_paused_provider_gets_nothing_until_resumed(app, gateway_env, sqs_event, queued_bodies):
    response = pause(app, "beta", {"reason": "vendor incident INC-1234"})
    assert response.status_code == 200, response.body
    state = body_of(response)
    assert (state["name"], state["healthy"]) == ("beta", True)
    paused = state["paused"]
    assert (paused["reason"], paused["by"], paused["until"]) == ("vendor incident INC-1234", "ops", None)
    assert paused["at"].endswith("Z")
    assert providers(app)["beta"]["paused"] == paused
    assert providers(app)["alpha"]["paused"] is None

    send_and_dispatch(app, sqs_event, queued_bodies, 6)
    assert (len(gateway_env["alpha"].sent()), len(gateway_env["beta"].sent()), len(gateway_env["gamma"].sent())) == (
        3, 0, 3)

    response = resume(app, "beta")
    assert response.status_code == 200, response.body
    assert body_of(response)["paused"] is None
    send_and_dispatch(app, sqs_event, queued_bodies, 6)
    assert len(gateway_env["beta"].sent()) > 0


def test_pausing_again_replaces_the_reason_and_until(app):
    pause(app, "alpha", {"reason": "first"})
    until = in_hours(2)
    response = pause(app, "alpha", {"reason": "second", "until": until})
    assert response.status_code == 200, response.body
    paused = body_of(response)["paused"]
    assert paused["reason"] == "second"
    assert abs(datetime.fromisoformat(paused["until"]) - datetime.fromisoformat(until)) < timedelta(seconds=1)
    assert providers(app)["alpha"]["paused"] == paused


def test_resuming_a_provider_in_rotation_is_fine(app):
    response = resume(app, "gamma")
    assert response.status_code == 200
    assert body_of(response)["paused"] is None


@pytest.mark.parametrize("call", [lambda app, key: pause(app, "alpha", {"reason": "r"}, key),
                                  lambda app, key: resume(app, "alpha", key)], ids=["pause", "resume"])
def test_only_an_operator_pauses_or_resumes(app, call):
    assert call(app, None).status_code == 401
    assert call(app, "not-a-key").status_code == 401
    refused = call(app, SENDER_KEY)
    assert refused.status_code == 403
    assert body_of(refused)["error"]["code"] == "forbidden"
    answered = call(app, API_KEY)  # a key with both roles
    assert (answered.status_code, body_of(answered)["name"]) == (200, "alpha")


@pytest.mark.parametrize("call", [lambda app: pause(app, "zeta", {"reason": "r"}), lambda app: resume(app, "zeta")],
                         ids=["pause", "resume"])
def test_an_unknown_provider_is_404(app, call):
    response = call(app)
    assert response.status_code == 404
    error = body_of(response)["error"]
    assert (error["code"], error["field"]) == ("provider_not_found", "name")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        pytest.param({}, 422, "reason", id="no-reason"),
        pytest.param("", 422, "reason", id="no-body"),
        pytest.param({"reason": "  "}, 422, "reason", id="blank-reason"),
        pytest.param({"reason": "x" * 201}, 422, "reason", id="reason-too-long"),
        pytest.param({"reason": "a\nb"}, 422, "reason", id="control-character"),
        pytest.param({"reason": 7}, 422, "reason", id="reason-not-text"),
        pytest.param({"reason": "r", "until": "2026-12-08T03:00:00"}, 422, "until", id="until-without-offset"),
        pytest.param({"reason": "r", "until": "tomorrow"}, 422, "until", id="until-not-iso"),
        pytest.param({"reason": "r", "until": 1_800_000_000}, 422, "until", id="until-a-number"),
        pytest.param({"reason": "r", "until": "2020-01-01T00:00:00Z"}, 422, "until", id="until-past"),
        pytest.param({"reason": "r", "until": "9999-12-31T23:59:59-23:00"}, 422, "until", id="until-off-calendar"),
        pytest.param({"reason": "r", "until": "\u00e9"}, 422, "until", id="until-not-ascii"),
        pytest.param({"reason": "r", "by": "me"}, 400, "by", id="unknown-field"),
        pytest.param("{", 400, "body", id="not-json"),
    ],
)
def test_a_refused_pause_names_its_field(app, body, status, field):
    response = pause(app, "alpha", body)
    assert response.status_code == status, response.body
    assert body_of(response)["error"]["field"] == field
    assert providers(app)["alpha"]["paused"] is None


def test_until_more_than_7_days_ahead_is_refused(app):
    response = pause(app, "alpha", {"reason": "r", "until": in_hours(7 * 24 + 1)})
    assert response.status_code == 422
    assert body_of(response)["error"]["field"] == "until"
    assert pause(app, "alpha", {"reason": "r", "until": in_hours(7 * 24 - 1)}).status_code == 200


def test_pause_and_resume_are_logged_with_who_and_why(app, log_output):
    pause(app, "alpha", {"reason": "vendor incident"})
    resume(app, "alpha")
    records = [json.loads(line) for line in log_output.getvalue().splitlines() if line.strip()]
    paused = next(record for record in records if record["message"] == "provider paused")
    resumed = next(record for record in records if record["message"] == "provider resumed")
    assert (paused["level"], paused["provider"], paused["by"], paused["reason"]) == (
        "WARNING", "alpha", "ops", "vendor incident")
    assert (resumed["level"], resumed["provider"], resumed["by"]) == ("WARNING", "alpha", "ops")
    assert OPERATOR_KEY not in log_output.getvalue()
