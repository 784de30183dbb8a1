"""The policies the evaluator compares, through one small interface: a policy ranks the
candidates of a request, may refuse an attempt (its breaker), and observes every attempt it
made, label-free, as a gateway would: whether the upstream answered, whether the answer was
valid, its latency and price. Each policy learns from its own choices only.

Ours (`ours.py`) holds what a gateway replica holds and decides with the gateway's
`policies.thompson.ThompsonSampling`; the learning baselines are in `bandits.py`; here are the
ones that do not learn, the oracles and the breaker every baseline shares.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from policies.cost import Price, TokenMeter, normalized, request_cost
from policies.evaluation.world import INPUT_TOKENS, Route

OURS = "bayesgate"
ORACLE = "oracle"  # knows the truth of each phase and, on a mixed workload, of each request


@dataclass(frozen=True, slots=True)
class Request:
    index: int
    now: float  # seconds
    kind: str  # the request's class as the gateway's features tell it; "" on a uniform workload
    prices: Mapping[str, Price]  # the route's candidates now, in the configured order
    families: Mapping[str, str]
    truth: Mapping[str, float]  # for oracles only: true utility for this request's kind
    truth_phase: Mapping[str, float]  # for oracles only: over the phase's mix of kinds


@dataclass(frozen=True, slots=True)
class Observation:
    model: str
    ok: bool  # the upstream answered (no 5xx, timeout or 429)
    valid: bool  # the answer passed the gateway's checks
    latency_ms: float
    usd: float
    input_tokens: float
    output_tokens: float


class Policy(Protocol):
    def rank(self, req: Request, rng: np.random.Generator) -> tuple[str, ...]:
        """The candidates to try, in order."""
        ...

    def admit(self, model: str, now: float) -> bool:
        """May `model` be tried now (its breaker)?"""
        ...

    def observe(self, req: Request, obs: Observation) -> None:
        ...


Maker = Callable[[Route], Policy]


@dataclass(slots=True)
class Breaker:
    """A plain breaker, as every gateway has: `threshold` failures in a row open it for
    `cooldown_s`, then one probe decides."""

    threshold: int = 5
    cooldown_s: float = 30.0
    streaks: dict[str, int] = field(default_factory=dict)
    opened: dict[str, float] = field(default_factory=dict)  # model -> when it opened

    def admit(self, model: str, now: float) -> bool:
        opened = self.opened.get(model)
        return opened is None or now - opened >= self.cooldown_s

    def record(self, model: str, ok: bool, now: float) -> None:
        if ok:
            self.streaks[model] = 0
            self.opened.pop(model, None)
            return
        self.streaks[model] = self.streaks.get(model, 0) + 1
        if self.streaks[model] >= self.threshold or model in self.opened:  # a failed probe
            self.opened[model] = now


def list_terms(req: Request, route: Route) -> dict[str, float]:
    """Each candidate's cost term (the route's objective) for this request at list price."""
    meter = TokenMeter(INPUT_TOKENS)
    return route.terms({n: request_cost(meter, p) for n, p in req.prices.items()})


def list_costs(req: Request) -> dict[str, float]:
    """Each candidate's cost for this request at its list price, normalised to [0, 1]."""
    meter = TokenMeter(INPUT_TOKENS)
    return normalized({n: request_cost(meter, p) for n, p in req.prices.items()})


class Fixed:
    """A policy that does not learn: an order per request, a breaker, failover."""

    def __init__(self, order: Callable[[Request, np.random.Generator], tuple[str, ...]]) -> None:
        self._order = order
        self._breaker = Breaker()

    def rank(self, req: Request, rng: np.random.Generator) -> tuple[str, ...]:
        return self._order(req, rng)

    def admit(self, model: str, now: float) -> bool:
        return self._breaker.admit(model, now)

    def observe(self, req: Request, obs: Observation) -> None:
        self._breaker.record(obs.model, obs.ok, req.now)


def _random(req: Request, rng: np.random.Generator) -> tuple[str, ...]:
    names = list(req.prices)
    return tuple(names[i] for i in rng.permutation(len(names)))


def _by_cost(*, cheapest: bool) -> Callable[[Request, np.random.Generator], tuple[str, ...]]:
    def order(req: Request, rng: np.random.Generator) -> tuple[str, ...]:
        costs = list_costs(req)
        return tuple(sorted(costs, key=lambda n: costs[n] if cheapest else -costs[n]))
    return order


def _by_truth(field: str) -> Callable[[Request, np.random.Generator], tuple[str, ...]]:
    def order(req: Request, rng: np.random.Generator) -> tuple[str, ...]:
        truth = getattr(req, field)
        return tuple(sorted(truth, key=lambda n: -truth[n]))
    return order


class LowestLatency(Fixed):
    """Lowest measured latency first (a moving average of each model's answers; a model not
    measured yet is tried first), as latency-based routers do."""

    def __init__(self, smoothing: float = 0.2) -> None:
        super().__init__(self._fastest)
        self._latency: dict[str, float] = {}
        self._smoothing = smoothing

    def _fastest(self, req: Request, rng: np.random.Generator) -> tuple[str, ...]:
        return tuple(sorted(req.prices, key=lambda n: self._latency.get(n, -1.0)))

    def observe(self, req: Request, obs: Observation) -> None:
        super().observe(req, obs)
        if obs.ok:
            old = self._latency.get(obs.model)
            self._latency[obs.model] = obs.latency_ms if old is None \
                else old + self._smoothing * (obs.latency_ms - old)


def fixed(order: Callable[[Request, np.random.Generator], tuple[str, ...]]) -> Maker:
    return lambda route: Fixed(order)


STATIC = "static fallback list"
SIMPLE: dict[str, Maker] = {
    STATIC: fixed(lambda req, rng: tuple(req.prices)),  # the configured order, with a breaker
    "lowest latency": lambda route: LowestLatency(),
    "lowest cost": fixed(_by_cost(cheapest=True)),
    "most expensive": fixed(_by_cost(cheapest=False)),
    "random": fixed(_random),
}
ORACLES: dict[str, Maker] = {ORACLE: fixed(_by_truth("truth"))}
# On a mixed workload: the oracle that knows each phase but not each request's kind.
PHASE_ORACLE = "oracle per phase"
PHASE_ORACLES: dict[str, Maker] = {PHASE_ORACLE: fixed(_by_truth("truth_phase"))}
