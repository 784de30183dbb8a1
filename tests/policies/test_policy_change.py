"""policies.change: the CUSUM stays quiet on a model that holds, fires soon on one that moves,
and keeps the answers since the change."""

from __future__ import annotations

import math

import numpy as np
import pytest

from policies import defaults
from policies.change import Cusum, observe
from policies.posterior import Posterior, Prior
from policies.posterior import observe as add

SHIFT, THRESHOLD = defaults.CHANGE_SHIFT, defaults.CHANGE_THRESHOLD
PRIOR = Prior(1.0, 1.0)


def _stream(rng: np.random.Generator, quality: float, n: int, *, valid_reward: float = 0.97,
            post: Posterior | None = None, state: Cusum | None = None,
            ) -> tuple[Posterior, Cusum, list[tuple[int, bool, float, float]]]:
    """n answers valid with probability `quality`, learned as the gateway learns them
    (capped at 50 answers); the changes as (answer, up, segment weight, segment reward)."""
    post = post or Posterior.from_prior(PRIOR)
    state = state or Cusum()
    changes = []
    for i in range(n):
        r = valid_reward if rng.random() < quality else 0.0
        state, found = observe(state, post.mean, r, shift=SHIFT, threshold=THRESHOLD)
        if found is None:
            post = add(post, r, prior=PRIOR, now=0.0, half_life_s=None, max_strength=50.0)
        else:
            changes.append((i, found.up, found.weight, found.reward))
            post = Posterior(PRIOR.alpha + found.reward,
                             PRIOR.beta + found.weight - found.reward)
    return post, state, changes


@pytest.mark.parametrize("quality", [0.98, 0.9, 0.75, 0.5])
def test_a_model_that_holds_raises_no_alarm(quality: float) -> None:
    rng = np.random.default_rng(1)
    for _ in range(5):
        _, _, changes = _stream(rng, quality, 2000)
        # after its first answers (which may move it from the flat prior a long way)
        assert [c for c in changes if c[0] > 30] == []


def test_a_model_that_degrades_is_caught_within_a_few_answers() -> None:
    rng = np.random.default_rng(2)
    late = []
    for _ in range(50):
        post, state, _ = _stream(rng, 0.98, 300)
        assert post.mean > 0.85
        post, _, changes = _stream(rng, 0.4, 100, post=post, state=state)
        assert changes, "no alarm after 100 answers at 40% valid"
        at, up, weight, total = changes[0]
        late.append(at)
        assert not up
        # the answers since the down side last stood at 0: the change's, and at most the few
        # before it that an invalid answer of the healthy model left in the sum
        assert 1 <= weight <= at + 25
        assert 0 <= total <= 0.7 * weight
        assert post.mean < 0.75  # it restarted from its recent answers, not its history
    assert np.median(late) <= 10 and max(late) <= 25, late


def test_a_model_that_recovers_is_seen_better() -> None:
    rng = np.random.default_rng(3)
    post = Posterior(1.0 + 8.0, 1.0 + 32.0)  # it failed most of its last 40 answers
    _, _, changes = _stream(rng, 0.95, 40, post=post)
    assert changes and changes[0][1] is True and changes[0][0] < 15
    assert changes[0][3] / changes[0][2] > 0.7


def test_a_weight_counts_as_that_many_answers() -> None:
    one, two = Cusum(), Cusum()
    for _ in range(3):
        one, _ = observe(one, 0.9, 0.0, shift=SHIFT, threshold=100)
        one, _ = observe(one, 0.9, 0.0, shift=SHIFT, threshold=100)
        two, _ = observe(two, 0.9, 0.0, shift=SHIFT, threshold=100, weight=2.0)
    assert two.down == pytest.approx(one.down) and two.down_weight == one.down_weight == 6


def test_a_model_near_the_edges_is_tested_only_where_it_can_move() -> None:
    state = Cusum()
    for _ in range(5000):  # always failing, believed failing: nothing to tell
        state, found = observe(state, 0.001, 0.0, shift=SHIFT, threshold=THRESHOLD)
        assert found is None
    assert state.down == 0.0
    for _ in range(5000):
        state, found = observe(state, 0.999, 1.0, shift=SHIFT, threshold=THRESHOLD)
        assert found is None
    assert state.up == 0.0


@pytest.mark.parametrize("mean, reward, weight", [
    (math.nan, 0.0, 1.0), (0.5, math.nan, 1.0), (math.inf, 0.0, 1.0), (0.5, 0.0, 0.0),
    (0.5, 0.0, -1.0)])
def test_broken_input_changes_nothing(mean: float, reward: float, weight: float) -> None:
    state = Cusum(up=1.0, up_weight=2.0, up_reward=1.5)
    assert observe(state, mean, reward, shift=SHIFT, threshold=THRESHOLD,
                   weight=weight) == (state, None)


def test_rewards_outside_0_1_count_as_their_bound() -> None:
    a, _ = observe(Cusum(), 0.6, 5.0, shift=SHIFT, threshold=THRESHOLD)
    b, _ = observe(Cusum(), 0.6, 1.0, shift=SHIFT, threshold=THRESHOLD)
    assert a == b
