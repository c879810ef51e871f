"""Reading many requests: a client's filtered list (by index, never a scan) and the sweeper's work list.

A list call reads at most MAX_EVALUATED items, however sparse its filters: a page may then hold fewer
items than asked for, with a ``next_cursor`` to go on from where the reading stopped. The cursor is the
index position, signed (HMAC-SHA256) together with the client and the filters it belongs to, so a cursor
cannot be forged, edited, or used by another client or with other filters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from chalicelib.errors import ValidationFailed
from chalicelib.lifecycle import Status
from chalicelib.storage.dynamo import iso
from chalicelib.storage.records import RequestSnapshot
from chalicelib.storage.tables import WORK_SHARDS, Tables

MAX_EVALUATED = 1000  # items one list call may read from the index before it answers with a cursor
SIGNATURE_BYTES = 16
# What a cursor looks like (the OpenAPI document carries it): URL-safe base64 of the position and its
# signature. Only one this API signed for the same client and filters is accepted.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{24,2048}$"


@dataclass(frozen=True)
class ListFilter:
    """What a client asked to see; a cursor is only good for the same client and filter."""

    client: str
    status: Status | None = None
    provider: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    reference: str | None = None

    def digest(self) -> str:
        parts = [self.client, self.status or "", self.provider or "",
                 self.since.isoformat() if self.since else "", self.until.isoformat() if self.until else ""]
        if self.reference is not None:  # only then: cursors of the other filters stay what they were
            parts.append("reference=" + self.reference)
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class RequestQueries:
    def __init__(self, tables: Tables, clock: Callable[[], float]):
        self._model = tables.requests
        self._clock = clock

    def list_requests(self, wanted: ListFilter, *, limit: int, cursor: str | None, cursor_key: bytes,
                      ) -> tuple[list[RequestSnapshot], str | None]:
        """The client's requests, newest first, through ``by_client``. since after until lists nothing: no
        request falls in an empty range."""
        model = self._model
        if wanted.since and wanted.until and wanted.since > wanted.until:
            return [], None
        start_key = CursorCodec(cursor_key).decode(cursor, wanted) if cursor else None
        filters = None
        if wanted.status:
            filters = model.status == wanted.status
        if wanted.provider:
            by_provider = model.provider_used == wanted.provider
            filters = by_provider if filters is None else filters & by_provider
        if wanted.reference:
            by_reference = model.reference == wanted.reference
            filters = by_reference if filters is None else filters & by_reference
        results = model.by_client.query(
            wanted.client, range_key_condition=_range_condition(model.created_at, wanted.since, wanted.until),
            # Pages of `limit` items: a dense filter is answered by the first page, a sparse one reads
            # on, page by page, up to MAX_EVALUATED (a bigger page would ship items nobody asked for).
            filter_condition=filters, scan_index_forward=False, last_evaluated_key=start_key,
            page_size=min(limit, MAX_EVALUATED))
        items, next_key = _read_bounded(results.page_iter, limit)
        page = [RequestSnapshot.of(model.from_raw_data(item)) for item in items]
        return page, CursorCodec(cursor_key).encode(next_key, wanted) if next_key else None

    def overdue(self, now: float, limit: int = 100) -> Iterator[RequestSnapshot]:
        """Requests whose ``due_at`` has passed: the sweeper's work list."""
        model = self._model
        for shard in range(WORK_SHARDS):
            for item in model.due_work.query(f"work#{shard}", range_key_condition=model.due_at <= int(now),
                                             limit=limit):
                yield RequestSnapshot.of(item)


def _read_bounded(pages, limit: int) -> tuple[list[dict], dict | None]:
    """Up to ``limit`` items, reading no more than MAX_EVALUATED; and the key to go on from, if any."""
    items: list[dict] = []
    for page in pages:
        for position, item in enumerate(page.get("Items", [])):
            items.append(item)
            if len(items) == limit:
                more_here = position + 1 < len(page["Items"])
                if more_here or page.get("LastEvaluatedKey"):
                    return items, {name: item[name] for name in pages.key_names}
                return items, None
        if not page.get("LastEvaluatedKey"):
            return items, None
        if pages.total_scanned_count >= MAX_EVALUATED:
            return items, page["LastEvaluatedKey"]
    return items, None


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


class CursorCodec:
    """base64url(JSON position + HMAC-SHA256 over it, the client and the filter)."""

    def __init__(self, key: bytes):
        self._key = key

    def _signature(self, payload: bytes, wanted: ListFilter) -> bytes:
        message = payload + b"\x1f" + wanted.digest().encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()[:SIGNATURE_BYTES]

    def encode(self, key: dict, wanted: ListFilter) -> str:
        payload = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(payload + self._signature(payload, wanted)).decode().rstrip("=")

    def decode(self, cursor: str, wanted: ListFilter) -> dict:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except ValueError:
            raise _invalid_cursor() from None
        payload, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
        if len(raw) <= SIGNATURE_BYTES or not hmac.compare_digest(signature, self._signature(payload, wanted)):
            raise _invalid_cursor()
        return json.loads(payload)  # signed by us: the shape is ours


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed("cursor is not one this API returned for this query", field="cursor",
                            code="invalid_cursor")
