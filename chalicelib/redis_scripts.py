"""The Lua scripts of chalicelib/lua, loaded with their preludes, and Redis failures as gateway errors.

Redis scripts cannot include one another, so the shared parts (clock.lua, booking.lua, pacing.lua, health.lua) are
put in front of each script that uses them, in the order given. Each script's header names its KEYS and
ARGV; the callers only fill them in.

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
def script_source(name: str, *preludes: str) -> str:
    """clock.lua, then the preludes, then the script: one source for register_script."""
    return "".join((LUA_DIR / f"{part}.lua").read_text() for part in ("clock", *preludes, name))


def register(redis_client, name: str, *preludes: str):
    return redis_client.register_script(script_source(name, *preludes))


@contextmanager
def redis_errors(client) -> Iterator[None]:
    try:
        yield
    except ReadOnlyError as exc:
        client.connection_pool.disconnect(inuse_connections=False)
        raise DependencyUnavailable(f"Redis unavailable: {type(exc).__name__}") from exc
    except RedisError as exc:
        raise DependencyUnavailable(f"Redis unavailable: {type(exc).__name__}") from exc


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
