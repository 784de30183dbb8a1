"""A front door's request, start to end: auth, size limit, parse, plan, the Call, the errors.

Every front door (chat completions, Responses, Messages) runs this one flow; a `Door` supplies
only what differs: how it parses and translates its dialect into a chat request (and the
`Dialect` that writes the answer back), which header carries the key, and its error shape.
A raw ASGI flow, so the hot path stays a few function calls deep. A client that disconnects
cancels the upstream call (DisconnectGuard); once the answer is fully sent, the request may be
mirrored to a shadow candidate.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.errors import GatewayError
from gateway.http.asgi import (
    ClientGone,
    DisconnectGuard,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    send_json,
)
from gateway.http.audit import answered_with_error
from gateway.http.dialect import Dialect
from gateway.http.pipeline import Call
from gateway.learning.retries import declared_retries
from gateway.ops import logs
from gateway.ops.tracing import RequestSpan, Tracing
from gateway.routing.router import Plan
from gateway.runtime.state import Generation

perf = time.perf_counter


@dataclass(slots=True)
class Opened:
    """A request translated for the pipeline."""

    request: dict[str, Any]  # a chat completions request
    dialect: Dialect
    stay_on: str | None = None  # the model a conversation should stay on, if it still can
    # The only candidates that may take it (those that speak the door's API natively, for a
    # request holding what chat has no twin for); None: any. No shadow copy then.
    only: frozenset[str] | None = None


class Door(Protocol):
    name: str

    def caller(self, gateway: Generation, scope: Scope) -> str:
        """The caller's key name ("" when the gateway is open); raises a 401 GatewayError."""
        ...

    async def open(self, gateway: Generation, body: bytes, caller: str,
                   scope: Scope) -> Opened: ...

    def error_body(self, error: GatewayError) -> bytes: ...


async def serve(door: Door, scope: Scope, receive: Receive, send: Send) -> None:
    gateway: Generation = scope["state"]["gateway"]
    started = perf()
    request: dict[str, Any] = {}
    gateway.stats.doors[door.name] += 1
    try:
        caller = door.caller(gateway, scope)
        body = await read_body(scope, receive, gateway.config.server.max_body_bytes)
        opened = await door.open(gateway, body, caller, scope)
        request = opened.request
        plan = gateway.router.plan(request.get("model"), stay_on=opened.stay_on,
                                   request=request, only=opened.only,
                                   stated_class=header(scope, b"x-bayesgate-class"))
    except GatewayError as exc:
        await _refuse(door, gateway, scope, send, exc, None, started, request=request)
        return
    except ClientGone:
        _ended(door, gateway, scope, None, 499, started)
        return
    call = Call(gateway, plan, request, caller=caller, started=started, dialect=opened.dialect,
                client_retries=declared_retries(header(scope, b"x-stainless-retry-count")))
    if gateway.live.tracing.enabled:
        call.span = _span(gateway.live.tracing, door, scope, plan, request)
    guard = DisconnectGuard(receive)
    status, error_type = 200, None
    try:
        if request.get("stream"):
            await call.stream(send, guard)
        else:
            await call.complete(send, guard)
    except GatewayError as exc:
        status, error_type = exc.status, exc.code
        guard.complete()
        await _refuse(door, gateway, scope, send, exc, plan, started, caller, request=request)
    except asyncio.CancelledError:
        status = 499
        if not guard.disconnected:
            raise
        # Python 3.11: the cancel came from our own guard, not from shutdown.
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        gateway.stats.client_disconnects += 1
        call.gone()
        _ended(door, gateway, scope, plan, 499, started, caller)
    else:
        if opened.dialect.embeddings or opened.only is not None:
            return  # shadow candidates are chat models: no copies they could not answer
        # The answer is fully sent: a copy for a shadow candidate can no longer touch it.
        opt_out = header(scope, b"x-bayesgate-shadow")
        gateway.shadow.mirror(plan, request,
                              opted_out=opt_out is not None and opt_out.strip().lower() == b"off")
    finally:
        guard.close()
        if call.span is not None:
            call.span.end(status, error_type)


def _span(tracing: Tracing, door: Door, scope: Scope, plan: Plan,
          request: dict[str, Any]) -> RequestSpan:
    ranking = plan.ranking
    return tracing.request(scope["headers"], door=door.name, route=plan.route_name,
                           cls=plan.cls, decision=plan.decision_id,
                           requested=request.get("model"), request=request,
                           ranked=ranking.ranked if ranking else (),
                           scores=ranking.utilities if ranking else ())


async def _refuse(door: Door, gateway: Generation, scope: Scope, send: Send,
                  error: GatewayError, plan: Plan | None, started: float, caller: str = "", *,
                  request: dict[str, Any]) -> None:
    gateway.stats.requests[str(error.status)] += 1
    extra = [(k.encode(), v.encode()) for k, v in error.headers.items()]
    await send_json(send, error.status, door.error_body(error), extra)
    _ended(door, gateway, scope, plan, error.status, started, caller, error=error,
           request=request)


def _ended(door: Door, gateway: Generation, scope: Scope, plan: Plan | None, status: int,
           started: float, caller: str = "", *, error: GatewayError | None = None,
           request: dict[str, Any] | None = None) -> None:
    """A request that got no answer: counted and logged here (answers are, after learning)."""
    route = plan.route_name if plan is not None else ""
    decision = plan.decision_id if plan is not None else ""
    gateway.metrics.failed(route, status, door.name)
    if error is None:  # the client went away: no error was answered
        logs.request(decision=decision, route=route, model="", status=status,
                     latency_s=perf() - started, caller=caller)
        return
    answered_with_error(gateway, scope, status, latency_s=perf() - started, code=error.code,
                        requested=(request or {}).get("model"), caller=caller, route=route,
                        decision=decision, endpoint=scope["path"])
