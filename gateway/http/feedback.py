"""POST /v1/feedback and POST /v1/route: explicit feedback, and the decision as a service.

Feedback names a decision by its id (the `x-bayesgate-decision` of a routed answer, or what
`/v1/route` returned), is accepted from the key that made the request, within the route's
`learning.feedback_window_s`, once across the fleet (a claim in the store), and counts for
the model and class that decided: a score in [0, 1] or a thumbs value at the route's
`feedback_weight`, or the telemetry the gateway would have measured itself (`valid`,
`latency_ms`, `retried`), scored by the route's own reward as one answer.

`/v1/route` runs the route's decision for a chat request without calling any upstream: the
chosen model, the ranked fallbacks, the class and a decision id, for callers that talk to
their providers themselves and report the outcome to `/v1/feedback`.
"""

from __future__ import annotations

import math
import time
from typing import Any

import orjson

from gateway.config import RouteConfig
from gateway.errors import GatewayError, bad_request, model_not_found
from gateway.http.asgi import (
    ClientGone,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    send_error,
    send_json,
)
from gateway.http.chat import json_object, parse_request
from gateway.learning.decisions import Decision
from gateway.runtime.state import Generation
from policies.reward import Outcome, reward

_THUMBS = {"up": 1.0, "down": 0.0, "thumbs_up": 1.0, "thumbs_down": 0.0, "+1": 1.0, "-1": 0.0,
           True: 1.0, False: 0.0}


async def feedback(scope: Scope, receive: Receive, send: Send) -> None:
    gateway: Generation = scope["state"]["gateway"]
    try:
        caller = gateway.auth.check(scope)
        data = json_object(await read_body(scope, receive, gateway.config.server.max_body_bytes))
        answer = await _apply(gateway, caller, data)
    except GatewayError as exc:
        await send_error(send, exc)
        return
    except ClientGone:
        return
    await send_json(send, 200, orjson.dumps(answer))


async def _apply(gateway: Generation, caller: str, data: dict[str, Any]) -> dict[str, Any]:
    token = data.get("decision_id")
    decision = gateway.live.decisions.read(token)
    route = gateway.config.routes.get(decision.route) if decision is not None else None
    if decision is None or route is None:
        raise GatewayError(404, "Unknown decision_id: give the x-bayesgate-decision header of "
                           "an answer a route decided, or the decision_id of POST /v1/route.",
                           code="decision_not_found", param="decision_id")
    if decision.caller != caller:
        raise GatewayError(403, "This decision was made for another key.",
                           type="permission_error", code="decision_forbidden",
                           param="decision_id")
    window = route.learning.feedback_window_s
    if time.time() - decision.at > window:
        raise GatewayError(410, f"The feedback window of this decision has closed (route "
                           f"{route.name!r}: {window:g} s).", code="decision_expired",
                           param="decision_id")
    model = _model(gateway, route, data.get("model", decision.model))
    score, weight = _score(data, route)
    assert isinstance(token, str)
    if await gateway.store.swap_fingerprint(f"feedback:{token}", "1", ttl_s=window) is not None:
        raise GatewayError(409, "This decision has feedback already: it counts once.",
                           code="feedback_already_applied", param="decision_id")
    cls = decision.cls if decision.cls in gateway.router.classes(route.name) else ""
    gateway.learner.feedback(route, cls, model, score, weight=weight)
    return {"object": "bayesgate.feedback", "decision_id": token, "route": route.name,
            "class": cls or None, "model": model, "score": round(score, 6), "weight": weight}


def _model(gateway: Generation, route: RouteConfig, model: Any) -> str:
    """The model the feedback is about: the decision's, or (after a /v1/route decision whose
    caller fell back) another live candidate of the route."""
    if not isinstance(model, str) or model not in gateway.router.candidates(route):
        raise bad_request(f"'model' must be a live candidate of route {route.name!r}: "
                          f"{', '.join(gateway.router.candidates(route))}.", param="model")
    return model


def _score(data: dict[str, Any], route: RouteConfig) -> tuple[float, float]:
    """(score, weight): an explicit score or thumbs value, or telemetry scored as an answer."""
    explicit = data.get("score", data.get("thumbs"))
    if explicit is not None:
        if isinstance(explicit, str):
            explicit = explicit.strip().lower()
        if explicit in _THUMBS and (isinstance(explicit, bool | str)):
            return _THUMBS[explicit], route.learning.feedback_weight
        if isinstance(explicit, int | float) and not isinstance(explicit, bool) \
                and math.isfinite(explicit) and 0 <= explicit <= 1:
            return float(explicit), route.learning.feedback_weight
        raise bad_request("'score' must be a number in [0, 1] or a thumbs value (\"up\", "
                          "\"down\", true, false).", param="score")
    valid = data.get("valid")
    if not isinstance(valid, bool):
        raise bad_request("Give a 'score' (0 to 1), 'thumbs' (\"up\" or \"down\"), or the "
                          "telemetry of the call: 'valid' (true or false) with 'latency_ms' "
                          "and 'retried'.", param="score")
    latency = data.get("latency_ms", 0.0)
    if isinstance(latency, bool) or not isinstance(latency, int | float) \
            or not math.isfinite(latency) or latency < 0:
        raise bad_request("'latency_ms' must be a number of milliseconds of at least 0.",
                          param="latency_ms")
    retried = data.get("retried", 0)
    if not isinstance(retried, bool | int) or retried < 0:
        raise bad_request("'retried' must be true, false or a count.", param="retried")
    return reward(Outcome(valid, float(latency), int(retried)), route.reward), 1.0


async def decide(scope: Scope, receive: Receive, send: Send) -> None:
    """POST /v1/route: the route's decision for a chat request; no upstream is called."""
    gateway: Generation = scope["state"]["gateway"]
    try:
        caller = gateway.auth.check(scope)
        request = parse_request(await read_body(scope, receive,
                                                gateway.config.server.max_body_bytes))
        name = request.get("model")
        if isinstance(name, str) and name in gateway.config.models:
            raise bad_request(f"{name!r} is a model, not a route: a route decides.",
                              param="model")
        if isinstance(name, str) and name not in gateway.config.routes:
            raise model_not_found(name)
        plan = gateway.router.plan(name, request=request,
                                   stated_class=header(scope, b"x-bayesgate-class"))
    except GatewayError as exc:
        await send_error(send, exc)
        return
    except ClientGone:
        return
    assert plan.route is not None
    chosen = plan.attempts[0]
    gateway.stats.selected(plan.route.name, chosen.name, plan.cls)
    token = gateway.live.decisions.issue(plan.decision_id, Decision(
        plan.route.name, plan.cls, chosen.name, caller, int(time.time())))
    context = plan.features
    cost = gateway.costs.expected(chosen.name, cls=plan.cls,
                                  prompt_tokens=context.prompt_tokens if context else None,
                                  budget=context.output_budget if context else None)
    await send_json(send, 200, orjson.dumps({
        "object": "bayesgate.route_decision", "decision_id": token, "route": plan.route.name,
        "class": plan.cls or None, "model": chosen.name, "upstream_name": chosen.upstream_name,
        "fallbacks": [{"model": m.name, "upstream_name": m.upstream_name}
                      for m in plan.attempts[1:]],
        "expected_cost_usd": round(cost, 8)}))
