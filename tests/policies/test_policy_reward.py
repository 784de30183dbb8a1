from __future__ import annotations

import math

import pytest

from policies.reward import (
    MAX_LATENCY_MS,
    MAX_RETRIES,
    Outcome,
    RewardConfig,
    clamp_latency_ms,
    clamp_retries,
    latency_score,
    retries_score,
    reward,
)

CFG = RewardConfig()


def test_defaults_follow_the_issue() -> None:
    assert (CFG.validity_weight, CFG.latency_weight, CFG.retries_weight) == (0.5, 0.3, 0.2)


def test_a_fast_valid_first_answer_scores_near_one() -> None:
    assert reward(Outcome(valid=True, latency_ms=10.0), CFG) > 0.99


def test_an_invalid_answer_scores_zero_whatever_its_speed() -> None:
    assert reward(Outcome(valid=False, latency_ms=1.0), CFG) == 0.0


def test_latency_curve_is_one_half_at_the_midpoint_and_decreasing() -> None:
    assert latency_score(CFG.latency_midpoint_ms, CFG) == pytest.approx(0.5)
    scores = [latency_score(ms, CFG) for ms in (0, 500, 1500, 2500, 5000, 60_000)]
    assert scores == sorted(scores, reverse=True)


def test_retries_halve_their_part_of_the_score() -> None:
    assert [retries_score(n) for n in (0, 1, 2)] == [1.0, 0.5, 0.25]
    slow = reward(Outcome(valid=True, latency_ms=10.0, retries=1), CFG)
    assert slow == pytest.approx(1.0 - 0.2 * 0.5, abs=1e-2)


@pytest.mark.parametrize(
    ("raw", "clamped"),
    [(math.nan, MAX_LATENCY_MS), (math.inf, MAX_LATENCY_MS), (-math.inf, 0.0), (-5.0, 0.0),
     (1e12, MAX_LATENCY_MS), (250.0, 250.0), ("fast", MAX_LATENCY_MS)],
)
def test_absurd_latencies_are_clamped(raw: float, clamped: float) -> None:
    assert clamp_latency_ms(raw) == clamped


@pytest.mark.parametrize(
    ("raw", "clamped"),
    [(math.nan, 0), (-3, 0), (math.inf, MAX_RETRIES), (1e9, MAX_RETRIES), (2.7, 2), (None, 0)],
)
def test_absurd_retry_counts_are_clamped(raw: float, clamped: int) -> None:
    assert clamp_retries(raw) == clamped


@pytest.mark.parametrize("latency", [math.nan, math.inf, -math.inf, -1.0, 3.6e9, 0.0])
@pytest.mark.parametrize("retries", [0, -1, 10**9, math.nan])
def test_reward_is_always_in_the_unit_interval(latency: float, retries: float) -> None:
    r = reward(Outcome(valid=True, latency_ms=latency, retries=retries), CFG)  # type: ignore[arg-type]
    assert 0.0 <= r <= 1.0 and math.isfinite(r)


def test_weights_are_normalised() -> None:
    cfg = RewardConfig(validity_weight=5, latency_weight=3, retries_weight=2)
    assert reward(Outcome(valid=True, latency_ms=2000.0), cfg) == pytest.approx(0.85)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"validity_weight": -0.1},
         "The reward validity_weight must be a finite number of at least 0, got -0.1."),
        ({"latency_weight": math.nan},
         "The reward latency_weight must be a finite number of at least 0, got nan."),
        ({"retries_weight": True},
         "The reward retries_weight must be a finite number of at least 0, got True."),
        ({"validity_weight": 0, "latency_weight": 0, "retries_weight": 0},
         "The reward weights must not all be 0: at least one must be positive."),
        ({"latency_midpoint_ms": -1},
         "The latency midpoint must be a finite number of milliseconds of at least 0, got -1."),
        ({"latency_scale_ms": 0},
         "The latency scale must be a positive finite number of milliseconds, got 0."),
    ],
)
def test_config_errors_are_sentences(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as err:
        RewardConfig(**kwargs)
    assert str(err.value) == message
