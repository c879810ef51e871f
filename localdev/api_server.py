"""The HTTP API on PORT, served by chalice's local server (what `chalice local` runs).

    python -m localdev.api_server --port 8000

Built from a Config with no stage environment, so the environment the local stack sets
(emulator endpoints, REDIS_URL, API_KEYS) is what the app reads.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading

from chalice.config import Config
from chalice.local import CustomLocalChalice, LocalChalice, LocalDevServer, ThreadedHTTPServer


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args(argv)

    from app import app  # imported here: the environment is complete by now

    config = Config.create(chalice_stage="local", app_name=app.app_name, chalice_app=app)
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)  # what chalice's create_local_server does
    app.__class__ = CustomLocalChalice
    server = LocalDevServer(app, config, args.host, args.port, server_cls=ApiHttpServer)

    def shutdown(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
