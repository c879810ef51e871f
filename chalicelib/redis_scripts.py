"""The Lua scripts of chalicelib/lua, loaded with their preludes, and Redis failures as gateway errors.

Redis scripts cannot include one another, so the shared parts (clock.lua, booking.lua, pacing.lua, health.lua) are
put in front of each script that uses them, in the order given. Each script's header names its KEYS and
ARGV; the callers only fill them in.

Any Redis error is a dependency outage for the caller (503 at the API, the record back on the queue at
the dispatcher): a lost connection, a timeout, but also READONLY (a replica promoted away under us after a
failover), OOM or LOADING. After READONLY the pooled connections point at a node that will never take a
write again, so the idle ones are dropped and the next call connects afresh to the current primary (a
connection another thread is using meets READONLY itself, and is dropped once it is back in the pool:
closing it under that thread would break its call midway). That mapping, ``redis_errors``, wraps a class once:
a class that keeps its client in ``self._redis`` subclasses ``RedisBacked``, which runs each public method it
defines inside ``redis_errors`` (errors.MapsErrors), not a ``with`` at each call.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from redis.exceptions import ReadOnlyError, RedisError

from chalicelib.errors import DependencyUnavailable, MapsErrors

LUA_DIR = Path(__file__).parent / "lua"


@cache
def script_source(name: str, *preludes: str) -> str:
    """clock.lua, then the preludes, then the script: one source for register_script."""
    return "".join((LUA_DIR / f"{part}.lua").read_text() for part in ("clock", *preludes, name))


def register(redis_client, name: str, *preludes: str):
    return redis_client.register_script(script_source(name, *preludes))


class ScriptClock:
    """What every caller of the scripts passes: the time clock.lua decides on (ARGV[1]) and, for the members a
    script adds to a sorted set, tokens unique across every process (this instance's id + a call counter)."""

    def __init__(self, clock: Callable[[], int] | None = None):
        self.injected = clock  # epoch ms; None = the Redis server's TIME, one clock for every Lambda
        self._token_prefix = uuid.uuid4().hex[:12]
        self._token_counter = itertools.count()

    def now_arg(self) -> str | int:
        """ARGV[1] of every script: the injected epoch ms, or "" for the server's TIME."""
        return "" if self.injected is None else self.injected()

    def token(self) -> str:
        return f"{self._token_prefix}{next(self._token_counter)}"


@contextmanager
def redis_errors(client) -> Iterator[None]:
    try:
        yield
    except ReadOnlyError as exc:
        client.connection_pool.disconnect(inuse_connections=False)
        raise DependencyUnavailable(f"Redis unavailable: {type(exc).__name__}") from exc
    except RedisError as exc:
        raise DependencyUnavailable(f"Redis unavailable: {type(exc).__name__}") from exc


class RedisBacked(MapsErrors):
    """The base of a class whose client is ``self._redis``: a Redis error in any of its public methods is a
    ``DependencyUnavailable``."""

    def _errors(self):
        return redis_errors(self._redis)


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
