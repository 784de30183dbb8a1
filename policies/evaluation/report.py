"""Many seeded runs per scenario and rate, averaged into one row per policy, and the checks.

Simulated models have a validity probability, a log-normal latency, an upstream error rate,
token counts, prices and a hidden share of valid but wrong answers; they are drawn afresh
for every seed. Every policy goes through the same loop (`replay.run`): failover down its
ranking, bounded attempts, its own breaker, and it learns from its own attempts only. The
oracle knows each phase's truth (and, on the mixed workload, each request's kind) and ranks
by true utility = expected reward - cost_weight * normalised cost.

Measures, per scenario, rate and policy, over the seeds:
    regret_per_1k        sum of (best true utility - true utility of the first choice), per
                         1,000 requests
    normalized_quality   (policy - random) / (oracle - random) on the utility the route
                         got: the reward the client got (0 for a client-visible error) minus
                         cost_weight x the normalised cost of the model that answered, the
                         objective the oracle maximises; null where the oracle is within 0.01
                         per request of random (nothing to learn)
    quality              the mean reward the client got
    cost_vs_oracle       USD spent over the oracle's
    adapt_requests       requests after the scenario's change until the new best (or a model
                         within 0.02 of its utility: a tie) holds 80% of the last 50 first
                         choices, median over the seeds (a run that never did counts the
                         whole phase); null where the scenario has no change
    recover_requests     the same after the change ends
    valid_but_wrong      share of requests answered valid but wrong (no policy can see it)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from policies.evaluation.agents import (
    ORACLE,
    ORACLES,
    OURS,
    PHASE_ORACLE,
    PHASE_ORACLES,
    SIMPLE,
    Maker,
)
from policies.evaluation.bandits import LEARNING
from policies.evaluation.ours import Bayesgate
from policies.evaluation.replay import Run, run
from policies.evaluation.world import Route, scenario

# Sees the route-level posteriors only, as a gateway without request classes would.
POOLED = f"{OURS} no classes"
ADAPT_BOUND = 150.0  # requests, median over the seeds
# A model the route abandoned while it was bad is found again by exploration, as its evidence
# decays (half-life 200 requests): within 1.5 half-lives. Faster needs more exploration, which
# every steady state pays for: half_life_requests 100, forgetting twice as fast, lost 0.01-0.07
# of normalised quality in 8 of 9 scenarios on the tuning seeds, and lock-in runs slower than
# 150 requests rose from 12.5% to 20%.
RECOVER_BOUND = 300.0
QUALITY_FLOOR = 0.9
REGRET_RATIO = 1.2
NOT_LEARNING = frozenset({ORACLE, PHASE_ORACLE})


def policies(name: str) -> dict[str, Maker]:
    mixed = name == "mixed"
    out: dict[str, Maker] = {OURS: lambda route: Bayesgate(route)}
    if mixed:
        out[POOLED] = lambda route: Bayesgate(route, classes=False)
    return {**out, **LEARNING, **SIMPLE, **ORACLES, **(PHASE_ORACLES if mixed else {})}


@dataclass(frozen=True, slots=True)
class Row:
    agent: str
    regret: float  # per 1000 requests, in true utility
    quality: float  # mean reward per request the client got
    normalized_quality: float | None
    cost: float  # USD per 1000 requests
    cost_ratio: float  # vs the oracle
    adapt: float | None
    recover: float | None
    wrong: float  # share of requests valid but wrong
    errors: float  # client-visible errors per 1000 requests


@dataclass(frozen=True, slots=True)
class Cell:
    scenario: str
    rate: float
    rows: list[Row]
    sample: Run  # our policy's run on the first seed, for the plots

    @property
    def key(self) -> str:
        return f"{self.scenario}@{self.rate:g}"

    def row(self, agent: str) -> Row:
        return next(r for r in self.rows if r.agent == agent)


_Task = tuple[str, float, int, int, Route]


def _one(task: _Task) -> dict[str, Run]:
    name, rate, seed, requests, route = task
    phases = scenario(name, seed=seed, route=route)
    out = {}
    for agent, make in policies(name).items():
        every = max(1, requests // 300) if agent == OURS else 0
        r = run(make(route), phases, route, seed=seed, requests=requests, rate=rate,
                salt=agent, trace_every=every)
        if agent != OURS:
            r.choices, r.trace = [], []  # only ours is plotted: keep the pickles small
        out[agent] = r
    return out


def evaluate(names: Sequence[str], *, rates: Sequence[float], seeds: Sequence[int],
             requests: int, route: Route, jobs: int = 1) -> list[Cell]:
    tasks: list[_Task] = [(n, rate, s, requests, route)
                          for n in names for rate in rates for s in seeds]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_one, tasks, chunksize=1))
    else:
        results = [_one(t) for t in tasks]
    cells = []
    for n in names:
        for rate in rates:
            runs = [r for t, r in zip(tasks, results, strict=True) if t[:2] == (n, rate)]
            cells.append(Cell(n, rate, _rows(runs, requests), runs[0][OURS]))
    return cells


def _rows(runs: list[dict[str, Run]], requests: int) -> list[Row]:
    def mean(agent: str, attr: str) -> float:
        return float(np.mean([getattr(r[agent], attr) for r in runs]))

    u_random, u_oracle = mean("random", "utility"), mean(ORACLE, "utility")
    spread = (u_oracle - u_random) / requests
    rows = []
    for agent in runs[0]:
        per = [r[agent] for r in runs]
        u = mean(agent, "utility")
        rows.append(Row(
            agent=agent,
            regret=mean(agent, "regret") * 1000 / requests,
            quality=mean(agent, "quality") / requests,
            normalized_quality=(u - u_random) / (u_oracle - u_random) if spread >= 0.01 else None,
            cost=mean(agent, "cost") * 1000 / requests,
            cost_ratio=mean(agent, "cost") / mean(ORACLE, "cost"),
            adapt=_event(per, "adapt"),
            recover=_event(per, "recover"),
            wrong=mean(agent, "wrong") / requests,
            errors=mean(agent, "errors") * 1000 / requests,
        ))
    return rows


def _event(runs: list[Run], event: str) -> float | None:
    """Median requests to 80% share over the runs where the event changed the best model (a
    run that never got there counts the whole phase); the median, because in some draws two
    models end up a few hundredths apart, which no policy separates within a phase, and one
    such draw would make the mean. The lock-in report gives the whole distribution."""
    seen = [min(getattr(r, event), getattr(r, f"{event}_span")) for r in runs
            if getattr(r, event) is not None]
    return float(np.median(seen)) if seen else None


def checks(cell: Cell, agent: str = OURS) -> list[tuple[str, bool]]:
    """The checks one cell holds a policy to (ours unless told)."""
    row = cell.row(agent)
    rivals = [r for r in cell.rows
              if r.agent not in NOT_LEARNING and r.agent != agent and r.agent != POOLED]
    best = min(rivals, key=lambda r: r.regret)
    k = cell.key
    out = [(f"{k}: regret/1k {row.regret:.1f} <= {REGRET_RATIO} x the best other's "
            f"({best.agent}: {best.regret:.1f})", row.regret <= REGRET_RATIO * best.regret)]
    if row.normalized_quality is not None:
        out.append((f"{k}: normalised quality {row.normalized_quality:.2f} >= {QUALITY_FLOOR}",
                    row.normalized_quality >= QUALITY_FLOOR))
    if row.adapt is not None:
        out.append((f"{k}: adapted in {row.adapt:.0f} requests <= {ADAPT_BOUND:.0f}",
                    row.adapt <= ADAPT_BOUND))
    if row.recover is not None:
        out.append((f"{k}: recovered in {row.recover:.0f} requests <= {RECOVER_BOUND:.0f}",
                    row.recover <= RECOVER_BOUND))
    if cell.scenario == "mixed" and agent == OURS:
        pooled = cell.row(POOLED)
        out.append((f"{k}: request classes cut regret/1k to {row.regret:.1f} from "
                    f"{pooled.regret:.1f} without them", row.regret < pooled.regret))
    return out


def overall(cells: Sequence[Cell], agent: str = OURS) -> tuple[str, bool]:
    """Lowest regret of all learning policies in most scenarios."""
    wins = 0
    for cell in cells:
        rivals = [r for r in cell.rows if r.agent not in NOT_LEARNING and r.agent != POOLED]
        wins += min(rivals, key=lambda r: r.regret).agent == agent
    return (f"lowest regret of all non-oracle policies in {wins} of {len(cells)} scenarios "
            f"(most: more than half)", wins * 2 > len(cells))


def failed_by(cells: Sequence[Cell]) -> dict[str, int]:
    """How many checks each learning or fixed policy fails (the checks can fail)."""
    names = [r.agent for r in cells[0].rows if r.agent not in NOT_LEARNING | {POOLED}]
    out = {}
    for agent in names:
        results = [ok for cell in cells for _, ok in checks(cell, agent)]
        results.append(overall(cells, agent)[1])
        out[agent] = sum(not ok for ok in results)
    return out


def format_table(cell: Cell) -> str:
    head = (f"{'policy':<24} {'regret/1k':>9} {'norm q':>6} {'quality':>7} {'$/1k req':>8} "
            f"{'cost/orc':>8} {'adapt':>6} {'recover':>7} {'wrong':>6} {'err/1k':>6}")
    lines = [f"scenario: {cell.scenario} at {cell.rate:g} req/s", head, "-" * len(head)]
    for r in cell.rows:
        lines.append(
            f"{r.agent:<24} {r.regret:>9.1f} {_f(r.normalized_quality, 6, 2)} {r.quality:>7.3f} "
            f"{r.cost:>8.4f} {r.cost_ratio:>8.2f} {_f(r.adapt, 6, 0)} {_f(r.recover, 7, 0)} "
            f"{r.wrong:>6.1%} {r.errors:>6.1f}")
    return "\n".join(lines)


def _f(value: float | None, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def finite(value: object) -> object:
    """A number for strict JSON: inf ("never") and NaN as null, floats rounded."""
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else None
    return value


def as_json(cells: Sequence[Cell]) -> dict[str, object]:
    """The `scenarios` part of `bayesgate simulate --json`."""
    return {cell.key: {
        "scenario": cell.scenario,
        "rate_rps": cell.rate,
        "policies": {r.agent: {
            "regret_per_1k": finite(r.regret), "normalized_quality": finite(r.normalized_quality),
            "cost_vs_oracle": finite(r.cost_ratio), "adapt_requests": finite(r.adapt),
            "recover_requests": finite(r.recover), "valid_but_wrong": finite(r.wrong),
        } for r in cell.rows},
        "checks": [{"name": text, "ok": ok} for text, ok in checks(cell)],
    } for cell in cells}
