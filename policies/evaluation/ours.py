"""Our policy as one gateway replica runs it: posteriors decayed and updated by
`policies.posterior` at the route's request-based half-life (`policies.traffic`), priors raised
to the route's level, cold starts from the family's evidence, request classes backed off to the
route, a change detector per model (`policies.change`) as the gateway's learner runs it,
breakers from `policies.breaker`, token meters for the expected cost, and the choice by
`policies.thompson.ThompsonSampling`, the gateway's Policy."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from policies import breaker, change, defaults
from policies.cost import TokenMeter, request_cost
from policies.evaluation.agents import Observation, Request
from policies.evaluation.world import Route
from policies.latency import LatencyTrend, added
from policies.objective import LatencyGuard, Ledger, Objective, Pacer, cost_terms
from policies.posterior import (
    Posterior,
    Prior,
    backed_off,
    decayed,
    observe,
    on_route_scale,
    route_level,
    updated,
)
from policies.priors import cold_start, family_prior
from policies.reward import Outcome, reward
from policies.thompson import Arm, ThompsonSampling
from policies.traffic import RequestRate, effective_half_life

# The policy before the lock-in fix: evidence decays by time only (120 s) toward the models'
# own priors, at most 50 answers of it, draws with 30% of the variance.
TODAY_HALF_LIFE_S = 120.0
TODAY_EXPLORATION = 0.3
TODAY_MAX_STRENGTH = 50.0


@dataclass(slots=True)
class Bayesgate:
    route: Route
    classes: bool = True  # judge each request by its class (the gateway's contextual routing)
    today: bool = False  # the policy before lock-in was fixed
    latency_trend: bool = True  # follow latency faster than the posterior (policies.latency)
    posts: dict[str, Posterior] = field(default_factory=dict)
    priors: dict[str, Prior] = field(default_factory=dict)
    breakers: dict[str, breaker.BreakerState] = field(default_factory=dict)
    meters: dict[str, TokenMeter] = field(default_factory=dict)
    families: dict[str, str] = field(default_factory=dict)
    # (request class, model) -> the class's own posterior
    cells: dict[tuple[str, str], Posterior] = field(default_factory=dict)
    rate: RequestRate = field(default_factory=RequestRate)
    class_rates: dict[str, RequestRate] = field(default_factory=dict)
    changes: dict[str, change.Cusum] = field(default_factory=dict)
    changed: list[tuple[int, str]] = field(default_factory=list)  # (request, model) of each
    policy: ThompsonSampling | None = None
    pacer: Pacer | None = None  # the route's budget, paced as the gateway paces it
    guard: LatencyGuard | None = None  # the route's latency objective
    trend: LatencyTrend | None = None  # the route's latency trend
    ledger: Ledger = field(default_factory=Ledger)  # what the route spent, per period

    def __post_init__(self) -> None:
        objective = self.objective
        if objective.budget is not None:
            self.pacer = Pacer(objective.budget)
        if objective.latency_p95_ms is not None:
            self.guard = LatencyGuard(objective.latency_p95_ms)
        if self.latency_trend and not self.today:
            self.trend = LatencyTrend(self.route.reward)

    @property
    def objective(self) -> Objective:
        return self.route.objective or Objective(self.route.cost_weight)

    def half_life(self, now: float, kind: str = "") -> float | None:
        """The route's effective half-life, or its class's (in the class's requests), as the
        gateway's Beliefs give it."""
        if self.today:
            return TODAY_HALF_LIFE_S
        rate = self.class_rates[kind] if kind else self.rate
        return effective_half_life(self.route.half_life_s, self.route.half_life_requests,
                                   rate.per_second(now))

    def _add(self, name: str, family: str, *, now: float) -> None:
        """A model appears: it starts from its family's pooled evidence (cold start)."""
        half = self.half_life(now)
        siblings = [decayed(p, self.priors[n], now=now, half_life_s=half)
                    for n, p in self.posts.items() if self.families.get(n) == family]
        self.families[name] = family
        self.priors[name] = family_prior(family)
        self.posts[name] = cold_start(family=family, siblings=siblings, now=now,
                                      max_strength=defaults.COLD_START_STRENGTH)
        self.breakers[name] = breaker.BreakerState(window_start=now)
        self.meters[name] = TokenMeter()

    def rank(self, req: Request, rng: np.random.Generator) -> tuple[str, ...]:
        now = req.now
        self.rate.arrived(now)
        if req.kind and self.classes:
            self.class_rates.setdefault(req.kind, RequestRate()).arrived(now)
        for name in req.prices:
            if name not in self.posts:
                self._add(name, req.families[name], now=now)
        if self.policy is None:
            route = self.route
            self.policy = ThompsonSampling(  # the weight is in the arms' cost terms
                cost_weight=1.0, confidence_floor=route.confidence_floor,
                fallback=route.fallback or next(iter(req.prices)),
                exploration=TODAY_EXPLORATION if self.today else route.exploration)
        return self.policy.select(self.arms(req), rng=rng, now=now).ranked

    def arms(self, req: Request) -> list[Arm]:
        now, kind = req.now, req.kind if self.classes else ""
        costs = self.cost_terms({n: request_cost(self.meters[n], p)
                                 for n, p in req.prices.items()}, now)
        half = self.half_life(now)
        posts = {n: decayed(self.posts[n], self.priors[n], now=now, half_life_s=half)
                 for n in req.prices}
        if kind:
            posts = {n: backed_off(self._cell(kind, n, now, self.half_life(now, kind)), p,
                                   self.priors[n],
                                   bound=self.route.class_prior_strength, now=now)
                     for n, p in posts.items()}
        level = None if self.today else \
            route_level(list(posts.values()), [self.priors[n] for n in posts])
        return [Arm(n, *on_route_scale(p, self.priors[n], level), costs[n],
                    breaker.available(self.breakers[n], self.route.breaker, now=now))
                for n, p in posts.items()]

    def cost_terms(self, usd: dict[str, float], now: float) -> dict[str, float]:
        """As the gateway's routing.objective gives them: the route's scale, its budget
        multiplier, its latency penalties and its latency trend."""
        mu = 0.0
        if self.pacer is not None:
            spent = self.ledger.spent("", period_s=self.pacer.budget.period_s, now=now)
            mu = self.pacer.update(spent, now, min(usd.values(), default=0.0))
        return cost_terms(self.objective, usd, mu=mu, penalties=added(
            self.guard.penalties() if self.guard else None,
            self.trend.penalties() if self.trend else None))

    def _cell(self, kind: str, name: str, now: float, half: float | None) -> Posterior | None:
        own = self.cells.get((kind, name))
        return None if own is None else \
            decayed(own, self.priors[name], now=now, half_life_s=half)

    def admit(self, model: str, now: float) -> bool:
        ok, state = breaker.admit(self.breakers[model], self.route.breaker, now=now)
        if ok:
            self.breakers[model] = state
        return ok

    def observe(self, req: Request, obs: Observation) -> None:
        n, now, route = obs.model, req.now, self.route
        before = self.breakers[n]
        self.breakers[n] = breaker.record(before, route.breaker, success=obs.ok, now=now)
        if breaker.recovered(before, self.breakers[n]):
            self.posts[n] = Posterior.from_prior(self.priors[n], now=now)
        # A failed attempt is an observation too (DESIGN.md, /stats).
        r = reward(Outcome(valid=obs.valid, latency_ms=obs.latency_ms), route.reward) \
            if obs.ok else 0.0
        half = self.half_life(now)
        if not self._changed(req, n, r, half):
            self.posts[n] = observe(self.posts[n], r, prior=self.priors[n], now=now,
                                    half_life_s=half, max_strength=route.max_strength)
        kind = req.kind if self.classes else ""
        if kind:  # both levels learn from every answer, as the gateway's learner does
            cell = self.cells.get((kind, n)) or Posterior.from_prior(self.priors[n], now=now)
            self.cells[(kind, n)] = observe(cell, r, prior=self.priors[n], now=now,
                                            half_life_s=self.half_life(now, kind),
                                            max_strength=route.max_strength)
        self._objective(obs, now)
        if obs.ok:
            self.meters[n] = self.meters[n].observed(input_tokens=obs.input_tokens,
                                                     output_tokens=obs.output_tokens)

    def _changed(self, req: Request, n: str, r: float, half: float | None) -> bool:
        """As the gateway's learner: a change restarts the model from its prior plus the
        answers since (this one included), and its classes from their priors."""
        route, now = self.route, req.now
        if self.today or route.change_threshold is None:
            return False
        mean = decayed(self.posts[n], self.priors[n], now=now, half_life_s=half).mean
        self.changes[n], found = change.observe(
            self.changes.get(n, change.Cusum()), mean, r, shift=route.change_shift,
            threshold=route.change_threshold)
        if found is None:
            return False
        self.posts[n] = updated(None, found.reward, found.weight - found.reward,
                                prior=self.priors[n], now=now, half_life_s=half,
                                max_strength=route.max_strength)
        for key in [k for k in self.cells if k[1] == n]:
            del self.cells[key]
        self.changed.append((req.index, n))
        return True

    def _objective(self, obs: Observation, now: float) -> None:
        """What the budget and the latency objective learn from an attempt."""
        if self.pacer is not None:
            self.ledger.add("", obs.usd, period_s=self.pacer.budget.period_s, now=now)
        if obs.ok and obs.valid:
            if self.guard is not None:
                self.guard.observe(obs.model, obs.latency_ms)
            if self.trend is not None:
                self.trend.observe(obs.model, obs.latency_ms)
