"""A request through the whole local stack: API -> DynamoDB + SQS -> queue emulation -> dispatcher ->
provider simulator over HTTP -> records."""

from __future__ import annotations

import time

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_accepted_sms_reaches_one_provider_once_with_the_contract_headers(fresh_stack):
    request_id = fresh_stack.send("+14155550100", "hello from the integration tier")

    view = fresh_stack.wait_terminal([request_id], timeout_s=30)[request_id]

    assert view["status"] == "sent"
    arrivals = [a for name in fresh_stack.simulators for a in fresh_stack.arrivals(name)]
    assert [a["reference"] for a in arrivals] == [request_id]
    assert arrivals[0]["idempotency_key"] == f"{request_id}-1"
    assert view["provider_used"] in fresh_stack.simulators
    assert [(a["attempt"], a["provider"], a["status_code"], a["outcome"]) for a in view["attempts"]] == [
        (1, view["provider_used"], 200, "accepted")
    ]
    assert view["provider_message_id"].startswith(view["provider_used"])


def test_health_reports_every_dependency(stack):
    response = httpx.get(f"{stack.state['api_url']}/health", timeout=10)

    assert response.status_code == 200
    assert response.json()["checks"] == {"redis": "ok", "dynamodb": "ok", "sqs": "ok"}


@pytest.mark.parametrize(
    ("body", "headers", "status", "field"),
    [
        pytest.param(b"{not json", {"Content-Type": "application/json"}, 400, "body", id="not-json"),
        pytest.param(b'{"phone": "+14155550100", "text": "hi", "x": 1}', {"Content-Type": "application/json"},
                     400, "x", id="unknown-field"),
        pytest.param(b'{"phone": "12", "text": "hi"}', {"Content-Type": "application/json"}, 400, "phone",
                     id="invalid-phone"),
        pytest.param(b'{"phone": "+14155550100", "text": "   "}', {"Content-Type": "application/json"}, 400,
                     "text", id="empty-text"),
        pytest.param(b'{"phone": "+14155550100", "text": "hi"}', {"Content-Type": "application/json",
                                                                    "X-Api-Key": "wrong"}, 401, "X-Api-Key",
                     id="wrong-key"),
    ],
)
def test_bad_input_gets_a_json_4xx_naming_the_field(stack, body, headers, status, field):
    response = stack.http.post("/api/sms", content=body, headers=headers)

    assert response.status_code == status
    assert response.json()["error"]["field"] == field


def test_providers_endpoint_shows_live_health(fresh_stack):
    request_id = fresh_stack.send()
    fresh_stack.wait_terminal([request_id], timeout_s=30)

    providers = fresh_stack.http.get("/api/providers").json()["providers"]

    assert {p["name"] for p in providers} == set(fresh_stack.simulators)
    assert sum(p["successes"] for p in providers) == 1
    assert all(p["healthy"] for p in providers)


def test_concurrent_posts_with_one_idempotency_key_make_one_request_and_one_send(fresh_stack):
    from concurrent.futures import ThreadPoolExecutor

    def post(_):
        # A call that finds the first one still storing its request is told to retry (409 + Retry-After).
        for _ in range(5):
            response = fresh_stack.http.post("/api/sms", json={"phone": "+14155550123", "text": "once only"},
                                             headers={"Idempotency-Key": "order-42-confirmation"})
            if response.status_code != 409:
                return response
            assert response.json()["error"]["code"] == "idempotency_key_in_flight"
            time.sleep(int(response.headers["Retry-After"]))
        return response

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(post, range(8)))

    assert {r.status_code for r in responses} == {202}
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    request_id = ids.pop()
    assert fresh_stack.wait_terminal([request_id], timeout_s=30)[request_id]["status"] == "sent"
    sends = [s for name in fresh_stack.simulators for s in fresh_stack.sent(name)]
    assert [s["reference"] for s in sends] == [request_id]

    reused = fresh_stack.http.post("/api/sms", json={"phone": "+14155550123", "text": "another body"},
                                   headers={"Idempotency-Key": "order-42-confirmation"})
    assert reused.status_code == 409
    assert reused.json()["error"]["field"] == "Idempotency-Key"


def test_list_filters_by_status_and_provider_newest_first(fresh_stack):
    ids = [fresh_stack.send(text=f"listed {i}") for i in range(5)]
    views = fresh_stack.wait_terminal(ids, timeout_s=30)
    provider = views[ids[0]]["provider_used"]

    by_status = fresh_stack.http.get("/api/sms", params={"status": "sent", "limit": 100}).json()["items"]
    by_provider = fresh_stack.http.get("/api/sms", params={"provider": provider, "limit": 100}).json()["items"]

    listed = [item["id"] for item in by_status]
    assert set(ids) <= set(listed)
    created = [item["created_at"] for item in by_status]
    assert created == sorted(created, reverse=True)
    assert ids[0] in [item["id"] for item in by_provider]
    assert {item["provider_used"] for item in by_provider} == {provider}
