"""Each route's objective, online: the cost terms the router ranks candidates by.

A candidate's cost term for this request (`policies.objective.cost_terms`) comes from the
request's expected USD on each model, the route's budget multiplier, its latency multiplier
and its latency trend (`policies.latency`). The budget is paced on the fleet's spend of the
current period, read from the store (N replicas share one budget); the latency objective and
the trend on this replica's own answers (latency is per request, so replicas that each hold
the p95 hold the fleet's). The learner tells this what was spent and how long answers took;
the router asks it for terms. No I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from gateway.config import Config, RouteConfig
from gateway.store import Store
from policies.latency import LatencyTrend, added
from policies.objective import EXHAUSTED, LatencyGuard, Objective, Pacer, cost_terms

log = logging.getLogger("bayesgate.router")


class Objectives:
    def __init__(self, config: Config, store: Store, *, clock: Callable[[], float],
                 previous: Objectives | None = None) -> None:
        """`previous`: the generation before a reload, whose pacing and latency state carry
        over to the routes whose objective (for the trend: reward) is unchanged."""
        self._store = store
        self._clock = clock
        self._pacers: dict[str, Pacer] = {}
        self._guards: dict[str, LatencyGuard] = {}
        self._trends: dict[str, LatencyTrend] = {}
        for name, route in config.routes.items():
            objective = route.objective
            kept = previous._kept(name, objective) if previous is not None else (None, None)
            if objective.budget is not None:
                self._pacers[name] = kept[0] or Pacer(objective.budget)
            if objective.latency_p95_ms is not None:
                self._guards[name] = kept[1] or LatencyGuard(objective.latency_p95_ms)
            trend = previous._trends.get(name) if previous is not None else None
            self._trends[name] = trend if trend is not None and trend.reward == route.reward \
                else LatencyTrend(route.reward)
        self._objectives = {name: route.objective for name, route in config.routes.items()}
        self._warned: dict[str, float] = {}  # route -> the budget period last warned of

    def _kept(self, name: str, objective: Objective,
              ) -> tuple[Pacer | None, LatencyGuard | None]:
        if self._objectives.get(name) != objective:
            return None, None
        return self._pacers.get(name), self._guards.get(name)

    def terms(self, route: RouteConfig, usd: Mapping[str, float], *,
              now: float) -> dict[str, float]:
        """Each candidate's cost term, in reward units, for a request expected to cost `usd`."""
        name = route.name
        pacer = self._pacers.get(name)
        mu = 0.0
        if pacer is not None:
            spent = self._store.spent(name, period_s=pacer.budget.period_s, now=now)
            mu = pacer.update(spent, now, min(usd.values(), default=0.0))
            if mu >= EXHAUSTED and self._warned.get(name) != pacer.period:
                self._warned[name] = pacer.period
                log.warning("route %s: its budget of %s USD per %s is spent (%.4f USD so far, "
                            "what is left pays for the cheapest candidates only): the cheapest "
                            "candidate serves until the period ends", name, pacer.budget.usd,
                            pacer.budget.per, spent)
        guard, trend = self._guards.get(name), self._trends.get(name)
        return cost_terms(route.objective, usd, mu=mu, penalties=added(
            None if guard is None else guard.penalties(),
            None if trend is None else trend.penalties()))

    def spent(self, route: str, usd: float) -> None:
        """A live or shadow answer on `route` cost `usd`."""
        pacer = self._pacers.get(route)
        if pacer is not None and usd > 0:
            self._store.spend(route, usd, period_s=pacer.budget.period_s, now=self._clock())

    def answered(self, route: str, model: str, latency_ms: float) -> None:
        """A live answer of `model` on `route` took `latency_ms` (the reward's latency)."""
        guard = self._guards.get(route)
        if guard is not None:
            guard.observe(model, latency_ms)
        trend = self._trends.get(route)
        if trend is not None:
            trend.observe(model, latency_ms)

    def status(self, route: RouteConfig) -> dict[str, Any]:
        """For /stats: the route's scale, its budget's and latency objective's state, and the
        latency trend's penalties."""
        objective, name, now = route.objective, route.name, self._clock()
        out: dict[str, Any] = {"scale": objective.scale}
        if objective.value_usd is not None:
            out["value_usd"] = objective.value_usd
        else:
            out["cost_weight"] = objective.cost_weight
        pacer = self._pacers.get(name)
        if pacer is not None:
            budget = pacer.budget
            spent = self._store.spent(name, period_s=budget.period_s, now=now)
            out["budget"] = {"usd": budget.usd, "per": budget.per,
                             "spent_usd": round(spent, 8),
                             "period_start": budget.period_start(now),
                             "multiplier": round(pacer.current(spent, now), 4)}
            out["budget"]["exhausted"] = out["budget"]["multiplier"] >= EXHAUSTED
        guard = self._guards.get(name)
        if guard is not None:
            out["latency"] = {"p95_ms": guard.target_ms, "answers": guard.answers,
                              "over_share": round(guard.over / guard.answers, 4)
                              if guard.answers else None,
                              "multiplier": round(guard.nu, 4),
                              "slow_share": {m: round(guard.share(m), 4)
                                             for m in guard.slow}}
        trend = self._trends.get(name)
        if trend is not None:  # the models slower (> 0) or faster lately than their evidence
            out["latency_trend"] = {m: round(p, 4) for m, p in (trend.penalties() or {}).items()}
        return out
