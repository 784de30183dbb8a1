"""From the `model` a client asked for to the models to try, in order.

A route name runs the route's policy over the beliefs (the local posterior snapshot, decayed
to now) for the request's class, the expected cost of this request weighed by the route's
objective, and the availability rule;
a configured model name goes straight to that model; anything else is a 404. No I/O here:
selection must never wait on the store.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gateway.config import Config, ModelConfig, RouteConfig
from gateway.errors import bad_request, model_not_found
from gateway.routing.availability import Availability
from gateway.routing.beliefs import Beliefs
from gateway.routing.context import Classifier, Features, features
from gateway.routing.costs import CostModel
from gateway.routing.objective import Objectives
from gateway.store import Store
from policies.thompson import Arm, Decision, ThompsonSampling

log = logging.getLogger("bayesgate.router")


@dataclass(frozen=True, slots=True)
class Plan:
    route: RouteConfig | None  # None when the client named a model directly
    attempts: tuple[ModelConfig, ...]
    decision_id: str
    cls: str = ""  # the request class that decided ("" for a named model or no classes)
    features: Features | None = None
    ranking: Decision | None = None  # the policy's order and sampled utilities (for traces)

    @property
    def route_name(self) -> str:
        return self.route.name if self.route else ""


class Router:
    def __init__(self, config: Config, *, beliefs: Beliefs, costs: CostModel,
                 availability: Availability, store: Store, rng: np.random.Generator,
                 clock: Callable[[], float], objectives: Objectives | None = None) -> None:
        self._config = config
        self._beliefs = beliefs
        self._costs = costs
        self._availability = availability
        self._store = store
        self._rng = rng
        self._clock = clock
        self._objectives = objectives or Objectives(config, store, clock=clock)
        # Cost weights are in the arms' cost terms (the route's objective): weight 1 here.
        self._policies = {name: ThompsonSampling(
            cost_weight=1.0, fallback=route.fallback,
            confidence_floor=route.confidence_floor, exploration=route.exploration)
            for name, route in config.routes.items()}
        self._classifiers = {name: Classifier(route.classes)
                             for name, route in config.routes.items()}

    def classes(self, route: str) -> tuple[str, ...]:
        return self._classifiers[route].names

    def policy(self, route: str) -> ThompsonSampling:
        """The route's policy, as plan() runs it (for tools that ask "how often would it")."""
        return self._policies[route]

    def candidates(self, route: RouteConfig) -> tuple[str, ...]:
        """The live candidates: the configured ones, then shadow candidates promoted in the store.

        Only models still listed as shadow candidates count, so a stale promotion of a model
        since removed from the config is ignored.
        """
        promoted = self._store.promotions(route.name)
        if not promoted:
            return route.candidates
        return route.candidates + tuple(m for m in route.shadow.candidates if m in promoted)

    def arms(self, route: RouteConfig, *, now: float, cls: str = "",
             context: Features | None = None) -> list[Arm]:
        """The candidates as the policy sees them: posteriors, cost terms (in reward units,
        the route's objective applied) and availability."""
        candidates = self.candidates(route)
        if context is None:
            usd = self._costs.expected_all(candidates, cls=cls)
        else:
            usd = self._costs.expected_all(candidates, cls=cls,
                                           prompt_tokens=context.prompt_tokens,
                                           budget=context.output_budget)
        costs = self._objectives.terms(route, usd, now=now)
        posts = self._beliefs.for_selection(route, candidates, now=now, cls=cls)
        available = self._availability.available
        return [Arm(name, alpha, beta, costs[name], available(name, now=now, route=route))
                for name, (alpha, beta) in zip(candidates, posts, strict=True)]

    def plan(self, requested: object, *, stay_on: str | None = None,
             request: dict[str, object] | None = None,
             stated_class: bytes | None = None, only: frozenset[str] | None = None) -> Plan:
        """`stay_on`: the model that answered the conversation's previous turn (a Responses
        API chain), tried first while it is a live candidate and available, since prompt
        caches and reasoning state do not move between models; the policy ranks the rest.
        `request`: the chat request, read for its context; `stated_class`: the client's
        x-bayesgate-class header; `only`: the candidates that may take this request (the
        rest are left out of the draw), None for all."""
        if not isinstance(requested, str) or not requested:
            raise bad_request("'model' is required and must be a string.", param="model")
        decision_id = os.urandom(8).hex()
        route = self._config.routes.get(requested)
        context = features(request) if request is not None else None
        if route is not None:
            now = self._clock()
            cls = ""
            if context is not None:
                cls = self._classifiers[route.name].classify(context, stated=stated_class)
            self._beliefs.arrived(route.name, now, cls)
            arms = self.arms(route, now=now, cls=cls, context=context)
            if only is not None:
                arms = [arm for arm in arms if arm.name in only]
            decision = self._policies[route.name].select(arms, rng=self._rng, now=now)
            ranked_names = decision.ranked
            if stay_on is not None and stay_on != ranked_names[0]:
                if any(arm.name == stay_on and arm.available for arm in arms):
                    ranked_names = (stay_on, *(n for n in ranked_names if n != stay_on))
                else:
                    log.info("route %s: the conversation's model %s is unavailable, moved to "
                             "%s", route.name, stay_on, ranked_names[0])
            models = self._config.models
            ranked = tuple(models[name] for name in ranked_names[:route.max_attempts])
            return Plan(route, ranked, decision_id, cls, context, decision)
        model = self._config.models.get(requested)
        if model is not None:
            return Plan(None, (model,), decision_id, "", context)
        raise model_not_found(requested)
