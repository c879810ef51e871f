"""Fixtures shared by every tier: a manual clock, provider simulators, and a Redis per backend."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import fakeredis
import pytest
import redis

from chalicelib.dispatch_queue import DispatchMessage
from chalicelib.logs import logger
from chalicelib.policies import RoutingPolicy
from chalicelib.settings import get_settings
from localdev.provider_simulator import ProviderSimulator, SimulatorConfig

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
START_S = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class CountingSource:
    """A value a refreshing cache reads (or an exception it raises), counting the reads."""

    def __init__(self, value):
        self.value, self.reads = value, 0

    def __call__(self):
        self.reads += 1
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


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


@pytest.fixture
def inject() -> Iterator[Callable[..., None]]:
    """inject(clock=..., redis=...) -> every wiring container built until the test ends takes these instead of
    its own (chalicelib/wiring.py ``injected``); the containers built before are forgotten."""
    from chalicelib import wiring

    with ExitStack() as stack:
        yield lambda **services: stack.enter_context(wiring.injected(**services))


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
def _simulator_pool() -> Iterator[dict[tuple[str, str], ProviderSimulator]]:
    pool: dict[tuple[str, str], ProviderSimulator] = {}
    yield pool
    for simulator in pool.values():
        simulator.stop()


@pytest.fixture
def simulators(_simulator_pool) -> Callable[..., ProviderSimulator]:
    """simulators("alpha", mode="fail") -> a running simulator, answering at once, with empty logs;
    simulators("tw", kind="twilio", credentials={...}) -> one speaking another kind's wire format.

    Simulators live for the session (starting one per test costs more than the test); each test
    gets them reset. Mode "hang" holds its request threads until stop: use ``fresh_simulator``.
    """

    def get(name: str, kind: str = "http-json", **settings) -> ProviderSimulator:
        simulator = _simulator_pool.get((name, kind))
        if simulator is None:
            config = SimulatorConfig(name=name, kind=kind, port=0, latency_ms=0, jitter_ms=0)
            simulator = _simulator_pool[(name, kind)] = ProviderSimulator(config).start()
        simulator.configure(**{"mode": "ok", "latency_ms": 0, "jitter_ms": 0, "rate_limit": 10_000,
                               "api_key": None, "credentials": None, "error_code": None, "slow_ms": 10_000,
                               "drip_ms": 1000, "receipt_url": None, "undelivered_share": 0.0,
                               "interim_receipts": False,
                               **settings})
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


def routing_policy(**overrides) -> RoutingPolicy:
    """The routing policy of the default settings, with the test's own changes."""
    return get_settings({"STAGE": "local"}).routing.model_copy(update=overrides)


@dataclass(frozen=True)
class Queued:
    message: DispatchMessage
    delay_s: int


class QueueProbe:
    """What the code put on the dispatch queue, with the DelaySeconds of each message.

    Recorded from the real client's SendMessage calls (a botocore event hook): SQS itself cannot show a
    delayed message before its delay has passed on the wall clock, and the tests run on a manual clock."""

    EVENT = "provide-client-params.sqs.SendMessage"

    def __init__(self):
        self._sent: list[dict] = []

    @classmethod
    @contextmanager
    def attached(cls, sqs_client) -> Iterator[QueueProbe]:
        probe = cls()
        sqs_client.meta.events.register(cls.EVENT, probe.record)
        try:
            yield probe
        finally:
            sqs_client.meta.events.unregister(cls.EVENT, probe.record)

    def record(self, params: dict, **_) -> None:
        self._sent.append(params)

    def messages(self) -> list[Queued]:
        return [Queued(DispatchMessage.from_body(p["MessageBody"]), int(p.get("DelaySeconds", 0))) for p in self._sent]

    def bodies(self) -> list[dict]:
        return [json.loads(p["MessageBody"]) for p in self._sent]

    def take(self) -> list[Queued]:
        """Everything queued so far, as if delivered: later calls see only what comes after."""
        queued = self.messages()
        self._sent.clear()
        return queued


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Every line the gateway's Powertools logger writes, formatted exactly as it would reach CloudWatch."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    std_logger = logging.getLogger(logger.name)
    # INFO whatever ran before: these tests are about what a line may contain, not about levels (in a full
    # `make test` run an earlier module left the gateway's logger above INFO, and nothing was written).
    level = std_logger.level
    std_logger.setLevel(logging.INFO)
    std_logger.addHandler(handler)
    yield stream
    std_logger.removeHandler(handler)
    std_logger.setLevel(level)


class BlackHole:
    """A TCP endpoint on 127.0.0.1 that accepts every connection and never answers: a dependency that hangs.
    ``connections`` counts what reached it (each one an attempt of an AWS call)."""

    def __init__(self):
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, name="black-hole", daemon=True).start()

    @property
    def connections(self) -> int:
        return len(self._held)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(connection)  # kept open, never read from nor written to

    def close(self) -> None:
        self._closed.set()
        self._server.close()
        for connection in self._held:
            connection.close()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()
