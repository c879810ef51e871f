"""Memoized getters that wire the real collaborators (chalice's ``get_app_db()`` pattern).

Nothing here runs at import time. Each getter is keyed on the current Settings, so a changed
environment (tests, ``chalice.test.Client``) gets fresh objects, and an unchanged one reuses
its clients and connection pools across Lambda invocations.
"""

from __future__ import annotations

import json
import time
from functools import lru_cache

import boto3
import httpx
import redis
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from chalicelib.auth import ApiKeyAuthenticator
from chalicelib.dispatch_queue import DispatchQueue
from chalicelib.dispatcher import Dispatcher, RetryPolicy
from chalicelib.errors import ConfigurationError, DependencyUnavailable
from chalicelib.intake import Intake
from chalicelib.models import bind_models
from chalicelib.providers import build_providers
from chalicelib.request_store import RequestStore
from chalicelib.router import Router
from chalicelib.settings import ProviderConfig, Settings, get_settings
from chalicelib.sweeper import Sweeper

# Short timeouts: a dependency that does not answer must turn into a 503 within about a second.
AWS_CONFIG = Config(connect_timeout=0.5, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"},
                    max_pool_connections=50)


@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    # One quick retry (a restarted Redis, a dropped pooled connection), then DependencyUnavailable:
    # redis-py's default backoff would hold a request for seconds while Redis is down.
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=0.5, health_check_interval=10,
                                retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1))


@lru_cache(maxsize=1)
def _http() -> httpx.Client:
    return httpx.Client(limits=httpx.Limits(max_connections=200, max_keepalive_connections=100))


@lru_cache(maxsize=4)
def _aws_client(service: str, region: str):
    # boto3 reads AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> itself: one code path for AWS and emulators.
    return boto3.session.Session().client(service, region_name=region, config=AWS_CONFIG)


@lru_cache(maxsize=4)
def _store(settings: Settings) -> RequestStore:
    bind_models(settings, endpoint_url=None)
    return RequestStore(time.time, lease_s=settings.claim_lease_s)


def get_store() -> RequestStore:
    return _store(get_settings())


@lru_cache(maxsize=4)
def _queue(settings: Settings) -> DispatchQueue:
    sqs = _aws_client("sqs", settings.aws_region)
    if settings.dispatch_queue_url:
        return DispatchQueue(sqs, settings.dispatch_queue_url)
    return DispatchQueue.by_name(sqs, settings.dispatch_queue_name)


def get_queue() -> DispatchQueue:
    return _queue(get_settings())


@lru_cache(maxsize=4)
def _router(settings: Settings) -> Router:
    return Router.from_settings(_redis(settings.redis_url), settings)


def get_router() -> Router:
    return _router(get_settings())


@lru_cache(maxsize=4)
def _dispatcher(settings: Settings) -> Dispatcher:
    return Dispatcher(
        router=_router(settings),
        store=_store(settings),
        queue=_queue(settings),
        providers=build_providers(_provider_configs(settings), _http()),
        retry_policy=RetryPolicy(max_retries=settings.max_retries),
        slot_wait_max_ms=settings.slot_wait_max_ms,
        rate_guard_ms=settings.rate_limit_guard_ms,
    )


def get_dispatcher() -> Dispatcher:
    return _dispatcher(get_settings())


@lru_cache(maxsize=4)
def _intake(settings: Settings) -> Intake:
    return Intake(
        _store(settings),
        _queue(settings),
        time.time,
        message_ttl_s=settings.message_ttl_s,
        idempotency_ttl_s=settings.idempotency_ttl_s,
    )


def get_intake() -> Intake:
    return _intake(get_settings())


def get_sweeper() -> Sweeper:
    settings = get_settings()
    return Sweeper(_store(settings), _queue(settings), time.time)


def _secret(settings: Settings, secret_id: str) -> str:
    try:
        return _aws_client("secretsmanager", settings.aws_region).get_secret_value(SecretId=secret_id)["SecretString"]
    except (BotoCoreError, ClientError) as exc:
        raise DependencyUnavailable(f"Secrets Manager unavailable: {type(exc).__name__}") from None


@lru_cache(maxsize=4)
def _authenticator(settings: Settings) -> ApiKeyAuthenticator:
    if settings.api_keys_secret_id:
        return ApiKeyAuthenticator.from_secret(_secret(settings, settings.api_keys_secret_id))
    return ApiKeyAuthenticator(settings.api_keys)


def _provider_configs(settings: Settings) -> tuple[ProviderConfig, ...]:
    """SMS_PROVIDERS, with each provider's api_key from the PROVIDER_KEYS_SECRET_ID secret when set
    (a JSON object {"alpha": "key", ...}): provider keys never sit in config files or the environment."""
    if not settings.provider_keys_secret_id:
        return settings.providers
    try:
        keys = json.loads(_secret(settings, settings.provider_keys_secret_id))
        if not isinstance(keys, dict):
            raise ValueError("not an object")
    except ValueError:
        raise ConfigurationError("PROVIDER_KEYS_SECRET_ID must hold a JSON object {\"provider\": \"key\"}") from None
    return tuple(p.model_copy(update={"api_key": keys.get(p.name, p.api_key)}) for p in settings.providers)


def get_authenticator() -> ApiKeyAuthenticator:
    return _authenticator(get_settings())


def dependency_checks() -> dict:
    """What GET /health probes: one cheap call per dependency."""
    settings = get_settings()

    def dynamodb():
        from chalicelib.models import SmsRequestModel

        _store(settings)
        SmsRequestModel.describe_table()

    def sqs():
        queue = _queue(settings)
        _aws_client("sqs", settings.aws_region).get_queue_attributes(
            QueueUrl=queue.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )

    return {"redis": _redis(settings.redis_url).ping, "dynamodb": dynamodb, "sqs": sqs}
