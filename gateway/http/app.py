"""The ASGI application: the routes, the lifespan, and the raw hot path for chat.

Everything long-lived is built in the lifespan (gateway.runtime.running) and reached through
`request.state.gateway` (or `scope["state"]["gateway"]` on the raw hot path): the Generation
published last. `CurrentGateway` puts it into each request's scope, so a request runs start to
end on one generation and a reload can retire the old one once its requests are done.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette import types
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.config import Config
from gateway.errors import GatewayError, method_not_allowed, no_such_endpoint
from gateway.http import dashboard, embeddings, feedback, messages, responses, views
from gateway.http.asgi import Endpoint, Receive, Scope, Send
from gateway.http.audit import ErrorAudit
from gateway.http.chat import chat_completions
from gateway.http.openapi import openapi
from gateway.http.snapshot import snapshot
from gateway.runtime import Generation, running

# The front doors' POST paths (with and without /v1, as clients' base URLs differ): each
# handler answers and reports its own errors, so they skip the middleware stack.
_DOORS: dict[str, Callable[[Scope, Receive, Send], Any]] = {
    "/v1/chat/completions": chat_completions, "/chat/completions": chat_completions,
    "/v1/responses": responses.create, "/responses": responses.create,
    "/v1/messages": messages.messages, "/messages": messages.messages,
    "/v1/embeddings": embeddings.embeddings, "/embeddings": embeddings.embeddings,
}
_SELF_REPORTING = frozenset({*_DOORS, "/v1/messages/count_tokens"})
_EXPOSED = ["x-bayesgate-route", "x-bayesgate-model", "x-bayesgate-decision",
            "x-bayesgate-overhead-ms"]


def create_app(config: Config, *, seed: int | None = None,
               clock: Callable[[], float] = time.time) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        def publish(generation: Generation) -> None:
            app.state.gateway = generation

        async with running(config, seed=seed, clock=clock, publish=publish) as generation:
            app.state.gateway = generation
            history = asyncio.create_task(generation.live.history.run(
                lambda: (clock(), snapshot(app.state.gateway))), name="bayesgate-history")
            try:
                yield {"gateway": generation}
            finally:
                history.cancel()
                await asyncio.gather(history, return_exceptions=True)

    routes = [
        Route("/", views.index, methods=["GET"]),
        *(Route(path, Endpoint(door), methods=["POST"]) for path, door in _DOORS.items()),
        Route("/v1/responses/{response_id}", responses.retrieve, methods=["GET"]),
        Route("/v1/responses/{response_id}", responses.delete, methods=["DELETE"]),
        Route("/v1/responses/{response_id}/input_items", responses.input_items,
              methods=["GET"]),
        Route("/v1/messages/count_tokens", Endpoint(messages.count_tokens), methods=["POST"]),
        Route("/v1/feedback", Endpoint(feedback.feedback), methods=["POST"]),
        Route("/v1/route", Endpoint(feedback.decide), methods=["POST"]),
        Route("/v1/models", views.models, methods=["GET"]),
        Route("/v1/models/{model_id:path}", views.model, methods=["GET"]),
        Route("/healthz", views.healthz, methods=["GET"]),
        Route("/readyz", views.readyz, methods=["GET"]),
        Route("/stats", views.stats, methods=["GET"]),
        Route("/metrics", views.metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *dashboard.routes(),
    ]
    middleware = [Middleware(CurrentGateway), Middleware(ErrorAudit, skip=_SELF_REPORTING)]
    if config.server.cors_origins:
        # Off unless configured: browsers may then call with a gateway key (a bearer header,
        # never cookies, so no credentials mode) and read the x-bayesgate-* headers.
        middleware.insert(0, Middleware(
            CORSMiddleware, allow_origins=list(config.server.cors_origins),
            allow_methods=["GET", "POST", "DELETE"], allow_headers=["*"], allow_credentials=False,
            expose_headers=_EXPOSED))
    app = GatewayApp(routes=routes, lifespan=lifespan, middleware=middleware,
                     exception_handlers={404: _not_found, 405: _not_allowed,
                                         GatewayError: views.error_response})
    # With CORS on, chat answers need its headers too: no shortcut past the middleware.
    app.direct_chat = not config.server.cors_origins
    return app


class GatewayApp(Starlette):
    """Starlette, with a front door's POST dispatched straight to its handler.

    The handler answers every error itself, so the middleware stack (server errors, exception
    handlers, routing) only cost CPU there: about 6% of the gateway's per-request CPU
    under bench/run.py. Every other path takes the full stack.
    """

    direct_chat = True

    async def __call__(self, scope: types.Scope, receive: types.Receive,
                       send: types.Send) -> None:
        door = _DOORS.get(scope["path"]) if scope["type"] == "http" else None
        if door is not None and self.direct_chat and scope["method"] == "POST":
            scope["app"] = self
            gateway: Generation = self.state.gateway
            scope["state"]["gateway"] = gateway
            gateway.in_flight += 1
            try:
                await door(scope, receive, send)
            finally:
                gateway.in_flight -= 1
            return
        await super().__call__(scope, receive, send)


class CurrentGateway:
    """Puts the generation published last into the request's scope and counts the requests
    running on each generation, so a reload knows when an old one is idle."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gateway: Generation = scope["app"].state.gateway
        scope["state"]["gateway"] = gateway
        gateway.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            gateway.in_flight -= 1


async def _not_found(request: Request, exc: Exception) -> Response:
    return views.error_response(request, no_such_endpoint(request.url.path,
                                                          views.endpoints(request.app)))


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return views.error_response(request, method_not_allowed(request.method))
