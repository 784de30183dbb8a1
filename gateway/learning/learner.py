"""Measurement -> reward -> store, off the request path.

The handler hands a finished exchange to `Learner.submit()` (a put on a bounded queue); one
worker task, owned by the lifespan, scores it, updates the posteriors of every route it counts
for, and checks the client-retry fingerprint. A full queue drops and counts, never blocks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gateway.config import Config, RouteConfig
from gateway.learning.measure import Exchange
from gateway.learning.retries import RetryDetector
from gateway.ops import logs
from gateway.ops.metrics import Metrics
from gateway.ops.stats import Stats
from gateway.routing.beliefs import Beliefs
from gateway.routing.costs import CostModel
from gateway.store import Store, Update
from policies.reward import reward

log = logging.getLogger("bayesgate.learning")


class Learner:
    def __init__(self, config: Config, store: Store, beliefs: Beliefs, costs: CostModel,
                 stats: Stats, *, clock: Callable[[], float], max_queue: int = 10_000,
                 metrics: Metrics | None = None) -> None:
        self._config = config
        self._metrics = metrics
        self._store = store
        self._beliefs = beliefs
        self._costs = costs
        self._stats = stats
        self._clock = clock
        self._retries = RetryDetector(config, store, beliefs)
        self._queue: asyncio.Queue[Exchange] = asyncio.Queue(max_queue)
        # model -> routes that learn from it (live candidates and shadow candidates)
        self._routes_of: dict[str, list[str]] = {}
        for route in config.routes.values():
            for model in (*route.candidates, *route.shadow.candidates):
                self._routes_of.setdefault(model, []).append(route.name)

    def submit(self, exchange: Exchange) -> None:
        try:
            self._queue.put_nowait(exchange)
        except asyncio.QueueFull:
            self._stats.learning_dropped += 1

    async def run(self) -> None:
        """The worker: runs until cancelled; an error in one update is logged and skipped."""
        while True:
            exchange = await self._queue.get()
            try:
                await self.learn(exchange)
            except Exception:
                log.exception("learning from an answer of %s failed", exchange.model)
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        """Learn everything queued now, and wait for the one the worker may be in the middle
        of (at shutdown, after a reload, and in tests)."""
        while not self._queue.empty():
            exchange = self._queue.get_nowait()
            try:
                await self.learn(exchange)
            finally:
                self._queue.task_done()
        await self._queue.join()

    def routes_for(self, exchange: Exchange) -> list[str]:
        if exchange.route:
            return [exchange.route]
        return self._routes_of.get(exchange.model, [])

    async def learn(self, exchange: Exchange) -> None:
        cost = self._count_tokens(exchange)
        first: float | None = None
        for name in self.routes_for(exchange):
            route = self._config.routes[name]
            score = reward(exchange.outcome, route.reward)
            first = score if first is None else first
            self._observe(name, exchange, score)
            self._store.record(Update.observation(
                name, exchange.model, score, prior=self._beliefs.prior(name, exchange.model),
                half_life_s=route.half_life_s, max_strength=route.max_strength,
                initial=self._initial(route, exchange.model)))
            if exchange.messages is not None and route.retry_window_s > 0:
                await self._retries.check(name, exchange, score)
        if exchange.request is not None:
            done = exchange.request
            logs.request(decision=done.decision, route=exchange.route, model=exchange.model,
                         status=done.status, latency_s=done.latency_s, ttft_s=done.ttft_s,
                         overhead_s=done.overhead_s, reward=first, stream=done.stream,
                         prompt_tokens=exchange.prompt_tokens,
                         completion_tokens=exchange.completion_tokens, cost_usd=cost,
                         caller=exchange.caller)

    def _count_tokens(self, exchange: Exchange) -> float:
        """Tokens and spend of a live answer; returns its cost in USD."""
        if not (exchange.prompt_tokens or exchange.completion_tokens):
            return 0.0
        counters = self._stats.counters(exchange.route, exchange.model)
        self._costs.observe_tokens(exchange.model, exchange.prompt_tokens,
                                   exchange.completion_tokens)
        counters.prompt_tokens += exchange.prompt_tokens
        counters.completion_tokens += exchange.completion_tokens
        cost = self._costs.cost_of(exchange.model, exchange.prompt_tokens,
                                   exchange.completion_tokens)
        counters.cost_usd += cost
        return cost

    def _observe(self, route: str, exchange: Exchange, score: float) -> None:
        counters = self._stats.counters(route, exchange.model)
        counters.rewards.append(score)
        if exchange.outcome.valid:
            counters.latencies_ms.append(exchange.outcome.latency_ms)
        if self._metrics is not None:
            self._metrics.rewarded(route, exchange.model, score)

    def _initial(self, route: RouteConfig, model: str) -> tuple[float, float] | None:
        """Where a model the store has no state for starts: its cold-start posterior."""
        if self._beliefs.known(route.name, model):
            return None
        start = self._beliefs.cold_start(route, model, now=self._clock())
        return start.alpha, start.beta

    def forget(self, route_name: str, model: str) -> None:
        """Reset a model's posterior on a route to its prior (after an outage ended)."""
        route = self._config.routes[route_name]
        prior = self._beliefs.prior(route_name, model)
        post = self._beliefs.posterior(route, model, now=self._clock())
        self._store.record(Update(route_name, model, prior.alpha - post.alpha,
                                  prior.beta - post.beta, prior, route.half_life_s,
                                  observations=0))
