"""GET /dashboard: one self-contained page (HTML, JS, CSS served from gateway/static, no CDN,
no build step) that polls /dashboard/data and draws, per route, the posterior densities,
the model share, reward and latency over time, the circuits and the savings.

The time series come from `History`: a lifespan task samples the /stats document every
`dashboard.history_interval_s`, so a page opened late still shows the recent past.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.config import DashboardConfig

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger("bayesgate.dashboard")

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


class History:
    """A bounded series of per-route points: share, mean, recent reward and latency."""

    def __init__(self, config: DashboardConfig) -> None:
        self.interval_s = config.history_interval_s
        self.points: deque[dict[str, Any]] = deque(maxlen=config.history_points)

    async def run(self, current: Callable[[], Gateway]) -> None:
        while True:
            try:
                self.sample(current())
            except Exception:
                log.exception("sampling the dashboard history failed")
            await asyncio.sleep(self.interval_s)

    def sample(self, gateway: Gateway) -> None:
        from gateway.views import snapshot

        doc = snapshot(gateway)
        routes = {}
        for name, route in doc["routes"].items():
            routes[name] = {model: {"share": m["share"], "mean": m["mean"],
                                    "reward": m["reward_recent"], "p50": m["latency_ms"]["p50"],
                                    "selections": m["selections"]}
                            for model, m in route["models"].items()}
        self.points.append({"t": round(gateway.clock(), 3), "routes": routes})

    def since(self, t: float) -> list[dict[str, Any]]:
        return [p for p in self.points if p["t"] > t]


def routes() -> list[Route]:
    """The dashboard's routes; the static files are read once, here, not on the event loop."""
    files = {f.name: f.read_bytes() for f in (resources.files("gateway") / "static").iterdir()
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
        from gateway.views import _json, snapshot

        gateway: Gateway = request.state.gateway
        try:
            since = float(request.query_params.get("since", "0"))
        except ValueError:
            since = 0.0
        return _json({"now": gateway.clock(), "stats": snapshot(gateway),
                      "interval_s": gateway.history.interval_s,
                      "history": gateway.history.since(since)})

    return [Route("/dashboard", page, methods=["GET"]),
            Route("/dashboard/data", data, methods=["GET"]),
            Route("/dashboard/static/{name}", static, methods=["GET"])]


def _check(request: Request) -> None:
    """Admin keys only; a GatewayError is answered by the app's handler."""
    gateway: Gateway = request.state.gateway
    gateway.admin.check(request.scope)
