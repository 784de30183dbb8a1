"""Many seeded runs per scenario, averaged into one row per agent, and the checks.

Simulated models have a validity probability, a log-normal latency, an upstream error rate,
token counts and prices. Every request goes through the same code the server runs: posteriors
decayed and updated by `policies.posterior`, scored by `policies.reward`, ranked by
`policies.thompson`, guarded by `policies.breaker` (a model whose breaker closes after a good
probe starts again from its prior), with failover down the ranking (bounded attempts) like
the gateway. Baselines run through the same loop; the per-phase oracle knows the truth and
always ranks by true utility = expected reward - cost_weight * normalised cost.

Report columns, per policy, averaged over seeds:
    $/1k req       USD per 1000 requests (failed attempts are not billed)
    cost/orc       cost divided by the oracle's on the same seed
    quality        reward the client got (0 for a client-visible error) over the oracle's
    regret/1k      sum of (best true utility - true utility of the first choice), per 1000
    to 80% share   requests after each change of the best model until it holds 80% of the
                   last 50 first choices (40 is the floor; the run length means never)
    errors         client-visible errors per run (every attempt failed)
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from policies.evaluation.agents import OURS, POOLED, agents
from policies.evaluation.replay import Run, run
from policies.evaluation.world import Route, scenario


@dataclass(frozen=True, slots=True)
class Row:
    agent: str
    cost: float  # USD per 1000 requests
    cost_ratio: float  # vs the oracle
    retention: float  # client reward vs the oracle's
    regret: float  # per 1000 requests, in true utility
    to80: tuple[float, ...]  # mean requests to 80% share, per change
    errors: float  # client-visible errors per run


def _one(task: tuple[str, int, int, Route]) -> dict[str, Run]:
    name, seed, requests, route = task
    phases = scenario(name)
    every = max(1, requests // 300) if seed == 0 else 0
    # Without request kinds the route-level policy is ours: its row only means something mixed.
    return {a: run(a, f, phases, route, seed=seed, requests=requests, trace_every=every)
            for a, f in agents(route).items() if a != POOLED or name == "mixed"}


def evaluate(names: Sequence[str], *, seeds: int, requests: int, route: Route,
             jobs: int = 1) -> dict[str, tuple[list[Row], dict[str, Run]]]:
    """Per scenario: the averaged rows and the seed-0 runs (for the plots)."""
    tasks = [(n, s, requests, route) for n in names for s in range(seeds)]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_one, tasks, chunksize=1))
    else:
        results = [_one(t) for t in tasks]
    report = {}
    for n in names:
        runs = [r for t, r in zip(tasks, results, strict=True) if t[0] == n]
        report[n] = (_rows(runs, requests), runs[0])
    return report


def _rows(runs: list[dict[str, Run]], requests: int) -> list[Row]:
    rows = []
    for agent in runs[0]:
        per = [r[agent] for r in runs]
        oracle = [r["oracle"] for r in runs]
        changes = len(per[0].to80)
        to80 = tuple(float(np.mean([min(p.to80[c], requests) for p in per]))
                     for c in range(changes))
        rows.append(Row(
            agent=agent,
            cost=float(np.mean([p.cost for p in per])) * 1000 / requests,
            cost_ratio=float(np.mean([p.cost / o.cost for p, o in zip(per, oracle, strict=True)])),
            retention=float(np.mean([p.quality / o.quality
                                     for p, o in zip(per, oracle, strict=True)])),
            regret=float(np.mean([p.regret for p in per])) * 1000 / requests,
            to80=to80,
            errors=float(np.mean([p.errors for p in per])),
        ))
    return rows


def format_table(name: str, rows: list[Row]) -> str:
    head = (f"{'policy':<24} {'$/1k req':>9} {'cost/orc':>8} {'quality':>8} "
            f"{'regret/1k':>9} {'to 80% share':>14} {'errors':>7}")
    lines = [f"scenario: {name}", head, "-" * len(head)]
    for r in rows:
        to80 = " / ".join(f"{t:.0f}" for t in r.to80) or "-"
        lines.append(f"{r.agent:<24} {r.cost:>9.4f} {r.cost_ratio:>8.2f} {r.retention:>8.3f} "
                     f"{r.regret:>9.1f} {to80:>14} {r.errors:>7.1f}")
    return "\n".join(lines)


def checks(report: dict[str, tuple[list[Row], dict[str, Run]]]) -> list[tuple[str, bool]]:
    """The issue's acceptance criteria, evaluated on our policy."""
    out = []
    for name, (rows, _) in report.items():
        ours = next(r for r in rows if r.agent == OURS)
        out.append((f"{name}: quality retention {ours.retention:.3f} >= 0.95",
                    ours.retention >= 0.95))
        out.append((f"{name}: cost {ours.cost_ratio:.2f}x oracle <= 1.15", ours.cost_ratio <= 1.15))
        if name == "mixed":
            pooled = next(r for r in rows if r.agent == POOLED)
            out.append((f"{name}: request classes cut regret/1k to {ours.regret:.1f} from "
                        f"{pooled.regret:.1f} without them", ours.regret < pooled.regret))
        if name == "degrade":
            out.append((f"{name}: new best at 80% share after {ours.to80[0]:.0f} requests <= 150",
                        ours.to80[0] <= 150))
    return out
