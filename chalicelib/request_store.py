"""The request store: every state change of a request is a conditional write.

Lifecycle (DESIGN.md):  pending -> processing -> sent
                                   processing -> retrying -> processing -> ...
                                   processing -> pending   (provider throttled: not a retry)
                                   any open    -> failed   (refused, retries exhausted, expired)

``attempts`` counts claims. Claiming attempt n is the send-once guard: only one dispatcher
can move ``attempts`` from n-1 to n, and nobody sends attempt n without holding it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, PynamoDBException

from chalicelib.errors import ClaimBusy, ClaimConflict, DependencyUnavailable, ValidationFailed
from chalicelib.models import (
    OPEN_SHARDS,
    IdempotencyModel,
    ProviderHealthModel,
    SmsRequestModel,
    SmsResponseModel,
)
from chalicelib.providers import SendResult

CONDITION_FAILED = "ConditionalCheckFailedException"


def iso(ts: float) -> str:
    """Fixed-width UTC ISO-8601 with milliseconds: sorts as text, which the indexes rely on."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def _open_shard(request_id: str) -> str:
    return f"open#{zlib.crc32(request_id.encode()) % OPEN_SHARDS}"


def _condition_failed(exc: PynamoDBException) -> bool:
    return exc.cause_response_code == CONDITION_FAILED


def _unavailable(exc: Exception) -> DependencyUnavailable:
    return DependencyUnavailable(f"DynamoDB unavailable: {type(exc).__name__}")


@dataclass(frozen=True)
class Claim:
    """What a dispatcher holds after a successful claim: enough to send."""

    request_id: str
    attempt: int
    provider: str
    phone: str
    text: str
    retries: int
    excluded: tuple[str, ...]


class RequestStore:
    def __init__(self, clock: Callable[[], float], *, lease_s: int = 120, sweep_after_s: int = 900):
        self._clock = clock
        self._lease_s = lease_s
        self._sweep_after_s = sweep_after_s

    # ---------------------------------------------------------------- intake

    def create(
        self,
        request_id: str,
        *,
        phone: str,
        text: str,
        encoding: str,
        segments: int,
        ttl_s: int,
        idempotency_key: str | None = None,
    ) -> SmsRequestModel:
        now = self._clock()
        item = SmsRequestModel(
            request_id,
            phone=phone,
            text=text,
            encoding=encoding,
            segments=segments,
            status="pending",
            attempts=0,
            retries=0,
            idempotency_key=idempotency_key,
            created_at=iso(now),
            created_day=iso(now)[:10],
            updated_at=iso(now),
            expires_at=int(now) + ttl_s,
            open_shard=_open_shard(request_id),
            due_at=int(now) + self._sweep_after_s,
        )
        try:
            # attribute_not_exists(id): a request id is never reused, even by a retried API call.
            item.save(condition=SmsRequestModel.id.does_not_exist())
        except PynamoDBException as exc:
            raise _unavailable(exc) from None
        return item

    def forget_unqueued(self, request_id: str) -> bool:
        """Undo ``create`` when the payload could not be queued. False when the request could not be
        removed: it stays pending and the sweeper will queue it."""
        try:
            SmsRequestModel(request_id).delete(condition=SmsRequestModel.status == "pending")
        except PynamoDBException:
            return False
        return True

    def reserve_idempotency_key(
        self, key: str, body_hash: str, request_id: str, ttl_s: int
    ) -> tuple[bool, IdempotencyModel]:
        """(True, record) when this call owns the key; (False, existing record) when another does."""
        now = self._clock()
        # A TTLAttribute takes an aware datetime (stored as epoch seconds), not a number.
        record = IdempotencyModel(
            key, body_hash=body_hash, request_id=request_id, created_at=iso(now),
            expires_at=datetime.fromtimestamp(int(now) + ttl_s, UTC),
        )
        try:
            # Owned by nobody, or by a record past its TTL that DynamoDB has not deleted yet.
            record.save(
                condition=IdempotencyModel.key.does_not_exist()
                | (IdempotencyModel.expires_at < datetime.fromtimestamp(int(now), UTC))
            )
            return True, record
        except PynamoDBException as exc:
            if not _condition_failed(exc):
                raise _unavailable(exc) from None
        try:
            return False, IdempotencyModel.get(key, consistent_read=True)
        except DoesNotExist:  # expired and deleted in between: take it again
            return self.reserve_idempotency_key(key, body_hash, request_id, ttl_s)
        except PynamoDBException as exc:
            raise _unavailable(exc) from None

    def release_idempotency_key(self, key: str) -> None:
        with contextlib.suppress(PynamoDBException):  # else it expires by itself within 24 h
            IdempotencyModel(key).delete()

    # ---------------------------------------------------------------- reads

    def get(self, request_id: str) -> SmsRequestModel | None:
        try:
            return SmsRequestModel.get(request_id, consistent_read=True)
        except DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise _unavailable(exc) from None

    def attempts_of(self, request_id: str) -> list[SmsResponseModel]:
        try:
            return list(SmsResponseModel.query(request_id, consistent_read=True))
        except PynamoDBException as exc:
            raise _unavailable(exc) from None

    def list_requests(
        self,
        *,
        status: str | None,
        provider: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[SmsRequestModel], str | None]:
        """Newest first, served by an index (never a scan); the cursor is opaque to clients."""
        position = _decode_cursor(cursor)
        low = iso(since.timestamp()) if since else None
        high = iso(until.timestamp()) if until else None
        if status or provider:
            index = SmsRequestModel.by_status if status else SmsRequestModel.by_provider
            partitions = [status or provider]
        else:
            # by_day: one partition per UTC day, walked from the newest day down.
            newest = until or datetime.fromtimestamp(self._clock(), UTC)
            oldest = since or newest - timedelta(days=30)
            days = (newest.date() - oldest.date()).days
            partitions = [(newest.date() - timedelta(days=d)).isoformat() for d in range(days + 1)]
            index = SmsRequestModel.by_day
        if position:
            partitions = partitions[partitions.index(position["p"]) :] if position["p"] in partitions else []
        condition = _range_condition(SmsRequestModel.created_at, low, high)
        filters = None
        if status and provider:
            filters = SmsRequestModel.provider_used == provider
        items: list[SmsRequestModel] = []
        next_cursor = None
        try:
            for partition in partitions:
                start_key = position["k"] if position and position["p"] == partition else None
                position = None
                results = index.query(
                    partition,
                    range_key_condition=condition,
                    filter_condition=filters,
                    scan_index_forward=False,
                    limit=limit - len(items),
                    last_evaluated_key=start_key,
                )
                items.extend(results)
                if len(items) >= limit:
                    if results.last_evaluated_key:
                        next_cursor = _encode_cursor(partition, results.last_evaluated_key)
                    elif partition != partitions[-1]:
                        following = partitions[partitions.index(partition) + 1]
                        next_cursor = _encode_cursor(following, None)
                    break
        except PynamoDBException as exc:
            raise _unavailable(exc) from None
        return items, next_cursor

    def overdue(self, now: float, limit: int = 100) -> Iterator[SmsRequestModel]:
        """Open requests whose ``due_at`` has passed: the sweeper's work list."""
        try:
            for shard in range(OPEN_SHARDS):
                yield from SmsRequestModel.open_by_due.query(
                    f"open#{shard}", range_key_condition=SmsRequestModel.due_at <= int(now), limit=limit
                )
        except PynamoDBException as exc:
            raise _unavailable(exc) from None

    # ---------------------------------------------------------------- dispatch

    def claim(self, request_id: str, attempt: int, provider: str) -> Claim:
        """Take attempt ``attempt`` of a request for ``provider``, or raise why not.

        Raises ClaimBusy (another live dispatcher holds it: try later) or ClaimConflict
        (nothing to do for this message: done, or a stale duplicate). ``ClaimConflict.item``
        carries the item so the dispatcher can tell an abandoned claim from a finished one.
        """
        now = self._clock()
        lease_until = int(now) + self._lease_s
        item = SmsRequestModel(request_id)
        condition = (
            # the request is waiting for a send ...
            SmsRequestModel.status.is_in("pending", "retrying")
            # ... and this is the next send, not a duplicate of an earlier one
            & (SmsRequestModel.attempts == attempt - 1)
        )
        try:
            item.update(
                actions=[
                    SmsRequestModel.status.set("processing"),
                    SmsRequestModel.attempts.set(attempt),
                    SmsRequestModel.provider_used.set(provider),
                    SmsRequestModel.lease_until.set(lease_until),
                    SmsRequestModel.due_at.set(lease_until),
                    SmsRequestModel.updated_at.set(iso(now)),
                ],
                condition=condition,
            )
        except PynamoDBException as exc:
            if not _condition_failed(exc):
                raise _unavailable(exc) from None
            raise self._why_not_claimed(request_id, attempt, now) from None
        return _claim_of(item, attempt, provider)

    def release_claim(self, request_id: str, attempt: int, *, status: str) -> None:
        """Give back an attempt that was claimed but never sent: as if the claim had not happened."""
        try:
            SmsRequestModel(request_id).update(
                actions=[
                    SmsRequestModel.status.set(status),
                    SmsRequestModel.attempts.set(attempt - 1),
                    SmsRequestModel.lease_until.remove(),
                    SmsRequestModel.due_at.set(int(self._clock()) + self._sweep_after_s),
                    SmsRequestModel.updated_at.set(iso(self._clock())),
                ],
                # still this dispatcher's claim
                condition=(SmsRequestModel.status == "processing") & (SmsRequestModel.attempts == attempt),
            )
        except PynamoDBException as exc:
            if not _condition_failed(exc):
                raise _unavailable(exc) from None
            raise ClaimConflict(f"attempt {attempt} is no longer held") from None

    def reclaim_abandoned(self, request_id: str, attempt: int, provider: str, seen_lease: int) -> Claim:
        """Take over a claim whose holder died (lease passed): resend the same attempt, same provider."""
        now = self._clock()
        lease_until = int(now) + self._lease_s
        item = SmsRequestModel(request_id)
        try:
            item.update(
                actions=[
                    SmsRequestModel.lease_until.set(lease_until),
                    SmsRequestModel.due_at.set(lease_until),
                    SmsRequestModel.updated_at.set(iso(now)),
                ],
                # still the same abandoned claim: nobody reclaimed it first
                condition=(SmsRequestModel.status == "processing")
                & (SmsRequestModel.attempts == attempt)
                & (SmsRequestModel.lease_until == seen_lease),
            )
        except PynamoDBException as exc:
            if not _condition_failed(exc):
                raise _unavailable(exc) from None
            raise ClaimBusy("another dispatcher took over this attempt first") from None
        return _claim_of(item, attempt, provider)

    def _why_not_claimed(self, request_id: str, attempt: int, now: float) -> Exception:
        item = self.get(request_id)
        if item is None:
            return ClaimConflict("unknown request")
        if item.status == "processing" and item.attempts == attempt and (item.lease_until or 0) > now:
            return ClaimBusy("another dispatcher holds this attempt")
        conflict = ClaimConflict(f"request is {item.status} at attempt {item.attempts}")
        conflict.item = item
        return conflict

    def record_attempt(self, request_id: str, attempt: int, result: SendResult) -> None:
        """One sms_responses item per attempt, written before the status changes."""
        now = self._clock()
        record = SmsResponseModel(
            request_id,
            attempt,
            id=f"{request_id}-{attempt}",
            provider=result.provider,
            outcome=str(result.outcome),
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            error=result.error,
            response_data=result.response_data,
            created_at=iso(now),
        )
        try:
            record.save()  # an abandoned attempt resent to the same provider overwrites its own record
        except PynamoDBException as exc:
            raise _unavailable(exc) from None

    def mark_sent(self, request_id: str, attempt: int, message_id: str | None) -> None:
        self._finish_attempt(
            request_id,
            attempt,
            [
                SmsRequestModel.status.set("sent"),
                SmsRequestModel.provider_message_id.set(message_id),
                SmsRequestModel.last_error.remove(),
                SmsRequestModel.next_attempt_at.remove(),
            ],
            terminal=True,
        )

    def mark_failed(self, request_id: str, attempt: int, reason: str, error: str | None) -> None:
        self._finish_attempt(
            request_id,
            attempt,
            [
                SmsRequestModel.status.set("failed"),
                SmsRequestModel.failure_reason.set(reason),
                SmsRequestModel.last_error.set(error or reason),
                SmsRequestModel.next_attempt_at.remove(),
            ],
            terminal=True,
        )

    def mark_retrying(
        self, request_id: str, attempt: int, *, retries: int, excluded: tuple[str, ...], delay_s: int, error: str
    ) -> None:
        next_at = self._clock() + delay_s
        self._finish_attempt(
            request_id,
            attempt,
            [
                SmsRequestModel.status.set("retrying"),
                SmsRequestModel.retries.set(retries),
                SmsRequestModel.excluded.set(list(excluded)),
                SmsRequestModel.last_error.set(error),
                SmsRequestModel.next_attempt_at.set(iso(next_at)),
                SmsRequestModel.due_at.set(int(next_at) + self._sweep_after_s),
            ],
        )

    def mark_requeued(self, request_id: str, attempt: int, error: str) -> None:
        """A provider throttled the attempt: back to the queue, not counted as a retry."""
        self._finish_attempt(
            request_id,
            attempt,
            [
                SmsRequestModel.status.set("pending"),
                SmsRequestModel.last_error.set(error),
                SmsRequestModel.due_at.set(int(self._clock()) + self._sweep_after_s),
            ],
        )

    def _finish_attempt(self, request_id: str, attempt: int, actions: list, terminal: bool = False) -> None:
        now = self._clock()
        actions = [*actions, SmsRequestModel.updated_at.set(iso(now)), SmsRequestModel.lease_until.remove()]
        if terminal:
            # Leaving the sparse sweeper index: a finished request is never looked at again.
            actions += [SmsRequestModel.open_shard.remove(), SmsRequestModel.due_at.remove()]
        try:
            # Only the holder of this attempt's claim may move the request on.
            SmsRequestModel(request_id).update(
                actions=actions,
                condition=(SmsRequestModel.status == "processing") & (SmsRequestModel.attempts == attempt),
            )
        except PynamoDBException as exc:
            if not _condition_failed(exc):
                raise _unavailable(exc) from None
            raise ClaimConflict(f"attempt {attempt} is no longer held") from None

    def expire(self, request_id: str, reason: str = "expired") -> bool:
        """End a request that waited past its TTL without being sent. False when it is not open."""
        now = self._clock()
        try:
            SmsRequestModel(request_id).update(
                actions=[
                    SmsRequestModel.status.set("failed"),
                    SmsRequestModel.failure_reason.set(reason),
                    SmsRequestModel.last_error.set(f"not sent within its time to live ({reason})"),
                    SmsRequestModel.updated_at.set(iso(now)),
                    SmsRequestModel.open_shard.remove(),
                    SmsRequestModel.due_at.remove(),
                    SmsRequestModel.next_attempt_at.remove(),
                ],
                # waiting, or held by a dispatcher that died (lease passed); never a live claim
                condition=SmsRequestModel.status.is_in("pending", "retrying")
                | ((SmsRequestModel.status == "processing") & (SmsRequestModel.lease_until < int(now))),
            )
        except PynamoDBException as exc:
            if not _condition_failed(exc):
                raise _unavailable(exc) from None
            return False
        return True

    def push_due(self, request_id: str, seen_due: int) -> bool:
        """Move the sweeper's deadline on; False when another sweeper (or a dispatcher) moved it first."""
        now = self._clock()
        try:
            SmsRequestModel(request_id).update(
                actions=[SmsRequestModel.due_at.set(int(now) + self._sweep_after_s)],
                condition=SmsRequestModel.due_at == seen_due,
            )
        except PynamoDBException as exc:
            if not _condition_failed(exc):
                raise _unavailable(exc) from None
            return False
        return True

    # ---------------------------------------------------------------- provider health

    def save_provider_health(self, states: list[Any], transition: bool = False) -> None:
        """Upsert each provider's snapshot; ``last_transition_at`` moves only on a transition."""
        now = iso(self._clock())
        try:
            for state in states:
                model = ProviderHealthModel
                until = iso(state.unhealthy_until_ms / 1000) if state.unhealthy_until_ms else None
                actions = [
                    model.success_count.set(state.successes),
                    model.failure_count.set(state.failures),
                    model.failure_rate.set(round(state.failure_rate, 4)),
                    model.is_healthy.set("true" if state.healthy else "false"),
                    model.unhealthy_until.set(until) if until else model.unhealthy_until.remove(),
                    model.last_checked.set(now),
                ]
                if transition:
                    actions.append(model.last_transition_at.set(now))
                model(state.name).update(actions=actions)
        except PynamoDBException as exc:
            raise _unavailable(exc) from None


def _claim_of(item: SmsRequestModel, attempt: int, provider: str) -> Claim:
    return Claim(
        request_id=item.id,
        attempt=attempt,
        provider=provider,
        phone=item.phone,
        text=item.text,
        retries=int(item.retries or 0),
        excluded=tuple(item.excluded or ()),
    )


def _range_condition(attribute, low: str | None, high: str | None):
    if low and high:
        return attribute.between(low, high)
    if low:
        return attribute >= low
    if high:
        return attribute <= high
    return None


def _encode_cursor(partition: str, key: dict | None) -> str:
    raw = json.dumps({"p": partition, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> dict | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
        if not isinstance(position, dict) or not isinstance(position.get("p"), str):
            raise ValueError("not a cursor")
        if position.get("k") is not None and not isinstance(position["k"], dict):
            raise ValueError("not a cursor")
        return position
    except ValueError:
        raise ValidationFailed("cursor is not one this API returned", field="cursor", code="invalid_cursor") from None


def body_fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
