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

from chalicelib.dispatch_queue import DispatchMessage, DispatchQueue
from chalicelib.errors import Conflict, DependencyUnavailable
from chalicelib.logs import logger
from chalicelib.request_store import RequestStore, body_fingerprint
from chalicelib.sms_request import ValidSms


@dataclass(frozen=True)
class Accepted:
    id: str
    status: str
    phone: str
    encoding: str
    segments: int
    created_at: str
    replayed: bool = False  # True when an Idempotency-Key returned an earlier request

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "status": self.status,
            "phone": self.phone,
            "encoding": self.encoding,
            "segments": self.segments,
            "created_at": self.created_at,
        }


class Intake:
    def __init__(
        self,
        store: RequestStore,
        queue: DispatchQueue,
        clock: Callable[[], float],
        *,
        message_ttl_s: int,
        idempotency_ttl_s: int,
    ):
        self._store = store
        self._queue = queue
        self._clock = clock
        self._message_ttl_s = message_ttl_s
        self._idempotency_ttl_s = idempotency_ttl_s

    def accept(self, sms: ValidSms, *, client_id: str, idempotency_key: str | None = None) -> Accepted:
        request_id = uuid.uuid4().hex
        reserved_key = None
        if idempotency_key is not None:
            key = body_fingerprint(client_id, idempotency_key)
            owned, record = self._store.reserve_idempotency_key(
                key, body_fingerprint(sms.phone, sms.text), request_id, self._idempotency_ttl_s
            )
            if not owned:
                return self._replay(record, sms)
            reserved_key = key
        try:
            item = self._store.create(
                request_id,
                phone=sms.phone,
                text=sms.text,
                encoding=sms.encoding,
                segments=sms.segments,
                ttl_s=self._message_ttl_s,
                idempotency_key=idempotency_key,
            )
            try:
                self._queue.send(DispatchMessage(id=request_id, expires_at=int(item.expires_at)))
            except DependencyUnavailable as exc:
                if not self._store.forget_unqueued(request_id):
                    # Stored but neither queued nor removed: the sweeper will send it. Say so, with the id,
                    # and keep the Idempotency-Key, so that a retry cannot make a second request.
                    raise DependencyUnavailable(
                        f"{exc.message}; request {request_id} was stored and will still be sent: "
                        f"GET /api/sms/{request_id} shows its outcome", code="accept_outcome_unknown",
                        request_id=request_id,
                    ) from None
                raise
        except DependencyUnavailable as exc:
            if reserved_key and exc.code != "accept_outcome_unknown":
                self._store.release_idempotency_key(reserved_key)
            raise
        logger.info("sms accepted", extra={"request_id": request_id, "phone": sms.phone, "segments": sms.segments})
        return Accepted(request_id, "pending", sms.phone, sms.encoding, sms.segments, item.created_at)

    def _replay(self, record, sms: ValidSms) -> Accepted:
        if record.body_hash != body_fingerprint(sms.phone, sms.text):
            raise Conflict(
                "Idempotency-Key was already used with a different body", field="Idempotency-Key",
                code="idempotency_key_reused",
            )
        item = self._store.get(record.request_id)
        if item is None:  # the first call is still between reserving the key and storing the request
            return Accepted(record.request_id, "pending", sms.phone, sms.encoding, sms.segments,
                            record.created_at, replayed=True)
        return Accepted(item.id, item.status, item.phone, item.encoding, int(item.segments), item.created_at,
                        replayed=True)

