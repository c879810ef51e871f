"""Intake: accept a validated SMS for one client, store it ``pending`` and queue its payload.

Order matters for "nothing lost" and "sent once":
  1. the client's own rules (destination countries, sender ids: deny by default, see _check_sender);
  2. the Idempotency-Key is reserved first, so concurrent duplicates resolve to one request;
     a replay is answered from what the key holds and costs no share of the client's limits;
  3. the client's rate limit and daily quota (a 429 gives the key back; with Redis down, the request is
     accepted uncounted rather than refused: intake stays open through a Redis restart);
  4. the request is stored before it is queued; when queueing fails it is removed again and the
     client gets a 503 (it was never accepted), with its share of the limits given back. A request with a
     send_at within SQS's longest delay (15 min) is queued with that delay; a later one is only stored, and
     the sweeper queues it when it is 15 minutes from due. Either way its share of the client's limits is
     taken now, at acceptance (the provider limits apply when it is sent).
A key whose first call died between reserving it and storing its request is answered 409 with
Retry-After while that call could still be running, and taken over (conditionally) once it cannot.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.client_limits import Admission, ClientLimiter
from chalicelib.clients import Client
from chalicelib.dispatch_queue import DispatchMessage, DispatchQueue, delay_until, queued_at_once
from chalicelib.errors import (
    Conflict,
    DependencyUnavailable,
    GatewayError,
    RateLimitState,
    UnprocessableEntity,
    ValidationFailed,
)
from chalicelib.lifecycle import Status
from chalicelib.logs import logger
from chalicelib.storage.idempotency import IdempotencyKeys, Reservation, fingerprint
from chalicelib.storage.records import RequestSnapshot
from chalicelib.storage.requests import RequestStore
from chalicelib.valid_sms import MAX_SCHEDULE_AHEAD_S, SEND_AT_SKEW_S, ValidSms


@dataclass(frozen=True)
class Accepted:
    id: str
    status: Status
    phone: str
    encoding: str
    segments: int
    created_at: str
    reference: str | None = None
    send_at: str | None = None
    replayed: bool = False  # True when an Idempotency-Key returned an earlier request
    rate_limit: RateLimitState | None = None  # where the client stands after this request (None: not counted)


class Intake:
    def __init__(self, *, requests: RequestStore, idempotency: IdempotencyKeys, limiter: ClientLimiter,
                 queue: DispatchQueue, clock: Callable[[], float], message_ttl_s: int, takeover_after_s: int,
                 provider_senders: frozenset[str] = frozenset()):
        """``provider_senders``: the senders the providers are configured with, which any client may name."""
        self._requests = requests
        self._provider_senders = provider_senders
        self._idempotency = idempotency
        self._limiter = limiter
        self._queue = queue
        self._clock = clock
        self._message_ttl_s = message_ttl_s
        self._takeover_after_s = takeover_after_s

    def accept(self, sms: ValidSms, *, client: Client, idempotency_key: str | None = None) -> Accepted:
        _check_destination(sms, client)
        _check_sender(sms.sender, client, self._provider_senders)
        request_id = uuid.uuid4().hex
        reservation = None
        if idempotency_key is not None:
            reserved = self._reserve(fingerprint(client.name, idempotency_key),
                                     fingerprint(sms.phone, sms.text, *sms.options()), request_id)
            if isinstance(reserved, RequestSnapshot):
                return _accepted(reserved, replayed=True)
            reservation = reserved
            request_id = reservation.request_id
        try:
            # After the replay: a retry with the same key is answered even once its send_at has passed.
            _check_send_at(sms.send_at, self._clock())
        except ValidationFailed:
            if reservation:
                self._idempotency.release(reservation)
            raise
        try:
            admission = self._limiter.admit(client)
        except DependencyUnavailable:
            # Redis is down: accept without counting rather than close intake. The request waits on the
            # queue like any other (nothing is sent without Redis either), and the outage is logged.
            logger.warning("client limits not checked: Redis unavailable", extra={"client": client.name})
            admission = None
        except GatewayError:
            if reservation:
                self._idempotency.release(reservation)
            raise
        try:
            request = self._store_and_queue(request_id, client, sms, idempotency_key)
        except DependencyUnavailable as exc:
            if exc.code != "accept_outcome_unknown":
                self._give_back(admission, reservation)
            raise
        logger.info("sms accepted", extra={"request_id": request_id, "client": client.name, "phone": sms.phone,
                                           "segments": sms.segments})
        return _accepted(request, rate_limit=admission.rate_limit if admission else None)

    def _reserve(self, key: str, body_hash: str, request_id: str) -> Reservation | RequestSnapshot:
        """This call's reservation of the key, or the request an earlier call with it created."""
        for _ in range(2):  # a second look only when another call took a dead key over under us
            taken = self._idempotency.reserve(key, body_hash, request_id)
            if isinstance(taken, Reservation):
                return taken
            if taken.body_hash != body_hash:
                raise Conflict("Idempotency-Key was already used with a different body", field="Idempotency-Key",
                               code="idempotency_key_reused")
            existing = self._requests.get(taken.request_id)
            if existing is not None:
                return existing
            if self._clock() - taken.reserved_at < self._takeover_after_s:
                # Most likely the first call is a few milliseconds from storing its request: ask for a
                # retry in a second (the key is taken over only once that call cannot be alive any more).
                raise _in_flight(1)
            # Reserved longer ago than any API call can run, and still no request: that call died.
            reservation = self._idempotency.take_over(taken, request_id)
            if reservation is not None:
                logger.warning("idempotency key taken over from a call that died", extra={"request_id": request_id})
                return reservation
        raise _in_flight(1)

    def _store_and_queue(self, request_id: str, client: Client, sms: ValidSms, idempotency_key: str | None):
        now = self._clock()
        at_once = queued_at_once(sms.send_at, now)
        request = self._requests.create(request_id, client=client.name, phone=sms.phone, text=sms.text,
                                        encoding=sms.encoding, segments=sms.segments,
                                        ttl_s=sms.validity_s or self._message_ttl_s, idempotency_key=idempotency_key,
                                        reference=sms.reference, callback_url=sms.callback_url, sender=sms.sender,
                                        validity_s=sms.validity_s, send_at=sms.send_at, queued_by_sweeper=not at_once)
        if not at_once:
            return request  # stored with due_at = send_at - 15 min: the sweeper queues it then
        try:
            self._queue.send(DispatchMessage(id=request_id, expires_at=request.expires_at,
                                             not_before=request.not_before),
                             delay_s=delay_until(request.not_before, now))
        except DependencyUnavailable as exc:
            if not self._requests.forget_unqueued(request_id):
                # Stored but neither queued nor removed: the sweeper will send it. Say so, with the id,
                # and keep the Idempotency-Key, so that a retry cannot make a second request.
                raise DependencyUnavailable(
                    f"{exc.message}; request {request_id} was stored and will still be sent: "
                    f"GET /api/sms/{request_id} shows its outcome", code="accept_outcome_unknown",
                    request_id=request_id,
                ) from None
            raise
        return request

    def _give_back(self, admission: Admission | None, reservation: Reservation | None) -> None:
        """The request was not accepted: its share of the limits and its key go back (best effort)."""
        if reservation:
            self._idempotency.release(reservation)
        if admission is None:
            return
        try:
            self._limiter.refund(admission)
        except DependencyUnavailable:
            logger.warning("rate limit share not given back", extra={"client": admission.client})


def _check_destination(sms: ValidSms, client: Client) -> None:
    if client.countries and sms.country not in client.countries:
        raise UnprocessableEntity(
            f"phone is a number of {sms.country or 'no country'}; this API key may send only to "
            f"{', '.join(client.countries)}", field="phone", code="country_not_allowed")


def _check_sender(sender: str | None, client: Client, provider_senders: frozenset[str]) -> None:
    """A sender id is the client's own, or the gateway's: deny by default.

        from             the client lists senders        it lists none (API_KEYS clients never do)
        absent           the provider's configured one   the provider's configured one
        one it lists     as given                        -
        a provider's     as given                        as given
        anything else    422                             422 (PAYPAL, another client's number)
    """
    if sender is None or sender in client.senders or sender in provider_senders:
        return
    configured = f" ({', '.join(sorted(provider_senders))})" if provider_senders else ""
    if client.senders:
        message = (f"from must be one of this API key's senders ({', '.join(client.senders)}) or a provider's "
                   f"configured sender{configured}; without from, the provider's configured sender is used")
    else:
        message = (f"this API key has no senders of its own: leave from out to send from the provider's configured "
                   f"sender{configured} (an operator lists a client's senders in the client registry)")
    raise UnprocessableEntity(message, field="from", code="sender_not_allowed")


def _check_send_at(send_at: float | None, now: float) -> None:
    """Not in the past (beyond the clock skew a client may have), at most MAX_SCHEDULE_AHEAD_S ahead."""
    if send_at is None:
        return
    if send_at < now - SEND_AT_SKEW_S:
        raise ValidationFailed(f"send_at is in the past (more than {SEND_AT_SKEW_S} s ago)", field="send_at",
                               code="invalid_send_at")
    if send_at > now + MAX_SCHEDULE_AHEAD_S:
        raise ValidationFailed(f"send_at is more than {MAX_SCHEDULE_AHEAD_S // 86400} days ahead", field="send_at",
                               code="invalid_send_at")


def _in_flight(retry_after_s: int) -> Conflict:
    return Conflict("an earlier call with this Idempotency-Key is still being processed; retry with the same key",
                    field="Idempotency-Key", code="idempotency_key_in_flight", retry_after_s=retry_after_s)


def _accepted(request: RequestSnapshot, *, replayed: bool = False,
              rate_limit: RateLimitState | None = None) -> Accepted:
    return Accepted(request.id, request.status, request.phone, request.encoding, request.segments,
                    request.created_at, reference=request.reference, send_at=request.send_at, replayed=replayed,
                    rate_limit=rate_limit)
