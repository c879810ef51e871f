"""The sweeper: an open request whose deadline passed is queued again or ended, never left behind."""

from __future__ import annotations

import pytest

from chalicelib.dispatch_queue import DispatchMessage, message_for
from chalicelib.lifecycle import Status
from chalicelib.sweeper import Sweeper
from tests.unit.storage.helpers import create

pytestmark = pytest.mark.unit


@pytest.fixture
def sweeper(aws, queries, claims, clock):
    return Sweeper(queries=queries, claims=claims, queue=aws.queue, clock=clock)


def test_nothing_overdue_means_nothing_done(sweeper, request_store, claims, aws):
    create(request_store)
    assert sweeper.sweep().__dict__ == {"requeued": 0, "scheduled": 0, "expired": 0, "skipped": 0, "texts_removed": 0,
                                        "callbacks_queued": 0}
    assert aws.probe.messages() == []


def test_lost_pending_request_is_queued_again(sweeper, request_store, claims, aws, clock):
    request_id = create(request_store)
    clock.advance(901)
    assert sweeper.sweep().requeued == 1
    [queued] = aws.probe.messages()
    assert (queued.message.id, queued.message.attempt) == (request_id, 1)
    assert request_store.get(request_id).due_at == int(clock()) + 900
    assert sweeper.sweep().requeued == 0  # its deadline moved on


def test_lost_retry_is_queued_as_the_next_attempt_with_its_exclusions(sweeper, request_store, claims, aws, clock):
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")
    claims.mark_retrying(request_id, 1, retries=1, excluded=("alpha",), delay_s=1, error="boom")
    clock.advance(902)
    sweeper.sweep()
    [queued] = aws.probe.messages()
    assert (queued.message.attempt, queued.message.retries) == (2, 1)
    assert (queued.message.excluded, queued.message.last_failed) == (("alpha",), "alpha")


def test_abandoned_claim_is_queued_as_the_same_attempt(sweeper, request_store, claims, aws, clock):
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")
    clock.advance(61)
    sweeper.sweep()
    [queued] = aws.probe.messages()
    assert (queued.message.id, queued.message.attempt) == (request_id, 1)


def test_request_past_its_ttl_is_expired(sweeper, request_store, claims, aws, clock):
    request_id = create(request_store, ttl_s=600)
    clock.advance(901)
    assert sweeper.sweep().expired == 1
    item = request_store.get(request_id)
    assert (item.status, item.failure_reason) == ("failed", "expired")
    assert aws.probe.messages() == []


def test_live_claim_is_skipped(sweeper, request_store, claims, tables, aws, clock):
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")
    # A deadline that passed while the lease still runs (e.g. a lease longer than the sweep deadline).
    tables.requests(request_id).update(actions=[tables.requests.due_at.set(int(clock()) - 1)])
    assert sweeper.sweep().skipped == 1
    assert request_store.get(request_id).status is Status.PROCESSING
    assert aws.probe.messages() == []


def test_request_moved_on_while_the_sweeper_looked_is_skipped(aws, request_store, queries, claims, clock):
    request_id = create(request_store)
    clock.advance(901)
    stale = list(queries.overdue(clock()))
    claims.push_due(request_id, stale[0].due_at)  # another sweeper got there first

    class StaleView:
        def overdue(self, now, limit=100):
            return iter(stale)

    assert Sweeper(queries=StaleView(), claims=claims, queue=aws.queue, clock=clock).sweep().skipped == 1
    assert aws.probe.messages() == []


def test_message_for_a_pending_request_asks_for_the_next_attempt(request_store):
    request_id = create(request_store)
    message = message_for(request_store.get(request_id))
    assert (message.attempt, message.retries, message.excluded, message.last_failed) == (1, 0, (), None)


def test_a_request_refused_here_is_picked_up_again_still_avoiding_who_refused_it(request_store, claims):
    request_id = create(request_store)
    claims.claim(request_id, 1, "alpha")
    claims.mark_refused_here(request_id, 1, refused_by=("alpha",), error="vonage status 29: demo account")
    request = request_store.get(request_id)
    assert (request.status, request.retries, request.refused_by, request.last_error) == (
        "pending", 0, ("alpha",), "vonage status 29: demo account")
    message = message_for(request)
    assert (message.attempt, message.retries, message.refused_by) == (2, 0, ("alpha",))
    assert DispatchMessage.from_body(message.to_body()) == message  # as the queue carries it
    assert claims.claim(request_id, 2, "beta").refused_by == ("alpha",)


def test_a_finished_requests_text_is_removed_after_the_text_retention(sweeper, request_store, claims, clock):
    sent, open_one = create(request_store), create(request_store)
    claims.claim(sent, 1, "alpha")
    claims.mark_sent(sent, 1, "m-1")
    clock.advance(7 * 86400 - 1)
    assert sweeper.sweep().texts_removed == 0
    assert request_store.get(sent).text == "hi"
    clock.advance(1)
    report = sweeper.sweep()
    assert report.texts_removed == 1
    assert (request_store.get(sent).text, request_store.get(open_one).text) == (None, "hi")
    assert sweeper.sweep().texts_removed == 0  # it left the index
