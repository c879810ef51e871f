"""Delivery results on sms_requests: find the request a vendor's message id belongs to, and record a receipt.

Recording is one conditional write. The condition is the whole rule (its first line is the lifecycle's table:
``moving`` to delivered or undelivered):

    status = sent                        only a sent request takes a result; delivered and undelivered are final,
                                         so a duplicate or a late receipt changes nothing (monotonic, idempotent)
    provider_message_id = <message id>   the receipt is about the message this request is known by, not another
    provider_used = <provider>           attempt's (a timed-out send that went out anyway) nor another vendor's

An intermediate receipt (``note_progress``) writes only the request's ``delivery_progress``, under the same
condition and only over an older one: it shows in the timeline and moves no status.
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.delivery_receipt import Receipt, occurred_at_or_now
from chalicelib.errors import ConditionFailed
from chalicelib.lifecycle import Status, moving
from chalicelib.storage.dynamo import iso
from chalicelib.storage.records import RequestSnapshot
from chalicelib.storage.tables import Tables


class DeliveryResults:
    def __init__(self, tables: Tables, clock: Callable[[], float]):
        self._model = tables.requests
        self._clock = clock

    def request_of(self, message_id: str, provider: str) -> str | None:
        """The id of the request sent as ``message_id`` by ``provider``, or None. The index is eventually
        consistent: a request sent a moment ago may not be found yet."""
        model = self._model
        for item in model.by_message_id.query(message_id, model.provider_used == provider, limit=1):
            return item.id
        return None

    def _known_as(self, receipt: Receipt):
        """The receipt is about the message this request is known by, from the provider that sent it."""
        model = self._model
        return (model.provider_message_id == receipt.message_id) & (model.provider_used == receipt.provider)

    def record(self, request_id: str, receipt: Receipt) -> RequestSnapshot | None:
        """Move a sent request to the receipt's status: the request as this write left it, or None when the
        condition does not hold (see above)."""
        model = self._model
        now = self._clock()
        delivered_at = iso(occurred_at_or_now(receipt.occurred_at, now))
        actions = [
            model.status.set(receipt.status),
            model.delivered_at.set(delivered_at),
            (model.delivery_error_code.set(receipt.error_code) if receipt.error_code
             else model.delivery_error_code.remove()),
            model.delivery_reason.set(receipt.reason) if receipt.reason else model.delivery_reason.remove(),
            model.updated_at.set(iso(now)),
        ]
        # sent (the table's sources of the receipt's status), and the message this request is known by
        condition = moving(model.status, receipt.status) & self._known_as(receipt)
        item = model(request_id)
        try:
            item.update(actions=actions, condition=condition)
        except ConditionFailed:
            return None
        return RequestSnapshot.of(item)

    def note_progress(self, request_id: str, receipt: Receipt) -> bool:
        """Keep an intermediate receipt's status word on its sent request; False when the condition does not hold
        (not sent, another message, or a later one noted already)."""
        model = self._model
        at = iso(receipt.occurred_at or self._clock())
        condition = ((model.status == Status.SENT) & self._known_as(receipt)
                     # events may arrive out of order: the latest one stays (ISO-8601 UTC sorts as text)
                     & (model.delivery_progress_at.does_not_exist() | (model.delivery_progress_at <= at)))
        try:
            model(request_id).update(actions=[model.delivery_progress.set(receipt.vendor_status or "interim"),
                                              model.delivery_progress_at.set(at)], condition=condition)
        except ConditionFailed:
            return False
        return True
