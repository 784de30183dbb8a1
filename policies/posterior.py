"""Beta posteriors with time-based decay toward the prior.

The decay is a function of timestamps only (not of how many updates a replica saw), so every
replica that applies it to the same state at the same time gets the same answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# A posterior never gets weaker than this, so a NaN-free Beta sample always exists.
_MIN_PARAM = 1e-3


@dataclass(frozen=True, slots=True)
class Prior:
    alpha: float = 1.0
    beta: float = 1.0

    def __post_init__(self) -> None:
        for name in ("alpha", "beta"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"prior {name} must be a positive finite number, got {value!r}")


@dataclass(frozen=True, slots=True)
class Posterior:
    alpha: float
    beta: float
    updated_at: float = 0.0

    @classmethod
    def from_prior(cls, prior: Prior, *, now: float = 0.0) -> Posterior:
        return cls(prior.alpha, prior.beta, now)

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def strength(self) -> float:
        return self.alpha + self.beta


def decay_factor(elapsed_s: float, half_life_s: float | None) -> float:
    """Weight kept by evidence that is `elapsed_s` old; 1.0 when decay is off."""
    if half_life_s is None or elapsed_s <= 0 or not math.isfinite(elapsed_s):
        return 1.0
    return 0.5 ** (elapsed_s / half_life_s)


def decayed(post: Posterior, prior: Prior, *, now: float, half_life_s: float | None) -> Posterior:
    """The posterior relaxed toward `prior` for the time since its last update."""
    keep = decay_factor(now - post.updated_at, half_life_s)
    if keep == 1.0:
        return post
    alpha = prior.alpha + (post.alpha - prior.alpha) * keep
    beta = prior.beta + (post.beta - prior.beta) * keep
    return Posterior(max(alpha, _MIN_PARAM), max(beta, _MIN_PARAM), max(now, post.updated_at))


def observe(
    post: Posterior,
    reward: float,
    *,
    prior: Prior,
    now: float,
    half_life_s: float | None,
) -> Posterior:
    """Decay to `now`, then add one observation: alpha += reward, beta += 1 - reward."""
    r = clamp_reward(reward)
    base = decayed(post, prior, now=now, half_life_s=half_life_s)
    return Posterior(base.alpha + r, base.beta + (1.0 - r), max(now, base.updated_at))


def clamp_reward(reward: float) -> float:
    """A reward in [0, 1]; NaN counts as a failure rather than poisoning the posterior."""
    if not math.isfinite(reward):
        return 0.0 if math.isnan(reward) or reward < 0 else 1.0
    return min(1.0, max(0.0, reward))
