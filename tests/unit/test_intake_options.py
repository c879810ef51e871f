"""The request options through intake and the sweeper, on moto and fakeredis: what is stored, what is queued
with which delay, when a scheduled request reaches the queue, and what a client's registry entry allows."""

from __future__ import annotations

import dataclasses

import fakeredis
import pytest

from chalicelib.api.http_errors import status_of
from chalicelib.client_limits import ClientLimiter
from chalicelib.clients import Client
from chalicelib.errors import ApiError
from chalicelib.intake import Intake
from chalicelib.lifecycle import Status
from chalicelib.storage.dynamo import iso
from chalicelib.sweeper import Sweeper
from chalicelib.valid_sms import ValidSms

pytestmark = pytest.mark.unit

SMS = ValidSms("+14155550100", "hello there", "GSM-7", 1, country="US", number_type="FIXED_LINE_OR_MOBILE")
CLIENT = Client("client-1", frozenset({"send"}), rate_limit=100, daily_quota=1000)
SENDERS = Client("client-2", frozenset({"send"}), rate_limit=100, daily_quota=1000, senders=("ACME", "+14155550199"))
TTL_S = 3600


def sms(**options) -> ValidSms:
    return dataclasses.replace(SMS, **options)


@pytest.fixture
def intake(aws, request_store, idempotency, clock):
    return Intake(requests=request_store, idempotency=idempotency,
                  limiter=ClientLimiter(fakeredis.FakeRedis(), key_prefix="t", clock=clock.ms), queue=aws.queue,
                  clock=clock, message_ttl_s=TTL_S, takeover_after_s=30,
                  provider_senders=frozenset({"Gateway", "+15005550006"}))


@pytest.fixture
def sweeper(aws, queries, claims, clock):
    return Sweeper(queries=queries, claims=claims, queue=aws.queue, clock=clock)


def test_options_are_stored_and_the_reference_answered(intake, request_store):
    accepted = intake.accept(sms(reference="order-1", sender="ACME", validity_s=600,
                                 callback_url="https://example.com/cb"), client=SENDERS)
    assert accepted.reference == "order-1"
    item = request_store.get(accepted.id)
    assert (item.reference, item.sender, item.validity_s, item.callback_url, item.send_at) == (
        "order-1", "ACME", 600, "https://example.com/cb", None)


def test_validity_replaces_the_default_time_to_live(intake, request_store, aws, clock):
    accepted = intake.accept(sms(validity_s=120), client=CLIENT)
    assert request_store.get(accepted.id).expires_at == int(clock()) + 120
    [queued] = aws.probe.messages()
    assert queued.message.expires_at == int(clock()) + 120


def test_send_at_within_15_minutes_is_queued_at_once_with_the_delay(intake, request_store, aws, clock):
    send_at = clock() + 300.5
    accepted = intake.accept(sms(send_at=send_at), client=CLIENT)
    [queued] = aws.probe.messages()
    assert queued.delay_s == 301  # rounded up: never early
    assert queued.message.not_before == pytest.approx(send_at, abs=0.001)
    item = request_store.get(accepted.id)
    assert (item.status, item.send_at, accepted.send_at) == (Status.PENDING, iso(send_at), iso(send_at))
    assert item.expires_at == int(send_at) + TTL_S  # the time to live counts from send_at


def test_send_at_exactly_15_minutes_ahead_still_uses_the_queue_delay(intake, aws, clock):
    intake.accept(sms(send_at=clock() + 900), client=CLIENT)
    [queued] = aws.probe.messages()
    assert queued.delay_s == 900


def test_send_at_beyond_15_minutes_is_stored_not_queued(intake, request_store, aws, clock):
    send_at = clock() + 2 * 3600
    accepted = intake.accept(sms(send_at=send_at, validity_s=600), client=CLIENT)
    assert aws.probe.messages() == []
    item = request_store.get(accepted.id)
    assert item.status is Status.PENDING
    assert item.due_at == int(send_at) - 900  # when the sweeper queues it
    assert item.expires_at == int(send_at) + 600


def test_sweeper_queues_a_scheduled_request_only_once_it_is_15_minutes_from_due(intake, sweeper, request_store,
                                                                               aws, clock):
    send_at = clock() + 3600
    accepted = intake.accept(sms(send_at=send_at), client=CLIENT)
    for _ in range(44):  # every minute for 44 minutes: not yet within 15 minutes of send_at
        clock.advance(60)
        report = sweeper.sweep()
        assert (report.requeued, report.scheduled, report.expired) == (0, 0, 0)
    assert aws.probe.messages() == []
    clock.advance(60)  # 15 minutes before send_at
    assert sweeper.sweep().scheduled == 1
    [queued] = aws.probe.take()
    assert (queued.message.id, queued.message.attempt) == (accepted.id, 1)
    assert clock() + queued.delay_s >= send_at  # not delivered before send_at
    assert queued.delay_s == 900
    assert request_store.get(accepted.id).due_at == int(send_at) + 900  # stuck only if unsent well after send_at
    clock.advance(60)
    assert sweeper.sweep().__dict__ == {"requeued": 0, "scheduled": 0, "expired": 0, "skipped": 0,
                                        "texts_removed": 0, "callbacks_queued": 0}


def test_scheduled_request_is_not_expired_before_send_at_plus_its_time_to_live(intake, sweeper, request_store,
                                                                              clock):
    send_at = clock() + 6 * 86400
    accepted = intake.accept(sms(send_at=send_at, validity_s=60), client=CLIENT)
    clock.advance(6 * 86400 - 900)
    assert sweeper.sweep().expired == 0
    assert request_store.get(accepted.id).status is Status.PENDING


@pytest.mark.parametrize(
    ("offset_s", "accepted"),
    [
        pytest.param(-61, False, id="61-s-in-the-past"),
        pytest.param(-60, True, id="60-s-in-the-past-is-clock-skew"),
        pytest.param(7 * 86400, True, id="7-days-ahead"),
        pytest.param(7 * 86400 + 1, False, id="beyond-7-days"),
    ],
)
def test_send_at_window(intake, clock, offset_s, accepted):
    if accepted:
        assert intake.accept(sms(send_at=clock() + offset_s), client=CLIENT).status is Status.PENDING
        return
    with pytest.raises(ApiError) as refused:
        intake.accept(sms(send_at=clock() + offset_s), client=CLIENT)
    assert (status_of(refused.value), refused.value.field, refused.value.code) == (400, "send_at", "invalid_send_at")


def test_refused_send_at_frees_the_idempotency_key(intake, clock):
    with pytest.raises(ApiError):
        intake.accept(sms(send_at=clock() - 3600), client=CLIENT, idempotency_key="k-1")
    assert intake.accept(sms(send_at=clock() + 60), client=CLIENT, idempotency_key="k-1").status is Status.PENDING


def test_replay_after_send_at_passed_answers_the_first_request(intake, clock):
    first = intake.accept(sms(send_at=clock() + 30), client=CLIENT, idempotency_key="k-2")
    clock.advance(600)
    again = intake.accept(sms(send_at=clock() - 570), client=CLIENT, idempotency_key="k-2")
    assert (again.id, again.replayed) == (first.id, True)


def test_same_key_with_other_options_is_a_conflict(intake):
    intake.accept(sms(reference="a"), client=CLIENT, idempotency_key="k-3")
    with pytest.raises(ApiError) as refused:
        intake.accept(sms(reference="b"), client=CLIENT, idempotency_key="k-3")
    assert refused.value.code == "idempotency_key_reused"


def test_sender_must_be_one_of_the_clients_senders_when_it_has_some(intake):
    assert intake.accept(sms(sender="ACME"), client=SENDERS).status is Status.PENDING
    assert intake.accept(sms(sender="+14155550199"), client=SENDERS).status is Status.PENDING
    assert intake.accept(sms(), client=SENDERS).status is Status.PENDING  # the provider's default sender
    with pytest.raises(ApiError) as refused:
        intake.accept(sms(sender="OTHER"), client=SENDERS)
    assert (status_of(refused.value), refused.value.field, refused.value.code) == (422, "from", "sender_not_allowed")


@pytest.mark.parametrize("sender", [
    pytest.param("PAYPAL", id="a-brand-it-does-not-own"),
    pytest.param("+14155550199", id="another-clients-number"),
    pytest.param("Gateway 2", id="close-to-a-configured-sender"),
])
def test_client_without_senders_may_not_choose_a_sender(intake, sender):
    with pytest.raises(ApiError) as refused:
        intake.accept(sms(sender=sender), client=CLIENT)
    assert (status_of(refused.value), refused.value.field, refused.value.code) == (422, "from", "sender_not_allowed")
    assert "from" in refused.value.message


@pytest.mark.parametrize("client", [pytest.param(CLIENT, id="without-senders"), pytest.param(SENDERS, id="with")])
@pytest.mark.parametrize("sender", [None, "Gateway", "+15005550006"])
def test_any_client_may_use_a_providers_configured_sender(intake, client, sender):
    assert intake.accept(sms(sender=sender), client=client).status is Status.PENDING


def test_a_scheduled_request_is_kept_its_retention_after_send_at(intake, tables, clock, settings):
    send_at = clock() + 7 * 86400
    accepted = intake.accept(sms(send_at=send_at), client=CLIENT)
    purge_at = tables.requests.get(accepted.id).purge_at
    assert purge_at.timestamp() == int(send_at) + settings.retention.retention_s
