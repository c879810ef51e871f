"""A TCP proxy that can play dead: put it in front of a dependency to make it refuse connections.

    python -m localdev.fault_proxy --listen 5055 --upstream 127.0.0.1:5056 --control 5057

While up, it forwards every connection to the upstream byte for byte. While down, it closes its
listening socket (new connections are refused: ECONNREFUSED, as a dead host's port would) and resets
every open connection (a request in flight fails, as it would when the host dies). Control:

    POST /down?seconds=10   go down now; come back up by itself after `seconds` (omit: stay down)
    POST /up                come back up now
    GET  /status            {"up": bool, "down_until": epoch s | null, "open_connections": n, "outages": n}

or signals: SIGUSR1 goes down (until SIGUSR2), SIGUSR2 comes back up.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import selectors
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 65536
ACCEPT_POLL_S = 0.05


def _reset(sock: socket.socket) -> None:
    """Break a connection: wake the threads blocked on it, and make its close an RST (SO_LINGER 0).

    shutdown() rather than close(): on Linux, close() does not wake a thread blocked in recv(); the
    thread that owns the socket closes it once it wakes.
    """
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class FaultProxy:
    def __init__(self, listen: tuple[str, int], upstream: tuple[str, int]):
        self.listen = listen
        self.upstream = upstream
        self._lock = threading.Lock()
        self._up = True
        self._down_until: float | None = None
        self._outages = 0
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._acceptor: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    # ------------------------------------------------------------- control

    def go_down(self, seconds: float | None = None) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._up:
                self._outages += 1
            self._up = False
            self._down_until = time.time() + seconds if seconds else None
            live = list(self._connections)
            self._connections.clear()
            if seconds:
                self._timer = threading.Timer(seconds, self.go_up)
                self._timer.daemon = True
                self._timer.start()
        for sock in live:
            _reset(sock)

    def go_up(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._up = True
            self._down_until = None

    def status(self) -> dict:
        with self._lock:
            return {"up": self._up, "down_until": self._down_until, "open_connections": len(self._connections),
                    "outages": self._outages}

    # ------------------------------------------------------------- serving

    def start(self) -> FaultProxy:
        listener = self._bind()  # fail fast at start when the port is taken
        self._acceptor = threading.Thread(target=self._accept_loop, args=(listener,), name="accept", daemon=True)
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._acceptor is not None:
            self._acceptor.join(2)
        self.go_down()

    def _bind(self) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(self.listen)
        listener.listen(256)
        return listener

    def _accept_loop(self, listener: socket.socket | None) -> None:
        # One thread owns the listening socket: it closes it while down and binds it again when up.
        selector = selectors.DefaultSelector()
        if listener is not None:
            selector.register(listener, selectors.EVENT_READ)
        while not self._stopping.is_set():
            with self._lock:
                up = self._up
            if not up and listener is not None:
                selector.unregister(listener)
                listener.close()
                listener = None
            elif up and listener is None:
                try:
                    listener = self._bind()
                except OSError:
                    time.sleep(ACCEPT_POLL_S)  # the port is still held by a closing socket: try again
                    continue
                selector.register(listener, selectors.EVENT_READ)
            if listener is None:
                time.sleep(ACCEPT_POLL_S)
                continue
            if not selector.select(ACCEPT_POLL_S):
                continue
            try:
                client, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()
        if listener is not None:
            listener.close()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=2)
        except OSError:
            _reset(client)
            client.close()
            return
        upstream.settimeout(None)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            went_down = not self._up  # while this connection was being made
            if not went_down:
                self._connections.update((client, upstream))
        if went_down:
            for sock in (client, upstream):
                _reset(sock)
                sock.close()
            return
        backward = threading.Thread(target=self._pump, args=(upstream, client), daemon=True)
        backward.start()
        self._pump(client, upstream)
        backward.join()
        with self._lock:
            self._connections.difference_update((client, upstream))
        client.close()
        upstream.close()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(CHUNK)
                if not data:
                    break
                target.sendall(data)
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)  # pass the end of stream on; the other pump ends its side
        except OSError:  # reset by go_down() or by a peer: end both directions
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def control_server(proxy: FaultProxy, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    class Control(BaseHTTPRequestHandler):
        def log_message(self, *_args) -> None:
            return

        def _answer(self, status: int, body: dict) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            if urllib.parse.urlsplit(self.path).path == "/status":
                self._answer(200, proxy.status())
            else:
                self._answer(404, {"error": "no such path"})

        def do_POST(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            if url.path == "/down":
                try:
                    seconds = float(query["seconds"][0]) if "seconds" in query else None
                except ValueError:
                    self._answer(400, {"error": "seconds must be a number"})
                    return
                proxy.go_down(seconds)
                self._answer(200, proxy.status())
            elif url.path == "/up":
                proxy.go_up()
                self._answer(200, proxy.status())
            else:
                self._answer(404, {"error": "no such path"})

    server = ThreadingHTTPServer((host, port), Control)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return server


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", required=True, help="PORT or HOST:PORT to accept connections on")
    parser.add_argument("--upstream", required=True, help="HOST:PORT to forward them to")
    parser.add_argument("--control", type=int, default=0, help="HTTP control port (0: signals only)")
    args = parser.parse_args(argv)
    proxy = FaultProxy(_address(args.listen), _address(args.upstream)).start()
    control = control_server(proxy, args.control) if args.control else None
    stop = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: proxy.go_down())
    signal.signal(signal.SIGUSR2, lambda *_: proxy.go_up())
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    where = f", control on http://127.0.0.1:{control.server_address[1]}" if control else ""
    print(f"fault proxy {args.listen} -> {args.upstream}{where}", flush=True)
    stop.wait()
    if control is not None:
        control.shutdown()
    proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
