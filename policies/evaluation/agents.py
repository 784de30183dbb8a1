"""The agents the evaluator compares: our policy, baselines, and the oracle. An agent sees the
arms of one request (the posteriors, costs and availability a replica holds) and returns the
models to try, in order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from policies.evaluation.world import Route
from policies.thompson import Arm, ThompsonSampling

OURS = "bayesgate"


@dataclass(slots=True)
class View:
    """What an agent sees for one request."""

    index: int
    arms: list[Arm]
    truth: dict[str, float]  # only the oracle may look (the truth for this request's kind)


Agent = Callable[[View, np.random.Generator], tuple[str, ...]]


def thompson_agent(route: Route, *, cost_weight: float,
                   exploration: float | None = None) -> Agent:
    policy = ThompsonSampling(cost_weight=cost_weight, fallback=route.fallback,
                              confidence_floor=route.confidence_floor,
                              exploration=route.exploration if exploration is None
                              else exploration)
    return lambda view, rng: policy.select(view.arms, rng=rng, now=0.0).ranked


def _shuffled_rest(first: str, view: View, rng: np.random.Generator) -> tuple[str, ...]:
    rest = [a.name for a in view.arms if a.name != first]
    return (first, *(rest[i] for i in rng.permutation(len(rest))))


def random_agent(view: View, rng: np.random.Generator) -> tuple[str, ...]:
    return _shuffled_rest(view.arms[int(rng.integers(len(view.arms)))].name, view, rng)


def round_robin_agent(view: View, rng: np.random.Generator) -> tuple[str, ...]:
    return _shuffled_rest(view.arms[view.index % len(view.arms)].name, view, rng)


def by_cost_agent(*, cheapest: bool) -> Agent:
    def rank(view: View, rng: np.random.Generator) -> tuple[str, ...]:
        arms = sorted(view.arms, key=lambda a: a.cost if cheapest else -a.cost)
        return tuple(a.name for a in arms)
    return rank


def epsilon_greedy_agent(route: Route, *, epsilon: float = 0.1) -> Agent:
    def rank(view: View, rng: np.random.Generator) -> tuple[str, ...]:
        util = {a.name: a.alpha / (a.alpha + a.beta) - route.cost_weight * a.cost
                for a in view.arms}
        ranked = tuple(sorted(util, key=lambda n: -util[n]))
        if rng.random() < epsilon:
            return random_agent(view, rng)
        return ranked
    return rank


def oracle_agent(view: View, rng: np.random.Generator) -> tuple[str, ...]:
    return tuple(sorted(view.truth, key=lambda n: -view.truth[n]))


BLIND = frozenset({"random", "round-robin", "most expensive", "cheapest", "oracle"})
# Sees the route-level posteriors only, as a gateway without request classes would.
POOLED = f"{OURS} no classes"
# The policy before the lock-in fix: evidence decays by time only (120 s) toward the models'
# own priors, draws with 30% of the variance.
TODAY = f"{OURS} time decay only"
TODAY_HALF_LIFE_S = 120.0
TODAY_EXPLORATION = 0.3


def agents(route: Route) -> dict[str, Agent]:
    return {
        OURS: thompson_agent(route, cost_weight=route.cost_weight),
        f"{OURS} cost_weight=0": thompson_agent(route, cost_weight=0.0),
        POOLED: thompson_agent(route, cost_weight=route.cost_weight),
        TODAY: thompson_agent(route, cost_weight=route.cost_weight,
                              exploration=TODAY_EXPLORATION),
        "epsilon-greedy 0.1": epsilon_greedy_agent(route),
        "random": random_agent,
        "round-robin": round_robin_agent,
        "most expensive": by_cost_agent(cheapest=False),
        "cheapest": by_cost_agent(cheapest=True),
        "oracle": oracle_agent,
    }
