"""Idempotency keys: the first call with a key owns it; later calls with the same key find its request."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.exceptions import DoesNotExist

from chalicelib.errors import ConditionFailed, GatewayError
from chalicelib.storage.dynamo import iso
from chalicelib.storage.tables import Tables


def fingerprint(*parts: str) -> str:
    """A digest of several strings that cannot collide by moving text from one part to the next."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Reservation:
    """This call owns the key: it goes on to create ``request_id``."""

    key: str
    request_id: str


@dataclass(frozen=True)
class KeyTaken:
    """Another call owns the key: what it reserved, and when."""

    key: str
    body_hash: str
    request_id: str
    created_at: str
    reserved_at: float


class IdempotencyKeys:
    def __init__(self, tables: Tables, clock: Callable[[], float], *, ttl_s: int):
        self._model = tables.idempotency
        self._clock = clock
        self._ttl_s = ttl_s

    def reserve(self, key: str, body_hash: str, request_id: str) -> Reservation | KeyTaken:
        now = self._clock()
        # A TTLAttribute takes an aware datetime (stored as epoch seconds), not a number.
        record = self._model(key, body_hash=body_hash, request_id=request_id, created_at=iso(now), reserved_at=now,
                             expires_at=datetime.fromtimestamp(int(now) + self._ttl_s, UTC))
        try:
            # Owned by nobody, or by a record past its TTL that DynamoDB has not deleted yet.
            record.save(condition=self._model.key.does_not_exist()
                        | (self._model.expires_at < datetime.fromtimestamp(int(now), UTC)))
            return Reservation(key, request_id)
        except ConditionFailed:
            pass
        try:
            existing = self._model.get(key, consistent_read=True)
        except DoesNotExist:  # expired and deleted in between: take it again
            return self.reserve(key, body_hash, request_id)
        return KeyTaken(key, existing.body_hash, existing.request_id, existing.created_at,
                        float(existing.reserved_at or 0))

    def take_over(self, taken: KeyTaken, request_id: str) -> Reservation | None:
        """Own a key whose first call died before storing its request; None when another call took it first."""
        model = self._model
        now = self._clock()
        try:
            model(taken.key).update(
                actions=[model.request_id.set(request_id), model.created_at.set(iso(now)),
                         model.reserved_at.set(now)],
                # still the reservation we found dead: no other call took it over meanwhile
                condition=(model.request_id == taken.request_id) & (model.created_at == taken.created_at),
            )
        except ConditionFailed:
            return None
        return Reservation(taken.key, request_id)

    def release(self, reservation: Reservation) -> None:
        """Give the key back (the request behind it was never accepted); else it expires by itself."""
        with suppress(GatewayError):
            self._model(reservation.key).delete()
