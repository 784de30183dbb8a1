"""Has a shadow candidate earned a place among a route's live models?

`review()`, run every `review_interval_s` by a task the lifespan owns, estimates for every
shadow candidate the probability that it beats the route's best live model (policies.promotion:
the same estimator as the router's confidence floor), logs it once when it is ready and, with
`auto_promote`, promotes it through the store so that every replica and every restart sees it
as a live candidate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from gateway.config import Config, RouteConfig
from gateway.routing.beliefs import Beliefs
from gateway.routing.costs import CostModel
from gateway.store import Store
from policies.objective import cost_terms
from policies.promotion import beat_probability
from policies.thompson import Arm

log = logging.getLogger("bayesgate.shadow")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the last review concluded about one shadow candidate of a route."""

    probability: float  # P(its utility beats that of `against`), from the posteriors
    against: str  # the route's best live model by posterior mean utility
    observations: int
    ready: bool
    promoted: bool
    evidence: float = 0.0  # answers' worth of evidence still held (decayed), beyond the prior


class Promotion:
    def __init__(self, config: Config, *, beliefs: Beliefs, costs: CostModel, store: Store,
                 live: Callable[[RouteConfig], tuple[str, ...]], clock: Callable[[], float],
                 review_interval_s: float = 1.0, previous: Promotion | None = None) -> None:
        """`live(route)`: the route's live candidates now (Router.candidates); `previous`: the
        review of the generation a reload replaces, whose verdicts carry on."""
        self._config = config
        self._beliefs = beliefs
        self._costs = costs
        self._store = store
        self._live = live
        self._clock = clock
        self.review_interval_s = review_interval_s
        self._shadowed = tuple(name for name, route in config.routes.items()
                               if route.shadow.candidates)
        self.verdicts: dict[str, dict[str, Verdict]] = {}
        self._announced: set[tuple[str, str]] = set()  # (route, model) logged as ready
        if previous is not None:
            self.verdicts, self._announced = previous.verdicts, previous._announced

    async def run(self) -> None:
        """Review the candidates every `review_interval_s` until cancelled."""
        while True:
            await asyncio.sleep(self.review_interval_s)
            try:
                self.review()
            except Exception:
                log.exception("shadow promotion review failed")

    def review(self) -> None:
        """Refresh `verdicts`; log each newly ready candidate once; promote if configured."""
        now = self._clock()
        for name in self._shadowed:
            route = self._config.routes[name]
            live = self._live(route)
            self.verdicts[name] = {model: self._verdict(route, model, live, now=now)
                                   for model in route.shadow.candidates}

    def _verdict(self, route: RouteConfig, model: str, live: tuple[str, ...], *,
                 now: float) -> Verdict:
        promotion = route.shadow.promotion
        others = tuple(m for m in live if m != model)
        against, probability = self.beat_probability(route, model, others, now=now)
        observations = self._store.observations(route.name, model)
        # Evidence still held, not a lifetime count: the posterior decays, so copies that came
        # minutes apart may leave little more than the family's borrowed start behind.
        post = self._beliefs.posterior(route, model, now=now)
        prior = self._beliefs.prior(route.name, model)
        evidence = max(0.0, post.strength - prior.strength)
        needed = float(promotion.min_observations)
        if route.max_strength is not None:  # the cap bounds what can ever be held
            needed = min(needed, 0.9 * (route.max_strength - prior.strength))
        ready = (probability >= promotion.threshold and observations >= promotion.min_observations
                 and evidence >= needed)
        promoted = model in live
        key = (route.name, model)
        if ready and key not in self._announced:
            self._announced.add(key)
            log.info("shadow candidate %s of route %s is ready for promotion: P(beats %s) = "
                     "%.3f after %d observations%s", model, route.name, against, probability,
                     observations, "; promoting it" if route.shadow.auto_promote and
                     not promoted else "")
        if ready and route.shadow.auto_promote and not promoted:
            self._store.promote(route.name, model)
            promoted = True
        return Verdict(round(probability, 4), against, observations, ready, promoted,
                       round(evidence, 3))

    def beat_probability(self, route: RouteConfig, model: str, live: tuple[str, ...], *,
                         now: float) -> tuple[str, float]:
        """(best live model, P(model's utility > best's)), from the posteriors decayed to now.

        Utility is what the router ranks by: theta - the cost term of the route's objective
        for a typical request, over the live models and the candidate as they would be after
        promotion (a budget's or latency objective's multipliers are of the moment: left out).
        """
        costs = cost_terms(route.objective, self._costs.expected_all((*live, model)))
        arms = []
        for name in (*live, model):
            post = self._beliefs.posterior(route, name, now=now)
            arms.append(Arm(name, post.alpha, post.beta, costs[name]))
        return beat_probability(arms[-1], arms[:-1], cost_weight=1.0)
