"""Replay a dead-letter queue: the dispatch DLQ into the dispatch queue, or (--callbacks) the callbacks DLQ
into the callbacks queue.

    python -m ops.dlq_replay --dry-run          # show what is there, change nothing
    python -m ops.dlq_replay [--max 100]        # move messages back to the dispatch queue
    python -m ops.dlq_replay --callbacks [--dry-run]   # status callbacks: each gets a new day of retries

A message reaches the DLQ after being received maxReceiveCount times without being processed
(Redis or DynamoDB down for long, a bug). Replaying is safe: the dispatcher's conditional claim turns
a message whose request has already ended into a no-op. Each message is sent to the dispatch queue
first and deleted from the DLQ after, so a crash in between duplicates a message, never loses one.
Works against AWS (your credentials) and the local stack (AWS_ENDPOINT_URL).

A replayed callback keeps its event_id (the client deduplicates on it) and starts a new retry window:
attempt 1, no first-try time, no dead reason. Its reason for being there is printed first.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field

import boto3

from chalicelib.callbacks import CallbackEvent
from chalicelib.errors import MalformedMessage


@dataclass
class ReplayReport:
    seen: int = 0
    replayed: int = 0
    malformed: int = 0
    receive_counts: Counter = field(default_factory=Counter)

    def summary(self, dry_run: bool) -> str:
        moved = f"would replay {self.seen - self.malformed}" if dry_run else f"replayed {self.replayed}"
        counts = ", ".join(f"{n} received {c}x" for c, n in sorted(self.receive_counts.items())) or "none"
        return (f"DLQ: {self.seen} message(s) seen, {moved}, {self.malformed} malformed (left in the DLQ); "
                f"receive counts: {counts}")


def fresh_callback(body: str) -> tuple[str, str]:
    """A dead callback's body made new (attempt 1, a new retry window), and what to print about it."""
    try:
        event = CallbackEvent.from_body(body)
    except MalformedMessage:
        raise ValueError("malformed callback") from None
    return event.fresh().to_body(), f"callback {event.event_id} ({event.status}) of request {event.id}: " \
                                     f"{event.dead_reason or 'no reason recorded'}"


def dispatch_message(body: str) -> tuple[str, str]:
    return body, f"request {json.loads(body)['id']}"


def replay(sqs, dlq_url: str, queue_url: str, *, dry_run: bool, max_messages: int, out=sys.stdout,
           prepare=dispatch_message) -> ReplayReport:
    """``prepare(body) -> (body to send, what to print)``; raises ValueError/KeyError/TypeError when malformed."""
    report = ReplayReport()
    held: list[str] = []  # receipt handles to hand back at the end of a dry run
    while report.seen < max_messages:
        batch = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=min(10, max_messages - report.seen),
                                    WaitTimeSeconds=1, VisibilityTimeout=60,
                                    AttributeNames=["ApproximateReceiveCount", "SentTimestamp"]).get("Messages", [])
        if not batch:
            break
        for message in batch:
            report.seen += 1
            report.receive_counts[message["Attributes"].get("ApproximateReceiveCount", "?")] += 1
            try:
                body, what = prepare(message["Body"])
            except (ValueError, KeyError, TypeError):
                report.malformed += 1
                held.append(message["ReceiptHandle"])
                print(f"  malformed body, left in the DLQ: message {message['MessageId']}", file=out)
                continue
            print(f"  {'would replay' if dry_run else 'replaying'} {what}", file=out)
            if dry_run:
                held.append(message["ReceiptHandle"])
                continue
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            report.replayed += 1
    for handle in held:  # visible again at once: a dry run leaves the DLQ as it found it
        sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="list what would be replayed, change nothing")
    parser.add_argument("--max", type=int, default=1000, help="at most this many messages (default 1000)")
    parser.add_argument("--callbacks", action="store_true", help="the callbacks DLQ into the callbacks queue "
                        "(default queue name: CALLBACK_QUEUE_NAME or sms-callbacks)")
    parser.add_argument("--queue-name", default=None, help="default: DISPATCH_QUEUE_NAME or sms-dispatch "
                        "(with --callbacks: CALLBACK_QUEUE_NAME or sms-callbacks)")
    parser.add_argument("--dlq-name", default=None, help="default: <queue-name>-dlq")
    args = parser.parse_args(argv)
    if args.queue_name is None:
        args.queue_name = (os.environ.get("CALLBACK_QUEUE_NAME", "sms-callbacks") if args.callbacks
                           else os.environ.get("DISPATCH_QUEUE_NAME", "sms-dispatch"))
    sqs = boto3.session.Session().client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    queue_url = sqs.get_queue_url(QueueName=args.queue_name)["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName=args.dlq_name or f"{args.queue_name}-dlq")["QueueUrl"]
    report = replay(sqs, dlq_url, queue_url, dry_run=args.dry_run, max_messages=args.max,
                    prepare=fresh_callback if args.callbacks else dispatch_message, out=sys.stdout)
    print(report.summary(args.dry_run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
