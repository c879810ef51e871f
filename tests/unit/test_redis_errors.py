"""Every Redis error is a dependency outage (503 / the record comes back), not a crash (defect B5): a replica
that refuses writes after a failover (READONLY), a server out of memory (OOM). After READONLY the pooled
connections are dropped, so the next call reaches the new primary. Real redis-server processes play both."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from chalicelib.client_limits import ClientLimiter
from chalicelib.clients import Client
from chalicelib.errors import DependencyUnavailable
from chalicelib.redis_scripts import redis_errors
from chalicelib.router import Router
from chalicelib.vendors.http_json import HttpJsonConfig
from localdev.stack import free_port
from tests.conftest import routing_policy

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary"),
]

PROVIDERS = (HttpJsonConfig(name="alpha", url="http://127.0.0.1/alpha"),)
TEAM = Client("team-a", frozenset({"send"}), rate_limit=10, daily_quota=100)


def _server(*options: str) -> Iterator[redis.Redis]:
    port = free_port()
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", *options], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_timeout=2, client_name="gateway")
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    yield client
    process.terminate()
    process.wait(5)


@pytest.fixture
def replica() -> Iterator[redis.Redis]:
    """A read-only replica of a primary that is gone: every write answers READONLY."""
    yield from _server("--replicaof", "127.0.0.1", str(free_port()))


@pytest.fixture
def out_of_memory() -> Iterator[redis.Redis]:
    """A server already above its maxmemory, refusing writes (noeviction)."""
    for server in _server("--maxmemory-policy", "noeviction"):
        server.set("ballast", "x" * 4_000_000)
        server.config_set("maxmemory", "2mb")
        yield server


def _gateway_connections(server: redis.Redis) -> int:
    admin = redis.Redis(port=server.connection_pool.connection_kwargs["port"])
    return sum(1 for c in admin.client_list() if c["name"] == "gateway")


@pytest.mark.parametrize("call", [
    pytest.param(lambda r: Router(r, PROVIDERS, key_prefix="t", policy=routing_policy()).book(),
                 id="router-book"),
    pytest.param(lambda r: Router(r, PROVIDERS, key_prefix="t", policy=routing_policy()).record_outcome("alpha", True),
                 id="router-record"),
    pytest.param(lambda r: ClientLimiter(r, key_prefix="t").admit(TEAM), id="client-limiter"),
])
def test_readonly_after_a_failover_is_an_outage_and_drops_the_pooled_connections(replica, call):
    with pytest.raises(DependencyUnavailable, match="ReadOnlyError"):
        call(replica)
    assert _gateway_connections(replica) == 0  # nothing left pointing at the demoted node
    replica.execute_command("REPLICAOF", "NO", "ONE")  # the next primary takes writes again
    call(replica)


def test_out_of_memory_is_an_outage(out_of_memory):
    # Redis 7 lets our scripts run while over maxmemory (their first call is TIME); a plain write shows the
    # mapping every Redis call of the gateway goes through.
    with pytest.raises(DependencyUnavailable, match="OutOfMemoryError"), redis_errors(out_of_memory):
        out_of_memory.set("one-more", "x")
