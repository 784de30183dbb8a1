"""Measurement -> reward -> store, off the request path.

The handler hands a finished exchange to `Learner.submit()` (a put on a bounded queue); one
worker task, owned by the lifespan, scores it, updates the posteriors of every route it counts
for (the route level and the request class's cell), and checks the client-retry fingerprint.
A full queue drops and counts, never blocks.

What may move a route, and how far: an answer the route's policy chose counts in full; an
answer to a request that named the model counts at the route's `direct_weight`; an answer
invalid only because the client's own output budget cut it short counts not at all; and one
caller's answers are held to a share of a model's evidence per window (`CallerShare`).
An answer that counts in full is also watched for a change in its model (`_changed`), which
restarts the model's posterior from its answers since.
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
from gateway.routing.context import Classifier
from gateway.routing.costs import CostModel
from gateway.routing.objective import Objectives
from gateway.store import Store, Update, cell, scopes
from policies import change
from policies.reward import reward

log = logging.getLogger("bayesgate.learning")

_BATCH = 256  # answers learned together (their fingerprints: one store round trip)


class Learner:
    def __init__(self, config: Config, store: Store, beliefs: Beliefs, costs: CostModel,
                 stats: Stats, *, clock: Callable[[], float], max_queue: int = 10_000,
                 metrics: Metrics | None = None, objectives: Objectives | None = None) -> None:
        self._config = config
        self._metrics = metrics
        self._objectives = objectives
        self._store = store
        self._beliefs = beliefs
        self._costs = costs
        self._stats = stats
        self._clock = clock
        self._retries = RetryDetector(config, store, beliefs, clock=clock)
        self._share = CallerShare()
        self._changes: dict[tuple[str, str], change.Cusum] = {}  # (route, model)
        self._classes = {name: Classifier(route.classes).names
                         for name, route in config.routes.items()}
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
        """The worker: runs until cancelled, learning what has queued up in batches (one
        store round trip for a batch's retry fingerprints, not one per answer)."""
        while True:
            batch = [await self._queue.get()]
            while len(batch) < _BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self.learn_many(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def drain(self) -> None:
        """Learn everything queued now, and wait for the batch the worker may be in the
        middle of (at shutdown, after a reload, and in tests)."""
        while not self._queue.empty():
            batch = [self._queue.get_nowait()
                     for _ in range(min(_BATCH, self._queue.qsize()))]
            try:
                await self.learn_many(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()
        await self._queue.join()

    def routes_for(self, exchange: Exchange) -> list[tuple[str, float]]:
        """The routes an answer counts for, each with the weight it counts at."""
        if exchange.route:
            return [(exchange.route, 1.0)]
        return [(name, self._config.routes[name].learning.direct_weight)
                for name in self._routes_of.get(exchange.model, [])]

    async def learn_many(self, batch: list[Exchange]) -> None:
        """Each answer in order; an error in one is logged and the others still count."""
        checks: list[tuple[str, Exchange, float]] = []  # retry fingerprints to swap
        for exchange in batch:
            try:
                self._learn(exchange, checks)
            except Exception:
                log.exception("learning from an answer of %s failed", exchange.model)
        if checks:
            try:
                await self._retries.check_many(checks)
            except Exception:
                log.exception("checking %d answers for client retries failed", len(checks))

    def _learn(self, exchange: Exchange, checks: list[tuple[str, Exchange, float]]) -> None:
        cost = self._count_tokens(exchange)
        if self._objectives is not None and exchange.route:
            self._objectives.spent(exchange.route, cost)
            if exchange.outcome.valid and exchange.caller is not None:  # not a shadow copy
                self._objectives.answered(exchange.route, exchange.model,
                                          exchange.outcome.latency_ms)
        first: float | None = None
        for name, weight in self.routes_for(exchange):
            route = self._config.routes[name]
            score = reward(exchange.outcome, route.reward)
            first = score if first is None else first
            self._observe(name, exchange.model, score,
                          exchange.outcome.latency_ms if exchange.outcome.valid else None)
            if exchange.client_cut:
                weight = 0.0
            weight = self._share.allow(route, exchange.model, exchange.caller, weight,
                                       now=self._clock())
            if weight <= 0:
                continue
            self._record(route, exchange.cls, exchange.model, score, weight, watch=True)
            if exchange.messages is not None and route.retry_window_s > 0:
                checks.append((name, exchange, score))
        if exchange.request is not None:
            done = exchange.request
            logs.request(decision=done.decision, route=exchange.route, model=exchange.model,
                         status=done.status, latency_s=done.latency_s, ttft_s=done.ttft_s,
                         overhead_s=done.overhead_s, reward=first, stream=done.stream,
                         prompt_tokens=exchange.prompt_tokens,
                         completion_tokens=exchange.completion_tokens, cost_usd=cost,
                         caller=exchange.caller, cls=exchange.cls,
                         client_retries=done.client_retries)

    def _count_tokens(self, exchange: Exchange) -> float:
        """Tokens and spend of a live answer; returns its cost in USD. An upstream that sent
        no prompt count is charged our estimate (corrected for that model), never 0."""
        if not (exchange.prompt_tokens or exchange.completion_tokens):
            return 0.0
        counters = self._stats.counters(exchange.route, exchange.model)
        prompt = exchange.prompt_tokens
        self._costs.observe_tokens(exchange.model, prompt, exchange.completion_tokens,
                                   cls=exchange.cls, prompt_estimate=exchange.prompt_estimate)
        if prompt == 0 and exchange.prompt_estimate:
            prompt = self._costs.prompt_tokens(exchange.model, exchange.prompt_estimate)
        counters.prompt_tokens += prompt
        counters.completion_tokens += exchange.completion_tokens
        cost = self._costs.cost_of(exchange.model, prompt, exchange.completion_tokens)
        counters.cost_usd += cost
        return cost

    def _observe(self, route: str, model: str, score: float, latency_ms: float | None) -> None:
        """/stats' recent scores and valid answers' latencies, and the reward histogram."""
        counters = self._stats.counters(route, model)
        counters.rewards.append(score)
        if latency_ms is not None:
            counters.latencies_ms.append(latency_ms)
        if self._metrics is not None:
            self._metrics.rewarded(route, model, score)

    def _initial(self, route: RouteConfig, model: str) -> tuple[float, float] | None:
        """Where a model the store has no state for starts: its cold-start posterior."""
        if self._beliefs.known(route.name, model):
            return None
        start = self._beliefs.cold_start(route, model, now=self._clock())
        return start.alpha, start.beta

    def feedback(self, route: RouteConfig, cls: str, model: str, score: float, *,
                 weight: float) -> None:
        """An explicit score for one decision (POST /v1/feedback), on the route and class."""
        self._record(route, cls, model, score, weight)
        self._observe(route.name, model, score, None)

    def _record(self, route: RouteConfig, cls: str, model: str, score: float,
                weight: float, *, watch: bool = False) -> None:
        """One scored answer, at `weight`, on the route level and the class's cell (a model
        new to the route starts from its cold start there; a class cell from the prior).
        `watch`: an answer that may show the model changed (see _changed)."""
        prior = self._beliefs.prior(route.name, model)
        initial = self._initial(route, model)
        now = self._clock()
        changed = watch and self._changed(route, model, score, weight, now)
        for scope in scopes(route.name, cls):
            if changed and scope == route.name:
                continue  # the answer is in the kept segment
            half = self._beliefs.half_life(route, now, cls if scope != route.name else "")
            self._store.record(Update.observation(
                scope, model, score, prior=prior, half_life_s=half,
                max_strength=route.max_strength, weight=weight,
                initial=initial if scope == route.name else None))

    def _changed(self, route: RouteConfig, model: str, score: float, weight: float,
                 now: float) -> bool:
        """Watch the model's answers on the route for a change (policies.change). On one, its
        posterior restarts from its prior plus the answers since the change, this one
        included, and its classes' from their priors. Only answers that count in full are
        watched: a reset drops all the evidence, so the channels whose weight is bounded
        (direct requests, explicit feedback, a caller past its share) must not trigger one."""
        settings = route.learning
        if settings.change_threshold is None or weight < 1.0:
            return False
        key = (route.name, model)
        mean = self._beliefs.posterior(route, model, now=now).mean
        state, found = change.observe(self._changes.get(key, change.Cusum()), mean, score,
                                      shift=settings.change_shift,
                                      threshold=settings.change_threshold)
        self._changes[key] = state
        if found is None:
            return False
        self._stats.counters(route.name, model).changes += 1
        self.forget(route.name, model, since=now)
        self._store.record(Update(
            route.name, model, found.reward, found.weight - found.reward,
            self._beliefs.prior(route.name, model), self._beliefs.half_life(route, now),
            max_strength=route.max_strength))
        log.info("%s on route %s changed for the %s: its posterior restarts from its last "
                 "%.0f answers (mean reward %.2f, %.2f before)", model, route.name,
                 "better" if found.up else "worse", found.weight,
                 found.reward / found.weight, mean)
        return True

    def forget(self, route_name: str, model: str, *, since: float | None = None) -> None:
        """Reset a model's posterior on a route (and its classes) to its prior: after an
        outage ended, or (`since` now) a change. Idempotent across the fleet: replicas whose
        breakers close on the same recovery (within the breaker's cool-down) reset it once,
        not once each."""
        route = self._config.routes[route_name]
        prior = self._beliefs.prior(route_name, model)
        now = self._clock()
        if since is None:
            since = now - route.breaker.cooldown_s
        for cls in ("", *self._classes[route_name]):
            scope = cell(route_name, cls) if cls else route_name
            self._store.record(Update(scope, model, 0.0, 0.0, prior,
                                      self._beliefs.half_life(route, now, cls),
                                      observations=0, reset_since=since))


class CallerShare:
    """No single caller moves a route on its own: within each `caller_window_s`, the answers
    of one caller may add to one model's evidence on a route at most `caller_answers`, or
    `caller_share` of everything callers added in the window, whichever is more. A lone caller
    is thus held to caller_answers per window (caller_share 1 lifts the bound); callers that
    share a route each keep their share of the traffic. Shadow copies (caller None) are the
    gateway's own."""

    def __init__(self) -> None:
        # (route, model) -> [window start, weight added, {caller: weight added}]
        self._windows: dict[tuple[str, str], tuple[float, list[float], dict[str, float]]] = {}

    def allow(self, route: RouteConfig, model: str, caller: str | None, weight: float, *,
              now: float) -> float:
        """The weight this answer may count at (at most `weight`)."""
        if caller is None or weight <= 0:
            return weight
        settings = route.learning
        key = (route.name, model)
        window = self._windows.get(key)
        if window is None or now - window[0] >= settings.caller_window_s:
            window = self._windows[key] = (now, [0.0], {})
        _, total, callers = window
        mine = callers.get(caller, 0.0)
        room = max(settings.caller_answers, settings.caller_share * (total[0] + weight)) - mine
        taken = min(weight, room) if room > 0 else 0.0
        if taken > 0:
            callers[caller] = mine + taken
            total[0] += taken
        return taken
