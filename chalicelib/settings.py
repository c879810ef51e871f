"""Settings, read lazily from the environment into one typed, frozen object.

``chalice.test.Client`` patches the stage environment only for the length of an invoke,
so nothing here runs at import time: ``get_settings()`` reads the environment on every
call and re-parses only when a variable it uses has changed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.errors import ConfigurationError

DEFAULT_PROVIDERS = [
    {"name": "alpha", "url": "http://127.0.0.1:9001/send", "rate_limit": 50, "weight": 1},
    {"name": "beta", "url": "http://127.0.0.1:9002/send", "rate_limit": 50, "weight": 1},
    {"name": "gamma", "url": "http://127.0.0.1:9003/send", "rate_limit": 50, "weight": 1},
]


class ProviderConfig(BaseModel):
    """One upstream provider, as an entry of ``SMS_PROVIDERS``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    url: str = Field(pattern=r"^https?://")
    rate_limit: int = Field(default=50, ge=1, le=100_000)
    weight: int = Field(default=1, ge=1, le=1000)
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    api_key: str | None = Field(default=None, repr=False)
    kind: Literal["http-json"] = "http-json"


# Every variable the gateway reads, with its default. `.env.example` mirrors this table.
ENV_DEFAULTS: dict[str, str] = {
    "SMS_PROVIDERS": "",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "REDIS_KEY_PREFIX": "smsgw",
    "API_KEYS": "",
    "API_KEYS_SECRET_ID": "",
    "PROVIDER_KEYS_SECRET_ID": "",
    "PORT": "8000",
    "MAX_RETRIES": "5",
    "HEALTH_WINDOW_S": "300",
    "HEALTH_FAILURE_RATE": "0.7",
    "HEALTH_MIN_SAMPLES": "10",
    "HEALTH_FAILURE_STREAK": "15",
    "UNHEALTHY_FOR_S": "300",
    "MESSAGE_TTL_S": "3600",
    "RATE_LIMIT_GUARD_MS": "25",
    "SLOT_WAIT_MAX_MS": "1500",
    "CLAIM_LEASE_S": "60",
    "REQUESTS_TABLE": "sms_requests",
    "RESPONSES_TABLE": "sms_responses",
    "HEALTH_TABLE": "provider_health",
    "IDEMPOTENCY_TABLE": "sms_idempotency",
    "DISPATCH_QUEUE_NAME": "sms-dispatch",
    "DISPATCH_QUEUE_URL": "",
    "AWS_DEFAULT_REGION": "us-east-1",
    "DEFAULT_REGION": "",
    "CORS_ALLOW_ORIGIN": "",
    "MAX_BODY_BYTES": "16384",
    "IDEMPOTENCY_TTL_S": "86400",
    "LOG_LEVEL": "INFO",  # read by the Powertools Logger itself
}


@dataclass(frozen=True)
class Settings:
    providers: tuple[ProviderConfig, ...]
    redis_url: str
    redis_key_prefix: str
    api_keys: tuple[str, ...]
    api_keys_secret_id: str
    provider_keys_secret_id: str
    port: int
    max_retries: int
    health_window_s: int
    health_failure_rate: float
    health_min_samples: int
    health_failure_streak: int
    unhealthy_for_s: int
    message_ttl_s: int
    rate_limit_guard_ms: int
    slot_wait_max_ms: int
    claim_lease_s: int
    requests_table: str
    responses_table: str
    health_table: str
    idempotency_table: str
    dispatch_queue_name: str
    dispatch_queue_url: str
    aws_region: str
    default_region: str | None
    cors_allow_origin: str
    max_body_bytes: int
    idempotency_ttl_s: int

    def provider(self, name: str) -> ProviderConfig:
        for provider in self.providers:
            if provider.name == name:
                return provider
        raise KeyError(name)


def _number(env: dict[str, str], name: str, kind: type, low: float, high: float):
    raw = env[name]
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a {kind.__name__}, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low} and {high}, got {raw!r}")
    return value


def _providers(raw: str) -> tuple[ProviderConfig, ...]:
    try:
        entries = json.loads(raw) if raw.strip() else DEFAULT_PROVIDERS
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"SMS_PROVIDERS is not valid JSON: {exc}") from None
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError("SMS_PROVIDERS must be a non-empty JSON list of providers")
    try:
        providers = tuple(ProviderConfig.model_validate(entry) for entry in entries)
    except ValidationError as exc:
        # loc and msg only: the input values could hold a provider's api_key
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
        raise ConfigurationError(f"SMS_PROVIDERS has an invalid provider: {problems}") from None
    names = [p.name for p in providers]
    if len(set(names)) != len(names):
        raise ConfigurationError("SMS_PROVIDERS has two providers with the same name")
    return providers


@lru_cache(maxsize=8)
def _parse(items: tuple[tuple[str, str], ...]) -> Settings:
    env = dict(items)
    n = _number
    return Settings(
        providers=_providers(env["SMS_PROVIDERS"]),
        redis_url=env["REDIS_URL"],
        redis_key_prefix=env["REDIS_KEY_PREFIX"],
        api_keys=tuple(k.strip() for k in env["API_KEYS"].split(",") if k.strip()),
        api_keys_secret_id=env["API_KEYS_SECRET_ID"],
        provider_keys_secret_id=env["PROVIDER_KEYS_SECRET_ID"],
        port=n(env, "PORT", int, 1, 65535),
        max_retries=n(env, "MAX_RETRIES", int, 0, 20),
        health_window_s=n(env, "HEALTH_WINDOW_S", int, 1, 86400),
        health_failure_rate=n(env, "HEALTH_FAILURE_RATE", float, 0.0, 1.0),
        health_min_samples=n(env, "HEALTH_MIN_SAMPLES", int, 1, 10**9),
        health_failure_streak=n(env, "HEALTH_FAILURE_STREAK", int, 0, 10**9),
        unhealthy_for_s=n(env, "UNHEALTHY_FOR_S", int, 1, 86400),
        message_ttl_s=n(env, "MESSAGE_TTL_S", int, 1, 14 * 86400),
        rate_limit_guard_ms=n(env, "RATE_LIMIT_GUARD_MS", int, 0, 1000),
        slot_wait_max_ms=n(env, "SLOT_WAIT_MAX_MS", int, 0, 60_000),
        claim_lease_s=n(env, "CLAIM_LEASE_S", int, 1, 3600),
        requests_table=env["REQUESTS_TABLE"],
        responses_table=env["RESPONSES_TABLE"],
        health_table=env["HEALTH_TABLE"],
        idempotency_table=env["IDEMPOTENCY_TABLE"],
        dispatch_queue_name=env["DISPATCH_QUEUE_NAME"],
        dispatch_queue_url=env["DISPATCH_QUEUE_URL"],
        aws_region=env["AWS_DEFAULT_REGION"],
        default_region=env["DEFAULT_REGION"].upper() or None,
        cors_allow_origin=env["CORS_ALLOW_ORIGIN"],
        max_body_bytes=n(env, "MAX_BODY_BYTES", int, 256, 10 * 1024 * 1024),
        idempotency_ttl_s=n(env, "IDEMPOTENCY_TTL_S", int, 60, 30 * 86400),
    )


def get_settings(environ: dict[str, str] | None = None) -> Settings:
    """The settings for the current environment (cheap: parsed once per distinct environment)."""
    source = os.environ if environ is None else environ
    return _parse(tuple((name, source.get(name) or default) for name, default in ENV_DEFAULTS.items()))
