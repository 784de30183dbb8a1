"""Is a shadow candidate better than the route's best live model?

The best live model is the one with the highest posterior mean utility
(mean - cost_weight * normalised cost); the probability that the candidate's utility beats its
utility comes from `thompson.prob_better`, the same estimator the confidence floor uses on
every request, so the router and the promotion review can never disagree about "better".
"""

from __future__ import annotations

from collections.abc import Sequence

from .thompson import Arm, prob_better


def beat_probability(candidate: Arm, live: Sequence[Arm], *,
                     cost_weight: float) -> tuple[str, float]:
    """(the best live arm's name, P(candidate's utility > the best's)); ("", 1.0) with no
    live arm to beat. Costs must be normalised over the live arms and the candidate together,
    as they would be after a promotion."""
    if not live:
        return "", 1.0

    def mean_utility(arm: Arm) -> float:
        return arm.alpha / (arm.alpha + arm.beta) - cost_weight * arm.cost

    best = max(live, key=mean_utility)
    return best.name, prob_better((candidate.alpha, candidate.beta, candidate.cost),
                                  (best.alpha, best.beta, best.cost), cost_weight=cost_weight)
