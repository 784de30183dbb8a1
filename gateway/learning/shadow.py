"""Shadow traffic: hidden candidates prove themselves on copies of real requests.

After a route's answer has been fully sent, `Shadow.mirror()` flips a coin with the route's
`shadow.rate`; on heads one shadow candidate, picked by Thompson sampling among the shadow
candidates, gets the same request (non-streaming) in a background task that this object owns.
The client's answer is already gone, so the copy can never delay, change or fail it. At most
`max_in_flight` copies per route run at once; the rest are dropped and counted.

The copy's answer is scored exactly like a live one (validity, latency, failures score 0) and
updates that model's posterior for this route only; its tokens and cost are counted here, apart
from live cost. Whether a candidate has earned a place among the live ones is promotion.py's.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gateway.config import Config, RouteConfig
from gateway.learning import measure
from gateway.learning.measure import Exchange
from gateway.learning.signals import of_completion
from gateway.learning.validity import check_completion
from gateway.ops.tracing import Tracing
from gateway.routing.availability import Availability
from gateway.routing.beliefs import Beliefs
from gateway.routing.costs import CostModel
from gateway.routing.router import Plan
from gateway.store import Store
from policies.thompson import Arm, ThompsonSampling
from providers.base import Provider, ProviderError, UpstreamStatus

log = logging.getLogger("bayesgate.shadow")
perf = time.perf_counter

# Dropped from the copy: it is always a single non-streaming answer.
_STREAM_KEYS = ("stream", "stream_options")
_BUDGETS = ("max_tokens", "max_completion_tokens")


@dataclass(slots=True)
class ShadowCounters:
    requests: int = 0  # copies sent
    answers: int = 0  # copies answered (valid or not)
    failures: int = 0  # errors and timeouts
    invalid: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class Shadow:
    """The mirror of every route that has shadow candidates; built and closed by the lifespan."""

    def __init__(self, config: Config, *, beliefs: Beliefs, availability: Availability,
                 providers: Mapping[str, Provider], submit: Callable[[Exchange], None],
                 costs: CostModel, store: Store, rng: np.random.Generator,
                 clock: Callable[[], float], previous: Shadow | None = None,
                 tracing: Tracing | None = None,
                 spent: Callable[[str, float], None] | None = None) -> None:
        """`submit` hands a scored copy to the learner; `previous`: the mirror of the
        generation a reload replaces, whose counters carry on; `spent(route, usd)`: what a
        copy cost, counted against the route's budget."""
        self._config = config
        self._tracing = tracing if tracing is not None and tracing.enabled else None
        self._beliefs = beliefs
        self._availability = availability
        self._providers = providers
        self._submit = submit
        self._costs = costs
        self._spent = spent
        self._store = store
        self._rng = rng
        self._clock = clock
        # Copies are for learning quality, so the pick among shadow candidates ignores cost;
        # cost enters when a candidate is weighed against the live models for promotion.
        self._policy = ThompsonSampling()
        self._shadowed = tuple(name for name, route in config.routes.items()
                               if route.shadow.candidates)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.in_flight: Counter[str] = Counter()  # route -> copies running (this generation)
        self.dropped: Counter[str] = Counter()  # route -> copies dropped at max_in_flight
        self.counters: dict[tuple[str, str], ShadowCounters] = {}
        if previous is not None:
            self.dropped, self.counters = previous.dropped, previous.counters

    # -- mirroring ---------------------------------------------------------------------------

    def mirror(self, plan: Plan, request: dict[str, Any], *, opted_out: bool = False) -> None:
        """Maybe copy a request whose answer has been sent; returns at once, never raises."""
        route = plan.route
        if route is None or route.name not in self._shadowed or opted_out or self._closed:
            return
        shadow = route.shadow
        if shadow.rate <= 0 or self._rng.random() >= shadow.rate:
            return
        if self.in_flight[route.name] >= shadow.max_in_flight:
            self.dropped[route.name] += 1
            return
        model = self._choose(route)
        if model is None:
            return
        body = {k: v for k, v in request.items() if k not in _STREAM_KEYS}
        self.in_flight[route.name] += 1
        self.counter(route.name, model).requests += 1
        task = asyncio.create_task(self._call(route, model, body),
                                   name=f"bayesgate-shadow-{route.name}-{model}")
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._finished, route=route.name))

    def hidden(self, route: RouteConfig) -> tuple[str, ...]:
        """The shadow candidates not (yet) promoted to live candidates."""
        promoted = self._store.promotions(route.name)
        return tuple(m for m in route.shadow.candidates if m not in promoted)

    def _choose(self, route: RouteConfig) -> str | None:
        names = self.hidden(route)
        if not names:
            return None
        now = self._clock()
        arms = []
        for name in names:
            post = self._beliefs.posterior(route, name, now=now)
            # A Retry-After here or a breaker open anywhere in the fleet: leave it alone.
            available = self._availability.available(name, now=now)
            arms.append(Arm(name, post.alpha, post.beta, available=available))
        if not any(arm.available for arm in arms):
            return None
        if len(arms) == 1:
            return arms[0].name
        return self._policy.select(arms, rng=self._rng, now=now).choice

    async def _call(self, route: RouteConfig, name: str, body: dict[str, Any]) -> None:
        model = self._config.models[name]
        counters = self.counter(route.name, name)
        kind = self._config.providers[model.provider].type
        span = self._tracing.shadow(route=route.name, requested=name) if self._tracing else None
        if span is not None:
            span.attempt(model, kind)
        began = perf()
        try:
            data = await self._providers[model.provider].complete(
                body, upstream_model=model.upstream_name)
        except ProviderError as exc:
            if span is not None:
                span.attempt_failed(exc, getattr(exc, "upstream_status", None))
                span.end(502, "shadow_failed")
            # A 4xx the live model did not give (no tools support, context too small) is this
            # model failing the request, so it scores 0 like any other failure.
            elapsed = perf() - began
            counters.failures += 1
            if isinstance(exc, UpstreamStatus) and (exc.retry_after_s or
                                                    exc.upstream_status == 429):
                self._availability.cool_down(name, exc.retry_after_s or 1.0)
                if exc.upstream_status == 429:
                    return  # a rate limit says nothing of the answers
            self._submit(measure.failed(route.name, name, elapsed_s=elapsed))
            log.debug("shadow call to %s failed: %s", name, exc.message[:200])
            return
        except Exception:
            log.exception("shadow call to %s failed unexpectedly", name)
            if span is not None:
                span.end(500, "unexpected")
            return
        elapsed = perf() - began
        if span is not None:
            span.answered(model, kind, data.get("usage"), measure.finish_reason(data),
                          upstream_ok=True)
            span.end(200)
        problem = check_completion(data, body)
        counters.answers += 1
        if problem is not None:
            counters.invalid += 1
        self._count_cost(route.name, name, counters, data.get("usage"))
        # No usage and no messages on the exchange: the cost is counted here, apart from live
        # cost, and a copy must never look like the client retrying the live answer.
        self._submit(measure.answered(route.name, name, problem=problem, latency_s=elapsed,
                                      signals=of_completion(data, body, budget_set=any(
                                          k in body for k in _BUDGETS))))

    def _count_cost(self, route: str, name: str, counters: ShadowCounters,
                    usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        prompt, completion = measure.usage_tokens(usage)
        self._costs.observe_tokens(name, prompt, completion)
        counters.prompt_tokens += prompt
        counters.completion_tokens += completion
        cost = self._costs.cost_of(name, prompt, completion)
        counters.cost_usd += cost
        if self._spent is not None:
            self._spent(route, cost)

    def _finished(self, task: asyncio.Task[None], *, route: str) -> None:
        self._tasks.discard(task)
        self.in_flight[route] -= 1

    def counter(self, route: str, model: str) -> ShadowCounters:
        found = self.counters.get((route, model))
        if found is None:
            found = self.counters[(route, model)] = ShadowCounters()
        return found

    async def aclose(self) -> None:
        """Cancel the copies still running (at shutdown, before the providers close)."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

