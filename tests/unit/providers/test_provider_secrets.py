"""Provider credentials: from the entry, from Secrets Manager (moto in-process) with a maximum age so that a
rotation is picked up without a redeploy, never written to a log or an error."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws
from pydantic import TypeAdapter

from chalicelib.providers import Outcome, OutgoingSms
from chalicelib.providers.secrets import ProviderSecrets, SecretCache, SecretUnavailable
from chalicelib.settings import ProviderConfig
from chalicelib.vendors import build_providers
from tests.conftest import ManualClock
from tests.unit.providers.conftest import PHONE, REQUEST_ID

pytestmark = pytest.mark.unit

ACCOUNT_SID = "AC" + "2" * 32
MAX_AGE_S = 300


def entry(**fields):
    return TypeAdapter(ProviderConfig).validate_python(fields)


def twilio_entry(base_url="https://api.twilio.com", **fields):
    return entry(name="tw", kind="twilio", account_sid=ACCOUNT_SID, base_url=base_url, **{"from": "+15005550006"},
                 **fields)


class SecretsManager:
    """moto's Secrets Manager, counting the reads the gateway makes."""

    def __init__(self):
        self.client = boto3.client("secretsmanager", region_name="us-east-1")
        self.reads = 0
        self.down = False

    def put(self, secret_id: str, value) -> None:
        text = value if isinstance(value, str) else json.dumps(value)
        try:
            self.client.put_secret_value(SecretId=secret_id, SecretString=text)
        except self.client.exceptions.ResourceNotFoundException:
            self.client.create_secret(Name=secret_id, SecretString=text)

    def fetch(self, secret_id: str) -> str:
        self.reads += 1
        if self.down:
            raise EndpointConnectionError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com")
        return self.client.get_secret_value(SecretId=secret_id)["SecretString"]


@pytest.fixture
def secrets_manager() -> Iterator[SecretsManager]:
    with mock_aws():
        yield SecretsManager()


@pytest.fixture
def cache(secrets_manager, clock: ManualClock) -> SecretCache:
    return SecretCache(secrets_manager.fetch, max_age_s=MAX_AGE_S, min_refresh_s=5, clock=clock)


def test_without_a_secret_the_entry_holds_the_credentials(cache):
    source = ProviderSecrets(twilio_entry(auth_token="inline"), cache=cache, shared_secret_id=None)
    assert source.get() == {"auth_token": "inline"}


def test_a_secret_is_read_once_then_again_after_its_maximum_age(secrets_manager, cache, clock):
    secrets_manager.put("gw/tw", {"auth_token": "first"})
    source = ProviderSecrets(twilio_entry(secret_id="gw/tw"), cache=cache, shared_secret_id=None)
    assert [source.get()["auth_token"] for _ in range(3)] == ["first"] * 3
    assert secrets_manager.reads == 1
    secrets_manager.put("gw/tw", {"auth_token": "rotated"})
    clock.advance(MAX_AGE_S - 1)
    assert source.get()["auth_token"] == "first"
    clock.advance(1)
    assert source.get()["auth_token"] == "rotated"
    assert secrets_manager.reads == 2


def test_the_entrys_secret_wins_over_the_shared_one_which_wins_over_the_entry(secrets_manager, cache):
    secrets_manager.put("gw/all", {"tw": {"auth_token": "shared"}, "alpha": "alpha-key"})
    secrets_manager.put("gw/tw", {"auth_token": "own"})
    inline_only = ProviderSecrets(twilio_entry(auth_token="inline"), cache=cache, shared_secret_id=None)
    shared = ProviderSecrets(twilio_entry(auth_token="inline"), cache=cache, shared_secret_id="gw/all")
    own = ProviderSecrets(twilio_entry(secret_id="gw/tw"), cache=cache, shared_secret_id="gw/all")
    http_json = ProviderSecrets(entry(name="alpha", url="https://a.example/send"), cache=cache,
                                shared_secret_id="gw/all")
    not_in_shared = ProviderSecrets(entry(name="beta", url="https://b.example/send", api_key="b-inline"),
                                    cache=cache, shared_secret_id="gw/all")
    assert [s.get() for s in (inline_only, shared, own, http_json, not_in_shared)] == [
        {"auth_token": "inline"}, {"auth_token": "shared"}, {"auth_token": "own"}, {"api_key": "alpha-key"},
        {"api_key": "b-inline"}]


def test_when_secrets_manager_is_down_the_copy_read_before_is_used(secrets_manager, cache, clock, log_output):
    secrets_manager.put("gw/tw", {"auth_token": "first"})
    source = ProviderSecrets(twilio_entry(secret_id="gw/tw"), cache=cache, shared_secret_id=None)
    source.get()
    secrets_manager.down = True
    clock.advance(MAX_AGE_S)
    assert source.get() == {"auth_token": "first"}
    assert "secret not refreshed" in log_output.getvalue()
    reads = secrets_manager.reads
    source.get()
    assert secrets_manager.reads == reads  # not read again on every send while it is down
    clock.advance(5)
    secrets_manager.down = False
    assert source.get() == {"auth_token": "first"}
    assert secrets_manager.reads == reads + 1


def test_without_a_copy_an_outage_is_a_provider_failure_but_not_a_configuration_problem(secrets_manager, cache):
    secrets_manager.down = True
    source = ProviderSecrets(twilio_entry(secret_id="gw/tw"), cache=cache, shared_secret_id=None)
    with pytest.raises(SecretUnavailable) as unavailable:
        source.get()
    assert unavailable.value.configuration_problem is False


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        pytest.param(None, r"unreadable \(ResourceNotFoundException\)", id="no-such-secret"),
        pytest.param("not json", "is not a JSON object", id="not-json"),
        pytest.param(["a", "list"], "is not a JSON object", id="not-an-object"),
        pytest.param({"auth_tokn": "sekrit-value"}, "has field 'auth_tokn'", id="misspelt-field"),
        pytest.param({"auth_token": 12345}, "must be a non-empty string", id="not-a-string"),
        pytest.param({"api_key_secret": "sekrit-value"}, "auth_token missing", id="the-needed-field-missing"),
    ],
)
def test_a_wrong_secret_is_a_configuration_problem_naming_provider_secret_and_field(secrets_manager, cache, stored,
                                                                                     problem):
    if stored is not None:
        secrets_manager.put("gw/tw", stored)
    source = ProviderSecrets(twilio_entry(secret_id="gw/tw"), cache=cache, shared_secret_id=None)
    with pytest.raises(SecretUnavailable, match=problem) as unavailable:
        source.get()
    assert unavailable.value.configuration_problem is True
    assert "sekrit-value" not in unavailable.value.message
    assert "provider 'tw'" in unavailable.value.message and "gw/tw" in unavailable.value.message


def test_a_bad_entry_in_the_shared_secret_is_named(secrets_manager, cache):
    secrets_manager.put("gw/all", {"tw": 42})
    source = ProviderSecrets(twilio_entry(auth_token="t"), cache=cache, shared_secret_id="gw/all")
    with pytest.raises(SecretUnavailable, match="provider 'tw': its entry in secret 'gw/all'"):
        source.get()


def test_invalidate_reads_again_but_not_more_often_than_min_refresh(secrets_manager, cache, clock):
    secrets_manager.put("gw/tw", {"auth_token": "first"})
    source = ProviderSecrets(twilio_entry(secret_id="gw/tw"), cache=cache, shared_secret_id=None)
    source.get()
    source.invalidate()
    source.get()
    assert secrets_manager.reads == 1  # read 0 s ago: kept
    clock.advance(5)
    source.invalidate()
    source.get()
    assert secrets_manager.reads == 2


def test_a_rotated_token_is_picked_up_after_the_provider_refuses_the_old_one(simulators, secrets_manager, cache,
                                                                             clock, log_output, wire):
    """Rotation without a redeploy: the vendor starts refusing the old token before the copy is due; the refusal
    makes the adapter read the secret again (a few seconds later at most), and sending resumes."""
    old, new = "token-before-rotation-7f3a", "token-after-rotation-9b2c"
    twilio = simulators("rotating", kind="twilio", credentials={"account_sid": ACCOUNT_SID, "auth_token": old})
    secrets_manager.put("gw/tw", {"auth_token": old})
    [provider] = build_providers([twilio_entry(base_url=twilio.url, secret_id="gw/tw")], wire[0],
                                 secrets=cache).values()
    send = lambda: provider.send(OutgoingSms(PHONE, "hi", REQUEST_ID, 1))  # noqa: E731
    assert send().outcome is Outcome.ACCEPTED
    secrets_manager.put("gw/tw", {"auth_token": new})
    twilio.configure(credentials={"account_sid": ACCOUNT_SID, "auth_token": new})
    clock.advance(5)
    refused = send()
    assert (refused.outcome, refused.configuration_problem) == (Outcome.PROVIDER_FAILURE, True)
    assert send().outcome is Outcome.ACCEPTED
    assert old not in log_output.getvalue() and new not in log_output.getvalue()


def test_a_missing_secret_fails_the_send_as_a_configuration_problem(secrets_manager, cache, wire, log_output):
    [provider] = build_providers([twilio_entry(secret_id="gw/none")], wire[0], secrets=cache).values()
    result = provider.send(OutgoingSms(PHONE, "hi", REQUEST_ID, 1))
    assert (result.outcome, result.status_code, result.configuration_problem) == (Outcome.PROVIDER_FAILURE, None,
                                                                                   True)
    assert wire[1] == []  # nothing sent without credentials
    [line] = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert line["message"] == "provider configuration problem"
    assert "gw/none" in line["problem"]
