"""The dispatcher: one SQS record in, one provider decision, at most one send per attempt.

Per record (``dispatch_message``):
  0. invocation ending?  -> back on the queue at once, untouched (no send may outlive the Lambda)
  1. expired?            -> failed (expired)
  2. pick a provider     -> Redis, one atomic step (health, exclusions, weighted round-robin, rate slot)
     none free          -> short wait (never longer than SLOT_WAIT_MAX_MS), else back to SQS with a delay
  3. claim the attempt   -> DynamoDB conditional update: nobody sends attempt n without holding it
  4. send                -> provider adapter
  5. record              -> outcomes.py: the attempt record, the provider's health, the request's new status
A record whose dependencies fail raises RetryableError; the batch adapter (sqs_batch) reports it in
``batchItemFailures`` so that only that record comes back.
"""

from __future__ import annotations

import functools
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping

from chalicelib.dispatch_queue import DispatchMessage, DispatchQueue, message_for
from chalicelib.errors import ClaimConflict
from chalicelib.lifecycle import CLAIMABLE, Status
from chalicelib.logs import log_context, logger
from chalicelib.outcomes import OutcomeRecorder
from chalicelib.providers import Provider
from chalicelib.router import Decision, Router
from chalicelib.sqs_batch import process_batch
from chalicelib.storage.claims import ClaimLedger
from chalicelib.storage.records import Claim

SEND_MARGIN_S = 1.0


class Dispatcher:
    def __init__(self, *, router: Router, claims: ClaimLedger, queue: DispatchQueue,
                 providers: Mapping[str, Provider], outcomes: OutcomeRecorder, slot_wait_max_ms: int,
                 rate_guard_ms: int,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self._router = router
        self._claims = claims
        self._queue = queue
        self._providers = providers
        self._outcomes = outcomes
        self._slot_wait_max_s = slot_wait_max_ms / 1000
        # Half the rate window's guard for slot -> claim; the other half covers the send's own way there.
        self._slot_fresh_s = rate_guard_ms / 2000
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        # The time a record needs before its send may start: the slowest provider's whole-call deadline, the
        # longest wait for a slot, and a second for the claim before and the records after the send.
        self._time_needed_s = (max(p.timeout_s for p in providers.values()) + self._slot_wait_max_s
                               + SEND_MARGIN_S) if providers else 0.0

    def dispatch_batch(self, records: Iterable[tuple[str, str]], *, time_left_s: float | None = None) -> dict:
        """records: (messageId, body); time_left_s: what the invocation has left (Lambda's context), if known.
        Returns Lambda's partial-batch response."""
        ends_at = None if time_left_s is None else self._monotonic() + time_left_s
        return process_batch(records, functools.partial(self._dispatch_record, ends_at=ends_at))

    def _dispatch_record(self, sqs_message_id: str, body: str, ends_at: float | None = None) -> None:
        message = DispatchMessage.from_body(body)
        with log_context(request_id=message.id, sqs_message_id=sqs_message_id, attempt=message.attempt):
            self.dispatch_message(message, ends_at=ends_at)

    def dispatch_message(self, message: DispatchMessage, ends_at: float | None = None) -> None:
        if ends_at is not None and ends_at - self._monotonic() < self._time_needed_s:
            # A send cut off by the end of the invocation would leave its outcome unrecorded (and, after the
            # claim's lease, be sent again): the record goes back for an invocation with time to spare.
            self._queue.send(message, delay_s=0)
            logger.info("too little time left in this invocation; requeued", extra={"request_id": message.id})
            return
        if message.expires_at and self._clock() >= message.expires_at:
            if self._claims.expire(message.id):
                logger.info("request expired", extra={"request_id": message.id})
            return
        decision = self._choose(message)
        decided_at = self._monotonic()
        if decision.provider is None:
            self._wait_in_queue(message, decision)
            return
        try:
            claim = self._claims.claim(message.id, message.attempt, decision.provider)
        except ClaimConflict as conflict:
            claim = self._resolve_conflict(message, conflict)
            if claim is not None:
                self._send_and_record(message, claim)  # the takeover has just taken its own slot
            return
        if self._monotonic() - decided_at > self._slot_fresh_s and not self._refresh_slot(message, claim, decision):
            return
        self._send_and_record(message, claim)

    def _refresh_slot(self, message: DispatchMessage, claim: Claim, decision: Decision) -> bool:
        """The provider counts on arrival: a slot taken well before the send (a slow claim) could land in
        the provider's next window and show limit + 1 there. Trade it for a slot taken now, or give the
        claim back and wait in the queue (not a retry)."""
        fresh = self._router.refresh_slot(decision)
        if fresh.provider is None:
            fresh = self._choose(message, only=claim.provider)
        if fresh.provider is not None:
            return True
        self._claims.release(claim)
        self._wait_in_queue(message, fresh)
        return False

    def _choose(self, message: DispatchMessage, only: str | None = None) -> Decision:
        """A provider with a free slot; waits in this thread (not the batch) for a slot freeing soon."""
        deadline = self._monotonic() + self._slot_wait_max_s
        excluded = tuple(dict.fromkeys((*message.excluded, *message.avoid)))
        while True:
            decision = self._router.pick_provider(excluded=excluded, last_failed=message.last_failed, only=only)
            if decision.provider or decision.reason != "rate_limited":
                return decision
            # A little jitter so that the threads waiting for the same slot do not all ask at once.
            wait_s = decision.retry_after_ms / 1000 + random.uniform(0, 0.005)  # noqa: S311
            if self._monotonic() + wait_s > deadline:
                return decision
            self._sleep(wait_s)

    def _wait_in_queue(self, message: DispatchMessage, decision: Decision) -> None:
        """No capacity now: back to SQS for later. Not a retry and not a failure."""
        delay_s = max(1, math.ceil(decision.retry_after_ms / 1000))
        if message.expires_at:
            delay_s = min(delay_s, max(1, math.ceil(message.expires_at - self._clock())))
        self._queue.send(message, delay_s=delay_s)

    def _resolve_conflict(self, message: DispatchMessage, conflict: ClaimConflict) -> Claim | None:
        request = conflict.snapshot
        if request is None or request.attempts != message.attempt:
            return None  # unknown, or a stale duplicate of an earlier attempt
        if request.status is Status.PROCESSING:
            # The holder died between claim and record (its lease passed). Resend the SAME attempt to
            # the SAME provider: the Idempotency-Key "{id}-{attempt}" makes the provider answer the
            # first send's result instead of sending twice.
            decision = self._choose(message, only=request.provider_used)
            if decision.provider is None:
                self._wait_in_queue(message, decision)
                return None
            return self._claims.reclaim_abandoned(message.id, message.attempt, request.provider_used,
                                                  request.lease_until)
        if request.status in CLAIMABLE:
            # This attempt ended but the message for the next one may not have been queued (a crash
            # between the status update and the send): queue it again. A duplicate is harmless, the
            # claim lets only one of them through.
            self._queue.send(message_for(request), delay_s=0)
        return None  # finished

    def _send_and_record(self, message: DispatchMessage, claim: Claim) -> None:
        provider = self._providers[claim.provider]
        result = provider.send(phone=claim.phone, text=claim.text, request_id=claim.request_id, attempt=claim.attempt)
        self._outcomes.record(message, claim, result)
