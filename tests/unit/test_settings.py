"""Settings: declared once, defaults as the design says, a malformed variable refused with its name."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib.settings import ENV_NAMES, ConfigurationError, get_settings, setting_fields
from localdev.env_example import env_defaults

pytestmark = pytest.mark.unit

LOCAL = {"STAGE": "local"}


def test_defaults_follow_the_design():
    settings = get_settings(LOCAL)
    assert [p.name for p in settings.providers] == ["alpha", "beta", "gamma"]
    assert all((p.rate_limit, p.weight, p.timeout_s, p.kind) == (50, 1, 5.0, "http-json") for p in settings.providers)
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert (settings.max_retries, settings.routing.health_window_s, settings.routing.failure_rate) == (5, 300, 0.7)
    assert (settings.routing.min_samples, settings.routing.unhealthy_for_s, settings.port) == (10, 300, 8000)
    assert (settings.claim_lease_s, settings.sweep_after_s) == (60, 900)
    assert settings.api_keys == ()
    assert settings.default_region is None
    assert settings.is_local


def test_outside_the_local_stage_the_providers_must_be_configured():
    """A deployed Lambda without SMS_PROVIDERS must refuse to run, not send to 127.0.0.1."""
    for env in ({}, {"STAGE": "prod"}):
        with pytest.raises(ConfigurationError, match="SMS_PROVIDERS is required outside the local stage"):
            get_settings(env)
    providers = '[{"name": "one", "url": "https://one.example/send"}]'
    assert [p.name for p in get_settings({"STAGE": "prod", "SMS_PROVIDERS": providers}).providers] == ["one"]


def test_environment_overrides_are_parsed():
    providers = [{"name": "one", "url": "https://one.example/send", "rate_limit": 7, "weight": 3,
                  "timeout_s": 1.5, "api_key": "provider-secret"}]
    settings = get_settings({"SMS_PROVIDERS": json.dumps(providers), "API_KEYS": " a, b ,,",
                             "MAX_RETRIES": "2", "DEFAULT_REGION": "us", "HEALTH_FAILURE_RATE": "0.5"})
    [one] = settings.providers
    assert (one.rate_limit, one.weight, one.timeout_s, one.api_key) == (7, 3, 1.5, "provider-secret")
    assert "provider-secret" not in repr(one)  # the provider's key never reaches a log line
    assert settings.provider("one") is one
    assert settings.api_keys == ("a", "b")
    assert (settings.max_retries, settings.default_region, settings.routing.failure_rate) == (2, "US", 0.5)
    with pytest.raises(KeyError):
        settings.provider("two")


def test_an_empty_variable_takes_the_default():
    assert get_settings({**LOCAL, "MAX_RETRIES": "", "PORT": ""}).max_retries == 5


def test_reads_os_environ_lazily(monkeypatch):
    monkeypatch.setenv("STAGE", "local")
    monkeypatch.setenv("MAX_RETRIES", "3")
    assert get_settings().max_retries == 3
    monkeypatch.setenv("MAX_RETRIES", "4")
    assert get_settings().max_retries == 4


def test_every_setting_is_declared_once_with_its_variable_and_meaning():
    assert len(set(ENV_NAMES)) == len(ENV_NAMES)
    assert tuple(env_defaults()) == ENV_NAMES
    grouped_under_the_previous = {"HEALTH_FAILURE_RATE", "HEALTH_MIN_SAMPLES", "UNHEALTHY_FOR_S", "RESPONSES_TABLE",
                                  "HEALTH_TABLE", "IDEMPOTENCY_TABLE", "DISPATCH_QUEUE_URL",
                                  "CLIENT_DAILY_QUOTA", "API_THROTTLE_BURST", "CALLBACK_QUEUE_URL",
                                  "CALLBACK_DLQ_URL", "CALLBACK_RETRY_FOR_S"}
    fields = setting_fields()
    for index, (group, field) in enumerate(fields):
        assert field.description or field.alias in grouped_under_the_previous, field.alias
        if not field.description:  # under the previous variable's comment, in the same policy object
            assert fields[index - 1][0] == group, field.alias


def test_each_policy_object_reads_its_own_variables_from_the_same_environment():
    settings = get_settings({**LOCAL, "HEALTH_WINDOW_S": "30", "SLOT_WAIT_MAX_MS": "500", "REQUESTS_TABLE": "rqs",
                             "CALLBACK_QUEUE_NAME": "cb", "CALLBACK_TIMEOUT_S": "2", "CLIENT_DAILY_QUOTA": "7",
                             "TEXT_RETENTION_DAYS": "2"})
    assert (settings.routing.health_window_s, settings.routing.horizon_ms) == (30, 500)
    assert (settings.tables.requests, settings.tables.responses) == ("rqs", "sms_responses")
    assert (settings.queues.callback_queue_name, settings.queues.callback_dlq_name) == ("cb", "cb-dlq")
    assert settings.callbacks.timeout_s == 2.0
    assert (settings.client_defaults.daily_quota, settings.client_defaults.rate_limit) == (7, 250)
    assert (settings.retention.text_retention_s, settings.retention.retention_s) == (2 * 86400, 90 * 86400)
    assert hash(settings) == hash(get_settings({**LOCAL, "HEALTH_WINDOW_S": "30", "SLOT_WAIT_MAX_MS": "500",
                                                "REQUESTS_TABLE": "rqs", "CALLBACK_QUEUE_NAME": "cb",
                                                "CALLBACK_TIMEOUT_S": "2", "CLIENT_DAILY_QUOTA": "7",
                                                "TEXT_RETENTION_DAYS": "2"}))


def test_a_bad_value_in_a_group_is_refused_by_its_variable_alone():
    with pytest.raises(ConfigurationError, match=r"invalid configuration: RATE_LIMIT_GUARD_MAX_MS: must not be below"):
        get_settings({**LOCAL, "RATE_LIMIT_GUARD_MS": "20", "RATE_LIMIT_GUARD_MAX_MS": "5"})
    with pytest.raises(ConfigurationError, match=r"invalid configuration: CALLBACK_RETRY_FOR_S: "):
        get_settings({**LOCAL, "CALLBACK_RETRY_FOR_S": "1"})


@pytest.mark.parametrize(
    ("env", "named"),
    [
        pytest.param({"SMS_PROVIDERS": "[{"}, "SMS_PROVIDERS", id="providers-not-json"),
        pytest.param({"SMS_PROVIDERS": "{}"}, "SMS_PROVIDERS", id="providers-not-a-list"),
        pytest.param({"SMS_PROVIDERS": "[]"}, "SMS_PROVIDERS", id="providers-empty"),
        pytest.param({"SMS_PROVIDERS": '[{"name": "a", "url": "http://x", "color": 1}]'}, "SMS_PROVIDERS",
                     id="providers-unknown-field"),
        pytest.param({"SMS_PROVIDERS": '[{"name": "a", "url": "ftp://x"}]'}, "SMS_PROVIDERS", id="providers-bad-url"),
        pytest.param({"SMS_PROVIDERS": '[{"name": "a", "url": "http://x", "rate_limit": 0}]'}, "SMS_PROVIDERS",
                     id="providers-zero-rate"),
        pytest.param({"SMS_PROVIDERS": '[{"name": "a", "url": "http://x"}, {"name": "a", "url": "http://y"}]'},
                     "SMS_PROVIDERS", id="providers-duplicate-names"),
        pytest.param({"MAX_RETRIES": "five"}, "MAX_RETRIES", id="retries-not-a-number"),
        pytest.param({"MAX_RETRIES": "-1"}, "MAX_RETRIES", id="retries-negative"),
        pytest.param({"HEALTH_FAILURE_RATE": "1.5"}, "HEALTH_FAILURE_RATE", id="failure-rate-above-one"),
        pytest.param({"PORT": "70000"}, "PORT", id="port-out-of-range"),
        pytest.param({"HEALTH_WINDOW_S": "0"}, "HEALTH_WINDOW_S", id="window-zero"),
        pytest.param({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL", id="log-level-unknown"),
        pytest.param({"REDIS_URL": "localhost:6379"}, "REDIS_URL", id="redis-url-without-scheme"),
        pytest.param({"STAGE": "Prod Stage"}, "STAGE", id="stage-with-space"),
    ],
)
def test_malformed_variable_is_refused_by_name(env, named):
    with pytest.raises(ConfigurationError, match=named):
        get_settings({**LOCAL, **env})


def test_a_refusal_never_shows_a_providers_key():
    secret = "sk-live-very-secret"
    with pytest.raises(ConfigurationError) as refused:
        get_settings({"SMS_PROVIDERS": json.dumps([{"name": "a", "url": "ftp://x", "api_key": secret}])})
    assert secret not in str(refused.value)


# ------------------------------------------------------------------ provider kinds

ACCOUNT_SID = "AC" + "3" * 32


def providers_of(*entries) -> tuple:
    return get_settings({"STAGE": "prod", "SMS_PROVIDERS": json.dumps(list(entries))}).providers


def test_one_entry_of_each_kind_is_parsed_with_its_own_fields():
    twilio, vonage, aws, http = providers_of(
        {"name": "tw", "kind": "twilio", "account_sid": ACCOUNT_SID, "from": "+15005550006", "auth_token": "t",
         "weight": 3},
        {"name": "vg", "kind": "vonage", "api_key": "abcd1234", "from": "Acme", "secret_id": "gw/vonage"},
        {"name": "aws", "kind": "aws", "origination_identity": "+15005550007", "configuration_set": "events"},
        {"name": "in-house", "url": "https://sms.example/send"},
    )
    assert (twilio.kind, twilio.from_, twilio.weight, twilio.base_url) == ("twilio", "+15005550006", 3,
                                                                          "https://api.twilio.com")
    assert (vonage.kind, vonage.secret_id, vonage.signature_method) == ("vonage", "gw/vonage", "md5hash")
    assert (aws.kind, aws.message_type, aws.region) == ("aws", "TRANSACTIONAL", None)
    assert http.kind == "http-json"  # an entry without "kind" is http-json, as before there were kinds
    assert "'t'" not in repr(twilio)


def test_each_kind_names_its_configured_sender_as_a_requests_from_writes_it():
    providers = providers_of(
        {"name": "tw", "kind": "twilio", "account_sid": ACCOUNT_SID, "from": "+15005550006", "auth_token": "t"},
        {"name": "tw-pool", "kind": "twilio", "account_sid": ACCOUNT_SID, "messaging_service_sid": "MG" + "1" * 32,
         "auth_token": "t"},
        {"name": "vg", "kind": "vonage", "api_key": "abcd1234", "from": "Acme", "api_secret": "s"},
        {"name": "vg-number", "kind": "vonage", "api_key": "abcd1234", "from": "14155550123", "api_secret": "s"},
        {"name": "aws", "kind": "aws", "origination_identity": "+15005550007"},
        {"name": "in-house", "url": "https://sms.example/send"},
    )
    assert [p.configured_sender for p in providers] == ["+15005550006", None, "Acme", "+14155550123",
                                                        "+15005550007", None]


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        pytest.param({"name": "tw", "kind": "twilio", "from": "+15005550006", "auth_token": "t"},
                     "provider 'tw' (twilio): account_sid: Field required", id="twilio-without-account"),
        pytest.param({"name": "tw", "kind": "twilio", "account_sid": ACCOUNT_SID, "from": "+15005550006"},
                     "provider 'tw' (twilio): auth_token: required", id="twilio-without-its-token"),
        pytest.param({"name": "tw", "kind": "twilio", "account_sid": ACCOUNT_SID, "from": "+15005550006",
                      "api_key_sid": "SK" + "4" * 32, "auth_token": "t"},
                     "provider 'tw' (twilio): api_key_secret: required", id="twilio-api-key-without-its-secret"),
        pytest.param({"name": "vg", "kind": "vonage", "api_key": "abcd1234", "from": "Acme"},
                     "provider 'vg' (vonage): api_secret or signature_secret: required", id="vonage-without-secret"),
        pytest.param({"name": "vg", "kind": "vonage", "from": "Acme", "api_secret": "s"},
                     "provider 'vg' (vonage): api_key: Field required", id="vonage-without-api-key"),
        pytest.param({"name": "aws", "kind": "aws", "message_type": "SPAM"},
                     "provider 'aws' (aws): message_type: Input should be", id="aws-message-type"),
        pytest.param({"name": "x", "kind": "sinch"}, "provider 'x' (sinch): kind: must be one of", id="unknown-kind"),
        pytest.param({"name": "tw", "kind": "twilio", "account_sid": ACCOUNT_SID, "from": "+15005550006",
                      "auth_token": "t", "url": "https://x"}, "provider 'tw' (twilio): url: Extra inputs",
                     id="a-field-of-another-kind"),
        pytest.param("just a string", "entry 0 is not a JSON object", id="entry-not-an-object"),
        pytest.param({"kind": "aws", "region": "moon"}, "provider '#0' (aws)", id="unnamed-entry-by-position"),
    ],
)
def test_a_bad_provider_entry_names_the_provider_and_the_field(entry, problem):
    with pytest.raises(ConfigurationError, match=re.escape(problem)):
        providers_of(entry)


def test_a_secret_id_or_the_shared_secret_stands_in_for_credentials_missing_from_the_entry():
    bare = {"name": "tw", "kind": "twilio", "account_sid": ACCOUNT_SID, "from": "+15005550006"}
    assert providers_of({**bare, "secret_id": "gw/tw"})[0].secret_id == "gw/tw"
    shared = get_settings({"STAGE": "prod", "SMS_PROVIDERS": json.dumps([bare]),
                           "PROVIDER_KEYS_SECRET_ID": "gw/provider-keys"})
    assert shared.providers[0].name == "tw"


def test_a_refused_entry_never_shows_a_credential():
    secret = "vonage-very-secret"
    with pytest.raises(ConfigurationError) as refused:
        providers_of({"name": "vg", "kind": "vonage", "api_key": "bad key!", "from": "Acme", "api_secret": secret})
    assert secret not in str(refused.value)
    assert "api_key" in str(refused.value)


@pytest.mark.parametrize("entry", [
    pytest.param({"name": "a", "url": "http://sms.example/send", "api_key": "k"}, id="http-json"),
    pytest.param({"name": "t", "kind": "twilio", "account_sid": "AC" + "0" * 32, "auth_token": "x",
                  "from": "+15017122661", "base_url": "http://api.twilio.example"}, id="twilio"),
])
def test_a_provider_reached_in_clear_is_refused_outside_the_local_stage(entry):
    """Defect B7: the provider's key travels in every request; outside a developer's machine only over TLS."""
    providers = json.dumps([entry])
    with pytest.raises(ConfigurationError, match="must be https:// outside the local stage"):
        get_settings({"STAGE": "prod", "SMS_PROVIDERS": providers})
    assert get_settings({"STAGE": "local", "SMS_PROVIDERS": providers}).providers[0].name == entry["name"]
