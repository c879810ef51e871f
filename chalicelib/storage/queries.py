"""Reading many requests: the API's filtered list (by index, never a scan) and the sweeper's work list."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from chalicelib.errors import ValidationFailed
from chalicelib.lifecycle import Status
from chalicelib.storage.dynamo import dynamo_errors, iso
from chalicelib.storage.records import RequestSnapshot
from chalicelib.storage.tables import OPEN_SHARDS, Tables

DEFAULT_SPAN_DAYS = 30  # a list without `since` walks back this many days


class RequestQueries:
    def __init__(self, tables: Tables, clock: Callable[[], float]):
        self._model = tables.requests
        self._clock = clock

    def list_requests(self, *, status: Status | None, provider: str | None, since: datetime | None,
                      until: datetime | None, limit: int, cursor: str | None,
                      ) -> tuple[list[RequestSnapshot], str | None]:
        """Newest first, served by an index; the cursor is opaque to clients."""
        model = self._model
        position = decode_cursor(cursor)
        if status or provider:
            index = model.by_status if status else model.by_provider
            partitions = [status or provider]
        else:
            # by_day: one partition per UTC day, walked from the newest day down.
            newest = until or datetime.fromtimestamp(self._clock(), UTC)
            oldest = since or newest - timedelta(days=DEFAULT_SPAN_DAYS)
            days = (newest.date() - oldest.date()).days
            partitions = [(newest.date() - timedelta(days=d)).isoformat() for d in range(days + 1)]
            index = model.by_day
        if position:
            partitions = partitions[partitions.index(position["p"]):] if position["p"] in partitions else []
        condition = _range_condition(model.created_at, since, until)
        filters = (model.provider_used == provider) if status and provider else None
        items: list[RequestSnapshot] = []
        next_cursor = None
        with dynamo_errors():
            for number, partition in enumerate(partitions):
                start_key = position["k"] if position and position["p"] == partition else None
                position = None
                results = index.query(partition, range_key_condition=condition, filter_condition=filters,
                                      scan_index_forward=False, limit=limit - len(items),
                                      last_evaluated_key=start_key)
                items.extend(RequestSnapshot.of(item) for item in results)
                if len(items) >= limit:
                    if results.last_evaluated_key:
                        next_cursor = encode_cursor(partition, results.last_evaluated_key)
                    elif number + 1 < len(partitions):
                        next_cursor = encode_cursor(partitions[number + 1], None)
                    break
        return items, next_cursor

    def overdue(self, now: float, limit: int = 100) -> Iterator[RequestSnapshot]:
        """Open requests whose ``due_at`` has passed: the sweeper's work list."""
        model = self._model
        with dynamo_errors():
            for shard in range(OPEN_SHARDS):
                for item in model.open_by_due.query(f"open#{shard}", range_key_condition=model.due_at <= int(now),
                                                    limit=limit):
                    yield RequestSnapshot.of(item)


def _range_condition(attribute, since: datetime | None, until: datetime | None):
    low = iso(since.timestamp()) if since else None
    high = iso(until.timestamp()) if until else None
    if low and high:
        return attribute.between(low, high)
    if low:
        return attribute >= low
    if high:
        return attribute <= high
    return None


def encode_cursor(partition: str, key: dict | None) -> str:
    raw = json.dumps({"p": partition, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict | None:
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
