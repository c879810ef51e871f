"""The SQS event sources app.py declares: the ARN when one is set, else the queue's name; one parse for all three."""

from __future__ import annotations

import pytest

from chalicelib.errors import ConfigurationError
from chalicelib.event_sources import callback_event_source, delivery_events_source, dispatch_event_source

pytestmark = pytest.mark.unit

ARN = "arn:aws:sqs:us-east-1:123456789012:"


def test_by_default_each_binds_its_queue_by_name():
    assert dispatch_event_source({}) == {"queue": "sms-dispatch", "maximum_concurrency": None}
    assert callback_event_source({}) == {"queue": "sms-callbacks"}
    assert delivery_events_source({}) == {"queue": "sms-delivery-events"}


def test_an_arn_wins_over_the_name_and_the_dispatcher_takes_its_concurrency():
    env = {"DISPATCH_QUEUE_NAME": "d", "DISPATCH_QUEUE_ARN": ARN + "d", "DISPATCHER_MAX_CONCURRENCY": "3",
           "CALLBACK_QUEUE_ARN": ARN + "c", "DELIVERY_EVENTS_QUEUE_ARN": ARN + "e", "DELIVERY_EVENTS_QUEUE_NAME": ""}
    assert dispatch_event_source(env) == {"queue_arn": ARN + "d", "maximum_concurrency": 3}
    assert callback_event_source(env) == {"queue_arn": ARN + "c"}
    assert delivery_events_source(env) == {"queue_arn": ARN + "e"}


def test_only_the_queue_settings_are_read():
    """At import time the rest of the environment may be incomplete or wrong: it is not the event sources' to judge."""
    assert callback_event_source({"MAX_RETRIES": "many", "SMS_PROVIDERS": "[{"}) == {"queue": "sms-callbacks"}


@pytest.mark.parametrize("source", [dispatch_event_source, callback_event_source, delivery_events_source])
def test_a_malformed_queue_setting_is_refused_by_its_variable(source):
    with pytest.raises(ConfigurationError, match="invalid configuration: DISPATCHER_MAX_CONCURRENCY: "):
        source({"DISPATCHER_MAX_CONCURRENCY": "2000"})
