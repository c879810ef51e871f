"""The container: every collaborator of one process, built from one Settings and one clock, each when first asked.

One ``functools.cached_property`` per service, so a service is built once and shared by every service that needs
it (the dispatcher and the sweeper get the same queue, the same claims). Each service gets the policy object
it owns (``settings.routing`` to the Router, ``settings.callbacks`` to the callback delivery, ``settings.tables``
to the tables, ...), never the whole Settings. Nothing is built at import time.

Tests build one with fakes: ``Container(settings, clock=ManualClock(), redis=fakeredis.FakeRedis())`` — any
keyword naming a service stands in for it. wiring.py keeps the process's current container (one per Settings).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cached_property
from typing import Any

from chalicelib.callbacks import CallbackPublisher
from chalicelib.callbacks.delivery import CallbackDelivery, DeliveryTarget
from chalicelib.callbacks.queue import CallbackQueue
from chalicelib.client_limits import ClientLimiter
from chalicelib.clients import ClientRegistry, Defaults, registry_from_document, registry_from_keys
from chalicelib.connections import (
    aws_client_for,
    callback_http,
    provider_http,
    read_configuration_secret,
    read_secret,
    redis_client,
    tables_for,
)
from chalicelib.dispatch_queue import DispatchQueue
from chalicelib.dispatcher import Dispatcher
from chalicelib.intake import Intake
from chalicelib.outcomes import OutcomeRecorder
from chalicelib.providers.secrets import ProviderSecrets, SecretCache
from chalicelib.receipts.applier import ReceiptApplier
from chalicelib.receipts.delivery_events import DeliveryEvents
from chalicelib.receipts.webhooks import WebhookReceiver
from chalicelib.refreshing import Refreshing
from chalicelib.retry_policy import RetryPolicy
from chalicelib.router import Router
from chalicelib.settings import Settings
from chalicelib.storage.claims import ClaimLedger
from chalicelib.storage.deliveries import DeliveryResults
from chalicelib.storage.health_snapshots import HealthSnapshots
from chalicelib.storage.idempotency import IdempotencyKeys
from chalicelib.storage.queries import RequestQueries
from chalicelib.storage.requests import RequestStore
from chalicelib.storage.tables import Tables
from chalicelib.sweeper import Sweeper
from chalicelib.vendors import build_providers, kind_named


class Connections:
    """A Settings, a clock, and the connections every service is built on (the base of the container)."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time, **given: Any):
        self.settings = settings
        self.clock = clock
        for name, service in given.items():  # a fake standing in for a service (tests)
            if not isinstance(getattr(type(self), name, None), cached_property):
                raise TypeError(f"Container has no service {name!r}")
            self.__dict__[name] = service

    @cached_property
    def redis(self):
        return redis_client(self.settings.redis_url)

    @cached_property
    def http(self):
        return provider_http()

    @cached_property
    def callback_http(self):
        return callback_http()

    @cached_property
    def sqs(self):
        return aws_client_for("sqs", self.settings.aws_region)

    @cached_property
    def secretsmanager(self):
        return aws_client_for("secretsmanager", self.settings.aws_region)

    @cached_property
    def tables(self) -> Tables:
        return tables_for(self.settings)

    def read_secret(self, secret_id: str) -> str:
        """The one Secrets Manager read (the client registry's and every provider's secrets)."""
        return read_secret(self.secretsmanager, secret_id)


class Stores(Connections):
    """The stores and queues (storage/, the two SQS queues), on the connections."""

    @cached_property
    def requests(self) -> RequestStore:
        return RequestStore(self.tables, self.clock, sweep_after_s=self.settings.sweep_after_s,
                            retention_s=self.settings.retention.retention_s)

    @cached_property
    def claims(self) -> ClaimLedger:
        return ClaimLedger(self.tables, self.requests, self.clock, lease_s=self.settings.claim_lease_s,
                           sweep_after_s=self.settings.sweep_after_s,
                           text_retention_s=self.settings.retention.text_retention_s)

    @cached_property
    def queries(self) -> RequestQueries:
        return RequestQueries(self.tables, self.clock)

    @cached_property
    def health_snapshots(self) -> HealthSnapshots:
        return HealthSnapshots(self.tables, self.clock)

    @cached_property
    def queue(self) -> DispatchQueue:
        queues = self.settings.queues
        if queues.dispatch_queue_url:
            return DispatchQueue(self.sqs, queues.dispatch_queue_url)
        return DispatchQueue.by_name(self.sqs, queues.dispatch_queue_name)

    @cached_property
    def callback_queue(self) -> CallbackQueue:
        queues = self.settings.queues
        if queues.callback_queue_url and queues.callback_dlq_url:
            return CallbackQueue(self.sqs, queues.callback_queue_url, queues.callback_dlq_url)
        return CallbackQueue.by_name(self.sqs, queues.callback_queue_name, queues.callback_dlq_name)


class Container(Stores):
    """Every service of the gateway: the connections' and the stores' (its bases), and those built on them."""

    # ------------------------------------------------------------------ clients and their callbacks

    @cached_property
    def registry(self) -> Refreshing[ClientRegistry]:
        """The client registry, read again at most every CLIENTS_MAX_AGE_S."""
        settings, policy = self.settings, self.settings.client_defaults
        defaults = Defaults(rate_limit=policy.rate_limit, daily_quota=policy.daily_quota)

        def load() -> ClientRegistry:
            if settings.api_keys_secret_id:
                return registry_from_document(read_configuration_secret(self.secretsmanager,
                                                                        settings.api_keys_secret_id),
                                              defaults, local=settings.is_local)
            if settings.clients:
                return registry_from_document(settings.clients, defaults, local=settings.is_local)
            return registry_from_keys(list(settings.api_keys), defaults, local=settings.is_local)

        return Refreshing(load, max_age_s=policy.max_age_s)

    def _client_named(self, client_name: str):
        return self.registry.get().client_named(client_name)

    @cached_property
    def callbacks(self) -> CallbackPublisher:
        def default_url_of(client_name: str) -> str | None:
            client = self._client_named(client_name)
            return client.callback_url if client else None

        return CallbackPublisher(queue=lambda: self.callback_queue, requests=self.requests,
                                 default_url_of=default_url_of)

    @cached_property
    def callback_delivery(self) -> CallbackDelivery:
        policy = self.settings.callbacks

        def secret_of(client_name: str) -> str | None:
            client = self._client_named(client_name)
            return client.callback_secret if client else None

        return CallbackDelivery(
            http=self.callback_http, queue=self.callback_queue, secret_of=secret_of,
            target=DeliveryTarget(local=self.settings.is_local, allowed_hosts=policy.allowed_hosts,
                                  timeout_s=policy.timeout_s),
            retry=RetryPolicy(base_s=policy.retry_base_s, retry_for_s=policy.retry_for_s),
            clock=self.clock)

    # ------------------------------------------------------------------ sending

    @cached_property
    def router(self) -> Router:
        return Router(self.redis, self.settings.providers, key_prefix=self.settings.redis_key_prefix,
                      policy=self.settings.routing)

    @cached_property
    def provider_secrets(self) -> SecretCache:
        """Provider secrets, one cache per process so that every provider and invocation share what was read."""
        return SecretCache(self.read_secret, max_age_s=self.settings.provider_secret_max_age_s)

    @cached_property
    def dispatcher(self) -> Dispatcher:
        settings = self.settings
        providers = build_providers(settings.providers, self.http, secrets=self.provider_secrets,
                                    shared_secret_id=settings.provider_keys_secret_id, aws_region=settings.aws_region)
        outcomes = OutcomeRecorder(
            router=self.router, requests=self.requests, claims=self.claims, health_snapshots=self.health_snapshots,
            queue=self.queue, provider_names=providers,
            retry_policy=RetryPolicy(base_s=1, max_retries=settings.max_retries), callbacks=self.callbacks,
        )
        return Dispatcher(router=self.router, claims=self.claims, queue=self.queue, providers=providers,
                          outcomes=outcomes, booking_horizon_ms=settings.routing.horizon_ms)

    @cached_property
    def intake(self) -> Intake:
        settings = self.settings
        limiter = ClientLimiter(self.redis, key_prefix=settings.redis_key_prefix)
        return Intake(requests=self.requests,
                      idempotency=IdempotencyKeys(self.tables, self.clock, ttl_s=settings.retention.idempotency_ttl_s),
                      limiter=limiter, queue=self.queue, clock=self.clock, message_ttl_s=settings.message_ttl_s,
                      takeover_after_s=settings.idempotency_takeover_s,
                      provider_senders=frozenset(filter(None, (p.configured_sender for p in settings.providers))))

    @cached_property
    def sweeper(self) -> Sweeper:
        return Sweeper(queries=self.queries, claims=self.claims, queue=self.queue, clock=self.clock,
                       callbacks=self.callbacks)

    # ------------------------------------------------------------------ delivery receipts

    @cached_property
    def receipts(self) -> ReceiptApplier:
        # Each delivered / undelivered it writes is a status change the client's callback hears about.
        return ReceiptApplier(deliveries=DeliveryResults(self.tables, self.clock), requests=self.requests,
                              on_status_change=lambda request: self.callbacks.status_changed(request))

    @cached_property
    def delivery_events(self) -> DeliveryEvents:
        settings = self.settings
        return DeliveryEvents(self.receipts, [config.name for config in settings.providers
                                              if kind_named(config.kind).delivery_events])

    @cached_property
    def webhooks(self) -> WebhookReceiver:
        settings = self.settings
        secrets = {config.name: ProviderSecrets(config, cache=self.provider_secrets,
                                                shared_secret_id=settings.provider_keys_secret_id)
                   for config in settings.providers}
        return WebhookReceiver(providers={config.name: config for config in settings.providers}, secrets=secrets,
                               applier=self.receipts, clock=self.clock)

    # ------------------------------------------------------------------ health

    def dependency_checks(self) -> dict:
        """What GET /health probes: one cheap call per dependency."""

        def dynamodb():
            self.tables.requests.describe_table()

        def sqs():
            self.queue.probe()

        return {"redis": self.redis.ping, "dynamodb": dynamodb, "sqs": sqs}
