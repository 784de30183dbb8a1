"""Never locked in: seeded runs of the lock-in scenarios, where the best model degrades after the
runner-up was dropped for a few unlucky answers. The policy before request-based decay and
route-level priors locked onto a worse model in a quarter of these runs at 20 requests/s."""

from __future__ import annotations

import math

import numpy as np
import pytest

from policies import traffic
from policies.cost import Price
from policies.evaluation.agents import OURS, Observation, Request
from policies.evaluation.lockin import (
    EXPLORE,
    TODAY,
    TOLD,
    ToldOfChange,
    evaluate_lockin,
    format_lockin,
    lockin_checks,
)
from policies.evaluation.world import Route, tuning_seeds
from policies.posterior import Posterior, Prior, on_route_scale, route_level

SEEDS = 40


@pytest.fixture(scope="module")
def rows() -> list:  # type: ignore[type-arg]
    return evaluate_lockin(seeds=tuning_seeds(SEEDS), route=Route(), names=("lockin-3", "lockin-6"),
                           rates=(20.0,), policies=(OURS, TODAY))


def test_no_seeded_run_of_ours_stays_locked_onto_a_worse_model(rows: list) -> None:  # type: ignore[type-arg]
    ours = [r for r in rows if r.agent == OURS]
    assert [r.never for r in ours] == [0.0, 0.0], format_lockin(rows)
    assert all(r.worst < math.inf for r in ours)
    never, _late = lockin_checks(rows)
    assert never[1], never[0]


def test_the_policy_before_the_fix_fails_the_same_runs(rows: list) -> None:  # type: ignore[type-arg]
    before = [r for r in rows if r.agent == TODAY]
    # Locked in for the whole phase (400 requests) in some runs of each scenario.
    assert all(r.never > 0.1 for r in before), format_lockin(rows)
    ours = {r.scenario: r for r in rows if r.agent == OURS}
    for old in before:  # and it was slower in the typical run too
        assert ours[old.scenario].p50 <= old.p50


def test_ours_finds_the_old_best_again_after_it_recovers(rows: list) -> None:  # type: ignore[type-arg]
    for scenario in ("lockin-3", "lockin-6"):
        ours = next(r for r in rows if r.agent == OURS and r.scenario == scenario)
        before = next(r for r in rows if r.agent == TODAY and r.scenario == scenario)
        # Time decay alone (120 s = 2,400 requests at 20 req/s) never came back within 400.
        assert before.recovered_never > 0.8
        assert ours.recovered_never < 0.5 and ours.recovered_p50 < math.inf


def test_the_request_rate_follows_the_traffic_and_falls_in_a_silence() -> None:
    rate = traffic.RequestRate()
    assert rate.per_second(10.0) == 0.0  # nothing measured: decay falls back to half_life_s
    for i in range(200):
        rate.arrived(i * 0.05)  # 20 requests/s
    assert rate.per_second(9.95) == pytest.approx(20.0)
    assert rate.per_second(9.95 + 10.0) == pytest.approx(0.1)  # 10 s of silence
    rate.arrived(5.0)  # a clock step back is not a negative gap
    assert rate.per_second(9.95) == pytest.approx(20.0)


@pytest.mark.parametrize(("rate", "expected"), [
    (20.0, 10.0),  # 200 requests at 20/s
    (0.2, 1000.0),
    (0.01, 1800.0),  # a quiet route: at the latest every half_life_s
    (0.0, 1800.0),
])
def test_the_half_life_is_a_number_of_requests_at_most_half_life_s(rate: float,
                                                                    expected: float) -> None:
    assert traffic.effective_half_life(1800.0, 200.0, rate) == pytest.approx(expected)


def test_decay_off_and_time_only_stay_what_they_were() -> None:
    assert traffic.effective_half_life(None, 200.0, 20.0) is None
    assert traffic.effective_half_life(120.0, None, 20.0) == 120.0


def test_a_model_with_little_evidence_is_judged_on_the_routes_level() -> None:
    flat = Prior()
    served = Posterior(45.0, 5.0)  # the route's answers earn ~0.9
    idle = Posterior(1.2, 1.8)  # one poor answer, long ago
    level = route_level([served, idle], [flat, flat])
    assert level == pytest.approx(44.2 / 49.0)
    alpha, beta = on_route_scale(idle, flat, level)
    assert alpha + beta == pytest.approx(idle.alpha + idle.beta)  # same strength
    assert alpha / (alpha + beta) > 0.6 > idle.mean
    alpha, beta = on_route_scale(served, flat, level)
    assert alpha / (alpha + beta) == pytest.approx(served.mean, abs=0.02)
    # A route whose answers earn less than the prior's mean leaves the prior alone.
    assert on_route_scale(idle, flat, 0.3) == (idle.alpha, idle.beta)
    assert route_level([Posterior(1.0, 1.0)], [flat]) is None


def _request(index: int, names: tuple[str, ...]) -> Request:
    return Request(index, float(index), "", {n: Price(0.5, 1.5) for n in names},
                   {n: "custom" for n in names}, {}, {})


def test_the_agent_told_of_the_change_asks_each_model_then_serves_the_best_mean() -> None:
    names = ("a", "b", "c")
    told = ToldOfChange(Route(), at=(3 * EXPLORE + 5,))
    rng = np.random.default_rng(0)
    good = {"a": False, "b": True, "c": False}
    asked = []
    for i in range(3 * EXPLORE + 5):
        first = told.rank(_request(i, names), rng)[0]
        asked.append(first)
        told.observe(_request(i, names), Observation(first, True, good[first], 800.0, 0.0,
                                                     600.0, 300.0))
    # in turn, EXPLORE answers each, then only the model whose answers were valid
    assert [asked[: 3 * EXPLORE].count(n) for n in names] == [EXPLORE] * 3
    assert set(asked[3 * EXPLORE:]) == {"b"}
    # told that the truth changed, it forgets and asks every model again
    assert told.rank(_request(3 * EXPLORE + 5, names), rng)[0] == "a"
    assert {n: t.n for n, t in told.tallies.items()} == {"a": 0, "b": 0, "c": 0}


def test_even_an_agent_told_when_the_change_happens_misses_the_bound_in_some_runs() -> None:
    # What the answers can tell apart within the bound: 15 answers of each of 6 models leave
    # the 0.9 and 0.75 models in the wrong order in some runs, though it knows the moment.
    rows = evaluate_lockin(seeds=tuning_seeds(SEEDS), route=Route(), names=("lockin-6",),
                           rates=(2.0,), policies=(TOLD,))
    assert rows[0].missed > 0.0 and rows[0].p50 <= 150, format_lockin(rows)
