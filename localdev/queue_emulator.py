"""The local stand-in for Lambda's SQS event source mapping.

`chalice local` serves HTTP only; this long-polls the dispatch queue, builds SQS event
records exactly as Lambda does, calls the Chalice handler, deletes the records that
succeeded and leaves those named in ``batchItemFailures`` to come back after their visibility
timeout (and, past the queue's maxReceiveCount, to go to the DLQ, which SQS itself does).

    python -m localdev.queue_emulator --concurrency 4 --batch-size 10 --window 1
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.settings import get_settings
from localdev.stack_settings import StackSettings


@dataclass
class LambdaContext:
    """The parts of Lambda's context object that handlers and Powertools read."""

    function_name: str = "sms-gateway-local-dispatch_sms"
    memory_limit_in_mb: int = 512
    timeout_s: float = 30.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:sms-gateway-local-dispatch_sms"
    log_group_name: str = "/aws/lambda/sms-gateway-local-dispatch_sms"
    log_stream_name: str = "local"
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


def _message_attributes(message: dict) -> dict:
    """SQS API shape (StringValue, DataType) -> Lambda event shape (stringValue, dataType, ...)."""
    converted = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        converted[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
    return converted


def build_event(messages: list[dict], queue_arn: str, region: str) -> dict:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": _message_attributes(message),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


def failed_ids(response: object, records: list[dict]) -> set[str]:
    """The messageIds to leave on the queue, read as Lambda reads a ReportBatchItemFailures answer."""
    if not isinstance(response, dict) or "batchItemFailures" not in response:
        return set()
    failures = response["batchItemFailures"]
    known = {record["messageId"] for record in records}
    ids = {item.get("itemIdentifier") for item in failures if isinstance(item, dict)}
    if not ids <= known:  # Lambda treats an unknown or empty identifier as a failure of the whole batch
        return known
    return ids


@dataclass
class Stats:
    invocations: int = 0
    records: int = 0
    deleted: int = 0
    reported_failures: int = 0
    handler_errors: int = 0


class EventSourceMapping:
    """Lambda's SQS event source for one process: one poller gathers batches and hands each to a free
    invocation slot, at most `concurrency` invocations at a time (the mapping's MaximumConcurrency).

    While every slot is busy nothing is received: a message the dispatchers have no capacity for stays on the
    queue, where waiting costs nothing, instead of being taken and put back. A batch that came back less
    than full means the queue is running dry: the poller lets the next one gather on the queue for the
    batching window before receiving it, so that one receive brings a batch, not one message."""

    def __init__(
        self,
        sqs,
        queue_url: str,
        handler: Callable[[dict, LambdaContext], object],
        *,
        region: str,
        batch_size: int = 10,
        batching_window_s: float = 1.0,
        concurrency: int = 4,
        wait_time_s: int = 20,
        visibility_timeout_s: int | None = None,
    ):
        self._sqs = sqs
        self.queue_url = queue_url
        self._handler = handler
        self._region = region
        self._batch_size = max(1, min(10, batch_size))
        self._window_s = batching_window_s
        self._concurrency = concurrency
        self._wait_time_s = wait_time_s
        # Set: each receive asks for it, whatever the queue says. A queue a previous run left behind may hold
        # messages out of sight for its own, longer timeout, and a stopped run's long poll that the emulated
        # SQS still holds open takes a message out of sight for that long too.
        self._visibility_timeout_s = visibility_timeout_s
        self._stop = threading.Event()
        self._slots = threading.BoundedSemaphore(concurrency)
        self._poller: threading.Thread | None = None
        self.stats = Stats()
        self._lock = threading.Lock()
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def start(self) -> EventSourceMapping:
        self._poller = threading.Thread(target=self._poll_forever, name="esm-poller", daemon=True)
        self._poller.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout)
        for _ in range(self._concurrency):  # the invocations in progress finish, within the same timeout
            self._slots.acquire(timeout=max(0.0, deadline - time.monotonic()))

    def _poll_forever(self) -> None:
        gather = False
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=0.2):
                continue
            if gather:
                self._stop.wait(self._window_s)
            try:
                messages = self._receive()
            except (BotoCoreError, ClientError) as exc:
                print(f"queue emulator: receive failed ({type(exc).__name__}); retrying", file=sys.stderr)
                self._slots.release()
                self._stop.wait(1.0)
                continue
            if not messages or self._stop.is_set():
                self._release(messages)  # stopping: what was received goes back on the queue now
                self._slots.release()
                gather = False
                continue
            gather = len(messages) < self._batch_size
            threading.Thread(target=self._invoke_in_slot, args=(messages,), name="esm-invocation", daemon=True).start()

    def _receive(self) -> list[dict]:
        visibility = {} if self._visibility_timeout_s is None else {"VisibilityTimeout": self._visibility_timeout_s}
        response = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=self._wait_time_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            **visibility,
        )
        return response.get("Messages", [])

    def _release(self, messages: list[dict]) -> None:
        """Visible again at once: received, never handed to the handler."""
        if not messages:
            return
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                   for i, m in enumerate(messages)]
        try:
            self._sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
        except (BotoCoreError, ClientError) as exc:  # they come back after their visibility timeout instead
            print(f"queue emulator: could not release {len(messages)} messages ({type(exc).__name__})",
                  file=sys.stderr)

    def _invoke_in_slot(self, messages: list[dict]) -> None:
        try:
            self.invoke(messages)
        finally:
            self._slots.release()

    def invoke(self, messages: list[dict]) -> set[str]:
        """One Lambda invocation: returns the messageIds left for redelivery."""
        event = build_event(messages, self.queue_arn, self._region)
        try:
            response = self._handler(event, LambdaContext())
            failed = failed_ids(response, event["Records"])
        except Exception as exc:  # a crashed invocation: every record comes back, as on Lambda
            print(f"queue emulator: handler raised {type(exc).__name__}: {exc}", file=sys.stderr)
            failed = {record["messageId"] for record in event["Records"]}
            with self._lock:
                self.stats.handler_errors += 1
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._delete(done)
        with self._lock:
            self.stats.invocations += 1
            self.stats.records += len(messages)
            self.stats.deleted += len(done)
            self.stats.reported_failures += len(messages) - len(done)
        return failed

    def _delete(self, messages: list[dict]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        try:
            self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except (BotoCoreError, ClientError) as exc:
            # Not deleted means delivered again later; the dispatcher's claim makes that a no-op.
            print(f"queue emulator: delete failed ({type(exc).__name__})", file=sys.stderr)


def load_handler(spec: str) -> Callable:
    module_name, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def sqs_client(region: str):
    return boto3.session.Session().client(
        "sqs", region_name=region, config=Config(retries={"max_attempts": 3, "mode": "standard"},
                                                 max_pool_connections=50, read_timeout=30)
    )


def main(argv: list[str] | None = None) -> int:
    stack = StackSettings.from_env(dict(os.environ))
    gateway = get_settings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--handler", default="app:dispatch_sms", help="module:attribute of the SQS handler")
    parser.add_argument("--init", default="chalicelib.wiring:get_dispatcher",
                        help="module:attribute called once before polling (Lambda's init phase); '' for none")
    parser.add_argument("--queue-name", default=gateway.queues.dispatch_queue_name)
    parser.add_argument("--batch-size", type=int, default=stack.dispatch_batch_size)
    parser.add_argument("--window", type=float, default=stack.dispatch_batch_window_s,
                        help="batching window in seconds")
    parser.add_argument("--concurrency", type=int, default=stack.dispatch_concurrency,
                        help="concurrent invocations in this process")
    args = parser.parse_args(argv)
    region = gateway.aws_region
    sqs = sqs_client(region)
    queue_url = sqs.get_queue_url(QueueName=args.queue_name)["QueueUrl"]
    if os.environ.get("IAM_FUNCTION"):  # the function's policy, enforced as AWS would (localdev/iam_policies.py)
        from localdev.iam_policies import enforce_function_policy

        # The event source's own calls are Lambda's (on AWS with the same role, but its ChangeMessageVisibility
        # for failed records is this emulator's own way of bringing them back): not the function's code.
        enforce_function_policy(os.environ["IAM_FUNCTION"]).exempt(sqs)
    if args.init:
        # Clients and services are built before the first message, as a Lambda's init phase does, and once:
        # built by the first concurrent invocations instead, each would build its own, under load, for seconds.
        load_handler(args.init)()
    mapping = EventSourceMapping(sqs, queue_url, load_handler(args.handler), region=region,
                                 batch_size=args.batch_size, batching_window_s=args.window,
                                 concurrency=args.concurrency,
                                 visibility_timeout_s=stack.dispatch_visibility_timeout_s)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    mapping.start()
    stop.wait()
    mapping.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
