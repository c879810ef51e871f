"""The batch adapter of an SQS-triggered Lambda: one record at a time, partial batch failures reported.

The event source mapping has ReportBatchItemFailures on: only the records named in
``batchItemFailures`` come back (and, after maxReceiveCount receives, reach the DLQ).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from chalicelib.errors import MalformedMessage, RetryableError
from chalicelib.logs import logger


@dataclass(frozen=True)
class QueueRecord:
    """What the dispatcher reads of one SQS event record."""

    message_id: str
    body: str
    receipt_handle: str = ""  # to change the message's visibility
    receive_count: int = 1  # ApproximateReceiveCount, this receive included

    @classmethod
    def of(cls, record: dict) -> QueueRecord:
        """From a Lambda SQS event record (its dict form)."""
        attributes = record.get("attributes") or {}
        return cls(message_id=record["messageId"], body=record["body"], receipt_handle=record.get("receiptHandle", ""),
                   receive_count=int(attributes.get("ApproximateReceiveCount") or 1))


def process_batch(records: Iterable[QueueRecord], process_record: Callable[[QueueRecord], bool]) -> dict:
    """Records processed concurrently (a send waits on the network, not the CPU).

    ``process_record`` returns True when the record is done, False when it must come back (it has already
    been made invisible for as long as it should wait). A RetryableError or an unexpected error reports
    the record as failed too, so it comes back; a malformed record, which can never be processed, is
    dropped rather than fed to the DLQ."""
    records = list(records)
    if not records:
        return {"batchItemFailures": []}
    # Each record's thread runs in a copy of the invocation's context: its AWS calls keep the invocation's
    # deadline (aws_deadline.py).
    contexts = [contextvars.copy_context() for _ in records]
    with ThreadPoolExecutor(max_workers=len(records), thread_name_prefix="record") as pool:
        outcomes = list(pool.map(lambda context, record: (record.message_id,
                                                          context.run(_process, record, process_record)),
                                 contexts, records))
    return {"batchItemFailures": [{"itemIdentifier": mid} for mid, done in outcomes if not done]}


def _process(record: QueueRecord, process_record: Callable[[QueueRecord], bool]) -> bool:
    try:
        return process_record(record)
    except MalformedMessage as exc:
        logger.error("record dropped", extra={"sqs_message_id": record.message_id, "error": exc.message})
    except RetryableError as exc:
        logger.warning("record comes back later", extra={"sqs_message_id": record.message_id, "error": exc.message})
        return False
    except Exception:  # a bug or a refused write must not lose the record: it comes back, then the DLQ
        logger.exception("record failed", extra={"sqs_message_id": record.message_id})
        return False
    return True
