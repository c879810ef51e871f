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
from chalicelib.storage.claims import ClaimLedger
from chalicelib.storage.queries import RequestQueries


@dataclass(frozen=True)
class SweepReport:
    requeued: int = 0
    expired: int = 0
    skipped: int = 0


class Sweeper:
    def __init__(self, *, queries: RequestQueries, claims: ClaimLedger, queue: DispatchQueue,
                 clock: Callable[[], float]):
        self._queries = queries
        self._claims = claims
        self._queue = queue
        self._clock = clock

    def sweep(self, limit: int = 500) -> SweepReport:
        now = self._clock()
        requeued = expired = skipped = 0
        for request in self._queries.overdue(now, limit=limit):
            if request.holds_live_claim(request.attempts, now):
                skipped += 1  # a live dispatcher holds it
            elif now >= request.expires_at:
                expired += self._claims.expire(request.id)
            elif self._claims.push_due(request.id, request.due_at):
                self._queue.send(message_for(request))
                requeued += 1
            else:
                skipped += 1  # someone moved it on while we looked
        report = SweepReport(requeued, expired, skipped)
        if requeued or expired:
            logger.info("sweep", extra=report.__dict__)
        return report
