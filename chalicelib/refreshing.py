"""A value read from outside (a secret) and kept for at most ``max_age_s``, so a change is picked up
without a redeploy while a busy Lambda does not read it on every request.

A source that is down is asked again only after a back-off, never once per request (each look can cost
the whole AWS call budget; see aws_deadline.py). With max_age_s=60:

    t=0    read: ok                          serve it until t=60
    t=60   read: DependencyUnavailable       keep serving the last good value; next look at t=61
    t=61   read fails again                  next look at t=63, then t=67, t=75 ... never more than 60 s apart
    t=90   read: ok                          serve the new value until t=150; the back-off starts afresh

A source that answers for good that it cannot be used (a malformed document, a deleted or access-denied
secret: ConfigurationError) refuses service from that look on, and is looked at again max_age_s later.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from chalicelib.errors import ConfigurationError, DependencyUnavailable
from chalicelib.logs import logger

T = TypeVar("T")
FIRST_BACKOFF_S = 1.0  # after the first failed look; doubled after each further one, up to max_age_s


class Refreshing(Generic[T]):
    def __init__(self, load: Callable[[], T], *, max_age_s: float, clock: Callable[[], float] | None = None):
        self._load = load
        self._max_age_s = max_age_s
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._value: T | None = None
        self._refused: ConfigurationError | None = None
        self._unavailable: DependencyUnavailable | None = None  # the last failed look, while nothing else serves
        self._failures = 0  # failed looks in a row
        self._next_look_at = float("-inf")

    def get(self) -> T:
        with self._lock:
            if self._clock() >= self._next_look_at:
                self._reload()
            if self._refused is not None:
                raise self._refused
            if self._value is None:
                retry_after_s = max(1, math.ceil(self._next_look_at - self._clock()))
                raise DependencyUnavailable(self._unavailable.message, retry_after_s=retry_after_s)
            return self._value

    def _reload(self) -> None:
        try:
            value = self._load()
        except DependencyUnavailable as exc:
            # The source is down, not wrong: the last good value (or the refusal) stands until it answers.
            self._failures += 1
            backoff_s = min(self._max_age_s, FIRST_BACKOFF_S * 2 ** (self._failures - 1))
            self._next_look_at = self._clock() + backoff_s
            self._unavailable = exc
            logger.warning("source unavailable: asked again after a back-off",
                           extra={"problem": exc.message, "backoff_s": backoff_s,
                                  "serving": "last good value" if self._value is not None else "nothing"})
            return
        except ConfigurationError as exc:
            # Malformed, deleted or not ours to read: refuse service (for max_age_s, then look again) rather
            # than keep serving what the operator has just replaced or removed, or serve part of it.
            self._value, self._refused = None, exc
        else:
            self._value, self._refused = value, None
        self._failures, self._unavailable = 0, None
        self._next_look_at = self._clock() + self._max_age_s
