"""GET /dashboard: one self-contained page (HTML, JS, CSS served from gateway/http/static, no CDN,
no build step) that polls /dashboard/data and draws, per route, the posterior densities,
the model share, reward and latency over time, the circuits and the savings.

The time series come from `ops.history.History`, which the app's lifespan feeds with the
/stats document every `dashboard.history_interval_s`.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.http.snapshot import snapshot
from gateway.http.views import json_response
from gateway.runtime.state import Generation

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def routes() -> list[Route]:
    """The dashboard's routes; the static files are read once, here, not on the event loop."""
    files = {f.name: f.read_bytes() for f in (resources.files("gateway.http") / "static").iterdir()
             if f.is_file() and f.name.rsplit(".", 1)[-1] in ("html", "js", "css", "svg")}

    async def page(request: Request) -> Response:
        _check(request)
        return Response(files["dashboard.html"], media_type=_TYPES[".html"],
                        headers={"cache-control": "no-cache"})

    async def static(request: Request) -> Response:
        _check(request)
        name = request.path_params["name"]
        body = files.get(name)
        if body is None:
            return Response(b"not found", status_code=404, media_type="text/plain")
        return Response(body, media_type=_TYPES["." + name.rsplit(".", 1)[-1]],
                        headers={"cache-control": "no-cache"})

    async def data(request: Request) -> Response:
        _check(request)
        gateway: Generation = request.state.gateway
        try:
            since = float(request.query_params.get("since", "0"))
        except ValueError:
            since = 0.0
        history = gateway.live.history
        return json_response({"now": gateway.clock(), "stats": snapshot(gateway),
                              "interval_s": history.interval_s, "history": history.since(since)})

    return [Route("/dashboard", page, methods=["GET"]),
            Route("/dashboard/data", data, methods=["GET"]),
            Route("/dashboard/static/{name}", static, methods=["GET"])]


def _check(request: Request) -> None:
    """Admin keys only; a GatewayError is answered by the app's handler."""
    gateway: Generation = request.state.gateway
    gateway.admin.check(request.scope)
