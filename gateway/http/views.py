"""The small endpoints: /, /v1/models, /healthz, /readyz, /stats, /metrics."""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway import __version__
from gateway.errors import GatewayError, model_not_found
from gateway.http.snapshot import snapshot
from gateway.ops.metrics import CONTENT_TYPE
from gateway.runtime.state import Generation

_CREATED = int(time.time())


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json")


def error_response(request: Request, exc: Exception) -> Response:
    """The app's handler for a GatewayError raised by a view (a 401 from a key check)."""
    assert isinstance(exc, GatewayError)
    return Response(exc.body(), status_code=exc.status, media_type="application/json",
                    headers=exc.headers)


def _listed(gateway: Generation) -> dict[str, dict[str, Any]]:
    """id -> OpenAI's model object, for every route and configured model."""
    config = gateway.config
    data = {name: {"id": name, "object": "model", "created": _CREATED,
                   "owned_by": "bayesgate-route"} for name in config.routes}
    data.update({name: {"id": name, "object": "model", "created": _CREATED,
                        "owned_by": model.family or config.providers[model.provider].type}
                 for name, model in config.models.items()})
    return data


async def models(request: Request) -> Response:
    gateway: Generation = request.state.gateway
    gateway.auth.check(request.scope)  # a GatewayError is answered by the app's handler
    return json_response({"object": "list", "data": list(_listed(gateway).values())})


async def model(request: Request) -> Response:
    """GET /v1/models/{id}: one route or model, in OpenAI's retrieve shape."""
    gateway: Generation = request.state.gateway
    gateway.auth.check(request.scope)
    found = _listed(gateway).get(request.path_params["model_id"])
    if found is None:
        raise model_not_found(request.path_params["model_id"])
    return json_response(found)


def endpoints(app: Any) -> list[str]:
    """`METHOD /path` for every endpoint the app serves, for the 404 message and the index."""
    served = []
    for route in app.routes:
        methods = sorted(set(getattr(route, "methods", None) or ()) - {"HEAD"})
        if methods and route.path != "/":
            served.append(f"{'|'.join(methods)} {route.path}")
    return served


async def index(request: Request) -> Response:
    """GET /: a browser goes to the dashboard; any other client gets the list of endpoints."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/dashboard", status_code=307)
    return json_response({"service": "bayesgate", "version": __version__,
                          "openai_base_url": str(request.base_url).rstrip("/") + "/v1",
                          "endpoints": endpoints(request.app)})


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    gateway: Generation = request.state.gateway
    store = gateway.store.status()
    state = "ready" if store.get("state") == "ok" else "degraded"
    # Degraded still answers 200: the gateway routes on its snapshot and keeps its updates.
    return json_response({"status": state, "store": store})


async def stats(request: Request) -> Response:
    gateway: Generation = request.state.gateway
    gateway.admin.check(request.scope)  # a GatewayError is answered by the app's handler
    return json_response(snapshot(gateway))


async def metrics(request: Request) -> Response:
    gateway: Generation = request.state.gateway
    gateway.admin.check(request.scope)  # a GatewayError is answered by the app's handler
    return Response(gateway.metrics.render(snapshot(gateway), gateway.stats),
                    media_type=CONTENT_TYPE)
