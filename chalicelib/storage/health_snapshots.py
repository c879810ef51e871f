"""provider_health: a durable snapshot of what Redis holds live, for the console and after an incident."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from chalicelib.provider_health import ProviderState
from chalicelib.storage.dynamo import iso
from chalicelib.storage.tables import Tables


class HealthSnapshots:
    def __init__(self, tables: Tables, clock: Callable[[], float]):
        self._model = tables.health
        self._clock = clock

    def save(self, states: Iterable[ProviderState], *, transition: bool = False) -> None:
        """Upsert each provider's snapshot; ``last_transition_at`` moves only on a transition."""
        model = self._model
        now = iso(self._clock())
        for state in states:
            until = iso(state.unhealthy_until_ms / 1000) if state.unhealthy_until_ms else None
            actions = [
                model.success_count.set(state.successes),
                model.failure_count.set(state.failures),
                model.failure_rate.set(round(state.failure_rate, 4)),
                model.is_healthy.set("true" if state.healthy else "false"),
                model.unhealthy_until.set(until) if until else model.unhealthy_until.remove(),
                model.last_checked.set(now),
            ]
            if transition:
                actions.append(model.last_transition_at.set(now))
            model(state.name).update(actions=actions)
