"""A client's status-callback endpoint, for the local stack and the tests: verifies each callback's
signature with the client's callback secret, processes each event_id once, and logs every callback.

    CALLBACK_RECEIVER_SECRET=... python -m localdev.callback_receiver --port 9100

    GET  /_stats    {"received", "processed", "duplicates", "bad_signatures", "events": {event_id: payload},
                     "received_at": {event_id: epoch s of its first processed arrival} (the benchmark's latency)}
    POST /_config   {"status": 503}: answer every callback with this status (200 again to recover);
                    {"down_for_s": 20}: stop listening for that long (connections refused), then come back
    POST /_reset    forget what was received

It is what docs/api.md asks of a receiver: verify, answer 2xx fast, deduplicate on event_id.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from chalicelib.callbacks.signing import SIGNATURE_HEADER, verify_signature


class CallbackReceiver:
    def __init__(self, secret: str, *, host: str = "127.0.0.1", port: int = 0, log=None):
        self.secret = secret
        self.answer_status = 200
        self.received = 0
        self.duplicates = 0
        self.bad_signatures = 0
        self.events: dict[str, dict] = {}  # event_id -> the first payload processed
        self.received_at: dict[str, float] = {}  # event_id -> when that payload arrived (time.time())
        self._lock = threading.Lock()
        self._log = log or (lambda line: print(line, flush=True))
        self._server = self._listen(host, port)
        self._thread: threading.Thread | None = None
        self.down_until = 0.0

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _listen(self, host: str, port: int) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer((host, port), _handler_for(self))
        server.daemon_threads = True
        return server

    def go_down(self, seconds: float) -> None:
        """Stop listening for ``seconds`` (callers see connection refused), then listen again on the same port."""
        host, port = self._server.server_address[:2]
        self.down_until = time.time() + seconds
        self._log(json.dumps({"message": "callback receiver down", "for_s": seconds}))
        self.stop()
        time.sleep(seconds)
        self._server = self._listen(host, port)
        self.start()
        self._log(json.dumps({"message": "callback receiver back"}))

    def start(self) -> CallbackReceiver:
        self._thread = threading.Thread(target=self._server.serve_forever, name="callback-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def stats(self) -> dict:
        with self._lock:
            return {"received": self.received, "processed": len(self.events), "duplicates": self.duplicates,
                    "bad_signatures": self.bad_signatures, "answer_status": self.answer_status,
                    "events": dict(self.events), "received_at": dict(self.received_at)}

    def reset(self) -> None:
        with self._lock:
            self.received = self.duplicates = self.bad_signatures = 0
            self.events.clear()
            self.received_at.clear()

    def accept(self, body: bytes, signature: str | None) -> int:
        """The status to answer one callback with."""
        arrived_at = time.time()
        with self._lock:
            self.received += 1
            if self.answer_status != 200:
                return self.answer_status
            if not verify_signature(self.secret, body, signature, now=time.time()):
                self.bad_signatures += 1
                self._log(json.dumps({"message": "callback refused: bad signature"}))
                return 401
            payload = json.loads(body)
            if payload["event_id"] in self.events:  # already processed: answer 2xx, do nothing again
                self.duplicates += 1
                return 200
            self.events[payload["event_id"]] = payload
            self.received_at[payload["event_id"]] = arrived_at
        self._log(json.dumps({"message": "callback", **payload}))
        return 200


def _handler_for(receiver: CallbackReceiver):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # the receiver logs callbacks itself
            pass

        def _answer(self, status: int, body: dict | None = None) -> None:
            data = json.dumps(body or {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/_stats":
                self._answer(200, receiver.stats())
            else:
                self._answer(404)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/_config":
                config = json.loads(body or b"{}")
                receiver.answer_status = int(config.get("status", receiver.answer_status))
                self._answer(200, {"answer_status": receiver.answer_status})
                if config.get("down_for_s"):
                    threading.Thread(target=receiver.go_down, args=(float(config["down_for_s"]),), daemon=True).start()
            elif self.path == "/_reset":
                receiver.reset()
                self._answer(200)
            else:
                self._answer(receiver.accept(body, self.headers.get(SIGNATURE_HEADER)))

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args(argv)
    secret = os.environ.get("CALLBACK_RECEIVER_SECRET")
    if not secret:
        print("CALLBACK_RECEIVER_SECRET is required (the dev client's callback_secret)", file=sys.stderr)
        return 2
    receiver = CallbackReceiver(secret, host=args.host, port=args.port).start()
    print(json.dumps({"message": "callback receiver listening", "url": receiver.url}), flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
