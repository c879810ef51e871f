"""A wall-clock deadline on a whole provider call, and a cap on the answer read.

httpx's timeouts bound each socket operation, not the call: a provider that drips one byte every
second resets the read timeout with every byte and can hold a send for minutes. Here every socket
operation of a call (connect, TLS, each write, each read) gets the time left until the call's deadline
as its timeout, so the call as a whole ends by the deadline, whatever the server does:

    deadline = start + timeout_s
    connect ........ timeout = deadline - now
    write request .. timeout = deadline - now
    read, read, ... each with timeout = deadline - now; none starts after the deadline

The deadline travels in a context variable, set by ``deadline_scope`` around one call in one thread, so
the connection pool stays shared: a pooled connection serves each call under that call's deadline.
Only a client made by ``deadline_client()`` enforces it (its transport's network backend reads the
variable); DNS resolution is the one step outside it (the OS resolver has no timeout argument).
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

# Larger answers are cut off and count as a provider failure: no vendor's send answer comes near it.
MAX_ANSWER_BYTES = 64 * 1024

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("provider_call_deadline", default=None)


class AnswerTooLarge(Exception):
    """The provider's answer was larger than the cap; the rest was not read."""


@dataclass(frozen=True)
class Answer:
    """One HTTP answer, read whole within the deadline."""

    status_code: int
    headers: httpx.Headers
    body: bytes


@contextmanager
def deadline_scope(timeout_s: float) -> Iterator[float]:
    """Every provider call in this block ends by ``now + timeout_s`` (or an earlier enclosing deadline)."""
    outer = _DEADLINE.get()
    deadline = time.monotonic() + timeout_s
    token = _DEADLINE.set(deadline if outer is None else min(outer, deadline))
    try:
        yield _DEADLINE.get()
    finally:
        _DEADLINE.reset(token)


def _time_left(timeout: float | None, exc: type[Exception]) -> float | None:
    """The timeout for one socket operation: the smaller of its own and the time left to the deadline."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise exc("the provider call's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, _time_left(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options=None) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, _time_left(timeout, httpcore.ConnectTimeout), local_address,
                                         socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options=None) -> httpcore.NetworkStream:  # pragma: no cover (no UDS providers)
        return _DeadlineStream(self._inner.connect_unix_socket(path, _time_left(timeout, httpcore.ConnectTimeout),
                                                               socket_options))

    def sleep(self, seconds: float) -> None:  # pragma: no cover (httpcore sleeps only between connect retries)
        self._inner.sleep(seconds)


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport (request mapping, error mapping, pooling), on the deadline-aware backend.

    httpx 0.28 takes no network backend argument, so the pool it built is replaced by the same pool
    on ours; tests/unit/providers/test_deadline.py pins the behaviour should httpx change."""

    def __init__(self, limits: httpx.Limits):
        super().__init__(limits=limits)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
            network_backend=_DeadlineBackend(),
        )


def deadline_client(*, max_connections: int = 200, max_keepalive: int = 100, event_hooks=None) -> httpx.Client:
    """One pooled client for every provider of a process; each call through ``call_within`` is bounded."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_keepalive)
    return httpx.Client(transport=_DeadlineTransport(limits), event_hooks=event_hooks, follow_redirects=False)


def call_within(http: httpx.Client, request: httpx.Request, *, timeout_s: float,
                max_bytes: int = MAX_ANSWER_BYTES) -> Answer:
    """Send ``request`` and read its whole answer by ``timeout_s`` from now (or an enclosing deadline).

    Raises httpx.TimeoutException when the deadline passes, another httpx.HTTPError when the connection
    fails, AnswerTooLarge when the answer is over ``max_bytes``."""
    with deadline_scope(timeout_s):
        # No compressed answers: the cap would count compressed bytes and a small body could expand.
        request.headers.setdefault("Accept-Encoding", "identity")
        request.extensions["timeout"] = httpx.Timeout(timeout_s).as_dict()
        response = http.send(request, stream=True)
        try:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes or response.num_bytes_downloaded > max_bytes:
                    raise AnswerTooLarge(f"answer larger than {max_bytes} bytes")
        finally:
            response.close()
        return Answer(response.status_code, response.headers, bytes(body))
