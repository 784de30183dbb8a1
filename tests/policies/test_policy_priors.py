from __future__ import annotations

import math

import pytest

from policies.posterior import Posterior, Prior
from policies.priors import (
    FAMILY_PRIORS,
    UNIFORM,
    cold_start,
    family_prior,
    model_prior,
    pooled_prior,
)


def test_family_priors_are_modest() -> None:
    assert {"openai", "anthropic", "google", "mistral", "meta", "local"} <= set(FAMILY_PRIORS)
    for prior in FAMILY_PRIORS.values():
        assert 4.0 <= prior.strength <= 10.0
        assert 0.6 <= prior.mean <= 0.95


def test_family_lookup_is_case_insensitive_and_unknown_is_uniform() -> None:
    assert family_prior("OpenAI ") == FAMILY_PRIORS["openai"]
    assert family_prior("acme") == UNIFORM
    assert family_prior(None) == UNIFORM


def test_a_configured_prior_wins_over_the_family() -> None:
    mine = Prior(2.0, 8.0)
    assert model_prior(override=mine, family="openai") == mine
    assert model_prior(family="anthropic") == FAMILY_PRIORS["anthropic"]


def test_the_family_priors_cannot_be_mutated() -> None:
    with pytest.raises(TypeError):
        FAMILY_PRIORS["openai"] = UNIFORM  # type: ignore[index]


def test_pooling_without_siblings_is_the_base() -> None:
    base = FAMILY_PRIORS["openai"]
    assert pooled_prior([], base=base) == base


def test_pooling_keeps_the_family_mean_and_bounds_the_strength() -> None:
    base = Prior(4.0, 1.0)
    siblings = [Posterior(4.0 + 300 * 0.6, 1.0 + 300 * 0.4), Posterior(4.0 + 100 * 0.6, 1.0 + 40)]
    pooled = pooled_prior(siblings, base=base, max_strength=10.0)
    assert pooled.strength == pytest.approx(10.0)
    assert pooled.mean == pytest.approx((4.0 + 240) / (5.0 + 400))


def test_pooling_skips_broken_siblings() -> None:
    base = Prior(4.0, 1.0)
    assert pooled_prior([Posterior(math.nan, 1.0)], base=base) == base


def test_a_cold_model_learns_its_own_truth_in_tens_of_requests() -> None:
    # The family looks great (0.9); the newcomer is poor (0.3): 30 answers must say so.
    post = cold_start(family="openai", siblings=[Posterior(900.0, 100.0)], now=0.0)
    assert post.strength == pytest.approx(10.0) and post.mean == pytest.approx(0.9, abs=0.01)
    a, b = post.alpha, post.beta
    for _ in range(30):
        a, b = a + 0.3, b + 0.7
    assert a / (a + b) < 0.5


def test_cold_start_prefers_the_override_and_handles_no_family() -> None:
    assert cold_start(family="openai", siblings=[], now=5.0, override=Prior(1, 9)) == Posterior(
        1, 9, 5.0)
    assert cold_start(family=None, siblings=[Posterior(90, 10)], now=1.0) == Posterior(1, 1, 1.0)


def test_a_bad_cold_start_strength_is_a_sentence() -> None:
    with pytest.raises(ValueError) as err:
        pooled_prior([], base=Prior(4.0, 2.0), max_strength=3.0)
    assert str(err.value) == (
        "The cold-start strength must be a finite number of at least the base prior's "
        "alpha + beta (6), got 3.0."
    )
