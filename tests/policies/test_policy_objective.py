"""The objective on a stated scale: cost terms, the budget's pacing and the latency guard."""

from __future__ import annotations

import math

import pytest

from policies.objective import (
    EXHAUSTED,
    LATENCY_AIM,
    LATENCY_MAX,
    Budget,
    LatencyGuard,
    Objective,
    Pacer,
    cost_terms,
    period_start,
)


def test_cost_weight_is_the_old_normalised_term() -> None:
    terms = cost_terms(Objective(cost_weight=0.3), {"a": 0.002, "b": 0.001, "c": 0.0})
    assert terms == pytest.approx({"a": 0.3, "b": 0.15, "c": 0.0})


def test_a_value_per_good_answer_puts_cost_on_the_reward_scale() -> None:
    """utility = P(good) x V - cost, over V: the term is cost / V, whatever else is listed."""
    objective = Objective(value_usd=0.01)
    cheap = {"a": 0.002, "b": 0.001}
    assert cost_terms(objective, cheap) == pytest.approx({"a": 0.2, "b": 0.1})
    # One very dear candidate leaves the others' terms alone (the normalised term shrinks).
    with_dear = cost_terms(objective, {**cheap, "dear": 1.0})
    assert with_dear["a"] == pytest.approx(0.2) and with_dear["dear"] == pytest.approx(100)
    shrunk = cost_terms(Objective(cost_weight=0.3), {**cheap, "dear": 1.0})
    assert shrunk["a"] < 0.001  # what cost_weight does, and why the value scale exists


def test_multipliers_add_to_the_scale_and_penalties_add_per_model() -> None:
    terms = cost_terms(Objective(value_usd=0.01), {"a": 0.002, "b": 0.0}, mu=1.0,
                       penalties={"b": 0.25})
    assert terms == pytest.approx({"a": 0.4, "b": 0.25})
    broken = cost_terms(Objective(value_usd=0.01), {"a": math.nan, "b": -1.0})
    assert broken == {"a": 0.0, "b": 0.0}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"value_usd": 0}, "The value of a good answer must be a positive finite number of USD, "
                       "got 0."),
    ({"latency_p95_ms": -5}, "The latency objective must be a positive number of ms, got -5."),
])
def test_objective_errors_are_sentences(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as err:
        Objective(**kwargs)
    assert str(err.value) == message


def test_budget_periods_are_utc_hours_and_days() -> None:
    with pytest.raises(ValueError, match="per 'hour' or per 'day', got 'week'"):
        Budget(5, "week")
    with pytest.raises(ValueError, match="positive finite number of USD"):
        Budget(0)
    t = 1_750_000_000.0 + 1234.5  # some UTC time
    assert Budget(5, "hour").period_start(t) == period_start(t, 3600) == t - t % 3600
    assert Budget(5).period_s == 86400


def _pace(pacer: Pacer, *, usd_per_s: float, seconds: int, start: float,
          spent: float = 0.0, cheapest: float = 0.0) -> tuple[float, float]:
    """Spend at a constant rate, one update per second; returns (spent, mu)."""
    mu = 0.0
    for s in range(seconds):
        spent += usd_per_s
        mu = pacer.update(spent, start + s + 1, cheapest)
    return spent, mu


def test_overspending_raises_mu_and_underspending_lowers_it() -> None:
    start = 3600.0 * 1000
    pacer = Pacer(Budget(3.6, "hour"))  # 0.001 USD/s allowed
    pacer.update(0.0, start)
    spent, mu = _pace(pacer, usd_per_s=0.002, seconds=600, start=start)
    assert mu > 1.0, mu  # 2x the allowed rate for 10 min: cost now weighs heavily
    raised = mu
    _, mu = _pace(pacer, usd_per_s=0.0001, seconds=600, start=start + 600, spent=spent)
    assert mu < raised / 4, (raised, mu)


def test_spending_at_the_allowed_rate_leaves_mu_low() -> None:
    start = 3600.0 * 2000
    pacer = Pacer(Budget(3.6, "hour"))
    pacer.update(0.0, start)
    _, mu = _pace(pacer, usd_per_s=0.0009, seconds=1200, start=start)
    assert mu < 0.05, mu


def test_a_spent_budget_is_exhausted_until_the_period_ends() -> None:
    start = 3600.0 * 3000
    pacer = Pacer(Budget(1.0, "hour"))
    assert pacer.update(0.5, start + 10) < EXHAUSTED
    assert pacer.update(1.0, start + 20) == EXHAUSTED
    assert pacer.update(1.2, start + 3599) == EXHAUSTED
    assert pacer.update(0.0, start + 3600) < EXHAUSTED  # a new hour, a new budget


def test_the_budget_counts_as_spent_once_what_is_left_only_pays_for_the_cheapest() -> None:
    """At 0.0002 USD/s on the cheapest candidates and 0.3 USD left with 1,800 s to go (0.36
    USD at the floor), the rest of the hour goes to the cheapest: it ends near the budget
    instead of over it by the floor's spend."""
    start = 3600.0 * 4000
    pacer = Pacer(Budget(1.0, "hour"))
    pacer.update(0.0, start)
    for s in range(1, 601):  # learn the floor: 0.0002 USD/s at 10 requests/s
        for _ in range(10):
            mu = pacer.update(0.0001 * s, start + s, 0.00002)
    assert pacer.floor == pytest.approx(0.0002, rel=0.1)
    assert mu < EXHAUSTED  # 0.94 USD left, 0.6 at the floor
    for s in range(601, 1801):  # 0.7 USD spent by 1,800 s
        for _ in range(10):
            mu = pacer.update(0.06 + 0.0005333 * (s - 600), start + s, 0.00002)
    assert mu == EXHAUSTED


def test_latency_guard_raises_nu_on_slow_answers_and_penalises_the_slow_model() -> None:
    guard = LatencyGuard(target_ms=1000)
    assert guard.penalties() is None
    for i in range(200):
        guard.observe("slow", 1500 if i % 2 else 500)  # half its answers over the target
        guard.observe("fast", 200)
    assert guard.nu > 0.5
    penalties = guard.penalties()
    assert penalties is not None
    assert penalties["slow"] == pytest.approx(guard.nu * guard.share("slow"))
    assert guard.share("slow") == pytest.approx(0.5, abs=0.15)
    assert penalties["fast"] < 0.01
    assert guard.answers == 400 and guard.over == 100


def test_latency_guard_relaxes_nu_when_the_route_is_fast_and_caps_it() -> None:
    guard = LatencyGuard(target_ms=100)
    for _ in range(2000):
        guard.observe("m", 500)
    assert guard.nu == LATENCY_MAX
    for _ in range(5000):
        guard.observe("m", 50)
    assert guard.nu == 0.0 and guard.penalties() is None
    guard.observe("m", math.inf)  # a broken reading is no answer
    assert guard.answers == 7000


def test_an_idle_model_is_not_held_to_its_old_slow_share_for_good() -> None:
    guard = LatencyGuard(target_ms=100)
    for _ in range(30):
        guard.observe("was-slow", 500)
    assert guard.share("was-slow") > 0.7
    for _ in range(3000):
        guard.observe("other", 50)
    assert LATENCY_AIM < guard.share("was-slow") < 0.2
    assert guard.share("never-seen") == LATENCY_AIM
