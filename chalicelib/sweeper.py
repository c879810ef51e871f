"""The sweeper: nothing stays pending, processing or retrying forever.

Every open request carries ``due_at`` (sparse index ``open_by_due``): when it passes and the
request is still open, whatever should have moved it on (an SQS message, a dispatcher) was
lost. The sweeper then either ends it (past its TTL) or queues it again; the claim makes a
duplicate message harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.dispatch_queue import DispatchQueue, message_for
from chalicelib.logs import logger
from chalicelib.request_store import RequestStore


@dataclass(frozen=True)
class SweepReport:
    requeued: int = 0
    expired: int = 0
    skipped: int = 0


class Sweeper:
    def __init__(self, store: RequestStore, queue: DispatchQueue, clock: Callable[[], float]):
        self._store = store
        self._queue = queue
        self._clock = clock

    def sweep(self, limit: int = 500) -> SweepReport:
        now = self._clock()
        requeued = expired = skipped = 0
        for item in self._store.overdue(now, limit=limit):
            if item.status == "processing" and (item.lease_until or 0) > now:
                skipped += 1  # a live dispatcher holds it
            elif now >= item.expires_at:
                expired += self._store.expire(item.id)
            elif self._store.push_due(item.id, int(item.due_at)):
                self._queue.send(message_for(item))
                requeued += 1
            else:
                skipped += 1  # someone moved it on while we looked
        report = SweepReport(requeued, expired, skipped)
        if requeued or expired:
            logger.info("sweep", extra=report.__dict__)
        return report
