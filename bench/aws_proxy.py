"""A counting HTTP proxy in front of the AWS emulator: AWS API calls by service and operation.

moto's server counts nothing per call, and the gateway's code is not ours to instrument, so the
benchmark points AWS_ENDPOINT_URL here and this forwards every request to moto unchanged.

    python -m bench.aws_proxy --upstream http://127.0.0.1:5055 --port 5056

    GET  /__bench__/counts   {"calls": {"dynamodb": {"PutItem": n, ...}, "sqs": {...}}, "items": ..., ...}
    POST /__bench__/reset    zero every counter
    POST /__bench__/slow?factor=3   make every call take `factor` times as long as the emulator took to answer
                             it (the "AWS emulator 3x slower" scenario); factor=1 undoes it

How a call is named: `X-Amz-Target` (DynamoDB_20120810.PutItem, AmazonSQS.SendMessage: the JSON
protocols), else `Action=` in a query-protocol form body, with the service read from the SigV4
credential scope. Beside calls it counts what the price list bills by: items written by batch and
transaction writes, messages received (a non-empty receive is one Lambda invocation), error answers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import signal
import threading
import time
import urllib.parse
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
                        "upgrade", "proxy-authenticate", "proxy-authorization"})
SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([a-z0-9-]+)/aws4_request")


def operation_of(headers, body: bytes) -> tuple[str, str]:
    """(service, operation) of one AWS API request."""
    target = headers.get("X-Amz-Target") or ""
    if "." in target:
        prefix, operation = target.rsplit(".", 1)
        service = "dynamodb" if prefix.startswith("DynamoDB") else "sqs" if prefix.startswith("AmazonSQS") else prefix
        return service, operation
    match = SCOPE.search(headers.get("Authorization") or "")
    service = match.group(1) if match else "unknown"
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if body else {}
    action = (form.get("Action") or [None])[0]
    return service, action or "unsigned-or-other"


def items_in(service: str, operation: str, body: bytes) -> int:
    """Items a batch or transaction call carries (1 for single-item calls)."""
    if operation not in ("BatchWriteItem", "TransactWriteItems", "BatchGetItem", "TransactGetItems",
                         "SendMessageBatch", "DeleteMessageBatch"):
        return 1
    try:
        data = json.loads(body)
    except ValueError:
        return 1
    if operation == "BatchWriteItem":
        return sum(len(v) for v in data.get("RequestItems", {}).values())
    if operation == "BatchGetItem":
        return sum(len(v.get("Keys", [])) for v in data.get("RequestItems", {}).values())
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return len(data.get("TransactItems", []))
    return len(data.get("Entries", []))


class Counts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self.calls: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
            self.items: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
            self.errors: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
            self.received_messages = 0
            self.nonempty_receives = 0

    def add(self, service: str, operation: str, items: int, status: int, received: int | None) -> None:
        with self._lock:
            self.calls[service][operation] += 1
            self.items[service][operation] += items
            if status >= 400:
                self.errors[service][operation] += 1
            if received:
                self.received_messages += received
                self.nonempty_receives += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "calls": {s: dict(ops) for s, ops in self.calls.items()},
                "items": {s: dict(ops) for s, ops in self.items.items()},
                "errors": {s: dict(ops) for s, ops in self.errors.items()},
                "received_messages": self.received_messages,
                "nonempty_receives": self.nonempty_receives,
            }


def received_count(operation: str, body: bytes) -> int | None:
    if operation != "ReceiveMessage":
        return None
    try:
        return len(json.loads(body).get("Messages", []))
    except ValueError:
        return body.count(b"<Message>")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address, upstream: str):
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self.counts = Counts()
        self.slowdown = 1.0
        self.local = threading.local()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        return

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _upstream(self) -> http.client.HTTPConnection:
        connection = getattr(self.server.local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self.server.upstream_host, self.server.upstream_port, timeout=60)
            self.server.local.connection = connection
        return connection

    def _forward(self) -> None:
        body = self._body()
        if self.path.startswith("/__bench__/"):
            if self.path == "/__bench__/reset" and self.command == "POST":
                self.server.counts.reset()
            if self.path.startswith("/__bench__/slow?") and self.command == "POST":
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                self.server.slowdown = max(1.0, float(query.get("factor", ["1"])[0]))
            payload = json.dumps(self.server.counts.snapshot()).encode()
            self._reply(200, payload, [("Content-Type", "application/json")])
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        for attempt in (1, 2):  # a kept-alive upstream connection the emulator closed: reconnect once
            connection = self._upstream()
            started = time.perf_counter()
            try:
                connection.request(self.command, self.path, body=body or None, headers=headers)
                response = connection.getresponse()
                answer = response.read()
                # A slower emulator: each call answers after `slowdown` times its own time (a long poll's
                # wait included, which a slower SQS would not stretch: receives are left alone).
                if self.server.slowdown > 1 and "ReceiveMessage" not in (self.headers.get("X-Amz-Target") or ""):
                    time.sleep((self.server.slowdown - 1) * (time.perf_counter() - started))
                break
            except (http.client.HTTPException, OSError):
                connection.close()
                self.server.local.connection = None
                if attempt == 2:
                    self._reply(502, b"upstream unavailable", [])
                    return
        service, operation = operation_of(self.headers, body)
        if self.command != "GET" or service != "unknown":
            self.server.counts.add(service, operation, items_in(service, operation, body), response.status,
                                   received_count(operation, answer))
        self._reply(response.status, answer, response.getheaders())

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    server = _Server(("127.0.0.1", args.port), args.upstream)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"counting AWS proxy on http://127.0.0.1:{args.port} -> {args.upstream}", flush=True)
    server.serve_forever(poll_interval=0.2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
