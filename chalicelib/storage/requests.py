"""sms_requests and sms_responses: create a request, read it, and keep one record per attempt."""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.errors import ConditionFailed, DependencyUnavailable
from chalicelib.lifecycle import TERMINAL, Status
from chalicelib.providers import SendResult
from chalicelib.sqs_errors import MAX_DELAY_S
from chalicelib.storage.dynamo import iso
from chalicelib.storage.records import AttemptRecord, RequestSnapshot
from chalicelib.storage.tables import WORK_SHARDS, Tables

MAX_STORED_ANSWER = 4096  # characters of a provider's answer kept in sms_responses


def work_shard(request_id: str) -> str:
    return f"work#{zlib.crc32(request_id.encode()) % WORK_SHARDS}"


def stored_answer(answer: Any) -> str | None:
    """A provider's answer as bounded JSON text: whatever it holds, DynamoDB takes it."""
    if answer is None:
        return None
    try:
        text = json.dumps(answer, allow_nan=False, separators=(",", ":"), default=str)
    except (ValueError, TypeError, RecursionError):  # NaN, a key that is not a string, absurd nesting
        text = repr(answer)[:MAX_STORED_ANSWER]
    return text[:MAX_STORED_ANSWER]


class RequestStore:
    def __init__(self, tables: Tables, clock: Callable[[], float], *, sweep_after_s: int, retention_s: int):
        self._requests = tables.requests
        self._responses = tables.responses
        self._clock = clock
        self._sweep_after_s = sweep_after_s
        self._retention_s = retention_s

    def _purge_at(self, now: float) -> datetime:
        return datetime.fromtimestamp(int(now) + self._retention_s, UTC)

    def create(self, request_id: str, *, client: str, phone: str, text: str, encoding: str, segments: int,
               ttl_s: int, idempotency_key: str | None = None, reference: str | None = None,
               callback_url: str | None = None, sender: str | None = None, validity_s: int | None = None,
               send_at: float | None = None, queued_by_sweeper: bool = False) -> RequestSnapshot:
        """A pending request. Its time to live counts from ``send_at`` when it has one, and the sweeper's first
        look (``due_at``) is SWEEP_AFTER_S after that. A request too far ahead for the queue's longest delay
        (``queued_by_sweeper``) is queued by the sweeper instead, so its first look is when it is due there:

            accepted ... send_at - 15 min (due_at: the sweeper queues it, delayed) ... send_at ... expires_at
                                                                                         ttl_s ^
        """
        now = self._clock()
        starts = max(now, send_at or now)
        if queued_by_sweeper and send_at is not None:
            due_at = math.ceil(send_at) - MAX_DELAY_S
        else:
            due_at = int(starts) + self._sweep_after_s
        item = self._requests(
            request_id,
            client=client,
            phone=phone,
            text=text,
            encoding=encoding,
            segments=segments,
            status=Status.PENDING,
            attempts=0,
            retries=0,
            idempotency_key=idempotency_key,
            reference=reference,
            callback_url=callback_url,
            sender=sender,
            validity_s=validity_s,
            send_at=iso(send_at) if send_at is not None else None,
            created_at=iso(now),
            updated_at=iso(now),
            expires_at=int(starts) + ttl_s,
            work_shard=work_shard(request_id),
            due_at=due_at,
            purge_at=self._purge_at(starts),  # RETENTION_DAYS after it could first be sent, not before
        )
        try:
            # attribute_not_exists(id): a request id is never reused, even by a retried API call.
            item.save(condition=self._requests.id.does_not_exist())
        except ConditionFailed:
            raise DependencyUnavailable(f"request id {request_id} is taken; try again") from None
        return RequestSnapshot.of(item)

    def forget_unqueued(self, request_id: str) -> bool:
        """Undo ``create`` when the payload could not be queued. False when the request could not be
        removed: it stays pending and the sweeper will queue it."""
        try:
            self._requests(request_id).delete(condition=self._requests.status == Status.PENDING)
        except (ConditionFailed, DependencyUnavailable):
            return False
        return True

    def mark_callback_pending(self, request_id: str, status: str) -> None:
        """The callback of ``status`` could not be queued: due for the sweeper now, which publishes it again."""
        model = self._requests
        model(request_id).update(
            actions=[model.callback_pending.set(status), model.due_at.set(int(self._clock())),
                     model.work_shard.set(work_shard(request_id))],
            condition=model.status.is_in(*TERMINAL))  # finished (it may have moved on: sent -> delivered)

    def get(self, request_id: str, *, client: str | None = None) -> RequestSnapshot | None:
        """The request, or None when there is none (or, with ``client``, when it is another client's: to
        that client the two cases look the same)."""
        try:
            request = RequestSnapshot.of(self._requests.get(request_id, consistent_read=True))
        except DoesNotExist:
            return None
        return request if client is None or request.client == client else None

    def attempts_of(self, request_id: str) -> list[AttemptRecord]:
        """Every attempt's record, first attempt first."""
        return [AttemptRecord.of(item) for item in self._responses.query(request_id, consistent_read=True)]

    def attempt_record(self, request_id: str, attempt: int) -> AttemptRecord | None:
        """The record of one attempt, or None when none was written."""
        try:
            return AttemptRecord.of(self._responses.get(request_id, attempt, consistent_read=True))
        except DoesNotExist:
            return None

    def record_attempt(self, request_id: str, attempt: int, result: SendResult) -> None:
        """One sms_responses item per attempt, written before the status changes."""
        now = self._clock()
        record = self._responses(
            request_id,
            attempt,
            id=f"{request_id}-{attempt}",
            provider=result.provider,
            outcome=str(result.outcome),
            message_id=result.message_id,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            error=result.error,
            response_data=stored_answer(result.response_data),
            created_at=iso(now),
            purge_at=self._purge_at(now),
        )
        record.save()  # an abandoned attempt resent to the same provider overwrites its own record
