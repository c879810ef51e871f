"""The route table: every route of the HTTP API, with the name of its handler in ``app.py``, the role its API
key needs and every status it answers. ``app.py`` registers its handlers from it (``handles``) and
``openapi.py`` renders the document's paths from it, so the two cannot drift apart;
tests/functional/test_statuses_are_declared.py checks that the statuses are the ones the routes really answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from chalicelib.api.pause_body import PauseProviderBody
from chalicelib.api.responses import (
    ErrorBody,
    HealthView,
    ProviderList,
    ProviderView,
    SmsAccepted,
    SmsList,
    SmsRequestView,
)
from chalicelib.api.send_body import SendSmsBody
from chalicelib.clients import Role


@dataclass(frozen=True)
class Reply:
    """One status a route answers: what it means, and its body (a model, or raw content) and headers."""

    description: str
    model: type[BaseModel] | None = None
    content: dict[str, Any] | None = None  # a body no model describes
    headers: dict[str, Any] = field(default_factory=dict)
    links: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    path: str  # as chalice routes it
    method: str
    handler: str  # the function in app.py
    answers: dict[int, Reply]
    role: Role | None = None  # the role its X-Api-Key needs; None: no API key
    operation_id: str | None = None  # None: not in the document (CORS preflight)
    summary: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    document_path: str = ""  # the path in the document, when it names a parameter otherwise
    parameters: tuple[str, ...] = ()  # named parameters openapi.py renders (idempotency_key, list_query, ...)
    body: type[BaseModel] | None = None  # the JSON body it takes
    any_content_type: bool = False  # every content type reaches the handler: a wrong one gets the API's 415
    json_errors: bool = True  # gateway errors answer in the API's error shape (api/http_errors.py)

    @property
    def documented_path(self) -> str:
        return self.document_path or self.path


ERROR_DESCRIPTIONS = {
    400: "The request is malformed; error.field names the body field, parameter or header at fault.",
    401: "X-Api-Key is missing or not a key of this gateway.",
    403: "This API key's client lacks the role this route needs ({role}).",
    404: "No request has this id.",
    409: "This Idempotency-Key was used with another body, or an earlier call with it is still being "
    "processed (retry after Retry-After).",
    413: "The body is larger than the gateway accepts.",
    415: "The body is not application/json in UTF-8.",
    422: "Well-formed but refused: the text needs more SMS segments than the gateway sends for one request, "
    "or this API key may not send to this number or from this sender (from: only the client's own senders or a "
    "provider's configured one).",
    429: "This client's rate limit (requests per second) or daily quota is used up; Retry-After says when "
    "to try again, and the RateLimit-* headers which limit ran out.",
    500: "An error in the gateway itself (a bug); it is logged with its trace.",
    503: "A dependency of the gateway (database, queue, Redis) is not answering, or its configuration is "
    "broken; try again later.",
}

# What the 429 carries besides its body (client_limits.py: the policy that ran out first).
RATE_LIMIT_HEADERS = {
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}},
    "RateLimit-Limit": {"description": "The limit that ran out.", "schema": {"type": "integer"}},
    "RateLimit-Remaining": {"description": "Requests left under it (0).", "schema": {"type": "integer"}},
    "RateLimit-Reset": {"description": "Seconds until it has room again.", "schema": {"type": "integer"}},
}

WEBHOOK_ERRORS = {
    400: "Not a receipt of this provider's kind (a required field is missing, JSON that is not an object).",
    401: "No signature: the vendor's signature header or parameter is missing.",
    403: "The signature does not verify (wrong secret or webhook_url, or older than 5 minutes).",
    404: "No provider of this name takes receipts here (aws receipts come through SQS).",
    405: "This provider's kind sends its receipts by another method (only Vonage uses GET).",
    409: "The request's answer is not recorded yet: send the receipt again after Retry-After.",
    500: ERROR_DESCRIPTIONS[500],
    413: "The body is over 64 KB, or has more than 100 fields or query parameters: refused unread.",
    503: "A dependency of the gateway is not answering; send the receipt again later.",
}


def errors(*statuses: int, role: str = "") -> dict[int, Reply]:
    """The error answers of a route; ``role`` is the one its 403 names (clients.py: ``Client.require``)."""
    return {status: Reply(ERROR_DESCRIPTIONS[status].format(role=role), ErrorBody,
                          headers=RATE_LIMIT_HEADERS if status == 429 else {}) for status in statuses}


def _webhook_errors(*statuses: int) -> dict[int, Reply]:
    return {status: Reply(WEBHOOK_ERRORS[status], ErrorBody) for status in statuses}


RECEIPT_ACKNOWLEDGED = Reply("Verified and acknowledged (applied, a repeat, interim, or an unknown message id).")
RECEIPT_DESCRIPTION = (
    "A delivery receipt in the vendor's own format, signed the vendor's way; the provider's kind decides which "
    "(twilio: form POST with X-Twilio-Signature; vonage: GET query, form or JSON POST with sig and timestamp; "
    "http-json: JSON POST with X-Signature). No API key.")
PAUSE_REFUSED = ("Well-formed but refused: error.field names reason (missing, blank, over 200 characters or with "
                 "control characters) or until (not ISO-8601 with a UTC offset, in the past, or more than 7 days "
                 "ahead).")
PROVIDER_NOT_FOUND = "No provider of this name is configured (error.code provider_not_found)."
PREFLIGHT = {204: Reply("CORS preflight allowed."), 403: Reply("CORS preflight refused: origin not allowed.")}

ROUTES: tuple[Route, ...] = (
    Route("/api/sms", "POST", "send_sms", role="send", operation_id="sendSms", tags=("sms",),
          summary="Accept an SMS for delivery",
          description="Stores the request and queues it; a provider is chosen when it is sent. "
          "With send_at it is not sent before that time (up to 7 days ahead). "
          "The same Idempotency-Key with the same body returns the first answer again.",
          parameters=("idempotency_key",), body=SendSmsBody, any_content_type=True,
          answers={202: Reply("Accepted and queued.", SmsAccepted, links={
              "GetSmsById": {"operationId": "getSms", "parameters": {"id": "$response.body#/id"},
                             "description": "The accepted request, with its status and attempts."}}),
                   **errors(400, 401, 403, 409, 413, 415, 422, 429, 500, 503, role="send")}),
    Route("/api/sms", "GET", "list_sms", role="send", operation_id="listSms", tags=("sms",),
          summary="List requests, newest first", parameters=("list_query",),
          answers={200: Reply("One page of requests.", SmsList), **errors(400, 401, 403, 500, 503, role="send")}),
    Route("/api/sms/{request_id}", "GET", "get_sms", role="send", operation_id="getSms", tags=("sms",),
          summary="A request with every attempt", document_path="/api/sms/{id}", parameters=("request_id",),
          answers={200: Reply("The request.", SmsRequestView), **errors(400, 401, 403, 404, 500, 503, role="send")}),
    Route("/api/providers", "GET", "list_providers", role="operator", operation_id="listProviders",
          tags=("providers",), summary="Health, counts and limits of every provider",
          answers={200: Reply("Every provider.", ProviderList), **errors(401, 403, 500, 503, role="operator")}),
    Route("/api/providers/{name}/pause", "POST", "pause_provider", role="operator", operation_id="pauseProvider",
          tags=("providers",), summary="Take a provider out of rotation",
          description="A paused provider gets no new bookings, exactly as an unhealthy one; sends already booked "
          "go ahead. It lasts until `until`, or until resumed, and survives restarts (it is kept in Redis). "
          "Pausing a paused provider replaces its reason and until.",
          parameters=("provider_name",), body=PauseProviderBody, any_content_type=True,
          answers={200: Reply("Paused: the provider's state.", ProviderView),
                   **errors(400, 401, 403, 413, 415, role="operator"),
                   404: Reply(PROVIDER_NOT_FOUND, ErrorBody),
                   422: Reply(PAUSE_REFUSED, ErrorBody), **errors(500, 503)}),
    Route("/api/providers/{name}/resume", "POST", "resume_provider", role="operator", operation_id="resumeProvider",
          tags=("providers",), summary="Put a paused provider back in rotation",
          description="Ends an operator's pause now; resuming a provider that is not paused changes nothing.",
          parameters=("provider_name",),
          answers={200: Reply("In rotation: the provider's state.", ProviderView),
                   **errors(401, 403, role="operator"), 404: Reply(PROVIDER_NOT_FOUND, ErrorBody),
                   **errors(500, 503)}),
    # Vendors call it, not clients: authenticated by the vendor's signature (docs/providers.md#delivery-receipts).
    # Every kind takes POST; only vonage takes GET, so only a GET can come by the wrong method (405).
    Route("/webhooks/{provider}", "POST", "delivery_receipt", operation_id="deliveryReceiptPost",
          tags=("receipts",), summary="A vendor's delivery receipt", description=RECEIPT_DESCRIPTION,
          parameters=("provider",), any_content_type=True,
          answers={204: RECEIPT_ACKNOWLEDGED, **_webhook_errors(400, 401, 403, 404, 409, 413, 500, 503)}),
    Route("/webhooks/{provider}", "GET", "delivery_receipt", operation_id="deliveryReceiptGet",
          tags=("receipts",), summary="A Vonage delivery receipt sent by GET", description=RECEIPT_DESCRIPTION,
          parameters=("provider",), any_content_type=True,
          answers={204: RECEIPT_ACKNOWLEDGED, **_webhook_errors(400, 401, 403, 404, 405, 409, 413, 500, 503)}),
    Route("/health", "GET", "health", operation_id="health", tags=("operations",),
          summary="Whether the gateway reaches its dependencies",
          answers={200: Reply("Every dependency answers.", HealthView),
                   503: Reply("A dependency does not answer.", HealthView), **errors(500)}),
    Route("/openapi.json", "GET", "openapi_document", operation_id="openapi", tags=("operations",),
          summary="This document", json_errors=False,
          answers={200: Reply("The OpenAPI document.", content={"application/json": {"schema": {"type": "object"}}})}),
    Route("/docs", "GET", "docs_page", operation_id="docs", tags=("operations",),
          summary="A page that renders this document", json_errors=False,
          answers={200: Reply("HTML page.", content={"text/html": {"schema": {"type": "string"}}})}),
    *(Route(path, "OPTIONS", "cors_preflight", answers=PREFLIGHT, json_errors=False)
      for path in ("/api/sms", "/api/sms/{request_id}", "/api/providers")),
)


def routes_of(handler: str) -> list[Route]:
    return [route for route in ROUTES if route.handler == handler]
