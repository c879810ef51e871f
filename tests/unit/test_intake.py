"""Intake on moto: a request is stored pending and queued once, or not at all."""

from __future__ import annotations

import pytest

from chalicelib.dispatch_queue import DispatchQueue
from chalicelib.errors import Conflict, DependencyUnavailable
from chalicelib.intake import Intake
from chalicelib.models import IdempotencyModel, SmsRequestModel
from chalicelib.sms_request import ValidSms

pytestmark = pytest.mark.unit

SMS = ValidSms("+14155550100", "hello there", "GSM-7", 1)


@pytest.fixture
def intake(aws, store, clock):
    return Intake(store, aws.queue, clock, message_ttl_s=3600, idempotency_ttl_s=86400)


def test_accepted_sms_is_stored_pending_and_queued_once(intake, store, aws, clock):
    accepted = intake.accept(SMS, client_id="client-1")
    item = store.get(accepted.id)
    assert (item.status, item.phone, item.text, item.attempts) == ("pending", SMS.phone, SMS.text, 0)
    assert accepted.to_json() == {"id": accepted.id, "status": "pending", "phone": SMS.phone,
                                  "encoding": "GSM-7", "segments": 1, "created_at": item.created_at}
    [body] = aws.probe.bodies()
    assert body == {"id": accepted.id, "attempt": 1, "retries": 0, "expires_at": int(clock()) + 3600}
    assert "+14155550100" not in str(body) and "hello" not in str(body)  # no personal data on the queue


def test_queue_outage_refuses_the_sms_and_leaves_nothing_behind(aws, store, clock):
    broken = DispatchQueue(aws.sqs, aws.queue.queue_url + "-missing")
    intake = Intake(store, broken, clock, message_ttl_s=3600, idempotency_ttl_s=86400)
    with pytest.raises(DependencyUnavailable):
        intake.accept(SMS, client_id="client-1", idempotency_key="key-1")
    assert list(SmsRequestModel.scan()) == []
    assert list(IdempotencyModel.scan()) == []  # the key is free for the client's retry


def test_queue_and_store_outage_says_the_outcome_is_unknown_and_gives_the_id(aws, store, clock, monkeypatch):
    broken = DispatchQueue(aws.sqs, aws.queue.queue_url + "-missing")
    intake = Intake(store, broken, clock, message_ttl_s=3600, idempotency_ttl_s=86400)
    monkeypatch.setattr(store, "forget_unqueued", lambda request_id: False)  # DynamoDB went away as well

    with pytest.raises(DependencyUnavailable) as caught:
        intake.accept(SMS, client_id="client-1", idempotency_key="key-1")

    assert caught.value.code == "accept_outcome_unknown"
    stored = store.get(caught.value.request_id)
    assert stored.status == "pending"  # the sweeper will queue it: the client was told so, with its id
    assert caught.value.request_id in caught.value.message
    again = intake.accept(SMS, client_id="client-1", idempotency_key="key-1")
    assert again.id == caught.value.request_id  # the key was kept: a retry cannot make a second request


def test_same_idempotency_key_and_body_returns_the_same_request(intake, aws):
    first = intake.accept(SMS, client_id="client-1", idempotency_key="key-1")
    again = intake.accept(SMS, client_id="client-1", idempotency_key="key-1")
    assert again.id == first.id
    assert again.replayed and not first.replayed
    assert len(aws.probe.bodies()) == 1


def test_same_idempotency_key_with_another_body_conflicts(intake):
    intake.accept(SMS, client_id="client-1", idempotency_key="key-1")
    with pytest.raises(Conflict) as raised:
        intake.accept(ValidSms(SMS.phone, "other", "GSM-7", 1), client_id="client-1", idempotency_key="key-1")
    assert (raised.value.status, raised.value.field) == (409, "Idempotency-Key")


def test_idempotency_keys_of_different_clients_do_not_collide(intake, aws):
    first = intake.accept(SMS, client_id="client-1", idempotency_key="key-1")
    second = intake.accept(SMS, client_id="client-2", idempotency_key="key-1")
    assert first.id != second.id
    assert len(aws.probe.bodies()) == 2


def test_replay_shows_the_request_as_it_is_now(intake, store):
    first = intake.accept(SMS, client_id="client-1", idempotency_key="key-1")
    store.claim(first.id, 1, "alpha")
    store.mark_sent(first.id, 1, "m-1")
    assert intake.accept(SMS, client_id="client-1", idempotency_key="key-1").status == "sent"


def test_replay_while_the_first_call_is_still_storing(intake, store):
    from chalicelib.request_store import body_fingerprint

    key = body_fingerprint("client-1", "key-1")
    store.reserve_idempotency_key(key, body_fingerprint(SMS.phone, SMS.text), "f" * 32, 86400)
    accepted = intake.accept(SMS, client_id="client-1", idempotency_key="key-1")
    assert (accepted.id, accepted.status, accepted.replayed) == ("f" * 32, "pending", True)


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
