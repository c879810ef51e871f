"""API keys: hashed, compared in constant time against every key, refused with field X-Api-Key."""

from __future__ import annotations

import hmac
import json

import pytest

from chalicelib import auth
from chalicelib.auth import ApiKeyAuthenticator, key_hash
from chalicelib.errors import Unauthorized

pytestmark = pytest.mark.unit


def test_known_key_authenticates_as_a_stable_client_id():
    authenticator = ApiKeyAuthenticator(["key-one", "key-two"])
    assert authenticator.authenticate("key-two") == key_hash("key-two")[:16]
    assert authenticator.authenticate("key-one") != authenticator.authenticate("key-two")


def test_keys_are_kept_only_as_hashes():
    authenticator = ApiKeyAuthenticator(["plain-key"])
    assert "plain-key" not in repr(vars(authenticator))


def test_every_stored_key_is_compared_even_after_a_match(monkeypatch):
    calls = []
    compare = hmac.compare_digest

    def counting(a, b):
        calls.append(b)
        return compare(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    ApiKeyAuthenticator(["first", "second", "third"]).authenticate("first")
    assert len(calls) == 3


@pytest.mark.parametrize(
    ("presented", "code"),
    [
        pytest.param(None, "missing_api_key", id="missing"),
        pytest.param("", "missing_api_key", id="empty"),
        pytest.param("nope", "invalid_api_key", id="wrong"),
        pytest.param("KEY-ONE", "invalid_api_key", id="wrong-case"),
    ],
)
def test_missing_or_invalid_key_is_unauthorized(presented, code):
    with pytest.raises(Unauthorized) as raised:
        ApiKeyAuthenticator(["key-one"]).authenticate(presented)
    assert (raised.value.status, raised.value.field, raised.value.code) == (401, "X-Api-Key", code)


def test_no_configured_keys_refuses_everyone():
    with pytest.raises(Unauthorized):
        ApiKeyAuthenticator([]).authenticate("anything")


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(json.dumps(["k1", "k2"]), id="json-list"),
        pytest.param(json.dumps({"api_keys": ["k1", " k2 "]}), id="json-object"),
        pytest.param("k1, k2,", id="comma-separated"),
    ],
)
def test_keys_from_a_secret(secret):
    authenticator = ApiKeyAuthenticator.from_secret(secret)
    for key in ("k1", "k2"):
        authenticator.authenticate(key)
    with pytest.raises(Unauthorized):
        authenticator.authenticate("k3")
