"""A provider whose account will not send a message (Twilio 21408: the destination's region is not enabled in its
Messaging Geo Permissions) is refused "here", not everywhere: the message goes on at once to the other provider,
on the real local stack (the twilio simulator speaking Twilio's error format, the http-json one accepting), and
the refusing provider's health is untouched (docs/providers.md#what-every-answer-becomes)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack_env():
    return {"SIM_KINDS": "twilio,http-json"}  # providers "twilio" and "http", equal weights


def provider(stack, name: str) -> dict:
    return next(p for p in stack.http.get("/api/providers").json()["providers"] if p["name"] == name)


def test_a_provider_refusing_here_hands_the_message_to_the_next_at_once_and_stays_healthy(fresh_stack):
    fresh_stack.configure("twilio", mode="error", error_code="21408")
    ids = [fresh_stack.send(text=f"refused here {i}") for i in range(6)]

    views = fresh_stack.wait_terminal(ids, timeout_s=60)

    assert {view["status"] for view in views.values()} == {"sent"}
    assert {view["provider_used"] for view in views.values()} == {"http"}
    refused_first = [view for view in views.values() if view["attempts"][0]["provider"] == "twilio"]
    assert refused_first, "round-robin sends about half of them to twilio first"
    for view in refused_first:
        # Not a retry: no backoff, no retry counted, and twilio is not asked again.
        assert [(a["provider"], a["outcome"]) for a in view["attempts"]] == [("twilio", "refused_here"),
                                                                             ("http", "accepted")]
        assert view["attempts"][0]["error"].startswith("twilio 21408:")
        assert (view["retries"], view["failure_reason"]) == (0, None)
    assert len(fresh_stack.arrivals("twilio")) == len(refused_first)
    twilio = provider(fresh_stack, "twilio")
    assert (twilio["healthy"], twilio["failures"], twilio["successes"]) == (True, 0, 0)

