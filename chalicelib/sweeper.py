"""The sweeper: nothing stays pending, processing or retrying forever, and no text is kept for longer
than TEXT_RETENTION_DAYS after its request finished.

Every request with work left carries ``due_at`` (sparse index ``due_work``). When it passes and the
request is still open, whatever should have moved it on (an SQS message, a dispatcher) was lost: the
sweeper ends it (past its TTL) or queues it again; the claim makes a duplicate message harmless. When it
passes and the request has finished, its text is removed and it leaves the index. A finished request
whose status callback could not be queued (``callback_pending``) is due at once: the sweeper queues
the callback again (same event id) before the text's last visit.

A request scheduled more than 15 minutes ahead (send_at) was only stored: its ``due_at`` is send_at - 15 min,
and the sweeper queues it then, delayed until send_at. That is its first message, not a stuck one; its
deadline moves to send_at + SWEEP_AFTER_S, and it cannot expire before send_at + its time to live.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.callbacks import CallbackPublisher
from chalicelib.dispatch_queue import MAX_DELAY_S, DispatchQueue, delay_until, message_for
from chalicelib.lifecycle import TERMINAL
from chalicelib.logs import logger
from chalicelib.storage.claims import SweeperMoves
from chalicelib.storage.queries import RequestQueries


@dataclass(frozen=True)
class SweepReport:
    requeued: int = 0
    scheduled: int = 0  # requests queued for their send_at (their first message, not a lost one)
    expired: int = 0
    skipped: int = 0
    texts_removed: int = 0
    callbacks_queued: int = 0


class Sweeper:
    def __init__(self, *, queries: RequestQueries, claims: SweeperMoves, queue: DispatchQueue,
                 clock: Callable[[], float], callbacks: CallbackPublisher | None = None):
        self._queries = queries
        self._claims = claims
        self._queue = queue
        self._clock = clock
        self._callbacks = callbacks

    def sweep(self, limit: int = 500) -> SweepReport:
        now = self._clock()
        requeued = scheduled = expired = skipped = texts_removed = callbacks_queued = 0
        for request in self._queries.overdue(now, limit=limit):
            wait_s = delay_until(request.not_before, now)
            if request.status in TERMINAL and request.callback_pending and self._callbacks is not None:
                if self._callbacks.publish_again(request):
                    callbacks_queued += self._claims.callback_published(request.id, request.due_at)
                else:  # marked pending again (due now) for the next sweep; if even that failed, in 15 min
                    self._claims.push_due(request.id, request.due_at)
            elif request.status in TERMINAL:
                texts_removed += self._claims.remove_text(request.id, request.due_at)
            elif request.holds_live_claim(request.attempts, now):
                skipped += 1  # a live dispatcher holds it
            elif now >= request.expires_at:
                ended = self._claims.expire_request(request.id)
                if ended is not None:
                    expired += 1
                    if self._callbacks is not None:
                        self._callbacks.status_changed(ended)
            elif self._claims.push_due(request.id, request.due_at, after_s=wait_s):
                # Delayed until its send_at (15 min at most: a later one is found due again then).
                self._queue.send(message_for(request), delay_s=min(wait_s, MAX_DELAY_S))
                if wait_s:
                    scheduled += 1
                else:
                    requeued += 1
            else:
                skipped += 1  # someone moved it on while we looked
        report = SweepReport(requeued, scheduled, expired, skipped, texts_removed, callbacks_queued)
        if requeued or scheduled or expired or texts_removed or callbacks_queued:
            logger.info("sweep", extra=report.__dict__)
        return report
