"""`bayesgate simulate`: offline, seeded, reproducible evaluation of the routing policy.

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

import argparse
import functools
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from gateway.simulate_plots import plot
from policies import breaker, defaults
from policies.cost import Price, TokenMeter, normalized, request_cost
from policies.posterior import Posterior, Prior, decayed, observe
from policies.priors import cold_start, family_prior
from policies.reward import Outcome, RewardConfig, latency_score, reward
from policies.thompson import Arm, ThompsonSampling

SCENARIOS = ("stationary", "degrade", "outage", "cold")
OURS = "bayesgate"
SHARE_WINDOW = 50  # "80% share" is measured over the last this many requests
REQUEST_RATE = 2.0  # requests per second arriving at the route (Poisson)


@dataclass(frozen=True, slots=True)
class SimModel:
    name: str
    family: str
    quality: float  # P(valid answer | no upstream error)
    latency_ms: float  # median
    error_rate: float  # P(upstream error: 5xx, timeout)
    price: Price
    output_tokens: float = 300.0
    latency_sigma: float = 0.35  # of log latency


@dataclass(frozen=True, slots=True)
class Phase:
    start: float  # fraction of the run
    models: tuple[SimModel, ...]


@dataclass(frozen=True, slots=True)
class Route:
    cost_weight: float = defaults.COST_WEIGHT
    half_life_s: float | None = defaults.HALF_LIFE_S
    max_strength: float | None = defaults.MAX_STRENGTH
    confidence_floor: float = defaults.CONFIDENCE_FLOOR
    exploration: float = defaults.EXPLORATION
    max_attempts: int = defaults.MAX_ATTEMPTS
    fallback: str = "gpt-4o-mini"  # degrades and fails in the scenarios: it must not trap us
    reward: RewardConfig = field(default_factory=lambda: defaults.REWARD)
    breaker: breaker.BreakerConfig = field(default_factory=lambda: defaults.BREAKER)


PREMIUM = SimModel("gpt-4o", "openai", 0.97, 1400, 0.005, Price(2.5, 10.0))
MID = SimModel("claude-haiku", "anthropic", 0.95, 800, 0.01, Price(0.8, 4.0))
MINI = SimModel("gpt-4o-mini", "openai", 0.93, 700, 0.005, Price(0.15, 0.6))
SMALL = SimModel("llama-8b", "meta", 0.75, 450, 0.02, Price(0.05, 0.08))
NEW = SimModel("gpt-4.1-mini", "openai", 0.97, 500, 0.005, Price(0.1, 0.4))
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
    raise ValueError(f"Unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}.")


# ---- truth -----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=256)
def expected_reward(m: SimModel, cfg: RewardConfig) -> float:
    """E[reward] of one attempt; the latency part over fixed normal draws, so it is exact to
    about 1e-3 and the same on every run."""
    draws = m.latency_ms * np.exp(m.latency_sigma * np.random.default_rng(0).standard_normal(4000))
    lat = np.mean([latency_score(float(ms), cfg) for ms in draws])
    total = cfg.validity_weight + cfg.latency_weight + cfg.retries_weight
    valid = (cfg.validity_weight + cfg.latency_weight * lat + cfg.retries_weight) / total
    return float((1.0 - m.error_rate) * m.quality * valid)


def model_cost(m: SimModel) -> float:
    return request_cost(TokenMeter(600.0, m.output_tokens), m.price)


def true_utilities(models: Sequence[SimModel], route: Route) -> dict[str, float]:
    costs = normalized({m.name: model_cost(m) for m in models})
    return {m.name: expected_reward(m, route.reward) - route.cost_weight * costs[m.name]
            for m in models}


# ---- agents ----------------------------------------------------------------------------------

@dataclass(slots=True)
class View:
    """What an agent sees for one request."""

    index: int
    arms: list[Arm]
    truth: dict[str, float]  # only the oracle may look


Agent = Callable[[View, np.random.Generator], tuple[str, ...]]


def thompson_agent(route: Route, *, cost_weight: float) -> Agent:
    policy = ThompsonSampling(cost_weight=cost_weight, fallback=route.fallback,
                              confidence_floor=route.confidence_floor,
                              exploration=route.exploration)
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


def agents(route: Route) -> dict[str, Agent]:
    return {
        OURS: thompson_agent(route, cost_weight=route.cost_weight),
        f"{OURS} cost_weight=0": thompson_agent(route, cost_weight=0.0),
        "epsilon-greedy 0.1": epsilon_greedy_agent(route),
        "random": random_agent,
        "round-robin": round_robin_agent,
        "most expensive": by_cost_agent(cheapest=False),
        "cheapest": by_cost_agent(cheapest=True),
        "oracle": oracle_agent,
    }


# ---- one run ---------------------------------------------------------------------------------

@dataclass(slots=True)
class Run:
    cost: float = 0.0
    quality: float = 0.0  # sum of the reward the client got (0 for an error)
    regret: float = 0.0
    errors: int = 0
    to80: list[float] = field(default_factory=list)  # one per change of the best model
    choices: list[str] = field(default_factory=list)
    trace: list[tuple[float, dict[str, tuple[float, float]]]] = field(default_factory=list)


@dataclass(slots=True)
class Gateway:
    """What one gateway replica holds for the route: posteriors, breakers, token meters."""

    route: Route
    world: np.random.Generator  # the simulated upstreams' dice
    posts: dict[str, Posterior] = field(default_factory=dict)
    priors: dict[str, Prior] = field(default_factory=dict)
    breakers: dict[str, breaker.BreakerState] = field(default_factory=dict)
    meters: dict[str, TokenMeter] = field(default_factory=dict)
    families: dict[str, str] = field(default_factory=dict)

    def add(self, m: SimModel, *, now: float) -> None:
        """A model appears: it starts from its family's pooled evidence (cold start)."""
        siblings = [decayed(p, self.priors[n], now=now, half_life_s=self.route.half_life_s)
                    for n, p in self.posts.items() if self.families[n] == m.family]
        self.families[m.name] = m.family
        self.priors[m.name] = family_prior(m.family)
        self.posts[m.name] = cold_start(family=m.family, siblings=siblings, now=now,
                                        max_strength=defaults.COLD_START_STRENGTH)
        self.breakers[m.name] = breaker.BreakerState(window_start=now)
        self.meters[m.name] = TokenMeter()

    def arms(self, models: dict[str, SimModel], *, now: float, decay: bool) -> list[Arm]:
        costs = normalized({n: request_cost(self.meters[n], m.price) for n, m in models.items()})
        arms = []
        for n in models:
            p = self.posts[n]
            if decay:
                p = decayed(p, self.priors[n], now=now, half_life_s=self.route.half_life_s)
            ok = breaker.available(self.breakers[n], self.route.breaker, now=now)
            arms.append(Arm(n, p.alpha, p.beta, costs[n], ok))
        return arms

    def serve(self, ranked: tuple[str, ...], models: dict[str, SimModel], *,
              now: float) -> tuple[float, float] | None:
        """Fail over down the ranking; (client reward, USD) or None for a client error."""
        tried = 0
        for n in ranked:
            if tried == self.route.max_attempts:
                return None
            ok, state = breaker.admit(self.breakers[n], self.route.breaker, now=now)
            if not ok:
                continue
            self.breakers[n] = state
            tried += 1
            served = self._attempt(models[n], now=now)
            if served is not None:
                return served
        # Every breaker is open: a likely error beats a certain one.
        return self._attempt(models[ranked[0]], now=now) if tried == 0 else None

    def _attempt(self, m: SimModel, *, now: float) -> tuple[float, float] | None:
        n, world = m.name, self.world
        failed = world.random() < m.error_rate
        before = self.breakers[n]
        self.breakers[n] = breaker.record(before, self.route.breaker, success=not failed, now=now)
        if breaker.recovered(before, self.breakers[n]):
            self.posts[n] = Posterior.from_prior(self.priors[n], now=now)
        r = 0.0  # a failed attempt is an observation too (DESIGN.md, /stats)
        if not failed:
            valid = bool(world.random() < m.quality)
            latency = float(m.latency_ms * np.exp(m.latency_sigma * world.standard_normal()))
            r = reward(Outcome(valid=valid, latency_ms=latency), self.route.reward)
        self.posts[n] = observe(self.posts[n], r, prior=self.priors[n], now=now,
                                half_life_s=self.route.half_life_s,
                                max_strength=self.route.max_strength)
        if failed:
            return None
        out_tokens = float(m.output_tokens * np.exp(0.3 * world.standard_normal()))
        self.meters[n] = self.meters[n].observed(input_tokens=600.0, output_tokens=out_tokens)
        return r, (m.price.input_per_mtok * 600.0 + m.price.output_per_mtok * out_tokens) / 1e6


def run(name: str, agent: Agent, phases: Sequence[Phase], route: Route, *, seed: int,
        requests: int, trace_every: int = 0) -> Run:
    """Drive `requests` requests through `agent`; `seed` fixes the world and the agent."""
    gw = Gateway(route, np.random.default_rng([seed, 1]))
    rng = np.random.default_rng([seed, 2, sum(map(ord, name))])
    starts = [int(p.start * requests) for p in phases] + [requests]
    out = Run()
    now = 0.0
    changes: list[tuple[int, int, str]] = []  # (start, end, new best) per change of the best
    for k, phase in enumerate(phases):
        for m in phase.models:
            if m.name not in gw.posts:
                gw.add(m, now=now)
        truth = true_utilities(phase.models, route)
        best = max(truth, key=truth.__getitem__)
        if k == 0 or best != changes[-1][2]:
            changes.append((starts[k], starts[k + 1], best))
        models = {m.name: m for m in phase.models}
        for i in range(starts[k], starts[k + 1]):
            now += float(gw.world.exponential(1.0 / REQUEST_RATE))
            # Agents that ignore posteriors skip the decay: a third of the run time.
            arms = gw.arms(models, now=now, decay=name not in BLIND)
            ranked = agent(View(i, arms, truth), rng)
            out.choices.append(ranked[0])
            out.regret += truth[best] - truth[ranked[0]]
            served = gw.serve(ranked, models, now=now)
            if served is None:
                out.errors += 1
            else:
                out.quality += served[0]
                out.cost += served[1]
            if trace_every and i % trace_every == 0:
                out.trace.append((float(i), {a.name: (a.alpha, a.beta) for a in arms}))
    out.to80 = [_requests_to_share(out.choices, start, best, end)
                for start, end, best in changes[1:]]
    return out


def _requests_to_share(choices: list[str], start: int, best: str, end: int) -> float:
    """Requests after `start` until `best` held 80% of the last SHARE_WINDOW choices (the
    window reaches back before `start`, where the old best was serving)."""
    lo = max(0, start - SHARE_WINDOW)
    hits = sum(c == best for c in choices[lo:start])
    for i in range(start, end):
        hits += choices[i] == best
        if i - SHARE_WINDOW >= lo:
            hits -= choices[i - SHARE_WINDOW] == best
        if hits >= 0.8 * SHARE_WINDOW:
            return float(i - start + 1)
    return math.inf


# ---- many runs, the report -------------------------------------------------------------------

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
    return {a: run(a, f, phases, route, seed=seed, requests=requests, trace_every=every)
            for a, f in agents(route).items()}


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
        if name == "degrade":
            out.append((f"{name}: new best at 80% share after {ours.to80[0]:.0f} requests <= 150",
                        ours.to80[0] <= 150))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bayesgate simulate",
        description="Offline, seeded evaluation of the routing policy against baselines.")
    parser.add_argument("--seeds", type=int, default=20, help="runs per scenario (default 20)")
    parser.add_argument("--requests", type=int, default=3000,
                        help="requests per run (default 3000, %(default)s at 2 req/s)")
    parser.add_argument("--scenario", choices=("all", *SCENARIOS), default="all")
    parser.add_argument("--out", metavar="DIR", help="write PNG plots into DIR")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: all cores)")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.requests < 4 * SHARE_WINDOW:
        parser.error(f"--seeds must be at least 1 and --requests at least {4 * SHARE_WINDOW}")
    names = SCENARIOS if args.scenario == "all" else (args.scenario,)
    route = Route()
    began = time.perf_counter()
    report = evaluate(names, seeds=args.seeds, requests=args.requests, route=route,
                      jobs=max(1, args.jobs))
    print(f"bayesgate simulate: {args.seeds} seeds x {args.requests} requests at "
          f"{REQUEST_RATE:g} req/s; cost_weight {route.cost_weight}, half-life "
          f"{route.half_life_s} s, max strength {route.max_strength}, confidence floor "
          f"{route.confidence_floor} (fallback {route.fallback})\n")
    for name, (rows, _) in report.items():
        print(format_table(name, rows), end="\n\n")
    print("to 80% share: requests after each change of the best model (capped at the run).")
    ok = True
    for text, passed in checks(report):
        ok &= passed
        print(f"  [{'ok' if passed else 'MISS'}] {text}")
    if args.out:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("matplotlib is not installed: skipping plots (pip install 'bayesgate[plots]').")
        else:
            for name, (_, runs) in report.items():
                ours = runs[OURS]
                for path in plot(f"{name}: {OURS}, seed 0", f"simulate-{name}.png",
                                 choices=ours.choices, trace=ours.trace, window=SHARE_WINDOW,
                                 requests=args.requests, out_dir=args.out):
                    print(f"wrote {path}")
    print(f"done in {time.perf_counter() - began:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
