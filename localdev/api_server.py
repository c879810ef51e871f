"""The HTTP API on PORT, served by chalice's local server (what `chalice local` runs).

    python -m localdev.api_server --port 8000

Built from a Config with no stage environment, so the environment the local stack sets
(emulator endpoints, REDIS_URL, API_KEYS) is what the app reads.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
from pathlib import Path

from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalDevServer,
    RouteMatcher,
    ThreadedHTTPServer,
)

from chalicelib.api.responses import ErrorBody
from chalicelib.errors import MethodNotAllowed


class ApiHttpServer(ThreadedHTTPServer):
    # socketserver's default listen backlog is 5: under a burst of new connections the kernel would
    # refuse clients before the API ever saw them.
    request_queue_size = 256
    daemon_threads = True

    def get_request(self):
        # The handler writes headers and body in separate small sends; with Nagle's algorithm on, the
        # body waits for the client's delayed ACK, about 40 ms added to every answer.
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


class ApiRequestHandler(ChaliceRequestHandler):
    """chalice's handler answers only the methods API Gateway proxies (GET, POST, ...); any other method
    (TRACE, CONNECT, a made-up one) would get http.server's 501 HTML page. On a route's path it gets the
    405 the app gives an undeclared method, in the API's error shape; elsewhere chalice's usual answer."""

    def __getattr__(self, name: str):
        # BaseHTTPRequestHandler looks up do_<METHOD> for every request; only unknown methods get here.
        if name.startswith("do_"):
            return self._undeclared_method
        raise AttributeError(name)

    def _undeclared_method(self) -> None:
        self._parse_payload()  # read the body off a kept-alive connection, or it would prefix the next request
        app_object = self.local_gateway._app_object
        try:
            match = RouteMatcher(list(app_object.routes)).match_route(self.path)
        except ValueError:  # no such path: answered as for any method there (API Gateway's 403)
            self._generic_handle()
            return
        allowed = ", ".join(app_object.routes[match.route])
        error = MethodNotAllowed(f"{self.command} is not allowed on this path; allowed: {allowed}", field="method")
        self._send_http_response(405, {"Allow": allowed, "Content-Type": "application/json"},
                                 json.dumps(ErrorBody.of(error).to_body()))


def api_timeout_s() -> int:
    """The API function's ``lambda_timeout`` in .chalice/config.json."""
    config = json.loads((Path(__file__).resolve().parents[1] / ".chalice" / "config.json").read_text())
    return int(config["lambda_functions"]["api_handler"]["lambda_timeout"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args(argv)

    from app import app  # imported here: the environment is complete by now

    if os.environ.get("IAM_FUNCTION"):  # the API function's policy, enforced as AWS would (localdev/iam_policies.py)
        from localdev.iam_policies import enforce_function_policy

        enforce_function_policy(os.environ["IAM_FUNCTION"])

    # Each request's context counts down from the API function's timeout, as on Lambda: its AWS calls end in
    # time (chalicelib/aws_deadline.py).
    config = Config.create(chalice_stage="local", app_name=app.app_name, chalice_app=app,
                           lambda_timeout=api_timeout_s())
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)  # what chalice's create_local_server does
    app.__class__ = CustomLocalChalice
    server = LocalDevServer(app, config, args.host, args.port, handler_cls=ApiRequestHandler,
                            server_cls=ApiHttpServer)

    def shutdown(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
