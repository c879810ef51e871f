"""Moves the storage tests make: a request as intake leaves it, and a provider's acceptance."""

from __future__ import annotations

import uuid

import pytest

from chalicelib.lifecycle import FailureReason, Status
from chalicelib.providers import Outcome, SendResult


def create(request_store, ttl_s: int = 3600, client: str = "team-a", **options) -> str:
    """options: the client's (reference, sender, validity_s, send_at, callback_url)."""
    request_id = uuid.uuid4().hex
    request_store.create(request_id, client=client, phone="+14155550100", text="hi", encoding="GSM-7", segments=1,
                         ttl_s=ttl_s, **options)
    return request_id


def ok(provider: str = "alpha") -> SendResult:
    return SendResult(provider, Outcome.ACCEPTED, 200, 5, "m-1", None, {"message_id": "m-1"})


# Every way a dispatcher ends attempt 1 of a request it holds: (the status it moves to, the move).
ATTEMPT_ENDS = [
    pytest.param(Status.SENT, lambda claims, rid: claims.mark_sent(rid, 1, "m-1"), id="sent"),
    pytest.param(Status.FAILED, lambda claims, rid: claims.mark_failed(rid, 1, FailureReason.REFUSED, "no"),
                 id="failed"),
    pytest.param(Status.RETRYING, lambda claims, rid: claims.mark_retrying(
        rid, 1, retries=1, excluded=("alpha",), delay_s=5, error="503"), id="retrying"),
    pytest.param(Status.PENDING, lambda claims, rid: claims.mark_requeued(rid, 1, "throttled"), id="requeued"),
    pytest.param(Status.PENDING, lambda claims, rid: claims.mark_refused_here(
        rid, 1, refused_by=("alpha",), error="refused here"), id="refused-here"),
]
