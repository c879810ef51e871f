"""The local AWS emulator: moto's server (SQS, DynamoDB, CloudFormation ...) with its SQS made to
scale with a backlog.

    python -m localdev.aws_emulator --port 5055

Measured on this 2-core machine, stock moto 5.2.5 SQS slows as a queue grows: every SendMessage
computes the queue's three ApproximateNumberOf* attributes by walking every message, and each
visibility check turns the time into a datetime and back (~4.5 us per message per check): 218 sends/s
into an empty queue, 25/s at 1,200 delayed messages, 8/s with eight long-polling receivers.
``install_sqs_speedups`` keeps moto's behaviour and changes only how much work it does:
  - visibility and delay checks read time.time() directly;
  - the ApproximateNumberOf* counts are computed at most every 250 ms (they are approximate on AWS too);
  - a receive walks the queue lazily and stops once it has its messages; a waiting long poll wakes on
    the first visible message instead of building the list of all of them;
  - a delete stops at the message it deletes.
``install_dynamodb_atomic_writes`` makes moto's conditional writes atomic, as DynamoDB's are: moto
checks a condition and then writes, so two threads of its server can both pass the same condition, and
two concurrent claims of one attempt could both succeed (docs/benchmarks.md has the observation).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
import time

COUNTS_TTL_S = 0.25


def install_sqs_speedups() -> None:
    import moto.sqs.models as sqs_models
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    original_unix_time_millis = sqs_models.unix_time_millis

    def unix_time_millis(dt=None):
        return time.time() * 1000.0 if dt is None else original_unix_time_millis(dt)

    sqs_models.unix_time_millis = unix_time_millis
    queue_class = sqs_models.Queue

    def visible_messages(self):
        now = time.time() * 1000.0
        return (m for m in self._messages if now > m.visible_at and now >= m.delayed_until)

    def counts(self) -> tuple[int, int, int]:
        cached = getattr(self, "_counts_cache", None)
        if cached is not None and time.monotonic() - cached[0] < COUNTS_TTL_S:
            return cached[1]
        now = time.time() * 1000.0
        visible = delayed = in_flight = 0
        for m in list(self._messages):
            if now < m.delayed_until:
                delayed += 1
            if now <= m.visible_at:
                in_flight += 1
            elif now >= m.delayed_until:
                visible += 1
        self._counts_cache = (time.monotonic(), (visible, delayed, in_flight))
        return visible, delayed, in_flight

    def wait_for_messages(self, timeout):
        with self._messages_lock:
            self._messages_lock.wait_for(lambda: next(self.messages, None) is not None, timeout=timeout)

    def delete_message(self, receipt_handle):
        if receipt_handle in self.deleted_messages:
            return  # deleting twice is allowed, as on AWS
        with self._messages_lock:
            for index, message in enumerate(self._messages):
                if message.had_receipt_handle(receipt_handle):
                    self.pending_messages.discard(message)
                    self.deleted_messages.update(message.all_receipt_handles)
                    del self._messages[index]
                    return
        raise ReceiptHandleIsInvalid()

    queue_class.messages = property(visible_messages)
    queue_class.approximate_number_of_messages = property(lambda self: counts(self)[0])
    queue_class.approximate_number_of_messages_delayed = property(lambda self: counts(self)[1])
    queue_class.approximate_number_of_messages_not_visible = property(lambda self: counts(self)[2])
    queue_class.wait_for_messages = wait_for_messages
    queue_class.delete_message = delete_message


def install_dynamodb_atomic_writes() -> None:
    import functools

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()  # one for every table: writes are cheap, correctness is not optional

    def serialized(method):
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            with lock:
                return method(*args, **kwargs)

        return wrapper

    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        setattr(DynamoDBBackend, name, serialized(getattr(DynamoDBBackend, name)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--stock", action="store_true", help="run moto as it ships, without the SQS speedups")
    parser.add_argument("--threads", type=int, default=48, help="request threads (long polls hold one each)")
    args = parser.parse_args(argv)
    install_dynamodb_atomic_writes()
    if not args.stock:
        install_sqs_speedups()
    from moto.server import DomainDispatcherApplication, create_backend_app
    from waitress.server import create_server

    # waitress, not werkzeug's dev server: werkzeug closes every connection after one answer (so each AWS
    # call paid a TCP connect and a new thread); waitress keeps them alive and serves from a thread pool.
    # Threads: long polls (ReceiveMessage with WaitTimeSeconds) each hold one for up to 20 s.
    server = create_server(DomainDispatcherApplication(create_backend_app), host=args.host, port=args.port,
                           threads=args.threads, connection_limit=1000, channel_timeout=120,
                           ident="moto", clear_untrusted_proxy_headers=False)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" warnings under load
    print(f"AWS emulator (moto{'' if args.stock else ' + SQS speedups'}) on http://{args.host}:{args.port}",
          flush=True)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: server.close())
    with contextlib.suppress(OSError, ValueError):  # the signal handler closed it
        server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
