"""Moves the storage tests make: a request as intake leaves it, and a provider's acceptance."""

from __future__ import annotations

import uuid

from chalicelib.providers import Outcome, SendResult


def create(request_store, ttl_s: int = 3600, client: str = "team-a", **options) -> str:
    """options: the client's (reference, sender, validity_s, send_at, callback_url)."""
    request_id = uuid.uuid4().hex
    request_store.create(request_id, client=client, phone="+14155550100", text="hi", encoding="GSM-7", segments=1,
                         ttl_s=ttl_s, **options)
    return request_id


def ok(provider: str = "alpha") -> SendResult:
    return SendResult(provider, Outcome.ACCEPTED, 200, 5, "m-1", None, {"message_id": "m-1"})
