"""Every path that ends a request sent or failed queues exactly one callback event, when the request has
somewhere to send it; nothing else does, and a queue failure never fails the send."""

from __future__ import annotations

import uuid

import pytest

from chalicelib.callbacks import CallbackEvent, CallbackPublisher, event_id_for
from chalicelib.dispatch_queue import DispatchMessage
from chalicelib.errors import DependencyUnavailable
from chalicelib.outcomes import OutcomeRecorder
from chalicelib.providers import Outcome, SendResult
from chalicelib.retry_policy import RetryPolicy
from chalicelib.sweeper import Sweeper

pytestmark = pytest.mark.unit

URL = "https://hooks.example.com/sms"
DEFAULT_URL = "https://team-b.example.com/status"


class RecordingQueue:
    def __init__(self):
        self.events: list[CallbackEvent] = []
        self.down = False

    def send(self, event, delay_s=0):
        if self.down:
            raise DependencyUnavailable("SQS unavailable: EndpointConnectionError")
        self.events.append(CallbackEvent.from_body(event.to_body()))  # through its body, as SQS carries it


class QuietRouter:
    def record_outcome(self, *args, **kwargs):
        return None


@pytest.fixture
def callback_queue():
    return RecordingQueue()


@pytest.fixture
def publisher(callback_queue, request_store):
    defaults = {"team-b": DEFAULT_URL}
    return CallbackPublisher(queue=lambda: callback_queue, requests=request_store, default_url_of=defaults.get)


@pytest.fixture
def outcomes(aws, request_store, claims, publisher):
    def make(max_retries: int = 5) -> OutcomeRecorder:
        return OutcomeRecorder(router=QuietRouter(), requests=request_store, claims=claims, health_snapshots=None,
                               queue=aws.queue, provider_names=("alpha", "beta"),
                               retry_policy=RetryPolicy(base_s=1, max_retries=max_retries), callbacks=publisher)

    return make


def accept(request_store, *, callback_url: str | None = URL, client: str = "team-a", ttl_s: int = 3600) -> str:
    request_id = uuid.uuid4().hex
    request_store.create(request_id, client=client, phone="+14155550100", text="secret text", encoding="GSM-7",
                         segments=1, ttl_s=ttl_s, callback_url=callback_url, reference="order-1")
    return request_id


def answer(outcome: Outcome, status_code: int = 200, error: str | None = None) -> SendResult:
    return SendResult("alpha", outcome, status_code, 7, "m-1" if outcome is Outcome.ACCEPTED else None, error)


def send(outcomes_recorder, claims, request_id: str, result: SendResult) -> None:
    claim = claims.claim(request_id, 1, "alpha")
    outcomes_recorder.record(DispatchMessage(id=request_id), claim, result)


def test_sent_queues_exactly_one_event(outcomes, request_store, claims, callback_queue):
    request_id = accept(request_store)
    send(outcomes(), claims, request_id, answer(Outcome.ACCEPTED))
    [event] = callback_queue.events
    assert (event.id, event.status, event.provider, event.error, event.url, event.client, event.reference) == (
        request_id, "sent", "alpha", None, URL, "team-a", "order-1")
    assert event.event_id == event_id_for(request_id, "sent")
    assert event.occurred_at == request_store.get(request_id).updated_at


@pytest.mark.parametrize(("result", "max_retries"), [
    pytest.param(answer(Outcome.REFUSED, 400, "refused by provider (400)"), 5, id="refused"),
    pytest.param(answer(Outcome.PROVIDER_FAILURE, 500, "provider error (500)"), 0, id="retries-exhausted"),
])
def test_failed_queues_exactly_one_event_with_its_error(outcomes, request_store, claims, callback_queue, result,
                                                        max_retries):
    request_id = accept(request_store)
    send(outcomes(max_retries), claims, request_id, result)
    [event] = callback_queue.events
    assert (event.status, event.error) == ("failed", result.error)


@pytest.mark.parametrize("result", [
    pytest.param(answer(Outcome.PROVIDER_FAILURE, 500, "provider error (500)"), id="retry-scheduled"),
    pytest.param(answer(Outcome.THROTTLED, 429, "throttled (429)"), id="throttled"),
])
def test_a_request_still_open_queues_nothing(outcomes, request_store, claims, callback_queue, result):
    send(outcomes(), claims, accept(request_store), result)
    assert callback_queue.events == []


def test_no_callback_url_and_no_client_default_means_no_event(outcomes, request_store, claims, callback_queue):
    send(outcomes(), claims, accept(request_store, callback_url=None), answer(Outcome.ACCEPTED))
    assert callback_queue.events == []


def test_the_clients_default_url_is_used_when_the_request_names_none(outcomes, request_store, claims,
                                                                     callback_queue):
    send(outcomes(), claims, accept(request_store, callback_url=None, client="team-b"), answer(Outcome.ACCEPTED))
    assert [e.url for e in callback_queue.events] == [DEFAULT_URL]


def test_finishing_an_abandoned_attempt_from_its_record_queues_its_event(outcomes, request_store, claims,
                                                                         callback_queue):
    request_id = accept(request_store)
    claims.claim(request_id, 1, "alpha")
    request_store.record_attempt(request_id, 1, answer(Outcome.ACCEPTED))  # then the dispatcher died
    assert outcomes().finish_recorded(DispatchMessage(id=request_id), request_store.get(request_id))
    [event] = callback_queue.events
    assert (event.status, event.event_id) == ("sent", event_id_for(request_id, "sent"))


def test_expiry_by_the_dispatcher_and_by_the_sweeper_queues_a_failed_event(outcomes, request_store, claims, queries,
                                                                           aws, clock, publisher, callback_queue):
    by_dispatcher = accept(request_store)
    assert outcomes().expire(by_dispatcher)
    assert not outcomes().expire(by_dispatcher)  # already failed: no second event
    by_sweeper = accept(request_store, ttl_s=600)
    clock.advance(901)
    Sweeper(queries=queries, claims=claims, queue=aws.queue, clock=clock, callbacks=publisher).sweep()
    assert [(e.id, e.status, e.error) for e in callback_queue.events] == [
        (by_dispatcher, "failed", "not sent within its time to live (expired)"),
        (by_sweeper, "failed", "not sent within its time to live (expired)")]


def test_a_queue_failure_never_fails_the_send_and_the_sweeper_publishes_the_event_again(
        outcomes, request_store, claims, queries, aws, clock, publisher, callback_queue):
    request_id = accept(request_store)
    callback_queue.down = True
    send(outcomes(), claims, request_id, answer(Outcome.ACCEPTED))  # no exception
    assert request_store.get(request_id).status == "sent"
    assert publisher.not_queued == 1
    assert request_store.get(request_id).callback_pending == "sent"

    callback_queue.down = False
    sweeper = Sweeper(queries=queries, claims=claims, queue=aws.queue, clock=clock, callbacks=publisher)
    assert sweeper.sweep().callbacks_queued == 1
    [event] = callback_queue.events
    assert event.event_id == event_id_for(request_id, "sent")  # the same event the dispatcher meant to queue
    after = request_store.get(request_id)
    assert after.callback_pending is None and after.text == "secret text"  # the text keeps its last visit
    assert sweeper.sweep().callbacks_queued == 0


def test_the_event_carries_neither_the_number_nor_the_text(outcomes, request_store, claims, callback_queue):
    send(outcomes(), claims, accept(request_store), answer(Outcome.ACCEPTED))
    body = callback_queue.events[0].to_body()
    assert "+1415" not in body and "secret text" not in body


def test_a_sweep_while_the_queue_is_still_down_leaves_the_event_for_a_later_sweep(
        outcomes, request_store, claims, queries, aws, clock, publisher, callback_queue):
    request_id = accept(request_store)
    callback_queue.down = True
    send(outcomes(), claims, request_id, answer(Outcome.ACCEPTED))
    sweeper = Sweeper(queries=queries, claims=claims, queue=aws.queue, clock=clock, callbacks=publisher)
    clock.advance(1)
    assert sweeper.sweep().callbacks_queued == 0
    assert request_store.get(request_id).callback_pending == "sent"  # still pending, due again
    callback_queue.down = False
    clock.advance(60)
    assert sweeper.sweep().callbacks_queued == 1
    assert [e.event_id for e in callback_queue.events] == [event_id_for(request_id, "sent")]


def test_a_pending_callback_whose_url_is_gone_is_not_swept_forever(request_store, claims, queries, aws, clock,
                                                                   callback_queue):
    down = RecordingQueue()
    down.down = True
    defaults = {"team-b": DEFAULT_URL}
    failing = CallbackPublisher(queue=lambda: down, requests=request_store, default_url_of=defaults.get)
    request_id = accept(request_store, callback_url=None, client="team-b")
    claims.claim(request_id, 1, "alpha")
    failing.status_changed(claims.mark_sent(request_id, 1, "m-1"))
    del defaults["team-b"]  # the client's default URL was removed meanwhile
    sweeper = Sweeper(queries=queries, claims=claims, queue=aws.queue, clock=clock, callbacks=failing)
    sweeper.sweep()
    assert request_store.get(request_id).callback_pending is None
    assert down.events == []


def test_the_receipts_hook_queues_a_later_status_change_from_the_request_its_write_left(
        publisher, request_store, claims, tables, clock, callback_queue):
    from chalicelib.delivery_receipt import DeliveryState, Receipt
    from chalicelib.storage.deliveries import DeliveryResults

    deliveries = DeliveryResults(tables, clock)
    request_id = accept(request_store)
    claims.claim(request_id, 1, "alpha")
    claims.mark_sent(request_id, 1, "m-1")
    delivered = deliveries.record(request_id, Receipt("alpha", "m-1", DeliveryState.DELIVERED,
                                                      occurred_at=clock.now - 60))
    assert publisher.status_changed(delivered)
    [event] = callback_queue.events
    assert (event.status, event.url, event.reference, event.event_id, event.occurred_at) == (
        "delivered", URL, "order-1", event_id_for(request_id, "delivered"), delivered.delivered_at)
    # nowhere to send it: nothing queued
    nowhere = accept(request_store, callback_url=None)
    claims.claim(nowhere, 1, "alpha")
    claims.mark_sent(nowhere, 1, "m-2")
    assert not publisher.status_changed(deliveries.record(nowhere, Receipt("alpha", "m-2", DeliveryState.DELIVERED)))
    assert len(callback_queue.events) == 1


def test_an_undelivered_callback_published_again_says_what_the_first_would_have(
        publisher, request_store, claims, queries, aws, clock, tables, callback_queue):
    """The receipt's hook could not queue it: the sweeper's copy has the same event id, reason and time."""
    from chalicelib.delivery_receipt import DeliveryReason, DeliveryState, Receipt
    from chalicelib.receipts.applier import ReceiptApplier
    from chalicelib.storage.deliveries import DeliveryResults

    request_id = accept(request_store)
    claims.claim(request_id, 1, "alpha")
    claims.mark_sent(request_id, 1, "m-1")
    applier = ReceiptApplier(deliveries=DeliveryResults(tables, clock), requests=request_store,
                             on_status_change=publisher.status_changed)
    receipt = Receipt("alpha", "m-1", DeliveryState.UNDELIVERED, error_code="30003",
                      reason=DeliveryReason.UNREACHABLE, occurred_at=clock.now - 60)
    callback_queue.down = True
    applier.apply(receipt)
    assert request_store.get(request_id).callback_pending == "undelivered"

    callback_queue.down = False
    Sweeper(queries=queries, claims=claims, queue=aws.queue, clock=clock, callbacks=publisher).sweep()
    [event] = callback_queue.events
    assert (event.event_id, event.status, event.error, event.occurred_at) == (
        event_id_for(request_id, "undelivered"), "undelivered", "unreachable (30003)", "2023-11-14T22:12:20.000Z")


@pytest.mark.parametrize("path", ["dispatcher-sent", "dispatcher-failed", "sweeper-expired", "receipt-undelivered"])
def test_every_path_says_a_status_change_the_same_way_in_the_callback_and_the_timeline(
        path, publisher, outcomes, request_store, claims, tables, clock, callback_queue):
    """Whatever wrote the status, the event is the request's StatusChanged, and the timeline's entry for it (a
    delivery result's) has the same time, provider and words."""
    from chalicelib.delivery_receipt import DeliveryReason, DeliveryState, Receipt
    from chalicelib.lifecycle import StatusChanged
    from chalicelib.receipts.applier import ReceiptApplier
    from chalicelib.storage.deliveries import DeliveryResults
    from chalicelib.timeline import timeline_of

    request_id = accept(request_store)
    if path == "dispatcher-sent":
        send(outcomes(), claims, request_id, answer(Outcome.ACCEPTED))
    elif path == "dispatcher-failed":
        send(outcomes(), claims, request_id, answer(Outcome.REFUSED, 400, "invalid number"))
    elif path == "sweeper-expired":
        clock.advance(3601)
        assert outcomes().expire(request_id)
    else:
        claims.claim(request_id, 1, "alpha")
        claims.mark_sent(request_id, 1, "m-1")
        applier = ReceiptApplier(deliveries=DeliveryResults(tables, clock), requests=request_store,
                                 on_status_change=publisher.status_changed)
        applier.apply(Receipt("alpha", "m-1", DeliveryState.UNDELIVERED, error_code="30003",
                              reason=DeliveryReason.UNREACHABLE, occurred_at=clock.now - 60))
    request = request_store.get(request_id)
    change = StatusChanged.of(request)
    [event] = callback_queue.events
    assert (event.id, event.status, event.provider, event.error, event.occurred_at) == (
        change.request_id, change.status, change.provider, change.error, change.occurred_at)
    last = timeline_of(request, request_store.attempts_of(request_id))[-1]
    assert (last.event, last.provider) == (change.status, change.provider)
    if path != "dispatcher-sent":  # (sent is dated by the accepted attempt's record, the callback by the write)
        assert last.at == change.occurred_at
    if path == "receipt-undelivered":
        assert last.detail == event.error == "unreachable (30003)"
