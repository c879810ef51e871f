"""Intake: accept a validated SMS, store it ``pending`` and queue its payload.

Order matters for "nothing lost": the request is stored before it is queued, and when
queueing fails the stored request is removed again and the client gets a 503 (it was never
accepted). With an Idempotency-Key, the key is reserved first, so concurrent duplicates
resolve to one request and one send.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.api.send_body import ValidSms
from chalicelib.dispatch_queue import DispatchMessage, DispatchQueue
from chalicelib.errors import Conflict, DependencyUnavailable
from chalicelib.lifecycle import Status
from chalicelib.logs import logger
from chalicelib.storage.idempotency import IdempotencyKeys, KeyTaken, fingerprint
from chalicelib.storage.requests import RequestStore


@dataclass(frozen=True)
class Accepted:
    id: str
    status: Status
    phone: str
    encoding: str
    segments: int
    created_at: str
    replayed: bool = False  # True when an Idempotency-Key returned an earlier request


class Intake:
    def __init__(self, *, requests: RequestStore, idempotency: IdempotencyKeys, queue: DispatchQueue,
                 clock: Callable[[], float], message_ttl_s: int):
        self._requests = requests
        self._idempotency = idempotency
        self._queue = queue
        self._clock = clock
        self._message_ttl_s = message_ttl_s

    def accept(self, sms: ValidSms, *, client_id: str, idempotency_key: str | None = None) -> Accepted:
        request_id = uuid.uuid4().hex
        reservation = None
        if idempotency_key is not None:
            taken = self._idempotency.reserve(fingerprint(client_id, idempotency_key),
                                              fingerprint(sms.phone, sms.text), request_id)
            if isinstance(taken, KeyTaken):
                return self._replay(taken, sms)
            reservation = taken
        try:
            request = self._store_and_queue(request_id, sms, idempotency_key)
        except DependencyUnavailable as exc:
            if reservation and exc.code != "accept_outcome_unknown":
                self._idempotency.release(reservation)
            raise
        logger.info("sms accepted", extra={"request_id": request_id, "phone": sms.phone, "segments": sms.segments})
        return Accepted(request.id, request.status, request.phone, request.encoding, request.segments,
                        request.created_at)

    def _store_and_queue(self, request_id: str, sms: ValidSms, idempotency_key: str | None):
        request = self._requests.create(request_id, phone=sms.phone, text=sms.text, encoding=sms.encoding,
                                        segments=sms.segments, ttl_s=self._message_ttl_s,
                                        idempotency_key=idempotency_key)
        try:
            self._queue.send(DispatchMessage(id=request_id, expires_at=request.expires_at))
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

    def _replay(self, taken: KeyTaken, sms: ValidSms) -> Accepted:
        if taken.body_hash != fingerprint(sms.phone, sms.text):
            raise Conflict("Idempotency-Key was already used with a different body", field="Idempotency-Key",
                           code="idempotency_key_reused")
        request = self._requests.get(taken.request_id)
        if request is None:  # the first call is still between reserving the key and storing the request
            return Accepted(taken.request_id, Status.PENDING, sms.phone, sms.encoding, sms.segments,
                            taken.created_at, replayed=True)
        return Accepted(request.id, request.status, request.phone, request.encoding, request.segments,
                        request.created_at, replayed=True)


