"""One callback event per status change of a request that has somewhere to send it.

Called after the status write (outcomes.py, the dispatcher's and the sweeper's expiry, and the delivery
receipts' ``on_status_change``). It must never delay or fail a send: the request already is what it is,
so a failure here is logged (``callback not queued``, a metric on AWS), counted, and the request is
marked ``callback_pending`` (best effort) so that the sweeper publishes it again
(docs/architecture.md#status-callbacks has the trade-off).
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.callbacks.events import CallbackEvent, event_id_for
from chalicelib.callbacks.queue import CallbackQueue
from chalicelib.lifecycle import Status
from chalicelib.logs import logger
from chalicelib.storage.records import RequestSnapshot

CallbackUrlOf = Callable[[str], "str | None"]
QUEUED, NOWHERE, NOT_QUEUED = "queued", "nowhere", "not queued"  # what one publication did


class CallbackPublisher:
    def __init__(self, *, queue: Callable[[], CallbackQueue], requests, default_url_of: CallbackUrlOf):
        """``queue``: the callbacks queue, built when first needed (a lookup that fails must not stop a
        dispatcher from being built); ``default_url_of``: a client's default callback URL (registry)."""
        self._queue = queue
        self._requests = requests
        self._default_url_of = default_url_of
        self.not_queued = 0  # events that could not be queued, since this process started

    def status_changed(self, request_id: str, status: str, provider: str | None, error: str | None,
                       occurred_at: str, *, request: RequestSnapshot | None = None) -> bool:
        """Queue the event of this status change; True when one was queued. Never raises."""
        return self._publish(request_id, status, provider, error, occurred_at, request) == QUEUED

    def _publish(self, request_id: str, status: str, provider: str | None, error: str | None, occurred_at: str,
                 request: RequestSnapshot | None) -> str:
        try:
            event = self._event_for(request_id, status, provider, error, occurred_at, request)
            if event is None:
                return NOWHERE
            self._queue().send(event)
        except Exception as exc:  # (whatever failed, the send it follows stands)
            self.not_queued += 1
            logger.error("callback not queued", extra={"request_id": request_id, "status": str(status),
                                                       "error": f"{type(exc).__name__}: {exc}"})
            self._leave_for_the_sweeper(request_id, status)
            return NOT_QUEUED
        logger.info("callback queued", extra={"request_id": request_id, "status": str(status),
                                              "event_id": event.event_id})
        return QUEUED

    def finished(self, request: RequestSnapshot) -> bool:
        """A request that has just become ``sent`` or ``failed`` (the snapshot its status write returned)."""
        return self.status_changed(request.id, request.status, request.provider_used,
                                   _error_of(request, request.status), request.updated_at, request=request)

    def publish_again(self, request: RequestSnapshot) -> bool:
        """The sweeper's second chance for a request marked ``callback_pending``: the same event id. True when
        nothing is left to do (queued, or there is no URL any more); False when it failed again (and the
        request was marked pending again, due at once)."""
        status = request.callback_pending or request.status
        delivery_result = status in DELIVERY_RESULTS and request.delivered_at
        occurred_at = request.delivered_at if delivery_result else request.updated_at
        return self._publish(request.id, status, request.provider_used, _error_of(request, status),
                             occurred_at, request) != NOT_QUEUED

    def _event_for(self, request_id: str, status: str, provider: str | None, error: str | None,
                   occurred_at: str, request: RequestSnapshot | None) -> CallbackEvent | None:
        request = request or self._requests.get(request_id)
        if request is None:
            return None
        url = request.callback_url or self._default_url_of(request.client)
        if not url:
            return None
        return CallbackEvent(event_id=event_id_for(request_id, str(status)), id=request_id, status=str(status),
                             occurred_at=occurred_at, url=url, client=request.client, reference=request.reference,
                             provider=provider, error=error)

    def _leave_for_the_sweeper(self, request_id: str, status: str) -> None:
        try:
            self._requests.mark_callback_pending(request_id, str(status))
        except Exception as exc:  # (DynamoDB may be what failed: logged, nothing more to do)
            logger.error("callback lost: not queued and not marked for the sweeper",
                         extra={"request_id": request_id, "status": str(status), "error": type(exc).__name__})


DELIVERY_RESULTS = (Status.DELIVERED, Status.UNDELIVERED)


def _error_of(request: RequestSnapshot, status: str) -> str | None:
    """What the callback says went wrong: the last error of a failed request; the receipt's reason (and the
    vendor's code) of an undelivered one, as the receipt applier first said it."""
    if status == Status.FAILED:
        return request.last_error
    if status == Status.UNDELIVERED and request.delivery_reason:
        code = f" ({request.delivery_error_code})" if request.delivery_error_code else ""
        return f"{request.delivery_reason}{code}"
    return None
