"""What every Redis user here shares: the Lua scripts' source, and one mapping of Redis errors.

Any Redis error is a dependency outage for the caller (503 at the API, the record back on the queue at
the dispatcher): a lost connection, a timeout, but also READONLY (a replica promoted away under us after a
failover), OOM or LOADING. After READONLY the pooled connections point at a node that will never take a
write again, so the idle ones are dropped and the next call connects afresh to the current primary (a
connection another thread is using meets READONLY itself, and is dropped once it is back in the pool:
closing it under that thread would break its call midway).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from redis.exceptions import ReadOnlyError, RedisError

from chalicelib.errors import DependencyUnavailable

LUA_DIR = Path(__file__).parent / "lua"


@cache
def script_source(name: str) -> str:
    """The script with the shared clock prelude in front (Redis scripts cannot include one another)."""
    return (LUA_DIR / "clock.lua").read_text() + (LUA_DIR / f"{name}.lua").read_text()


@contextmanager
def redis_errors(client) -> Iterator[None]:
    try:
        yield
    except ReadOnlyError as exc:
        client.connection_pool.disconnect(inuse_connections=False)
        raise DependencyUnavailable(f"Redis unavailable: {type(exc).__name__}") from exc
    except RedisError as exc:
        raise DependencyUnavailable(f"Redis unavailable: {type(exc).__name__}") from exc
