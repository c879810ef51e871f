"""The ``sms-delivery-events`` queue's handler: each record is a delivery event of a kind whose receipts arrive
there (``VendorKind.delivery_events``: AWS End User Messaging SMS, from a configuration set's SNS event
destination; chalicelib/vendors/aws/events.py reads them), parsed into a Receipt and applied.

The queue and its subscription are the authentication: only the topic may send to the queue (its policy), so
there is no signature to check.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from chalicelib.delivery_receipt import Receipt
from chalicelib.logs import log_context, logger
from chalicelib.receipts.applier import ReceiptApplier
from chalicelib.sqs_batch import QueueRecord, process_batch
from chalicelib.vendors import delivery_event_receipt


class DeliveryEvents:
    """The ``sms-delivery-events`` handler: one record per event, partial batch failures as the dispatcher."""

    def __init__(self, applier: ReceiptApplier, providers: Collection[str], batch: Callable = process_batch,
                 receipt_of: Callable[[str, str | None], Receipt] = delivery_event_receipt):
        """``providers``: the names of the providers whose kind's receipts arrive on this queue."""
        self._applier = applier
        # An event without a provider in its context belongs to the only such provider, if there is one.
        self._default_provider = next(iter(providers)) if len(providers) == 1 else None
        self._batch = batch
        self._receipt_of = receipt_of

    def apply_batch(self, records: list[QueueRecord]) -> dict:
        return self._batch(records, self.apply_record)

    def apply_record(self, record: QueueRecord) -> bool:
        with log_context(sqs_message_id=record.message_id):
            receipt = self._receipt_of(record.body, self._default_provider)
            result = self._applier.apply(receipt)  # ReceiptTooEarly (retryable): the record comes back
            logger.debug("delivery event", extra={"result": str(result), "event_type": receipt.vendor_status})
        return True
