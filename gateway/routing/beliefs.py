"""What the gateway believes about each model on each route: its prior, and its posterior
read from the store's local snapshot and decayed to now (so an idle model relaxes toward its
prior). A model the store knows nothing of starts from its cold-start posterior. No I/O.

Per request class, a two-level model: the route-level (pooled) posterior learns from every
answer, and each class's cell from the answers of its class. A class's posterior is its own
evidence plus the route's evidence from the other classes, shrunk to at most
`learning.class_prior_strength` answers: a class with little traffic routes on the pooled
estimate, one with its own evidence mostly on that.
"""

from __future__ import annotations

from gateway.config import Config, RouteConfig
from gateway.store import Store, cell
from policies.posterior import Posterior, Prior, backed_off, decayed
from policies.priors import cold_start, model_prior


class Beliefs:
    def __init__(self, config: Config, store: Store) -> None:
        self._config = config
        self._store = store
        self._priors = {name: model_prior(override=model.prior, family=model.family)
                        for name, model in config.models.items()}

    def prior(self, route: str, model: str) -> Prior:
        """The model's decay target (the same on every route today)."""
        return self._priors[model]

    def posterior(self, route: RouteConfig, model: str, *, now: float,
                  cls: str = "") -> Posterior:
        """The route-level posterior, or (given a class) the class's back-off posterior."""
        stored = self._store.snapshot(route.name).get(model)
        prior = self._priors[model]
        if stored is None:
            pooled = self.cold_start(route, model, now=now)
        else:
            pooled = decayed(stored, prior, now=now, half_life_s=route.half_life_s)
        if not cls:
            return pooled
        own = self._store.snapshot(cell(route.name, cls)).get(model)
        if own is not None:
            own = decayed(own, prior, now=now, half_life_s=route.half_life_s)
        # The pooled level also holds this class's answers: they must not count twice.
        return backed_off(own, pooled, prior, bound=route.learning.class_prior_strength,
                          now=now)

    def known(self, route: str, model: str) -> bool:
        """Has the store any state for the model on this route?"""
        return model in self._store.snapshot(route)

    def cold_start(self, route: RouteConfig, model: str, *, now: float) -> Posterior:
        """The first posterior of a model the store knows nothing of on this route: its own
        prior when configured, else its family's pooled evidence on the route (bounded, so it
        is judged on its own answers within tens of requests)."""
        spec = self._config.models[model]
        if spec.prior is not None or spec.family is None:
            return Posterior.from_prior(self.prior(route.name, model), now=now)
        snapshot = self._store.snapshot(route.name)
        siblings = [decayed(snapshot[m], self.prior(route.name, m), now=now,
                            half_life_s=route.half_life_s)
                    for m in (*route.candidates, *route.shadow.candidates)
                    if m != model and m in snapshot
                    and self._config.models[m].family == spec.family]
        return cold_start(family=spec.family, siblings=siblings, now=now)
