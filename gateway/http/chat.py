"""POST /v1/chat/completions, the chat front door: auth, size limit, parse, plan, then a Call.

A raw ASGI endpoint: the hot path stays a few function calls deep. The Call (pipeline.py)
fails over and relays; a client that disconnects cancels the upstream call (DisconnectGuard).
Once the answer is fully sent, the request may be mirrored to a shadow candidate.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from gateway.errors import GatewayError, bad_request
from gateway.http.asgi import (
    ClientGone,
    DisconnectGuard,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    send_error,
)
from gateway.http.audit import answered_with_error
from gateway.http.pipeline import Call
from gateway.learning.retries import declared_retries
from gateway.ops import logs
from gateway.routing.router import Plan
from gateway.runtime.state import Generation

perf = time.perf_counter

# Keys a client may not set: they could redirect the call or change its credentials.
_DROPPED = frozenset({"api_base", "base_url", "api_key", "api_version", "extra_headers",
                      "headers", "extra_body", "custom_llm_provider", "organization",
                      "mock_response", "litellm_params", "azure_ad_token", "deployment_id"})


async def chat_completions(scope: Scope, receive: Receive, send: Send) -> None:
    gateway: Generation = scope["state"]["gateway"]
    started = perf()
    request: dict[str, Any] = {}
    try:
        caller = gateway.auth.check(scope)
        request = parse_request(await read_body(scope, receive,
                                                gateway.config.server.max_body_bytes))
        plan = gateway.router.plan(request.get("model"))
    except GatewayError as exc:
        gateway.stats.requests[str(exc.status)] += 1
        await send_error(send, exc)
        _ended(gateway, scope, None, exc.status, started, error=exc, request=request)
        return
    except ClientGone:
        _ended(gateway, scope, None, 499, started)
        return
    call = Call(gateway, plan, request, caller=caller, started=started,
                client_retries=declared_retries(header(scope, b"x-stainless-retry-count")))
    guard = DisconnectGuard(receive)
    try:
        if request.get("stream"):
            await call.stream(send, guard)
        else:
            await call.complete(send, guard)
    except GatewayError as exc:
        gateway.stats.requests[str(exc.status)] += 1
        guard.complete()
        await send_error(send, exc)
        _ended(gateway, scope, plan, exc.status, started, caller, error=exc, request=request)
    except asyncio.CancelledError:
        if not guard.disconnected:
            raise
        # Python 3.11: the cancel came from our own guard, not from shutdown.
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        gateway.stats.client_disconnects += 1
        _ended(gateway, scope, plan, 499, started, caller)
    else:
        # The answer is fully sent: a copy for a shadow candidate can no longer touch it.
        opt_out = header(scope, b"x-bayesgate-shadow")
        gateway.shadow.mirror(plan, request,
                              opted_out=opt_out is not None and opt_out.strip().lower() == b"off")
    finally:
        guard.close()


def _ended(gateway: Generation, scope: Scope, plan: Plan | None, status: int, started: float,
           caller: str = "", *, error: GatewayError | None = None,
           request: dict[str, Any] | None = None) -> None:
    """A request that got no answer: counted and logged here (answers are, after learning)."""
    route = plan.route_name if plan is not None else ""
    decision = plan.decision_id if plan is not None else ""
    gateway.metrics.failed(route, status)
    if error is None:  # the client went away: no error was answered
        logs.request(decision=decision, route=route, model="", status=status,
                     latency_s=perf() - started, caller=caller)
        return
    answered_with_error(gateway, scope, status, latency_s=perf() - started, code=error.code,
                        requested=(request or {}).get("model"), caller=caller, route=route,
                        decision=decision, endpoint=scope["path"])  # one of the chat paths


def parse_request(body: bytes) -> dict[str, Any]:
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc.args[0]}.") from None
    if not isinstance(request, dict):
        raise bad_request("The request body must be a JSON object.")
    if body.count(b"[") + body.count(b"{") > _MAX_DEPTH:
        _check_depth(request)
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' is required and must be a non-empty list.",
                          param="messages")
    if any(not isinstance(m, dict) for m in messages):
        raise bad_request("Each entry of 'messages' must be an object.", param="messages")
    if "stream" in request and not isinstance(request["stream"], bool | None):
        raise bad_request("'stream' must be true or false.", param="stream")
    for key in _DROPPED.intersection(request):
        del request[key]
    return request


# orjson reads 1024 levels of nesting but writes only 254: a body in between used to fail at
# the provider, as a 502 blamed on (and scored against) the model. Counting brackets (a C scan)
# rules out almost every body; only those with many brackets pay for the exact check.
_MAX_DEPTH = 254


def _check_depth(request: dict[str, Any]) -> None:
    try:
        orjson.dumps(request)
    except orjson.JSONEncodeError:
        raise bad_request(f"The request body is nested too deeply (at most {_MAX_DEPTH} "
                          "levels).") from None
