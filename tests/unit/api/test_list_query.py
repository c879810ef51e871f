"""The query of GET /api/sms: every refusal names its parameter; absent and empty mean no filter."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.api.http_errors import status_of
from chalicelib.api.list_query import EARLIEST, LATEST, ListQuery, parse_list_query
from chalicelib.errors import ApiError
from tests.unit.api.helpers import assert_refused_as_client_error

pytestmark = pytest.mark.unit

PROVIDERS = ("alpha", "beta", "gamma")


# --- GET /api/sms: query ---

# fmt: off
BAD_LIST_QUERIES = [
    pytest.param({"foo": "1"}, "unknown_parameter", "foo", id="unknown-parameter"),
    pytest.param({"foo": ""}, "unknown_parameter", "foo", id="unknown-parameter-without-value"),
    pytest.param({"x" * 100: "1"}, "unknown_parameter", "x" * 63 + "…", id="unknown-parameter-name-cut-short"),
    pytest.param({"status": "done"}, "invalid_status", "status", id="status-not-a-lifecycle-state"),
    pytest.param({"status": "SENT"}, "invalid_status", "status", id="status-is-case-sensitive"),
    pytest.param({"provider": "delta"}, "unknown_provider", "provider", id="provider-not-configured"),
    pytest.param({"since": "yesterday"}, "invalid_datetime", "since", id="since-not-a-date"),
    pytest.param({"since": "2024-05-01T12:00:00 02:00"}, "invalid_datetime", "since",
                 id="since-plus-as-space"),
    pytest.param({"since": "\uff12\uff10\uff12\uff14-05-01"}, "invalid_datetime", "since",
                 id="since-fullwidth-digits"),
    pytest.param({"since": "2024-05-01" + "0" * 60}, "invalid_datetime", "since", id="since-too-long"),
    pytest.param({"until": "2024-13-01"}, "invalid_datetime", "until", id="until-month-13"),
    pytest.param({"limit": "0"}, "invalid_limit", "limit", id="limit-zero"),
    pytest.param({"limit": "101"}, "invalid_limit", "limit", id="limit-over-max"),
    pytest.param({"limit": "-1"}, "invalid_limit", "limit", id="limit-negative"),
    pytest.param({"limit": "+5"}, "invalid_limit", "limit", id="limit-with-sign"),
    pytest.param({"limit": "1e2"}, "invalid_limit", "limit", id="limit-exponent"),
    pytest.param({"limit": "\u0665"}, "invalid_limit", "limit", id="limit-arabic-indic-digit"),
    pytest.param({"limit": "9" * 20}, "invalid_limit", "limit", id="limit-huge"),
    pytest.param({"cursor": "abc!def" * 5}, "invalid_cursor", "cursor", id="cursor-with-a-foreign-character"),
    pytest.param({"cursor": "a" * 23}, "invalid_cursor", "cursor", id="cursor-too-short-to-be-signed"),
    pytest.param({"cursor": "a" * 2049}, "invalid_cursor", "cursor", id="cursor-too-long"),
    pytest.param({"cursor": "eyJwIjoiMjAyNC0wNS0wMSJ9=="}, "invalid_cursor", "cursor", id="cursor-with-padding"),
]
# fmt: on


@pytest.mark.parametrize(("params", "code", "field"), BAD_LIST_QUERIES)
def test_bad_list_query_is_refused_with_its_field(params, code, field):
    with pytest.raises(ApiError) as refused:
        parse_list_query(params, known_providers=PROVIDERS)
    assert (status_of(refused.value), refused.value.code, refused.value.field) == (400, code, field)
    assert refused.value.message


@pytest.mark.parametrize("params", [None, {}, {"status": "", "provider": "", "limit": "", "cursor": ""}])
def test_absent_or_empty_parameters_mean_no_filter(params):
    assert parse_list_query(params, known_providers=PROVIDERS) == ListQuery()
    assert ListQuery().limit == 20


def test_every_filter_is_parsed():
    query = parse_list_query(
        {
            "status": "sent",
            "provider": "beta",
            "since": "2024-05-01T12:00:00+02:00",
            "until": "2024-05-01T12:00:00Z",
            "limit": "100",
            "cursor": "eyJpZCI6eyJTIjoieCJ9fQ" + "A" * 22,
        },
        known_providers=PROVIDERS,
    )
    assert query == ListQuery(
        status="sent",
        provider="beta",
        since=datetime(2024, 5, 1, 10, tzinfo=UTC),
        until=datetime(2024, 5, 1, 12, tzinfo=UTC),
        limit=100,
        cursor="eyJpZCI6eyJTIjoieCJ9fQ" + "A" * 22,
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC), id="zulu"),
        pytest.param("2024-05-01T12:00:00", datetime(2024, 5, 1, 12, tzinfo=UTC), id="naive-is-utc"),
        pytest.param("2024-05-01T12:00:00-05:30", datetime(2024, 5, 1, 17, 30, tzinfo=UTC), id="offset"),
        pytest.param("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC), id="date-only-is-midnight-utc"),
        pytest.param(
            "2024-05-01T12:00:00.250+00:00",
            datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC),
            id="fraction",
        ),
    ],
)
def test_since_is_an_aware_utc_datetime(raw, expected):
    since = parse_list_query({"since": raw}, known_providers=PROVIDERS).since
    assert since == expected
    assert since.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("0001-01-01T00:00:00+01:00", EARLIEST, id="before-year-1-utc"),
        pytest.param("0001-01-01", EARLIEST, id="year-1"),
        pytest.param("1969-12-31T23:59:59Z", EARLIEST, id="before-1970"),
        pytest.param("9999-12-31T23:59:59-01:00", LATEST, id="after-year-9999-utc"),
        pytest.param("9999-12-31", LATEST, id="the-calendars-last-day"),
    ],
)
def test_a_valid_time_outside_the_stores_range_is_clamped_to_its_edge_not_refused(raw, expected):
    assert parse_list_query({"since": raw}, known_providers=PROVIDERS).since == expected


def test_since_after_until_is_accepted_as_an_empty_range():
    query = parse_list_query({"since": "2024-05-02", "until": "2024-05-01"}, known_providers=PROVIDERS)
    assert query.since > query.until


def test_equal_since_and_until_is_a_valid_range():
    moment = "2024-05-01T12:00:00+01:00"
    query = parse_list_query({"since": moment, "until": moment}, known_providers=PROVIDERS)
    assert query.since == query.until == datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=1)))


def test_a_cursor_of_the_right_shape_and_limit_one_are_accepted_here_the_store_checks_its_signature():
    query = parse_list_query({"cursor": "A" * 24, "limit": "1"}, known_providers=PROVIDERS)
    assert (query.cursor, query.limit) == ("A" * 24, 1)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["status", "provider", "since", "until", "limit", "cursor", "other"]),
        st.text(max_size=40) | st.sampled_from(["sent", "alpha", "2024-05-01T00:00:00Z", "50", "abc"]),
    )
)
def test_any_query_is_parsed_or_refused_as_a_client_error(params):
    query = assert_refused_as_client_error(lambda: parse_list_query(params, known_providers=PROVIDERS))
    if query is not None:
        assert 1 <= query.limit <= 100
        assert query.since is None or query.since.tzinfo is not None
