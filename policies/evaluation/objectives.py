"""The objectives report: does a route hold the objective it is given?

Each part runs ours on the stationary scenario (models drawn per seed), first without the
objective, then with it, on the same seed:

- budget: BUDGET_HOURS simulated hours at 2 requests/s, with a budget per hour half-way
  between what serving the cheapest candidate only and the unconstrained run spent per hour.
  Per seed: the most spent in any hour over the budget (at most 1.01: the budget holds), the
  share of the budget used (pacing must not starve the route), and the mean reward kept,
  against the unconstrained run and against serving the cheapest candidate only.
- latency: LATENCY_REQUESTS requests at 2 requests/s, with a p95 objective 1.1x the true p95
  of the slowest model whose p95 is under 0.9x what the unconstrained run served (a seed with
  no such model is skipped). Per seed: the share of answers slower than the objective over
  the second half of the run (at most 5% over the seeds: the p95 holds; in no seed far over
  it), and the mean reward kept.
- value: the same scenario with a value per good answer from 10x below to 1,000x above the
  cost of the dearest model's answer: spend must rise with the value (the scale means what it
  says), and at the top, where cost is noise, the route must earn the reward it earns with
  cost_weight 0 (spend is no test there: near-ties between a $0.005 and a $0.0002 model
  swing it by tens of percent).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from policies.evaluation.agents import SIMPLE
from policies.evaluation.ours import Bayesgate
from policies.evaluation.replay import Run, run
from policies.evaluation.world import Route, model_cost, scenario
from policies.objective import Budget, Objective

BUDGET_HOURS = 3
# The budget per hour: this far from what the cheapest candidate alone spends to what the route
# spends without a budget (a budget below the first cannot be held without refusing requests).
BUDGET_SHARE = 0.5
RATE = 2.0
LATENCY_REQUESTS = 4000
# The share of answers over the p95 objective: at most 5% over the seeds, and in the worst
# seed at most 7.5% (5% plus 5 standard errors of a share measured over the 2,000 answers of
# the second half: the policy mixes models to hold it, so its share is a noisy 4-5%; on 56
# tuning seeds the worst was 6.55%, the 90th percentile 5.4%).
OVER_SHARE_MEAN = 0.05
OVER_SHARE_MAX = 0.075
BUDGET_USED_MIN = 0.8
VALUES = (0.1, 1.0, 10.0, 1000.0)  # x the dearest model's cost of one answer
Z95 = 1.645


@dataclass(frozen=True, slots=True)
class Objectives:
    seeds: int
    over_budget: float  # the most spent in one hour over the budget, across seeds
    budget_used: float  # the least share of the budget used, across seeds
    budget_reward: float  # mean reward with the budget / without it (mean over seeds)
    cheapest_reward: float  # mean reward of the cheapest candidate only / without a budget
    latency_seeds: int
    over_share: float  # the largest share of answers over the objective, across seeds
    over_share_mean: float  # ... its mean over the seeds
    latency_reward: float  # mean reward with the objective / without it
    value_spend: tuple[float, ...]  # USD per 1,000 requests at each of VALUES (mean)
    value_free_spend: float  # ... with cost_weight 0
    value_top_reward: float  # mean reward at the top value
    value_free_reward: float  # ... with cost_weight 0, which the top value should match


def _budget(seed: int, route: Route) -> tuple[float, float, float, float]:
    phases = scenario("stationary", seed=seed, route=route)
    n = int(BUDGET_HOURS * 3600 * RATE)
    free = run(Bayesgate(route), phases, route, seed=seed, requests=n, rate=RATE, log=True)
    cheapest = run(SIMPLE["lowest cost"](route), phases, route, seed=seed, requests=n,
                   rate=RATE, log=True)
    least = float(np.mean(_per_hour(cheapest)))
    budget = least + BUDGET_SHARE * (float(np.mean(_per_hour(free))) - least)
    held = replace(route, objective=Objective(route.cost_weight, budget=Budget(budget, "hour")))
    paced = run(Bayesgate(held), phases, held, seed=seed, requests=n, rate=RATE, log=True)
    spent = _per_hour(paced)
    return (max(spent) / budget, float(np.mean(spent)) / budget,
            paced.quality / free.quality, cheapest.quality / free.quality)


def _per_hour(r: Run) -> list[float]:
    hours = [0.0] * (int(r.served[-1][0] // 3600) + 1)
    for t, usd, _ in r.served:
        hours[int(t // 3600)] += usd
    # only whole hours: the last one ends where the run does
    return hours[:-1] if len(hours) > 1 else hours


def _latency(seed: int, route: Route) -> tuple[float, float] | None:
    phases = scenario("stationary", seed=seed, route=route)
    n = LATENCY_REQUESTS
    free = run(Bayesgate(route), phases, route, seed=seed, requests=n, rate=RATE, log=True)
    served = np.array([lat for _, _, lat in free.served[n // 2:]])
    p95 = float(np.quantile(served, 0.95))
    models = phases[0].models
    fits = [m.latency_ms * math.exp(Z95 * m.latency_sigma) for m in models]
    feasible = [f for f in fits if f < 0.9 * p95]
    if not feasible:
        return None
    target = 1.1 * max(feasible)
    held = replace(route, objective=Objective(route.cost_weight, latency_p95_ms=target))
    guarded = run(Bayesgate(held), phases, held, seed=seed, requests=n, rate=RATE, log=True)
    late = np.array([lat for _, _, lat in guarded.served[n // 2:]])
    return float(np.mean(late > target)), guarded.quality / free.quality


def _value(seed: int, route: Route) -> tuple[float, ...]:
    """USD per 1,000 requests at each value, then with cost_weight 0; then the mean reward
    at the top value and with cost_weight 0."""
    phases = scenario("stationary", seed=seed, route=route)
    dearest = max(model_cost(m) for m in phases[0].models)
    n = 2000
    runs = []
    for valued in (*(replace(route, objective=Objective(value_usd=k * dearest))
                     for k in VALUES), replace(route, cost_weight=0.0)):
        runs.append(run(Bayesgate(valued), phases, valued, seed=seed, requests=n, rate=RATE))
    return (*(r.cost * 1000 / n for r in runs), runs[-2].quality / n, runs[-1].quality / n)


def _one(task: tuple[str, int, Route]) -> object:
    part, seed, route = task
    return {"budget": _budget, "latency": _latency, "value": _value}[part](seed, route)


def evaluate_objectives(*, seeds: Sequence[int], route: Route, jobs: int = 1) -> Objectives:
    tasks = [(part, s, route) for part in ("budget", "latency", "value") for s in seeds]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_one, tasks, chunksize=1))
    else:
        results = [_one(t) for t in tasks]
    by = {part: [r for t, r in zip(tasks, results, strict=True) if t[0] == part]
          for part in ("budget", "latency", "value")}
    budget: list[tuple[float, float, float, float]] = by["budget"]  # type: ignore[assignment]
    latency = [r for r in by["latency"] if r is not None]
    value = np.array(by["value"]).mean(axis=0)
    return Objectives(
        seeds=len(seeds),
        over_budget=max(b[0] for b in budget), budget_used=min(b[1] for b in budget),
        budget_reward=float(np.mean([b[2] for b in budget])),
        cheapest_reward=float(np.mean([b[3] for b in budget])),
        latency_seeds=len(latency),
        over_share=max((r[0] for r in latency), default=math.nan),  # type: ignore[index]
        over_share_mean=float(np.mean([r[0] for r in latency])),  # type: ignore[index]
        latency_reward=float(np.mean([r[1] for r in latency])),  # type: ignore[index]
        value_spend=tuple(float(v) for v in value[:len(VALUES)]),
        value_free_spend=float(value[-3]), value_top_reward=float(value[-2]),
        value_free_reward=float(value[-1]))


def objective_checks(o: Objectives) -> list[tuple[str, bool]]:
    spend = o.value_spend
    return [
        (f"budget: the most spent in one hour is {o.over_budget:.3f}x the budget (<= 1.01: "
         "past it only the cheapest candidate serves)", o.over_budget <= 1.01),
        (f"budget: at least {o.budget_used:.0%} of the budget used in every seed "
         f"(>= {BUDGET_USED_MIN:.0%})", o.budget_used >= BUDGET_USED_MIN),
        (f"budget: reward kept {o.budget_reward:.3f} of the unconstrained run's, more than "
         f"the cheapest candidate alone ({o.cheapest_reward:.3f})",
         o.budget_reward > o.cheapest_reward),
        (f"latency: {o.over_share_mean:.1%} of answers over the p95 objective over "
         f"{o.latency_seeds} seeds (<= {OVER_SHARE_MEAN:.0%})",
         o.latency_seeds > 0 and o.over_share_mean <= OVER_SHARE_MEAN),
        (f"latency: at most {o.over_share:.1%} in one seed (<= {OVER_SHARE_MAX:.1%})",
         o.latency_seeds > 0 and o.over_share <= OVER_SHARE_MAX),
        ("value: spend per 1,000 requests rises with the value of a good answer ("
         + ", ".join(f"${s:.3f}" for s in spend) + ")",
         all(a < b for a, b in zip(spend, spend[1:], strict=False))),
        (f"value: at {VALUES[-1]:g}x the dearest answer's cost, where cost is noise, reward "
         f"{o.value_top_reward:.4f} within 0.5% of cost_weight 0's {o.value_free_reward:.4f}",
         abs(o.value_top_reward - o.value_free_reward) <= 0.005 * o.value_free_reward),
    ]


def format_objectives(o: Objectives) -> str:
    values = ", ".join(f"{k:g}x: ${s:.3f}" for k, s in zip(VALUES, o.value_spend, strict=True))
    return "\n".join([
        f"objectives (stationary scenario, {o.seeds} seeds, {RATE:g} req/s):",
        f"  budget per hour half-way from the cheapest candidate's spend to the "
        f"unconstrained one's, "
        f"{BUDGET_HOURS} hours: the most spent in one hour {o.over_budget:.3f}x the budget, "
        f"the least used {o.budget_used:.1%}; reward kept {o.budget_reward:.3f} "
        f"(cheapest candidate alone: {o.cheapest_reward:.3f})",
        f"  latency p95 objective below the unconstrained p95, {o.latency_seeds} seeds: "
        f"{o.over_share_mean:.1%} of answers over it (the most in one seed "
        f"{o.over_share:.1%}); reward kept {o.latency_reward:.3f}",
        f"  value per good answer (x the dearest answer's cost) -> USD per 1,000 requests: "
        f"{values}; cost_weight 0: ${o.value_free_spend:.3f}; reward at the top value "
        f"{o.value_top_reward:.4f}, at cost_weight 0 {o.value_free_reward:.4f}",
    ])
