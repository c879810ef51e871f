"""The dispatcher end to end in-process: moto (tables, queue), a router on fakeredis and real Redis,
and real provider simulators over HTTP. Each test reads what a user would see: the request's status,
its attempt records, what the providers received, and what went back onto the queue."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter

import httpx
import pytest

from chalicelib.dispatch_queue import DispatchMessage
from chalicelib.dispatcher import Dispatcher
from chalicelib.errors import DependencyUnavailable
from chalicelib.lifecycle import Status
from chalicelib.outcomes import OutcomeRecorder, exclusions_for_retry
from chalicelib.providers import Outcome, OutgoingSms, SendResult
from chalicelib.retry_policy import RetryPolicy
from chalicelib.router import Router
from chalicelib.sqs_batch import QueueRecord
from chalicelib.vendors import build_providers
from chalicelib.vendors.http_json import HttpJsonConfig
from localdev.queue_emulator import build_event
from tests.conftest import routing_policy

pytestmark = pytest.mark.unit

PHONE = "+14155550100"


class Harness:
    """One dispatcher wired to the test's collaborators, plus the moves a test makes with it."""

    def __init__(self, aws, settings, request_store, claims, health_snapshots, clock, redis_client, key_prefix,
                 simulators, http, providers, *, rate_limit=50, min_samples=10, max_retries=5, horizon_ms=2000,
                 claims_wrapper=None, snapshots_wrapper=None, guard_ms=10, on_sleep=None):
        self.aws, self.request_store, self.claims, self.clock = aws, request_store, claims, clock
        self.sims = {name: simulators(name, mode=mode) for name, mode in providers.items()}
        configs = [HttpJsonConfig(name=name, url=sim.url, rate_limit=rate_limit, timeout_s=2)
                   for name, sim in self.sims.items()]
        self.router = Router(redis_client, configs, key_prefix=key_prefix,
                             policy=routing_policy(min_samples=min_samples, horizon_ms=horizon_ms, guard_ms=guard_ms),
                             clock=clock.ms)
        self.providers = build_providers(tuple(configs), http)
        self.slept: list[float] = []
        self._on_sleep = on_sleep
        dispatcher_claims = claims_wrapper(claims) if claims_wrapper else claims
        outcomes = OutcomeRecorder(
            router=self.router, requests=request_store, claims=dispatcher_claims,
            health_snapshots=snapshots_wrapper(health_snapshots) if snapshots_wrapper else health_snapshots,
            queue=aws.queue, provider_names=self.providers, retry_policy=RetryPolicy(base_s=1, max_retries=max_retries))
        self.dispatcher = Dispatcher(
            router=self.router, claims=dispatcher_claims, queue=aws.queue, providers=self.providers,
            outcomes=outcomes, booking_horizon_ms=horizon_ms, clock=clock, monotonic=clock, sleep=self._sleep,
        )

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds)
        if self._on_sleep is not None and seconds > 0:
            self._on_sleep(self)

    def accept(self, ttl_s: int = 3600) -> DispatchMessage:
        """A request as intake leaves it: stored pending, its first message in hand (not queued)."""
        request_id = uuid.uuid4().hex
        request = self.request_store.create(request_id, client="team-a", phone=PHONE, text="hello",
                                            encoding="GSM-7", segments=1, ttl_s=ttl_s)
        return DispatchMessage(id=request_id, expires_at=request.expires_at)

    def deliver(self, *messages: DispatchMessage) -> dict:
        return self.dispatcher.dispatch_batch([QueueRecord(uuid.uuid4().hex, m.to_body()) for m in messages])

    def receive(self, message: DispatchMessage, receives: int = 1) -> QueueRecord:
        """The message through the real queue: sent, then received `receives` times (a record with a receipt
        handle, as Lambda hands it over)."""
        self.aws.queue.send(message)
        self.aws.probe.take()
        for _ in range(receives):
            received = self.aws.sqs.receive_message(QueueUrl=self.aws.queue.queue_url, AttributeNames=["All"],
                                                    VisibilityTimeout=0)["Messages"]
        [record] = build_event(received, "arn:aws:sqs:us-east-1:000000000000:sms-dispatch", "us-east-1")["Records"]
        return QueueRecord.of(record)

    def hidden_on_queue(self) -> int:
        attributes = self.aws.sqs.get_queue_attributes(QueueUrl=self.aws.queue.queue_url, AttributeNames=["All"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"])

    def deliver_next(self) -> DispatchMessage:
        """Take the one message waiting on the queue (its delay served) and deliver it."""
        [queued] = self.aws.probe.take()
        self.clock.advance(queued.delay_s)
        assert self.deliver(queued.message) == {"batchItemFailures": []}
        return queued.message

    def request(self, request_id: str):
        return self.request_store.get(request_id)

    def attempts(self, request_id: str):
        return self.request_store.attempts_of(request_id)

    def provider_calls(self) -> Counter:
        return Counter({name: len(sim.arrivals()) for name, sim in self.sims.items()})


class RefusingHere:
    """A provider whose account will not send this message (Twilio 21408: the region is not enabled for it)."""

    def __init__(self, name: str):
        self.name, self.timeout_s, self.calls = name, 2.0, 0

    def send(self, sms) -> SendResult:
        self.calls += 1
        return SendResult(self.name, Outcome.REFUSED_HERE, 400, 5,
                          error="twilio 21408: destination region not enabled for this account")


class Wrapped:
    """The real collaborator, with some of its methods replaced by the test."""

    def __init__(self, real, **replaced):
        self._real = real
        self.__dict__.update(replaced)

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.fixture(scope="module")
def http():
    with httpx.Client() as client:
        yield client


@pytest.fixture
def harness(aws, settings, request_store, claims, health_snapshots, clock, redis_client, key_prefix, simulators,
            http):
    def build(providers=None, **options) -> Harness:
        return Harness(aws, settings, request_store, claims, health_snapshots, clock, redis_client, key_prefix,
                       simulators, http, providers or {"alpha": "ok"}, **options)

    return build


# ------------------------------------------------------------------ one send


def test_accepted_message_ends_sent_with_one_response_record(harness):
    h = harness({"alpha": "ok"})
    message = h.accept()
    assert h.deliver(message) == {"batchItemFailures": []}
    item = h.request(message.id)
    assert (item.status, item.provider_used, item.attempts, item.retries) == ("sent", "alpha", 1, 0)
    [sent] = h.sims["alpha"].sent()
    assert item.provider_message_id == sent["message_id"]
    assert (sent["to"], sent["text"], sent["idempotency_key"]) == (PHONE, "hello", f"{message.id}-1")
    [record] = h.attempts(message.id)
    assert (record.provider, record.outcome, record.status_code) == ("alpha", "accepted", 200)
    assert item.due_at == int(h.clock()) + 7 * 86400  # the sweeper comes back only to remove the text
    assert h.aws.probe.messages() == []


def test_refused_message_fails_without_retry(harness):
    h = harness({"alpha": "reject", "beta": "ok"})
    h.sims["beta"].configure(mode="reject")
    message = h.accept()
    h.deliver(message)
    item = h.request(message.id)
    assert (item.status, item.failure_reason, item.retries) == ("failed", "refused", 0)
    assert "400" in item.last_error
    assert [r.outcome for r in h.attempts(message.id)] == ["refused"]
    assert h.aws.probe.messages() == []
    assert sum(h.provider_calls().values()) == 1


def test_refused_here_goes_on_at_once_to_another_provider_without_a_retry(harness):
    h = harness({"alpha": "ok", "beta": "ok"})
    h.providers["alpha"] = refusing = RefusingHere("alpha")
    message = h.accept()
    h.deliver(message)
    item = h.request(message.id)
    assert (item.status, item.retries, item.refused_by, item.excluded) == ("pending", 0, ("alpha",), ())
    [queued] = h.aws.probe.messages()
    assert (queued.delay_s, queued.message.attempt, queued.message.retries) == (0, 2, 0)
    assert queued.message.refused_by == ("alpha",)
    h.deliver_next()
    item = h.request(message.id)
    assert (item.status, item.provider_used, item.retries) == ("sent", "beta", 0)
    assert [(r.provider, r.outcome) for r in h.attempts(message.id)] == [("alpha", "refused_here"),
                                                                         ("beta", "accepted")]
    assert refusing.calls == 1


def test_a_provider_that_refused_here_is_not_asked_again_for_that_request(harness):
    h = harness({"alpha": "ok", "beta": "fail"}, max_retries=2)
    h.providers["alpha"] = refusing = RefusingHere("alpha")
    message = h.accept()
    h.deliver(message)
    while h.aws.probe.messages():
        h.deliver_next()
    item = h.request(message.id)
    # A mix of "refused here" and failures is the retry budget's: beta's failures end it, never "refused".
    assert (item.status, item.failure_reason, item.retries) == ("failed", "retries_exhausted", 2)
    assert [r.outcome for r in h.attempts(message.id)] == ["refused_here"] + ["provider_failure"] * 3
    assert refusing.calls == 1


def test_every_provider_refusing_here_fails_the_request_refused(harness):
    h = harness({"alpha": "ok", "beta": "ok"})
    h.providers["alpha"], h.providers["beta"] = RefusingHere("alpha"), RefusingHere("beta")
    message = h.accept()
    h.deliver(message)
    h.deliver_next()
    item = h.request(message.id)
    assert (item.status, item.failure_reason, item.retries) == ("failed", "refused", 0)
    assert item.last_error == "twilio 21408: destination region not enabled for this account (refused by every " \
                              "provider)"
    assert sorted(r.provider for r in h.attempts(message.id)) == ["alpha", "beta"]
    assert h.aws.probe.messages() == []


def test_refused_here_does_not_count_against_the_providers_health(harness):
    h = harness({"alpha": "ok", "beta": "ok"}, min_samples=2)
    h.providers["alpha"] = RefusingHere("alpha")
    for _ in range(3):
        h.deliver(h.accept())
        while h.aws.probe.messages():
            h.deliver_next()
    alpha = next(state for state in h.router.provider_states() if state.name == "alpha")
    assert (alpha.healthy, alpha.failures, alpha.successes) == (True, 0, 0)


def test_throttled_by_the_last_provider_that_has_not_refused_here_waits_a_second(harness):
    h = harness({"alpha": "ok", "beta": "throttle"})
    h.providers["alpha"] = RefusingHere("alpha")
    message = h.accept()
    h.deliver(message)
    h.deliver_next()
    [queued] = h.aws.probe.messages()
    assert (queued.delay_s, queued.message.avoid, queued.message.refused_by) == (1, ("beta",), ("alpha",))
    h.sims["beta"].configure(mode="ok")
    h.deliver_next()
    assert (h.request(message.id).status, h.request(message.id).provider_used) == ("sent", "beta")


def test_provider_failure_schedules_a_retry_on_another_provider(harness):
    h = harness({"alpha": "fail", "beta": "fail"})
    message = h.accept()
    h.deliver(message)
    item = h.request(message.id)
    first = item.provider_used
    assert (item.status, item.retries, item.excluded) == ("retrying", 1, (first,))
    assert item.next_attempt_at is not None
    [queued] = h.aws.probe.messages()
    assert queued.delay_s == 1
    assert (queued.message.attempt, queued.message.retries) == (2, 1)
    assert (queued.message.excluded, queued.message.last_failed) == ((first,), first)
    [record] = h.attempts(message.id)
    assert (record.outcome, int(record.status_code)) == ("provider_failure", 500)


def test_retries_back_off_exponentially_then_fail_for_good(harness):
    h = harness({"alpha": "fail", "beta": "fail", "gamma": "fail"})
    message = h.accept()
    h.deliver(message)
    delays, exclusions, providers = [], [], [h.request(message.id).provider_used]
    for _ in range(5):
        queued = h.aws.probe.messages()[0]
        delays.append(queued.delay_s)
        exclusions.append(queued.message.excluded)
        h.deliver_next()
        providers.append(h.request(message.id).provider_used)
    assert delays == [1, 2, 4, 8, 16]
    # Every provider tried once before any is tried again; exclusions grow, then only the last stays out.
    assert len(set(providers[:3])) == 3
    assert [len(e) for e in exclusions[:3]] == [1, 2, 3]
    assert all(later != earlier for earlier, later in itertools.pairwise(providers))
    item = h.request(message.id)
    assert (item.status, item.failure_reason, item.attempts, item.retries) == ("failed", "retries_exhausted", 6, 5)
    assert "500" in item.last_error
    assert [r.attempt for r in h.attempts(message.id)] == [1, 2, 3, 4, 5, 6]
    assert [r.provider for r in h.attempts(message.id)] == providers
    assert h.aws.probe.messages() == []
    assert sum(h.provider_calls().values()) == 6


def test_retry_never_goes_back_to_a_failed_provider_while_another_is_untried(harness):
    h = harness({"alpha": "fail", "beta": "ok", "gamma": "ok"})
    h.sims["beta"].configure(mode="fail")
    message = h.accept()
    h.deliver(message)
    first = h.request(message.id).provider_used
    h.deliver_next()
    second = h.request(message.id).provider_used
    if {first, second} == {"alpha", "beta"}:
        h.deliver_next()
    item = h.request(message.id)
    assert (item.status, item.provider_used) == ("sent", "gamma")
    assert len({r.provider for r in h.attempts(message.id)}) == len(h.attempts(message.id))


def test_when_every_provider_failed_only_the_last_one_stays_excluded(harness):
    h = harness({"alpha": "fail", "beta": "fail"})
    message = h.accept()
    h.deliver(message)
    h.deliver_next()
    tried = [r.provider for r in h.attempts(message.id)]
    assert sorted(tried) == ["alpha", "beta"]
    [queued] = h.aws.probe.messages()
    assert queued.message.excluded == tuple(tried)
    assert queued.message.last_failed == tried[-1]
    h.sims[tried[0]].configure(mode="ok")
    h.deliver_next()
    item = h.request(message.id)
    assert (item.status, item.provider_used, item.retries) == ("sent", tried[0], 2)


def test_throttled_message_is_requeued_without_counting_a_retry(harness):
    h = harness({"alpha": "throttle", "beta": "ok"})
    h.sims["beta"].configure(mode="throttle")
    message = h.accept()
    h.deliver(message)
    item = h.request(message.id)
    throttler = item.provider_used
    assert (item.status, item.retries) == ("pending", 0)
    [queued] = h.aws.probe.messages()
    assert (queued.delay_s, queued.message.attempt, queued.message.retries) == (0, 2, 0)
    assert queued.message.avoid == (throttler,)
    assert queued.message.excluded == ()
    h.sims["alpha"].configure(mode="ok")
    h.sims["beta"].configure(mode="ok")
    h.deliver_next()
    item = h.request(message.id)
    assert (item.status, item.retries) == ("sent", 0)
    assert item.provider_used != throttler
    assert [r.outcome for r in h.attempts(message.id)] == ["throttled", "accepted"]


def test_when_every_provider_throttles_the_message_waits_a_second_instead_of_looping(harness):
    h = harness({"alpha": "throttle", "beta": "throttle"})
    message = h.accept()
    h.deliver(message)
    [first] = h.aws.probe.take()
    assert first.delay_s == 0  # another provider has not throttled it yet: straight on

    h.deliver(first.message)

    [second] = h.aws.probe.messages()
    assert second.delay_s == 1
    assert len(second.message.avoid) == 1  # back to avoiding only the last one
    assert [r.outcome for r in h.attempts(message.id)] == ["throttled", "throttled"]
    assert h.request(message.id).retries == 0


def test_throttling_does_not_count_against_provider_health(harness):
    h = harness({"alpha": "throttle"}, min_samples=2)
    for _ in range(3):
        h.deliver(h.accept())
        h.aws.probe.take()
    [state] = h.router.provider_states()
    assert (state.healthy, state.failures, state.successes) == (True, 0, 0)
    assert state.effective_rate_limit == pytest.approx(40, abs=1)  # a 429 lowers its rate instead: 80%, for a while


# ------------------------------------------------------------------ booked send times


def test_a_send_booked_for_later_is_waited_for_in_the_worker(harness):
    h = harness({"alpha": "ok"}, rate_limit=1, horizon_ms=1500)
    first, second = h.accept(), h.accept()
    h.deliver(first)
    h.deliver(second)
    assert [h.request(m.id).status for m in (first, second)] == ["sent", "sent"]
    assert sum(h.slept) == pytest.approx(1.01)  # alpha's next free time: 1 s + the 10 ms guard
    assert h.aws.probe.messages() == []


def test_message_with_no_send_time_within_the_horizon_waits_in_the_queue(harness):
    h = harness({"alpha": "ok"}, rate_limit=1, horizon_ms=0)
    first, second = h.accept(), h.accept()
    h.deliver(first)
    h.deliver(second)
    assert h.request(first.id).status == "sent"
    item = h.request(second.id)
    assert (item.status, item.attempts, item.retries) == ("pending", 0, 0)
    [queued] = h.aws.probe.messages()
    assert queued.message == second  # the same message: not a retry, not a new attempt
    assert queued.delay_s >= 1
    assert len(h.sims["alpha"].arrivals()) == 1
    h.deliver_next()
    assert h.request(second.id).status == "sent"


def test_a_received_message_waits_on_the_queue_without_a_copy(harness):
    h = harness({"alpha": "ok"}, rate_limit=1, horizon_ms=0)
    h.deliver(h.accept())  # alpha's one send this second
    waiting = h.accept()
    record = h.receive(waiting)

    assert h.dispatcher.dispatch_batch([record]) == {"batchItemFailures": [{"itemIdentifier": record.message_id}]}

    assert h.aws.probe.messages() == []  # no SendMessage: its visibility was extended instead
    assert h.hidden_on_queue() == 1
    assert h.request(waiting.id).status == "pending"


def test_a_message_received_many_times_waits_as_a_fresh_copy(harness):
    h = harness({"alpha": "ok"}, rate_limit=1, horizon_ms=0)
    h.deliver(h.accept())
    waiting = h.accept()
    record = h.receive(waiting, receives=3)
    assert record.receive_count == 3

    assert h.dispatcher.dispatch_batch([record]) == {"batchItemFailures": []}  # done: the copy waits instead

    [queued] = h.aws.probe.messages()
    assert queued.message == waiting  # its receive count starts again: waiting never leads to the DLQ


def test_a_claim_slower_than_its_lead_books_again_for_the_claimed_provider(harness):
    def slow_claim(claims):
        def claim(*args):
            h.clock.advance(0.3)  # the booked time has passed by the time the claim is done
            return claims.claim(*args)

        return Wrapped(claims, claim=claim)

    h = harness({"alpha": "ok"}, rate_limit=2, horizon_ms=1500, claims_wrapper=slow_claim)
    message = h.accept()

    h.deliver(message)

    assert h.request(message.id).status == "sent"
    assert len(h.sims["alpha"].arrivals()) == 1
    [alpha] = h.router.provider_states()
    assert alpha.in_use_last_second + alpha.booked_ahead == 1  # the late booking was given back


def test_a_late_claim_without_a_free_time_gives_the_claim_back_and_waits(harness):
    def claim_then_lose_the_schedule(claims):
        def claim(*args):
            held = claims.claim(*args)
            h.clock.advance(0.3)
            assert h.router.book().provider == "alpha"  # another dispatcher books alpha's next time meanwhile
            return held

        return Wrapped(claims, claim=claim)

    # alpha's next free time after the one given back is 2.02 s away: past the 1.5 s horizon.
    h = harness({"alpha": "ok"}, rate_limit=1, horizon_ms=1500, claims_wrapper=claim_then_lose_the_schedule)
    message = h.accept()

    h.deliver(message)

    item = h.request(message.id)
    assert (item.status, item.attempts, item.retries) == ("pending", 0, 0)  # as if never claimed
    assert h.sims["alpha"].arrivals() == []
    [queued] = h.aws.probe.messages()
    assert queued.message == message and queued.delay_s >= 1


def test_a_provider_that_trips_while_a_send_waits_for_its_time_gets_nothing(harness):
    def trip_alpha(h):
        for _ in range(10):
            h.router.record_outcome("alpha", False)

    h = harness({"alpha": "ok", "beta": "ok"}, rate_limit=1, horizon_ms=1500, on_sleep=trip_alpha)
    messages = [h.accept() for _ in range(3)]  # alpha and beta now, alpha again in 1.01 s

    h.deliver(*messages)

    assert h.provider_calls() == Counter({"alpha": 1, "beta": 1})
    waited = [m for m in messages if h.request(m.id).status == "pending"]
    assert len(waited) == 1 and h.request(waited[0].id).attempts == 0  # its claim was given back
    [queued] = h.aws.probe.messages()
    assert queued.message == waited[0]
    h.deliver_next()
    assert h.request(waited[0].id).provider_used == "beta"


# ------------------------------------------------------------------ health


def test_unhealthy_provider_gets_no_traffic(harness):
    h = harness({"alpha": "ok", "beta": "ok"}, min_samples=3)
    for _ in range(3):
        h.router.record_outcome("alpha", success=False)
    for _ in range(4):
        h.deliver(h.accept())
    assert h.provider_calls() == Counter({"beta": 4, "alpha": 0})


def test_message_with_no_healthy_provider_waits_and_is_not_failed(harness):
    h = harness({"alpha": "ok"}, min_samples=3)
    for _ in range(3):
        h.router.record_outcome("alpha", success=False)
    message = h.accept()
    assert h.deliver(message) == {"batchItemFailures": []}
    item = h.request(message.id)
    assert (item.status, item.attempts, item.retries) == ("pending", 0, 0)
    [queued] = h.aws.probe.messages()
    assert queued.message == message
    assert 1 <= queued.delay_s <= 3600  # never past the message's own expiry
    assert h.sims["alpha"].arrivals() == []


def test_health_flip_is_snapshotted_to_the_health_table(harness, tables):
    h = harness({"alpha": "fail", "beta": "fail"}, min_samples=1)
    h.deliver(h.accept())
    [snapshot] = list(tables.health.scan())
    assert (snapshot.is_healthy, int(snapshot.failure_count)) == ("false", 1)
    assert snapshot.last_transition_at is not None


# ------------------------------------------------------------------ expiry, duplicates, crashes


def test_expired_message_fails_without_a_send(harness):
    h = harness({"alpha": "ok"})
    message = h.accept(ttl_s=60)
    h.clock.advance(61)
    h.deliver(message)
    item = h.request(message.id)
    assert (item.status, item.failure_reason) == ("failed", "expired")
    assert h.sims["alpha"].arrivals() == []


def test_same_record_delivered_twice_calls_provider_once(harness):
    h = harness({"alpha": "ok", "beta": "ok"})
    message = h.accept()
    h.deliver(message)
    h.deliver(message)
    assert sum(h.provider_calls().values()) == 1
    assert h.request(message.id).status == "sent"
    assert len(h.attempts(message.id)) == 1


def test_stale_message_of_an_earlier_attempt_is_dropped(harness):
    h = harness({"alpha": "fail", "beta": "ok"})
    h.sims["beta"].configure(mode="fail")
    message = h.accept()
    h.deliver(message)
    h.deliver_next()  # attempt 2 done
    calls = sum(h.provider_calls().values())
    h.deliver(message)  # attempt 1 again, long after
    assert sum(h.provider_calls().values()) == calls
    assert h.request(message.id).attempts == 2


def test_crash_between_claim_and_record_is_completed_once_on_the_same_provider(harness, clock):
    h = harness({"alpha": "ok", "beta": "ok"})
    message = h.accept()
    # A dispatcher claims attempt 1 for beta, sends, and dies before recording anything.
    claim = h.claims.claim(message.id, 1, "beta")
    h.providers["beta"].send(OutgoingSms(claim.phone, claim.text, message.id, 1))
    clock.advance(61)  # past the 60 s lease
    assert h.deliver(message) == {"batchItemFailures": []}
    item = h.request(message.id)
    assert (item.status, item.provider_used, item.attempts) == ("sent", "beta", 1)
    arrivals = h.sims["beta"].arrivals()
    assert [a["idempotency_key"] for a in arrivals] == [f"{message.id}-1"] * 2
    assert len(h.sims["beta"].sent()) == 1  # the provider sent it once, answering the resend from its log
    assert item.provider_message_id == h.sims["beta"].sent()[0]["message_id"]
    assert h.sims["alpha"].arrivals() == []


def test_a_refusal_here_recorded_before_a_crash_is_finished_from_its_record(harness, clock):
    def refused_here_write_fails_once(claims):
        failed = []

        def write(*args, **kwargs):
            if not failed:
                failed.append(True)
                raise DependencyUnavailable("DynamoDB unavailable")
            return claims.mark_refused_here(*args, **kwargs)

        return Wrapped(claims, mark_refused_here=write)

    h = harness({"alpha": "ok", "beta": "ok"}, claims_wrapper=refused_here_write_fails_once)
    h.providers["alpha"] = refusing = RefusingHere("alpha")
    message = h.accept()
    assert len(h.deliver(message)["batchItemFailures"]) == 1
    clock.advance(61)
    assert h.deliver(message) == {"batchItemFailures": []}
    item = h.request(message.id)
    assert (item.status, item.refused_by, item.retries) == ("pending", ("alpha",), 0)
    h.deliver_next()
    assert (h.request(message.id).status, h.request(message.id).provider_used) == ("sent", "beta")
    assert refusing.calls == 1


@pytest.mark.parametrize(("mode", "ends"), [("ok", "sent"), ("reject", "failed"), ("fail", "retrying")])
def test_an_answer_recorded_before_a_crash_is_finished_from_its_record_without_a_second_send(harness, clock, mode,
                                                                                             ends):
    """Defect B2: the provider answered and the attempt record was written, but the status write failed (the
    dispatcher died, or DynamoDB refused it). After the lease, the takeover finishes from the record."""
    def status_write_fails_once(claims):
        failed = []

        def fail_first(real):
            def write(*args, **kwargs):
                if not failed:
                    failed.append(True)
                    raise DependencyUnavailable("DynamoDB unavailable")
                return real(*args, **kwargs)
            return write

        return Wrapped(claims, mark_sent=fail_first(claims.mark_sent), mark_failed=fail_first(claims.mark_failed),
                       mark_retrying=fail_first(claims.mark_retrying))

    h = harness({"alpha": mode}, claims_wrapper=status_write_fails_once)
    message = h.accept()
    assert len(h.deliver(message)["batchItemFailures"]) == 1  # the record comes back ...
    [recorded] = h.attempts(message.id)
    clock.advance(61)  # ... and is received again after the lease
    assert h.deliver(message) == {"batchItemFailures": []}

    item = h.request(message.id)
    assert (item.status, item.attempts) == (ends, 1)
    assert len(h.sims["alpha"].arrivals()) == 1  # one send, whatever the provider would do with a second
    if mode == "ok":
        assert item.provider_message_id == recorded.message_id == h.sims["alpha"].sent()[0]["message_id"]


def test_live_claim_held_elsewhere_sends_the_record_back(harness):
    h = harness({"alpha": "ok"})
    message = h.accept()
    h.claims.claim(message.id, 1, "alpha")
    result = h.deliver(message)
    assert len(result["batchItemFailures"]) == 1
    assert h.sims["alpha"].arrivals() == []
    assert h.request(message.id).status is Status.PROCESSING


def test_lost_next_attempt_message_is_queued_again(harness):
    h = harness({"alpha": "fail", "beta": "fail"})
    message = h.accept()
    h.deliver(message)
    h.aws.probe.take()  # the retry message is lost
    h.deliver(message)  # a redelivery of attempt 1 notices and queues attempt 2
    [queued] = h.aws.probe.messages()
    assert (queued.message.attempt, queued.message.retries) == (2, 1)
    assert queued.message.excluded == (h.request(message.id).provider_used,)


# ------------------------------------------------------------------ the batch adapter


def claim_fails_for(doomed: str, error: Exception):
    """Claims whose claim of one request fails the given way; everything else is the real ledger."""

    def wrap(claims):
        def claim(request_id, attempt, provider):
            if request_id == doomed:
                raise error
            return claims.claim(request_id, attempt, provider)

        return Wrapped(claims, claim=claim)

    return wrap


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(DependencyUnavailable("DynamoDB unavailable"), id="dependency-unavailable"),
        pytest.param(RuntimeError("a bug"), id="unexpected-exception"),
    ],
)
def test_batch_reports_exactly_the_failing_record(harness, error):
    doomed = uuid.uuid4().hex
    h = harness({"alpha": "ok"}, claims_wrapper=claim_fails_for(doomed, error))
    good = [h.accept(), h.accept()]
    h.request_store.create(doomed, client="team-a", phone=PHONE, text="hello", encoding="GSM-7", segments=1,
                           ttl_s=3600)
    records = [QueueRecord("m-good-1", good[0].to_body()),
               QueueRecord("m-doomed", DispatchMessage(id=doomed).to_body()),
               QueueRecord("m-good-2", good[1].to_body())]
    assert h.dispatcher.dispatch_batch(records) == {"batchItemFailures": [{"itemIdentifier": "m-doomed"}]}
    assert [h.request(m.id).status for m in good] == ["sent", "sent"]
    assert h.request(doomed).status == "pending"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("not json", id="not-json"),
        pytest.param("{}", id="no-id"),
        pytest.param('{"id": "x", "attempt": "two"}', id="bad-attempt"),
        pytest.param("[1, 2]", id="not-an-object"),
    ],
)
def test_malformed_body_is_dropped_not_returned(harness, body):
    h = harness({"alpha": "ok"})
    assert h.dispatcher.dispatch_batch([QueueRecord("m-1", body)]) == {"batchItemFailures": []}
    assert h.sims["alpha"].arrivals() == []


def test_empty_batch_has_no_failures(harness):
    assert harness().dispatcher.dispatch_batch([]) == {"batchItemFailures": []}


def test_message_for_an_unknown_request_is_dropped(harness):
    h = harness({"alpha": "ok"})
    assert h.deliver(DispatchMessage(id=uuid.uuid4().hex)) == {"batchItemFailures": []}
    assert h.sims["alpha"].arrivals() == []


# ------------------------------------------------------------------ pure rules


def test_exclusions_keep_every_failed_provider_once_with_the_last_at_the_end():
    assert exclusions_for_retry((), "alpha") == ("alpha",)
    assert exclusions_for_retry(("alpha", "beta"), "alpha") == ("beta", "alpha")


def test_only_provider_throttling_once_still_gets_the_message_out(harness):
    h = harness({"alpha": "throttle"})
    message = h.accept()
    h.deliver(message)
    h.sims["alpha"].configure(mode="ok")
    for _ in range(3):
        if not h.aws.probe.messages():
            break
        h.deliver_next()
    item = h.request(message.id)
    assert (item.status, item.retries) == ("sent", 0)
    assert [r.outcome for r in h.attempts(message.id)] == ["throttled", "accepted"]


# ------------------------------------------------------------------ partial outages


def test_abandoned_claim_waits_when_its_provider_has_no_slot(harness, clock):
    h = harness({"alpha": "ok"}, rate_limit=1, horizon_ms=0)
    message = h.accept()
    h.claims.claim(message.id, 1, "alpha")
    clock.advance(61)  # the lease has passed: the claim is abandoned
    h.router.book(only="alpha")  # alpha's one send time this second is taken
    h.deliver(message)
    assert h.sims["alpha"].arrivals() == []
    [queued] = h.aws.probe.messages()
    assert queued.message == message


def test_redis_outage_after_the_send_still_marks_the_request_sent(harness, monkeypatch):
    h = harness({"alpha": "ok"})

    def redis_gone(provider, success, **answer):
        raise DependencyUnavailable("Redis unavailable")

    monkeypatch.setattr(h.router, "record_outcome", redis_gone)
    message = h.accept()
    assert h.deliver(message) == {"batchItemFailures": []}
    assert h.request(message.id).status == "sent"


def test_health_snapshot_failure_does_not_fail_the_dispatch(harness):
    def no_snapshots(snapshots):
        def save(states, transition=False):
            raise DependencyUnavailable("DynamoDB unavailable")

        return Wrapped(snapshots, save=save)

    h = harness({"alpha": "fail", "beta": "fail"}, min_samples=1, snapshots_wrapper=no_snapshots)
    message = h.accept()
    assert h.deliver(message) == {"batchItemFailures": []}
    assert h.request(message.id).status == "retrying"


# ------------------------------------------------------------------ request options


def accept_with(h: Harness, **options) -> DispatchMessage:
    request_id = uuid.uuid4().hex
    request = h.request_store.create(request_id, client="team-a", phone=PHONE, text="hello", encoding="GSM-7",
                                     segments=1, ttl_s=options.pop("ttl_s", 3600), **options)
    return DispatchMessage(id=request_id, expires_at=request.expires_at, not_before=request.not_before)


def test_message_arriving_before_send_at_is_put_back_until_then_never_sent(harness):
    h = harness({"alpha": "ok"})
    message = accept_with(h, send_at=h.clock() + 120)
    h.clock.advance(30)  # e.g. a redrive from the DLQ, or a copy that lost its delay
    assert h.deliver(message) == {"batchItemFailures": []}
    assert h.provider_calls()["alpha"] == 0
    assert (h.request(message.id).status, h.request(message.id).attempts) == ("pending", 0)
    [back] = h.aws.probe.take()
    assert (back.message.id, back.message.attempt, back.delay_s) == (message.id, 1, 90)
    h.clock.advance(back.delay_s)
    assert h.deliver(back.message) == {"batchItemFailures": []}
    assert h.clock() >= message.not_before
    assert (h.request(message.id).status, h.provider_calls()["alpha"]) == ("sent", 1)  # once, at its send_at


def test_message_without_send_at_for_a_scheduled_request_is_not_sent_early(harness):
    h = harness({"alpha": "ok"})
    scheduled = accept_with(h, send_at=h.clock() + 3600)
    old_style = DispatchMessage(id=scheduled.id, expires_at=scheduled.expires_at)  # knows nothing of send_at
    assert h.deliver(old_style) == {"batchItemFailures": []}
    assert h.provider_calls()["alpha"] == 0
    item = h.request(scheduled.id)
    assert (item.status, item.attempts) == ("pending", 0)  # the claim went back unused
    [back] = h.aws.probe.take()
    assert (back.delay_s, back.message.not_before) == (900, scheduled.not_before)


def test_sender_and_what_is_left_of_the_validity_reach_the_provider(harness):
    h = harness({"alpha": "ok"})
    message = accept_with(h, sender="ACME", validity_s=600, ttl_s=600)
    h.clock.advance(100)  # waited 100 s for capacity: 500 s of its time to live are left
    h.deliver(message)
    [sent] = h.sims["alpha"].sent()
    assert (sent["fields"]["from"], sent["fields"]["validity_s"]) == ("ACME", 500)


def test_no_option_sends_what_it_always_sent(harness):
    h = harness({"alpha": "ok"})
    h.deliver(h.accept())
    [sent] = h.sims["alpha"].sent()
    assert "from" not in sent["fields"] and "validity_s" not in sent["fields"]
