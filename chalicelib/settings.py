"""Settings: every variable the gateway reads, declared once, with its default, bounds and meaning.

Each field of ``Settings`` is one environment variable (its alias), or a group of them: a policy object
(policies.py: ``routing``, ``tables``, ``queues``, ``callbacks``, ``client_defaults``, ``retention``) that
reads its own variables from the same flat environment and is handed whole to the service that owns it.
The defaults, the bounds and the descriptions are the only ones: ``.env.example`` is rendered from them
(localdev/env_example.py; a test keeps the file in step), and services take their values from them, never
from defaults of their own.

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
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from chalicelib.errors import ConfigurationError
from chalicelib.local_stage import LOCAL_STAGE, LOCAL_STAGE_PROVIDERS
from chalicelib.policies import (
    CallbackPolicy,
    ClientDefaults,
    CommaList,
    Policy,
    QueueNames,
    Retention,
    RoutingPolicy,
    TableNames,
    config_problem,
    env,
)
from chalicelib.providers import ProviderEntry
from chalicelib.vendors import DEFAULT_KIND, KINDS

__all__ = ["LOCAL_STAGE", "CallbackPolicy", "ClientDefaults", "ConfigurationError", "QueueNames", "Retention",
           "RoutingPolicy", "Settings", "TableNames", "env", "get_settings"]


def _kind_of(entry: Any) -> str:
    return entry.get("kind", DEFAULT_KIND) if isinstance(entry, dict) else getattr(entry, "kind", DEFAULT_KIND)


# One SMS_PROVIDERS entry: its "kind" picks the vendor's fields, the union of every kind of the registry
# (chalicelib/vendors/, each declared beside its adapter); an entry without "kind" is the registry's first
# (DEFAULT_KIND, http-json), as before there were other kinds.
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
        entry = {"kind": DEFAULT_KIND, **entry}
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


def _upper_or_none(raw: Any) -> Any:
    return (raw.strip().upper() or None) if isinstance(raw, str) else raw


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
    api_keys: CommaList = env(
        "API_KEYS", (), "Comma-separated client API keys: each key is a client of its own with the default "
        "limits (keys shorter than 32 characters only in the local stage). Empty = the local stack makes a dev "
        "key and prints it.")
    clients: str = env("CLIENTS", "", "The client registry document (JSON: clients, their key hashes, roles, "
                       "limits, senders, countries; see docs/security.md), used instead of API_KEYS.")
    api_keys_secret_id: str = env("API_KEYS_SECRET_ID", "", "On AWS: the Secrets Manager secret holding the client "
                                  "registry document (a plain JSON list of keys still works), used instead of "
                                  "CLIENTS and API_KEYS.")
    client_defaults: ClientDefaults
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
    routing: RoutingPolicy
    message_ttl_s: int = env("MESSAGE_TTL_S", 3600, "A message not sent within this many seconds of acceptance "
                             "ends failed (reason expired).", ge=1, le=14 * 86400)
    claim_lease_s: int = env("CLAIM_LEASE_S", 60, "How long a dispatcher's claim on an attempt lasts; after it, "
                             "another dispatcher may take over.", ge=1, le=3600)
    sweep_after_s: int = env("SWEEP_AFTER_S", 900, "An open request that nothing moved on for this many seconds "
                             "is picked up by the sweeper (queued again, or expired).", ge=60, le=86400)
    tables: TableNames
    queues: QueueNames
    callbacks: CallbackPolicy
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
    allowed_number_types: CommaList = env(
        "ALLOWED_NUMBER_TYPES", ("MOBILE", "FIXED_LINE_OR_MOBILE", "VOIP", "UNKNOWN"), "Destination number types "
        "(libphonenumber's) that may receive an SMS; any other (PREMIUM_RATE, SHARED_COST, TOLL_FREE, FIXED_LINE, "
        "PAGER, UAN, VOICEMAIL, PERSONAL_NUMBER) is refused with a field error naming the type.")
    max_body_bytes: int = env("MAX_BODY_BYTES", 16384, "Largest accepted request body, in bytes.",
                              ge=256, le=10 * 1024 * 1024)
    retention: Retention
    idempotency_takeover_s: int = env("IDEMPOTENCY_TAKEOVER_S", 30, "An Idempotency-Key reserved this long ago "
                                      "with no request behind it (the API died in between) is taken over by the "
                                      "next call with that key; keep it above the API function's timeout.",
                                      ge=11, le=3600)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = env(
        "LOG_LEVEL", "INFO", "Log level (DEBUG, INFO, WARNING, ERROR); read by the Powertools logger too.")

    @model_validator(mode="before")
    @classmethod
    def _each_group_reads_the_environment(cls, data: Any) -> Any:
        """The flat environment goes to every group as it is; each takes its own variables from it."""
        if isinstance(data, dict):
            data = {**{name: data for name in GROUPS if name not in data}, **data}
        return data

    @model_validator(mode="after")
    def _providers_for_the_stage(self) -> Settings:
        if self.providers == ():
            raise ValueError("SMS_PROVIDERS must name at least one provider")
        if self.providers is None:
            if self.stage != LOCAL_STAGE:
                raise ValueError("SMS_PROVIDERS is required outside the local stage (STAGE=local): "
                                 "without it the gateway would send to 127.0.0.1")
            object.__setattr__(self, "providers", tuple(_provider_entries(list(LOCAL_STAGE_PROVIDERS))))
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


# The fields that are groups of settings (a policy object each), by the name Settings has them under.
GROUPS: dict[str, type[Policy]] = {name: field.annotation for name, field in Settings.model_fields.items()
                                   if isinstance(field.annotation, type) and issubclass(field.annotation, Policy)}


def setting_fields() -> tuple[tuple[str | None, FieldInfo], ...]:
    """Every variable's field, in declaration order, with the group it belongs to (None: Settings' own)."""
    fields: list[tuple[str | None, FieldInfo]] = []
    for name, field in Settings.model_fields.items():
        if name in GROUPS:
            fields += [(name, inner) for inner in GROUPS[name].model_fields.values()]
        else:
            fields.append((None, field))
    return tuple(fields)


ENV_NAMES: tuple[str, ...] = tuple(field.alias for _, field in setting_fields())
# Each variable's place: (group or None, field name).
_PLACES = {field.alias: (None, name) for name, field in Settings.model_fields.items() if name not in GROUPS} | {
    field.alias: (group, name) for group, model in GROUPS.items() for name, field in model.model_fields.items()}


def value_of(settings: Settings, variable: str) -> Any:
    """The value ``settings`` has for the environment variable ``variable`` (KeyError: not a setting)."""
    group, name = _PLACES[variable]
    return getattr(getattr(settings, group) if group else settings, name)


def config_problems(exc: ValidationError) -> str:
    """Every problem, each naming its variable (a group's name left out: ``RATE_LIMIT_GUARD_MAX_MS: ...``)."""
    return "; ".join(config_problem(error, frozenset(GROUPS))
                     for error in exc.errors(include_input=False, include_url=False))


@lru_cache(maxsize=8)
def _parse(items: tuple[tuple[str, str], ...]) -> Settings:
    try:
        return Settings.model_validate(dict(items))
    except ValidationError as exc:
        raise ConfigurationError(f"invalid configuration: {config_problems(exc)}") from None


def get_settings(environ: dict[str, str] | None = None) -> Settings:
    """The settings for the current environment (cheap: parsed once per distinct environment).

    An empty variable counts as unset: it takes the default."""
    source = os.environ if environ is None else environ
    return _parse(tuple((name, source[name]) for name in ENV_NAMES if source.get(name)))
