"""The shapes the API answers with: one pydantic model per shape, used to build every answer at run time
(``model_dump(mode="json")``) and to generate the OpenAPI document, so the two cannot drift apart.

Each model has a constructor from the domain object it shows (``of``): routes never build dicts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from chalicelib.api.send_body import MAX_SEGMENTS, PHONE_EXAMPLE
from chalicelib.delivery_receipt import DeliveryReason
from chalicelib.errors import GatewayError
from chalicelib.lifecycle import FailureReason, Status
from chalicelib.provider_health import Pause, ProviderState
from chalicelib.providers import Outcome
from chalicelib.segments import Encoding
from chalicelib.storage.dynamo import iso
from chalicelib.storage.records import AttemptRecord, RequestSnapshot
from chalicelib.timeline import EVENT_KINDS, TimelineEvent, timeline_of

Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class Answer(BaseModel):
    def to_body(self) -> dict[str, Any]:
        """The JSON body; a field left at its default (an absent optional detail) is left out."""
        return self.model_dump(mode="json", exclude_defaults=True, by_alias=True)


class SmsAccepted(Answer):
    """The answer to ``POST /api/sms``: the request is stored and queued."""

    id: str = Field(description="Request id, for GET /api/sms/{id}.")
    status: Status
    phone: str = Field(description="Recipient in E.164.", examples=[PHONE_EXAMPLE])
    encoding: Encoding
    segments: int = Field(ge=1, le=MAX_SEGMENTS)
    created_at: Timestamp
    reference: str | None = Field(default=None, description="Your reference, when you gave one.")
    send_at: Timestamp | None = Field(default=None, description="Not sent before this time (UTC), when you "
                                      "gave one.")

    @classmethod
    def of(cls, accepted) -> SmsAccepted:
        return cls(id=accepted.id, status=accepted.status, phone=accepted.phone, encoding=accepted.encoding,
                   segments=accepted.segments, created_at=accepted.created_at, reference=accepted.reference,
                   send_at=accepted.send_at)


class AttemptView(Answer):
    """One try of one provider."""

    attempt: int = Field(ge=1, description="1 for the first try, 2 for the first retry, ...")
    provider: str
    status_code: int | None = Field(description="The provider's HTTP status; null on a timeout or network error.")
    latency_ms: int | None
    outcome: Outcome = Field(
        description="What the gateway made of the answer (each vendor's table: docs/providers.md): accepted (sent), "
        "refused (no retry), refused_here (this provider's account will not send it: another provider at once, "
        "not a retry), throttled (the provider's rate limit: another provider, not a retry) or "
        "provider_failure (retried elsewhere with backoff)."
    )
    error: str | None
    at: Timestamp

    @classmethod
    def of(cls, record: AttemptRecord) -> AttemptView:
        return cls(attempt=record.attempt, provider=record.provider, status_code=record.status_code,
                   latency_ms=record.latency_ms, outcome=record.outcome, error=record.error, at=record.created_at)


class SmsSummary(Answer):
    """A request as it appears in a list."""

    model_config = ConfigDict(populate_by_name=True)  # "from" is a keyword: the field is sender

    id: str
    phone: str = Field(examples=[PHONE_EXAMPLE])
    status: Status
    provider_used: str | None = Field(description="The provider of the latest attempt; null before the first.")
    encoding: Encoding
    segments: int
    created_at: Timestamp
    updated_at: Timestamp
    next_attempt_at: Timestamp | None = Field(description="When a waiting retry is due; null otherwise.")
    last_error: str | None
    failure_reason: FailureReason | None = Field(description="Why a failed request failed; null otherwise.")
    provider_message_id: str | None = Field(description="The accepting provider's message id, once sent.")
    retries: int = Field(ge=0, description="Retries after provider failures so far (at most MAX_RETRIES).")
    # The request's options, each only when the client gave it.
    reference: str | None = Field(default=None, description="Your reference, when you gave one.")
    sender: str | None = Field(default=None, alias="from", description="The sender id you asked for, when you "
                               "gave one (else the provider's own was used).")
    validity_s: int | None = Field(default=None, description="The time to live you gave, in seconds.")
    send_at: Timestamp | None = Field(default=None, description="Not sent before this time (UTC), when you "
                                      "gave one.")
    delivered_at: Timestamp | None = Field(
        default=None, description="Delivered or undelivered: when the delivery receipt says it happened.")
    delivery_reason: DeliveryReason | None = Field(
        default=None, description="Undelivered: why, whatever the vendor (unreachable, rejected, expired, blocked, "
        "unknown).")
    delivery_error_code: str | None = Field(default=None, description="The vendor's error code in the receipt.")

    @classmethod
    def of(cls, request: RequestSnapshot, **extra: Any):
        return cls(id=request.id, phone=request.phone, status=request.status, provider_used=request.provider_used,
                   encoding=request.encoding, segments=request.segments, created_at=request.created_at,
                   updated_at=request.updated_at, next_attempt_at=request.next_attempt_at,
                   last_error=request.last_error, failure_reason=request.failure_reason,
                   provider_message_id=request.provider_message_id, retries=request.retries,
                   reference=request.reference, sender=request.sender, validity_s=request.validity_s,
                   send_at=request.send_at,
                   delivered_at=request.delivered_at, delivery_reason=request.delivery_reason,
                   delivery_error_code=request.delivery_error_code, **extra)


class TimelineEntry(Answer):
    """One thing that happened to a request."""

    event: Literal[EVENT_KINDS]
    at: Timestamp
    provider: str | None = None
    attempt: int | None = Field(default=None, ge=1)
    detail: str | None = Field(default=None, description="attempt: its outcome (and error); failed: the reason; "
                               "progress: the vendor's status in its latest intermediate receipt (e.g. "
                               "TEXT_SUCCESSFUL); undelivered: the reason and the vendor's code.")

    @classmethod
    def of(cls, event: TimelineEvent) -> TimelineEntry:
        return cls(event=event.event, at=event.at, provider=event.provider, attempt=event.attempt,
                   detail=event.detail)


class SmsRequestView(SmsSummary):
    """A request with every attempt made for it, and its history."""

    attempts: list[AttemptView]
    timeline: list[TimelineEntry] = Field(description="accepted, each attempt, sent or failed, then the delivery "
                                          "result: in time order.")

    @classmethod
    def with_attempts(cls, request: RequestSnapshot, attempts: list[AttemptRecord]) -> SmsRequestView:
        ordered = sorted(attempts, key=lambda record: record.attempt)
        return cls.of(request, attempts=[AttemptView.of(record) for record in ordered],
                      timeline=[TimelineEntry.of(event) for event in timeline_of(request, ordered)])


class SmsList(Answer):
    items: list[SmsSummary]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page.")

    @classmethod
    def page(cls, requests: list[RequestSnapshot], next_cursor: str | None) -> SmsList:
        return cls(items=[SmsSummary.of(request) for request in requests], next_cursor=next_cursor)


class PauseView(Answer):
    """An operator's pause (POST /api/providers/{name}/pause): the provider gets no new bookings while it lasts."""

    reason: str
    by: str = Field(description="The client name of the operator's API key.")
    at: Timestamp
    until: Timestamp | None = Field(description="The pause ends by itself then; null: until resumed.")

    @classmethod
    def of(cls, pause: Pause) -> PauseView:
        return cls(reason=pause.reason, by=pause.by, at=iso(pause.at_ms / 1000),
                   until=iso(pause.until_ms / 1000) if pause.until_ms is not None else None)


class ProviderView(Answer):
    name: str
    healthy: bool
    failure_rate: float = Field(ge=0, le=1, description="Failures / outcomes in the health window.")
    successes: int = Field(ge=0)
    failures: int = Field(ge=0)
    unhealthy_until: Timestamp | None
    rate_limit: int = Field(ge=1, description="Requests per second, over any 1-second window.")
    weight: int = Field(ge=1, description="Round-robin weight.")
    in_use_last_second: int = Field(ge=0, description="Sends booked for the last second.")
    booked_ahead: int = Field(ge=0, description="Sends booked for later: messages waiting for their send time.")
    jitter_guard_ms: int = Field(
        ge=0, description="Added to the 1-second window the limit is kept over, so that sends arriving spread by "
        "up to this much never exceed the limit at the provider; sized from the measured spread of its arrivals, "
        "between RATE_LIMIT_GUARD_MS and RATE_LIMIT_GUARD_MAX_MS.")
    effective_rate_limit: float = Field(
        gt=0, description="The rate its sends are booked at: rate_limit, lowered for a while after it answered "
        "429 and climbing back to rate_limit within seconds.")
    paused: PauseView | None = Field(description="An operator's pause: while it lasts the provider gets no new "
                                     "bookings, as when unhealthy; null: in rotation.")

    @classmethod
    def of(cls, state: ProviderState) -> ProviderView:
        until = iso(state.unhealthy_until_ms / 1000) if state.unhealthy_until_ms else None
        return cls(name=state.name, healthy=state.healthy, failure_rate=round(state.failure_rate, 4),
                   successes=state.successes, failures=state.failures, unhealthy_until=until,
                   rate_limit=state.rate_limit, weight=state.weight, in_use_last_second=state.in_use_last_second,
                   booked_ahead=state.booked_ahead, jitter_guard_ms=state.jitter_guard_ms,
                   effective_rate_limit=state.effective_rate_limit,
                   paused=PauseView.of(state.paused) if state.paused else None)


class ProviderList(Answer):
    providers: list[ProviderView]

    @classmethod
    def of(cls, states: list[ProviderState]) -> ProviderList:
        return cls(providers=[ProviderView.of(state) for state in states])


class ErrorDetail(Answer):
    code: str = Field(examples=["invalid_phone"])
    message: str
    field: str | None = Field(description="The body field, query parameter or header at fault, if any.")
    request_id: str | None = Field(
        default=None,
        description="Only with code accept_outcome_unknown (503): the request was stored and will still be "
        "sent; GET /api/sms/{request_id} shows its outcome.",
    )


class ErrorBody(Answer):
    error: ErrorDetail

    @classmethod
    def of(cls, error: GatewayError) -> ErrorBody:
        return cls(error=ErrorDetail(code=error.code, message=error.message, field=error.field,
                                     request_id=error.request_id))


class HealthView(Answer):
    status: str = Field(examples=["ok"])
    checks: dict[str, str] = Field(description="Each dependency and what its check found.")
