from __future__ import annotations

import math

import pytest

from policies.posterior import (
    Posterior,
    Prior,
    clamp_reward,
    decay_factor,
    decayed,
    observe,
    sanitized,
)

PRIOR = Prior(4.0, 1.0)


def test_observe_adds_exactly_one_observation_without_decay() -> None:
    post = observe(Posterior(4.0, 1.0, 0.0), 0.7, prior=PRIOR, now=5.0, half_life_s=None)
    assert (post.alpha, post.beta, post.updated_at) == pytest.approx((4.7, 1.3, 5.0))
    assert post.strength == pytest.approx(6.0)


def test_one_half_life_halves_the_evidence() -> None:
    post = Posterior(14.0, 11.0, 0.0)
    half = decayed(post, PRIOR, now=60.0, half_life_s=60.0)
    assert (half.alpha, half.beta) == pytest.approx((9.0, 6.0))
    assert half.updated_at == 60.0


def test_an_idle_posterior_relaxes_to_its_prior() -> None:
    post = Posterior(2.0, 300.0, 0.0)
    later = decayed(post, PRIOR, now=3600.0 * 24, half_life_s=600.0)
    assert (later.alpha, later.beta) == pytest.approx((PRIOR.alpha, PRIOR.beta))
    assert later.mean == pytest.approx(PRIOR.mean)


def test_decay_is_deterministic_in_timestamps_so_replicas_agree() -> None:
    post = Posterior(30.0, 7.0, 100.0)
    steps = [(130.0, 0.4), (131.5, 1.0), (400.0, 0.0), (402.25, 0.9)]
    replicas = []
    for _ in range(3):
        p = post
        for now, r in steps:
            p = observe(p, r, prior=PRIOR, now=now, half_life_s=300.0)
        replicas.append(p)
    assert replicas[0] == replicas[1] == replicas[2]


def test_a_clock_behind_the_last_update_neither_decays_nor_rewinds() -> None:
    post = Posterior(10.0, 5.0, 100.0)
    assert decayed(post, PRIOR, now=50.0, half_life_s=60.0) == post
    after = observe(post, 1.0, prior=PRIOR, now=50.0, half_life_s=60.0)
    assert after.updated_at == 100.0 and after.alpha == 11.0


def test_broken_stored_values_fall_back_to_the_prior() -> None:
    for bad in (Posterior(math.nan, 1.0, 0.0), Posterior(1.0, -2.0, 0.0),
                Posterior(math.inf, 1.0, 0.0), Posterior(0.0, 1.0, 0.0)):
        assert (sanitized(bad, PRIOR).alpha, sanitized(bad, PRIOR).beta) == (4.0, 1.0)
    assert sanitized(Posterior(2.0, 2.0, math.nan), PRIOR).updated_at == 0.0


def test_non_finite_now_changes_nothing_but_the_observation() -> None:
    post = Posterior(10.0, 5.0, 100.0)
    after = observe(post, 1.0, prior=PRIOR, now=math.nan, half_life_s=60.0)
    assert (after.alpha, after.beta, after.updated_at) == (11.0, 5.0, 100.0)


@pytest.mark.parametrize(("raw", "clamped"), [(math.nan, 0.0), (-math.inf, 0.0),
                                               (math.inf, 1.0), (-0.5, 0.0), (7.0, 1.0)])
def test_rewards_are_clamped(raw: float, clamped: float) -> None:
    assert clamp_reward(raw) == clamped


def test_max_strength_caps_the_evidence_and_keeps_its_mean() -> None:
    post = Posterior.from_prior(PRIOR)
    for i in range(500):
        post = observe(post, 0.2, prior=PRIOR, now=float(i), half_life_s=None, max_strength=50.0)
    assert post.strength == pytest.approx(50.0)
    evidence_mean = (post.alpha - PRIOR.alpha) / (post.strength - PRIOR.strength)
    assert evidence_mean == pytest.approx(0.2)


def test_a_capped_posterior_follows_a_change_within_tens_of_answers() -> None:
    post = Posterior(45.0, 5.0, 0.0)  # mean 0.9 at the cap
    for i in range(50):
        post = observe(post, 0.3, prior=PRIOR, now=float(i), half_life_s=None, max_strength=50.0)
    assert post.mean < 0.6


def test_decay_factor_edges() -> None:
    assert decay_factor(10.0, None) == 1.0
    assert decay_factor(-10.0, 60.0) == 1.0
    assert decay_factor(math.inf, 60.0) == 0.0
    assert decay_factor(math.nan, 60.0) == 1.0
    assert decay_factor(120.0, 60.0) == pytest.approx(0.25)


@pytest.mark.parametrize("half_life", [0.0, -5.0, math.nan, math.inf])
def test_a_bad_half_life_is_a_sentence(half_life: float) -> None:
    with pytest.raises(ValueError) as err:
        decay_factor(1.0, half_life)
    assert str(err.value) == (
        f"The decay half-life must be a positive number of seconds or None, got {half_life!r}."
    )


def test_a_bad_max_strength_is_a_sentence() -> None:
    with pytest.raises(ValueError) as err:
        observe(Posterior(4.0, 1.0), 1.0, prior=PRIOR, now=0.0, half_life_s=None, max_strength=3)
    assert str(err.value) == (
        "The maximum posterior strength must be a finite number above the prior's "
        "alpha + beta (5), got 3."
    )


@pytest.mark.parametrize(("field", "value"), [("alpha", 0.0), ("beta", math.nan)])
def test_a_bad_prior_is_a_sentence(field: str, value: float) -> None:
    with pytest.raises(ValueError) as err:
        Prior(**{field: value})
    assert str(err.value) == f"The prior {field} must be a positive finite number, got {value!r}."
