"""Signed status callbacks: a client learns that its request was sent, failed, delivered or undelivered
without polling.

    dispatcher / sweeper ── status_changed ──> sms-callbacks queue ──> deliver_callbacks Lambda ──> client URL
       (publisher.py)          {event_id, id, status, url, client, ...}     (delivery.py: guard, sign, POST)

- ``events.py``: the queued event and its stable ``event_id``;
- ``publisher.py``: one event per status change, never delaying or failing the send;
- ``targets.py``: the server-side request forgery guard, at accept time and again at delivery time;
- ``signing.py``: ``X-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``;
- ``delivery.py``: the POST, its deadline, and retries with backoff for at least a day, then the DLQ.
"""

from chalicelib.callbacks.events import CallbackEvent, event_id_for
from chalicelib.callbacks.publisher import CallbackPublisher
from chalicelib.callbacks.signing import sign, signature_header, verify_signature
from chalicelib.callbacks.targets import CallbackTargetRefused, check_callback_target, check_callback_url_syntax

__all__ = ["CallbackEvent", "CallbackPublisher", "CallbackTargetRefused", "check_callback_target",
           "check_callback_url_syntax", "event_id_for", "sign", "signature_header", "verify_signature"]
