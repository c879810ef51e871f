"""Delivering callbacks: signed POST to the checked address, retries for at least a day, then the DLQ."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from chalicelib.callbacks import CallbackEvent, verify_signature
from chalicelib.callbacks.delivery import CallbackDelivery, DeliveryTarget
from chalicelib.errors import DependencyUnavailable
from chalicelib.retry_policy import RetryPolicy
from chalicelib.sqs_batch import QueueRecord

pytestmark = pytest.mark.unit

SECRET = "cb-secret-0123456789"
PUBLIC = "93.184.216.34"
DAY_S = 86_400
CALLBACK_RETRY = RetryPolicy(base_s=30, retry_for_s=DAY_S)  # the settings' defaults


class RecordingQueue:
    def __init__(self):
        self.sent: list[tuple[CallbackEvent, int]] = []
        self.dead: list[CallbackEvent] = []

    def send(self, event, delay_s=0):
        self.sent.append((event, delay_s))

    def send_to_dlq(self, event):
        self.dead.append(event)


class Receiver:
    """The client's endpoint: answers from a script of statuses (then 200), records what arrived."""

    def __init__(self, *statuses: int):
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def resolver_to(*addresses):
    def resolve(host, port, type=0):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


def make(receiver, *, addresses=(PUBLIC,), secrets=None, local=False, allowed=(), clock=None):
    queue, clock = RecordingQueue(), clock or Clock()
    secrets = {"team-a": SECRET} if secrets is None else secrets
    delivery = CallbackDelivery(
        http=httpx.Client(transport=httpx.MockTransport(receiver)), queue=queue, secret_of=secrets.get,
        target=DeliveryTarget(local=local, allowed_hosts=allowed, timeout_s=5), retry=CALLBACK_RETRY,
        clock=clock, resolver=resolver_to(*addresses))
    return delivery, queue, clock


def event(url="https://hooks.example.com/sms?team=a", **changes) -> CallbackEvent:
    return CallbackEvent(event_id="ev-1", id="b" * 32, status="failed", occurred_at="2026-12-02T04:00:00.000Z",
                         url=url, client="team-a", reference="order-9", provider="beta",
                         error="refused by provider (400)", **changes)


def run_until_done(delivery, queue, clock, first: CallbackEvent, limit: int = 500) -> list[float]:
    """Deliver the event, then each retry it queues after its delay, as SQS would; the times of each try."""
    tries, pending = [], [(first, 0)]
    while pending and len(tries) < limit:
        current, delay = pending.pop()
        clock.now += delay
        tries.append(clock.now)
        before = len(queue.sent)
        assert delivery.deliver(current) is True
        pending = queue.sent[before:]
    return tries


def test_a_2xx_delivers_the_signed_payload_to_the_checked_address():
    receiver = Receiver()
    delivery, queue, clock = make(receiver)
    assert delivery.deliver(event()) is True
    [request] = receiver.requests
    assert str(request.url) == f"https://{PUBLIC}/sms?team=a"  # the address checked, port 443
    assert request.headers["host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"  # the certificate is checked for the host
    assert verify_signature(SECRET, request.content, request.headers["x-signature"], now=clock())
    assert json.loads(request.content) == {
        "event_id": "ev-1", "id": "b" * 32, "reference": "order-9", "status": "failed", "provider": "beta",
        "error": "refused by provider (400)", "occurred_at": "2026-12-02T04:00:00.000Z"}
    assert queue.sent == [] and queue.dead == []


def test_failures_are_retried_with_backoff_until_the_receiver_answers_2xx():
    receiver = Receiver(500, 503, 404, 302)  # a redirect is not followed: a failure too
    delivery, queue, clock = make(receiver)
    start = clock.now
    tries = run_until_done(delivery, queue, clock, event())
    assert [round(t - start) for t in tries] == [0, 30, 90, 210, 450]
    assert len(receiver.requests) == 5
    assert {json.loads(r.content)["event_id"] for r in receiver.requests} == {"ev-1"}  # one event, five tries
    assert [e.attempt for e, _ in queue.sent] == [2, 3, 4, 5]
    assert queue.dead == []


def test_a_receiver_that_never_answers_2xx_is_tried_for_at_least_a_day_then_dead_lettered():
    receiver = Receiver(*[500] * 1000)
    delivery, queue, clock = make(receiver)
    start = clock.now
    tries = run_until_done(delivery, queue, clock, event())
    offsets = [t - start for t in tries]
    assert offsets == CALLBACK_RETRY.schedule()
    assert len(offsets) == 101 and offsets[-2] < DAY_S <= offsets[-1]
    assert max(delay for _, delay in queue.sent) == 900  # SQS's ceiling for DelaySeconds
    [dead] = queue.dead
    assert (dead.event_id, dead.attempt) == ("ev-1", 101)
    assert "answered 500" in dead.dead_reason


def test_a_target_refused_at_delivery_time_goes_to_the_dlq_at_once():
    receiver = Receiver()
    delivery, queue, _ = make(receiver, addresses=("10.0.0.5",))  # DNS now points inside
    assert delivery.deliver(event()) is True
    assert receiver.requests == [] and queue.sent == []
    [dead] = queue.dead
    assert "private" in dead.dead_reason


def test_dns_failure_and_a_missing_secret_are_retried_not_dropped():
    receiver = Receiver()
    delivery, queue, _ = make(receiver, secrets={})
    delivery.deliver(event())
    assert queue.sent[-1][0].attempt == 2 and queue.dead == []

    def no_dns(*_a, **_k):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    delivery, queue, _ = make(receiver)
    delivery._resolver = no_dns
    delivery.deliver(event())
    assert queue.sent[-1][1] == 30 and receiver.requests == []


def test_a_timeout_is_a_failed_try():
    def hangs(request):
        raise httpx.ReadTimeout("too slow", request=request)

    delivery, queue, _ = make(hangs)
    delivery.deliver(event())
    assert [e.attempt for e, _ in queue.sent] == [2]


def test_the_allow_list_and_http_in_the_local_stage_reach_a_local_receiver():
    receiver = Receiver()
    delivery, queue, _ = make(receiver, addresses=("127.0.0.1",), local=True, allowed=("127.0.0.1",))
    assert delivery.deliver(event(url="http://127.0.0.1:9100/cb")) is True
    assert str(receiver.requests[0].url) == "http://127.0.0.1:9100/cb"
    assert queue.sent == [] and queue.dead == []


def test_a_batch_reports_only_records_whose_requeue_failed():
    class DownQueue(RecordingQueue):
        def send(self, event, delay_s=0):
            raise DependencyUnavailable("SQS unavailable: EndpointConnectionError")

    delivery, _, _ = make(Receiver(500))
    delivery._queue = DownQueue()
    records = [QueueRecord("m-1", event().to_body()), QueueRecord("m-2", "not json")]
    # m-1 could not be re-queued: it comes back from SQS itself; m-2 can never be read: dropped
    assert delivery.deliver_batch(records) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}


def test_the_queued_body_carries_no_phone_or_text_and_round_trips():
    body = event().to_body()
    assert CallbackEvent.from_body(body) == event()
    assert "phone" not in body and "text" not in body
