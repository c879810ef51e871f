"""PynamoDB models of the four tables.

Table names, region and endpoint come from Settings at run time: ``bind_models`` points the
model classes at them (PynamoDB keeps them on ``Meta``), so nothing is decided at import.

sms_requests GSIs (all projected ALL, newest first by ``created_at``):
  by_status    status        + created_at   GET /api/sms?status=
  by_provider  provider_used + created_at   GET /api/sms?provider=   (sparse: set once a provider is tried)
  by_day       created_day   + created_at   GET /api/sms?since=&until=   (one partition per UTC day)
  open_by_due  open_shard    + due_at       the sweeper: non-terminal requests past their deadline
                                            (sparse: open_shard is removed when the request ends)
"""

from __future__ import annotations

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.settings import Settings

OPEN_SHARDS = 8  # spreads the sweeper index over partitions on AWS


class _ByStatus(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class _ByProvider(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_provider"
        projection = AllProjection()

    provider_used = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class _ByDay(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_day"
        projection = AllProjection()

    created_day = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class _OpenByDue(GlobalSecondaryIndex):
    class Meta:
        index_name = "open_by_due"
        projection = AllProjection()

    open_shard = UnicodeAttribute(hash_key=True)
    due_at = NumberAttribute(range_key=True)


class SmsRequestModel(Model):
    class Meta:
        table_name = "sms_requests"
        region = "us-east-1"
        billing_mode = "PAY_PER_REQUEST"

    id = UnicodeAttribute(hash_key=True)
    phone = UnicodeAttribute()
    text = UnicodeAttribute()
    encoding = UnicodeAttribute()
    segments = NumberAttribute()
    status = UnicodeAttribute()
    # Attempts claimed so far (0 before the first). The claim of attempt n is the send-once guard.
    attempts = NumberAttribute(default=0)
    retries = NumberAttribute(default=0)  # retries after provider failures (at most MAX_RETRIES)
    provider_used = UnicodeAttribute(null=True)
    provider_message_id = UnicodeAttribute(null=True)
    excluded = ListAttribute(of=UnicodeAttribute, null=True)  # providers that failed this request
    lease_until = NumberAttribute(null=True)  # epoch s; a claim older than this is abandoned
    next_attempt_at = UnicodeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    failure_reason = UnicodeAttribute(null=True)
    idempotency_key = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    created_day = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    expires_at = NumberAttribute()  # epoch s: past this a message that has not been sent ends `expired`
    open_shard = UnicodeAttribute(null=True)
    due_at = NumberAttribute(null=True)  # epoch s: when the sweeper should look at it if nothing else did

    by_status = _ByStatus()
    by_provider = _ByProvider()
    by_day = _ByDay()
    open_by_due = _OpenByDue()


class SmsResponseModel(Model):
    """One item per attempt: what the provider answered (or why nothing was answered)."""

    class Meta:
        table_name = "sms_responses"
        region = "us-east-1"
        billing_mode = "PAY_PER_REQUEST"

    request_id = UnicodeAttribute(hash_key=True)
    attempt = NumberAttribute(range_key=True)
    id = UnicodeAttribute()  # "{request_id}-{attempt}", also the provider Idempotency-Key
    provider = UnicodeAttribute()
    outcome = UnicodeAttribute()  # accepted | refused | throttled | provider_failure
    status_code = NumberAttribute(null=True)
    latency_ms = NumberAttribute(null=True)
    error = UnicodeAttribute(null=True)
    response_data = MapAttribute(null=True)
    created_at = UnicodeAttribute()


class ProviderHealthModel(Model):
    """A durable snapshot of what Redis holds live, written on every transition and periodically."""

    class Meta:
        table_name = "provider_health"
        region = "us-east-1"
        billing_mode = "PAY_PER_REQUEST"

    provider_name = UnicodeAttribute(hash_key=True)
    success_count = NumberAttribute(default=0)
    failure_count = NumberAttribute(default=0)
    failure_rate = NumberAttribute(default=0)
    is_healthy = UnicodeAttribute(default="true")  # "true"/"false": readable in the console
    unhealthy_until = UnicodeAttribute(null=True)
    last_checked = UnicodeAttribute()
    last_transition_at = UnicodeAttribute(null=True)


class IdempotencyModel(Model):
    """Maps (API key, Idempotency-Key) to the request it created, for 24 h (DynamoDB TTL)."""

    class Meta:
        table_name = "sms_idempotency"
        region = "us-east-1"
        billing_mode = "PAY_PER_REQUEST"

    key = UnicodeAttribute(hash_key=True)  # sha256(api key hash + idempotency key)
    body_hash = UnicodeAttribute()
    request_id = UnicodeAttribute()
    created_at = UnicodeAttribute()
    expires_at = TTLAttribute()


ALL_MODELS: tuple[type[Model], ...] = (SmsRequestModel, SmsResponseModel, ProviderHealthModel, IdempotencyModel)


def bind_models(settings: Settings, endpoint_url: str | None) -> None:
    """Point every model at the configured tables (and at an emulator when an endpoint is set)."""
    names = {
        SmsRequestModel: settings.requests_table,
        SmsResponseModel: settings.responses_table,
        ProviderHealthModel: settings.health_table,
        IdempotencyModel: settings.idempotency_table,
    }
    for model, table_name in names.items():
        meta = model.Meta
        if (meta.table_name, meta.region, getattr(meta, "host", None)) == (
            table_name,
            settings.aws_region,
            endpoint_url,
        ):
            continue
        meta.table_name = table_name
        meta.region = settings.aws_region
        meta.host = endpoint_url
        meta.connect_timeout_seconds = 0.5
        meta.read_timeout_seconds = 5
        # One retry: a DynamoDB that does not answer must become a 503 (API) or a batch item failure
        # (dispatcher) within about a second, not after PynamoDB's default backoff.
        meta.max_retry_attempts = 1
        model._connection = None  # PynamoDB caches the connection with the old table and host


def create_tables(wait: bool = True) -> list[str]:
    """Create every table that does not exist yet (local stack and tests; AWS uses infra/).

    PynamoDB's create_table also turns on the TTL of models that have a TTLAttribute.
    """
    created = []
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(wait=wait, ignore_update_ttl_errors=True)
            created.append(model.Meta.table_name)
    return created
