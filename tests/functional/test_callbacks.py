"""Status callbacks through the app: POST /api/sms with a callback_url, the dispatcher queues the event, the
deliver_callbacks handler POSTs it signed to the client's receiver (localdev/callback_receiver.py)."""

from __future__ import annotations

import json
import socket

import pytest

from chalicelib import wiring
from chalicelib.callbacks import event_id_for
from chalicelib.clients import key_hash
from localdev.callback_receiver import CallbackReceiver
from tests.functional.conftest import API_KEY

pytestmark = pytest.mark.functional

SECRET = "functional-callback-secret"
HEADERS = {"X-Api-Key": API_KEY, "Content-Type": "application/json"}
REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture
def receiver():
    receiver = CallbackReceiver(SECRET, log=lambda line: None).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def callbacks_env(monkeypatch, gateway_env):
    """A registry whose client has a callback secret; the local receiver's host allowed; made-up public DNS."""
    monkeypatch.setenv("CLIENTS", json.dumps({"clients": {"team-a": {
        "key_hashes": [key_hash(API_KEY)], "roles": ["send", "operator"], "callback_secret": SECRET}}}))
    monkeypatch.setenv("CALLBACK_ALLOWED_HOSTS", "127.0.0.1")
    names = {"hooks.example.com": "93.184.216.34", "metadata.example.com": "169.254.169.254",
             "inside.example.com": "10.0.0.5"}

    def getaddrinfo(host, port, *args, **kwargs):
        if host in names:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (names[host], port))]
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    wiring.reset()


def post(gateway, **fields):
    return gateway.http.post("/api/sms", headers=HEADERS,
                             body=json.dumps({"phone": "+14155550100", "text": "hi", **fields}))


def callbacks_queued() -> list[str]:
    queue = wiring.get_callback_delivery()._queue
    bodies = []
    while messages := queue.sqs.receive_message(QueueUrl=queue.queue_url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [m["Body"] for m in messages]
        for m in messages:
            queue.sqs.delete_message(QueueUrl=queue.queue_url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


def test_a_sent_request_calls_back_the_receiver_once_signed(gateway, callbacks_env, receiver, sqs_event,
                                                           queued_bodies):
    accepted = post(gateway, callback_url=f"{receiver.url}/sms-status")
    assert accepted.status_code == 202
    request_id = json.loads(accepted.body)["id"]
    gateway.lambda_.invoke("dispatch_sms", sqs_event(*queued_bodies()))
    [queued] = callbacks_queued()
    assert "+1415" not in queued and '"text"' not in queued
    answer = gateway.lambda_.invoke("deliver_callbacks", sqs_event(queued)).payload
    assert answer == {"batchItemFailures": []}
    stats = receiver.stats()
    assert (stats["processed"], stats["bad_signatures"]) == (1, 0)
    [payload] = stats["events"].values()
    assert (payload["id"], payload["status"], payload["event_id"]) == (request_id, "sent",
                                                                       event_id_for(request_id, "sent"))
    assert callbacks_queued() == []  # delivered: nothing left


def test_a_failed_request_calls_back_with_its_error(gateway, gateway_env, callbacks_env, receiver, sqs_event,
                                                    queued_bodies):
    for sim in gateway_env.values():
        sim.configure(mode="reject")
    post(gateway, callback_url=f"{receiver.url}/s")
    gateway.lambda_.invoke("dispatch_sms", sqs_event(*queued_bodies()))
    gateway.lambda_.invoke("deliver_callbacks", sqs_event(*callbacks_queued()))
    [payload] = receiver.stats()["events"].values()
    assert payload["status"] == "failed" and payload["error"]


def test_no_callback_url_means_no_callback(gateway, callbacks_env, sqs_event, queued_bodies):
    assert post(gateway).status_code == 202
    gateway.lambda_.invoke("dispatch_sms", sqs_event(*queued_bodies()))
    assert callbacks_queued() == []


def test_a_receiver_that_is_down_gets_the_callback_later(gateway, callbacks_env, receiver, sqs_event,
                                                         queued_bodies, monkeypatch):
    post(gateway, callback_url=f"{receiver.url}/s")
    gateway.lambda_.invoke("dispatch_sms", sqs_event(*queued_bodies()))
    queue, requeued = wiring.get_callback_delivery()._queue, []
    monkeypatch.setattr(queue, "send", lambda event, delay_s=0: requeued.append((event.to_body(), delay_s)))
    receiver.answer_status = 503
    gateway.lambda_.invoke("deliver_callbacks", sqs_event(*callbacks_queued()))
    [(retry, delay_s)] = requeued
    assert (json.loads(retry)["attempt"], delay_s) == (2, 30)
    receiver.answer_status = 200
    gateway.lambda_.invoke("deliver_callbacks", sqs_event(retry))
    assert receiver.stats()["processed"] == 1


@pytest.mark.parametrize(("url", "code"), [
    pytest.param("https://inside.example.com/cb", "callback_url_refused", id="private-address"),
    pytest.param("https://metadata.example.com/latest", "callback_url_refused", id="metadata-address"),
    pytest.param("http://127.0.0.2:9/cb", "callback_url_refused", id="loopback-not-allowed"),
    pytest.param("ftp://hooks.example.com/cb", "invalid_callback_url", id="ftp"),
    pytest.param("https://hooks.example.com/" + "x" * 2048, "invalid_callback_url", id="too-long"),
    pytest.param(42, "invalid_type", id="not-a-string"),
])
def test_a_callback_url_the_gateway_will_not_call_is_a_400_naming_it(gateway, callbacks_env, url, code):
    answer = post(gateway, callback_url=url)
    assert answer.status_code == 400
    error = json.loads(answer.body)["error"]
    assert (error["code"], error["field"]) == (code, "callback_url")


def test_a_public_https_callback_url_is_accepted(gateway, callbacks_env):
    assert post(gateway, callback_url="https://hooks.example.com/sms?team=a").status_code == 202
