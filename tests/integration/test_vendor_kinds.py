"""The local stack as `make run` starts it by default: one simulator of each kind (twilio, vonage, aws,
http-json), each speaking its vendor's wire format and checking its vendor's auth with credentials the stack
made up for this run. A request of each kind ends `sent` through its own simulator."""

from __future__ import annotations

from collections import Counter

import pytest

from localdev.stack_settings import StackSettings

pytestmark = pytest.mark.integration

# The path each kind's sends arrive on (docs/providers.md).
SEND_PATHS = {"twilio": r"/2010-04-01/Accounts/AC", "vonage": "/sms/json", "aws": "/", "http-json": "/send"}


@pytest.fixture(scope="module")
def stack_env():
    return {"SIM_KINDS": StackSettings.model_fields["sim_kinds"].default}  # make run's default mix


def test_make_runs_default_providers_are_one_of_each_kind(stack):
    kinds = {provider["name"]: provider["kind"] for provider in stack.state["providers"]}
    assert kinds == {"twilio": "twilio", "vonage": "vonage", "aws": "aws", "http": "http-json"}


def test_a_request_of_each_kind_ends_sent_through_its_own_simulator(fresh_stack):
    texts = [f"one of each kind {i} ✓" for i in range(8)]  # equal weights: two rounds of the four providers
    ids = [fresh_stack.send("+14155550100", text) for text in texts]

    views = fresh_stack.wait_terminal(ids, timeout_s=60)

    assert Counter(view["status"] for view in views.values()) == {"sent": len(ids)}
    kind_of = {provider["name"]: provider["kind"] for provider in fresh_stack.state["providers"]}
    assert set(Counter(view["provider_used"] for view in views.values())) == set(kind_of)
    for name, kind in kind_of.items():
        sent = {entry["message_id"]: entry for entry in fresh_stack.sent(name)}
        used_here = [view for view in views.values() if view["provider_used"] == name]
        # GET /api/sms/{id} shows the vendor's own message id, and the vendor got the text intact.
        assert {view["provider_message_id"] for view in used_here} == set(sent)
        assert {entry["text"] for entry in sent.values()} <= set(texts)
        arrivals = fresh_stack.arrivals(name)
        assert {(a["kind"], a["auth"]) for a in arrivals} == {(kind, "ok")}
        assert all(a["path"].startswith(SEND_PATHS[kind]) for a in arrivals)
