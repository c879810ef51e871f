"""``aws``: AWS End User Messaging SMS (adapter.py); its receipts are delivery events on the sms-delivery-events
queue (events.py), not webhooks."""

from chalicelib.vendors.aws import events
from chalicelib.vendors.aws.adapter import AwsSmsConfig, AwsSmsProvider
from chalicelib.vendors.kind import VendorKind

KIND = VendorKind(
    name="aws", config=AwsSmsConfig,
    adapter=lambda config, http, secrets, region: AwsSmsProvider(config, http, secrets, default_region=region),
    delivery_events=events.receipt_of)

__all__ = ["KIND", "AwsSmsConfig", "AwsSmsProvider"]
