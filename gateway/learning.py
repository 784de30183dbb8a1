"""Measurement -> reward -> store, off the request path.

The handler hands a finished exchange to `Learner.submit()` (a put on a bounded queue); one
worker task, owned by the lifespan, scores it, updates the posteriors of every route it counts
for, and checks the client-retry fingerprint. A full queue drops and counts, never blocks.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from gateway import logs
from gateway.config import Config, RouteConfig
from gateway.metrics import Metrics
from gateway.pricing import CostModel
from gateway.router import Router
from gateway.stats import Stats
from gateway.store import Store, Update
from policies.reward import Outcome, reward

log = logging.getLogger("bayesgate.learning")


@dataclass(frozen=True, slots=True)
class Finished:
    """How the client's request ended, attached to the answer that ended it (for the log)."""

    decision: str
    status: int
    latency_s: float
    ttft_s: float | None
    overhead_s: float
    stream: bool = False


@dataclass(frozen=True, slots=True)
class Exchange:
    """One scored attempt: what the gateway measured about a model's answer."""

    route: str  # "" when the client named the model directly
    model: str
    outcome: Outcome
    prompt_tokens: int = 0
    completion_tokens: int = 0
    caller: str = ""
    messages: Any = None  # for the client-retry fingerprint; None for failed attempts
    request: Finished | None = None  # set on the answer the client got


class Learner:
    def __init__(self, config: Config, store: Store, router: Router, costs: CostModel,
                 stats: Stats, *, clock: Callable[[], float], max_queue: int = 10_000,
                 metrics: Metrics | None = None) -> None:
        self._config = config
        self._metrics = metrics
        self._store = store
        self._router = router
        self._costs = costs
        self._stats = stats
        self._clock = clock
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
        counters = self._stats.counters(exchange.route, exchange.model)
        cost = 0.0
        if exchange.prompt_tokens or exchange.completion_tokens:
            self._costs.observe_tokens(exchange.model, exchange.prompt_tokens,
                                       exchange.completion_tokens)
            counters.prompt_tokens += exchange.prompt_tokens
            counters.completion_tokens += exchange.completion_tokens
            cost = self._costs.cost_of(exchange.model, exchange.prompt_tokens,
                                       exchange.completion_tokens)
            counters.cost_usd += cost
        first: float | None = None
        for name in self.routes_for(exchange):
            route = self._config.routes[name]
            score = reward(exchange.outcome, route.reward)
            first = score if first is None else first
            self._observe(name, exchange, score)
            self._store.record(Update.observation(
                name, exchange.model, score, prior=self._router.prior(name, exchange.model),
                half_life_s=route.half_life_s, max_strength=route.max_strength,
                initial=self._initial(route, exchange.model)))
            if exchange.messages is not None and route.retry_window_s > 0:
                await self._check_retry(name, exchange, score)
        if exchange.request is not None:
            done = exchange.request
            logs.request(decision=done.decision, route=exchange.route, model=exchange.model,
                         status=done.status, latency_s=done.latency_s, ttft_s=done.ttft_s,
                         overhead_s=done.overhead_s, reward=first, stream=done.stream,
                         prompt_tokens=exchange.prompt_tokens,
                         completion_tokens=exchange.completion_tokens, cost_usd=cost,
                         caller=exchange.caller)

    def _observe(self, route: str, exchange: Exchange, score: float) -> None:
        counters = self._stats.counters(route, exchange.model)
        counters.rewards.append(score)
        if exchange.outcome.valid:
            counters.latencies_ms.append(exchange.outcome.latency_ms)
        if self._metrics is not None:
            self._metrics.rewarded(route, exchange.model, score)

    def _initial(self, route: RouteConfig, model: str) -> tuple[float, float] | None:
        """Where a model the store has no state for starts: its cold-start posterior."""
        if model in self._store.snapshot(route.name):
            return None
        start = self._router.cold_start(route, model, now=self._clock())
        return start.alpha, start.beta

    def forget(self, route_name: str, model: str) -> None:
        """Reset a model's posterior on a route to its prior (after an outage ended)."""
        route = self._config.routes[route_name]
        prior = self._router.prior(route_name, model)
        post = self._router.posterior(route, model, now=self._clock())
        self._store.record(Update(route_name, model, prior.alpha - post.alpha,
                                  prior.beta - post.beta, prior, route.half_life_s,
                                  observations=0))

    async def _check_retry(self, route_name: str, exchange: Exchange, score: float) -> None:
        """The same conversation again within the window: the earlier answer did not serve.

        The earlier observation is corrected as if it had needed one retry more: the weight it
        lost moves from alpha to beta, so alpha + beta stays one per observation.
        """
        route = self._config.routes[route_name]
        # Keys are not sorted: an SDK retrying a request sends them in the same order.
        digest = hashlib.blake2b(orjson.dumps([route_name, exchange.caller, exchange.messages]),
                                 digest_size=16).hexdigest()
        value = orjson.dumps([exchange.model, score, exchange.outcome.latency_ms,
                              exchange.outcome.retries]).decode()
        previous = await self._store.swap_fingerprint(f"{route_name}:{digest}", value,
                                                      ttl_s=route.retry_window_s)
        if previous is None:
            return
        try:
            model, old_score, latency_ms, retries = orjson.loads(previous)
        except (orjson.JSONDecodeError, ValueError, TypeError):
            return
        if model not in self._config.models:
            return
        redone = reward(Outcome(True, latency_ms, int(retries) + 1), route.reward)
        delta = max(0.0, float(old_score) - redone)
        if delta > 0:
            self._store.record(Update(route_name, model, -delta, delta,
                                      self._router.prior(route_name, model), route.half_life_s,
                                      observations=0))
