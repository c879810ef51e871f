"""Provider simulators: small HTTP servers, each speaking one provider kind's wire format.

One simulator stands in for one SMS provider, so the local stack, the integration tests and the benchmarks
talk to something real over HTTP: it counts its own rate limit on arrival and answers over it as the vendor
does, adds latency, checks the vendor's auth, and can be switched at runtime into the ways real providers
fail, each answered in the vendor's own format. The kinds (``kind``) and their wire formats live in
localdev/simulators/ (docs/providers.md describes each vendor's contract):

    http-json  POST /send                                           (the gateway's own contract)
    twilio     POST /2010-04-01/Accounts/{AccountSid}/Messages.json (Programmable Messaging)
    vonage     POST /sms/json                                       (the SMS API)
    aws        POST /  X-Amz-Target: PinpointSMSVoiceV2.SendTextMessage (End User Messaging SMS)

Control endpoints, the same for every kind:

    GET  /_stats     counters, including the busiest 1-second window seen at arrival
    GET  /_arrivals  every send arrival, in arrival order (with its auth verdict and answer status)
    GET  /_sent      the messages actually sent (http-json: one per idempotency key)
    GET  /_receipts  the delivery receipts sent back (localdev/simulators/receipts.py)
    POST /_config    change mode, latency, failure rate, rate limit, slow_ms, drip_ms, error_code, api_key,
                     credentials or the receipt settings (receipt_url, receipt_delay_s, receipt_jitter_s,
                     undelivered_share, receipt_secret, interim_receipts) at runtime
    POST /_reset     forget arrivals, sent messages, idempotency keys and the rate window
    GET  /_health    200

Modes: ok, fail, flaky, slow, hang, garbage, reject, unauthorized, throttle (each answered with the kind's
own code for it), error (answer ``error_code``, any code of the kind's table), partial (vonage: every part
but the last accepted, the last answered ``error_code``), drip (the accepted answer, one byte every
``drip_ms``).

Run one:   python -m localdev.provider_simulator --name alpha --port 9001 --rate-limit 50
Run many:  python -m localdev.provider_simulator --many '[{"name": "tw", "kind": "twilio", "port": 9001}, ...]'
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import random
import signal
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from localdev.simulators import WIRE_FORMATS, Inbound, Reply, SimRequest
from localdev.simulators.receipts import ReceiptSender


def wire_delivery(wire):
    """How a kind's receipts travel: HTTP by default; a kind may deliver its own way (aws: SQS)."""
    return getattr(wire, "deliver_receipt", None)

MODES = frozenset({"ok", "fail", "flaky", "slow", "hang", "garbage", "reject", "unauthorized", "throttle", "error",
                   "partial", "drip"})

# Only behaviour can change at runtime; name, kind, host, port and seed are fixed when the server starts.
RUNTIME_SETTINGS = frozenset(
    {"mode", "latency_ms", "jitter_ms", "failure_rate", "rate_limit", "slow_ms", "drip_ms", "error_code",
     "api_key", "credentials", "receipt_url", "receipt_delay_s", "receipt_jitter_s", "undelivered_share",
     "receipt_secret", "interim_receipts"}
)

RATE_WINDOW_S = 1.0
GARBAGE_BODY = b"<html><body>502 upstream hiccup</body></html>"


def max_in_any_window(timestamps: Iterable[float], window_s: float = 1.0) -> int:
    """The largest number of timestamps inside any half-open window [t, t + window_s).

    A busiest window can always be slid right until it starts on a timestamp, so it is enough to try
    windows that start on each sorted timestamp; the right pointer only moves forward: O(n log n).
    """
    if window_s <= 0:
        raise ValueError("window_s must be positive")
    ordered = sorted(timestamps)
    busiest = 0
    start = 0
    for end, t in enumerate(ordered):
        # Exactly window_s apart means different windows: [a, a + w) excludes a + w.
        while t >= ordered[start] + window_s:
            start += 1
        busiest = max(busiest, end - start + 1)
    return busiest


@dataclasses.dataclass(frozen=True)
class SimulatorConfig:
    name: str
    kind: str = "http-json"
    host: str = "127.0.0.1"
    port: int = 0  # 0: the OS picks a free port, read it back from ProviderSimulator.url
    rate_limit: int = 50  # requests per any 1-second window, counted on arrival, rejected ones included
    latency_ms: float = 20
    jitter_ms: float = 10  # latency is uniform in latency_ms +- jitter_ms, never below zero
    mode: str = "ok"
    failure_rate: float = 0.0  # used by mode "flaky"
    slow_ms: float = 10000  # extra delay in mode "slow": past the gateway's timeout by default
    drip_ms: float = 1000  # mode "drip": one byte of the answer every drip_ms
    error_code: str | None = None  # mode "error"/"partial": the vendor code answered (a key of its ERRORS)
    api_key: str | None = None  # http-json: when set, /send requires "Authorization: Bearer <api_key>"
    # Other kinds: the vendor credentials checked (the wire format's CREDENTIAL_FIELDS); empty = any
    # well-formed auth passes (recorded as "unchecked").
    credentials: dict[str, str] | None = None
    # Delivery receipts (localdev/simulators/receipts.py): none unless receipt_url is set.
    receipt_url: str | None = None
    receipt_delay_s: float = 1.0  # a receipt leaves receipt_delay_s .. + receipt_jitter_s after the send
    receipt_jitter_s: float = 1.0
    undelivered_share: float = 0.0  # share of accepted messages whose receipt says undelivered
    receipt_secret: str | None = None  # http-json: the webhook_secret its receipts are signed with
    # An intermediate receipt before each final one, halfway through its delay (twilio "sent", vonage "accepted",
    # aws TEXT_SUCCESSFUL or TEXT_CARRIER_UNREACHABLE with isFinal false, http-json "sent").
    interim_receipts: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in WIRE_FORMATS:
            raise ValueError(f"kind must be one of {sorted(WIRE_FORMATS)}, not {self.kind!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {sorted(MODES)}, not {self.mode!r}")
        wire = WIRE_FORMATS[self.kind]
        if self.error_code is not None and self.error_code not in wire.ERRORS:
            raise ValueError(f"error_code must be one of {sorted(wire.ERRORS)} for kind {self.kind}")
        if self.mode == "error" and self.error_code is None:
            raise ValueError("mode 'error' needs an error_code")
        if self.credentials is not None and (
            not isinstance(self.credentials, dict)
            or not set(self.credentials) <= set(wire.CREDENTIAL_FIELDS)
            or not all(isinstance(value, str) for value in self.credentials.values())
        ):
            raise ValueError(f"credentials must be an object with string values among {list(wire.CREDENTIAL_FIELDS)}")
        if not _is_number(self.rate_limit) or int(self.rate_limit) != self.rate_limit or self.rate_limit < 1:
            raise ValueError("rate_limit must be a whole number >= 1")
        for field in ("latency_ms", "jitter_ms", "slow_ms", "drip_ms", "receipt_delay_s", "receipt_jitter_s"):
            if not _is_number(getattr(self, field)) or getattr(self, field) < 0:
                raise ValueError(f"{field} must be a number >= 0")
        for field in ("failure_rate", "undelivered_share"):
            if not _is_number(getattr(self, field)) or not 0.0 <= getattr(self, field) <= 1.0:
                raise ValueError(f"{field} must be between 0 and 1")
        if self.receipt_url is not None and not (isinstance(self.receipt_url, str)
                                                 and self.receipt_url.startswith(("http", "sqs://"))):
            raise ValueError("receipt_url must be an http(s) URL, sqs://<queue name> (aws) or null")
        if self.api_key is not None and not isinstance(self.api_key, str):
            raise ValueError("api_key must be a string or null")

    def runtime_settings(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in sorted(RUNTIME_SETTINGS)}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _ProviderState:
    """Everything the request threads share, behind one lock."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._lock = threading.Lock()
        self._config = config
        self._random = random.Random(config.seed)
        self._arrivals: list[dict[str, Any]] = []
        self._sent: list[dict[str, Any]] = []
        self._message_ids_by_idempotency_key: dict[str, list[str]] = {}
        self._recent_arrival_times: deque[float] = deque()
        self._connections = 0
        self.stopping = threading.Event()  # set on stop: no receipt leaves after it
        self.receipts = ReceiptSender(self.stopping)

    @property
    def config(self) -> SimulatorConfig:
        # Replaced wholesale, never mutated: a request works from the snapshot it read on arrival.
        return self._config

    def configure(self, changes: dict[str, Any]) -> SimulatorConfig:
        unknown = set(changes) - RUNTIME_SETTINGS
        if unknown:
            raise ValueError(
                f"cannot change {sorted(unknown)} at runtime; allowed: {sorted(RUNTIME_SETTINGS)}"
            )
        with self._lock:
            self._config = dataclasses.replace(self._config, **changes)
            return self._config

    def reset(self) -> None:
        with self._lock:
            self._arrivals.clear()
            self._sent.clear()
            self._message_ids_by_idempotency_key.clear()
            self._recent_arrival_times.clear()
        self.receipts.reset()

    def connection_opened(self) -> None:
        with self._lock:
            self._connections += 1

    def record_arrival(self, arrived_at: float, idempotency_key: str | None,
                       path: str = "/send") -> tuple[dict[str, Any], bool]:
        """Log the arrival and decide the rate limit at arrival time, as the provider counts.

        Returns the arrival record (completed later by the request thread) and whether it is over the limit.
        """
        arrival = {
            "t": arrived_at,
            "kind": self._config.kind,
            "path": path,
            "idempotency_key": idempotency_key,
            "reference": None,
            "auth": None,  # ok | missing | wrong | unchecked, once the request is read
            "status": None,  # stays None when the simulator never answers (mode "hang", shutdown)
            "duplicate": False,
        }
        with self._lock:
            self._arrivals.append(arrival)
            window = self._recent_arrival_times
            # Window (t - 1s, t]: an arrival exactly 1 s older has left it, matching max_in_any_window.
            while window and window[0] <= arrived_at - RATE_WINDOW_S:
                window.popleft()
            window.append(arrived_at)
            over_limit = len(window) > self._config.rate_limit
        return arrival, over_limit

    def seconds_until_window_frees(self, now: float) -> int:
        with self._lock:
            oldest = self._recent_arrival_times[0] if self._recent_arrival_times else now
        return max(1, math.ceil(oldest + RATE_WINDOW_S - now))

    def complete_arrival(self, arrival: dict[str, Any], status: int, reference: str | None = None,
                         auth: str | None = None) -> None:
        with self._lock:
            arrival["status"] = status
            arrival["reference"] = reference
            arrival["auth"] = auth

    def accept_message(self, arrival: dict[str, Any], message: dict[str, Any], parts: int = 1) -> list[str]:
        """Send the SMS (its ``parts``): the message ids. http-json sends once per idempotency key, a repeat
        gets the first ids back; the vendors have no such key, so each arrival is a send."""
        wire = WIRE_FORMATS[self._config.kind]
        idempotency_key = arrival["idempotency_key"] if wire.IDEMPOTENT else None
        with self._lock:
            known_ids = self._message_ids_by_idempotency_key.get(idempotency_key) if idempotency_key else None
            if known_ids is not None:
                arrival["duplicate"] = True
                return known_ids
            message_ids = [wire.new_message_id(self._config.name) for _ in range(max(1, parts))]
            if idempotency_key:
                self._message_ids_by_idempotency_key[idempotency_key] = message_ids
            sent = {**message, "kind": self._config.kind, "message_id": message_ids[0],
                    "idempotency_key": idempotency_key, "t": arrival["t"]}
            if len(message_ids) > 1:
                sent["message_ids"] = message_ids
            self._sent.append(sent)
            return message_ids

    def schedule_receipt(self, config: SimulatorConfig, message: dict[str, Any], message_id: str) -> None:
        """The vendor's receipt for an accepted message, after receipt_delay_s (.. + receipt_jitter_s)."""
        if not config.receipt_url:
            return
        wire = WIRE_FORMATS[config.kind]
        with self._lock:
            delivered = self._random.random() >= config.undelivered_share
            delay_s = config.receipt_delay_s + self._random.uniform(0, config.receipt_jitter_s)

        def make_call(interim: bool = False):
            return wire.receipt(message=message, message_id=message_id, delivered=delivered, url=config.receipt_url,
                                credentials=config.credentials or {}, secret=config.receipt_secret, now=time.time(),
                                interim=interim)

        record = {"message_id": message_id, "reference": message.get("reference"), "delivered": delivered}
        if config.interim_receipts:
            self.receipts.schedule(delay_s / 2, lambda: make_call(interim=True), {**record, "interim": True},
                                   deliver=wire_delivery(wire))
        self.receipts.schedule(delay_s, make_call, record, deliver=wire_delivery(wire))

    def latency_s(self, config: SimulatorConfig) -> float:
        with self._lock:
            jitter = self._random.uniform(-config.jitter_ms, config.jitter_ms)
        return max(0.0, config.latency_ms + jitter) / 1000

    def flaky_failure_code(self, config: SimulatorConfig) -> str | None:
        """None (answer normally) or the kind's code for a failure, at ``failure_rate``."""
        with self._lock:
            if self._random.random() >= config.failure_rate:
                return None
            return self._random.choice(WIRE_FORMATS[config.kind].MODE_CODES["flaky"])

    def arrivals(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(arrival) for arrival in self._arrivals]

    def sent(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(message) for message in self._sent]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            arrivals = list(self._arrivals)
            sent_count = len(self._sent)
            connections = self._connections
            config = self._config
        answered = Counter(str(arrival["status"]) for arrival in arrivals if arrival["status"] is not None)
        return {
            "name": config.name,
            "arrivals": len(arrivals),
            "sent": sent_count,
            "duplicates": sum(1 for arrival in arrivals if arrival["duplicate"]),
            "by_status": dict(sorted(answered.items())),
            "max_in_any_1s": max_in_any_window(arrival["t"] for arrival in arrivals),
            "kind": config.kind,
            "mode": config.mode,
            "connections": connections,
        }


class _SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # bursts of new connections from many dispatchers must not be refused

    def __init__(self, address: tuple[str, int], state: _ProviderState) -> None:
        self.state = state
        # Set on stop: wakes every request sleeping in latency, "slow" or "hang" so none outlives the server.
        self.stopping = threading.Event()
        self._open_connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _ProviderRequestHandler)

    def track_connection(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._open_connections.add(connection)
        self.state.connection_opened()

    def forget_connection(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._open_connections.discard(connection)

    def close_open_connections(self) -> None:
        """Unblock handler threads idling on keep-alive connections, so no request is served after stop."""
        with self._connections_lock:
            connections = list(self._open_connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # the client may have closed it first
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is part of the simulation, not an error worth a traceback.
        return


class _ProviderRequestHandler(BaseHTTPRequestHandler):
    server: _SimulatorHTTPServer
    # HTTP/1.1 keeps connections alive for the gateway's pooled client; every answer carries Content-Length.
    protocol_version = "HTTP/1.1"
    server_version = "ProviderSimulator/1.0"
    sys_version = ""
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus delayed ACK adds ~40 ms.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.server.track_connection(self.connection)

    def finish(self) -> None:
        self.server.forget_connection(self.connection)
        super().finish()

    def parse_request(self) -> bool:
        # The request line has just been read: this is the moment the provider counts as the arrival.
        self.arrived_at = time.time()
        return super().parse_request()

    def log_message(self, format: str, *args: Any) -> None:
        return  # a line per request would cost more CPU than the simulation itself

    def do_GET(self) -> None:
        self._read_body()
        state = self.server.state
        if self.path == "/_health":
            self._answer_json(200, {"status": "ok", "name": state.config.name})
        elif self.path == "/_stats":
            self._answer_json(200, state.stats())
        elif self.path == "/_arrivals":
            self._answer_json(200, state.arrivals())
        elif self.path == "/_sent":
            self._answer_json(200, state.sent())
        elif self.path == "/_receipts":
            self._answer_json(200, state.receipts.log())
        else:
            self._answer_json(404, {"error": f"no such path: {self.path}"})

    def do_POST(self) -> None:
        state = self.server.state
        wire = WIRE_FORMATS[state.config.kind]
        if not self.path.startswith("/_"):
            # Whether it is a send shows in the head; a send reads its body itself.
            request = SimRequest("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, b"")
            if wire.is_send(request):
                self._send_sms(wire, request)
                return
        body = self._read_body()
        if self.path == "/_reset":
            state.reset()
            self._answer_json(200, {"status": "reset"})
        elif self.path == "/_config":
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("the body must be a JSON object")
                config = state.configure(changes)
            except (ValueError, TypeError) as error:
                self._answer_json(400, {"error": str(error)})
                return
            self._answer_json(200, config.runtime_settings())
        else:
            self._answer_json(404, {"error": f"no such path: {self.path}"})

    def _send_sms(self, wire, head: SimRequest) -> None:
        state = self.server.state
        arrival, over_limit = state.record_arrival(self.arrived_at, self.headers.get("Idempotency-Key"), self.path)
        config = state.config
        # The body is read even when the answer does not depend on it, to keep the connection in step.
        request = dataclasses.replace(head, body=self._read_body())
        inbound: Inbound = wire.read(request, config.credentials or {}, config.api_key)
        reference = inbound.message.get("reference") if inbound.message else None
        delay_s = state.latency_s(config)
        if config.mode == "slow":
            delay_s += config.slow_ms / 1000
        if self.server.stopping.wait(delay_s):
            self.close_connection = True
            return

        def reply(answer: Reply) -> None:
            state.complete_arrival(arrival, answer.status, reference, inbound.auth)
            self._write_response(answer.status, answer.body, answer.content_type, dict(answer.headers))

        if over_limit:
            reply(wire.answer(wire.RATE_LIMIT_CODE, inbound, state.seconds_until_window_frees(time.time())))
            return
        if config.mode == "hang":
            self.server.stopping.wait()
            self.close_connection = True
            return
        if config.mode in ("throttle", "fail"):
            reply(wire.answer(wire.MODE_CODES[config.mode][0], inbound))
            return
        if config.mode == "flaky":
            failure_code = state.flaky_failure_code(config)
            if failure_code is not None:
                reply(wire.answer(failure_code, inbound))
                return
        if config.mode == "unauthorized" or inbound.auth in ("missing", "wrong"):
            code = inbound.auth_code if config.mode != "unauthorized" and inbound.auth_code else None
            reply(wire.answer(code or wire.MODE_CODES["unauthorized"][0], inbound))
            return
        if inbound.problem is not None:
            reply(inbound.problem)
            return
        if config.mode == "reject":
            reply(wire.answer(wire.MODE_CODES["reject"][0], inbound))
            return
        if config.mode == "error":
            reply(wire.answer(config.error_code, inbound))
            return
        if config.mode == "garbage":
            reply(Reply(200, GARBAGE_BODY, "text/html"))
            return
        if config.mode == "partial" and inbound.parts > 1 and wire.ANSWERS_PER_PART:
            message_ids = state.accept_message(arrival, inbound.message, inbound.parts - 1)
            reply(wire.partly_accepted(inbound, message_ids, config.error_code or wire.RATE_LIMIT_CODE))
            return
        message_ids = state.accept_message(arrival, inbound.message, inbound.parts)
        answer = wire.accepted(inbound, message_ids)
        if not arrival["duplicate"]:  # one receipt per message (its first part's id names it)
            state.schedule_receipt(config, inbound.message, message_ids[0])
        if config.mode == "drip":
            state.complete_arrival(arrival, answer.status, reference, inbound.auth)
            self._drip(answer, config.drip_ms / 1000)
            return
        reply(answer)

    def _drip(self, answer: Reply, interval_s: float) -> None:
        """The whole answer, status line included, one byte every ``interval_s``: each read a client makes
        gets a byte well within a per-read timeout, while the answer as a whole takes minutes."""
        head = (f"HTTP/1.1 {answer.status} OK\r\nContent-Type: {answer.content_type}\r\n"
                f"Content-Length: {len(answer.body)}\r\n\r\n").encode()
        try:
            for byte in head + answer.body:
                if self.server.stopping.wait(interval_s):
                    break
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
        except OSError:
            pass  # the client gave up (its deadline), as it should
        self.close_connection = True

    def _answer_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._write_response(status, json.dumps(payload).encode(), "application/json", headers)

    def _write_response(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True  # the client gave up waiting (its timeout), as gateways do

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""


class ProviderSimulator:
    """One simulated provider served from a daemon thread.

    with ProviderSimulator(SimulatorConfig(name="alpha", latency_ms=0)) as alpha:
        httpx.post(alpha.url, json={"to": "+14155550100", "text": "hi"})
    """

    def __init__(self, config: SimulatorConfig) -> None:
        self._config_at_start = config
        self._state = _ProviderState(config)
        self._server: _SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ProviderSimulator:
        if self._server is not None:
            raise RuntimeError(f"simulator {self.name} is already started")
        self._server = _SimulatorHTTPServer(
            (self._config_at_start.host, self._config_at_start.port), self._state
        )
        self._thread = threading.Thread(
            # A short poll interval makes stop() return promptly.
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"provider-simulator-{self.name}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        server.stopping.set()
        self._state.stopping.set()
        server.shutdown()
        server.close_open_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> ProviderSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def name(self) -> str:
        return self._config_at_start.name

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"simulator {self.name} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """What a provider entry points at: http-json's ``url`` (…/send), else the vendor entry's
        ``base_url`` (twilio, vonage) or ``endpoint_url`` (aws)."""
        return f"{self.base_url}/send" if self._config_at_start.kind == "http-json" else self.base_url

    @property
    def kind(self) -> str:
        return self._config_at_start.kind

    @property
    def config(self) -> SimulatorConfig:
        return self._state.config

    def configure(self, **changes: Any) -> SimulatorConfig:
        return self._state.configure(changes)

    def reset(self) -> None:
        self._state.reset()

    def arrivals(self) -> list[dict[str, Any]]:
        return self._state.arrivals()

    def sent(self) -> list[dict[str, Any]]:
        return self._state.sent()

    def stats(self) -> dict[str, Any]:
        return self._state.stats()

    def receipts(self) -> list[dict[str, Any]]:
        """Every receipt scheduled: message_id, reference, delivered, the gateway's last status, tries."""
        return self._state.receipts.log()


def _parse_args(argv: Sequence[str] | None) -> list[SimulatorConfig]:
    parser = argparse.ArgumentParser(
        prog="python -m localdev.provider_simulator",
        description="Run provider simulators, each speaking one provider kind's wire format.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--name", help="provider name, also the message_id prefix")
    which.add_argument(
        "--many",
        help='JSON list of configs, e.g. \'[{"name": "alpha", "port": 9001, "rate_limit": 50}]\'',
    )
    defaults = SimulatorConfig(name="")
    parser.add_argument("--kind", choices=sorted(WIRE_FORMATS), default=defaults.kind)
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port)
    parser.add_argument("--rate-limit", type=int, default=defaults.rate_limit)
    parser.add_argument("--latency-ms", type=float, default=defaults.latency_ms)
    parser.add_argument("--jitter-ms", type=float, default=defaults.jitter_ms)
    parser.add_argument("--mode", choices=sorted(MODES), default=defaults.mode)
    parser.add_argument("--failure-rate", type=float, default=defaults.failure_rate)
    parser.add_argument("--slow-ms", type=float, default=defaults.slow_ms)
    parser.add_argument("--api-key", default=defaults.api_key)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    args = parser.parse_args(argv)

    try:
        if args.many is not None:
            entries = json.loads(args.many)
            if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
                raise ValueError("--many must be a JSON list of objects")
            return [SimulatorConfig(**entry) for entry in entries]
        return [
            SimulatorConfig(
                name=args.name,
                kind=args.kind,
                host=args.host,
                port=args.port,
                rate_limit=args.rate_limit,
                latency_ms=args.latency_ms,
                jitter_ms=args.jitter_ms,
                mode=args.mode,
                failure_rate=args.failure_rate,
                slow_ms=args.slow_ms,
                api_key=args.api_key,
                seed=args.seed,
            )
        ]
    except (ValueError, TypeError) as error:
        parser.error(str(error))


def main(argv: Sequence[str] | None = None) -> int:
    configs = _parse_args(argv)
    stop_requested = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
    signal.signal(signal.SIGINT, lambda *_: stop_requested.set())

    simulators = []
    try:
        for config in configs:
            simulator = ProviderSimulator(config).start()
            simulators.append(simulator)
            print(f"provider simulator {simulator.name} listening on {simulator.url}", flush=True)
        stop_requested.wait()
    finally:
        for simulator in simulators:
            simulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
