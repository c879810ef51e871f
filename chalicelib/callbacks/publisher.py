"""One callback event per status change of a request that has somewhere to send it.

Called after the status write, with the snapshot that write returned (outcomes.py, the dispatcher's and the
sweeper's expiry, and the delivery receipts' ``on_status_change``); ``lifecycle.StatusChanged`` says what changed.
It must never delay or fail a send: the request already is what it is, so a failure here is logged (``callback
not queued``, a metric on AWS), counted, and the request is marked ``callback_pending`` (best effort) so that the
sweeper publishes it again (docs/architecture.md#status-callbacks has the trade-off).
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.callbacks.events import CallbackEvent, event_id_for
from chalicelib.callbacks.queue import CallbackQueue
from chalicelib.lifecycle import StatusChanged
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

    def status_changed(self, request: RequestSnapshot) -> bool:
        """The one door: a request whose status was just written (the snapshot that write returned, from the
        dispatcher, the sweeper or a delivery receipt). True when its event was queued. Never raises."""
        return self._publish(StatusChanged.of(request), request) == QUEUED

    def publish_again(self, request: RequestSnapshot) -> bool:
        """The sweeper's second chance for a request marked ``callback_pending``: the same event id. True when
        nothing is left to do (queued, or there is no URL any more); False when it failed again (and the
        request was marked pending again, due at once)."""
        return self._publish(StatusChanged.of(request, request.callback_pending), request) != NOT_QUEUED

    def _publish(self, change: StatusChanged, request: RequestSnapshot) -> str:
        try:
            event = self._event_for(change, request)
            if event is None:
                return NOWHERE
            self._queue().send(event)
        except Exception as exc:  # (whatever failed, the send it follows stands)
            self.not_queued += 1
            logger.error("callback not queued", extra={"request_id": change.request_id, "status": str(change.status),
                                                       "error": f"{type(exc).__name__}: {exc}"})
            self._leave_for_the_sweeper(change.request_id, change.status)
            return NOT_QUEUED
        logger.info("callback queued", extra={"request_id": change.request_id, "status": str(change.status),
                                              "event_id": event.event_id})
        return QUEUED

    def _event_for(self, change: StatusChanged, request: RequestSnapshot) -> CallbackEvent | None:
        url = request.callback_url or self._default_url_of(request.client)
        if not url:
            return None
        status = str(change.status)
        return CallbackEvent(event_id=event_id_for(change.request_id, status), id=change.request_id, status=status,
                             occurred_at=change.occurred_at, url=url, client=request.client,
                             reference=request.reference, provider=change.provider, error=change.error)

    def _leave_for_the_sweeper(self, request_id: str, status: str) -> None:
        try:
            self._requests.mark_callback_pending(request_id, str(status))
        except Exception as exc:  # (DynamoDB may be what failed: logged, nothing more to do)
            logger.error("callback lost: not queued and not marked for the sweeper",
                         extra={"request_id": request_id, "status": str(status), "error": type(exc).__name__})

