"""The dispatcher: one SQS record in, one booked send time, at most one send per attempt.

Per record (``dispatch_message``):
  0. invocation ending?  -> a copy back on the queue at once (no send may outlive the Lambda)
  1. expired?            -> failed (expired)
     before its send_at?  -> back on the queue, delayed until then (a redrive, a sweeper's copy): never early
  2. book a send         -> Redis, one atomic step (health, exclusions, weighted round-robin, the provider's
                            earliest free send time, paced), no earlier than this process's claim usually takes
     nothing to book     -> the message waits on the queue (its visibility extended), not a retry
                            (dispatch_waits.py: how a message waits on the queue)
  3. claim the attempt   -> DynamoDB conditional update: nobody sends attempt n without holding it
  4. wait                -> until the booked time; a provider that tripped meanwhile gets nothing
  5. send                -> provider adapter
  6. record              -> outcomes.py: the attempt record, the provider's health and pace, the request's new status
A booking that cannot be used is given back. A record whose dependencies fail raises RetryableError; the
batch adapter (sqs_batch) reports it in ``batchItemFailures`` so that only that record comes back.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from chalicelib.dispatch_queue import DispatchMessage, DispatchQueue, delay_until, message_for
from chalicelib.dispatch_waits import QueueWait
from chalicelib.errors import ClaimConflict, RetryableError
from chalicelib.lifecycle import CLAIMABLE, Status
from chalicelib.logs import log_context, logger
from chalicelib.outcomes import OutcomeRecorder
from chalicelib.providers import OutgoingSms, Provider
from chalicelib.router import Booking, Router
from chalicelib.sqs_batch import QueueRecord, process_batch
from chalicelib.storage.claims import AttemptClaims
from chalicelib.storage.records import Claim

# Time a record needs beyond its provider's timeout and the longest booked wait: the claim before the send
# and the records after it.
SEND_MARGIN_S = 1.0
# A booking older than this at its send time is checked against the provider's health first (one GET), so
# that nothing decided before a trip reaches the provider much after it.
HEALTH_RECHECK_AFTER_S = 0.25


class ClaimLead:
    """How long this process's claims take (the 90th percentile of the last 50, a fifth more): a booking
    starts no earlier, so that the booked time has not passed when the claim is done."""

    def __init__(self, samples: int = 50):
        self._samples: deque[float] = deque(maxlen=samples)
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        with self._lock:
            self._samples.append(seconds)

    def ms(self) -> int:
        with self._lock:
            ordered = sorted(self._samples)
        return round(ordered[int(len(ordered) * 0.9)] * 1200) if ordered else 0


class Dispatcher:
    def __init__(self, *, router: Router, claims: AttemptClaims, queue: DispatchQueue,
                 providers: Mapping[str, Provider], outcomes: OutcomeRecorder, booking_horizon_ms: int,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self._router = router
        self._claims = claims
        self._queue = queue
        self._providers = providers
        self._outcomes = outcomes
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._claim_lead = ClaimLead()
        self._waits = QueueWait(queue, clock)
        # What a record needs before its send may start: the slowest provider's whole-call deadline, the
        # longest booked wait, and the claim and records around the send.
        self._time_needed_s = (max(p.timeout_s for p in providers.values()) + booking_horizon_ms / 1000
                               + SEND_MARGIN_S) if providers else 0.0

    def dispatch_batch(self, records: Iterable[QueueRecord], *, time_left_s: float | None = None) -> dict:
        """time_left_s: what the invocation has left (Lambda's context), if known. Returns Lambda's
        partial-batch response."""
        ends_at = None if time_left_s is None else self._monotonic() + time_left_s
        return process_batch(records, functools.partial(self._dispatch_record, ends_at=ends_at))

    def _dispatch_record(self, record: QueueRecord, ends_at: float | None = None) -> bool:
        message = DispatchMessage.from_body(record.body)
        with log_context(request_id=message.id, sqs_message_id=record.message_id, attempt=message.attempt):
            return self.dispatch_message(message, record, ends_at=ends_at)

    def dispatch_message(self, message: DispatchMessage, record: QueueRecord | None = None,
                         ends_at: float | None = None) -> bool:
        """True when the record is done; False when it waits on the queue (reported as a batch item failure)."""
        if ends_at is not None and ends_at - self._monotonic() < self._time_needed_s:
            # A send cut off by the end of the invocation would leave its outcome unrecorded (and, after the
            # claim's lease, be sent again): a copy goes back for an invocation with time to spare.
            self._queue.send(message, delay_s=0)
            logger.info("too little time left in this invocation; requeued", extra={"request_id": message.id})
            return True
        if message.expires_at and self._clock() >= message.expires_at:
            if self._outcomes.expire(message.id):
                logger.info("request expired", extra={"request_id": message.id})
            return True
        if delay_until(message.not_before, self._clock()):
            return self._waits.until_send_at(message, message.not_before)
        excluded = tuple(dict.fromkeys((*message.excluded, *message.avoid)))
        booking, send_at = self._book(excluded=excluded, last_failed=message.last_failed,
                                      not_before_ms=self._claim_lead.ms(), refused_by=message.refused_by)
        if booking.provider is None:
            return self._waits.for_booking(message, record, booking.wait_ms)
        claim_started = self._monotonic()
        try:
            claim = self._claims.claim(message.id, message.attempt, booking.provider)
        except ClaimConflict as conflict:
            self._give_back(booking)
            return self._resolve_conflict(message, record, conflict)
        except Exception:
            self._give_back(booking)
            raise
        self._claim_lead.observe(self._monotonic() - claim_started)
        if delay_until(claim.not_before, self._clock()):
            # The stored send_at is later than the message knew (a message from before it carried one): the claim
            # and the booking go back unused.
            self._give_back(booking)
            self._claims.release(claim)
            return self._waits.until_send_at(message, claim.not_before)
        return self._send_when_booked(message, record, claim, booking, send_at)

    def _book(self, **choice) -> tuple[Booking, float]:
        """A booking, and its send time on this process's monotonic clock."""
        booking = self._router.book(**choice)
        return booking, self._monotonic() + booking.wait_ms / 1000

    def _send_when_booked(self, message: DispatchMessage, record: QueueRecord | None, claim: Claim,
                          booking: Booking, send_at: float) -> bool:
        self._sleep(max(0.0, send_at - self._monotonic()))
        booked_at = send_at - booking.wait_ms / 1000
        if self._monotonic() - booked_at > HEALTH_RECHECK_AFTER_S and not self._router.is_healthy(claim.provider):
            # Tripped while this send waited for its time: nothing is sent; the message goes round again.
            self._give_back(booking)
            self._claims.release(claim)
            return self._waits.for_booking(message, record, 0)
        # A booking is used at its time or given back: sending much later (a claim slower than its lead, a
        # busy process) would spread arrivals wider than the guard allows for. Book again, for the provider
        # claimed (checked last, just before the send, so that nothing delays the send after it).
        if (self._monotonic() - send_at) * 1000 > max(1.0, booking.guard_ms / 2):
            self._give_back(booking)
            booking, send_at = self._book(only=claim.provider)
            if booking.provider is None:
                self._claims.release(claim)
                return self._waits.for_booking(message, record, booking.wait_ms)
            self._sleep(max(0.0, send_at - self._monotonic()))
        started = self._monotonic()
        provider = self._providers[claim.provider]
        result = provider.send(OutgoingSms(claim.phone, claim.text, claim.request_id, claim.attempt,
                                           sender=claim.sender, validity_s=self._validity_left(claim)))
        # When the send arrived relative to its booked time, at the latest: how late it left plus its round trip
        # (the provider counted it somewhere in between; nothing to time when it never got an answer).
        offset_ms = None if result.status_code is None else (started - send_at) * 1000 + result.latency_ms
        self._outcomes.record(message, claim, result, arrival_offset_ms=offset_ms)
        return True

    def _validity_left(self, claim: Claim) -> int | None:
        """What is left of the client's time to live, for the provider: it counts from send_at (or acceptance),
        not from this attempt. None when the client gave none (the provider's configured default applies)."""
        if claim.validity_s is None:
            return None
        return max(1, int(claim.expires_at - self._clock()))

    def _give_back(self, booking: Booking) -> None:
        try:
            self._router.give_back(booking)
        except RetryableError:  # Redis went away: one send time stays unused, nothing worse
            logger.warning("booking not given back", extra={"provider": booking.provider})

    def _resolve_conflict(self, message: DispatchMessage, record: QueueRecord | None,
                          conflict: ClaimConflict) -> bool:
        request = conflict.snapshot
        if request is None or request.attempts != message.attempt:
            return True  # unknown, or a stale duplicate of an earlier attempt
        if request.status is Status.PROCESSING:
            # The holder died (its lease passed). If the provider's answer was recorded, only the status write
            # was lost: finish from the record, never a second send. Else resend the SAME attempt to the SAME
            # provider: the Idempotency-Key "{id}-{attempt}" makes an http-json provider answer the first
            # send's result instead of sending twice (vendors without one: docs/reliability.md).
            if self._outcomes.finish_recorded(message, request):
                return True
            booking, send_at = self._book(only=request.provider_used, not_before_ms=self._claim_lead.ms())
            if booking.provider is None:
                return self._waits.for_booking(message, record, booking.wait_ms)
            try:
                claim = self._claims.reclaim_abandoned(message.id, message.attempt, request.provider_used,
                                                       request.lease_until)
            except Exception:
                self._give_back(booking)
                raise
            return self._send_when_booked(message, record, claim, booking, send_at)
        if request.status in CLAIMABLE:
            # This attempt ended but the message for the next one may not have been queued (a crash
            # between the status update and the send): queue it again. A duplicate is harmless, the
            # claim lets only one of them through.
            self._queue.send(message_for(request), delay_s=0)
        return True  # finished
