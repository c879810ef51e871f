"""provider_health on moto: the durable snapshot of what Redis holds live."""

from __future__ import annotations

import pytest

from chalicelib.provider_health import ProviderState
from chalicelib.storage.dynamo import iso

pytestmark = pytest.mark.unit


def test_provider_health_snapshot_is_saved(health_snapshots, tables):
    states = [ProviderState("alpha", True, 0.0, 3, 0, None, 50, 1, 2, 0, 10, 50.0),
              ProviderState("beta", False, 0.9, 1, 9, 1_700_000_300_000, 50, 1, 0, 0, 10, 50.0)]
    health_snapshots.save(states, transition=True)
    saved = {s.provider_name: s for s in tables.health.scan()}
    assert (saved["alpha"].is_healthy, saved["beta"].is_healthy) == ("true", "false")
    assert saved["beta"].unhealthy_until == iso(1_700_000_300)
    assert int(saved["beta"].failure_count) == 9


def test_periodic_snapshot_keeps_the_time_of_the_last_transition(health_snapshots, tables, clock):
    tripped = ProviderState("beta", False, 0.9, 1, 9, 1_700_000_300_000, 50, 1, 0, 0, 10, 50.0)
    health_snapshots.save([tripped], transition=True)
    transition_at = tables.health.get("beta").last_transition_at
    clock.advance(400)

    health_snapshots.save([ProviderState("beta", True, 0.0, 0, 0, None, 50, 1, 0, 0, 10, 50.0)])

    saved = tables.health.get("beta")
    assert saved.last_transition_at == transition_at
    assert (saved.is_healthy, saved.unhealthy_until) == ("true", None)
    assert saved.last_checked > transition_at
