"""Delivery receipts from a simulated provider: some time after a send is accepted, the vendor's receipt for it,
in the vendor's own format and signature, to the gateway's webhook (or, for aws, onto the delivery-events queue).

    receipt_url          where receipts go (None: no receipts); aws: the delivery-events queue's URL
    receipt_delay_s      a receipt leaves receipt_delay_s .. receipt_delay_s + receipt_jitter_s after the send
    receipt_jitter_s
    undelivered_share    the share of messages that end undelivered (the rest delivered)
    receipt_secret       http-json: the webhook_secret it signs with (twilio and vonage sign with their credentials)

A receipt the gateway does not answer 2xx is sent again (freshly signed) every second, up to MAX_TRIES, as the
vendors retry; 401/403 are not retried (a wrong secret stays wrong). ``GET /_receipts`` lists what was sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

MAX_TRIES = 5


@dataclass(frozen=True)
class ReceiptCall:
    """One HTTP call a vendor makes to deliver a receipt (aws: ``body`` is the SQS message instead)."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class ReceiptSender:
    def __init__(self, stopping: threading.Event):
        self._stopping = stopping
        self._lock = threading.Lock()
        self._log: list[dict[str, Any]] = []

    def schedule(self, delay_s: float, make_call: Callable[[], ReceiptCall], record: dict[str, Any],
                 deliver: Callable[[ReceiptCall], int] | None = None) -> None:
        """``make_call`` builds (and signs) the call when it is sent; ``deliver`` sends it (default: HTTP)."""
        entry = {**record, "status": None, "tries": 0}
        with self._lock:
            self._log.append(entry)
        timer = threading.Timer(delay_s, self._send, args=(make_call, entry, deliver or _http))
        timer.daemon = True
        timer.start()

    def _send(self, make_call, entry: dict[str, Any], deliver) -> None:
        for _ in range(MAX_TRIES):
            if self._stopping.is_set():
                return
            try:
                status = deliver(make_call())
            except (OSError, httpx.HTTPError):
                status = 0  # the gateway is not up (yet): as a vendor would, try again
            with self._lock:
                entry["status"], entry["tries"] = status, entry["tries"] + 1
            if 200 <= status < 300 or status in (401, 403):
                return
            if self._stopping.wait(1.0):
                return

    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._log]

    def reset(self) -> None:
        with self._lock:
            self._log.clear()


def _http(call: ReceiptCall) -> int:
    return httpx.request(call.method, call.url, headers=call.headers, content=call.body or None, timeout=5).status_code


def now() -> float:
    return time.time()
