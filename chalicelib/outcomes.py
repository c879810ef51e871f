"""After a provider answered: record the attempt, feed the provider's health and pace, and move the request on.

  accepted          -> sent
  refused           -> failed (refused), no retry
  refused here      -> pending, straight back to the queue for a provider that has not refused it (not a retry,
                       no backoff, no health sample); the provider is never chosen for this request again.
                       When every configured provider has refused it here: failed (refused). A provider that
                       failed it (provider failure) is still tried again within the retry budget, so a mix of
                       "refused here" and failures ends sent, or failed (retries exhausted), never refused.
  throttled         -> pending, straight back to the queue for another provider (not a retry); the
                       provider's rate is cut for a while (its count and ours disagree)
  provider failure  -> retrying, DelaySeconds = 2^(retry-1) (retry_policy.py), the provider excluded; after the last
                       retry: failed
  past its TTL      -> failed (expired)  (``expire``: the dispatcher's and the sweeper's)

Every move to ``sent`` or ``failed`` goes through ``_finished``, which hands the request to the callback
publisher: one event per status change, queued after the status write and never failing the send.
"""

from __future__ import annotations

from collections.abc import Collection

from chalicelib.callbacks import CallbackPublisher
from chalicelib.dispatch_queue import DispatchMessage, DispatchQueue
from chalicelib.errors import GatewayError, RetryableError
from chalicelib.lifecycle import FailureReason
from chalicelib.logs import logger
from chalicelib.provider_health import HealthChange
from chalicelib.providers import Outcome, SendResult
from chalicelib.retry_policy import RetryPolicy
from chalicelib.router import Router
from chalicelib.storage.claims import ClaimLedger
from chalicelib.storage.health_snapshots import HealthSnapshots
from chalicelib.storage.records import Claim, RequestSnapshot
from chalicelib.storage.requests import RequestStore


def exclusions_for_retry(excluded: tuple[str, ...], failed: str) -> tuple[str, ...]:
    """The providers a retry must skip: every one that failed this request, in order, once."""
    return (*[name for name in excluded if name != failed], failed)


class OutcomeRecorder:
    def __init__(self, *, router: Router, requests: RequestStore, claims: ClaimLedger,
                 health_snapshots: HealthSnapshots, queue: DispatchQueue, provider_names: Collection[str],
                 retry_policy: RetryPolicy, callbacks: CallbackPublisher | None = None):
        self._router = router
        self._requests = requests
        self._claims = claims
        self._health_snapshots = health_snapshots
        self._queue = queue
        self._provider_names = frozenset(provider_names)
        self._retry = retry_policy
        self._callbacks = callbacks

    def record(self, message: DispatchMessage, claim: Claim, result: SendResult,
               arrival_offset_ms: float | None = None) -> None:
        """`arrival_offset_ms`: how far after its booked time the send is estimated to have arrived."""
        # The attempt record first: it must exist even if what follows fails.
        self._requests.record_attempt(claim.request_id, claim.attempt, result)
        self._record_answer(result, arrival_offset_ms)
        self._move_on(message, claim, result)

    def finish_recorded(self, message: DispatchMessage, request: RequestSnapshot) -> bool:
        """A claim whose holder died after the provider answered and the answer was recorded, but before the
        request's status moved on: finish from the record (no second send). False when no answer of this
        attempt was recorded (the holder died before or during the send)."""
        recorded = self._requests.attempt_record(request.id, message.attempt)
        if recorded is None or recorded.provider != request.provider_used:
            return False
        result = SendResult(recorded.provider, Outcome(recorded.outcome), recorded.status_code,
                            recorded.latency_ms or 0, recorded.message_id, recorded.error)
        claim = Claim(request.id, message.attempt, recorded.provider, request.phone, request.text or "",
                      request.retries, request.excluded, refused_by=request.refused_by, request=request)
        logger.warning("finishing an abandoned attempt from its record",
                       extra={"request_id": request.id, "attempt": message.attempt, "outcome": recorded.outcome})
        self._move_on(message, claim, result)
        return True

    def expire(self, request_id: str) -> bool:
        """End a request past its time to live (``failed``, ``expired``); False when it was not open."""
        request = self._claims.expire_request(request_id)
        if request is None:
            return False
        self._finished(request)
        return True

    def _finished(self, request: RequestSnapshot | None) -> None:
        """The request is now ``sent`` or ``failed``: its callback, if it has one (never raises)."""
        if self._callbacks is not None and request is not None:
            self._callbacks.status_changed(request)

    def _record_answer(self, result: SendResult, arrival_offset_ms: float | None) -> None:
        success = result.outcome is Outcome.ACCEPTED if result.outcome.counts_for_health else None
        try:
            change = self._router.record_outcome(result.provider, success,
                                                 throttled=result.outcome is Outcome.THROTTLED,
                                                 arrival_offset_ms=arrival_offset_ms)
        except RetryableError:
            # Redis went away after the send: losing one health sample beats failing a sent message.
            logger.warning("health outcome not recorded", extra={"provider": result.provider})
            return
        if change is not None:
            self._note_health_change(change)

    def _move_on(self, message: DispatchMessage, claim: Claim, result: SendResult) -> None:
        log = {"request_id": claim.request_id, "attempt": claim.attempt, "provider": claim.provider,
               "outcome": str(result.outcome), "status_code": result.status_code, "latency_ms": result.latency_ms}
        if result.outcome is Outcome.ACCEPTED:
            self._finished(self._claims.mark_sent(claim.request_id, claim.attempt, result.message_id))
            logger.info("sms sent", extra=log)
        elif result.outcome is Outcome.REFUSED:
            self._finished(self._claims.mark_failed(claim.request_id, claim.attempt, FailureReason.REFUSED,
                                                    result.error))
            logger.info("sms refused by provider", extra=log)
        elif result.outcome is Outcome.REFUSED_HERE:
            self._refused_here(message, claim, result, log)
        elif result.outcome is Outcome.THROTTLED:
            self._requeue_throttled(message, claim, result)
            logger.info("provider throttled, requeued", extra=log)
        elif self._retry.gives_up(claim.retries + 1):
            self._finished(self._claims.mark_failed(claim.request_id, claim.attempt, FailureReason.RETRIES_EXHAUSTED,
                                                    result.error))
            logger.warning("sms failed, retries exhausted", extra=log)
        else:
            retry = self._requeue_with_backoff(message, claim, result)
            logger.info("provider failed, retry scheduled", extra={**log, "retry": retry})

    def _refused_here(self, message: DispatchMessage, claim: Claim, result: SendResult, log: dict) -> None:
        """This provider's account will not send it: on at once to one that has not refused it (not a retry:
        each provider refuses a request once at most, so this ends); refused when none is left."""
        refused_by = tuple(dict.fromkeys((*claim.refused_by, *message.refused_by, claim.provider)))
        error = result.error or "refused by this provider"
        if set(refused_by) >= self._provider_names:
            self._finished(self._claims.mark_failed(claim.request_id, claim.attempt, FailureReason.REFUSED,
                                                    f"{error} (refused by every provider)"))
            logger.info("sms refused by every provider", extra={**log, "refused_by": list(refused_by)})
            return
        self._claims.mark_refused_here(claim.request_id, claim.attempt, refused_by=refused_by, error=error)
        self._queue.send(message.next_attempt(refused_by=refused_by), delay_s=0)
        logger.info("refused by this provider, on to another", extra={**log, "refused_by": list(refused_by)})

    def _requeue_throttled(self, message: DispatchMessage, claim: Claim, result: SendResult) -> None:
        """Straight on to a provider that has not throttled it (not a retry); once every one has (or refused it
        here), wait a second rather than go round them in a tight loop."""
        self._claims.mark_requeued(claim.request_id, claim.attempt, result.error or "throttled")
        avoid = tuple(dict.fromkeys((*message.avoid, claim.provider)))
        delay_s = 0
        if set(avoid) | set(claim.refused_by) >= self._provider_names:
            avoid, delay_s = (claim.provider,), 1
        self._queue.send(message.next_attempt(avoid=avoid), delay_s=delay_s)

    def _requeue_with_backoff(self, message: DispatchMessage, claim: Claim, result: SendResult) -> int:
        retries = claim.retries + 1
        excluded = exclusions_for_retry(claim.excluded, claim.provider)
        delay_s = self._retry.delay_for(retries)
        self._claims.mark_retrying(claim.request_id, claim.attempt, retries=retries, excluded=excluded,
                                   delay_s=delay_s, error=result.error or "provider failure")
        self._queue.send(message.next_attempt(retries=retries, excluded=excluded, last_failed=claim.provider),
                         delay_s=delay_s)
        return retries

    def _note_health_change(self, change: HealthChange) -> None:
        logger.warning("provider health changed", extra={
            "provider": change.provider, "healthy": change.healthy, "failures": change.failures,
            "successes": change.successes})
        try:
            self._health_snapshots.save(
                [state for state in self._router.provider_states() if state.name == change.provider], transition=True)
        except GatewayError:
            logger.warning("provider health snapshot not saved", extra={"provider": change.provider})
