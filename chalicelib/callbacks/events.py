"""The event a status change puts on the callbacks queue.

The body names the request, its status and where to deliver it, never the phone number or the text.
``event_id`` is derived from (request id, status), so every publication of the same status change
(a dispatcher finishing from a record, the sweeper publishing again) carries the same id: the client
deduplicates on it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, replace

from chalicelib.errors import MalformedMessage

# A fixed namespace: event ids are uuid5(namespace, "<request id>:<status>"), the same in every process.
EVENT_NAMESPACE = uuid.UUID("5b0f4a36-6f3e-4d55-9d57-0d7a3c1f2e91")
# What the client receives, in this order: the queue's own fields (url, client, attempt...) stay inside.
PAYLOAD_FIELDS = ("event_id", "id", "reference", "status", "provider", "error", "occurred_at")


def event_id_for(request_id: str, status: str) -> str:
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{request_id}:{status}"))


@dataclass(frozen=True)
class CallbackEvent:
    event_id: str
    id: str  # the request id
    status: str
    occurred_at: str  # ISO-8601 UTC, when the status changed
    url: str
    client: str
    reference: str | None = None
    provider: str | None = None
    error: str | None = None
    attempt: int = 1  # the delivery attempt this message asks for
    first_try_at: float | None = None  # epoch s of the first delivery attempt: the retry window starts there
    dead_reason: str | None = None  # set on a message sent to the DLQ: why

    def to_body(self) -> str:
        data = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_body(cls, body: str) -> CallbackEvent:
        try:
            data = json.loads(body)
            return cls(
                event_id=str(data["event_id"]), id=str(data["id"]), status=str(data["status"]),
                occurred_at=str(data["occurred_at"]), url=str(data["url"]), client=str(data["client"]),
                reference=_optional(data.get("reference")), provider=_optional(data.get("provider")),
                error=_optional(data.get("error")), attempt=int(data.get("attempt", 1)),
                first_try_at=float(data["first_try_at"]) if data.get("first_try_at") is not None else None,
                dead_reason=_optional(data.get("dead_reason")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedMessage(f"malformed callback message: {type(exc).__name__}") from None

    def payload(self) -> bytes:
        """The JSON body POSTed to the client: the same bytes are signed."""
        data = asdict(self)
        return json.dumps({name: data[name] for name in PAYLOAD_FIELDS}, separators=(",", ":")).encode()

    def next_try(self, first_try_at: float) -> CallbackEvent:
        return replace(self, attempt=self.attempt + 1, first_try_at=first_try_at)

    def dead(self, reason: str) -> CallbackEvent:
        return replace(self, dead_reason=reason)

    def fresh(self) -> CallbackEvent:
        """Replayed from the DLQ: a new retry window, the same event id."""
        return replace(self, attempt=1, first_try_at=None, dead_reason=None)


def _optional(value) -> str | None:
    return None if value is None else str(value)
