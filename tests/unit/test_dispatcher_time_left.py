"""No send starts that the Lambda invocation's remaining time could cut off: with less time left than the
slowest provider's timeout (plus the longest booked wait and a margin), a copy of the record goes back on the
queue at once, unclaimed."""

from __future__ import annotations

import pytest

from chalicelib.dispatcher import SEND_MARGIN_S
from chalicelib.sqs_batch import QueueRecord
from tests.unit.test_dispatcher import Harness, http  # noqa: F401 (http: the module's client fixture)

pytestmark = pytest.mark.unit

TIMEOUT_S = 2  # the harness's providers
HORIZON_S = 0.5  # the longest booked wait these dispatchers may take


@pytest.fixture
def harness(aws, settings, request_store, claims, health_snapshots, clock, redis_client, key_prefix, simulators,
            http):  # noqa: F811
    def build(**options) -> Harness:
        return Harness(aws, settings, request_store, claims, health_snapshots, clock, redis_client, key_prefix,
                       simulators, http, {"alpha": "ok"}, **{"horizon_ms": int(HORIZON_S * 1000), **options})

    return build


def test_too_little_time_left_requeues_the_record_without_claim_or_send(harness):
    h = harness()
    message = h.accept()
    answer = h.dispatcher.dispatch_batch([QueueRecord("m-1", message.to_body())],
                                         time_left_s=TIMEOUT_S + HORIZON_S + SEND_MARGIN_S - 0.1)
    assert answer == {"batchItemFailures": []}
    assert h.provider_calls() == {"alpha": 0}
    item = h.request(message.id)
    assert (item.status, item.attempts) == ("pending", 0)  # never claimed
    [queued] = h.aws.probe.messages()
    assert (queued.message, queued.delay_s) == (message, 0)


def test_enough_time_left_sends(harness):
    h = harness()
    message = h.accept()
    h.dispatcher.dispatch_batch([QueueRecord("m-1", message.to_body())],
                                time_left_s=TIMEOUT_S + HORIZON_S + SEND_MARGIN_S + 0.1)
    assert h.request(message.id).status == "sent"
    assert h.provider_calls() == {"alpha": 1}


def test_the_longest_booked_wait_counts_against_the_time_left(harness):
    h = harness(horizon_ms=1500)
    message = h.accept()
    h.dispatcher.dispatch_batch([QueueRecord("m-1", message.to_body())], time_left_s=TIMEOUT_S + SEND_MARGIN_S + 1)
    assert h.provider_calls() == {"alpha": 0}


def test_without_a_known_time_left_it_sends(harness):
    h = harness()
    message = h.accept()
    h.dispatcher.dispatch_batch([QueueRecord("m-1", message.to_body())])
    assert h.request(message.id).status == "sent"
