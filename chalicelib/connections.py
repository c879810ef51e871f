"""The connections a container uses: Redis, the two HTTP pools, the AWS clients, the DynamoDB tables, and the one
Secrets Manager read.

Each is memoized on what it is built from (a URL, a service and region), not on the Settings: containers of
two Settings (tests, ``chalice.test.Client``) with the same Redis or region share a pool, as a Lambda's
invocations do. ``forget()`` drops them all (wiring.reset()).
"""

from __future__ import annotations

import os
from functools import lru_cache

import httpx
import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from chalicelib.aws_deadline import aws_client, bounded
from chalicelib.errors import ConfigurationError, DependencyUnavailable
from chalicelib.providers import deadline_client
from chalicelib.providers.secrets import SecretUnavailable, secret_errors
from chalicelib.settings import Settings
from chalicelib.storage.tables import Tables, bind_tables


@lru_cache(maxsize=4)
def redis_client(url: str) -> redis.Redis:
    # One quick retry (a restarted Redis, a dropped pooled connection), then DependencyUnavailable:
    # redis-py's default backoff would hold a request for seconds while Redis is down.
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=0.5, health_check_interval=10,
                                retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1))


@lru_cache(maxsize=1)
def provider_http() -> httpx.Client:
    # Every provider call on it is bounded by its provider's timeout_s as a whole (providers/deadline.py).
    return deadline_client(max_connections=200, max_keepalive=100)


@lru_cache(maxsize=1)
def callback_http() -> httpx.Client:
    # Its own pool: clients' URLs never take a connection a provider send needs. No keep-alive: a pooled
    # connection is matched by address only, so one made (and its certificate checked) for host A could be
    # reused for host B behind the same address; every callback connects, and checks, afresh.
    return deadline_client(max_connections=50, max_keepalive=0)


@lru_cache(maxsize=4)
def aws_client_for(service: str, region: str):
    # Every call on it ends before the invocation's deadline (aws_deadline.py).
    return aws_client(service, region)


def forget() -> None:
    """Drop every memoized connection (the next use builds it anew, reading the endpoints again)."""
    for factory in (redis_client, provider_http, callback_http, aws_client_for):
        factory.cache_clear()


def tables_for(settings: Settings) -> Tables:
    """The tables ``settings.tables`` names, each one's DynamoDB client built now and bounded by the invocation's
    deadline (aws_deadline.py)."""
    # The endpoint boto3 would use (an emulator's, or None on AWS), named explicitly so that tables bound
    # under one endpoint never keep a pooled connection to another.
    host = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None
    tables = bind_tables(settings.tables, settings.aws_region, host)  # memoized: a bound class keeps its pool
    for model in tables.connect().all():
        bounded(model._get_connection().connection.client)  # idempotent
    return tables


def read_secret(secretsmanager, secret_id: str) -> str:
    """The secret's string, as Secrets Manager answers it (its errors pass through: whoever reads maps them with
    ``providers.secrets.secret_errors``, the one mapping)."""
    return secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"]


def read_configuration_secret(secretsmanager, secret_id: str) -> str:
    """``read_secret`` for a secret the gateway cannot serve without (the client registry): an answer no retry
    changes is a ConfigurationError (the registry refuses service, 503 configuration_error, instead of serving the
    old keys), any other failure DependencyUnavailable."""
    try:
        with secret_errors(secret_id):
            return read_secret(secretsmanager, secret_id)
    except SecretUnavailable as exc:
        if exc.configuration_problem:
            raise ConfigurationError(f"the client registry secret {secret_id!r} cannot be read ({exc.code}): check "
                                     "that it exists and the API function's policy") from None
        raise DependencyUnavailable(f"Secrets Manager unavailable: {exc.code or 'error'}") from None
