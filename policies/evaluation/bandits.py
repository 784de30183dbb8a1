"""The learning baselines, each learning from the rewards of its own choices only.

All but the seed library's algorithm score an attempt with the gateway's label-free reward
(`policies.reward`, 0 for a failed attempt) and rank by the route's utility, the estimate minus
`cost_weight` x the request's normalised list cost, so they chase the objective the oracle
ranks by and differ from ours only in how they learn. Each has the plain breaker a gateway
puts in front of any policy (`agents.Breaker`).

The seed library's algorithm, with its published defaults: Beta Thompson sampling on its own
composite reward (0.5 validity + 0.3 latency + 0.2 cost, the cost as 1 - normalised price),
every posterior multiplied by gamma 0.95 (toward Beta(1, 1)) every 50 queries, a confidence
floor of 0.5 (the sampled winner serves only if it beats the route's first candidate with at
least that probability) and its breaker (5 failures in a row, 30 s).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from policies.evaluation.agents import (
    Breaker,
    Maker,
    Observation,
    Request,
    list_costs,
    list_terms,
)
from policies.evaluation.world import Route
from policies.reward import Outcome, latency_score, reward
from policies.thompson import prob_better


class Learning:
    """The shared part: a breaker, the reward of an attempt, the cost term of a request."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.breaker = Breaker()
        self.costs: dict[str, float] = {}
        self.t = 0  # requests seen

    def rank(self, req: Request, rng: np.random.Generator) -> tuple[str, ...]:
        self.t += 1
        self.costs = list_terms(req, self.route)
        score = self.scores(req, rng)
        util = {n: score[n] - self.costs[n] for n in req.prices}
        return tuple(sorted(util, key=lambda n: -util[n]))

    def scores(self, req: Request, rng: np.random.Generator) -> dict[str, float]:
        raise NotImplementedError

    def admit(self, model: str, now: float) -> bool:
        return self.breaker.admit(model, now)

    def observe(self, req: Request, obs: Observation) -> None:
        self.breaker.record(obs.model, obs.ok, req.now)
        self.learn(obs.model, self.reward(obs))

    def reward(self, obs: Observation) -> float:
        if not obs.ok:
            return 0.0
        return reward(Outcome(valid=obs.valid, latency_ms=obs.latency_ms), self.route.reward)

    def learn(self, model: str, r: float) -> None:
        raise NotImplementedError


@dataclass(slots=True)
class Tally:
    n: float = 0.0
    total: float = 0.0

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    def add(self, r: float, n: float = 1.0) -> None:
        self.n += n
        self.total += n * r


class UCB1(Learning):
    """Auer et al. (2002): mean + sqrt(2 ln t / n); every model once first."""

    def __init__(self, route: Route) -> None:
        super().__init__(route)
        self.tally: dict[str, Tally] = {}

    def scores(self, req: Request, rng: np.random.Generator) -> dict[str, float]:
        log_t = math.log(max(self.t, 2))
        out = {}
        for n in req.prices:
            s = self.tally.get(n)
            out[n] = math.inf if s is None or s.n == 0 else s.mean + math.sqrt(2 * log_t / s.n)
        return out

    def learn(self, model: str, r: float) -> None:
        self.tally.setdefault(model, Tally()).add(r)


class SlidingWindowUCB(Learning):
    """Garivier & Moulines (2011): UCB over the last `window` observations only."""

    def __init__(self, route: Route, window: int = 200) -> None:
        super().__init__(route)
        self.window: deque[tuple[str, float]] = deque(maxlen=window)
        self.tally: dict[str, Tally] = {}

    def scores(self, req: Request, rng: np.random.Generator) -> dict[str, float]:
        log_t = math.log(max(2, min(self.t, self.window.maxlen or 1)))
        out = {}
        for n in req.prices:
            s = self.tally.get(n)
            out[n] = math.inf if s is None or s.n < 0.5 else \
                s.mean + math.sqrt(2 * log_t / s.n)
        return out

    def learn(self, model: str, r: float) -> None:
        if len(self.window) == self.window.maxlen:
            old, old_r = self.window[0]
            self.tally[old].add(old_r, -1.0)
        self.window.append((model, r))
        self.tally.setdefault(model, Tally()).add(r)


class EpsilonGreedy(Learning):
    """The sample mean's best, or with probability epsilon a random order."""

    def __init__(self, route: Route, epsilon: float = 0.1) -> None:
        super().__init__(route)
        self.epsilon = epsilon
        self.tally: dict[str, Tally] = {}

    def scores(self, req: Request, rng: np.random.Generator) -> dict[str, float]:
        if rng.random() < self.epsilon:
            return {n: float(rng.random()) * 10 for n in req.prices}
        return {n: self.tally[n].mean if n in self.tally else math.inf for n in req.prices}

    def learn(self, model: str, r: float) -> None:
        self.tally.setdefault(model, Tally()).add(r)


@dataclass(slots=True)
class Beta:
    alpha: float = 1.0
    beta: float = 1.0
    at: int = 0  # the step of its last discount

    def add(self, r: float) -> None:
        self.alpha += r
        self.beta += 1.0 - r

    def discount(self, keep: float) -> None:
        """Keep `keep` of the evidence, toward Beta(1, 1)."""
        self.alpha, self.beta = 1 + keep * (self.alpha - 1), 1 + keep * (self.beta - 1)


class DiscountedThompson(Learning):
    """Raj & Kalyani (2017): Beta Thompson sampling whose evidence is multiplied by `gamma`
    at every request (toward Beta(1, 1)), so it remembers ~1 / (1 - gamma) requests."""

    def __init__(self, route: Route, gamma: float = 0.99) -> None:
        super().__init__(route)
        self.gamma = gamma
        self.beliefs: dict[str, Beta] = {}

    def _now(self, model: str) -> Beta:
        b = self.beliefs.setdefault(model, Beta(at=self.t))
        b.discount(self.gamma ** (self.t - b.at))
        b.at = self.t
        return b

    def scores(self, req: Request, rng: np.random.Generator) -> dict[str, float]:
        return {n: float(rng.beta(b.alpha, b.beta))
                for n in req.prices for b in (self._now(n),)}

    def learn(self, model: str, r: float) -> None:
        self._now(model).add(r)


@dataclass(slots=True)
class SeedLibrary:
    """The seed library's algorithm with its published defaults (see the module's text)."""

    route: Route
    gamma: float = 0.95
    every: int = 50
    floor: float = 0.5
    weights: tuple[float, float, float] = (0.5, 0.3, 0.2)
    beliefs: dict[str, Beta] = field(default_factory=dict)
    breaker: Breaker = field(default_factory=Breaker)
    costs: dict[str, float] = field(default_factory=dict)
    t: int = 0

    def rank(self, req: Request, rng: np.random.Generator) -> tuple[str, ...]:
        self.t += 1
        if self.t % self.every == 0:
            for b in self.beliefs.values():
                b.discount(self.gamma)
        self.costs = list_costs(req)
        beliefs = {n: self.beliefs.setdefault(n, Beta()) for n in req.prices}
        theta = {n: float(rng.beta(b.alpha, b.beta)) for n, b in beliefs.items()}
        order = sorted(theta, key=lambda n: -theta[n])
        head = next(iter(req.prices))
        win, fb = beliefs[order[0]], beliefs[head]
        if order[0] != head and self.breaker.admit(head, req.now) and prob_better(
                (win.alpha, win.beta, 0.0), (fb.alpha, fb.beta, 0.0),
                cost_weight=0.0) < self.floor:
            order = [head, *(n for n in order if n != head)]
        return tuple(order)

    def admit(self, model: str, now: float) -> bool:
        return self.breaker.admit(model, now)

    def observe(self, req: Request, obs: Observation) -> None:
        self.breaker.record(obs.model, obs.ok, req.now)
        v, lat, c = self.weights
        r = 0.0 if not obs.ok else (
            v * obs.valid + lat * latency_score(obs.latency_ms, self.route.reward)
            + c * (1.0 - self.costs.get(obs.model, 1.0)))
        self.beliefs.setdefault(obs.model, Beta()).add(r)


SEED = "seed library"
LEARNING: dict[str, Maker] = {  # each class, called with the route, is a fresh policy
    SEED: SeedLibrary,
    "UCB1": UCB1,
    "discounted TS 0.99": DiscountedThompson,
    "sliding-window UCB 200": SlidingWindowUCB,
    "epsilon-greedy 0.1": EpsilonGreedy,
}
