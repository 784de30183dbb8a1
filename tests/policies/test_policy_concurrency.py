"""Many tasks select and update at once: the math is pure, so a lock around the
read-modify-write of a tiny dict is all the state needs, and no input can poison it."""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies import breaker
from policies.posterior import Posterior, Prior, observe
from policies.reward import Outcome, RewardConfig, reward
from policies.thompson import Arm, ThompsonSampling

MODELS = ("a", "b", "c", "d")
PRIOR = Prior(5.3, 0.7)
CFG = RewardConfig()
BREAKER = breaker.BreakerConfig(min_requests=3, cooldown_s=1.0)
POLICY = ThompsonSampling(cost_weight=0.3, fallback="a", confidence_floor=0.2, exploration=0.25)

nasty_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, -1.0, 0.0, 3_600_000.0, 7_200_000.0, -math.inf, math.inf]),
)
op = st.tuples(
    st.sampled_from(["select", "update", "update"]),
    st.integers(0, len(MODELS) - 1),
    nasty_floats,  # latency ms
    st.booleans(),  # valid
    st.one_of(st.none(), nasty_floats),  # a raw reward that skips the scorer
    st.floats(0.0, 30.0),  # clock step
    st.integers(-5, 10**6),  # retries
)


@contextmanager
def fast_switching() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # force thread switches inside every operation
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def run_interleaved(ops: list[tuple], threads: int = 4) -> dict[str, Posterior]:  # type: ignore[type-arg]
    lock = threading.Lock()
    posts = {m: Posterior.from_prior(PRIOR) for m in MODELS}
    breakers = {m: breaker.BreakerState() for m in MODELS}
    clock = [0.0]
    errors: list[BaseException] = []

    def worker(part: list[tuple], seed: int) -> None:  # type: ignore[type-arg]
        rng = np.random.default_rng(seed)
        try:
            for kind, i, latency, valid, raw, step, retries in part:
                with lock:
                    clock[0] += step
                    now = clock[0]
                    snapshot = dict(posts)
                    states = dict(breakers)
                if kind == "select":
                    arms = [Arm(m, p.alpha, p.beta, cost=j / 3,
                                available=breaker.available(states[m], BREAKER, now=now))
                            for j, (m, p) in enumerate(snapshot.items())]
                    d = POLICY.select(arms, rng=rng, now=now)
                    assert sorted(d.ranked) == sorted(MODELS)
                    assert all(math.isfinite(u) for u in d.utilities)
                    continue
                m = MODELS[i]
                r = reward(Outcome(valid=valid, latency_ms=latency, retries=retries), CFG)
                r = r if raw is None else raw
                with lock:
                    posts[m] = observe(posts[m], r, prior=PRIOR, now=now, half_life_s=60.0,
                                       max_strength=50.0)
                    breakers[m] = breaker.record(breakers[m], BREAKER, success=valid, now=now)
                    p = posts[m]
                    assert math.isfinite(p.alpha) and math.isfinite(p.beta)
                    assert p.alpha > 0 and p.beta > 0
        except BaseException as e:  # surfaced in the main thread below
            errors.append(e)

    parts = [ops[k::threads] for k in range(threads)]
    pool = [threading.Thread(target=worker, args=(p, k)) for k, p in enumerate(parts)]
    with fast_switching():
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    if errors:
        raise errors[0]
    return posts


def assert_healthy(posts: dict[str, Posterior]) -> None:
    for p in posts.values():
        assert math.isfinite(p.alpha) and math.isfinite(p.beta) and math.isfinite(p.updated_at)
        assert p.alpha > 0 and p.beta > 0
        assert p.strength <= 50.0 + 1e-9


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=300))
def test_random_interleaved_selects_and_updates_keep_posteriors_sane(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    assert_healthy(run_interleaved(ops))


def test_five_thousand_nasty_operations_in_eight_threads() -> None:
    g = np.random.default_rng(42)
    junk = [math.nan, -1.0, 3_600_000.0, 1e300, -math.inf, math.inf, 250.0]
    ops = [("select" if g.random() < 0.4 else "update", int(g.integers(4)),
            junk[int(g.integers(len(junk)))], bool(g.random() < 0.7),
            None if g.random() < 0.8 else junk[int(g.integers(len(junk)))],
            float(g.exponential(0.5)), int(g.integers(-2, 5))) for _ in range(5000)]
    assert_healthy(run_interleaved(ops, threads=8))
