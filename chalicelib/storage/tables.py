"""The DynamoDB tables, as PynamoDB models, and ``bind_tables`` that points them at one deployment.

The models below describe the items; they belong to no table. ``bind_tables`` makes a subclass of
each with the table name, region and endpoint of one configuration (PynamoDB copies the indexes per
subclass), so two configurations never share a class and nothing global is rebound.

sms_requests GSIs (projected ALL):
  by_client    client     + created_at   GET /api/sms: a client's own requests, newest first; status,
                                         provider and reference are filters on it, time a key condition
  due_work     work_shard + due_at       the sweeper: an open request past its deadline, a scheduled one
                                         due on the queue (send_at - 15 min), or a finished one whose
                                         text is due for removal (sparse: both attributes go once there
                                         is nothing left to do)
  by_message_id provider_message_id      a delivery receipt: the vendor's message id -> the request
                + provider_used          (KEYS_ONLY, sparse: only sent requests have a message id; the
                                         provider in the key keeps two vendors' equal ids apart)

Retention: ``purge_at`` (DynamoDB TTL, RETENTION_DAYS after creation) on requests and responses.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pynamodb.attributes import ListAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.aws_deadline import ATTEMPTS, CONNECT_TIMEOUT_S, READ_TIMEOUT_S
from chalicelib.policies import TableNames  # the tables one deployment names (REQUESTS_TABLE, ...)
from chalicelib.storage.dynamo import GatewayModel

__all__ = ["TableNames", "Tables", "bind_tables"]

WORK_SHARDS = 8  # spreads the sweeper index over partitions on AWS


class _ByClient(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_client"
        projection = AllProjection()

    client = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class _DueWork(GlobalSecondaryIndex):
    class Meta:
        index_name = "due_work"
        projection = AllProjection()

    work_shard = UnicodeAttribute(hash_key=True)
    due_at = NumberAttribute(range_key=True)


class _ByMessageId(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_message_id"
        projection = KeysOnlyProjection()

    provider_message_id = UnicodeAttribute(hash_key=True)
    provider_used = UnicodeAttribute(range_key=True)


class SmsRequestModel(GatewayModel):
    class Meta:  # unbound: bind_tables gives each bound subclass its own table
        table_name = "unbound"

    id = UnicodeAttribute(hash_key=True)
    client = UnicodeAttribute()  # the client (registry name) that sent it: the only one who may read it
    phone = UnicodeAttribute()
    text = UnicodeAttribute(null=True)  # removed TEXT_RETENTION_DAYS after the request finished
    encoding = UnicodeAttribute()
    segments = NumberAttribute()
    status = UnicodeAttribute()  # a lifecycle.Status
    # Attempts claimed so far (0 before the first). The claim of attempt n is the send-once guard.
    attempts = NumberAttribute(default=0)
    retries = NumberAttribute(default=0)  # retries after provider failures (at most MAX_RETRIES)
    provider_used = UnicodeAttribute(null=True)
    provider_message_id = UnicodeAttribute(null=True)
    excluded = ListAttribute(of=UnicodeAttribute, null=True)  # providers that failed this request
    # Providers whose account or set-up refused this request (refused here): never chosen for it again.
    refused_by = ListAttribute(of=UnicodeAttribute, null=True)
    lease_until = NumberAttribute(null=True)  # epoch s; a claim older than this is abandoned
    next_attempt_at = UnicodeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    failure_reason = UnicodeAttribute(null=True)  # a lifecycle.FailureReason
    # The delivery receipt (delivered | undelivered): when, the vendor's error code, a receipts.DeliveryReason.
    delivered_at = UnicodeAttribute(null=True)
    delivery_error_code = UnicodeAttribute(null=True)
    delivery_reason = UnicodeAttribute(null=True)
    # The latest intermediate receipt of the sent message (the vendor's status word, and when): the timeline's.
    delivery_progress = UnicodeAttribute(null=True)
    delivery_progress_at = UnicodeAttribute(null=True)
    idempotency_key = UnicodeAttribute(null=True)
    # The client's options (POST /api/sms): its own id, where to report status changes, the sender id, the
    # message's own time to live (seconds) and the earliest send time (UTC ISO-8601, the format of created_at).
    reference = UnicodeAttribute(null=True)
    callback_url = UnicodeAttribute(null=True)
    sender = UnicodeAttribute(null=True)
    validity_s = NumberAttribute(null=True)
    send_at = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    # epoch s: past this a message that has not been sent ends `expired` (send_at or acceptance + time to live)
    expires_at = NumberAttribute()
    work_shard = UnicodeAttribute(null=True)
    due_at = NumberAttribute(null=True)  # epoch s: when the sweeper should look at it if nothing else did
    purge_at = TTLAttribute(null=True)  # DynamoDB deletes the item after this
    reference = UnicodeAttribute(null=True)
    callback_url = UnicodeAttribute(null=True)
    # The status whose callback could not be queued: the sweeper publishes it again (callbacks/publisher.py).
    callback_pending = UnicodeAttribute(null=True)

    by_client = _ByClient()
    due_work = _DueWork()
    by_message_id = _ByMessageId()


class SmsResponseModel(GatewayModel):
    """One item per attempt: what the provider answered (or why nothing was answered)."""

    class Meta:  # unbound: bind_tables gives each bound subclass its own table
        table_name = "unbound"

    request_id = UnicodeAttribute(hash_key=True)
    attempt = NumberAttribute(range_key=True)
    id = UnicodeAttribute()  # "{request_id}-{attempt}", also the provider Idempotency-Key
    provider = UnicodeAttribute()
    outcome = UnicodeAttribute()  # accepted | refused | throttled | provider_failure
    message_id = UnicodeAttribute(null=True)  # the provider's id of the message, when it accepted it
    status_code = NumberAttribute(null=True)
    latency_ms = NumberAttribute(null=True)
    error = UnicodeAttribute(null=True)
    # The provider's answer as JSON text, cut to MAX_STORED_ANSWER characters: any answer can be kept
    # (NaN, huge numbers, deep nesting would make a DynamoDB map refuse the whole record).
    response_data = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    purge_at = TTLAttribute(null=True)


class ProviderHealthModel(GatewayModel):
    """A durable snapshot of what Redis holds live, written on every transition and periodically."""

    class Meta:  # unbound: bind_tables gives each bound subclass its own table
        table_name = "unbound"

    provider_name = UnicodeAttribute(hash_key=True)
    success_count = NumberAttribute(default=0)
    failure_count = NumberAttribute(default=0)
    failure_rate = NumberAttribute(default=0)
    is_healthy = UnicodeAttribute(default="true")  # "true"/"false": readable in the console
    unhealthy_until = UnicodeAttribute(null=True)
    last_checked = UnicodeAttribute()
    last_transition_at = UnicodeAttribute(null=True)


class IdempotencyModel(GatewayModel):
    """Maps (client, Idempotency-Key) to the request it created, for IDEMPOTENCY_TTL_S (DynamoDB TTL)."""

    class Meta:  # unbound: bind_tables gives each bound subclass its own table
        table_name = "unbound"

    key = UnicodeAttribute(hash_key=True)  # sha256(client id + idempotency key)
    body_hash = UnicodeAttribute()
    request_id = UnicodeAttribute()
    created_at = UnicodeAttribute()
    reserved_at = NumberAttribute(null=True)  # epoch s, to tell a call in flight from one that died
    expires_at = TTLAttribute()


@dataclass(frozen=True)
class Tables:
    """The four models, each bound to its table of one deployment."""

    requests: type[SmsRequestModel]
    responses: type[SmsResponseModel]
    health: type[ProviderHealthModel]
    idempotency: type[IdempotencyModel]

    def all(self) -> tuple[type[Model], ...]:
        return (self.requests, self.responses, self.health, self.idempotency)

    def connect(self) -> Tables:
        """Build each table's DynamoDB client now. PynamoDB builds it on first use, and the threads of a
        dispatcher's first batch would each build one at once (~0.3 s of CPU apiece: the service model)."""
        for model in self.all():
            model._get_connection().connection.client  # noqa: B018 (the property builds and keeps the client)
        return self


@lru_cache(maxsize=16)
def bind_tables(names: TableNames, region: str, host: str | None = None) -> Tables:
    """The models bound to ``names`` in ``region`` (at ``host``, an emulator, when set).

    Memoized: a bound class keeps its pooled connection, and building one costs ~0.5 s."""

    def bound(model: type[Model], table_name: str) -> type:
        meta = type("Meta", (), {
            "table_name": table_name,
            "region": region,
            "host": host,
            "billing_mode": "PAY_PER_REQUEST",
            # The ceilings of every AWS call (aws_deadline.py), which also cuts them to the invocation's deadline.
            "connect_timeout_seconds": CONNECT_TIMEOUT_S,
            "read_timeout_seconds": READ_TIMEOUT_S,
            "max_retry_attempts": ATTEMPTS - 1,
        })
        return type(model.__name__, (model,), {"Meta": meta, "__module__": __name__})

    return Tables(
        requests=bound(SmsRequestModel, names.requests),
        responses=bound(SmsResponseModel, names.responses),
        health=bound(ProviderHealthModel, names.health),
        idempotency=bound(IdempotencyModel, names.idempotency),
    )
