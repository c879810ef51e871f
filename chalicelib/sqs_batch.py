"""The batch adapter of an SQS-triggered Lambda: one record at a time, partial batch failures reported.

The event source mapping has ReportBatchItemFailures on: only the records named in
``batchItemFailures`` come back (and, after maxReceiveCount receives, reach the DLQ).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from chalicelib.errors import MalformedMessage, RetryableError
from chalicelib.logs import logger


def process_batch(records: Iterable[tuple[str, str]], process_record: Callable[[str, str], None]) -> dict:
    """records: (messageId, body), processed concurrently (a send waits on the network, not the CPU).

    A RetryableError or an unexpected error reports the record as failed, so it comes back; a
    malformed record, which can never be processed, is dropped rather than fed to the DLQ."""
    records = list(records)
    if not records:
        return {"batchItemFailures": []}
    with ThreadPoolExecutor(max_workers=len(records), thread_name_prefix="record") as pool:
        outcomes = list(pool.map(lambda record: (record[0], _process(*record, process_record)), records))
    return {"batchItemFailures": [{"itemIdentifier": mid} for mid, ok in outcomes if not ok]}


def _process(message_id: str, body: str, process_record: Callable[[str, str], None]) -> bool:
    try:
        process_record(message_id, body)
    except MalformedMessage as exc:
        logger.error("record dropped", extra={"sqs_message_id": message_id, "error": exc.message})
    except RetryableError as exc:
        logger.warning("record comes back later", extra={"sqs_message_id": message_id, "error": exc.message})
        return False
    except Exception:  # a bug or a refused write must not lose the record: it comes back, then the DLQ
        logger.exception("record failed", extra={"sqs_message_id": message_id})
        return False
    return True
