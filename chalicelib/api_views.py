"""The JSON shapes the API answers with (their schemas live in sms_request.py, for OpenAPI)."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import GatewayError
from chalicelib.models import SmsRequestModel, SmsResponseModel
from chalicelib.request_store import iso
from chalicelib.router import ProviderState


def error_body(error: GatewayError) -> dict[str, Any]:
    detail = {"code": error.code, "message": error.message, "field": error.field}
    if error.request_id:
        detail["request_id"] = error.request_id
    return {"error": detail}


def attempt_view(record: SmsResponseModel) -> dict[str, Any]:
    return {
        "attempt": int(record.attempt),
        "provider": record.provider,
        "status_code": int(record.status_code) if record.status_code is not None else None,
        "latency_ms": int(record.latency_ms) if record.latency_ms is not None else None,
        "outcome": record.outcome,
        "error": record.error,
        "at": record.created_at,
    }


def request_view(item: SmsRequestModel, attempts: list[SmsResponseModel] | None = None) -> dict[str, Any]:
    view = {
        "id": item.id,
        "phone": item.phone,
        "status": item.status,
        "provider_used": item.provider_used,
        "encoding": item.encoding,
        "segments": int(item.segments),
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "next_attempt_at": item.next_attempt_at,
        "last_error": item.last_error,
        "failure_reason": item.failure_reason,
        "provider_message_id": item.provider_message_id,
        "retries": int(item.retries or 0),
    }
    if attempts is not None:
        view["attempts"] = [attempt_view(record) for record in sorted(attempts, key=lambda r: r.attempt)]
    return view


def provider_view(state: ProviderState) -> dict[str, Any]:
    return {
        "name": state.name,
        "healthy": state.healthy,
        "failure_rate": round(state.failure_rate, 4),
        "successes": state.successes,
        "failures": state.failures,
        "unhealthy_until": iso(state.unhealthy_until_ms / 1000) if state.unhealthy_until_ms else None,
        "rate_limit": state.rate_limit,
        "weight": state.weight,
        "in_use_last_second": state.in_use_last_second,
    }
