"""sms_requests and sms_responses on moto: a request as it is created, read back, and its attempt records."""

from __future__ import annotations

import uuid

import pytest

from chalicelib.errors import DependencyUnavailable
from chalicelib.lifecycle import Status
from chalicelib.providers import Outcome, SendResult
from chalicelib.storage.dynamo import iso
from tests.unit.storage.helpers import create, ok

pytestmark = pytest.mark.unit


def test_iso_timestamps_sort_as_text():
    assert iso(0) == "1970-01-01T00:00:00.000Z"
    assert iso(1.5) < iso(10) < iso(100.25)


def test_created_request_is_pending_on_the_sweeper_index_and_kept_for_the_retention(request_store, tables, clock):
    request_id = create(request_store)
    request = request_store.get(request_id)
    assert (request.status, request.attempts, request.retries, request.client) == (Status.PENDING, 0, 0, "team-a")
    assert request.due_at == int(clock()) + 900
    item = tables.requests.get(request_id)
    assert item.work_shard.startswith("work#")
    assert item.purge_at.timestamp() == int(clock()) + 90 * 86400  # RETENTION_DAYS, by DynamoDB TTL


def test_a_request_reads_as_unknown_to_another_client(request_store):
    request_id = create(request_store, client="team-a")
    assert request_store.get(request_id, client="team-a").id == request_id
    assert request_store.get(request_id, client="team-b") is None


def test_request_id_is_never_reused(request_store):
    request_id = create(request_store)
    with pytest.raises(DependencyUnavailable):
        request_store.create(request_id, client="team-a", phone="+1", text="x", encoding="GSM-7", segments=1, ttl_s=60)
    assert request_store.get(request_id).phone == "+14155550100"


def test_unknown_request_reads_as_none(request_store):
    assert request_store.get(uuid.uuid4().hex) is None
    assert request_store.attempts_of(uuid.uuid4().hex) == []


def test_every_attempt_keeps_its_own_record_in_order(request_store, claims):
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")
    request_store.record_attempt(request_id, 1, SendResult("alpha", Outcome.PROVIDER_FAILURE, 500, 3, error="boom"))
    claims.mark_retrying(request_id, 1, retries=1, excluded=("alpha",), delay_s=1, error="boom")
    claims.claim(request_id, 2, "beta")
    request_store.record_attempt(request_id, 2, ok("beta"))
    records = request_store.attempts_of(request_id)
    assert [(r.attempt, r.provider, r.outcome, r.status_code) for r in records] == [
        (1, "alpha", "provider_failure", 500), (2, "beta", "accepted", 200)]
    assert records[1].response_data == '{"message_id":"m-1"}'  # the answer, kept as bounded JSON text


def test_forget_unqueued_removes_only_a_pending_request(request_store, claims):
    waiting, held = create(request_store), create(request_store)
    claims.claim(held, 1, "alpha")
    assert request_store.forget_unqueued(waiting) is True
    assert request_store.forget_unqueued(held) is False
    assert request_store.get(waiting) is None
    assert request_store.get(held).status is Status.PROCESSING
