"""Circuit breakers per route and model on this replica (the state machines are pure, in
policies.breaker), with every opening announced to the fleet through the store so that the
other replicas avoid the model within one sync interval."""

from __future__ import annotations

import logging
from collections.abc import Callable

from gateway.config import RouteConfig
from gateway.store import Store
from policies import breaker
from policies.breaker import BreakerState

log = logging.getLogger("bayesgate.breakers")


class Breakers:
    def __init__(self, store: Store, *, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._states: dict[tuple[str, str], BreakerState] = {}

    def _state(self, route: str, model: str) -> BreakerState:
        return self._states.get((route, model)) or BreakerState(changed_at=self._clock(),
                                                               window_start=self._clock())

    def fleet_open(self, model: str, now: float) -> bool:
        return self._store.circuits().get(model, 0.0) > now

    def available(self, route: RouteConfig, model: str, *, now: float) -> bool:
        """May the policy rank this model among the live ones? (Arm.available.)"""
        if self.fleet_open(model, now):
            return False
        state = self._states.get((route.name, model))
        return state is None or breaker.available(state, route.breaker, now=now)

    def admit(self, route: RouteConfig, model: str) -> bool:
        """Claim the right to send one live request now (holds a half-open probe slot)."""
        key = (route.name, model)
        state = self._states.get(key)
        if state is None or state.state == breaker.CLOSED:
            return True
        allowed, self._states[key] = breaker.admit(state, route.breaker, now=self._clock())
        return allowed

    def record(self, route: RouteConfig, model: str, *, success: bool) -> bool:
        """Count one upstream result; True when it closed the breaker after an outage."""
        now = self._clock()
        before = self._state(route.name, model)
        after = breaker.record(before, route.breaker, success=success, now=now)
        self._states[(route.name, model)] = after
        if after.state == breaker.OPEN and before.state != breaker.OPEN:
            log.warning("circuit of %s on route %s opened for %.0f s", model, route.name,
                        route.breaker.cooldown_s)
            self._store.open_circuit(model, now + route.breaker.cooldown_s)
        return breaker.recovered(before, after)

    def describe(self, route: str, model: str, *, now: float) -> str:
        """closed, open or half_open, as /stats and /metrics show it."""
        if self.fleet_open(model, now):
            return breaker.OPEN
        state = self._states.get((route, model))
        return state.state if state is not None else breaker.CLOSED
