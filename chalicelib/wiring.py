"""Memoized getters that wire the real collaborators (chalice's ``get_app_db()`` pattern).

Nothing here runs at import time. Each getter is keyed on the current Settings, so a changed
environment (tests, ``chalice.test.Client``) gets fresh objects, and an unchanged one reuses
its clients and connection pools across Lambda invocations. ``reset()`` forgets them all.
"""

from __future__ import annotations

import os
import time
from functools import lru_cache

import httpx
import redis
from botocore.exceptions import BotoCoreError, ClientError
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from chalicelib.aws_deadline import aws_client, bounded
from chalicelib.callbacks import CallbackPublisher
from chalicelib.callbacks.delivery import CallbackDelivery, DeliveryTarget
from chalicelib.callbacks.queue import CallbackQueue
from chalicelib.client_limits import ClientLimiter
from chalicelib.clients import ClientRegistry, Defaults, registry_from_document, registry_from_keys
from chalicelib.dispatch_queue import DispatchQueue
from chalicelib.dispatcher import Dispatcher
from chalicelib.errors import ConfigurationError, DependencyUnavailable
from chalicelib.intake import Intake
from chalicelib.outcomes import OutcomeRecorder
from chalicelib.providers import deadline_client
from chalicelib.providers.secrets import ProviderSecrets, SecretCache
from chalicelib.receipts.applier import ReceiptApplier
from chalicelib.receipts.delivery_events import DeliveryEvents
from chalicelib.receipts.webhooks import WebhookReceiver
from chalicelib.refreshing import Refreshing
from chalicelib.retry_policy import RetryPolicy
from chalicelib.router import Router
from chalicelib.settings import Settings, get_settings
from chalicelib.storage.claims import ClaimLedger
from chalicelib.storage.deliveries import DeliveryResults
from chalicelib.storage.health_snapshots import HealthSnapshots
from chalicelib.storage.idempotency import IdempotencyKeys
from chalicelib.storage.queries import RequestQueries
from chalicelib.storage.records import RequestSnapshot
from chalicelib.storage.requests import RequestStore
from chalicelib.storage.tables import TableNames, Tables, bind_tables
from chalicelib.sweeper import Sweeper
from chalicelib.vendors import build_providers, kind_named

DAY_S = 86400


@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    # One quick retry (a restarted Redis, a dropped pooled connection), then DependencyUnavailable:
    # redis-py's default backoff would hold a request for seconds while Redis is down.
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=0.5, health_check_interval=10,
                                retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1))


@lru_cache(maxsize=1)
def _http() -> httpx.Client:
    # Every provider call on it is bounded by its provider's timeout_s as a whole (providers/deadline.py).
    return deadline_client(max_connections=200, max_keepalive=100)


@lru_cache(maxsize=4)
def _aws_client(service: str, region: str):
    # Every call on it ends before the invocation's deadline (aws_deadline.py).
    return aws_client(service, region)


def tables_for(settings: Settings) -> Tables:
    names = TableNames(requests=settings.requests_table, responses=settings.responses_table,
                       health=settings.health_table, idempotency=settings.idempotency_table)
    # The endpoint boto3 would use (an emulator's, or None on AWS), named explicitly so that tables bound
    # under one endpoint never keep a pooled connection to another.
    host = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None
    return _bounded_tables(bind_tables(names, settings.aws_region, host))


@lru_cache(maxsize=16)
def _bounded_tables(tables: Tables) -> Tables:
    """The tables, each one's DynamoDB client built now and bounded by the invocation's deadline (aws_deadline.py)."""
    for model in tables.connect().all():
        bounded(model._get_connection().connection.client)
    return tables


@lru_cache(maxsize=4)
def _requests(settings: Settings) -> RequestStore:
    return RequestStore(tables_for(settings), time.time, sweep_after_s=settings.sweep_after_s,
                        retention_s=settings.retention_days * DAY_S)


@lru_cache(maxsize=4)
def _claims(settings: Settings) -> ClaimLedger:
    return ClaimLedger(tables_for(settings), _requests(settings), time.time, lease_s=settings.claim_lease_s,
                       sweep_after_s=settings.sweep_after_s, text_retention_s=settings.text_retention_days * DAY_S)


def get_claims() -> ClaimLedger:
    return _claims(get_settings())


def get_requests() -> RequestStore:
    return _requests(get_settings())


def get_queries() -> RequestQueries:
    return RequestQueries(tables_for(get_settings()), time.time)


def get_health_snapshots() -> HealthSnapshots:
    return HealthSnapshots(tables_for(get_settings()), time.time)


@lru_cache(maxsize=4)
def _queue(settings: Settings) -> DispatchQueue:
    sqs = _aws_client("sqs", settings.aws_region)
    if settings.dispatch_queue_url:
        return DispatchQueue(sqs, settings.dispatch_queue_url)
    return DispatchQueue.by_name(sqs, settings.dispatch_queue_name)


def get_queue() -> DispatchQueue:
    return _queue(get_settings())


@lru_cache(maxsize=4)
def _callback_queue(settings: Settings) -> CallbackQueue:
    sqs = _aws_client("sqs", settings.aws_region)
    if settings.callback_queue_url and settings.callback_dlq_url:
        return CallbackQueue(sqs, settings.callback_queue_url, settings.callback_dlq_url)
    return CallbackQueue.by_name(sqs, settings.callback_queue_name, f"{settings.callback_queue_name}-dlq")


def _default_callback_url(settings: Settings):
    def default_url_of(client_name: str) -> str | None:
        client = _registry(settings).get().client_named(client_name)
        return client.callback_url if client else None

    return default_url_of


@lru_cache(maxsize=4)
def _callbacks(settings: Settings) -> CallbackPublisher:
    return CallbackPublisher(queue=lambda: _callback_queue(settings), requests=_requests(settings),
                             default_url_of=_default_callback_url(settings))


def get_callbacks() -> CallbackPublisher:
    """The status-callback publisher."""
    return _callbacks(get_settings())


def on_status_change(request: RequestSnapshot) -> bool:
    """The hook delivery receipts call after writing ``delivered`` / ``undelivered``: queues that status
    change's callback through the publisher's one door (never raises; True when one was queued)."""
    return get_callbacks().status_changed(request)


@lru_cache(maxsize=4)
def _callback_delivery(settings: Settings) -> CallbackDelivery:
    def secret_of(client_name: str) -> str | None:
        client = _registry(settings).get().client_named(client_name)
        return client.callback_secret if client else None

    return CallbackDelivery(
        http=_callback_http(), queue=_callback_queue(settings), secret_of=secret_of,
        target=DeliveryTarget(local=settings.is_local, allowed_hosts=settings.callback_allowed_hosts,
                              timeout_s=settings.callback_timeout_s),
        retry=RetryPolicy(base_s=settings.callback_retry_base_s, retry_for_s=settings.callback_retry_for_s),
        clock=time.time)


def get_callback_delivery() -> CallbackDelivery:
    return _callback_delivery(get_settings())


@lru_cache(maxsize=1)
def _callback_http() -> httpx.Client:
    # Its own pool: clients' URLs never take a connection a provider send needs. No keep-alive: a pooled
    # connection is matched by address only, so one made (and its certificate checked) for host A could be
    # reused for host B behind the same address; every callback connects, and checks, afresh.
    return deadline_client(max_connections=50, max_keepalive=0)


@lru_cache(maxsize=4)
def _router(settings: Settings) -> Router:
    return Router.from_settings(_redis(settings.redis_url), settings)


def get_router() -> Router:
    return _router(get_settings())


@lru_cache(maxsize=4)
def _dispatcher(settings: Settings) -> Dispatcher:
    tables = tables_for(settings).connect()
    providers = build_providers(settings.providers, _http(), secrets=_provider_secrets(settings),
                                shared_secret_id=settings.provider_keys_secret_id, aws_region=settings.aws_region)
    outcomes = OutcomeRecorder(
        router=_router(settings), requests=_requests(settings), claims=_claims(settings),
        health_snapshots=HealthSnapshots(tables, time.time), queue=_queue(settings), provider_names=providers,
        retry_policy=RetryPolicy(base_s=1, max_retries=settings.max_retries), callbacks=_callbacks(settings),
    )
    return Dispatcher(router=_router(settings), claims=_claims(settings), queue=_queue(settings),
                      providers=providers, outcomes=outcomes, booking_horizon_ms=settings.slot_wait_max_ms)


def get_dispatcher() -> Dispatcher:
    return _dispatcher(get_settings())


@lru_cache(maxsize=4)
def _intake(settings: Settings) -> Intake:
    limiter = ClientLimiter(_redis(settings.redis_url), key_prefix=settings.redis_key_prefix)
    return Intake(requests=_requests(settings),
                  idempotency=IdempotencyKeys(tables_for(settings), time.time, ttl_s=settings.idempotency_ttl_s),
                  limiter=limiter, queue=_queue(settings), clock=time.time, message_ttl_s=settings.message_ttl_s,
                  takeover_after_s=settings.idempotency_takeover_s,
                  provider_senders=frozenset(filter(None, (p.configured_sender for p in settings.providers))))


def get_intake() -> Intake:
    return _intake(get_settings())


@lru_cache(maxsize=4)
def _receipts(settings: Settings) -> ReceiptApplier:
    # Each delivered / undelivered it writes is a status change the client's callback hears about.
    return ReceiptApplier(deliveries=DeliveryResults(tables_for(settings), time.time), requests=_requests(settings),
                          on_status_change=on_status_change)


def get_receipts() -> ReceiptApplier:
    return _receipts(get_settings())


def get_delivery_events() -> DeliveryEvents:
    settings = get_settings()
    return DeliveryEvents(_receipts(settings), [config.name for config in settings.providers
                                                if kind_named(config.kind).delivery_events])


@lru_cache(maxsize=4)
def _webhooks(settings: Settings) -> WebhookReceiver:
    secrets = {config.name: ProviderSecrets(config, cache=_provider_secrets(settings),
                                            shared_secret_id=settings.provider_keys_secret_id)
               for config in settings.providers}
    return WebhookReceiver(providers={config.name: config for config in settings.providers}, secrets=secrets,
                           applier=_receipts(settings), clock=time.time)


def get_webhooks() -> WebhookReceiver:
    return _webhooks(get_settings())


def get_sweeper() -> Sweeper:
    settings = get_settings()
    return Sweeper(queries=RequestQueries(tables_for(settings), time.time), claims=_claims(settings),
                   queue=_queue(settings), clock=time.time, callbacks=_callbacks(settings))


# Answers that no retry changes: the secret is gone (or scheduled for deletion), or this function may not read
# or decrypt it. The registry then refuses service (503 configuration_error) instead of serving the old keys.
SECRET_CONFIGURATION_ERRORS = frozenset({
    "ResourceNotFoundException", "InvalidRequestException", "AccessDeniedException", "DecryptionFailure",
    "UnrecognizedClientException",
})


def _secret(settings: Settings, secret_id: str) -> str:
    try:
        return _aws_client("secretsmanager", settings.aws_region).get_secret_value(SecretId=secret_id)["SecretString"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in SECRET_CONFIGURATION_ERRORS:
            raise ConfigurationError(f"the client registry secret {secret_id!r} cannot be read ({code}): check that "
                                     "it exists and the API function's policy") from None
        raise DependencyUnavailable(f"Secrets Manager unavailable: {code or type(exc).__name__}") from None
    except BotoCoreError as exc:
        raise DependencyUnavailable(f"Secrets Manager unavailable: {type(exc).__name__}") from None


@lru_cache(maxsize=4)
def _registry(settings: Settings) -> Refreshing[ClientRegistry]:
    defaults = Defaults(rate_limit=settings.client_rate_limit, daily_quota=settings.client_daily_quota)

    def load() -> ClientRegistry:
        if settings.api_keys_secret_id:
            return registry_from_document(_secret(settings, settings.api_keys_secret_id), defaults,
                                          local=settings.is_local)
        if settings.clients:
            return registry_from_document(settings.clients, defaults, local=settings.is_local)
        return registry_from_keys(list(settings.api_keys), defaults, local=settings.is_local)

    return Refreshing(load, max_age_s=settings.clients_max_age_s)


def get_registry() -> ClientRegistry:
    """The client registry, read again at most every CLIENTS_MAX_AGE_S."""
    return _registry(get_settings()).get()


@lru_cache(maxsize=4)
def _provider_secrets(settings: Settings) -> SecretCache:
    """Provider secrets, one cache per process so that every provider and invocation share what was read."""

    def fetch(secret_id: str) -> str:
        return _aws_client("secretsmanager", settings.aws_region).get_secret_value(SecretId=secret_id)["SecretString"]

    return SecretCache(fetch, max_age_s=settings.provider_secret_max_age_s)


def dependency_checks() -> dict:
    """What GET /health probes: one cheap call per dependency."""
    settings = get_settings()

    def dynamodb():
        tables_for(settings).requests.describe_table()

    def sqs():
        _queue(settings).probe()

    return {"redis": _redis(settings.redis_url).ping, "dynamodb": dynamodb, "sqs": sqs}


def reset() -> None:
    """Forget every memoized client and service (tests; a process that changed its endpoints)."""
    for getter in (_redis, _http, _aws_client, _requests, _claims, _queue, _router, _dispatcher, _intake,
                   _registry, _provider_secrets, _callback_queue, _callbacks, _callback_delivery, _callback_http,
                   _receipts, _webhooks):
        getter.cache_clear()
