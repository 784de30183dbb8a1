"""The small endpoints: /v1/models, /healthz, /readyz, /stats."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.app import Gateway

_CREATED = int(time.time())


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json")


def _error(exc: GatewayError) -> Response:
    return Response(exc.body(), status_code=exc.status, media_type="application/json")


async def models(request: Request) -> Response:
    gateway: Gateway = request.state.gateway
    try:
        gateway.auth.check(request.scope)
    except GatewayError as exc:
        return _error(exc)
    config = gateway.config
    data = [{"id": name, "object": "model", "created": _CREATED, "owned_by": "bayesgate-route"}
            for name in config.routes]
    data += [{"id": name, "object": "model", "created": _CREATED,
              "owned_by": model.family or config.providers[model.provider].type}
             for name, model in config.models.items()]
    return _json({"object": "list", "data": data})


async def healthz(request: Request) -> Response:
    return _json({"status": "ok"})


async def readyz(request: Request) -> Response:
    gateway: Gateway = request.state.gateway
    store = gateway.store.status()
    state = "ready" if store.get("state") == "ok" else "degraded"
    # Degraded still answers 200: the gateway routes on its snapshot and keeps its updates.
    return _json({"status": state, "store": store})


async def stats(request: Request) -> Response:
    gateway: Gateway = request.state.gateway
    try:
        gateway.admin.check(request.scope)
    except GatewayError as exc:
        return _error(exc)
    return _json(snapshot(gateway))


def snapshot(gateway: Gateway) -> dict[str, Any]:
    """The /stats document: per route and model, what the router believes and what it did."""
    now = gateway.clock()
    stats = gateway.stats
    routes: dict[str, Any] = {}
    for name, route in gateway.config.routes.items():
        share = stats.share(name)
        models: dict[str, Any] = {}
        for model in (*route.candidates, *route.shadow.candidates):
            post = gateway.router.posterior(route, model, now=now)
            counters = stats.counters(name, model)
            models[model] = {
                "alpha": round(post.alpha, 6), "beta": round(post.beta, 6),
                "mean": round(post.mean, 6), "interval_95": _interval(post.alpha, post.beta),
                "observations": gateway.store.observations(name, model),
                "selections": counters.selections, "share": round(share.get(model, 0.0), 4),
                "failover_attempts": counters.failover_attempts, "answers": counters.answers,
                "failures": counters.failures, "invalid": counters.invalid,
                "circuit": gateway.router.breakers.describe(name, model, now=now),
                "shadow": model in route.shadow.candidates,
                "tokens": {"prompt": counters.prompt_tokens,
                           "completion": counters.completion_tokens},
                "cost_usd": round(counters.cost_usd, 8),
                "expected_cost_usd": gateway.costs.expected(model),
            }
        routes[name] = {"candidates": list(route.candidates), "fallback": route.fallback,
                        "models": models}
    return {"routes": routes, "store": gateway.store.status(),
            "requests": dict(stats.requests), "client_disconnects": stats.client_disconnects,
            "learning_dropped": stats.learning_dropped}


def _interval(alpha: float, beta: float) -> list[float]:
    """A normal approximation of the 95% credible interval, clipped to [0, 1]."""
    mean = alpha / (alpha + beta)
    sd = math.sqrt(alpha * beta / ((alpha + beta) ** 2 * (alpha + beta + 1)))
    return [round(max(0.0, mean - 1.96 * sd), 4), round(min(1.0, mean + 1.96 * sd), 4)]
