"""The container wires each service once, from one Settings and one clock, and takes fakes by name."""

from __future__ import annotations

import fakeredis
import pytest

from chalicelib import wiring
from chalicelib.container import Container
from chalicelib.settings import get_settings
from tests.conftest import ManualClock

pytestmark = pytest.mark.unit


def test_each_service_is_built_once_and_shared(container):
    assert container.claims is container.claims
    assert container.sweeper._claims is container.claims  # one ledger, whoever asks
    assert container.sweeper._queue is container.queue


def test_the_clock_and_the_fakes_are_the_containers(container, clock):
    assert container.requests._clock is clock
    assert container.sweeper._clock is clock
    fake = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    assert Container(container.settings, redis=fake).router._redis is fake


def test_each_service_gets_its_policy_object():
    settings = get_settings({"STAGE": "local", "HEALTH_WINDOW_S": "42", "CALLBACK_TIMEOUT_S": "2",
                             "CALLBACK_ALLOWED_HOSTS": "hooks.internal", "CLIENTS_MAX_AGE_S": "9"})
    container = Container(settings, redis=fakeredis.FakeRedis(server=fakeredis.FakeServer()), callback_queue=None)
    assert container.router._policy is settings.routing
    delivery = container.callback_delivery
    assert (delivery._target.timeout_s, delivery._target.allowed_hosts) == (2.0, ("hooks.internal",))
    assert container.registry._max_age_s == 9


def test_a_name_that_is_no_service_is_refused(settings):
    with pytest.raises(TypeError, match="no service 'cache'"):
        Container(settings, cache={})


def test_the_current_container_follows_the_settings(monkeypatch):
    clock = ManualClock()
    with wiring.injected(clock=clock, redis=fakeredis.FakeRedis(server=fakeredis.FakeServer())):
        first = wiring.container()
        assert wiring.container() is first and first.clock is clock
        monkeypatch.setenv("HEALTH_WINDOW_S", "42")
        second = wiring.container()
        assert second is not first and second.settings.routing.health_window_s == 42
        assert wiring.get_router() is second.router
        monkeypatch.delenv("HEALTH_WINDOW_S")
        assert wiring.container() is first  # the last few are kept, as the memoized getters kept them
        wiring.reset()
        assert wiring.container() is not first
    assert wiring.container().clock is not clock  # injected only inside
