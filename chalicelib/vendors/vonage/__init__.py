"""``vonage``: the SMS API (adapter.py) and its delivery receipts (receipts.py)."""

from chalicelib.vendors.kind import VendorKind, http_adapter
from chalicelib.vendors.vonage import receipts
from chalicelib.vendors.vonage.adapter import VonageConfig, VonageProvider

KIND = VendorKind(name="vonage", config=VonageConfig, adapter=http_adapter(VonageProvider),
                  webhook_methods=receipts.METHODS, signed_with=receipts.SIGNED_WITH,
                  webhook_receipt=receipts.webhook_receipt)

__all__ = ["KIND", "VonageConfig", "VonageProvider"]
