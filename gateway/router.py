"""From the `model` a client asked for to the models to try, in order.

A route name runs the route's policy over the local posterior snapshot (decayed to now, so an
idle model relaxes toward its prior); a configured model name goes straight to that model;
anything else is a 404. No I/O here: selection must never wait on the store.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gateway.breakers import Breakers
from gateway.config import Config, ModelConfig, RouteConfig
from gateway.errors import bad_request, model_not_found
from gateway.pricing import CostModel
from gateway.store import Store
from policies.posterior import Posterior, Prior, decayed
from policies.priors import cold_start, model_prior
from policies.thompson import Arm, ThompsonSampling


@dataclass(frozen=True, slots=True)
class Plan:
    route: RouteConfig | None  # None when the client named a model directly
    attempts: tuple[ModelConfig, ...]
    decision_id: str

    @property
    def route_name(self) -> str:
        return self.route.name if self.route else ""


class Router:
    def __init__(self, config: Config, store: Store, costs: CostModel, breakers: Breakers, *,
                 rng: np.random.Generator, clock: Callable[[], float]) -> None:
        self._config = config
        self._store = store
        self._costs = costs
        self.breakers = breakers
        self._rng = rng
        self._clock = clock
        self._policies = {name: ThompsonSampling(
            cost_weight=route.cost_weight, fallback=route.fallback,
            confidence_floor=route.confidence_floor, exploration=route.exploration)
            for name, route in config.routes.items()}
        self.cooldown_until: dict[str, float] = {}  # model -> time it may be tried again
        self._priors = {name: model_prior(override=model.prior, family=model.family)
                        for name, model in config.models.items()}

    def prior(self, route: str, model: str) -> Prior:
        return self._priors[model]

    def posterior(self, route: RouteConfig, model: str, *, now: float) -> Posterior:
        prior = self.prior(route.name, model)
        stored = self._store.snapshot(route.name).get(model)
        if stored is None:
            return self.cold_start(route, model, now=now)
        return decayed(stored, prior, now=now, half_life_s=route.half_life_s)

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

    def candidates(self, route: RouteConfig) -> tuple[str, ...]:
        """The live candidates: the configured ones, then shadow candidates promoted in the store.

        Only models still listed as shadow candidates count, so a stale promotion of a model
        since removed from the config is ignored.
        """
        promoted = self._store.promotions(route.name)
        if not promoted:
            return route.candidates
        return route.candidates + tuple(m for m in route.shadow.candidates if m in promoted)

    def arms(self, route: RouteConfig, *, now: float) -> list[Arm]:
        candidates = self.candidates(route)
        costs = self._costs.normalized(candidates)
        arms = []
        for name in candidates:
            post = self.posterior(route, name, now=now)
            available = (self.cooldown_until.get(name, 0.0) <= now
                         and self.breakers.available(route, name, now=now))
            arms.append(Arm(name, post.alpha, post.beta, costs[name], available))
        return arms

    def plan(self, requested: object) -> Plan:
        if not isinstance(requested, str) or not requested:
            raise bad_request("'model' is required and must be a string.", param="model")
        decision_id = os.urandom(8).hex()
        route = self._config.routes.get(requested)
        if route is not None:
            now = self._clock()
            decision = self._policies[route.name].select(self.arms(route, now=now),
                                                         rng=self._rng, now=now)
            models = self._config.models
            ranked = tuple(models[name] for name in decision.ranked[:route.max_attempts])
            return Plan(route, ranked, decision_id)
        model = self._config.models.get(requested)
        if model is not None:
            return Plan(None, (model,), decision_id)
        raise model_not_found(requested)

    def cool_down(self, model: str, seconds: float) -> None:
        """Honour an upstream's Retry-After: the model goes last until then."""
        self.cooldown_until[model] = self._clock() + min(seconds, 300.0)
