"""``telnyx``: the Telnyx Messaging API v2 (adapter.py) and its Ed25519-signed webhooks (receipts.py)."""

from chalicelib.vendors.kind import VendorKind, http_adapter
from chalicelib.vendors.telnyx import receipts
from chalicelib.vendors.telnyx.adapter import TelnyxConfig, TelnyxProvider

KIND = VendorKind(name="telnyx", config=TelnyxConfig, adapter=http_adapter(TelnyxProvider),
                  webhook_methods=("POST",), signed_with="public_key", webhook_receipt=receipts.webhook_receipt)

__all__ = ["KIND", "TelnyxConfig", "TelnyxProvider"]
