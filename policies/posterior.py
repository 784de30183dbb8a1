"""Beta posteriors with time-based decay toward the prior.

The decay is a function of timestamps only (not of how many updates a replica saw), so every
replica that applies it to the same state at the same time gets the same answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(
                    f"The prior {name} must be a positive finite number, got {value!r}."
                )

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def strength(self) -> float:
        return self.alpha + self.beta


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
    if half_life_s is None:
        return 1.0
    if not (math.isfinite(half_life_s) and half_life_s > 0):
        raise ValueError(
            f"The decay half-life must be a positive number of seconds or None, "
            f"got {half_life_s!r}."
        )
    if not math.isfinite(elapsed_s):
        # +inf: infinitely old evidence is worth nothing; NaN/-inf: a broken clock, keep all.
        return 0.0 if elapsed_s > 0 else 1.0
    if elapsed_s <= 0:
        return 1.0
    return 0.5 ** (elapsed_s / half_life_s)


def sanitized(post: Posterior, prior: Prior) -> Posterior:
    """`post`, or the prior when a stored value is broken (NaN, inf, zero or negative)."""
    a, b, t = post.alpha, post.beta, post.updated_at
    if 0 < a < math.inf and 0 < b < math.inf and -math.inf < t < math.inf:
        return post  # the common case, checked first: this runs for every candidate
    if not (math.isfinite(a) and math.isfinite(b) and a > 0 and b > 0):
        return Posterior(prior.alpha, prior.beta, t if math.isfinite(t) else 0.0)
    return Posterior(a, b, 0.0)


def decayed(post: Posterior, prior: Prior, *, now: float, half_life_s: float | None) -> Posterior:
    """The posterior relaxed toward `prior` for the time since its last update.

    A `now` earlier than the last update (another replica's clock ahead) decays nothing, and
    the timestamp never moves backwards, so replaying the same timestamps gives the same state.
    """
    a, b, t = post.alpha, post.beta, post.updated_at
    if not (0 < a < math.inf and 0 < b < math.inf and -math.inf < t < math.inf):
        post = sanitized(post, prior)
        a, b, t = post.alpha, post.beta, post.updated_at
    if half_life_s is None:
        return post
    if not 0 < half_life_s < math.inf:
        decay_factor(1.0, half_life_s)  # raises the sentence
    elapsed = now - t
    if not 0 < elapsed < math.inf:  # a clock behind the last update, or broken: no decay
        return post
    # Inlined decay_factor: this runs for every candidate of every request.
    keep = 0.5 ** (elapsed / half_life_s)
    alpha = prior.alpha + (a - prior.alpha) * keep
    beta = prior.beta + (b - prior.beta) * keep
    return Posterior(max(alpha, _MIN_PARAM), max(beta, _MIN_PARAM), now)


def observe(
    post: Posterior,
    reward: float,
    *,
    prior: Prior,
    now: float,
    half_life_s: float | None,
    max_strength: float | None = None,
) -> Posterior:
    """Decay to `now`, then add one observation: alpha += reward, beta += 1 - reward.

    `max_strength` caps alpha + beta by shrinking the evidence (not the prior) toward the prior,
    so under heavy traffic a posterior stays as movable as one holding that many answers.
    """
    r = clamp_reward(reward)
    base = decayed(post, prior, now=now, half_life_s=half_life_s)
    alpha, beta = base.alpha + r, base.beta + (1.0 - r)
    if max_strength is not None:
        alpha, beta = capped(alpha, beta, prior, max_strength)
    t = now if math.isfinite(now) else base.updated_at
    return Posterior(alpha, beta, max(t, base.updated_at))


def updated(
    post: Posterior | None,
    d_alpha: float,
    d_beta: float,
    *,
    prior: Prior,
    now: float,
    half_life_s: float | None,
    max_strength: float | None = None,
    initial: tuple[float, float] | None = None,
) -> Posterior:
    """A stored posterior after one update: decayed to `now`, the increments added, clamped.

    An observation adds (reward, 1 - reward); a correction moves weight from alpha to beta;
    a reset adds (prior - current). `post` None starts from `initial` (a cold start) or the
    prior. The cap applies only above the prior's strength. The store's Lua script is the twin
    of this function, and tests hold the two to the same numbers.
    """
    if post is not None:
        base = post
    elif initial is not None:
        base = Posterior(initial[0], initial[1], now)
    else:
        base = Posterior.from_prior(prior, now=now)
    base = decayed(base, prior, now=now, half_life_s=half_life_s)
    alpha = max(base.alpha + d_alpha, _MIN_PARAM)
    beta = max(base.beta + d_beta, _MIN_PARAM)
    if max_strength is not None and max_strength > prior.alpha + prior.beta:
        alpha, beta = capped(alpha, beta, prior, max_strength)
    return Posterior(alpha, beta, max(now, base.updated_at))


def backed_off(own: Posterior | None, pooled: Posterior, prior: Prior, *, bound: float,
               now: float) -> Posterior:
    """A request class's posterior: its own (decayed) evidence, plus the pooled level's evidence
    from the other classes (the pooled posterior less this class's own), shrunk to at most
    `bound` answers. A class with little traffic so routes on the pooled estimate, and one with
    evidence of its own mostly on that."""
    oa, ob = (own.alpha, own.beta) if own is not None else (prior.alpha, prior.beta)
    ea = pooled.alpha - oa
    eb = pooled.beta - ob
    ea = ea if ea > 0 else 0.0
    eb = eb if eb > 0 else 0.0
    evidence = ea + eb
    if evidence > bound:
        ea, eb = ea * bound / evidence, eb * bound / evidence
    return Posterior(oa + ea, ob + eb, own.updated_at if own is not None else now)


def credible_interval(alpha: float, beta: float, *, z: float = 1.96) -> tuple[float, float]:
    """A normal approximation of the central credible interval (95% for z = 1.96), in [0, 1]."""
    mean = alpha / (alpha + beta)
    sd = math.sqrt(alpha * beta / ((alpha + beta) ** 2 * (alpha + beta + 1)))
    return max(0.0, mean - z * sd), min(1.0, mean + z * sd)


def clamp_reward(reward: float) -> float:
    """A reward in [0, 1]; NaN counts as a failure rather than poisoning the posterior."""
    if not math.isfinite(reward):
        return 0.0 if math.isnan(reward) or reward < 0 else 1.0
    return min(1.0, max(0.0, reward))


def capped(alpha: float, beta: float, prior: Prior, max_strength: float) -> tuple[float, float]:
    if not (math.isfinite(max_strength) and max_strength > prior.alpha + prior.beta):
        raise ValueError(
            f"The maximum posterior strength must be a finite number above the prior's "
            f"alpha + beta ({prior.alpha + prior.beta:g}), got {max_strength!r}."
        )
    excess = alpha + beta - max_strength
    if excess <= 0:
        return alpha, beta
    ea, eb = alpha - prior.alpha, beta - prior.beta
    evidence = ea + eb
    if evidence <= 0:
        return alpha, beta
    keep = max(0.0, 1.0 - excess / evidence)
    return (max(prior.alpha + ea * keep, _MIN_PARAM), max(prior.beta + eb * keep, _MIN_PARAM))


def route_level(posts: Sequence[Posterior], priors: Sequence[Prior]) -> float | None:
    """The mean reward of the evidence the route's models hold (their posteriors beyond their
    priors, summed), or None while there is none."""
    ea = eb = 0.0
    for post, prior in zip(posts, priors, strict=True):
        a, b = post.alpha - prior.alpha, post.beta - prior.beta
        if a > 0:
            ea += a
        if b > 0:
            eb += b
    total = ea + eb
    return ea / total if total > 1e-9 else None


def on_route_scale(post: Posterior, prior: Prior, level: float | None) -> tuple[float, float]:
    """(alpha, beta) of `post` with its prior's mean raised to the route's `level` (same
    strength): a model with little evidence of its own looks as good as what the route's
    answers earn, not a coin flip, so it is tried again whenever the models in use fall below
    that. Evidence is kept. A tuple, not a Posterior: this runs for every candidate."""
    pa, pb = prior.alpha, prior.beta
    if level is None or level * (pa + pb) <= pa:
        return post.alpha, post.beta
    s = pa + pb
    a = post.alpha + s * level - pa
    b = post.beta + s * (1.0 - level) - pb
    return (a if a > _MIN_PARAM else _MIN_PARAM, b if b > _MIN_PARAM else _MIN_PARAM)
