"""Intake on moto: a request is stored pending and queued once, or not at all."""

from __future__ import annotations

import pytest

from chalicelib.api.send_body import ValidSms
from chalicelib.dispatch_queue import DispatchQueue
from chalicelib.errors import Conflict, DependencyUnavailable
from chalicelib.intake import Intake
from chalicelib.storage.idempotency import fingerprint

pytestmark = pytest.mark.unit

SMS = ValidSms("+14155550100", "hello there", "GSM-7", 1)


def build_intake(request_store, idempotency, queue, clock) -> Intake:
    return Intake(requests=request_store, idempotency=idempotency, queue=queue, clock=clock, message_ttl_s=3600)


@pytest.fixture
def intake(aws, request_store, idempotency, clock):
    return build_intake(request_store, idempotency, aws.queue, clock)


def test_accepted_sms_is_stored_pending_and_queued_once(intake, request_store, aws, clock):
    accepted = intake.accept(SMS, client_id="client-1")
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
        intake.accept(SMS, client_id="client-1", idempotency_key="key-1")
    assert list(tables.requests.scan()) == []
    assert list(tables.idempotency.scan()) == []  # the key is free for the client's retry


def test_queue_and_store_outage_says_the_outcome_is_unknown_and_gives_the_id(aws, request_store, idempotency, clock,
                                                                            monkeypatch):
    broken = DispatchQueue(aws.sqs, aws.queue.queue_url + "-missing")
    intake = build_intake(request_store, idempotency, broken, clock)
    monkeypatch.setattr(request_store, "forget_unqueued", lambda request_id: False)  # DynamoDB went away as well

    with pytest.raises(DependencyUnavailable) as caught:
        intake.accept(SMS, client_id="client-1", idempotency_key="key-1")

    assert caught.value.code == "accept_outcome_unknown"
    stored = request_store.get(caught.value.request_id)
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


def test_replay_shows_the_request_as_it_is_now(intake, claims):
    first = intake.accept(SMS, client_id="client-1", idempotency_key="key-1")
    claims.claim(first.id, 1, "alpha")
    claims.mark_sent(first.id, 1, "m-1")
    assert intake.accept(SMS, client_id="client-1", idempotency_key="key-1").status == "sent"


def test_replay_while_the_first_call_is_still_storing(intake, idempotency):
    idempotency.reserve(fingerprint("client-1", "key-1"), fingerprint(SMS.phone, SMS.text), "f" * 32)
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
