"""Headers and path parameters: each malformed one is refused naming itself."""

import pytest

from chalicelib.api.http_errors import status_of
from chalicelib.api.params import parse_idempotency_key, parse_request_id, shown_name
from chalicelib.errors import ValidationFailed

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("", id="empty"),
        pytest.param("k" * 256, id="too-long"),
        pytest.param("has space", id="space"),
        pytest.param("caf\u00e9", id="non-ascii"),
    ],
)
def test_a_malformed_idempotency_key_is_refused_naming_the_header(header):
    with pytest.raises(ValidationFailed) as caught:
        parse_idempotency_key(header)
    assert (status_of(caught.value), caught.value.code, caught.value.field) == (
        400, "invalid_idempotency_key", "Idempotency-Key")


def test_an_idempotency_key_is_optional_and_kept_as_sent():
    assert parse_idempotency_key(None) is None
    assert parse_idempotency_key("order-42/confirm") == "order-42/confirm"


@pytest.mark.parametrize("raw", ["", "0" * 31, "0" * 33, "G" * 32, "A" * 32, "0" * 31 + "\n"])
def test_a_request_id_that_the_api_never_hands_out_is_refused_naming_the_id(raw):
    with pytest.raises(ValidationFailed) as caught:
        parse_request_id(raw)
    assert (status_of(caught.value), caught.value.code, caught.value.field) == (400, "invalid_id", "id")


def test_a_request_id_is_kept_as_sent():
    assert parse_request_id("0123456789abcdef" * 2) == "0123456789abcdef" * 2


def test_a_client_name_is_shown_printable_and_short():
    assert shown_name("ok") == "ok"
    assert shown_name("a\x00b") == "a?b"
    assert shown_name("x" * 100) == "x" * 63 + "…"
