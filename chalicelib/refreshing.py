"""A value read from outside (a secret) and kept for at most ``max_age_s``, so a change is picked up
without a redeploy while a busy Lambda does not read it on every request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from chalicelib.errors import ConfigurationError, DependencyUnavailable
from chalicelib.logs import logger

T = TypeVar("T")


class Refreshing(Generic[T]):
    def __init__(self, load: Callable[[], T], *, max_age_s: float, clock: Callable[[], float] = time.monotonic):
        self._load = load
        self._max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._refused: ConfigurationError | None = None
        self._loaded_at = float("-inf")

    def get(self) -> T:
        with self._lock:
            if self._clock() - self._loaded_at >= self._max_age_s:
                self._reload()
            if self._refused is not None:
                raise self._refused
            return self._value  # type: ignore[return-value]

    def _reload(self) -> None:
        try:
            value = self._load()
        except DependencyUnavailable:
            # The source is down, not wrong: the last good value serves until it answers again.
            if self._value is None:
                raise
            logger.warning("kept the last good value: its source is unavailable")
            return
        except ConfigurationError as exc:
            # Malformed: refuse service (for max_age_s, then look again) rather than keep serving what
            # the operator has just replaced, or serve part of it.
            self._value, self._refused = None, exc
        else:
            self._value, self._refused = value, None
        self._loaded_at = self._clock()
