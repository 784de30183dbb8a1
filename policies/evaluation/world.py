"""The simulated world: models with a true quality, latency, error rate and price, scenarios
that change them over time (each change makes a different model the best), and the truth an
oracle ranks by (expected reward - cost_weight * normalised cost)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from policies import breaker, defaults
from policies.cost import Price, TokenMeter, normalized, request_cost
from policies.reward import RewardConfig, latency_score

SCENARIOS = ("stationary", "degrade", "outage", "cold", "mixed")
# Built to catch lock-in: the best of 3, 4 or 6 models degrades and later recovers, after the
# runner-up was abandoned early (its first answers were bad by chance).
LOCKIN = ("lockin-3", "lockin-4", "lockin-6")
RATES = (0.2, 2.0, 20.0)  # requests per second the lock-in scenarios run at
# The mixed workload: this share of requests is hard (tools, strict schemas), the rest easy.
HARD_SHARE = 0.3
KINDS = ("easy", "hard")
REQUEST_RATE = 2.0  # requests per second arriving at the route (Poisson)


@dataclass(frozen=True, slots=True)
class WorldModel:
    name: str
    family: str
    quality: float  # P(valid answer | no upstream error)
    latency_ms: float  # median
    error_rate: float  # P(upstream error: 5xx, timeout)
    price: Price
    output_tokens: float = 300.0
    latency_sigma: float = 0.35  # of log latency
    hard_quality: float | None = None  # P(valid | no error) on hard requests; None: `quality`

    def quality_on(self, kind: str) -> float:
        return self.hard_quality if kind == "hard" and self.hard_quality is not None \
            else self.quality


@dataclass(frozen=True, slots=True)
class Phase:
    start: float  # fraction of the run
    models: tuple[WorldModel, ...]


@dataclass(frozen=True, slots=True)
class Route:
    cost_weight: float = defaults.COST_WEIGHT
    half_life_s: float | None = defaults.HALF_LIFE_S
    half_life_requests: float | None = defaults.HALF_LIFE_REQUESTS
    max_strength: float | None = defaults.MAX_STRENGTH
    confidence_floor: float = defaults.CONFIDENCE_FLOOR
    exploration: float = defaults.EXPLORATION
    max_attempts: int = defaults.MAX_ATTEMPTS
    fallback: str = "gpt-4o-mini"  # degrades and fails in the scenarios: it must not trap us
    class_prior_strength: float = defaults.CLASS_PRIOR_STRENGTH
    reward: RewardConfig = field(default_factory=lambda: defaults.REWARD)
    breaker: breaker.BreakerConfig = field(default_factory=lambda: defaults.BREAKER)


PREMIUM = WorldModel("gpt-4o", "openai", 0.97, 1400, 0.005, Price(2.5, 10.0))
MID = WorldModel("claude-haiku", "anthropic", 0.95, 800, 0.01, Price(0.8, 4.0))
MINI = WorldModel("gpt-4o-mini", "openai", 0.93, 700, 0.005, Price(0.15, 0.6))
SMALL = WorldModel("llama-8b", "meta", 0.75, 450, 0.02, Price(0.05, 0.08))
NEW = WorldModel("gpt-4.1-mini", "openai", 0.97, 500, 0.005, Price(0.1, 0.4))
BASE = (PREMIUM, MID, MINI, SMALL)


def scenario(name: str) -> tuple[Phase, ...]:
    """The truth over time. Each change makes a different model the best one."""
    degraded = replace(MINI, quality=0.85, latency_ms=2100, error_rate=0.3)
    down = replace(MINI, error_rate=1.0)
    if name == "stationary":
        return (Phase(0.0, BASE),)
    if name == "degrade":
        bad = (PREMIUM, MID, degraded, SMALL)
        return (Phase(0.0, BASE), Phase(1 / 3, bad), Phase(2 / 3, BASE))
    if name == "outage":
        return (Phase(0.0, BASE), Phase(1 / 3, (PREMIUM, MID, down, SMALL)), Phase(1 / 2, BASE))
    if name == "cold":
        return (Phase(0.0, BASE), Phase(1 / 3, (*BASE, NEW)))
    if name in LOCKIN:
        return lockin(name)
    if name == "mixed":
        # The cheap models break most hard requests: the best model depends on the request.
        return (Phase(0.0, (replace(PREMIUM, hard_quality=0.96),
                            replace(MID, hard_quality=0.85),
                            replace(MINI, hard_quality=0.45),
                            replace(SMALL, hard_quality=0.2))),)
    raise ValueError(f"Unknown scenario {name!r}; choose one of "
                     f"{', '.join((*SCENARIOS, *LOCKIN))}.")


# Invalid-answer rates of the lock-in models, best first: the gaps after the runner-up are
# large (3), small (4: the last two 3 points apart) and both (6). Equal prices and latency,
# no family.
_LOCKIN_INVALID = {"lockin-3": (0.02, 0.10, 0.25), "lockin-4": (0.02, 0.10, 0.25, 0.28),
                   "lockin-6": (0.02, 0.10, 0.25, 0.28, 0.35, 0.5)}
LOCKIN_CHANGE = 1 / 3  # the best model degrades here, and recovers at 2/3


def lockin(name: str) -> tuple[Phase, ...]:
    models = tuple(WorldModel(f"m{i}", "custom", 1.0 - bad, 800, 0.0, Price(0.5, 1.5))
                   for i, bad in enumerate(_LOCKIN_INVALID[name]))
    best, runner_up, *rest = models
    unlucky = replace(runner_up, quality=0.2)  # its first answers: the route gives up on it
    degraded = replace(best, quality=0.4)
    return (Phase(0.0, (best, unlucky, *rest)), Phase(0.05, models),
            Phase(LOCKIN_CHANGE, (degraded, runner_up, *rest)), Phase(2 / 3, models))


@functools.lru_cache(maxsize=256)
def expected_reward(m: WorldModel, cfg: RewardConfig, kind: str = "easy") -> float:
    """E[reward] of one attempt; the latency part over fixed normal draws, so it is exact to
    about 1e-3 and the same on every run."""
    draws = m.latency_ms * np.exp(m.latency_sigma * np.random.default_rng(0).standard_normal(4000))
    lat = np.mean([latency_score(float(ms), cfg) for ms in draws])
    total = cfg.validity_weight + cfg.latency_weight + cfg.retries_weight
    valid = (cfg.validity_weight + cfg.latency_weight * lat + cfg.retries_weight) / total
    return float((1.0 - m.error_rate) * m.quality_on(kind) * valid)


def model_cost(m: WorldModel) -> float:
    return request_cost(TokenMeter(600.0, m.output_tokens), m.price)


def true_utilities(models: Sequence[WorldModel], route: Route,
                   kind: str = "easy") -> dict[str, float]:
    costs = normalized({m.name: model_cost(m) for m in models})
    return {m.name: expected_reward(m, route.reward, kind) - route.cost_weight * costs[m.name]
            for m in models}
