"""The whole-call deadline and the answer cap, against servers that drip, stall and flood.

httpx's own timeouts bound each socket read: a server sending one byte every 0.2 s never trips a 0.5 s read
timeout and could hold a call for as long as it likes. These servers would hold a call for 20 s or more; the
calls must end at their deadline instead (asserted with a wide margin: the point is "about timeout_s, not 20 s").
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from pydantic import TypeAdapter

from chalicelib.providers import MAX_ANSWER_BYTES, Outcome, OutgoingSms, deadline_client
from chalicelib.providers.deadline import AnswerTooLarge, call_within, deadline_scope
from chalicelib.settings import ProviderConfig
from chalicelib.vendors import build_providers
from tests.unit.providers.conftest import PHONE, REQUEST_ID

pytestmark = pytest.mark.unit

TIMEOUT_S = 0.5
WELL_PAST_THE_DEADLINE_S = 1.5  # what "ended at its deadline" is checked against; the servers need 20 s+
DRIP_S = 0.2
ACCOUNT_SID = "AC" + "1" * 32


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket], None]], str]]:
    """raw_server(answer) -> URL of a server that reads one request head, then runs answer(connection)."""
    servers: list[_Server] = []
    stop = threading.Event()

    def start(answer: Callable[[socket.socket, threading.Event], None]) -> str:
        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                with contextlib.suppress(OSError):  # the client hung up at its deadline
                    answer(self.request, stop)
                    # Then read what is left of the request until the client hangs up: closing a socket
                    # with unread data resets the connection, which the client would see before the answer.
                    self.request.settimeout(5)
                    while self.request.recv(65536):
                        pass

        server = _Server(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    stop.set()
    for server in servers:
        server.shutdown()
        server.server_close()


def drip(payload: bytes, interval_s: float = DRIP_S):
    def answer(connection: socket.socket, stop: threading.Event) -> None:
        for byte in payload:
            if stop.wait(interval_s):
                return
            connection.sendall(bytes([byte]))

    return answer


def head_then_drip(body_size: int = 200):
    def answer(connection: socket.socket, stop: threading.Event) -> None:
        connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {body_size}"
                           "\r\n\r\n".encode())
        drip(b"x" * body_size)(connection, stop)

    return answer


def flood(answer_bytes: int, chunked: bool = False):
    def answer(connection: socket.socket, stop: threading.Event) -> None:
        if chunked:  # no length announced, and no end
            connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            while not stop.is_set():
                connection.sendall(b"1000\r\n" + b"x" * 4096 + b"\r\n")
        else:
            connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {answer_bytes}\r\n\r\n".encode())
            connection.sendall(b"x" * answer_bytes)

    return answer


def timed(call):
    began = time.monotonic()
    try:
        return call(), time.monotonic() - began
    except Exception as exc:
        return exc, time.monotonic() - began


@pytest.mark.parametrize("answer", [
    pytest.param(drip(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"), id="drips-from-the-status-line"),
    pytest.param(head_then_drip(), id="head-at-once-then-drips-the-body"),
])
def test_a_dripping_server_cannot_hold_a_call_past_its_deadline(raw_server, answer):
    url = raw_server(answer)
    with deadline_client() as http:
        outcome, took_s = timed(lambda: call_within(http, http.build_request("POST", url, content=b"{}"),
                                                    timeout_s=TIMEOUT_S))
    assert isinstance(outcome, httpx.TimeoutException), outcome
    assert TIMEOUT_S * 0.9 <= took_s < WELL_PAST_THE_DEADLINE_S


def test_plain_httpx_timeouts_alone_would_let_it_drip_on(raw_server):
    """Why deadline.py exists: the same 0.5 s timeout on a plain client is still reading after 1.5 s."""
    url = raw_server(head_then_drip())
    outcome: list = []

    def plain_call():
        try:
            outcome.append(httpx.post(url, content=b"{}", timeout=TIMEOUT_S))
        except httpx.HTTPError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=plain_call, daemon=True)
    caller.start()
    caller.join(WELL_PAST_THE_DEADLINE_S)
    assert caller.is_alive() and outcome == []


@pytest.mark.parametrize("kind", ["http-json", "twilio", "vonage", "aws"])
def test_every_adapter_ends_at_its_timeout_on_a_dripping_simulator(simulators, kind):
    simulator = simulators(f"drip-{kind}", kind=kind, mode="drip", drip_ms=DRIP_S * 1000)
    entry = {
        "http-json": {"url": simulator.url},
        "twilio": {"account_sid": ACCOUNT_SID, "from": "+15005550006", "auth_token": "t", "base_url": simulator.url},
        "vonage": {"api_key": "k", "from": "Gateway", "api_secret": "s", "base_url": simulator.url},
        "aws": {"endpoint_url": simulator.url},
    }[kind]
    config = TypeAdapter(ProviderConfig).validate_python({"name": "p", "kind": kind, "timeout_s": TIMEOUT_S, **entry})
    with deadline_client() as http:
        [provider] = build_providers([config], http).values()
        result, took_s = timed(lambda: provider.send(OutgoingSms(PHONE, "hi", REQUEST_ID, 1)))
    assert (result.outcome, result.status_code, result.error) == (Outcome.PROVIDER_FAILURE, None,
                                                                   f"timeout after {TIMEOUT_S:g} s")
    assert took_s < WELL_PAST_THE_DEADLINE_S
    assert result.latency_ms < WELL_PAST_THE_DEADLINE_S * 1000
    assert len(simulator.arrivals()) == 1


def test_an_enclosing_deadline_is_never_extended(raw_server):
    url = raw_server(head_then_drip())
    with deadline_client() as http, deadline_scope(0.3):
        outcome, took_s = timed(lambda: call_within(http, http.build_request("POST", url), timeout_s=10))
    assert isinstance(outcome, httpx.TimeoutException)
    assert took_s < WELL_PAST_THE_DEADLINE_S


@pytest.mark.parametrize("answer", [
    pytest.param(flood(MAX_ANSWER_BYTES + 1), id="announced-length-over-the-cap"),
    pytest.param(flood(0, chunked=True), id="endless-chunked-stream"),
])
def test_an_answer_over_the_cap_is_not_read_to_its_end(raw_server, answer):
    url = raw_server(answer)
    with deadline_client() as http:
        outcome, took_s = timed(lambda: call_within(http, http.build_request("POST", url), timeout_s=5))
    assert isinstance(outcome, AnswerTooLarge)
    assert took_s < 5


def test_an_oversized_answer_is_a_provider_failure(raw_server):
    url = raw_server(flood(MAX_ANSWER_BYTES * 2))
    config = TypeAdapter(ProviderConfig).validate_python({"name": "p", "url": url})
    with deadline_client() as http:
        [provider] = build_providers([config], http).values()
        result = provider.send(OutgoingSms(PHONE, "hi", REQUEST_ID, 1))
    assert (result.outcome, result.error) == (Outcome.PROVIDER_FAILURE, f"answer larger than {MAX_ANSWER_BYTES} bytes")


def test_an_answer_within_the_cap_and_the_deadline_is_read_whole(raw_server):
    url = raw_server(flood(MAX_ANSWER_BYTES))
    with deadline_client() as http:
        answer = call_within(http, http.build_request("POST", url), timeout_s=5)
    assert (answer.status_code, len(answer.body)) == (200, MAX_ANSWER_BYTES)


def test_calls_reuse_one_pooled_connection(simulators):
    twilio = simulators("pool", kind="twilio")
    config = TypeAdapter(ProviderConfig).validate_python({
        "name": "tw", "kind": "twilio", "account_sid": ACCOUNT_SID, "from": "+15005550006", "auth_token": "t",
        "base_url": twilio.url})
    with deadline_client() as http:
        [provider] = build_providers([config], http).values()
        outcomes = {provider.send(OutgoingSms(PHONE, "hi", REQUEST_ID, n)).outcome for n in range(5)}
    assert outcomes == {Outcome.ACCEPTED}
    assert twilio.stats()["connections"] == 1


def test_a_refused_connection_is_a_provider_failure_at_once():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = TypeAdapter(ProviderConfig).validate_python({"name": "p", "url": f"http://127.0.0.1:{port}/send"})
    with deadline_client() as http:
        [provider] = build_providers([config], http).values()
        result = provider.send(OutgoingSms(PHONE, "hi", REQUEST_ID, 1))
    assert (result.outcome, result.error) == (Outcome.PROVIDER_FAILURE, "connection error: ConnectError")


def test_a_call_started_after_its_deadline_never_connects(simulators):
    alpha = simulators("alpha")
    with deadline_client() as http, deadline_scope(0):
        outcome, _ = timed(lambda: call_within(http, http.build_request("POST", alpha.url, json={}), timeout_s=5))
    assert isinstance(outcome, httpx.ConnectTimeout)
    assert alpha.arrivals() == []


def test_outside_a_provider_call_the_client_is_a_plain_pooled_client(simulators):
    alpha = simulators("alpha")
    with deadline_client() as http:
        assert http.get(f"{alpha.base_url}/_health", timeout=None).status_code == 200


class _RecordingStream:
    """A network stream that only records the timeouts it is given."""

    def __init__(self):
        self.timeouts: list[float | None] = []
        self.closed = False

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        self.timeouts.append(timeout)
        return self

    def get_extra_info(self, info):
        return info

    def close(self):
        self.closed = True


def test_the_tls_handshake_is_bounded_by_the_deadline_too():
    from chalicelib.providers.deadline import _DeadlineStream

    inner = _RecordingStream()
    with deadline_scope(0.5):
        tls = _DeadlineStream(inner).start_tls(None, "api.twilio.com", timeout=30)
    assert 0 < inner.timeouts[0] <= 0.5
    assert tls.get_extra_info("ssl_object") == "ssl_object"
    tls.close()
    assert inner.closed
