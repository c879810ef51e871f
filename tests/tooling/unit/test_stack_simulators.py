"""What `make run` starts for providers: SIM_KINDS read into simulators, and for each kind a simulator and an
SMS_PROVIDERS entry that work together (the entry validates, and its adapter gets the SMS accepted)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from chalicelib.providers import Outcome, OutgoingSms, deadline_client
from chalicelib.settings import get_settings
from chalicelib.vendors import build_providers
from localdev.provider_simulator import ProviderSimulator, SimulatorConfig
from localdev.simulators import WIRE_FORMATS
from localdev.stack_settings import HTTP_JSON_TRIO, StackSettings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("env", "simulators", "weights"),
    [
        pytest.param({}, [("twilio", "twilio"), ("vonage", "vonage"), ("aws", "aws"), ("http", "http-json")],
                     [1, 1, 1, 1], id="default-one-of-each-kind"),
        pytest.param({"SIM_KINDS": HTTP_JSON_TRIO, "SIM_WEIGHTS": "5,3,2"},
                     [("alpha", "http-json"), ("beta", "http-json"), ("gamma", "http-json")], [5, 3, 2],
                     id="the-routing-trio"),
        pytest.param({"SIM_KINDS": "twilio,twilio,eu=vonage"}, [("twilio", "twilio"), ("twilio-2", "twilio"),
                                                               ("eu", "vonage")], [1, 1, 1], id="repeats-and-names"),
    ],
)
def test_sim_kinds_names_the_simulators(env, simulators, weights):
    settings = StackSettings.from_env(env)
    assert (settings.simulators, settings.weights) == (simulators, weights)


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        pytest.param({"SIM_KINDS": "twilio,sinch"}, "unknown kind 'sinch'", id="unknown-kind"),
        pytest.param({"SIM_KINDS": "a=twilio,a=vonage"}, "names a simulator twice", id="same-name"),
        pytest.param({"SIM_WEIGHTS": "1,1,1"}, "3 weights for 4 simulators", id="weights-count"),
        pytest.param({"SIM_WEIGHTS": "1;2"}, "SIM_WEIGHTS", id="weights-format"),
    ],
)
def test_a_bad_simulator_mix_is_refused_by_name(env, problem):
    with pytest.raises(ValidationError, match=problem):
        StackSettings.from_env(env)


@pytest.mark.parametrize("kind", sorted(WIRE_FORMATS))
def test_each_kinds_local_simulator_and_provider_entry_work_together(kind):
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    simulator = ProviderSimulator(SimulatorConfig(name="local", kind=kind, latency_ms=0, jitter_ms=0)).start()
    try:
        auth, entry = WIRE_FORMATS[kind].local_setup(simulator.base_url, env)
        simulator.configure(**auth)
        providers = json.dumps([{"name": "local", "kind": kind, **entry}])
        [config] = get_settings({"STAGE": "local", "SMS_PROVIDERS": providers}).providers
        with deadline_client() as http:
            [provider] = build_providers([config], http).values()
            result = provider.send(OutgoingSms("+14155550100", "hello", "a" * 32, 1))
        assert result.outcome is Outcome.ACCEPTED
        assert simulator.arrivals()[0]["auth"] == "ok"  # the made-up credentials were checked, not waved through
    finally:
        simulator.stop()


def test_local_credentials_are_made_up_per_run():
    first = WIRE_FORMATS["twilio"].local_setup("http://127.0.0.1:1", {})
    second = WIRE_FORMATS["twilio"].local_setup("http://127.0.0.1:1", {})
    assert first[1]["auth_token"] != second[1]["auth_token"]
    assert first[1]["account_sid"] != second[1]["account_sid"]
