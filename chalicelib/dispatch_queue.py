"""The dispatch queue: what a queued message carries, and how it goes (back) onto SQS.

The body carries routing state only, never the phone number or the text: the dispatcher
reads those from the request it claims, so the queue holds no personal data.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace

from chalicelib.errors import MalformedMessage
from chalicelib.lifecycle import Status
from chalicelib.sqs_errors import MAX_DELAY_S, SqsBacked, queue_url_of
from chalicelib.storage.records import RequestSnapshot

MAX_VISIBILITY_S = 43_200  # SQS's ceiling for a message's visibility timeout (12 h)


@dataclass(frozen=True)
class DispatchMessage:
    id: str  # the request id
    attempt: int = 1  # the send this message asks for; also the provider Idempotency-Key suffix
    retries: int = 0  # retries after provider failures so far (throttling and waiting do not count)
    excluded: tuple[str, ...] = ()  # providers that failed this request
    last_failed: str | None = None
    avoid: tuple[str, ...] = field(default=())  # skip once (a provider that just answered 429)
    refused_by: tuple[str, ...] = ()  # never again for this request: their account refused it (refused here)
    expires_at: int = 0  # epoch s: past this, a message not yet sent ends `failed` (expired)
    not_before: float | None = None  # epoch s: the request's send_at; arriving earlier, it goes back to wait

    def to_body(self) -> str:
        data = {k: v for k, v in asdict(self).items() if v not in ((), None)}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_body(cls, body: str) -> DispatchMessage:
        try:
            data = json.loads(body)
            return cls(
                id=str(data["id"]),
                attempt=int(data.get("attempt", 1)),
                retries=int(data.get("retries", 0)),
                excluded=tuple(data.get("excluded", ())),
                last_failed=data.get("last_failed"),
                avoid=tuple(data.get("avoid", ())),
                refused_by=tuple(data.get("refused_by", ())),
                expires_at=int(data.get("expires_at", 0)),
                not_before=float(data["not_before"]) if data.get("not_before") is not None else None,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedMessage(f"malformed dispatch message: {type(exc).__name__}") from None

    def next_attempt(self, **changes) -> DispatchMessage:
        # `avoid` lasts one message unless the caller sets it again (a 429 names the provider to skip).
        return replace(self, **{"attempt": self.attempt + 1, "avoid": (), **changes})


def message_for(request: RequestSnapshot) -> DispatchMessage:
    """The message that moves an open request on, derived from its stored state."""
    # A claim whose holder died is taken over as the same attempt; otherwise the next one.
    attempt = request.attempts if request.status is Status.PROCESSING else request.attempts + 1
    return DispatchMessage(
        id=request.id,
        attempt=attempt,
        retries=request.retries,
        excluded=request.excluded,
        last_failed=request.excluded[-1] if request.excluded else None,
        refused_by=request.refused_by,
        expires_at=request.expires_at,
        not_before=request.not_before,
    )


def queued_at_once(not_before: float | None, now: float) -> bool:
    """Whether a request goes on the queue when it is accepted: its send time is within SQS's longest delay.
    A later one waits in the table until the sweeper finds it due (``RequestStore.create``)."""
    return delay_until(not_before, now) <= MAX_DELAY_S


def delay_until(not_before: float | None, now: float) -> int:
    """Whole seconds from ``now`` to ``not_before``, rounded up: a message delayed this long is never early."""
    return 0 if not_before is None else max(0, math.ceil(not_before - now))


class DispatchQueue(SqsBacked):
    """SendMessage with an optional delay, and ChangeMessageVisibility of a received message. Queue URL resolved
    once from the name when not configured."""

    def __init__(self, sqs_client, queue_url: str):
        self.sqs = sqs_client
        self.queue_url = queue_url

    @classmethod
    def by_name(cls, sqs_client, queue_name: str) -> DispatchQueue:
        return cls(sqs_client, queue_url_of(sqs_client, queue_name))

    def defer(self, receipt_handle: str, delay_s: int) -> None:
        """Keep a received message hidden for `delay_s` more (ChangeMessageVisibility): it waits on the queue
        as it is, without a copy; the caller reports it in batchItemFailures so that it is not deleted."""
        self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=receipt_handle,
                                           VisibilityTimeout=max(0, min(MAX_VISIBILITY_S, int(delay_s))))

    def probe(self) -> None:
        """One cheap call (GetQueueAttributes): what GET /health asks of SQS."""
        self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"])

    def send(self, message: DispatchMessage, delay_s: int = 0) -> None:
        self.sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=message.to_body(),
            DelaySeconds=max(0, min(MAX_DELAY_S, int(delay_s))),
        )
