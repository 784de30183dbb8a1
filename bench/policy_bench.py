"""Cost of one select + update (the policy's share of a request's CPU), per candidate count.

    python bench/policy_bench.py [--repeat N] [--rounds R]

select = rank the candidates; update = reward + observe (decay, Beta update, cap) + breaker
record; request = decay every candidate's snapshot to now + select + reward + observe.

Target (issue 3): under 50 microseconds for 10 candidates.

Then the gateway's own `Router.plan()` over a memory store, for a route of 5 candidates:
with the request's context read and its class's back-off posteriors (8 classes, the
defaults), against the same route with classes off and no context. Target (contextual
routing): context extraction plus selection adds at most 30 microseconds per request.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from policies import breaker, defaults  # noqa: E402
from policies.posterior import Posterior, Prior, decayed, observe  # noqa: E402
from policies.reward import Outcome, reward  # noqa: E402
from policies.thompson import Arm, ThompsonSampling  # noqa: E402

PRIOR = Prior(5.3, 0.7)


def bench(n: int, repeat: int) -> tuple[float, float, float]:
    """Microseconds per (select, update, select + update incl. decay of the snapshot)."""
    rng = np.random.default_rng(0)
    policy = ThompsonSampling(cost_weight=defaults.COST_WEIGHT, fallback="m0",
                              confidence_floor=defaults.CONFIDENCE_FLOOR,
                              exploration=defaults.EXPLORATION)
    names = [f"m{i}" for i in range(n)]
    posts = {m: Posterior(5.3 + 40 * rng.random(), 0.7 + 10 * rng.random(), 0.0) for m in names}
    costs = {m: float(rng.random()) for m in names}
    state = breaker.BreakerState()
    cfg = defaults.REWARD
    now = 1.0
    arms = [Arm(m, p.alpha, p.beta, costs[m]) for m, p in posts.items()]

    t0 = time.perf_counter()
    for _ in range(repeat):
        policy.select(arms, rng=rng, now=now)
    t_select = (time.perf_counter() - t0) / repeat

    t0 = time.perf_counter()
    for i in range(repeat):
        m = names[i % n]
        r = reward(Outcome(valid=True, latency_ms=800.0 + i % 500), cfg)
        posts[m] = observe(posts[m], r, prior=PRIOR, now=now + i * 1e-3,
                           half_life_s=defaults.HALF_LIFE_S, max_strength=defaults.MAX_STRENGTH)
        state = breaker.record(state, defaults.BREAKER, success=True, now=now + i * 1e-3)
    t_update = (time.perf_counter() - t0) / repeat

    # The whole per-request cost: decay every candidate to now, rank, score, update one.
    t0 = time.perf_counter()
    for i in range(repeat):
        t = now + 1 + i * 1e-3
        snap = [decayed(posts[m], PRIOR, now=t, half_life_s=defaults.HALF_LIFE_S) for m in names]
        arms = [Arm(m, p.alpha, p.beta, costs[m]) for m, p in zip(names, snap, strict=True)]
        d = policy.select(arms, rng=rng, now=t)
        r = reward(Outcome(valid=True, latency_ms=900.0), cfg)
        posts[d.choice] = observe(posts[d.choice], r, prior=PRIOR, now=t,
                                  half_life_s=defaults.HALF_LIFE_S,
                                  max_strength=defaults.MAX_STRENGTH)
    t_total = (time.perf_counter() - t0) / repeat
    return t_select * 1e6, t_update * 1e6, t_total * 1e6


_PLAN_CONFIG = """
providers: {sim: {type: simulated}}
models: {m0: {provider: sim, cost: {input_per_mtok: 0.1, output_per_mtok: 0.4}},
         m1: {provider: sim, cost: {input_per_mtok: 0.5, output_per_mtok: 2}},
         m2: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 4}},
         m3: {provider: sim, cost: {input_per_mtok: 3, output_per_mtok: 15}},
         m4: {provider: sim, cost: {input_per_mtok: 10, output_per_mtok: 30}}}
routes:
  ctx: {candidates: [m0, m1, m2, m3, m4], fallback: m1}
  flat: {candidates: [m0, m1, m2, m3, m4], fallback: m1, classes: false}
"""
# A chat turn that reaches the keyword rules (no tools, no format: those classes match first):
# a system prompt, a few turns, a pasted document and the task at its end.
_REQUEST = {
    "messages": [{"role": "system", "content": "You are a helpful assistant. " * 20},
                 {"role": "user", "content": "Here is my travel diary, day by day."},
                 {"role": "assistant", "content": "Sure, paste it and I will read it. " * 4},
                 {"role": "user", "content": "We walked along the coast again today. " * 60
                  + "Please summarise the above in three sentences."}],
    "max_tokens": 512,
}


def bench_plan(repeat: int) -> tuple[float, float]:
    """Microseconds per Router.plan(): (5 candidates + context + 8 classes, 5 candidates flat)."""
    from gateway.config import loads
    from gateway.routing.availability import Availability
    from gateway.routing.beliefs import Beliefs
    from gateway.routing.costs import CostModel
    from gateway.routing.router import Router
    from gateway.store import MemoryStore, Update, cell

    config = loads(_PLAN_CONFIG, env={})
    clock = time.time
    store = MemoryStore(clock=clock)
    rng = np.random.default_rng(0)
    for route in config.routes.values():
        for cls in ("", "tools", "code", "chat"):
            for model in route.candidates:
                store.record(Update.observation(cell(route.name, cls), model,
                                                float(rng.random()), prior=Prior(),
                                                half_life_s=route.half_life_s))
    costs = CostModel(config.models, {})
    router = Router(config, beliefs=Beliefs(config, store), costs=costs,
                    availability=Availability(store, clock=clock), store=store,
                    rng=np.random.default_rng(1), clock=clock)
    results = []
    for route, request in (("ctx", {"model": "ctx", **_REQUEST}), ("flat", None)):
        t0 = time.perf_counter()
        for _ in range(repeat):
            router.plan(route, request=request)
        results.append((time.perf_counter() - t0) / repeat * 1e6)
    return results[0], results[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5_000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5, help="best round is reported")
    args = parser.parse_args(argv)
    print(f"{'candidates':>10} {'select us':>10} {'update us':>10} {'request us':>11}")
    for n in (2, 10, 50):
        # The fastest round, as timeit does: slower rounds measure other processes.
        rounds = [bench(n, args.repeat) for _ in range(args.rounds)]
        s, u, t = (min(r[k] for r in rounds) for k in range(3))
        print(f"{n:>10} {s:>10.1f} {u:>10.1f} {t:>11.1f}")
    print("request = decay every candidate to now + select + reward + observe (target < 50 us "
          "for 10)")
    plans = [bench_plan(args.repeat) for _ in range(args.rounds)]
    ctx, flat = min(p[0] for p in plans), min(p[1] for p in plans)
    print(f"\nRouter.plan, 5 candidates: {ctx:.1f} us with context and 8 classes, {flat:.1f} us "
          f"flat; context + classes add {ctx - flat:.1f} us (target <= 30)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
