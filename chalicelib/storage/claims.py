"""The claim ledger: who may send attempt n of a request, and how an attempt ends.

``attempts`` counts claims. Claiming attempt n moves it from n-1 to n, which only one dispatcher can
do: nobody sends attempt n without holding it. Every later write of that attempt is conditional on
still holding it (``_holds``), so a dispatcher that lost its claim can never move the request on.

Every status write's condition starts from ``lifecycle.moving``: the transition table says which statuses a
request may move from, and this module only adds who holds the attempt. Every status write hands back the request
as it left it (a ``RequestSnapshot``; a claim carries its own as ``Claim.request``).

Three parts, over one conditional write (``_RequestWrites``):

    AttemptClaims     taking an attempt: claim, give it back (release), take over an abandoned one (dispatcher)
    AttemptEndings    ending the attempt held: sent, failed, retrying, requeued, refused here (outcomes.py)
    SweeperMoves      moves that need no claim: expire, drop the text, re-queue a callback, push the deadline
    ClaimLedger       all three over the requests table: what wiring builds and the callers hold
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.errors import ClaimBusy, ClaimConflict, ConditionFailed
from chalicelib.lifecycle import CLAIMABLE, TERMINAL, FailureReason, Status, moving
from chalicelib.storage.dynamo import iso
from chalicelib.storage.records import Claim, RequestSnapshot
from chalicelib.storage.requests import RequestStore
from chalicelib.storage.tables import Tables


class _RequestWrites:
    """The one write every part makes: a conditional update of a request, stamped ``updated_at``."""

    def __init__(self, tables: Tables, requests: RequestStore, clock: Callable[[], float], *,
                 lease_s: int, sweep_after_s: int, text_retention_s: int):
        self._model = tables.requests
        self._requests = requests
        self._clock = clock
        self._lease_s = lease_s
        self._sweep_after_s = sweep_after_s
        self._text_retention_s = text_retention_s

    def _holds(self, attempt: int, moving_to: Status | None = None):
        """The condition "the caller still holds attempt n": processing, and nobody claimed n + 1; with
        ``moving_to``, also that the table lets a processing request move there."""
        model = self._model
        status = (moving(model.status, moving_to, among=(Status.PROCESSING,)) if moving_to
                  else model.status == Status.PROCESSING)
        return status & (model.attempts == attempt)

    def _conditional_update(self, request_id: str, actions: list, condition):
        """Apply ``actions`` if ``condition`` holds; the updated item, or ConditionFailed."""
        item = self._model(request_id)
        item.update(actions=[*actions, self._model.updated_at.set(iso(self._clock()))], condition=condition)
        return item

    def _leaving_open(self) -> list:
        # Finished: the sweeper's next (and last) visit removes the text, TEXT_RETENTION_DAYS from now.
        return [self._model.due_at.set(int(self._clock()) + self._text_retention_s)]


class AttemptClaims(_RequestWrites):
    """Taking an attempt: only one dispatcher holds attempt n, under a lease."""

    def claim(self, request_id: str, attempt: int, provider: str) -> Claim:
        """Take attempt ``attempt`` for ``provider``, or raise why not: ClaimBusy (a live dispatcher holds
        it: try later) or ClaimConflict (done, a stale duplicate, or abandoned: see its snapshot)."""
        model = self._model
        lease_until = int(self._clock()) + self._lease_s
        try:
            item = self._conditional_update(
                request_id,
                [model.status.set(Status.PROCESSING), model.attempts.set(attempt), model.provider_used.set(provider),
                 model.lease_until.set(lease_until), model.due_at.set(lease_until)],
                # waiting for a send, and this is the next send, not a duplicate of an earlier one
                moving(model.status, Status.PROCESSING) & (model.attempts == attempt - 1),
            )
        except ConditionFailed:
            raise self._why_not_claimed(request_id, attempt) from None
        return _claim_of(item, attempt, provider)

    def _why_not_claimed(self, request_id: str, attempt: int) -> Exception:
        snapshot = self._requests.get(request_id)
        if snapshot is None:
            return ClaimConflict("unknown request")
        if snapshot.holds_live_claim(attempt, self._clock()):
            return ClaimBusy("another dispatcher holds this attempt")
        return ClaimConflict(f"request is {snapshot.status} at attempt {snapshot.attempts}", snapshot=snapshot)

    def release(self, claim: Claim) -> RequestSnapshot:
        """Give back an attempt that was claimed but never sent: as if the claim had not happened."""
        model = self._model
        # Back to where the claim started: retrying when a provider failed the request before.
        back = Status.RETRYING if claim.retries else Status.PENDING
        try:
            item = self._conditional_update(
                claim.request_id,
                [model.status.set(back), model.attempts.set(claim.attempt - 1), model.lease_until.remove(),
                 model.due_at.set(int(self._clock()) + self._sweep_after_s)],
                self._holds(claim.attempt, moving_to=back),
            )
        except ConditionFailed:
            raise ClaimConflict(f"attempt {claim.attempt} is no longer held") from None
        return RequestSnapshot.of(item)

    def reclaim_abandoned(self, request_id: str, attempt: int, provider: str, seen_lease: int) -> Claim:
        """Take over a claim whose holder died (lease passed): resend the same attempt, same provider."""
        model = self._model
        lease_until = int(self._clock()) + self._lease_s
        try:
            item = self._conditional_update(
                request_id,
                [model.lease_until.set(lease_until), model.due_at.set(lease_until)],
                # still the same abandoned claim: nobody took it over first
                self._holds(attempt) & (model.lease_until == seen_lease),
            )
        except ConditionFailed:
            raise ClaimBusy("another dispatcher took over this attempt first") from None
        return _claim_of(item, attempt, provider)

class AttemptEndings(_RequestWrites):
    """Ending the attempt the caller holds: every write is conditional on still holding it."""

    def mark_sent(self, request_id: str, attempt: int, message_id: str | None) -> RequestSnapshot:
        model = self._model
        return self._finish(request_id, attempt, Status.SENT, [
            model.provider_message_id.set(message_id), model.last_error.remove(), model.next_attempt_at.remove(),
            *self._leaving_open(),
        ])

    def mark_failed(self, request_id: str, attempt: int, reason: FailureReason,
                    error: str | None) -> RequestSnapshot:
        model = self._model
        return self._finish(request_id, attempt, Status.FAILED, [
            model.failure_reason.set(reason),
            model.last_error.set(error or reason), model.next_attempt_at.remove(), *self._leaving_open(),
        ])

    def mark_retrying(self, request_id: str, attempt: int, *, retries: int, excluded: tuple[str, ...],
                      delay_s: int, error: str) -> RequestSnapshot:
        model = self._model
        next_at = self._clock() + delay_s
        return self._finish(request_id, attempt, Status.RETRYING, [
            model.retries.set(retries), model.excluded.set(list(excluded)),
            model.last_error.set(error), model.next_attempt_at.set(iso(next_at)),
            model.due_at.set(int(next_at) + self._sweep_after_s),
        ])

    def mark_requeued(self, request_id: str, attempt: int, error: str) -> RequestSnapshot:
        """A provider throttled the attempt: back to the queue, not counted as a retry."""
        model = self._model
        return self._finish(request_id, attempt, Status.PENDING, [
            model.last_error.set(error),
            model.due_at.set(int(self._clock()) + self._sweep_after_s),
        ])

    def mark_refused_here(self, request_id: str, attempt: int, *, refused_by: tuple[str, ...],
                          error: str) -> RequestSnapshot:
        """The provider's account refused the attempt: back to the queue for a provider that has not (not a retry)."""
        model = self._model
        return self._finish(request_id, attempt, Status.PENDING, [
            model.refused_by.set(list(refused_by)), model.last_error.set(error),
            model.due_at.set(int(self._clock()) + self._sweep_after_s),
        ])

    def _finish(self, request_id: str, attempt: int, target: Status, actions: list) -> RequestSnapshot:
        """End the attempt in ``target``: the request as this write left it (the callback publisher reads its
        reference and URL from it)."""
        model = self._model
        try:
            item = self._conditional_update(
                request_id, [model.status.set(target), *actions, model.lease_until.remove()],
                self._holds(attempt, moving_to=target))
        except ConditionFailed:
            raise ClaimConflict(f"attempt {attempt} is no longer held") from None
        return RequestSnapshot.of(item)

class SweeperMoves(_RequestWrites):
    """The sweeper's moves: they hold no claim, each is conditional on what the sweeper saw."""

    def expire_request(self, request_id: str) -> RequestSnapshot | None:
        """End a request that waited past its TTL without being sent: the request as it ended, or None when it
        was not open."""
        model = self._model
        now = self._clock()
        try:
            item = self._conditional_update(
                request_id,
                [model.status.set(Status.FAILED), model.failure_reason.set(FailureReason.EXPIRED),
                 model.last_error.set("not sent within its time to live (expired)"),
                 model.next_attempt_at.remove(), *self._leaving_open()],
                # waiting, or held by a dispatcher that died (lease passed); never a live claim
                moving(model.status, Status.FAILED, among=CLAIMABLE)
                | (moving(model.status, Status.FAILED, among=(Status.PROCESSING,)) & (model.lease_until < int(now))),
            )
        except ConditionFailed:
            return None
        return RequestSnapshot.of(item)

    def remove_text(self, request_id: str, seen_due: int) -> bool:
        """Drop a finished request's text and take it off the sweeper's index; False when someone else did."""
        model = self._model
        try:
            self._conditional_update(
                request_id, [model.text.remove(), model.work_shard.remove(), model.due_at.remove()],
                # finished, and still the visit the sweeper saw due (not moved on meanwhile)
                model.status.is_in(*TERMINAL) & (model.due_at == seen_due),
            )
        except ConditionFailed:
            return False
        return True

    def callback_published(self, request_id: str, seen_due: int) -> bool:
        """The sweeper queued a pending callback again: back to the text's last visit, off the pending list."""
        model = self._model
        try:
            self._conditional_update(
                request_id, [model.callback_pending.remove(),
                             model.due_at.set(int(self._clock()) + self._text_retention_s)],
                model.due_at == seen_due,  # nobody moved it on while the sweeper looked
            )
        except ConditionFailed:
            return False
        return True

    def push_due(self, request_id: str, seen_due: int, after_s: int = 0) -> bool:
        """Move the sweeper's deadline on (``after_s`` more for a request queued until its send_at); False when
        another sweeper (or a dispatcher) moved it first."""
        try:
            self._conditional_update(
                request_id, [self._model.due_at.set(int(self._clock()) + after_s + self._sweep_after_s)],
                self._model.due_at == seen_due,
            )
        except ConditionFailed:
            return False
        return True


class ClaimLedger(AttemptClaims, AttemptEndings, SweeperMoves):
    """Who may send attempt n of a request, and how an attempt ends: the three parts over one requests table."""


def _claim_of(item, attempt: int, provider: str) -> Claim:
    snapshot = RequestSnapshot.of(item)
    return Claim(request_id=snapshot.id, attempt=attempt, provider=provider, phone=snapshot.phone,
                 text=snapshot.text, retries=snapshot.retries, excluded=snapshot.excluded, sender=snapshot.sender,
                 validity_s=snapshot.validity_s, expires_at=snapshot.expires_at, not_before=snapshot.not_before,
                 refused_by=snapshot.refused_by, request=snapshot)
