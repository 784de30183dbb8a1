"""Where a posterior starts: per-model priors, built-in family priors, and cold start.

The prior is what a posterior decays back to when idle, so it should say what we believe about
a model with no evidence. A healthy hosted model scores about 0.9 with the default reward
weights (a valid first-time answer scores at least 0.5 + 0.2, plus 0.3 times its latency score),
so the family priors are centred at 0.7-0.88 with a strength of 6 answers: a handful of real
answers outweighs them, and an idle model relaxes back to a belief good enough to be tried.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from .defaults import COLD_START_STRENGTH
from .posterior import Posterior, Prior

UNIFORM = Prior(1.0, 1.0)

# Expert opinion, deliberately weak: hosted frontier APIs answer valid JSON and tool calls
# reliably; small open-weight and local models are more often invalid or slow.
FAMILY_PRIORS: Mapping[str, Prior] = MappingProxyType({
    "openai": Prior(5.3, 0.7),
    "anthropic": Prior(5.3, 0.7),
    "google": Prior(5.1, 0.9),
    "mistral": Prior(5.0, 1.0),
    "meta": Prior(4.7, 1.3),
    "local": Prior(4.2, 1.8),
})


def family_prior(family: str | None) -> Prior:
    """The built-in prior for a family (case-insensitive), else uniform."""
    if family is None:
        return UNIFORM
    return FAMILY_PRIORS.get(family.strip().lower(), UNIFORM)


def model_prior(*, override: Prior | None = None, family: str | None = None) -> Prior:
    """A model's decay target: its configured `prior`, else its family's, else uniform."""
    return override if override is not None else family_prior(family)


def pooled_prior(
    siblings: Iterable[Posterior],
    *,
    base: Prior,
    max_strength: float = COLD_START_STRENGTH,
) -> Prior:
    """The family's pooled evidence on top of `base`, shrunk to at most `max_strength`.

    `siblings` are the posteriors (decayed to now) of the family's other models on the same
    route. Their evidence above `base` is summed, which weights each sibling by how much it was
    used; the result keeps that mean but holds at most `max_strength` pseudo-answers, so a new
    model is judged on its own answers after a few dozen requests.
    """
    if not (math.isfinite(max_strength) and max_strength >= base.strength):
        raise ValueError(
            f"The cold-start strength must be a finite number of at least the base prior's "
            f"alpha + beta ({base.strength:g}), got {max_strength!r}."
        )
    ea = eb = 0.0
    for post in siblings:
        a, b = post.alpha, post.beta
        if not (math.isfinite(a) and math.isfinite(b) and a > 0 and b > 0):
            continue  # a broken stored value is no evidence
        ea += max(a - base.alpha, 0.0)
        eb += max(b - base.beta, 0.0)
    alpha, beta = base.alpha + ea, base.beta + eb
    strength = alpha + beta
    if strength <= max_strength:
        return Prior(alpha, beta)
    mean = alpha / strength
    return Prior(mean * max_strength, (1.0 - mean) * max_strength)


def cold_start(
    *,
    family: str | None,
    siblings: Iterable[Posterior],
    now: float,
    override: Prior | None = None,
    max_strength: float = COLD_START_STRENGTH,
) -> Posterior:
    """The first posterior of a model with no stored state.

    A configured `prior` wins. Otherwise the model borrows its family's pooled evidence; that
    is evidence, not belief, so it decays like any other back to the family prior.
    """
    if override is not None:
        return Posterior.from_prior(override, now=now)
    base = family_prior(family)
    if family is None:
        return Posterior.from_prior(base, now=now)
    pooled = pooled_prior(siblings, base=base, max_strength=max_strength)
    return Posterior(pooled.alpha, pooled.beta, now)
