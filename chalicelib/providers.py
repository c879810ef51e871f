"""Provider adapters. ``http-json`` is the generic provider contract: the request ``HttpJsonProvider.send`` builds.

Every provider answer falls into one class of ``Outcome``, decided in ``classify_answer``:

  answer                                        outcome            gateway action            health
  2xx + JSON {"message_id": "..."}              ACCEPTED           request sent              success
  400, 404, 422                                 REFUSED            request failed, no retry  not counted
  429                                           THROTTLED          another provider, no retry count  not counted
  401, 403, other 4xx, 5xx, malformed 2xx,
  timeout, connection error                     PROVIDER_FAILURE   retry with backoff, exclude  failure
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import httpx

from chalicelib.settings import ProviderConfig

REFUSAL_CODES = frozenset({400, 404, 422})
MAX_STORED_BODY = 1024  # characters of a provider answer kept in sms_responses


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    THROTTLED = "throttled"
    PROVIDER_FAILURE = "provider_failure"

    @property
    def counts_for_health(self) -> bool:
        return self in (Outcome.ACCEPTED, Outcome.PROVIDER_FAILURE)


@dataclass(frozen=True)
class SendResult:
    provider: str
    outcome: Outcome
    status_code: int | None
    latency_ms: int
    message_id: str | None = None
    error: str | None = None
    response_data: dict[str, Any] | None = None


class Provider(Protocol):
    name: str

    def send(self, *, phone: str, text: str, request_id: str, attempt: int) -> SendResult: ...


def _stored_body(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {"raw": response.text[:MAX_STORED_BODY]}
    if isinstance(data, dict) and len(response.content) <= MAX_STORED_BODY:
        return data
    return {"raw": response.text[:MAX_STORED_BODY]}


def classify_answer(status_code: int, body: Any) -> tuple[Outcome, str | None, str | None]:
    """(outcome, provider message id, error) for one HTTP answer."""
    if 200 <= status_code < 300:
        message_id = body.get("message_id") if isinstance(body, dict) else None
        if isinstance(message_id, str) and message_id:
            return Outcome.ACCEPTED, message_id, None
        return Outcome.PROVIDER_FAILURE, None, f"malformed {status_code} answer: no message_id"
    if status_code in REFUSAL_CODES:
        return Outcome.REFUSED, None, f"refused by provider ({status_code})"
    if status_code == 429:
        return Outcome.THROTTLED, None, "throttled by provider (429)"
    return Outcome.PROVIDER_FAILURE, None, f"provider error ({status_code})"


class HttpJsonProvider:
    """POST {url} with the contract's headers and JSON body, on a shared pooled httpx client."""

    def __init__(self, config: ProviderConfig, http: httpx.Client):
        self.name = config.name
        self._config = config
        self._http = http
        self._timeout = httpx.Timeout(config.timeout_s, connect=min(config.timeout_s, 2.0))

    def send(self, *, phone: str, text: str, request_id: str, attempt: int) -> SendResult:
        headers = {"Content-Type": "application/json", "Idempotency-Key": f"{request_id}-{attempt}"}
        if self._config.api_key:
            headers["Authorization"] = f"Bearer {self._config.api_key}"
        payload = {"to": phone, "text": text, "reference": request_id}
        started = time.perf_counter()
        try:
            response = self._http.post(self._config.url, json=payload, headers=headers, timeout=self._timeout)
        except httpx.TimeoutException:
            return self._failure(started, f"timeout after {self._config.timeout_s:g} s")
        except httpx.HTTPError as exc:
            return self._failure(started, f"connection error: {type(exc).__name__}")
        latency_ms = _elapsed_ms(started)
        body = _stored_body(response)
        outcome, message_id, error = classify_answer(response.status_code, body)
        return SendResult(self.name, outcome, response.status_code, latency_ms, message_id, error, body)

    def _failure(self, started: float, error: str) -> SendResult:
        return SendResult(self.name, Outcome.PROVIDER_FAILURE, None, _elapsed_ms(started), error=error)


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def build_providers(configs: tuple[ProviderConfig, ...], http: httpx.Client) -> dict[str, Provider]:
    adapters = {"http-json": HttpJsonProvider}
    return {config.name: adapters[config.kind](config, http) for config in configs}
