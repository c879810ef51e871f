"""``twilio``: Programmable Messaging (adapter.py) and its status callbacks (receipts.py)."""

from chalicelib.vendors.kind import VendorKind, http_adapter
from chalicelib.vendors.twilio import receipts
from chalicelib.vendors.twilio.adapter import TwilioConfig, TwilioProvider

KIND = VendorKind(name="twilio", config=TwilioConfig, adapter=http_adapter(TwilioProvider),
                  webhook_methods=receipts.METHODS, signed_with=receipts.SIGNED_WITH,
                  webhook_receipt=receipts.webhook_receipt)

__all__ = ["KIND", "TwilioConfig", "TwilioProvider"]
