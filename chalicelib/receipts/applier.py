"""Apply a delivery receipt to its request: sent -> delivered | undelivered, once.

    receipt            the request is                       result       answer to the vendor
    interim            anything                             INTERIM      acknowledged; noted on a sent request it
                                                                         names (delivery_progress: the timeline's)
    final              sent, same provider and message id   APPLIED      acknowledged; on_status_change called
    final              delivered / undelivered already      DUPLICATE    acknowledged (a repeat or a late one)
    final              processing, same provider            too early    ReceiptTooEarly: 409 / SQS record back
    final              not found, or another message's      UNKNOWN      acknowledged and logged

"Too early": the provider answered but the dispatcher has not recorded the answer yet (a DynamoDB write
away, or a dead dispatcher's lease away: the takeover finishes it from its record). Keeping the receipt on
the request as pending would need the dispatcher's sent write to merge it; the vendor's retry (Vonage
retries a DLR it was not answered 2xx; an SQS record comes back; the http-json contract asks for retries)
gets there with no second writer. Only a receipt that names our request id can see this state: one found
through the message-id index has a message id, so its request is past processing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum

from chalicelib.delivery_receipt import DeliveryState, Receipt
from chalicelib.errors import ReceiptTooEarly, RetryableError
from chalicelib.lifecycle import Status
from chalicelib.logs import logger
from chalicelib.storage.deliveries import DeliveryResults
from chalicelib.storage.records import RequestSnapshot
from chalicelib.storage.requests import RequestStore

REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_MESSAGE_ID = 256  # longer than any vendor's id, well under DynamoDB's key limit

# on_status_change(request): the request as the receipt's write left it; the status callback's seam (wiring passes
# CallbackPublisher.status_changed, the dispatcher's door too).
StatusChange = Callable[[RequestSnapshot], object]


class ReceiptResult(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    INTERIM = "interim"
    UNKNOWN = "unknown"


def _no_change(request: RequestSnapshot) -> None:
    return None


class ReceiptApplier:
    def __init__(self, *, deliveries: DeliveryResults, requests: RequestStore,
                 on_status_change: StatusChange = _no_change):
        self._deliveries = deliveries
        self._requests = requests
        self._on_status_change = on_status_change

    def apply(self, receipt: Receipt) -> ReceiptResult:
        log = {"provider": receipt.provider, "provider_message_id": receipt.message_id,
               "vendor_status": receipt.vendor_status, "delivery": str(receipt.state)}
        if receipt.state is DeliveryState.INTERIM:
            self._note_progress(receipt, log)
            return ReceiptResult.INTERIM
        if len(receipt.message_id) > MAX_MESSAGE_ID:
            logger.info("receipt for an unknown message", extra={**log, "provider_message_id": "[too long]"})
            return ReceiptResult.UNKNOWN
        # The id the vendor echoes is used only when it is one of ours (a client-ref may be anything).
        named = receipt.request_id if receipt.request_id and REQUEST_ID.match(receipt.request_id) else None
        request_id = named or self._deliveries.request_of(receipt.message_id, receipt.provider)
        if request_id is None:
            logger.info("receipt for an unknown message", extra=log)
            return ReceiptResult.UNKNOWN
        log["request_id"] = request_id
        # A second try only when the first met the request a moment before its answer was recorded.
        for _ in range(2):
            if recorded := self._deliveries.record(request_id, receipt):
                logger.info("delivery recorded", extra={**log, "error_code": receipt.error_code,
                                                         "reason": receipt.reason})
                self._tell(recorded)
                return ReceiptResult.APPLIED
            request = self._requests.get(request_id)
            if request is None or request.status is not Status.SENT or (
                    request.provider_message_id != receipt.message_id):
                break
        return self._why_not_recorded(request, receipt, log)

    def _note_progress(self, receipt: Receipt, log: dict) -> None:
        """An intermediate receipt that names our request: its status word for the timeline, nothing else. One
        that does not is only logged (finding its request would cost an index query per interim receipt)."""
        named = receipt.request_id if receipt.request_id and REQUEST_ID.match(receipt.request_id) else None
        if named is None or len(receipt.message_id) > MAX_MESSAGE_ID:
            logger.debug("interim receipt, nothing to record", extra=log)
            return
        try:
            noted = self._deliveries.note_progress(named, receipt)
        except RetryableError:  # a timeline entry is not worth the vendor's retry
            logger.warning("interim receipt not noted", extra={**log, "request_id": named})
            return
        logger.debug("interim receipt", extra={**log, "request_id": named, "noted": noted})

    def _tell(self, request: RequestSnapshot) -> None:
        """on_status_change, once per transition. The transition is written: a failing listener is logged, and
        never turns the receipt into an error (the vendor's retry would find nothing left to change)."""
        try:
            self._on_status_change(request)
        except Exception:
            logger.exception("status change not passed on", extra={"request_id": request.id})

    def _why_not_recorded(self, request, receipt: Receipt, log: dict) -> ReceiptResult:
        ours = request is not None and request.provider_used == receipt.provider
        if ours and request.status is Status.PROCESSING and request.provider_message_id is None:
            raise ReceiptTooEarly("the request's answer is not recorded yet: send the receipt again later",
                                  retry_after_s=5)
        if not ours or request.provider_message_id != receipt.message_id:
            # Not the message this request is known by: another attempt's (a send that timed out but went
            # out), a request that failed, or none at all.
            logger.info("receipt for an unknown message", extra={**log, "request_status": request and request.status})
            return ReceiptResult.UNKNOWN
        logger.info("receipt changes nothing", extra={**log, "request_status": request.status})
        return ReceiptResult.DUPLICATE
