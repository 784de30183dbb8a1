"""One request on its way through the candidates: failover, relay, and the hand-off to learning.

`Call` tries the plan's models in order while nothing has reached the client (skipping a model
whose breaker is open, unless it is the last one left); after the first byte of a stream, a
failure ends the stream with an OpenAI-style error event. What it measured goes to the learner
(learning/measure.py) after the answer is sent.

What counts against a model: an error, a time-out, an invalid answer; an upstream 4xx about the
request (400, 404, 413, 422: context too long, a retired model name, tools unsupported) when
another candidate then accepted the same request (when every candidate rejects it, the request
is at fault: the client gets the last 4xx and no model is charged); a client that gave up
waiting past the latency curve's midpoint. A 429 is not a bad answer: the model cools down.

A front door translates its dialect to a chat request, makes a plan and hands both to a Call,
with the `Dialect` that writes the answer back in its API's shape: the Call measures only chat
requests, answers and chunks, so every front door is routed, measured and learned from alike.
An upstream that speaks the door's API natively gets it untranslated (http/native.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import orjson

from gateway.config import ModelConfig
from gateway.errors import GatewayError, stream_failed, upstream_failed
from gateway.http import native
from gateway.http.asgi import DisconnectGuard, Send, send_json
from gateway.http.dialect import Dialect, NativeEvents
from gateway.http.native import native_dialect
from gateway.learning import measure
from gateway.learning.decisions import Decision
from gateway.learning.measure import Finished
from gateway.learning.signals import of_completion
from gateway.learning.validity import (
    StreamTally,
    check_completion,
    check_embeddings,
    embeddings_structural_problem,
    structural_problem,
)
from gateway.ops.logs import printable
from gateway.ops.tracing import RequestSpan
from gateway.routing.context import Features
from gateway.routing.router import Plan
from gateway.runtime.state import Generation
from providers.base import ProviderError, UpstreamInvalid, UpstreamStatus, UpstreamTimeout

log = logging.getLogger("bayesgate.chat")
perf = time.perf_counter
_RATE_LIMIT_COOLDOWN_S = 1.0  # a 429 without Retry-After: the model goes last this long


class Call:
    """One client request on its way through the candidates."""

    def __init__(self, gateway: Generation, plan: Plan, request: dict[str, Any], *, caller: str,
                 started: float, client_retries: int, dialect: Dialect) -> None:
        self.gateway = gateway
        self.dialect = dialect
        self.availability = gateway.live.availability
        self.plan = plan
        self.request = request
        self.caller = caller
        self.started = started
        self.client_retries = client_retries
        self.upstream_s = 0.0
        self.overhead_s = 0.0
        self.tries: dict[str, int] = {}
        self.told_to_wait: set[str] = set()  # models that answered with a Retry-After
        # Upstream 4xx about the request, charged to their models once another one answers.
        self.rejected: list[tuple[ModelConfig, float]] = []
        self.in_flight: tuple[ModelConfig, float] | None = None  # awaited model, since when
        self.context: Features | None = plan.features
        self.decision = plan.decision_id  # signed with the answering model once it is known
        self.span: RequestSpan | None = None  # with telemetry on (ops/tracing.py)
        # Ask every upstream for stream usage (the cost of a stream is learned from it) and
        # keep the usage chunk from a client that did not ask for one.
        options = request.get("stream_options")
        options = options if isinstance(options, dict) else {}
        self.strip_usage = (request.get("stream") is True
                            and options.get("include_usage") is not True)
        self.upstream_request = {**request, "stream_options": {
            **options, "include_usage": True}} if self.strip_usage else request

    def _attempts(self) -> list[ModelConfig]:
        attempts = list(self.plan.attempts)
        if len(attempts) == 1:
            attempts = attempts * 2  # one retry when there is nowhere else to go
        return attempts

    def _headers(self, model: ModelConfig) -> list[tuple[bytes, bytes]]:
        self.overhead_s = max(0.0, perf() - self.started - self.upstream_s)
        overhead_ms = self.overhead_s * 1000
        if self.plan.route is not None:  # feedback applies to what a route decided
            self.decision = self.gateway.live.decisions.issue(self.plan.decision_id, Decision(
                self.plan.route.name, self.plan.cls, model.name, self.caller, int(time.time())))
        headers = [(b"x-bayesgate-route", self.plan.route_name.encode()),
                   (b"x-bayesgate-model", model.name.encode()),
                   (b"x-bayesgate-decision", self.decision.encode()),
                   (b"x-bayesgate-overhead-ms", f"{overhead_ms:.3f}".encode())]
        if self.plan.cls:
            headers.append((b"x-bayesgate-class", self.plan.cls.encode()))
        return headers

    def _count(self, model: ModelConfig, index: int) -> None:
        if self.span is not None:
            self.span.attempt(model, self.gateway.config.providers[model.provider].type)
        counters = self.gateway.stats.counters(self.plan.route_name, model.name)
        if index == 0 and self.plan.route is not None:
            self.gateway.stats.selected(self.plan.route_name, model.name, self.plan.cls)
        elif index > 0:
            counters.failover_attempts += 1

    def _admitted(self, model: ModelConfig, index: int, count: int) -> bool:
        """Skip a model whose breaker is open, unless it is the last one left to try."""
        route = self.plan.route
        return route is None or index == count - 1 or self.availability.admit(route, model.name)

    def _upstream_result(self, model: ModelConfig, *, success: bool) -> None:
        route = self.plan.route
        if route is not None and self.availability.record(route, model.name, success=success):
            # Closed after an outage: what was learned during it is stale.
            self.gateway.learner.forget(route.name, model.name)

    def _failed(self, model: ModelConfig, exc: ProviderError, elapsed_s: float) -> None:
        self.gateway.stats.counters(self.plan.route_name, model.name).failures += 1
        limited = isinstance(exc, UpstreamStatus) and exc.upstream_status == 429
        if isinstance(exc, UpstreamStatus) and (exc.retry_after_s or limited):
            self.availability.cool_down(model.name, exc.retry_after_s or _RATE_LIMIT_COOLDOWN_S)
            self.told_to_wait.add(model.name)
        self.tries[model.name] = self.tries.get(model.name, 0) + 1
        if limited:
            # A rate limit says nothing of the answers' quality: no score, no breaker count.
            log.info("attempt on %s was rate limited", model.name)
            return
        self._upstream_result(model, success=False)
        self._charge(model, elapsed_s)
        log.info("attempt on %s failed: %s", model.name,
                 printable(self.gateway.redact(exc.message), 300))

    def _charge(self, model: ModelConfig, elapsed_s: float) -> None:
        self.gateway.learner.submit(measure.failed(
            self.plan.route_name, model.name, elapsed_s=elapsed_s,
            retries=self.tries.get(model.name, 1) - 1, caller=self.caller, cls=self.plan.cls))

    def gone(self) -> None:
        """The client disconnected before the answer began: a client that gave up on a model
        slower than the route's latency midpoint counts as a slow failure of that model."""
        if self.in_flight is None or self.plan.route is None:
            return
        model, began = self.in_flight
        elapsed = perf() - began
        if elapsed * 1000 >= self.plan.route.reward.latency_midpoint_ms:
            self._upstream_result(model, success=False)
            self._charge(model, elapsed)

    def _all_failed(self, last: ProviderError | None) -> GatewayError:
        if last is None:
            return upstream_failed(502, "No candidate model could be tried.")
        message = self.gateway.redact(last.message)
        if isinstance(last, UpstreamStatus) and last.upstream_status == 429:
            # Passed on as a 429 (with the upstream's Retry-After) so that the client's SDK
            # backs off, instead of retrying a 502 at once.
            wait = last.retry_after_s
            return GatewayError(429, f"Every candidate is rate limited; the last error: {message}",
                                type="upstream_error", code="rate_limit_exceeded",
                                headers={"retry-after": str(math.ceil(wait))} if wait else None)
        return upstream_failed(last.status if last.status in (502, 504) else 502,
                               f"Every candidate failed; the last error: {message}")

    def _client_fault(self, exc: ProviderError) -> GatewayError:
        return GatewayError(exc.status, self.gateway.redact(exc.message),
                            code="upstream_rejected_request")

    def _learn(self, model: ModelConfig, problem: str | None, latency_s: float,
               usage: Any, completion_estimate: int = 0, *, stream: bool = False,
               upstream_ok: bool = True, finish_reason: Any = None,
               signals: frozenset[str] = frozenset()) -> None:
        for rejecting, elapsed in self.rejected:  # another candidate took the same request
            self._charge(rejecting, elapsed)
        if self.span is not None:
            self.span.answered(model, self.gateway.config.providers[model.provider].type, usage,
                               finish_reason, upstream_ok=upstream_ok)
        total_s = perf() - self.started
        ttft_s = latency_s if stream else None
        door = self.dialect.door
        self.gateway.metrics.answered(self.plan.route_name, model.name, door, total_s=total_s,
                                      ttft_s=ttft_s, overhead_s=self.overhead_s)
        self._upstream_result(model, success=upstream_ok)
        counters = self.gateway.stats.counters(self.plan.route_name, model.name)
        counters.answers += 1
        counters.doors[door] += 1
        if problem is not None:
            counters.invalid += 1
        for signal in signals:
            counters.signals[signal] += 1
        context = self.context
        budget = context.output_budget if context is not None else None
        self.gateway.learner.submit(measure.answered(
            self.plan.route_name, model.name, problem=problem, latency_s=latency_s,
            retries=self.tries.get(model.name, 0), usage=usage,
            completion_estimate=completion_estimate, caller=self.caller,
            messages=self.request.get("messages"),  # none for embeddings: a repeat is no retry
            finished=Finished(self.decision, 200, total_s, ttft_s, self.overhead_s,
                              stream, self.client_retries),
            cls=self.plan.cls, prompt_estimate=context.prompt_tokens if context else 0,
            client_cut=problem is not None and finish_reason == "length"
            and budget is not None, signals=signals))

    def _budget_set(self) -> bool:
        return self.context is not None and self.context.output_budget is not None

    def _tries(self) -> Iterator[tuple[ModelConfig, bool]]:
        """The models to try in order, each with whether it is the last one."""
        attempts = self._attempts()
        for index, model in enumerate(attempts):
            if not self._admitted(model, index, len(attempts)):
                continue
            if model.name in self.told_to_wait or any(m is model for m, _ in self.rejected):
                continue  # the same model again, though it asked for time or refused
            self._count(model, index)
            yield model, index == len(attempts) - 1

    def _attempt_failed(self, model: ModelConfig, error: ProviderError,
                        began: float) -> ProviderError:
        """Account a failed attempt. An upstream 4xx about the request goes on to the next
        candidate (charged to this model only if another one answers); for a named model,
        or when it was the last candidate, the client gets it as it is."""
        elapsed = perf() - began
        self.upstream_s += elapsed
        self.in_flight = None
        if self.span is not None:
            self.span.attempt_failed(error, getattr(error, "upstream_status", None))
        if error.client_fault:
            self.rejected.append((model, elapsed))
            if self.plan.route is None or all(
                    any(m is other for m, _ in self.rejected) for other in self.plan.attempts):
                raise self._client_fault(error) from None
            log.info("%s rejected the request (%s); trying the next candidate", model.name,
                     error.status)
            return error
        self._failed(model, error, elapsed)
        return error

    async def complete(self, send: Send, guard: DisconnectGuard) -> None:
        last: ProviderError | None = None
        for model, _ in self._tries():
            provider = self.gateway.providers[model.provider]
            began = perf()
            self.in_flight = (model, began)
            native_to = native_dialect(self.gateway, model, self.dialect)
            try:
                if self.dialect.embeddings:
                    data = await provider.embed(self.request, upstream_model=model.upstream_name)
                    problem = embeddings_structural_problem(data)
                elif native_to is not None:  # the answer's bytes as they came
                    data, body = await native.answer(provider, native_to, model)
                    problem = structural_problem(data)
                else:
                    data = await provider.complete(self.request,
                                                   upstream_model=model.upstream_name)
                    problem = structural_problem(data)
                if problem is not None:
                    raise UpstreamInvalid(problem)
                if native_to is None:
                    data["model"] = model.name
                    body = _written(self.dialect.answer, data)
            except ProviderError as exc:
                last = self._attempt_failed(model, exc, began)
                continue
            elapsed = perf() - began
            self.in_flight = None
            self.upstream_s += elapsed
            if self.dialect.keeps:
                await self.dialect.keep()
            guard.complete()
            self.gateway.stats.requests["200"] += 1
            await send_json(send, 200, body, self._headers(model))
            check = check_embeddings if self.dialect.embeddings else check_completion
            self._learn(model, check(data, self.request), elapsed, data.get("usage"),
                        finish_reason=measure.finish_reason(data),
                        signals=frozenset() if self.dialect.embeddings else of_completion(
                            data, self.request, budget_set=self._budget_set()))
            return
        raise self._all_failed(last)

    async def stream(self, send: Send, guard: DisconnectGuard) -> None:
        last: ProviderError | None = None
        deadline = self.plan.route.ttft_deadline_s if self.plan.route is not None else None
        for model, is_last in self._tries():
            provider = self.gateway.providers[model.provider]
            native_to = native_dialect(self.gateway, model, self.dialect)
            relayed: NativeEvents | None = None
            if native_to is None:
                usage = self.gateway.config.providers[model.provider].stream_usage
                chunks: Any = provider.stream(self.upstream_request if usage else self.request,
                                              upstream_model=model.upstream_name)
            else:
                relayed = native_to.native_events(model.name)
                chunks = native.stream(provider, native_to, model, relayed)
            began = perf()
            self.in_flight = (model, began)
            try:
                # The TTFT deadline is there to fail over: the last attempt has nowhere to go.
                first = await _first_chunk(chunks, None if is_last else deadline)
            except (ProviderError, StopAsyncIteration) as exc:
                await chunks.aclose()
                error = (exc if isinstance(exc, ProviderError) else
                         UpstreamInvalid("upstream stream ended before any chunk"))
                last = self._attempt_failed(model, error, began)
                continue
            ttft = perf() - began
            self.in_flight = None
            self.upstream_s += ttft
            await self._relay(send, guard, model, first, chunks, ttft, relayed)
            return
        raise self._all_failed(last)

    async def _relay(self, send: Send, guard: DisconnectGuard, model: ModelConfig,
                     first: Any, chunks: Any, ttft_s: float,
                     relayed: NativeEvents | None) -> None:
        """Send a stream on: chat chunks written in the dialect, or (`relayed`) a native
        stream's batches of events as they came, each (the chat chunks to measure, bytes)."""
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"),
                   (b"x-accel-buffering", b"no"), *self._headers(model)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        self.gateway.stats.requests["200"] += 1
        tally = StreamTally()
        broken = False
        name = model.name
        # A native stream's own events object; creating the dialect's would replace it.
        events: Any = relayed if relayed is not None else self.dialect.events(name)
        strip = self.strip_usage
        try:
            chunk = first
            while True:
                if relayed is not None:
                    views, body = chunk
                    for view in views:
                        tally.add(view)
                else:
                    chunk["model"] = name
                    tally.add(chunk)
                    # The usage chunk the gateway asked for, not the client, is kept from it.
                    body = b"" if strip and not chunk.get("choices") and "usage" in chunk \
                        else _written(events.chunk, chunk)
                if body:
                    await send({"type": "http.response.body", "more_body": True, "body": body})
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
            tally.done = True
            body = b"" if relayed is not None else events.end()
            if self.dialect.keeps:
                await self.dialect.keep()
            guard.complete()
            await send({"type": "http.response.body", "body": body})
        except ProviderError as exc:
            broken = True  # the upstream failed mid-stream: a failure for its breaker
            error = stream_failed(self.gateway.redact(exc.message))
            guard.complete()
            await send({"type": "http.response.body",
                        "body": events.failed(error)})
            self.gateway.stats.counters(self.plan.route_name, name).failures += 1
        finally:
            await chunks.aclose()
        self._learn(model, tally.check(self.request), ttft_s, tally.usage,
                    tally.completion_tokens_estimate(), stream=True, upstream_ok=not broken,
                    finish_reason=tally.finish_reason,
                    signals=tally.signals(self.request, budget_set=self._budget_set()))


def _written(write: Callable[[dict[str, Any]], bytes], data: dict[str, Any]) -> bytes:
    """The bytes of an answer or chunk; JSON that orjson cannot write (nested past 254
    levels, though it reads 1024) is upstream garbage, not a 500 of ours."""
    try:
        return write(data)
    except orjson.JSONEncodeError as exc:
        raise UpstreamInvalid(f"upstream answer cannot be passed on: {exc}") from None



async def _first_chunk(chunks: AsyncIterator[dict[str, Any]],
                       deadline_s: float | None) -> dict[str, Any]:
    try:
        async with asyncio.timeout(deadline_s):
            return await anext(chunks)
    except TimeoutError:
        raise UpstreamTimeout(f"no first chunk within the route's ttft_deadline_s "
                              f"({deadline_s:g} s)") from None
