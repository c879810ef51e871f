"""Settings: every variable the gateway reads, declared once, with its default, bounds and meaning.

Each field of ``Settings`` is one environment variable (its alias). The defaults, the bounds and the
descriptions here are the only ones: ``.env.example`` is rendered from this model (a test keeps the
file in step), and services take their values from it, never from defaults of their own.

``chalice.test.Client`` patches the stage environment only for the length of an invoke, so nothing
here runs at import time: ``get_settings()`` reads the environment on every call and re-parses only
when a variable it uses has changed.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Annotated, Any, Literal, Union

from phonenumbers import PhoneNumberType
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from chalicelib.errors import ConfigurationError
from chalicelib.providers import ProviderEntry
from chalicelib.vendors import KINDS
from chalicelib.vendors.http_json import HttpJsonConfig

LOCAL_STAGE = "local"
# The three provider simulators the local stack starts; only ever the default in the local stage.
LOCAL_SIMULATORS = (
    {"name": "alpha", "url": "http://127.0.0.1:9001/send", "rate_limit": 50, "weight": 1},
    {"name": "beta", "url": "http://127.0.0.1:9002/send", "rate_limit": 50, "weight": 1},
    {"name": "gamma", "url": "http://127.0.0.1:9003/send", "rate_limit": 50, "weight": 1},
)


def _kind_of(entry: Any) -> str:
    return entry.get("kind", "http-json") if isinstance(entry, dict) else getattr(entry, "kind", "http-json")


# One SMS_PROVIDERS entry: its "kind" picks the vendor's fields, the union of every kind of the registry
# (chalicelib/vendors/, each declared beside its adapter); an entry without "kind" is http-json, as before there
# were other kinds.
ProviderConfig = Annotated[
    Union[tuple(Annotated[kind.config, Tag(kind.name)] for kind in KINDS)],  # noqa: UP007 (built from a tuple)
    Discriminator(_kind_of),
]
_PROVIDER_ENTRY = TypeAdapter(ProviderConfig)


def _provider_entries(raw: Any) -> Any:
    """SMS_PROVIDERS, each entry validated on its own so that a problem names the provider and the field:
    ``provider 'tw' (twilio): account_sid: Field required``. Messages never carry the values (secrets)."""
    entries = _json_list(raw)
    if not isinstance(entries, list):
        return entries  # None (unset) or a wrong type: the field's own validation says so
    parsed = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"entry {index} is not a JSON object")
        entry = {"kind": "http-json", **entry}
        try:
            parsed.append(_PROVIDER_ENTRY.validate_python(entry))
        except ValidationError as exc:
            name = entry.get("name") if isinstance(entry.get("name"), str) else f"#{index}"
            problems = "; ".join(_entry_problem(error) for error in exc.errors(include_input=False, include_url=False))
            raise ValueError(f"provider {name!r} ({entry['kind']}): {problems}") from None
    return parsed


def _entry_problem(error) -> str:
    if error["type"] == "union_tag_invalid":
        return f"kind: must be one of {error['ctx']['expected_tags']}"
    # The first loc part of a tagged union is the kind itself: left out.
    loc = ".".join(str(part) for part in error["loc"][1:])
    message = error["msg"].removeprefix("Value error, ")
    return f"{loc}: {message}" if loc else message


def _json_list(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw) if raw.strip() else None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None


def _comma_list(raw: Any) -> Any:
    return tuple(part.strip() for part in raw.split(",") if part.strip()) if isinstance(raw, str) else raw


def _upper_or_none(raw: Any) -> Any:
    return (raw.strip().upper() or None) if isinstance(raw, str) else raw


def env(name: str, default: Any, doc: str, **bounds: Any) -> Any:
    """One setting: the environment variable ``name``, its default and what it means (for .env.example)."""
    return Field(default, alias=name, description=doc, **bounds)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    stage: str = env("STAGE", "", "Deployment stage (chalice sets it per stage). Only `local` takes local "
                     "defaults: the simulators when SMS_PROVIDERS is empty.", pattern=r"^[a-z0-9-]{0,32}$")
    providers: Annotated[tuple[ProviderConfig, ...] | None, BeforeValidator(_provider_entries)] = env(
        "SMS_PROVIDERS", None, "JSON list of providers; each has name, kind (http-json, twilio, vonage, aws), "
        "rate_limit (per any 1 s), weight, timeout_s, secret_id and the fields of its kind (docs/providers.md). "
        "Empty = three http-json providers alpha/beta/gamma on 127.0.0.1:9001-9003, in the local stage only "
        "(make run always sets it to the simulators it starts); elsewhere it is required.")
    redis_url: str = env("REDIS_URL", "redis://127.0.0.1:6379/0", "Redis for rate and health keys.",
                         pattern=r"^(redis|rediss|unix)://")
    redis_key_prefix: str = env("REDIS_KEY_PREFIX", "smsgw", "Prefix (hash tag) of every routing key in Redis; "
                                "change it to run two gateways on one Redis.", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    api_keys: Annotated[tuple[str, ...], BeforeValidator(_comma_list)] = env(
        "API_KEYS", (), "Comma-separated client API keys: each key is a client of its own with the default "
        "limits (keys shorter than 32 characters only in the local stage). Empty = the local stack makes a dev "
        "key and prints it.")
    clients: str = env("CLIENTS", "", "The client registry document (JSON: clients, their key hashes, roles, "
                       "limits, senders, countries; see docs/security.md), used instead of API_KEYS.")
    api_keys_secret_id: str = env("API_KEYS_SECRET_ID", "", "On AWS: the Secrets Manager secret holding the client "
                                  "registry document (a plain JSON list of keys still works), used instead of "
                                  "CLIENTS and API_KEYS.")
    clients_max_age_s: int = env("CLIENTS_MAX_AGE_S", 60, "How long the API keeps the client registry before "
                                 "reading it again: a new key or client takes effect within this time.",
                                 ge=1, le=3600)
    client_rate_limit: int = env("CLIENT_RATE_LIMIT", 250, "Per-client limits unless the registry sets its own: "
                                 "accepted requests in any 1 s, and per UTC day.", ge=1, le=100_000)
    client_daily_quota: int = env("CLIENT_DAILY_QUOTA", 1_000_000, "", ge=1, le=10**9)
    provider_keys_secret_id: str = env("PROVIDER_KEYS_SECRET_ID", "", "On AWS: Secrets Manager secret holding "
                                       "every provider's credentials as JSON {\"<name>\": {\"auth_token\": ...}} "
                                       "(or {\"<name>\": \"<api_key>\"} for http-json); an entry's own secret_id "
                                       "wins over it.")
    provider_secret_max_age_s: int = env("PROVIDER_SECRET_MAX_AGE_S", 300, "Provider secrets read from Secrets "
                                         "Manager are read again once older than this, so a rotation is picked up "
                                         "without a redeploy.", ge=1, le=86400)
    port: int = env("PORT", 8000, "Local HTTP API port.", ge=1, le=65535)
    max_retries: int = env("MAX_RETRIES", 5, "Retries after the first attempt (delays 1, 2, 4, 8, 16 s).",
                           ge=0, le=20)
    health_window_s: int = env("HEALTH_WINDOW_S", 300, "Health rule: a failure rate above HEALTH_FAILURE_RATE "
                               "over HEALTH_WINDOW_S seconds, with at least HEALTH_MIN_SAMPLES outcomes, makes "
                               "a provider unhealthy for UNHEALTHY_FOR_S seconds.", ge=1, le=86400)
    health_failure_rate: float = env("HEALTH_FAILURE_RATE", 0.7, "", ge=0.0, le=1.0)
    health_min_samples: int = env("HEALTH_MIN_SAMPLES", 10, "", ge=1, le=10**9)
    unhealthy_for_s: int = env("UNHEALTHY_FOR_S", 300, "", ge=1, le=86400)
    health_failure_streak: int = env("HEALTH_FAILURE_STREAK", 15, "Failures in a row that make a provider "
                                     "unhealthy at once, whatever its rate (0 = off): a provider that goes hard "
                                     "down stops getting traffic within a fraction of a second instead of after "
                                     "its history ages out.", ge=0, le=10**9)
    message_ttl_s: int = env("MESSAGE_TTL_S", 3600, "A message not sent within this many seconds of acceptance "
                             "ends failed (reason expired).", ge=1, le=14 * 86400)
    rate_limit_guard_ms: int = env("RATE_LIMIT_GUARD_MS", 10, "Least jitter guard: milliseconds added to the 1 s "
                                   "rate window, so that sends arriving spread by up to that much never show "
                                   "limit+1 at the provider. Each provider's guard grows from its measured arrival "
                                   "spread, up to RATE_LIMIT_GUARD_MAX_MS; GET /api/providers shows it.",
                                   ge=0, le=1000)
    rate_limit_guard_max_ms: int = env("RATE_LIMIT_GUARD_MAX_MS", 250, "Largest jitter guard, whatever the measured "
                                       "spread (ms).", ge=0, le=1000)
    slot_wait_max_ms: int = env("SLOT_WAIT_MAX_MS", 2000, "Longest a dispatcher waits for a booked send time; when "
                                "every provider's earliest free time is further off, the message waits in the "
                                "queue instead (its visibility is extended).", ge=0, le=60_000)
    claim_lease_s: int = env("CLAIM_LEASE_S", 60, "How long a dispatcher's claim on an attempt lasts; after it, "
                             "another dispatcher may take over.", ge=1, le=3600)
    sweep_after_s: int = env("SWEEP_AFTER_S", 900, "An open request that nothing moved on for this many seconds "
                             "is picked up by the sweeper (queued again, or expired).", ge=60, le=86400)
    requests_table: str = env("REQUESTS_TABLE", "sms_requests", "DynamoDB table names.", min_length=3)
    responses_table: str = env("RESPONSES_TABLE", "sms_responses", "", min_length=3)
    health_table: str = env("HEALTH_TABLE", "provider_health", "", min_length=3)
    idempotency_table: str = env("IDEMPOTENCY_TABLE", "sms_idempotency", "", min_length=3)
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
    callback_allowed_hosts: Annotated[tuple[str, ...], BeforeValidator(_comma_list)] = env(
        "CALLBACK_ALLOWED_HOSTS", (), "Comma-separated host names (or IP literals) a callback URL may name even "
        "though they resolve to a private, loopback, link-local or otherwise non-public address; every other "
        "host must resolve to public addresses only (docs/security.md#status-callbacks).")
    callback_timeout_s: float = env("CALLBACK_TIMEOUT_S", 5.0, "The whole callback POST (connect, TLS, send, "
                                    "answer) ends by then; no 2xx by then is a failed try.", gt=0, le=30)
    callback_retry_base_s: int = env("CALLBACK_RETRY_BASE_S", 30, "A failed callback is tried again after "
                                     "min(900, base x 2^(attempt-1)) s, until CALLBACK_RETRY_FOR_S have passed "
                                     "since its first try; then it goes to the callbacks DLQ.", ge=1, le=900)
    callback_retry_for_s: int = env("CALLBACK_RETRY_FOR_S", 86_400, "", ge=60, le=14 * 86400)
    api_throttle_rate: int = env("API_THROTTLE_RATE", 0, "Deploy time: API Gateway's throttle for the whole stage "
                                 "(requests/s, steady and burst), in front of the per-client limits; 0 = API "
                                 "Gateway's account default.", ge=0, le=100_000)
    api_throttle_burst: int = env("API_THROTTLE_BURST", 0, "", ge=0, le=100_000)
    aws_region: str = env("AWS_DEFAULT_REGION", "us-east-1", "AWS region.", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    default_region: Annotated[str | None, BeforeValidator(_upper_or_none)] = env(
        "DEFAULT_REGION", None, "Region for national phone formats (e.g. US); empty = numbers must start with +.",
        pattern=r"^[A-Z]{2}$")
    cors_allow_origin: str = env("CORS_ALLOW_ORIGIN", "", "Browser origins allowed by CORS: \"*\" or a "
                                 "comma-separated list; empty = no CORS headers.")
    allowed_number_types: Annotated[tuple[str, ...], BeforeValidator(_comma_list)] = env(
        "ALLOWED_NUMBER_TYPES", ("MOBILE", "FIXED_LINE_OR_MOBILE", "VOIP", "UNKNOWN"), "Destination number types "
        "(libphonenumber's) that may receive an SMS; any other (PREMIUM_RATE, SHARED_COST, TOLL_FREE, FIXED_LINE, "
        "PAGER, UAN, VOICEMAIL, PERSONAL_NUMBER) is refused with a field error naming the type.")
    max_body_bytes: int = env("MAX_BODY_BYTES", 16384, "Largest accepted request body, in bytes.",
                              ge=256, le=10 * 1024 * 1024)
    idempotency_ttl_s: int = env("IDEMPOTENCY_TTL_S", 86400, "How long an Idempotency-Key is remembered, in "
                                 "seconds.", ge=60, le=30 * 86400)
    idempotency_takeover_s: int = env("IDEMPOTENCY_TAKEOVER_S", 30, "An Idempotency-Key reserved this long ago "
                                      "with no request behind it (the API died in between) is taken over by the "
                                      "next call with that key; keep it above the API function's timeout.",
                                      ge=11, le=3600)
    retention_days: int = env("RETENTION_DAYS", 90, "Requests and provider answers are deleted (DynamoDB TTL) this "
                              "many days after they were created.", ge=1, le=3650)
    text_retention_days: int = env("TEXT_RETENTION_DAYS", 7, "A message's text is removed this many days after "
                                   "its delivery ended (sent, failed); the rest of the record stays.", ge=1,
                                   le=3650)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = env(
        "LOG_LEVEL", "INFO", "Log level (DEBUG, INFO, WARNING, ERROR); read by the Powertools logger too.")

    @field_validator("rate_limit_guard_max_ms")
    @classmethod
    def _guard_bounds_in_order(cls, value: int, info: ValidationInfo) -> int:
        least = info.data.get("rate_limit_guard_ms")
        if least is not None and value < least:
            raise ValueError("must not be below RATE_LIMIT_GUARD_MS")
        return value

    @model_validator(mode="after")
    def _providers_for_the_stage(self) -> Settings:
        if self.providers == ():
            raise ValueError("SMS_PROVIDERS must name at least one provider")
        if self.providers is None:
            if self.stage != LOCAL_STAGE:
                raise ValueError("SMS_PROVIDERS is required outside the local stage (STAGE=local): "
                                 "without it the gateway would send to 127.0.0.1")
            object.__setattr__(self, "providers", tuple(HttpJsonConfig(**entry) for entry in LOCAL_SIMULATORS))
        names = [p.name for p in self.providers]
        if len(set(names)) != len(names):
            raise ValueError("SMS_PROVIDERS has two providers with the same name")
        if not self.is_local:  # credentials travel with every send: never in clear outside a developer's machine
            for provider in self.providers:
                if provider.endpoint and not provider.endpoint.startswith("https://"):
                    raise ValueError(f"provider {provider.name!r} ({provider.kind}): {provider.ENDPOINT_FIELD} must be "
                                     "https:// outside the local stage")
        if not self.provider_keys_secret_id:  # else the shared secret may hold what an entry lacks
            for provider in self.providers:
                missing = [] if provider.secret_id else provider.missing_secrets(_inline_secrets(provider))
                if missing:
                    raise ValueError(f"provider {provider.name!r} ({provider.kind}): {', '.join(missing)}: required "
                                     "in the entry, or in the secret its secret_id names")
        return self

    @field_validator("allowed_number_types")
    @classmethod
    def _known_number_types(cls, types: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in types if not hasattr(PhoneNumberType, name)]
        if unknown:
            raise ValueError(f"unknown number types {unknown}; see phonenumbers.PhoneNumberType")
        return types

    @property
    def is_local(self) -> bool:
        return self.stage == LOCAL_STAGE

    def provider(self, name: str) -> ProviderEntry:
        for provider in self.providers:
            if provider.name == name:
                return provider
        raise KeyError(name)


def _inline_secrets(provider) -> frozenset[str]:
    return frozenset(name for name in provider.SECRET_FIELDS if getattr(provider, name) is not None)


ENV_NAMES: tuple[str, ...] = tuple(field.alias for field in Settings.model_fields.values())

# The settings app.py's decorators read when chalice imports it (deploy, package, local: chalice sets the
# stage's environment_variables first), declared by the fields above. Parsed on their own, because at
# import time the rest of the environment may be incomplete (a test importing app.py has no stage).
EventSourceSettings = create_model(
    "EventSourceSettings",
    __config__=ConfigDict(frozen=True, extra="ignore", populate_by_name=True),
    **{name: (Settings.model_fields[name].annotation, Settings.model_fields[name])
       for name in ("dispatch_queue_name", "dispatch_queue_arn", "dispatcher_max_concurrency", "callback_queue_name",
                    "callback_queue_arn", "delivery_events_queue_name", "delivery_events_queue_arn")},
)


def _event_source_settings(environ: dict[str, str] | None) -> Any:
    source = os.environ if environ is None else environ
    try:
        return EventSourceSettings.model_validate({k: v for k, v in source.items() if v})
    except ValidationError as exc:
        raise ConfigurationError(f"invalid configuration: {_problem(exc.errors()[0])}") from None


def callback_event_source(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The queue of the callbacks function's SQS event source, as on_sqs_message arguments."""
    settings = _event_source_settings(environ)
    return {"queue_arn": settings.callback_queue_arn} if settings.callback_queue_arn else {
        "queue": settings.callback_queue_name}


def dispatch_event_source(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The queue and concurrency of the dispatcher's SQS event source, as on_sqs_message arguments."""
    settings = _event_source_settings(environ)
    queue = {"queue_arn": settings.dispatch_queue_arn} if settings.dispatch_queue_arn else {
        "queue": settings.dispatch_queue_name}
    return {**queue, "maximum_concurrency": settings.dispatcher_max_concurrency or None}


def delivery_events_source(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The queue of the delivery events handler's SQS event source, as on_sqs_message arguments."""
    source = os.environ if environ is None else environ
    try:
        settings = EventSourceSettings.model_validate({k: v for k, v in source.items() if v})
    except ValidationError as exc:
        raise ConfigurationError(f"invalid configuration: {_problem(exc.errors()[0])}") from None
    if settings.delivery_events_queue_arn:
        return {"queue_arn": settings.delivery_events_queue_arn}
    return {"queue": settings.delivery_events_queue_name}


def as_env_value(value: Any) -> str:
    """A default as it is written in an environment: empty for none, lists comma-separated."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def env_defaults() -> dict[str, str]:
    """Each variable with its default as it is written in an environment."""
    return {field.alias: as_env_value(field.default) for field in Settings.model_fields.values()}


def _problem(error) -> str:
    # loc and msg only: the input could hold a provider's api_key.
    where = ".".join(str(part) for part in error["loc"]) or "SMS_PROVIDERS"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"


@lru_cache(maxsize=8)
def _parse(items: tuple[tuple[str, str], ...]) -> Settings:
    try:
        return Settings.model_validate(dict(items))
    except ValidationError as exc:
        problems = "; ".join(_problem(error) for error in exc.errors(include_input=False, include_url=False))
        raise ConfigurationError(f"invalid configuration: {problems}") from None


def get_settings(environ: dict[str, str] | None = None) -> Settings:
    """The settings for the current environment (cheap: parsed once per distinct environment).

    An empty variable counts as unset: it takes the default."""
    source = os.environ if environ is None else environ
    return _parse(tuple((name, source[name]) for name in ENV_NAMES if source.get(name)))
