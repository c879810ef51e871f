"""A request's history as events in time order, built from what is stored (no event log of its own):

    accepted     created_at of the request
    attempt      each sms_responses item: when the provider answered, its outcome (and error)
    sent         the accepted attempt of the provider the request was sent with
    failed       updated_at of a failed request, with its failure reason
    progress     the latest intermediate delivery receipt (the vendor's status word, e.g. TEXT_SUCCESSFUL): when
                 the vendor says, never after the final result
    delivered |  delivered_at, from the delivery receipt, with the reason and the vendor's code: always last
    undelivered  (the vendor's clock, which may read a moment before our record of the send); the same
                 ``lifecycle.StatusChanged`` the callback is made of, so both say it in the same words
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.lifecycle import DELIVERY_RESULTS, Status, StatusChanged
from chalicelib.providers import Outcome
from chalicelib.storage.records import AttemptRecord, RequestSnapshot

# What a timeline entry can be (the API's schema lists them): its own steps and the statuses it shows.
ACCEPTED, ATTEMPT, PROGRESS = "accepted", "attempt", "progress"
EVENT_KINDS: tuple[str, ...] = (ACCEPTED, ATTEMPT, Status.SENT.value, Status.FAILED.value, PROGRESS,
                                *(status.value for status in DELIVERY_RESULTS))


@dataclass(frozen=True)
class TimelineEvent:
    event: str
    at: str
    provider: str | None = None
    attempt: int | None = None
    detail: str | None = None


def timeline_of(request: RequestSnapshot, attempts: list[AttemptRecord]) -> list[TimelineEvent]:
    events = [TimelineEvent(ACCEPTED, request.created_at)]
    for record in sorted(attempts, key=lambda record: record.attempt):
        detail = record.outcome + (f": {record.error}" if record.error else "")
        events.append(TimelineEvent(ATTEMPT, record.created_at, record.provider, record.attempt, detail))
    if request.status in (Status.SENT, *DELIVERY_RESULTS):
        accepted = [record for record in attempts
                    if record.outcome == Outcome.ACCEPTED and record.provider == request.provider_used]
        sent = max(accepted, key=lambda record: record.attempt) if accepted else None
        events.append(TimelineEvent(str(Status.SENT), sent.created_at if sent else request.updated_at,
                                    request.provider_used, sent.attempt if sent else None))
    if request.status is Status.FAILED:
        events.append(TimelineEvent(str(Status.FAILED), request.updated_at, request.provider_used,
                                    detail=request.failure_reason and str(request.failure_reason)))
    if request.delivery_progress and request.delivery_progress_at:
        events.append(TimelineEvent(PROGRESS, request.delivery_progress_at, request.provider_used,
                                    detail=request.delivery_progress))
    events.sort(key=lambda event: event.at)  # stable: equal times keep the order above
    if request.status in DELIVERY_RESULTS and request.delivered_at:
        # Last whatever its time: it is the vendor's clock, to the second for some (Vonage), and may read a
        # moment before our own record of the send.
        change = StatusChanged.of(request)
        events.append(TimelineEvent(str(change.status), change.occurred_at, change.provider, detail=change.words))
    return events
