"""The client registry: keys kept only as hashes, compared in constant time, a malformed document refused
whole, and short keys only in the local stage."""

from __future__ import annotations

import hmac
import json
import secrets

import pytest

from chalicelib import clients
from chalicelib.api.http_errors import status_of
from chalicelib.clients import Defaults, key_hash, registry_from_document, registry_from_keys
from chalicelib.errors import ConfigurationError, Forbidden, Unauthorized
from chalicelib.refreshing import Refreshing
from tests.conftest import CountingSource as Source

pytestmark = pytest.mark.unit

DEFAULTS = Defaults(rate_limit=250, daily_quota=1000)
KEY_A, KEY_A2, KEY_B = (secrets.token_urlsafe(32) for _ in range(3))


def document(**changes) -> str:
    doc = {"cursor_key": "c" * 40, "clients": {
        "team-a": {"key_hashes": [key_hash(KEY_A), key_hash(KEY_A2)], "roles": ["send", "operator"],
                   "rate_limit": 20, "daily_quota": 500, "senders": ["ACME", "+14155550100"],
                   "countries": ["US", "GB"], "callback_secret": "s" * 32},
        "team-b": {"key_hashes": [key_hash(KEY_B)]},
    }}
    doc.update(changes)
    return json.dumps(doc)


def test_each_key_authenticates_as_its_client_with_its_limits_and_rules():
    registry = registry_from_document(document(), DEFAULTS)
    a, a2, b = (registry.authenticate(key) for key in (KEY_A, KEY_A2, KEY_B))
    assert a == a2 and a.name == "team-a" and b.name == "team-b"
    assert (a.rate_limit, a.daily_quota, a.countries, a.senders) == (20, 500, ("US", "GB"), ("ACME", "+14155550100"))
    assert (b.rate_limit, b.daily_quota, b.roles) == (250, 1000, frozenset({"send"}))  # the defaults
    assert registry.cursor_key == b"c" * 40


def test_only_an_operator_key_passes_the_operator_check():
    registry = registry_from_document(document(), DEFAULTS)
    registry.authenticate(KEY_A).require("operator")
    with pytest.raises(Forbidden) as raised:
        registry.authenticate(KEY_B).require("operator")
    assert (status_of(raised.value), raised.value.field) == (403, "X-Api-Key")


def test_keys_are_kept_only_as_hashes():
    registry = registry_from_keys([KEY_A], DEFAULTS, local=False)
    assert KEY_A not in repr(vars(registry))


def test_every_stored_hash_is_compared_even_after_a_match(monkeypatch):
    calls = []
    compare = hmac.compare_digest
    monkeypatch.setattr(clients.hmac, "compare_digest", lambda a, b: calls.append(b) or compare(a, b))
    registry_from_document(document(), DEFAULTS).authenticate(KEY_A)
    assert len(calls) == 3


@pytest.mark.parametrize(
    ("presented", "code"),
    [
        pytest.param(None, "missing_api_key", id="missing"),
        pytest.param("", "missing_api_key", id="empty"),
        pytest.param("nope", "invalid_api_key", id="wrong"),
        pytest.param(KEY_A.upper(), "invalid_api_key", id="wrong-case"),
    ],
)
def test_missing_or_invalid_key_is_unauthorized(presented, code):
    with pytest.raises(Unauthorized) as raised:
        registry_from_document(document(), DEFAULTS).authenticate(presented)
    assert (status_of(raised.value), raised.value.field, raised.value.code) == (401, "X-Api-Key", code)


def test_api_keys_make_one_client_per_key_with_the_defaults_and_both_roles():
    registry = registry_from_keys([KEY_A, " ", KEY_B], DEFAULTS, local=False)
    a, b = registry.authenticate(KEY_A), registry.authenticate(KEY_B)
    assert a.name != b.name and a.name.startswith("key-")
    assert (a.rate_limit, a.daily_quota, a.roles) == (250, 1000, frozenset({"send", "operator"}))


def test_a_short_key_is_accepted_only_in_the_local_stage():
    assert registry_from_keys(["dev-key"], DEFAULTS, local=True).authenticate("dev-key")
    with pytest.raises(ConfigurationError, match="shorter than 32"):
        registry_from_keys(["dev-key"], DEFAULTS, local=False)


def test_the_earlier_secret_format_a_list_of_keys_still_works():
    registry = registry_from_document(json.dumps([KEY_A, KEY_B]), DEFAULTS)
    assert registry.authenticate(KEY_B)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        pytest.param("{", "not valid JSON", id="not-json"),
        pytest.param(json.dumps({"clients": {}}), "clients", id="no-clients"),
        pytest.param(document(extra=1), "extra", id="unknown-top-level-field"),
        pytest.param(json.dumps({"clients": {"Team A": {"key_hashes": [key_hash(KEY_A)]}}}), "clients",
                     id="bad-client-name"),
        pytest.param(json.dumps({"clients": {"a": {"key_hashes": ["md5:abc"]}}}), "key_hashes", id="bad-hash"),
        pytest.param(json.dumps({"clients": {"a": {"key_hashes": []}}}), "key_hashes", id="no-keys"),
        pytest.param(json.dumps({"clients": {"a": {"key_hashes": [key_hash(KEY_A)], "rate_limit": 0}}}),
                     "rate_limit", id="zero-rate"),
        pytest.param(json.dumps({"clients": {"a": {"key_hashes": [key_hash(KEY_A)], "roles": ["admin"]}}}),
                     "roles", id="unknown-role"),
        pytest.param(json.dumps({"clients": {"a": {"key_hashes": [key_hash(KEY_A)], "countries": ["usa"]}}}),
                     "countries", id="bad-country"),
        pytest.param(json.dumps({"clients": {"a": {"key_hashes": [key_hash(KEY_A)], "senders": ["TOO-LONG-NAME"]}}}),
                     "senders", id="bad-sender"),
        pytest.param(json.dumps({"clients": {"a": {"key_hashes": [key_hash(KEY_A)]},
                                             "b": {"key_hashes": [key_hash(KEY_A)]}}}), "both a and b",
                     id="one-key-two-clients"),
        pytest.param(json.dumps([KEY_A, "short"]), "shorter than 32", id="short-key-in-a-list"),
    ],
)
def test_a_malformed_document_is_refused_whole_naming_the_problem(text, named):
    with pytest.raises(ConfigurationError, match=named) as raised:
        registry_from_document(text, DEFAULTS)
    assert KEY_A not in raised.value.message


def test_a_changed_registry_is_picked_up_after_its_maximum_age(clock):
    source = Source("first")
    refreshing = Refreshing(source, max_age_s=60, clock=clock)
    assert refreshing.get() == "first"
    source.value = "second"
    clock.advance(59)
    assert refreshing.get() == "first"
    clock.advance(1)
    assert (refreshing.get(), source.reads) == ("second", 2)


def test_the_last_good_registry_serves_while_its_source_is_down_but_a_broken_one_refuses(clock):
    from chalicelib.errors import DependencyUnavailable

    source = Source("good")
    refreshing = Refreshing(source, max_age_s=60, clock=clock)
    refreshing.get()
    source.value = DependencyUnavailable("Secrets Manager unavailable")
    clock.advance(61)
    assert refreshing.get() == "good"
    source.value = ConfigurationError("the clients document is invalid")
    clock.advance(61)
    with pytest.raises(ConfigurationError):
        refreshing.get()
    with pytest.raises(DependencyUnavailable):
        Refreshing(Source(DependencyUnavailable("down")), max_age_s=60, clock=clock).get()


@pytest.mark.parametrize(("url", "local", "accepted"), [
    pytest.param("https://team-a.example/sms-status", False, True, id="https"),
    pytest.param("http://team-a.example/sms-status", False, False, id="http-outside-local"),
    pytest.param("http://127.0.0.1:9100/sms-status", True, True, id="http-locally"),
    pytest.param("https://user:pw@team-a.example/", False, False, id="credentials"),
    pytest.param("https://team-a.example/" + "x" * 2048, False, False, id="too-long"),
])
def test_a_clients_default_callback_url_is_validated_with_the_registry(url, local, accepted):
    document = json.dumps({"clients": {"team-a": {"key_hashes": [key_hash("k" * 40)], "callback_url": url,
                                                  "callback_secret": "s" * 32}}})
    if accepted:
        registry = registry_from_document(document, DEFAULTS, local=local)
        assert registry.client_named("team-a").callback_url == url
        assert registry.client_named("nobody") is None
    else:
        with pytest.raises(ConfigurationError, match="callback_url"):
            registry_from_document(document, DEFAULTS, local=local)
