"""The dispatcher: one SQS record in, one provider decision, at most one send per attempt.

Per record (``dispatch_message``):
  1. expired?            -> failed (expired)
  2. pick a provider     -> Redis, one atomic step (health, exclusions, weighted round-robin, rate slot)
     none free          -> short wait (never longer than SLOT_WAIT_MAX_MS), else back to SQS with a delay
  3. claim the attempt   -> DynamoDB conditional update: nobody sends attempt n without holding it
  4. send                -> provider adapter
  5. record              -> Redis health outcome, sms_responses item, then the request's new status
  6. provider failure    -> retry n+1 on SQS with DelaySeconds = 2^n, the provider excluded
A record whose dependencies fail raises RetryableError; the batch adapter reports it in
``batchItemFailures`` so that only that record comes back.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from chalicelib.dispatch_queue import MAX_DELAY_S, DispatchMessage, DispatchQueue, message_for
from chalicelib.errors import ClaimConflict, GatewayError, PermanentError, RetryableError
from chalicelib.logs import log_context, logger
from chalicelib.providers import Outcome, Provider, SendResult
from chalicelib.request_store import Claim, RequestStore
from chalicelib.router import Decision, Router


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    base_delay_s: int = 1

    def delay_for(self, retry: int) -> int:
        """Retry 1, 2, 3, 4, 5 waits 1, 2, 4, 8, 16 s: 2^(retry-1), capped at SQS's 900 s."""
        return min(MAX_DELAY_S, self.base_delay_s * 2 ** (retry - 1))


def exclusions_for_retry(excluded: tuple[str, ...], failed: str) -> tuple[str, ...]:
    """The providers a retry must skip: every one that failed this request, in order, once."""
    return (*[name for name in excluded if name != failed], failed)


class Dispatcher:
    def __init__(
        self,
        *,
        router: Router,
        store: RequestStore,
        queue: DispatchQueue,
        providers: Mapping[str, Provider],
        retry_policy: RetryPolicy,
        slot_wait_max_ms: int = 1500,
        rate_guard_ms: int = 25,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._router = router
        self._store = store
        self._queue = queue
        self._providers = providers
        self._retry = retry_policy
        self._slot_wait_max_s = slot_wait_max_ms / 1000
        # Half the rate window's guard for slot -> claim; the other half covers the send's own way there.
        self._slot_fresh_s = rate_guard_ms / 2000
        self._clock = clock
        self._sleep = sleep

    # ------------------------------------------------------------ batch adapter

    def dispatch_batch(self, records: Iterable[tuple[str, str]]) -> dict:
        """records: (messageId, body). Returns Lambda's partial-batch response."""
        records = list(records)
        if not records:
            return {"batchItemFailures": []}
        with ThreadPoolExecutor(max_workers=len(records), thread_name_prefix="dispatch") as pool:
            outcomes = list(pool.map(lambda record: self._dispatch_body(*record), records))
        return {"batchItemFailures": [{"itemIdentifier": mid} for mid, ok in outcomes if not ok]}

    def _dispatch_body(self, message_id: str, body: str) -> tuple[str, bool]:
        try:
            message = DispatchMessage.from_body(body)
            with log_context(request_id=message.id, sqs_message_id=message_id, attempt=message.attempt):
                self.dispatch_message(message)
        except RetryableError as exc:
            logger.warning("record comes back later", extra={"sqs_message_id": message_id, "error": exc.message})
            return message_id, False
        except PermanentError as exc:
            # A record that can never be processed (malformed): keeping it would only feed the DLQ.
            logger.error("record dropped", extra={"sqs_message_id": message_id, "error": exc.message})
        except Exception:  # a bug must not lose the record: report it, it comes back (then the DLQ)
            logger.exception("unexpected error", extra={"sqs_message_id": message_id})
            return message_id, False
        return message_id, True

    # ------------------------------------------------------------ one record

    def dispatch_message(self, message: DispatchMessage) -> None:
        if message.expires_at and self._clock() >= message.expires_at:
            if self._store.expire(message.id):
                logger.info("request expired", extra={"request_id": message.id})
            return
        decision = self._choose(message)
        decided_at = time.monotonic()
        if decision.provider is None:
            self._wait_in_queue(message, decision)
            return
        try:
            claim = self._store.claim(message.id, message.attempt, decision.provider)
        except ClaimConflict as conflict:
            claim = self._resolve_conflict(message, conflict)
            if claim is None:
                return
            self._send_and_record(message, claim)  # the takeover has just taken its own slot
            return
        if time.monotonic() - decided_at > self._slot_fresh_s and not self._refresh_slot(message, claim, decision):
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
        self._store.release_claim(claim.request_id, claim.attempt, status="retrying" if claim.retries else "pending")
        self._wait_in_queue(message, fresh)
        return False

    def _choose(self, message: DispatchMessage, only: str | None = None) -> Decision:
        """A provider with a free slot; waits in this thread (not the batch) for a slot freeing soon."""
        deadline = time.monotonic() + self._slot_wait_max_s
        excluded = tuple(dict.fromkeys((*message.excluded, *message.avoid)))
        while True:
            decision = self._router.pick_provider(excluded=excluded, last_failed=message.last_failed, only=only)
            if decision.provider or decision.reason != "rate_limited":
                return decision
            # A little jitter so that the threads waiting for the same slot do not all ask at once.
            wait_s = decision.retry_after_ms / 1000 + random.uniform(0, 0.005)  # noqa: S311
            if time.monotonic() + wait_s > deadline:
                return decision
            self._sleep(wait_s)

    def _wait_in_queue(self, message: DispatchMessage, decision: Decision) -> None:
        """No capacity now: back to SQS for later. Not a retry and not a failure."""
        delay_s = max(1, math.ceil(decision.retry_after_ms / 1000))
        if message.expires_at:
            delay_s = min(delay_s, max(1, math.ceil(message.expires_at - self._clock())))
        self._queue.send(message, delay_s=delay_s)

    def _resolve_conflict(self, message: DispatchMessage, conflict: ClaimConflict) -> Claim | None:
        item = getattr(conflict, "item", None)
        if item is None:
            return None
        if item.status == "processing" and item.attempts == message.attempt:
            # The holder died between claim and record (its lease passed). Resend the SAME attempt to
            # the SAME provider: the Idempotency-Key "{id}-{attempt}" makes the provider answer the
            # first send's result instead of sending twice.
            decision = self._choose(message, only=item.provider_used)
            if decision.provider is None:
                self._wait_in_queue(message, decision)
                return None
            return self._store.reclaim_abandoned(message.id, message.attempt, item.provider_used, item.lease_until)
        if item.status in ("pending", "retrying") and item.attempts == message.attempt:
            # This attempt ended but the message for the next one may not have been queued (a crash
            # between the status update and the send): queue it again. A duplicate is harmless, the
            # claim lets only one of them through.
            self._queue.send(message_for(item), delay_s=0)
        return None  # finished, or a stale duplicate of an earlier attempt

    def _send_and_record(self, message: DispatchMessage, claim: Claim) -> None:
        provider = self._providers[claim.provider]
        result = provider.send(phone=claim.phone, text=claim.text, request_id=claim.request_id, attempt=claim.attempt)
        # The attempt record first: it must exist even if what follows fails.
        self._store.record_attempt(claim.request_id, claim.attempt, result)
        if result.outcome.counts_for_health:
            self._record_health(claim.provider, result.outcome is Outcome.ACCEPTED)
        self._move_on(message, claim, result)

    def _record_health(self, provider: str, success: bool) -> None:
        try:
            change = self._router.record_outcome(provider, success)
        except RetryableError:
            # Redis went away after the send: losing one health sample beats failing a sent message.
            logger.warning("health outcome not recorded", extra={"provider": provider})
            return
        if change is not None:
            self._note_health_change(change)

    def _move_on(self, message: DispatchMessage, claim: Claim, result: SendResult) -> None:
        log = {"request_id": claim.request_id, "attempt": claim.attempt, "provider": claim.provider,
               "outcome": str(result.outcome), "status_code": result.status_code, "latency_ms": result.latency_ms}
        if result.outcome is Outcome.ACCEPTED:
            self._store.mark_sent(claim.request_id, claim.attempt, result.message_id)
            logger.info("sms sent", extra=log)
        elif result.outcome is Outcome.REFUSED:
            self._store.mark_failed(claim.request_id, claim.attempt, "refused", result.error)
            logger.info("sms refused by provider", extra=log)
        elif result.outcome is Outcome.THROTTLED:
            self._store.mark_requeued(claim.request_id, claim.attempt, result.error or "throttled")
            # Straight on to a provider that has not throttled it; once every one has, wait a second
            # rather than go round them in a tight loop.
            avoid = tuple(dict.fromkeys((*message.avoid, claim.provider)))
            delay_s = 0
            if set(avoid) >= set(self._providers):
                avoid, delay_s = (claim.provider,), 1
            self._queue.send(message.next_attempt(avoid=avoid), delay_s=delay_s)
            logger.info("provider throttled, requeued", extra=log)
        else:
            retries = claim.retries + 1
            if retries > self._retry.max_retries:
                self._store.mark_failed(claim.request_id, claim.attempt, "retries_exhausted", result.error)
                logger.warning("sms failed, retries exhausted", extra=log)
                return
            excluded = exclusions_for_retry(claim.excluded, claim.provider)
            delay_s = self._retry.delay_for(retries)
            self._store.mark_retrying(
                claim.request_id, claim.attempt, retries=retries, excluded=excluded, delay_s=delay_s,
                error=result.error or "provider failure",
            )
            self._queue.send(
                message.next_attempt(retries=retries, excluded=excluded, last_failed=claim.provider),
                delay_s=delay_s,
            )
            logger.info("provider failed, retry scheduled", extra={**log, "retry": retries, "delay_s": delay_s})

    def _note_health_change(self, change) -> None:
        logger.warning(
            "provider health changed",
            extra={"provider": change.provider, "healthy": change.healthy, "failures": change.failures,
                   "successes": change.successes},
        )
        try:
            self._store.save_provider_health(
                [state for state in self._router.provider_states() if state.name == change.provider],
                transition=True,
            )
        except GatewayError:
            logger.warning("provider health snapshot not saved", extra={"provider": change.provider})
