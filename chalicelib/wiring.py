"""The process's current container (container.py) and thin accessors for app.py's handlers (chalice's
``get_app_db()`` pattern).

Nothing here runs at import time. The current container belongs to the current Settings: a changed environment
(tests, ``chalice.test.Client``) gets a container of its own, and an unchanged one reuses its clients and
connection pools across Lambda invocations (the last few containers are kept, as the memoized getters were).
``reset()`` forgets them all. ``injected(...)`` makes every container built meanwhile take the given clock or
services (tests: fakeredis, a ManualClock) instead of patching module globals.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib import connections
from chalicelib.callbacks import CallbackPublisher
from chalicelib.callbacks.delivery import CallbackDelivery
from chalicelib.clients import ClientRegistry
from chalicelib.connections import tables_for
from chalicelib.container import Container
from chalicelib.dispatch_queue import DispatchQueue
from chalicelib.dispatcher import Dispatcher
from chalicelib.intake import Intake
from chalicelib.receipts.applier import ReceiptApplier
from chalicelib.receipts.delivery_events import DeliveryEvents
from chalicelib.receipts.webhooks import WebhookReceiver
from chalicelib.router import Router
from chalicelib.settings import Settings, get_settings
from chalicelib.storage.claims import ClaimLedger
from chalicelib.storage.health_snapshots import HealthSnapshots
from chalicelib.storage.queries import RequestQueries
from chalicelib.storage.records import RequestSnapshot
from chalicelib.storage.requests import RequestStore
from chalicelib.sweeper import Sweeper

__all__ = ["Container", "container", "get_settings", "injected", "reset", "tables_for"]

KEPT_CONTAINERS = 4
_containers: OrderedDict[Settings, Container] = OrderedDict()
_injected: dict[str, Any] = {}


def container() -> Container:
    """The container of the current Settings (built on first use; the clock and services ``injected`` give)."""
    settings = get_settings()
    current = _containers.get(settings)
    if current is None:
        current = _containers[settings] = Container(settings, **_injected)
        while len(_containers) > KEPT_CONTAINERS:
            _containers.popitem(last=False)
    else:
        _containers.move_to_end(settings)
    return current


def reset() -> None:
    """Forget every container, with its clients and services (tests; a process that changed its endpoints)."""
    _containers.clear()
    connections.forget()


@contextmanager
def injected(**services: Any) -> Iterator[None]:
    """Every container built inside takes these (``clock=...``, ``redis=...``, any service by name); the
    containers built before are forgotten on the way in and out."""
    previous = dict(_injected)
    _injected.update(services)
    reset()
    try:
        yield
    finally:
        _injected.clear()
        _injected.update(previous)
        reset()


def get_requests() -> RequestStore:
    return container().requests


def get_claims() -> ClaimLedger:
    return container().claims


def get_queries() -> RequestQueries:
    return container().queries


def get_health_snapshots() -> HealthSnapshots:
    return container().health_snapshots


def get_queue() -> DispatchQueue:
    return container().queue


def get_callbacks() -> CallbackPublisher:
    """The status-callback publisher."""
    return container().callbacks


def on_status_change(request: RequestSnapshot) -> bool:
    """Queues a status change's callback through the publisher's one door (never raises; True when queued)."""
    return get_callbacks().status_changed(request)


def get_callback_delivery() -> CallbackDelivery:
    return container().callback_delivery


def get_router() -> Router:
    return container().router


def get_dispatcher() -> Dispatcher:
    return container().dispatcher


def get_intake() -> Intake:
    return container().intake


def get_receipts() -> ReceiptApplier:
    return container().receipts


def get_delivery_events() -> DeliveryEvents:
    return container().delivery_events


def get_webhooks() -> WebhookReceiver:
    return container().webhooks


def get_sweeper() -> Sweeper:
    return container().sweeper


def get_registry() -> ClientRegistry:
    """The client registry, read again at most every CLIENTS_MAX_AGE_S."""
    return container().registry.get()


def dependency_checks() -> dict:
    """What GET /health probes: one cheap call per dependency."""
    return container().dependency_checks()
