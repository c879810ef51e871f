"""Delivery receipts: what a vendor says became of a sent message, applied to its request once.

    vendor webhook ──> webhooks.WebhookReceiver ──┐  size capped, signature checked, parsed per kind: the
      (/webhooks/{provider})                      │  kind's VendorKind.webhook_receipt (chalicelib/vendors/)
    AWS event destination ──SNS──> SQS ───────────┤  delivery_events.DeliveryEvents (sms-delivery-events
                                                  │  queue), read by VendorKind.delivery_events (vendors/aws/)
                                                  v
                                   applier.ReceiptApplier.apply(Receipt)
                                                  │  storage/deliveries.py: one conditional write,
                                                  v  sent -> delivered | undelivered
                                   on_status_change(request): the callback's one door, as the dispatcher's
"""

from chalicelib.delivery_receipt import DeliveryReason, DeliveryState, Receipt
from chalicelib.receipts.applier import ReceiptApplier, ReceiptResult

__all__ = ["DeliveryReason", "DeliveryState", "Receipt", "ReceiptApplier", "ReceiptResult"]
