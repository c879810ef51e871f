"""Intake on moto and fakeredis: a request is stored pending and queued once, or not at all; a client's
limits and rules hold; an Idempotency-Key that lost its request is never answered with a phantom id."""

from __future__ import annotations

import fakeredis
import pytest

from chalicelib.api.http_errors import status_of
from chalicelib.client_limits import ClientLimiter
from chalicelib.clients import Client
from chalicelib.dispatch_queue import DispatchQueue
from chalicelib.errors import Conflict, DependencyUnavailable, TooManyRequests, UnprocessableEntity
from chalicelib.intake import Intake
from chalicelib.storage.idempotency import fingerprint
from chalicelib.valid_sms import ValidSms

pytestmark = pytest.mark.unit

SMS = ValidSms("+14155550100", "hello there", "GSM-7", 1, country="US", number_type="FIXED_LINE_OR_MOBILE")
CLIENT = Client("client-1", frozenset({"send"}), rate_limit=100, daily_quota=1000)
OTHER = Client("client-2", frozenset({"send"}), rate_limit=100, daily_quota=1000)


def build_intake(request_store, idempotency, queue, clock, limiter=None) -> Intake:
    limiter = limiter or ClientLimiter(fakeredis.FakeRedis(), key_prefix="t", clock=clock.ms)
    return Intake(requests=request_store, idempotency=idempotency, limiter=limiter, queue=queue, clock=clock,
                  message_ttl_s=3600, takeover_after_s=30)


@pytest.fixture
def intake(aws, request_store, idempotency, clock):
    return build_intake(request_store, idempotency, aws.queue, clock)


def test_accepted_sms_is_stored_pending_and_queued_once(intake, request_store, aws, clock):
    accepted = intake.accept(SMS, client=CLIENT)
    item = request_store.get(accepted.id)
    assert (item.status, item.phone, item.text, item.attempts) == ("pending", SMS.phone, SMS.text, 0)
    assert (accepted.id, accepted.status, accepted.phone, accepted.created_at) == (
        item.id, "pending", SMS.phone, item.created_at)
    [body] = aws.probe.bodies()
    assert body == {"id": accepted.id, "attempt": 1, "retries": 0, "expires_at": int(clock()) + 3600}
    assert "+14155550100" not in str(body) and "hello" not in str(body)  # no personal data on the queue


def test_queue_outage_refuses_the_sms_and_leaves_nothing_behind(aws, request_store, idempotency, tables, clock):
    broken = DispatchQueue(aws.sqs, aws.queue.queue_url + "-missing")
    intake = build_intake(request_store, idempotency, broken, clock)
    with pytest.raises(DependencyUnavailable):
        intake.accept(SMS, client=CLIENT, idempotency_key="key-1")
    assert list(tables.requests.scan()) == []
    assert list(tables.idempotency.scan()) == []  # the key is free for the client's retry


def test_queue_and_store_outage_says_the_outcome_is_unknown_and_gives_the_id(aws, request_store, idempotency, clock,
                                                                            monkeypatch):
    broken = DispatchQueue(aws.sqs, aws.queue.queue_url + "-missing")
    intake = build_intake(request_store, idempotency, broken, clock)
    monkeypatch.setattr(request_store, "forget_unqueued", lambda request_id: False)  # DynamoDB went away as well

    with pytest.raises(DependencyUnavailable) as caught:
        intake.accept(SMS, client=CLIENT, idempotency_key="key-1")

    assert caught.value.code == "accept_outcome_unknown"
    stored = request_store.get(caught.value.request_id)
    assert stored.status == "pending"  # the sweeper will queue it: the client was told so, with its id
    assert caught.value.request_id in caught.value.message
    again = intake.accept(SMS, client=CLIENT, idempotency_key="key-1")
    assert again.id == caught.value.request_id  # the key was kept: a retry cannot make a second request


def test_same_idempotency_key_and_body_returns_the_same_request(intake, aws):
    first = intake.accept(SMS, client=CLIENT, idempotency_key="key-1")
    again = intake.accept(SMS, client=CLIENT, idempotency_key="key-1")
    assert again.id == first.id
    assert again.replayed and not first.replayed
    assert len(aws.probe.bodies()) == 1


def test_same_idempotency_key_with_another_body_conflicts(intake):
    intake.accept(SMS, client=CLIENT, idempotency_key="key-1")
    with pytest.raises(Conflict) as raised:
        intake.accept(ValidSms(SMS.phone, "other", "GSM-7", 1), client=CLIENT, idempotency_key="key-1")
    assert (status_of(raised.value), raised.value.field) == (409, "Idempotency-Key")


def test_idempotency_keys_of_different_clients_do_not_collide(intake, aws):
    first = intake.accept(SMS, client=CLIENT, idempotency_key="key-1")
    second = intake.accept(SMS, client=OTHER, idempotency_key="key-1")
    assert first.id != second.id
    assert len(aws.probe.bodies()) == 2


def test_replay_shows_the_request_as_it_is_now(intake, claims):
    first = intake.accept(SMS, client=CLIENT, idempotency_key="key-1")
    claims.claim(first.id, 1, "alpha")
    claims.mark_sent(first.id, 1, "m-1")
    assert intake.accept(SMS, client=CLIENT, idempotency_key="key-1").status == "sent"


def test_a_key_whose_first_call_is_still_running_answers_409_with_retry_after_not_a_phantom_id(intake,
                                                                                               idempotency, clock):
    """Defect B1: the key was reserved but its request not stored yet (or never will be): no 202 with an id
    that does not exist."""
    idempotency.reserve(fingerprint("client-1", "key-1"), fingerprint(SMS.phone, SMS.text), "f" * 32)
    clock.advance(10)
    with pytest.raises(Conflict) as raised:
        intake.accept(SMS, client=CLIENT, idempotency_key="key-1")
    assert (raised.value.code, raised.value.retry_after_s) == ("idempotency_key_in_flight", 1)


def test_a_key_whose_first_call_died_is_taken_over_and_the_sms_accepted_once(intake, idempotency, request_store,
                                                                             aws, clock):
    idempotency.reserve(fingerprint("client-1", "key-1"), fingerprint(SMS.phone, SMS.text), "f" * 32)
    clock.advance(31)  # longer than any API call can run: the first call is gone
    accepted = intake.accept(SMS, client=CLIENT, idempotency_key="key-1")
    assert accepted.id != "f" * 32 and not accepted.replayed
    assert request_store.get(accepted.id).status == "pending"
    again = intake.accept(SMS, client=CLIENT, idempotency_key="key-1")
    assert (again.id, again.replayed) == (accepted.id, True)
    assert len(aws.probe.bodies()) == 1


def test_a_rate_limited_request_is_refused_and_gives_its_key_back(aws, request_store, idempotency, tables, clock):
    one_per_second = Client("slow", frozenset({"send"}), rate_limit=1, daily_quota=1000)
    intake = build_intake(request_store, idempotency, aws.queue, clock)
    first = intake.accept(SMS, client=one_per_second)
    assert first.rate_limit.remaining == 0
    with pytest.raises(TooManyRequests) as raised:
        intake.accept(SMS, client=one_per_second, idempotency_key="k")
    assert (status_of(raised.value), raised.value.retry_after_s, raised.value.rate_limit.limit) == (429, 1, 1)
    assert list(tables.idempotency.scan()) == []  # the key is free for the retry
    clock.advance(1)
    assert intake.accept(SMS, client=one_per_second, idempotency_key="k").id != first.id


def test_a_replay_costs_no_share_of_the_limits(aws, request_store, idempotency, clock):
    one_per_second = Client("slow", frozenset({"send"}), rate_limit=1, daily_quota=1000)
    intake = build_intake(request_store, idempotency, aws.queue, clock)
    first = intake.accept(SMS, client=one_per_second, idempotency_key="k")
    assert intake.accept(SMS, client=one_per_second, idempotency_key="k").id == first.id


def test_a_queue_outage_gives_the_limit_share_back(aws, request_store, idempotency, clock):
    one_per_second = Client("slow", frozenset({"send"}), rate_limit=1, daily_quota=1000)
    limiter = ClientLimiter(fakeredis.FakeRedis(), key_prefix="t", clock=clock.ms)
    broken = build_intake(request_store, idempotency, DispatchQueue(aws.sqs, aws.queue.queue_url + "-missing"),
                          clock, limiter)
    with pytest.raises(DependencyUnavailable):
        broken.accept(SMS, client=one_per_second)
    assert build_intake(request_store, idempotency, aws.queue, clock, limiter).accept(SMS, client=one_per_second)


def test_a_destination_outside_the_clients_countries_is_refused_naming_the_phone(intake):
    uk_only = Client("uk", frozenset({"send"}), rate_limit=10, daily_quota=10, countries=("GB",))
    with pytest.raises(UnprocessableEntity) as raised:
        intake.accept(SMS, client=uk_only)
    assert (raised.value.code, raised.value.field) == ("country_not_allowed", "phone")
    assert "US" in raised.value.message


def test_queue_lookup_by_a_missing_name_is_dependency_unavailable(aws):
    with pytest.raises(DependencyUnavailable):
        DispatchQueue.by_name(aws.sqs, "no-such-queue")
    assert DispatchQueue.by_name(aws.sqs, "sms-dispatch").queue_url == aws.queue.queue_url


def test_health_check_reports_each_failure_by_dependency():
    from chalicelib.dependency_check import check_dependencies

    def down():
        raise DependencyUnavailable("SQS unavailable: EndpointConnectionError")

    def broken():
        raise OSError("refused")

    healthy, checks = check_dependencies({"redis": lambda: True, "sqs": down, "dynamodb": broken})
    assert not healthy
    assert checks == {"redis": "ok", "sqs": "SQS unavailable: EndpointConnectionError",
                      "dynamodb": "unavailable: OSError"}


def test_with_redis_down_intake_stays_open_uncounted(aws, request_store, idempotency, clock):
    """A Redis restart must not close intake: the request is accepted (it waits on the queue like any other)."""
    import redis

    down = redis.Redis(port=9, socket_connect_timeout=0.2)  # nothing listens on the discard port
    intake = build_intake(request_store, idempotency, aws.queue, clock, ClientLimiter(down, key_prefix="t"))
    accepted = intake.accept(SMS, client=CLIENT)
    assert (accepted.status, accepted.rate_limit) == ("pending", None)
    assert len(aws.probe.bodies()) == 1
