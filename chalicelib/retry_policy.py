"""How long to wait before trying again, and when to stop: one rule for dispatch retries and callback retries.

The wait before retry ``n`` (the wait after failed attempt ``n``) doubles from ``base_s`` and never passes
``cap_s`` (SQS's ``DelaySeconds`` ceiling, 900 s, by default): ``min(cap_s, base_s x 2^(n-1))``.

    dispatch    RetryPolicy(base_s=1, max_retries=5)             waits 1, 2, 4, 8, 16 s; fails after retry 5
    callbacks   RetryPolicy(base_s=30, retry_for_s=86_400)       waits 30, 60, ... 900 s; gives up once a try
                                                                 failed 24 h or more after the first one

A policy stops on whichever of its limits is set (``max_retries``, ``retry_for_s``), on the first one reached.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.sqs_errors import MAX_DELAY_S


@dataclass(frozen=True)
class RetryPolicy:
    base_s: int
    cap_s: int = MAX_DELAY_S
    max_retries: int | None = None  # no retry past this many
    retry_for_s: float | None = None  # no retry once a try failed this long after the first one

    def delay_for(self, retry: int) -> int:
        """The wait before retry ``retry`` (1-based), i.e. after failed attempt ``retry``:
        base x 2^(retry-1), capped at ``cap_s``."""
        return min(self.cap_s, self.base_s * 2 ** min(retry - 1, 30))

    def gives_up(self, retry: int, first_try_at: float = 0.0, now: float = 0.0) -> bool:
        """True when retry ``retry`` must not happen: past ``max_retries``, or ``retry_for_s`` has passed
        between the first try and ``now``."""
        if self.max_retries is not None and retry > self.max_retries:
            return True
        return self.retry_for_s is not None and now - first_try_at >= self.retry_for_s

    def schedule(self) -> list[int]:
        """When each attempt starts, in s after the first, if every one fails at once (docs, tests)."""
        if self.max_retries is None and self.retry_for_s is None:
            raise ValueError("a policy without a limit retries for ever")
        at, retry, times = 0, 1, [0]
        while not self.gives_up(retry, 0, at):
            at += self.delay_for(retry)
            retry += 1
            times.append(at)
        return times
