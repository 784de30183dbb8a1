"""What the gateway believes about each model on each route: its prior, and its posterior
read from the store's local snapshot and decayed to now (so an idle model relaxes toward its
prior). A model the store knows nothing of starts from its cold-start posterior. No I/O.

Per request class, a two-level model: the route-level (pooled) posterior learns from every
answer, and each class's cell from the answers of its class. A class's posterior is its own
evidence plus the route's evidence from the other classes, shrunk to at most
`learning.class_prior_strength` answers: a class with little traffic routes on the pooled
estimate, one with its own evidence mostly on that.

Never locked in (policies.traffic, policies.posterior.on_route_scale): evidence halves every
`decay.half_life_requests` requests the route receives here (at the latest every
`decay.half_life_s` seconds), so a model dropped after a few unlucky answers is judged afresh
after a few hundred requests at any traffic; and for selection each model's prior is raised
to the mean reward of the route's evidence, so a model with little evidence of its own looks
as good as what the route earns and is tried again as soon as the models in use fall below it.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.config import Config, RouteConfig
from gateway.store import Store, cell
from policies.posterior import Posterior, Prior, backed_off, decayed, on_route_scale, route_level
from policies.priors import cold_start, model_prior
from policies.traffic import RequestRate, effective_half_life


class Beliefs:
    def __init__(self, config: Config, store: Store,
                 traffic: dict[str, RequestRate] | None = None) -> None:
        """`traffic`: the routes' request rates on this replica (kept across reloads)."""
        self._config = config
        self._store = store
        self._priors = {name: model_prior(override=model.prior, family=model.family)
                        for name, model in config.models.items()}
        self._traffic = traffic if traffic is not None else {}
        for name in config.routes:
            self._traffic.setdefault(name, RequestRate())

    def arrived(self, route: str, now: float, cls: str = "") -> None:
        """A request for the route (a route name, not a model asked for by name), of class
        `cls`: a class's evidence lasts a number of that class's requests."""
        self._traffic[route].arrived(now)
        if cls:
            self._traffic.setdefault(cell(route, cls), RequestRate()).arrived(now)

    def request_rate(self, route: str, now: float) -> float:
        return self._traffic[route].per_second(now)

    def half_life(self, route: RouteConfig, now: float, cls: str = "") -> float | None:
        """The route's half-life in seconds now: `half_life_requests` requests at the measured
        rate, at most `half_life_s` (None: no decay). With a class, its cell's: that many of
        the class's requests (a class with 3 requests in 10 would otherwise hold only the
        evidence of 60)."""
        rate = self._traffic.get(cell(route.name, cls)) if cls else None
        return effective_half_life(route.half_life_s, route.half_life_requests,
                                   (rate or self._traffic[route.name]).per_second(now))

    def prior(self, route: str, model: str) -> Prior:
        """The model's decay target (the same on every route today)."""
        return self._priors[model]

    def posterior(self, route: RouteConfig, model: str, *, now: float,
                  cls: str = "") -> Posterior:
        """The route-level posterior, or (given a class) the class's back-off posterior."""
        return self._posterior(route, model, now, cls, self.half_life(route, now))

    def for_selection(self, route: RouteConfig, models: Sequence[str], *, now: float,
                      cls: str = "") -> list[tuple[float, float]]:
        """What the policy samples from, (alpha, beta) per model: its posterior (as
        posterior()) with the prior raised to the level of the evidence of `models` (its mean
        reward, of the class's posteriors given a class: hard requests earn less)."""
        half = self.half_life(route, now)
        posts = [self._pooled(route, m, now, half) for m in models]
        if cls:
            own = self.half_life(route, now, cls)
            posts = [self._of_class(route, m, p, now, cls, own)
                     for m, p in zip(models, posts, strict=True)]
        priors = [self._priors[m] for m in models]
        level = route_level(posts, priors)
        return [on_route_scale(p, q, level) for p, q in zip(posts, priors, strict=True)]

    def _posterior(self, route: RouteConfig, model: str, now: float, cls: str,
                   half: float | None) -> Posterior:
        pooled = self._pooled(route, model, now, half)
        return self._of_class(route, model, pooled, now, cls, self.half_life(route, now, cls)) \
            if cls else pooled

    def _pooled(self, route: RouteConfig, model: str, now: float,
                half: float | None) -> Posterior:
        stored = self._store.snapshot(route.name).get(model)
        if stored is None:
            return self.cold_start(route, model, now=now)
        return decayed(stored, self._priors[model], now=now, half_life_s=half)

    def _of_class(self, route: RouteConfig, model: str, pooled: Posterior, now: float,
                  cls: str, half: float | None) -> Posterior:
        prior = self._priors[model]
        own = self._store.snapshot(cell(route.name, cls)).get(model)
        if own is not None:
            own = decayed(own, prior, now=now, half_life_s=half)
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
        half = self.half_life(route, now)
        siblings = [decayed(snapshot[m], self.prior(route.name, m), now=now, half_life_s=half)
                    for m in (*route.candidates, *route.shadow.candidates)
                    if m != model and m in snapshot
                    and self._config.models[m].family == spec.family]
        return cold_start(family=spec.family, siblings=siblings, now=now)
