"""Reading many requests: the API's filtered list (by index, never a scan) and the sweeper's work list."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.errors import ValidationFailed
from chalicelib.lifecycle import Status
from chalicelib.storage.dynamo import dynamo_errors, iso
from chalicelib.storage.records import RequestSnapshot
from chalicelib.storage.tables import OPEN_SHARDS, Tables

DEFAULT_SPAN_DAYS = 30  # a list without `since` walks back this many days
# One page queries at most this many partitions (days), so a listing over years costs a bounded amount per
# call: a page that used its budget before filling up ends early, with a next_cursor at the next partition.
PARTITIONS_PER_PAGE = DEFAULT_SPAN_DAYS + 1

# A cursor names where a page stopped: the index partition (a day, a status or a provider name), and, when
# the page stopped inside it, the last item's created_at and id: "<partition>" or
# "<partition>~<created_at>~<id>". Its shape is a pattern the OpenAPI document carries, and every string of
# that shape resumes a listing somewhere (a partition the query does not walk lists nothing), so a client
# that sends a well-formed cursor is never refused. Clients still treat it as opaque.
_PARTITION = r"[a-z0-9][a-z0-9_-]{0,31}"  # a YYYY-MM-DD day, a status, or a provider name (settings pattern)
_CREATED_AT = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"  # dynamo.iso()
CURSOR_PATTERN = rf"^{_PARTITION}(~{_CREATED_AT}~[0-9a-f]{{32}})?$"


@dataclass(frozen=True)
class Cursor:
    partition: str
    created_at: str | None = None
    request_id: str | None = None

    def start_key(self, index) -> dict | None:
        """The index's ExclusiveStartKey: the table key, the index's hash key and its range key."""
        if self.created_at is None:
            return None
        return {"id": {"S": self.request_id}, "created_at": {"S": self.created_at},
                index._hash_key_attribute().attr_name: {"S": self.partition}}


class RequestQueries:
    def __init__(self, tables: Tables, clock: Callable[[], float]):
        self._model = tables.requests
        self._clock = clock

    def list_requests(self, *, status: Status | None, provider: str | None, since: datetime | None,
                      until: datetime | None, limit: int, cursor: str | None,
                      ) -> tuple[list[RequestSnapshot], str | None]:
        """Newest first, served by an index; the cursor is opaque to clients. since after until lists
        nothing: no request falls in an empty range."""
        model = self._model
        if since and until and since > until:
            return [], None
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
            partitions = partitions[partitions.index(position.partition):] if position.partition in partitions else []
        condition = _range_condition(model.created_at, since, until)
        filters = (model.provider_used == provider) if status and provider else None
        items: list[RequestSnapshot] = []
        next_cursor = None
        with dynamo_errors():
            for number, partition in enumerate(partitions):
                start_key = position.start_key(index) if position and position.partition == partition else None
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
                if number + 1 == PARTITIONS_PER_PAGE and number + 1 < len(partitions):
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
    """key: the LastEvaluatedKey of the page's last query, or None to start the partition from its top."""
    if key is None:
        return partition
    return f"{partition}~{key['created_at']['S']}~{key['id']['S']}"


def decode_cursor(cursor: str | None) -> Cursor | None:
    if not cursor:
        return None
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise ValidationFailed("cursor is not one this API returned", field="cursor", code="invalid_cursor")
    return Cursor(*cursor.split("~"))
