"""The booking primitive on its own: book the earliest time a paced limit has room for one more event.

A provider's sends are booked by the router (book_send.lua); any other limit of the same shape (a client's,
a tenant's: `limit` events in any `window_ms`, at least `spacing_ms` apart) books through ``SlotBook`` on a
schedule key of its own, with the same Lua functions (lua/booking.lua). The guarantee is the same: no
window of `window_ms` ever holds more than `limit` bookings, whatever the number of concurrent bookers.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from chalicelib.redis_scripts import redis_errors, register


@dataclass(frozen=True)
class SlotBooking:
    booked: bool
    # Booked: from now to the booked time (>= 0). Otherwise: until a booking within the horizon is possible.
    wait_ms: float
    slot: str | None = field(default=None, compare=False)  # booked: the member, to give it back


class SlotBook:
    """Bookings on schedules named by the caller (keep each under a hash tag of the caller's own)."""

    def __init__(self, redis_client, clock: Callable[[], int] | None = None):
        self._redis = redis_client
        self._clock = clock  # epoch ms; None = the Redis server's TIME
        self._script = register(redis_client, "book_slot", "booking")
        self._token_prefix = uuid.uuid4().hex[:12]
        self._token_counter = itertools.count()

    def book(self, key: str, *, limit: int, window_ms: int, spacing_ms: float = 0, not_before_ms: int = 0,
             horizon_ms: int = 0) -> SlotBooking:
        """The earliest time from `not_before_ms` on, within `horizon_ms` of it, with room in every window."""
        if limit < 1 or window_ms < 1:
            raise ValueError("a limit needs limit >= 1 and window_ms >= 1")
        token = f"{self._token_prefix}{next(self._token_counter)}"
        args = ["" if self._clock is None else self._clock(), token, limit, window_ms, spacing_ms,
                max(0, not_before_ms), max(0, horizon_ms)]
        with redis_errors(self._redis):
            booked, wait_us, _now_ms = self._script(keys=[key], args=args)
        return SlotBooking(booked == 1, int(wait_us) / 1000, token if booked == 1 else None)

    def give_back(self, key: str, booking: SlotBooking) -> None:
        if booking.slot is None:
            raise ValueError("only a booking that holds a time can give it back")
        with redis_errors(self._redis):
            self._redis.zrem(key, booking.slot)
