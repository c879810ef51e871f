"""The settings groups: one policy object per service that owns the values, each field one environment variable.

``Settings`` (settings.py) composes them: each group reads its own variables from the same flat environment,
and wiring.py hands each group to its service (``settings.routing`` to the Router, ``settings.callbacks`` to
the callback delivery, ``settings.tables`` to the tables, ...). A field's alias is its variable; its default,
bounds and description are the only ones (``.env.example`` is rendered from them: localdev/env_example.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

DAY_S = 86400


def env(name: str, default: Any, doc: str, **bounds: Any) -> Any:
    """One setting: the environment variable ``name``, its default and what it means (for .env.example)."""
    return Field(default, alias=name, description=doc, **bounds)


def comma_list(raw: Any) -> Any:
    return tuple(part.strip() for part in raw.split(",") if part.strip()) if isinstance(raw, str) else raw


CommaList = Annotated[tuple[str, ...], BeforeValidator(comma_list)]


class Policy(BaseModel):
    """A group of settings: frozen (hashable, a cache key), and built from the whole environment (extra ignored)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class RoutingPolicy(Policy):
    """The Router's: the health rule, the jitter guard's bounds and the booking horizon."""

    health_window_s: int = env("HEALTH_WINDOW_S", 300, "Health rule: a failure rate above HEALTH_FAILURE_RATE "
                               "over HEALTH_WINDOW_S seconds, with at least HEALTH_MIN_SAMPLES outcomes, makes "
                               "a provider unhealthy for UNHEALTHY_FOR_S seconds.", ge=1, le=86400)
    # a provider failing more than this share of its outcomes trips ...
    failure_rate: float = env("HEALTH_FAILURE_RATE", 0.7, "", ge=0.0, le=1.0)
    min_samples: int = env("HEALTH_MIN_SAMPLES", 10, "", ge=1, le=10**9)  # ... once the window holds this many
    unhealthy_for_s: int = env("UNHEALTHY_FOR_S", 300, "", ge=1, le=86400)
    failure_streak: int = env("HEALTH_FAILURE_STREAK", 15, "Failures in a row that make a provider unhealthy at "
                              "once, whatever its rate (0 = off): a provider that goes hard down stops getting "
                              "traffic within a fraction of a second instead of after its history ages out.",
                              ge=0, le=10**9)
    guard_ms: int = env("RATE_LIMIT_GUARD_MS", 10, "Least jitter guard: milliseconds added to the 1 s rate window, "
                        "so that sends arriving spread by up to that much never show limit+1 at the provider. Each "
                        "provider's guard grows from its measured arrival spread, up to RATE_LIMIT_GUARD_MAX_MS; "
                        "GET /api/providers shows it.", ge=0, le=1000)
    guard_max_ms: int = env("RATE_LIMIT_GUARD_MAX_MS", 250, "Largest jitter guard, whatever the measured spread "
                            "(ms).", ge=0, le=1000)
    horizon_ms: int = env("SLOT_WAIT_MAX_MS", 2000, "Longest a dispatcher waits for a booked send time; when every "
                          "provider's earliest free time is further off, the message waits in the queue instead "
                          "(its visibility is extended).", ge=0, le=60_000)

    @field_validator("guard_max_ms")
    @classmethod
    def _guard_bounds_in_order(cls, value: int, info: ValidationInfo) -> int:
        least = info.data.get("guard_ms")
        if least is not None and value < least:
            raise ValueError("must not be below RATE_LIMIT_GUARD_MS")
        return value


class TableNames(Policy):
    """The DynamoDB tables of one deployment (storage/tables.py binds its models to them)."""

    requests: str = env("REQUESTS_TABLE", "sms_requests", "DynamoDB table names.", min_length=3)
    responses: str = env("RESPONSES_TABLE", "sms_responses", "", min_length=3)
    health: str = env("HEALTH_TABLE", "provider_health", "", min_length=3)
    idempotency: str = env("IDEMPOTENCY_TABLE", "sms_idempotency", "", min_length=3)


class QueueNames(Policy):
    """The three SQS queues: what the services send to (name or URL), and what the event sources bind to (ARN)."""

    dispatch_queue_name: str = env("DISPATCH_QUEUE_NAME", "sms-dispatch", "The dispatch queue (its DLQ is "
                                   "<name>-dlq); DISPATCH_QUEUE_URL skips the name lookup.", min_length=1)
    dispatch_queue_url: str = env("DISPATCH_QUEUE_URL", "", "")
    dispatch_queue_arn: str = env("DISPATCH_QUEUE_ARN", "", "Deploy time: the queue the dispatcher's SQS event "
                                  "source binds to (`make infra` writes it for `chalice deploy`); empty = "
                                  "DISPATCH_QUEUE_NAME in the deploying account.", pattern=r"^(arn:[^:]+:sqs:.+)?$")
    delivery_events_queue_name: str = env("DELIVERY_EVENTS_QUEUE_NAME", "sms-delivery-events", "The queue AWS End "
                                          "User Messaging delivery events reach through SNS (aws providers' "
                                          "configuration_set); its DLQ is <name>-dlq.", min_length=1)
    delivery_events_queue_arn: str = env("DELIVERY_EVENTS_QUEUE_ARN", "", "Deploy time: the queue the delivery "
                                         "events handler's SQS event source binds to (`make infra` writes it); "
                                         "empty = DELIVERY_EVENTS_QUEUE_NAME in the deploying account.",
                                         pattern=r"^(arn:[^:]+:sqs:.+)?$")
    dispatcher_max_concurrency: int = env("DISPATCHER_MAX_CONCURRENCY", 0, "Deploy time: most dispatcher "
                                          "invocations at once (the event source's MaximumConcurrency; Lambda "
                                          "takes 2-1000); 0 = no cap.", ge=0, le=1000)
    callback_queue_name: str = env("CALLBACK_QUEUE_NAME", "sms-callbacks", "The status callbacks queue (its DLQ "
                                   "is <name>-dlq); CALLBACK_QUEUE_URL and CALLBACK_DLQ_URL skip the name lookups.",
                                   min_length=1)
    callback_queue_url: str = env("CALLBACK_QUEUE_URL", "", "")
    callback_dlq_url: str = env("CALLBACK_DLQ_URL", "", "")
    callback_queue_arn: str = env("CALLBACK_QUEUE_ARN", "", "Deploy time: the queue the callbacks function's SQS "
                                  "event source binds to; empty = CALLBACK_QUEUE_NAME in the deploying account.",
                                  pattern=r"^(arn:[^:]+:sqs:.+)?$")

    @property
    def callback_dlq_name(self) -> str:
        return f"{self.callback_queue_name}-dlq"

    # The event sources app.py's decorators declare (chalice's on_sqs_message arguments): the ARN when one is
    # set, else the name (a queue in the deploying account).
    def dispatch_source(self) -> dict[str, Any]:
        return {**_source(self.dispatch_queue_arn, self.dispatch_queue_name),
                "maximum_concurrency": self.dispatcher_max_concurrency or None}

    def callback_source(self) -> dict[str, Any]:
        return _source(self.callback_queue_arn, self.callback_queue_name)

    def delivery_events_source(self) -> dict[str, Any]:
        return _source(self.delivery_events_queue_arn, self.delivery_events_queue_name)


def _source(arn: str, name: str) -> dict[str, Any]:
    return {"queue_arn": arn} if arn else {"queue": name}


class CallbackPolicy(Policy):
    """The status callbacks' delivery: which private hosts a URL may name, how long a try lasts, how long to retry."""

    allowed_hosts: CommaList = env(
        "CALLBACK_ALLOWED_HOSTS", (), "Comma-separated host names (or IP literals) a callback URL may name even "
        "though they resolve to a private, loopback, link-local or otherwise non-public address; every other "
        "host must resolve to public addresses only (docs/security.md#status-callbacks).")
    timeout_s: float = env("CALLBACK_TIMEOUT_S", 5.0, "The whole callback POST (connect, TLS, send, answer) ends "
                           "by then; no 2xx by then is a failed try.", gt=0, le=30)
    retry_base_s: int = env("CALLBACK_RETRY_BASE_S", 30, "A failed callback is tried again after "
                            "min(900, base x 2^(attempt-1)) s, until CALLBACK_RETRY_FOR_S have passed since its "
                            "first try; then it goes to the callbacks DLQ.", ge=1, le=900)
    retry_for_s: int = env("CALLBACK_RETRY_FOR_S", 86_400, "", ge=60, le=14 * 86400)


class ClientDefaults(Policy):
    """The client registry's: the limits of a client that sets none, and how long the registry is kept."""

    max_age_s: int = env("CLIENTS_MAX_AGE_S", 60, "How long the API keeps the client registry before reading it "
                         "again: a new key or client takes effect within this time.", ge=1, le=3600)
    rate_limit: int = env("CLIENT_RATE_LIMIT", 250, "Per-client limits unless the registry sets its own: accepted "
                          "requests in any 1 s, and per UTC day.", ge=1, le=100_000)
    daily_quota: int = env("CLIENT_DAILY_QUOTA", 1_000_000, "", ge=1, le=10**9)


class Retention(Policy):
    """How long records, texts and idempotency keys are kept (the stores' TTLs)."""

    idempotency_ttl_s: int = env("IDEMPOTENCY_TTL_S", 86400, "How long an Idempotency-Key is remembered, in "
                                 "seconds.", ge=60, le=30 * 86400)
    retention_days: int = env("RETENTION_DAYS", 90, "Requests and provider answers are deleted (DynamoDB TTL) this "
                              "many days after they were created.", ge=1, le=3650)
    text_retention_days: int = env("TEXT_RETENTION_DAYS", 7, "A message's text is removed this many days after "
                                   "its delivery ended (sent, failed); the rest of the record stays.", ge=1,
                                   le=3650)

    @property
    def retention_s(self) -> int:
        return self.retention_days * DAY_S

    @property
    def text_retention_s(self) -> int:
        return self.text_retention_days * DAY_S


def config_problem(error, groups: frozenset[str] = frozenset()) -> str:
    """One validation error as ``VARIABLE: message``: loc and msg only (the input could hold a provider's api_key);
    a group's name (``routing``) is left out of the location, which then names the variable."""
    where = ".".join(str(part) for part in error["loc"] if part not in groups) or "SMS_PROVIDERS"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"
