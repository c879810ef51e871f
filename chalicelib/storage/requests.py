"""sms_requests and sms_responses: create a request, read it, and keep one record per attempt."""

from __future__ import annotations

import zlib
from collections.abc import Callable

from pynamodb.exceptions import DoesNotExist

from chalicelib.errors import ConditionFailed, DependencyUnavailable
from chalicelib.lifecycle import Status
from chalicelib.providers import SendResult
from chalicelib.storage.dynamo import dynamo_errors, iso
from chalicelib.storage.records import AttemptRecord, RequestSnapshot
from chalicelib.storage.tables import OPEN_SHARDS, Tables


def open_shard(request_id: str) -> str:
    return f"open#{zlib.crc32(request_id.encode()) % OPEN_SHARDS}"


class RequestStore:
    def __init__(self, tables: Tables, clock: Callable[[], float], *, sweep_after_s: int):
        self._requests = tables.requests
        self._responses = tables.responses
        self._clock = clock
        self._sweep_after_s = sweep_after_s

    def create(self, request_id: str, *, phone: str, text: str, encoding: str, segments: int, ttl_s: int,
               idempotency_key: str | None = None) -> RequestSnapshot:
        now = self._clock()
        item = self._requests(
            request_id,
            phone=phone,
            text=text,
            encoding=encoding,
            segments=segments,
            status=Status.PENDING,
            attempts=0,
            retries=0,
            idempotency_key=idempotency_key,
            created_at=iso(now),
            created_day=iso(now)[:10],
            updated_at=iso(now),
            expires_at=int(now) + ttl_s,
            open_shard=open_shard(request_id),
            due_at=int(now) + self._sweep_after_s,
        )
        try:
            with dynamo_errors():
                # attribute_not_exists(id): a request id is never reused, even by a retried API call.
                item.save(condition=self._requests.id.does_not_exist())
        except ConditionFailed:
            raise DependencyUnavailable(f"request id {request_id} is taken; try again") from None
        return RequestSnapshot.of(item)

    def forget_unqueued(self, request_id: str) -> bool:
        """Undo ``create`` when the payload could not be queued. False when the request could not be
        removed: it stays pending and the sweeper will queue it."""
        try:
            with dynamo_errors():
                self._requests(request_id).delete(condition=self._requests.status == Status.PENDING)
        except (ConditionFailed, DependencyUnavailable):
            return False
        return True

    def get(self, request_id: str) -> RequestSnapshot | None:
        with dynamo_errors():
            try:
                return RequestSnapshot.of(self._requests.get(request_id, consistent_read=True))
            except DoesNotExist:
                return None

    def attempts_of(self, request_id: str) -> list[AttemptRecord]:
        """Every attempt's record, first attempt first."""
        with dynamo_errors():
            return [AttemptRecord.of(item) for item in self._responses.query(request_id, consistent_read=True)]

    def record_attempt(self, request_id: str, attempt: int, result: SendResult) -> None:
        """One sms_responses item per attempt, written before the status changes."""
        record = self._responses(
            request_id,
            attempt,
            id=f"{request_id}-{attempt}",
            provider=result.provider,
            outcome=str(result.outcome),
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            error=result.error,
            response_data=result.response_data,
            created_at=iso(self._clock()),
        )
        with dynamo_errors():
            record.save()  # an abandoned attempt resent to the same provider overwrites its own record
