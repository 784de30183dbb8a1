"""The lock-in report: many seeded runs of the scenarios built to trap a policy (world.LOCKIN)
at several request rates, with the whole distribution of how long each policy took to bring
the new best model to 80% of its choices, not only the mean. Besides the policies, an agent
told the request of each change (ToldOfChange) shows how much of the bound the answers allow.

Per scenario, rate and policy, over the seeds:
    missed     share of runs that took more than BOUND requests after the best model degraded
    never      share of runs that never got there before it recovered (locked in)
    p50/p95/worst   requests to 80% share after the degradation (worst: "never" if any run was)
    recovered  the same after the best model recovers (median), and the share that never did
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from policies.evaluation.agents import ORACLE, ORACLES, OURS, Maker, Request
from policies.evaluation.bandits import LEARNING, SEED, Learning, Tally
from policies.evaluation.ours import TODAY_MAX_STRENGTH, Bayesgate
from policies.evaluation.replay import run
from policies.evaluation.world import LOCKIN, RATES, Route, scenario

BOUND = 150  # requests after the change by which the new best should hold 80%
REQUESTS = 1200  # per run: the change at 400, the recovery at 800
# The policy before the lock-in fix: time decay only (120 s), flat priors, exploration 0.3.
TODAY = f"{OURS} time decay only"
DISCOUNTED = "discounted TS 0.99"
EXPLORE = 15  # answers of each model the agent told of the change collects before it commits
TOLD = f"told of the change, {EXPLORE} each"
# The requests at which the truth changes (the same in every lock-in scenario).
EVENTS = tuple(int(p.start * REQUESTS) for p in scenario(LOCKIN[0]) if p.event)


class ToldOfChange(Learning):
    """No gateway can run this: it is told the request at which the truth changes, forgets
    everything there, asks every model EXPLORE times in turn, then serves the best mean. How
    often it misses the bound shows how much of it the answers themselves allow: what 150
    requests can tell apart, not what a policy failed to see."""

    def __init__(self, route: Route, at: Sequence[int] = EVENTS) -> None:
        super().__init__(route)
        self.at = frozenset(at)
        self.tallies: dict[str, Tally] = {}

    def scores(self, req: Request, rng: np.random.Generator) -> dict[str, float]:
        if req.index in self.at or not self.tallies:
            self.tallies = {n: Tally() for n in req.prices}
        counts = {n: self.tallies[n].n for n in req.prices}
        if min(counts.values()) < EXPLORE:  # the least asked first
            return {n: -c for n, c in counts.items()}
        return {n: self.tallies[n].mean for n in req.prices}

    def learn(self, model: str, r: float) -> None:
        self.tallies[model].add(r)


MAKERS: dict[str, Maker] = {
    OURS: lambda route: Bayesgate(route),
    TODAY: lambda route: Bayesgate(replace(route, max_strength=TODAY_MAX_STRENGTH), today=True),
    SEED: LEARNING[SEED],
    DISCOUNTED: LEARNING[DISCOUNTED],
    "epsilon-greedy 0.1": LEARNING["epsilon-greedy 0.1"],
    TOLD: ToldOfChange,
    ORACLE: ORACLES[ORACLE],
}
POLICIES = tuple(MAKERS)


@dataclass(frozen=True, slots=True)
class LockinRow:
    scenario: str
    rate: float
    agent: str
    runs: int
    missed: float
    never: float
    p50: float
    p95: float
    worst: float
    recovered_p50: float
    recovered_never: float
    regret: float  # per 1,000 requests


def _one(task: tuple[str, float, int, Route, tuple[str, ...]],
         ) -> dict[str, tuple[float, float, float]]:
    name, rate, seed, route, names = task
    out = {}
    for agent in names:
        r = run(MAKERS[agent](route), scenario(name), route, seed=seed, requests=REQUESTS,
                rate=rate, salt=agent)
        # both events change the best model, so neither measure is None
        out[agent] = (r.adapt if r.adapt is not None else math.inf,
                      r.recover if r.recover is not None else math.inf,
                      r.regret * 1000 / REQUESTS)
    return out


def evaluate_lockin(*, seeds: Sequence[int], route: Route, names: Sequence[str] = LOCKIN,
                    rates: Sequence[float] = RATES, policies: Sequence[str] = POLICIES,
                    jobs: int = 1) -> list[LockinRow]:
    tasks = [(n, rate, s, route, tuple(policies)) for n in names for rate in rates
             for s in seeds]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_one, tasks, chunksize=4))
    else:
        results = [_one(t) for t in tasks]
    rows = []
    for n in names:
        for rate in rates:
            per = [r for t, r in zip(tasks, results, strict=True) if t[:2] == (n, rate)]
            rows += [_row(n, rate, agent, [p[agent] for p in per]) for agent in policies]
    return rows


def _row(name: str, rate: float, agent: str,
         runs: list[tuple[float, float, float]]) -> LockinRow:
    adapt = np.array([r[0] for r in runs])
    back = np.array([r[1] for r in runs])
    return LockinRow(
        scenario=name, rate=rate, agent=agent, runs=len(runs),
        missed=float(np.mean(adapt > BOUND)), never=float(np.mean(np.isinf(adapt))),
        p50=_quantile(adapt, 50), p95=_quantile(adapt, 95), worst=float(adapt.max()),
        recovered_p50=_quantile(back, 50), recovered_never=float(np.mean(np.isinf(back))),
        regret=float(np.mean([r[2] for r in runs])))


def _quantile(values: np.ndarray, q: float) -> float:
    """The q-th percentile, inf when it falls among the runs that never got there."""
    ordered = np.sort(values)
    return float(ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)])


def format_lockin(rows: Sequence[LockinRow]) -> str:
    head = (f"{'scenario':<9} {'req/s':>5} {'policy':<26} {'missed':>6} {'never':>6} "
            f"{'p50':>5} {'p95':>5} {'worst':>6} {'recovered p50':>13} {'never':>6} "
            f"{'regret/1k':>9}")
    lines = [f"lock-in: requests until the new best holds 80% of the last 50 choices "
             f"(missed: more than {BOUND}; never: not before the old best recovered)",
             head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.scenario:<9} {r.rate:>5g} {r.agent:<26} {r.missed:>6.1%} {r.never:>6.1%} "
            f"{_n(r.p50):>5} {_n(r.p95):>5} {_n(r.worst):>6} {_n(r.recovered_p50):>13} "
            f"{r.recovered_never:>6.1%} {r.regret:>9.1f}")
    return "\n".join(lines)


def _n(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.0f}"


def lockin_checks(rows: Sequence[LockinRow]) -> list[tuple[str, bool]]:
    ours = [r for r in rows if r.agent == OURS]
    if not ours:
        return []
    runs = sum(r.runs for r in ours)
    never = sum(round(r.never * r.runs) for r in ours)
    late = sum(round(r.missed * r.runs) for r in ours)
    worst = max(r.worst for r in ours)
    return [
        (f"lock-in: {never} of {runs} runs never brought the new best to 80% share "
         f"before the old best recovered (worst {_n(worst)})", never == 0),
        (f"lock-in: {late} of {runs} runs took more than {BOUND} requests", late == 0),
    ]
