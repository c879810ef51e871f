"""CORS: which browser origins get the headers that let them call the API."""

from __future__ import annotations

import pytest

from chalicelib.api.cors import cors_headers

pytestmark = pytest.mark.unit


def test_no_configured_origin_means_no_cors_headers():
    assert cors_headers("", "https://app.example") == {}


def test_a_request_without_origin_gets_no_cors_headers():
    assert cors_headers("*", None) == {}


def test_wildcard_allows_any_origin():
    assert cors_headers("*", "https://anything.example")["Access-Control-Allow-Origin"] == "*"


def test_a_listed_origin_is_echoed_and_varies_by_origin():
    headers = cors_headers("https://a.example, https://b.example", "https://b.example")
    assert headers["Access-Control-Allow-Origin"] == "https://b.example"
    assert headers["Vary"] == "Origin"
    assert headers["Access-Control-Expose-Headers"] == "Retry-After"
    assert "Access-Control-Allow-Methods" not in headers


def test_an_origin_not_listed_gets_nothing():
    assert cors_headers("https://a.example", "https://evil.example") == {}


def test_preflight_names_the_methods_and_headers_a_client_may_use():
    headers = cors_headers("https://a.example", "https://a.example", preflight=True)
    assert headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
    assert set(headers["Access-Control-Allow-Headers"].split(", ")) == {"Content-Type", "X-Api-Key",
                                                                          "Idempotency-Key"}
    assert headers["Access-Control-Max-Age"] == "600"
