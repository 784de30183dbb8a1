from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from policies.thompson import Arm, Decision, ThompsonSampling, prob_better


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_the_decision_ranks_every_arm_and_its_first_is_the_choice() -> None:
    arms = [Arm("a", 1, 1), Arm("b", 2, 2), Arm("c", 3, 3)]
    d = ThompsonSampling().select(arms, rng=rng(), now=0.0)
    assert sorted(d.ranked) == ["a", "b", "c"] and d.choice == d.ranked[0]
    assert list(d.utilities) == sorted(d.utilities, reverse=True)
    assert d.fallback_used is False


def test_selection_is_reproducible_with_the_same_seed() -> None:
    arms = [Arm(str(i), 1 + i, 5) for i in range(6)]
    pol = ThompsonSampling(cost_weight=0.3)
    first = [pol.select(arms, rng=rng(7), now=0.0) for _ in range(3)]
    assert first[0] == first[1] == first[2]


def test_a_clearly_better_arm_wins_almost_always() -> None:
    arms = [Arm("good", 90, 10), Arm("bad", 30, 70)]
    g = rng(1)
    wins = Counter(ThompsonSampling().select(arms, rng=g, now=0.0).choice for _ in range(500))
    assert wins["good"] > 495


def test_cost_weight_trades_quality_for_price() -> None:
    arms = [Arm("pricey", 95, 5, cost=1.0), Arm("cheap", 85, 15, cost=0.05)]
    g = rng(2)
    blind = Counter(ThompsonSampling().select(arms, rng=g, now=0).choice for _ in range(300))
    aware = Counter(
        ThompsonSampling(cost_weight=0.3).select(arms, rng=g, now=0).choice for _ in range(300))
    assert blind["pricey"] > 280 and aware["cheap"] > 280


def test_unavailable_arms_go_last_but_stay_in_the_ranking() -> None:
    arms = [Arm("open", 99, 1, available=False), Arm("ok", 1, 99)]
    d = ThompsonSampling().select(arms, rng=rng(), now=0.0)
    assert d.ranked == ("ok", "open")


def test_broken_snapshot_values_do_not_crash_selection() -> None:
    arms = [Arm("nan", math.nan, 1.0), Arm("neg", -3.0, 0.0, cost=math.inf), Arm("ok", 2, 2)]
    d = ThompsonSampling(cost_weight=0.5).select(arms, rng=rng(), now=0.0)
    assert all(math.isfinite(u) for u in d.utilities)


def test_lower_exploration_concentrates_on_the_leader() -> None:
    arms = [Arm("a", 9, 3), Arm("b", 8, 4)]
    g = rng(3)

    def share(e: float) -> int:
        pol = ThompsonSampling(exploration=e)
        return Counter(pol.select(arms, rng=g, now=0).choice for _ in range(2000))["a"]

    assert share(0.1) > share(1.0) + 300


def test_the_fallback_serves_while_no_candidate_is_confidently_better() -> None:
    # "new" has two answers and looks a bit worse; the fallback has a solid record. Sampling
    # alone would send "new" a good share of the traffic.
    arms = [Arm("fallback", 80, 20), Arm("new", 1.5, 0.5)]
    g = rng(4)
    plain = Counter(ThompsonSampling().select(arms, rng=g, now=0).choice for _ in range(300))
    assert plain["new"] > 60
    pol = ThompsonSampling(fallback="fallback", confidence_floor=0.5)
    g = rng(4)
    ds = [pol.select(arms, rng=g, now=0) for _ in range(300)]
    assert all(d.choice == "fallback" for d in ds)
    assert any(d.fallback_used for d in ds)


def test_the_fallback_is_not_a_trap_when_it_degrades() -> None:
    arms = [Arm("fallback", 20, 80), Arm("healthy", 85, 15)]
    pol = ThompsonSampling(fallback="fallback", confidence_floor=0.5)
    g = rng(5)
    assert all(pol.select(arms, rng=g, now=0).choice == "healthy" for _ in range(300))


def test_an_open_fallback_is_never_forced() -> None:
    arms = [Arm("fallback", 80, 20, available=False), Arm("new", 2, 1)]
    pol = ThompsonSampling(fallback="fallback", confidence_floor=0.9)
    assert pol.select(arms, rng=rng(), now=0).choice == "new"


def test_floor_zero_is_the_old_behaviour() -> None:
    arms = [Arm("fallback", 80, 20), Arm("new", 2, 0.2), Arm("x", 3, 3)]
    a = ThompsonSampling(fallback="fallback").select(arms, rng=rng(9), now=0)
    b = ThompsonSampling().select(arms, rng=rng(9), now=0)
    assert a == b


def test_prob_better_is_symmetric_and_sensible() -> None:
    a, b = (90.0, 10.0, 0.0), (50.0, 50.0, 0.0)
    assert prob_better(a, b, cost_weight=0) > 0.999
    assert prob_better(a, b, cost_weight=0) + prob_better(b, a, cost_weight=0) == pytest.approx(1)
    assert prob_better((9, 1, 1.0), (9, 1, 0.0), cost_weight=0.5) < 0.01


def test_decision_choice_property() -> None:
    assert Decision(("x", "y"), (0.5, 0.1)).choice == "x"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cost_weight": -1}, "The cost weight must be a finite number of at least 0, got -1."),
        ({"confidence_floor": 1.0},
         "The confidence floor must be a probability in [0, 1), got 1.0."),
        ({"exploration": 0}, "The exploration scale must be a positive finite number, got 0."),
    ],
)
def test_config_errors_are_sentences(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as err:
        ThompsonSampling(**kwargs)  # type: ignore[arg-type]
    assert str(err.value) == message


def test_zero_arms_is_a_sentence() -> None:
    with pytest.raises(ValueError) as err:
        ThompsonSampling().select([], rng=rng(), now=0.0)
    assert str(err.value) == (
        "Cannot select among zero arms: a route needs at least one candidate.")
