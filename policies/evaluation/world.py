"""The simulated world: models with a true quality, latency, error rate and price, scenarios
that change them over time, and the truth an oracle ranks by (expected reward - cost_weight *
normalised cost).

A scenario's models are drawn afresh for every seed (`scenario(name, seed=...)`: qualities,
latencies, error rates and prices move around their nominal values), and what a scenario
changes is chosen from the drawn truth (the model that is best degrades, whichever it is), so
no policy can be tuned to one layout. Seeds come in two sets: defaults may be tuned on
`TUNING_SEEDS` only, and the checks grade `EVALUATION_SEEDS`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from policies import breaker, defaults
from policies.cost import Price, TokenMeter, request_cost
from policies.objective import Objective, cost_terms
from policies.reward import RewardConfig, latency_score

SCENARIOS = ("stationary", "degrade", "outage", "cold", "arrival", "mixed", "drift", "daily",
             "storm")
# Built to catch lock-in: the best of 3, 4 or 6 models degrades and later recovers, after the
# runner-up was abandoned early (its first answers were bad by chance).
LOCKIN = ("lockin-3", "lockin-4", "lockin-6")
RATES = (0.2, 2.0, 20.0)  # requests per second every scenario runs at
# The mixed workload: this share of requests is hard (tools, strict schemas), the rest easy.
HARD_SHARE = 0.3
KINDS = ("easy", "hard")
INPUT_TOKENS = 600.0
EVALUATION_BASE = 10_000  # evaluation seed i is EVALUATION_BASE + i; tuning seed i is i


def tuning_seeds(n: int) -> list[int]:
    return list(range(n))


def evaluation_seeds(n: int) -> list[int]:
    return [EVALUATION_BASE + i for i in range(n)]


@dataclass(frozen=True, slots=True)
class WorldModel:
    name: str
    family: str
    quality: float  # P(valid answer | no upstream error)
    latency_ms: float  # median
    error_rate: float  # P(upstream error: 5xx, timeout, 429)
    price: Price
    output_tokens: float = 300.0
    latency_sigma: float = 0.35  # of log latency
    hard_quality: float | None = None  # P(valid | no error) on hard requests; None: `quality`
    # P(wrong | valid): an answer that passes every check the gateway can make but is wrong.
    # No policy sees it; the report counts it to show what label-free signals miss.
    wrong_rate: float = 0.0

    def quality_on(self, kind: str) -> float:
        return self.hard_quality if kind == "hard" and self.hard_quality is not None \
            else self.quality


@dataclass(frozen=True, slots=True)
class Phase:
    start: float  # fraction of the run
    models: tuple[WorldModel, ...]
    # "change": the report measures requests to adapt from here; "recover": to recover;
    # other names only mark the phase (a price "cut")
    event: str = ""


@dataclass(frozen=True, slots=True)
class Route:
    cost_weight: float = defaults.COST_WEIGHT
    half_life_s: float | None = defaults.HALF_LIFE_S
    half_life_requests: float | None = defaults.HALF_LIFE_REQUESTS
    max_strength: float | None = defaults.MAX_STRENGTH
    confidence_floor: float = defaults.CONFIDENCE_FLOOR
    exploration: float = defaults.EXPLORATION
    max_attempts: int = defaults.MAX_ATTEMPTS
    # None: the route's first candidate, as in the gateway's config
    fallback: str | None = None
    class_prior_strength: float = defaults.CLASS_PRIOR_STRENGTH
    change_shift: float = defaults.CHANGE_SHIFT
    change_threshold: float | None = defaults.CHANGE_THRESHOLD  # None: no change detection
    reward: RewardConfig = field(default_factory=lambda: defaults.REWARD)
    breaker: breaker.BreakerConfig = field(default_factory=lambda: defaults.BREAKER)
    # A value per good answer, a budget, a latency objective; None: cost_weight alone.
    objective: Objective | None = None

    def terms(self, usd: Mapping[str, float]) -> dict[str, float]:
        """Each model's cost term in reward units (no budget or latency multiplier)."""
        return cost_terms(self.objective or Objective(self.cost_weight), usd)


# The route's candidates in the order an operator lists them: the most capable first (it is
# the fallback and the head of a static fallback list).
PREMIUM = WorldModel("gpt-4o", "openai", 0.97, 1400, 0.005, Price(2.5, 10.0), wrong_rate=0.03)
MID = WorldModel("claude-haiku", "anthropic", 0.95, 800, 0.01, Price(0.8, 4.0), wrong_rate=0.06)
MINI = WorldModel("gpt-4o-mini", "openai", 0.93, 700, 0.005, Price(0.15, 0.6), wrong_rate=0.08)
SMALL = WorldModel("llama-8b", "meta", 0.75, 450, 0.02, Price(0.05, 0.08), wrong_rate=0.25)
BASE = (PREMIUM, MID, MINI, SMALL)
# Arrivals: one of a family the route knows, one of a family it has never seen.
NEW = WorldModel("gpt-4.1-mini", "openai", 0.97, 500, 0.005, Price(0.1, 0.4), wrong_rate=0.04)
STRANGER = WorldModel("qwen-3", "qwen", 0.97, 450, 0.005, Price(0.08, 0.3), wrong_rate=0.04)
DAILY_CYCLES = 2  # "days" per run in the daily scenario, each in DAILY_STEPS phases
DAILY_STEPS = 12
DRIFT_STEPS = 10


def scenario(name: str, *, seed: int | None = None, route: Route | None = None,
             ) -> tuple[Phase, ...]:
    """The truth over time; with a seed, the models are drawn for that seed."""
    if name in LOCKIN:
        return lockin(name)
    if name not in SCENARIOS:
        raise ValueError(f"Unknown scenario {name!r}; choose one of "
                         f"{', '.join((*SCENARIOS, *LOCKIN))}.")
    rng = np.random.default_rng([seed, 7]) if seed is not None else None
    base = tuple(drawn(m, rng) for m in BASE)
    route = route or Route()
    best = _best(base, route)
    if name == "stationary":
        return (Phase(0.0, base),)
    if name == "degrade":
        bad = _swap(base, replace(best, quality=best.quality - 0.12,
                                  latency_ms=best.latency_ms * 3, error_rate=0.3))
        return (Phase(0.0, base), Phase(1 / 3, bad, "change"), Phase(2 / 3, base, "recover"))
    if name == "outage":
        down = _swap(base, replace(best, error_rate=1.0))
        return (Phase(0.0, base), Phase(1 / 3, down, "change"), Phase(1 / 2, base, "recover"))
    if name in ("cold", "arrival"):
        new = drawn(NEW if name == "cold" else STRANGER, rng)
        return (Phase(0.0, base), Phase(1 / 3, (*base, new), "change"))
    if name == "mixed":
        # The cheap models break most hard requests: the best model depends on the request.
        hard = dict(zip(BASE, (0.96, 0.85, 0.45, 0.2), strict=True))
        return (Phase(0.0, tuple(replace(m, hard_quality=hard[b])
                                 for m, b in zip(base, BASE, strict=True))),)
    if name == "drift":
        return _drift(base, best, route)
    if name == "daily":
        return _daily(base, rng)
    # storm: the best model is rate-limited (429s) for a while; later another model's price is
    # cut below every other's (the one that gains most from it), which makes it the best in
    # most draws.
    limited = _swap(base, replace(best, error_rate=0.7))
    cheapest = min(base, key=model_cost).price
    cuts = [_swap(base, replace(m, price=Price(cheapest.input_per_mtok / 2,
                                               cheapest.output_per_mtok / 2)))
            for m in base if m is not best]
    cut = max(cuts, key=lambda models: max(true_utilities(models, route).values()))
    return (Phase(0.0, base), Phase(1 / 3, limited, "change"), Phase(1 / 2, base, "recover"),
            Phase(2 / 3, cut, "cut"))


def drawn(m: WorldModel, rng: np.random.Generator | None) -> WorldModel:
    """`m` with its parameters drawn around their nominal values (unchanged without a rng)."""
    if rng is None:
        return m
    jitter = rng.standard_normal(5)
    return replace(
        m,
        quality=float(np.clip(m.quality + 0.015 * jitter[0], 0.05, 0.995)),
        latency_ms=float(m.latency_ms * math.exp(0.2 * jitter[1])),
        error_rate=float(np.clip(m.error_rate * math.exp(0.4 * jitter[2]), 0.0, 0.5)),
        price=Price(m.price.input_per_mtok * math.exp(0.25 * jitter[3]),
                    m.price.output_per_mtok * math.exp(0.25 * jitter[3])),
        output_tokens=float(m.output_tokens * math.exp(0.2 * jitter[4])),
    )


def _best(models: Sequence[WorldModel], route: Route, kind: str = "easy") -> WorldModel:
    truth = true_utilities(models, route, kind)
    return max(models, key=lambda m: truth[m.name])


def _swap(models: Sequence[WorldModel], new: WorldModel) -> tuple[WorldModel, ...]:
    return tuple(new if m.name == new.name else m for m in models)


def _drift(base: tuple[WorldModel, ...], best: WorldModel, route: Route) -> tuple[Phase, ...]:
    """The best model slowly gets worse over the middle half of the run, and stays so; the
    "change" is the step where another model becomes the best."""
    phases = [Phase(0.0, base)]
    changed = False
    for k in range(1, DRIFT_STEPS + 1):
        models = _swap(base, replace(best, quality=best.quality - 0.3 * k / DRIFT_STEPS,
                                     latency_ms=best.latency_ms * (1 + k / DRIFT_STEPS)))
        event = ""
        if not changed and _best(models, route).name != best.name:
            event, changed = "change", True
        phases.append(Phase(0.25 + 0.5 * (k - 1) / DRIFT_STEPS, models, event))
    return tuple(phases)


def _daily(base: tuple[WorldModel, ...], rng: np.random.Generator | None) -> tuple[Phase, ...]:
    """Latency cycles: each model is slowest at its own time of day (a provider's peak)."""
    offsets = rng.uniform(0, 2 * math.pi, len(base)) if rng is not None \
        else np.linspace(0, 2 * math.pi, len(base), endpoint=False)
    steps = DAILY_CYCLES * DAILY_STEPS
    phases = []
    for k in range(steps):
        angle = 2 * math.pi * k / DAILY_STEPS
        phases.append(Phase(k / steps, tuple(
            replace(m, latency_ms=m.latency_ms * (1.0 + 1.2 * max(0.0, math.sin(angle + o))) ** 2)
            for m, o in zip(base, offsets, strict=True))))
    return tuple(phases)


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
            Phase(LOCKIN_CHANGE, (degraded, runner_up, *rest), "change"),
            Phase(2 / 3, models, "recover"))


_NORMAL = np.random.default_rng(0).standard_normal(2000)  # fixed draws of log latency


@functools.lru_cache(maxsize=4096)
def expected_reward(m: WorldModel, cfg: RewardConfig, kind: str = "easy") -> float:
    """E[reward] of one attempt; the latency part over fixed normal draws, so it is exact to
    about 1e-3 and the same on every run."""
    draws = m.latency_ms * np.exp(m.latency_sigma * _NORMAL)
    lat = np.mean([latency_score(float(ms), cfg) for ms in draws])
    total = cfg.validity_weight + cfg.latency_weight + cfg.retries_weight
    valid = (cfg.validity_weight + cfg.latency_weight * lat + cfg.retries_weight) / total
    return float((1.0 - m.error_rate) * m.quality_on(kind) * valid)



def model_cost(m: WorldModel) -> float:
    return request_cost(TokenMeter(INPUT_TOKENS, m.output_tokens), m.price)


def true_utilities(models: Sequence[WorldModel], route: Route,
                   kind: str = "easy") -> dict[str, float]:
    costs = route.terms({m.name: model_cost(m) for m in models})
    return {m.name: expected_reward(m, route.reward, kind) - costs[m.name] for m in models}


def mixed_utilities(models: Sequence[WorldModel], route: Route) -> dict[str, float]:
    """What an oracle that knows the phase but not each request's kind ranks by."""
    easy, hard = true_utilities(models, route, "easy"), true_utilities(models, route, "hard")
    return {n: (1 - HARD_SHARE) * easy[n] + HARD_SHARE * hard[n] for n in easy}
