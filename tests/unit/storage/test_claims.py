"""The claim ledger on moto: only the holder of attempt n moves a request on, and every way an attempt ends."""

from __future__ import annotations

import uuid

import pytest

from chalicelib.errors import ClaimBusy, ClaimConflict
from chalicelib.lifecycle import CLAIMABLE, FailureReason, Status, sources_of
from chalicelib.storage.dynamo import iso
from tests.unit.storage.helpers import ATTEMPT_ENDS, create

pytestmark = pytest.mark.unit


def test_a_claim_starts_from_exactly_the_statuses_the_lifecycle_allows():
    assert set(sources_of(Status.PROCESSING)) == set(CLAIMABLE)


def test_claiming_the_same_attempt_twice_fails_the_second_time(request_store, claims):
    request_id = create(request_store)
    claim = claims.claim(request_id, 1, "alpha")
    assert (claim.attempt, claim.provider, claim.phone, claim.text) == (1, "alpha", "+14155550100", "hi")
    with pytest.raises(ClaimBusy):  # the first holder's lease is live
        claims.claim(request_id, 1, "beta")
    assert request_store.get(request_id).provider_used == "alpha"


def test_claim_of_a_finished_request_conflicts_and_carries_a_snapshot(request_store, claims):
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")
    claims.mark_sent(request_id, 1, "m-1")
    with pytest.raises(ClaimConflict) as raised:
        claims.claim(request_id, 2, "alpha")
    assert raised.value.snapshot.status is Status.SENT
    assert raised.value.snapshot.provider_message_id == "m-1"


def test_claim_of_an_unknown_request_conflicts_without_a_snapshot(claims):
    with pytest.raises(ClaimConflict) as raised:
        claims.claim(uuid.uuid4().hex, 1, "alpha")
    assert raised.value.snapshot is None


def test_claim_out_of_order_conflicts(request_store, claims):
    request_id = create(request_store)
    with pytest.raises(ClaimConflict):
        claims.claim(request_id, 2, "alpha")


def test_finishing_with_the_wrong_attempt_conflicts(request_store, claims):
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")
    for finish in (
        lambda: claims.mark_sent(request_id, 2, "m"),
        lambda: claims.mark_failed(request_id, 2, FailureReason.REFUSED, None),
        lambda: claims.mark_retrying(request_id, 2, retries=1, excluded=("alpha",), delay_s=1, error="x"),
        lambda: claims.mark_requeued(request_id, 2, "throttled"),
    ):
        with pytest.raises(ClaimConflict):
            finish()
    assert request_store.get(request_id).status is Status.PROCESSING


def test_a_released_claim_can_be_claimed_again_but_not_released_twice(request_store, claims):
    request_id = create(request_store)
    claim = claims.claim(request_id, 1, "alpha")

    claims.release(claim)

    request = request_store.get(request_id)
    assert (request.status, request.attempts, request.lease_until) == (Status.PENDING, 0, None)
    with pytest.raises(ClaimConflict):
        claims.release(claim)
    assert claims.claim(request_id, 1, "beta").provider == "beta"


def test_a_released_retry_goes_back_to_retrying(request_store, claims):
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")
    claims.mark_retrying(request_id, 1, retries=1, excluded=("alpha",), delay_s=1, error="boom")
    claims.release(claims.claim(request_id, 2, "beta"))
    request = request_store.get(request_id)
    assert (request.status, request.attempts, request.retries) == (Status.RETRYING, 1, 1)


def test_abandoned_claim_is_taken_over_once(request_store, claims, clock):
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")
    clock.advance(61)
    with pytest.raises(ClaimConflict) as raised:
        claims.claim(request_id, 1, "beta")
    seen = raised.value.snapshot.lease_until
    claim = claims.reclaim_abandoned(request_id, 1, "alpha", seen)
    assert (claim.attempt, claim.provider) == (1, "alpha")
    with pytest.raises(ClaimBusy):
        claims.reclaim_abandoned(request_id, 1, "alpha", seen)


def test_retrying_then_sent(request_store, claims, clock):
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")
    claims.mark_retrying(request_id, 1, retries=1, excluded=("alpha",), delay_s=1, error="boom")
    request = request_store.get(request_id)
    assert (request.status, request.retries, request.excluded, request.last_error) == (
        Status.RETRYING, 1, ("alpha",), "boom")
    assert request.next_attempt_at == iso(clock() + 1)
    claim = claims.claim(request_id, 2, "beta")
    assert (claim.retries, claim.excluded) == (1, ("alpha",))
    claims.mark_sent(request_id, 2, "m-1")
    request = request_store.get(request_id)
    assert (request.status, request.provider_message_id, request.last_error, request.lease_until) == (
        Status.SENT, "m-1", None, None)
    assert request.due_at == int(clock()) + 7 * 86400  # the sweeper's last visit: the text goes then


def test_requeued_request_is_pending_again(request_store, claims):
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")
    claims.mark_requeued(request_id, 1, "throttled")
    request = request_store.get(request_id)
    assert (request.status, request.attempts, request.last_error) == (Status.PENDING, 1, "throttled")
    claims.claim(request_id, 2, "beta")


def test_expire_ends_a_waiting_request_but_never_a_live_claim(request_store, claims, tables, clock):
    waiting, held = create(request_store), create(request_store)
    claims.claim(held, 1, "alpha")
    assert claims.expire_request(waiting) is not None
    assert claims.expire_request(held) is None
    request = request_store.get(waiting)
    assert (request.status, request.failure_reason) == (Status.FAILED, FailureReason.EXPIRED)
    assert request.due_at == int(clock()) + 7 * 86400  # the text's last day (TEXT_RETENTION_DAYS)
    assert claims.expire_request(waiting) is None  # already finished
    clock.advance(61)
    assert claims.expire_request(held) is not None  # its holder died


def test_push_due_moves_the_deadline_once(request_store, claims, clock):
    request_id = create(request_store)
    seen = request_store.get(request_id).due_at
    clock.advance(1000)
    assert claims.push_due(request_id, seen) is True
    assert claims.push_due(request_id, seen) is False
    assert request_store.get(request_id).due_at == int(clock()) + 900


def test_a_finished_requests_text_is_removed_once_and_it_leaves_the_index(request_store, claims, tables, clock):
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")
    claims.mark_sent(request_id, 1, "m-1")
    due = request_store.get(request_id).due_at
    assert claims.remove_text(request_id, due) is True
    assert claims.remove_text(request_id, due) is False
    request = request_store.get(request_id)
    assert (request.text, request.due_at, request.status, request.phone) == (None, None, Status.SENT, "+14155550100")
    assert tables.requests.get(request_id).work_shard is None


def test_an_open_requests_text_is_never_removed(request_store, claims):
    request_id = create(request_store)
    assert claims.remove_text(request_id, request_store.get(request_id).due_at) is False
    assert request_store.get(request_id).text == "hi"


@pytest.mark.parametrize("status, end", ATTEMPT_ENDS)
def test_every_transition_hands_back_the_request_as_its_write_left_it(request_store, claims, status, end):
    request_id = create(request_store)
    claim = claims.claim(request_id, 1, "alpha")
    assert (claim.request.id, claim.request.status, claim.request.attempts) == (request_id, Status.PROCESSING, 1)
    ended = end(claims, request_id)
    assert ended == request_store.get(request_id)
    assert ended.status is status


def test_a_released_claim_hands_back_the_request_as_it_was_before(request_store, claims):
    request_id = create(request_store)
    released = claims.release(claims.claim(request_id, 1, "alpha"))
    assert released == request_store.get(request_id)
    assert (released.status, released.attempts) == (Status.PENDING, 0)
