"""The latency trend: a model slower lately than its longer run pays the gap in its cost term."""

from __future__ import annotations

import numpy as np
import pytest

from policies.latency import IDLE_HALF_LIFE, LatencyTrend, added
from policies.reward import RewardConfig, latency_score

REWARD = RewardConfig()
WEIGHT = REWARD.latency_weight / (REWARD.validity_weight + REWARD.latency_weight
                                  + REWARD.retries_weight)


def _answers(trend: LatencyTrend, model: str, ms: float, n: int, *, jitter: float = 0.0,
             seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(n):
        trend.observe(model, ms * float(np.exp(jitter * rng.standard_normal())))


def test_no_answers_or_no_latency_weight_means_no_penalties() -> None:
    assert LatencyTrend(REWARD).penalties() is None
    trend = LatencyTrend(RewardConfig(latency_weight=0.0))
    _answers(trend, "a", 500, 10)
    assert trend.penalties() is None


def test_a_steady_model_pays_nothing_even_with_noisy_latency() -> None:
    trend = LatencyTrend(REWARD)
    _answers(trend, "steady", 1800, 400)
    _answers(trend, "noisy", 1800, 2000, jitter=0.3, seed=1)
    penalties = trend.penalties() or {}
    assert "steady" not in penalties
    assert abs(penalties.get("noisy", 0.0)) < 0.005  # the noise gate holds most draws at 0


def test_a_slowdown_is_charged_and_a_speedup_credited_in_reward_units() -> None:
    trend = LatencyTrend(REWARD)
    for before, after in ((300, 0), (0, 30)):
        for _ in range(before):
            trend.observe("faster", 3000)
            trend.observe("slower", 1000)
        for _ in range(after):
            trend.observe("faster", 1000)
            trend.observe("slower", 3000)
    penalties = trend.penalties()
    assert penalties is not None
    gap = latency_score(1000, REWARD) - latency_score(3000, REWARD)
    # After 30 answers the recent average has moved most of the way, the long one less.
    assert 0.2 * WEIGHT * gap < penalties["slower"] < WEIGHT * gap
    assert penalties["faster"] == pytest.approx(-penalties["slower"], rel=0.05)


def test_an_idle_models_gap_fades_with_the_routes_answers() -> None:
    trend = LatencyTrend(REWARD)
    _answers(trend, "a", 1000, 300)
    _answers(trend, "a", 3000, 30)
    _answers(trend, "b", 1000, 1)
    penalties = trend.penalties()
    assert penalties is not None
    before = penalties["a"]
    _answers(trend, "b", 1000, int(IDLE_HALF_LIFE))
    penalties = trend.penalties()
    assert penalties is not None
    assert penalties["a"] == pytest.approx(before / 2, rel=0.02)


def test_garbage_latencies_are_ignored() -> None:
    trend = LatencyTrend(REWARD)
    for ms in (float("nan"), float("inf"), -5.0):
        trend.observe("a", ms)
    assert trend.penalties() is None


def test_penalties_add_per_model() -> None:
    assert added(None, None) is None
    assert added({"a": 0.1}, None) == {"a": 0.1}
    assert added(None, {"b": -0.2}) == {"b": -0.2}
    assert added({"a": 0.1, "b": 0.2}, {"b": -0.05, "c": 0.3}) == \
        pytest.approx({"a": 0.1, "b": 0.15, "c": 0.3})


def test_a_model_with_few_answers_is_not_judged_on_their_noise() -> None:
    """Its spread is scaled up to what its few answers can show, so the gate holds."""
    worst = 0.0
    for seed in range(50):
        trend = LatencyTrend(REWARD)
        _answers(trend, "new", 1800, 10, jitter=0.3, seed=seed)
        worst = max(worst, abs((trend.penalties() or {}).get("new", 0.0)))
    assert worst < 0.02
