"""Fixtures shared by every tier: a manual clock, provider simulators, and a Redis per backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import fakeredis
import pytest
import redis

from localdev.provider_simulator import ProviderSimulator, SimulatorConfig

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
START_S = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class ManualClock:
    """Epoch seconds that move only when told. ``ms`` is the same time for the router (epoch ms)."""

    def __init__(self, now: float = START_S):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def ms(self) -> int:
        return int(self.now * 1000)

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def real_redis_reachable(url: str = REDIS_URL) -> bool:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis.exceptions.RedisError:
        return False
    return True


@pytest.fixture
def key_prefix(request) -> Iterator[str]:
    """A Redis key prefix of this test's own; the real Redis is cleaned of it afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    yield prefix
    if real_redis_reachable():
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{{{prefix}}}*", count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture(params=["fakeredis", "redis"])
def redis_client(request) -> redis.Redis:
    """The same test against fakeredis and the real Redis server (limits' ``all_storage`` style)."""
    if request.param == "fakeredis":
        return fakeredis.FakeRedis(server=fakeredis.FakeServer())
    if not real_redis_reachable():
        pytest.skip(f"no Redis at {REDIS_URL}")
    return redis.Redis.from_url(REDIS_URL, socket_timeout=5)


@pytest.fixture(scope="session")
def _simulator_pool() -> Iterator[dict[str, ProviderSimulator]]:
    pool: dict[str, ProviderSimulator] = {}
    yield pool
    for simulator in pool.values():
        simulator.stop()


@pytest.fixture
def simulators(_simulator_pool) -> Callable[..., ProviderSimulator]:
    """simulators("alpha", mode="fail") -> a running simulator, answering at once, with empty logs.

    Simulators live for the session (starting one per test costs more than the test); each test
    gets them reset. Mode "hang" holds its request threads until stop: use ``fresh_simulator``.
    """

    def get(name: str, **settings) -> ProviderSimulator:
        simulator = _simulator_pool.get(name)
        if simulator is None:
            simulator = ProviderSimulator(SimulatorConfig(name=name, port=0, latency_ms=0, jitter_ms=0)).start()
            _simulator_pool[name] = simulator
        simulator.configure(**{"mode": "ok", "latency_ms": 0, "jitter_ms": 0, "rate_limit": 10_000,
                               "api_key": None, "slow_ms": 10_000, **settings})
        simulator.reset()
        return simulator

    return get


@pytest.fixture
def fresh_simulator() -> Iterator[Callable[..., ProviderSimulator]]:
    started: list[ProviderSimulator] = []

    def start(name: str, **settings) -> ProviderSimulator:
        config = SimulatorConfig(name=name, port=0, latency_ms=0, jitter_ms=0, **settings)
        simulator = ProviderSimulator(config).start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()
