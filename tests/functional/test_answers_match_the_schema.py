"""Every route's answer is what the OpenAPI document says it is: the body validates against the model the
document names for that route and status (the answers are built from those models, so this catches a route
answering with a shape the document does not list)."""

from __future__ import annotations

import json

import pytest

from chalicelib.api import responses
from tests.functional.conftest import API_KEY

pytestmark = pytest.mark.functional

HEADERS = {"X-Api-Key": API_KEY, "Content-Type": "application/json"}


def documented_model(document: dict, path: str, method: str, status: int):
    response = document["paths"][path][method]["responses"][str(status)]
    ref = response["content"]["application/json"]["schema"]["$ref"]
    return getattr(responses, ref.rsplit("/", 1)[1])


@pytest.fixture
def document(gateway) -> dict:
    return json.loads(gateway.http.get("/openapi.json").body)


def check(document, path, method, response):
    body = json.loads(response.body)
    documented_model(document, path, method, response.status_code).model_validate(body)
    return body


def test_every_route_answers_in_its_documented_shape(gateway, document, sqs_event, queued_bodies):
    accepted = gateway.http.post("/api/sms", headers=HEADERS, body=json.dumps({"phone": "+14155550100", "text": "hi"}))
    assert accepted.status_code == 202
    request_id = check(document, "/api/sms", "post", accepted)["id"]
    gateway.lambda_.invoke("dispatch_sms", sqs_event(*queued_bodies()))

    answers = {
        ("/api/sms/{id}", "get"): gateway.http.get(f"/api/sms/{request_id}", headers=HEADERS),
        ("/api/sms", "get"): gateway.http.get("/api/sms?limit=5", headers=HEADERS),
        ("/api/providers", "get"): gateway.http.get("/api/providers", headers=HEADERS),
        ("/health", "get"): gateway.http.get("/health"),
        ("/api/providers/{name}/pause", "post"): gateway.http.post(
            "/api/providers/beta/pause", headers=HEADERS, body=json.dumps({"reason": "vendor incident"})),
        ("/api/providers/{name}/resume", "post"): gateway.http.post("/api/providers/beta/resume", headers=HEADERS),
    }
    for (path, method), response in answers.items():
        assert response.status_code == 200, (path, response.body)
        check(document, path, method, response)
    shown = json.loads(answers[("/api/sms/{id}", "get")].body)
    assert (shown["status"], len(shown["attempts"])) == ("sent", 1)


@pytest.mark.parametrize(
    ("path", "method", "call"),
    [
        pytest.param("/api/sms", "post", lambda c: c.http.post("/api/sms", headers=HEADERS, body="{"), id="400"),
        pytest.param("/api/sms", "get", lambda c: c.http.get("/api/sms"), id="401"),
        pytest.param("/api/sms/{id}", "get", lambda c: c.http.get("/api/sms/" + "0" * 32, headers=HEADERS),
                     id="404"),
        pytest.param("/api/providers/{name}/pause", "post",
                     lambda c: c.http.post("/api/providers/alpha/pause", headers=HEADERS, body="{}"), id="422"),
        pytest.param("/api/providers/{name}/resume", "post",
                     lambda c: c.http.post("/api/providers/nobody/resume", headers=HEADERS), id="404-provider"),
    ],
)
def test_every_refusal_answers_in_the_documented_error_shape(gateway, document, path, method, call):
    body = check(document, path, method, call(gateway))
    assert set(body["error"]) == {"code", "message", "field"}
