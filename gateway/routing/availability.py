"""May this model be tried now? One rule for the router and the shadow mirror.

A model is unavailable while an upstream's Retry-After holds it (a cool-down, on this replica),
while a breaker anywhere in the fleet holds it open (announced through the store), and, for a
live route, while this replica's breaker for that route and model is open. The breaker state
machines are pure (policies.breaker); this object keeps their states, outlives a config reload,
and announces every opening to the fleet so the other replicas avoid the model within one sync
interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container

from gateway.config import RouteConfig
from gateway.store import Store
from policies import breaker
from policies.breaker import BreakerState

log = logging.getLogger("bayesgate.breakers")

_MAX_COOLDOWN_S = 300.0  # a Retry-After longer than this is capped: the model goes last meanwhile


class Availability:
    def __init__(self, store: Store, *, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._states: dict[tuple[str, str], BreakerState] = {}
        self.cooldown_until: dict[str, float] = {}  # model -> time it may be tried again

    # -- the rule --------------------------------------------------------------------------

    def available(self, model: str, *, now: float, route: RouteConfig | None = None) -> bool:
        """No cool-down, no breaker open in the fleet, and (given a route) this replica's
        breaker for it lets the model be ranked among the live ones (Arm.available)."""
        if self.cooldown_until.get(model, 0.0) > now or self.fleet_open(model, now):
            return False
        if route is None:
            return True
        state = self._states.get((route.name, model))
        return state is None or breaker.available(state, route.breaker, now=now)

    def fleet_open(self, model: str, now: float) -> bool:
        return self._store.circuits().get(model, 0.0) > now

    def describe(self, route: str, model: str, *, now: float) -> str:
        """closed, open or half_open, as /stats and /metrics show it."""
        if self.fleet_open(model, now):
            return breaker.OPEN
        state = self._states.get((route, model))
        return state.state if state is not None else breaker.CLOSED

    # -- what changes it -------------------------------------------------------------------

    def cool_down(self, model: str, seconds: float) -> None:
        """Honour an upstream's Retry-After: the model goes last until then."""
        self.cooldown_until[model] = self._clock() + min(seconds, _MAX_COOLDOWN_S)

    def keep_only(self, models: Container[str]) -> None:
        """After a reload: forget the cool-downs of models no longer configured."""
        self.cooldown_until = {m: t for m, t in self.cooldown_until.items() if m in models}

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
        before = self._states.get((route.name, model)) or BreakerState(changed_at=now,
                                                                        window_start=now)
        after = breaker.record(before, route.breaker, success=success, now=now)
        self._states[(route.name, model)] = after
        if after.state == breaker.OPEN and before.state != breaker.OPEN:
            log.warning("circuit of %s on route %s opened for %.0f s", model, route.name,
                        route.breaker.cooldown_s)
            self._store.open_circuit(model, now + route.breaker.cooldown_s)
        return breaker.recovered(before, after)
