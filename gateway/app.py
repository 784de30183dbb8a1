"""The ASGI application: everything long-lived is built in the lifespan and reached through
`request.state.gateway` (or `scope["state"]["gateway"]` on the raw hot path).

A Gateway is one generation of the config-bound parts (providers, router, learner, keys)
around the parts that outlive a reload (store, counters, metrics, dashboard history). A
reload builds a new generation and publishes it on `app.state.gateway`; `CurrentGateway` puts
the published one into each request's scope, so a request runs start to end on one
generation and the old one is closed once its requests are done (gateway/reload.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from starlette import types
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway import dashboard, views
from gateway.asgi import Endpoint, Receive, Scope, Send
from gateway.auth import KeyCheck
from gateway.breakers import Breakers
from gateway.chat import chat_completions
from gateway.config import Config
from gateway.errors import GatewayError
from gateway.learning import Learner
from gateway.metrics import Metrics
from gateway.openapi import openapi
from gateway.pricing import CostModel, litellm_price_table
from gateway.redact import Redactor
from gateway.reload import Reloader
from gateway.router import Router
from gateway.shadow import Shadow
from gateway.stats import Stats
from gateway.store import MemoryStore, Store
from providers.base import Provider

log = logging.getLogger("bayesgate")


@dataclass
class Gateway:
    """The state of one running gateway."""

    config: Config
    providers: dict[str, Provider]
    store: Store
    router: Router
    learner: Learner
    costs: CostModel
    stats: Stats
    auth: KeyCheck
    admin: KeyCheck
    redact: Redactor
    clock: Callable[[], float]
    metrics: Metrics
    history: dashboard.History
    rng: np.random.Generator
    shadow: Shadow
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)  # this generation's
    in_flight: int = 0  # requests running on this generation
    reloader: Reloader | None = None


def build_providers(config: Config, rng: np.random.Generator) -> dict[str, Provider]:
    from providers.simulated import SimulatedProvider

    built: dict[str, Provider] = {}
    for name, spec in config.providers.items():
        if spec.type == "openai":
            from providers.openai import OpenAIProvider

            built[name] = OpenAIProvider(
                base_url=spec.base_url or "", api_key=spec.api_key, timeout_s=spec.timeout_s,
                connect_timeout_s=spec.connect_timeout_s, max_connections=spec.max_connections,
                stream_idle_timeout_s=spec.stream_idle_timeout_s, headers=spec.headers)
        elif spec.type == "litellm":
            from providers.litellm import LiteLLMProvider

            built[name] = LiteLLMProvider(api_key=spec.api_key, base_url=spec.base_url,
                                          timeout_s=spec.timeout_s, headers=spec.headers)
        else:
            sims = {m.upstream_name: m.simulate
                    for m in config.models.values() if m.provider == name}
            built[name] = SimulatedProvider(models=sims, rng=rng)
    return built


def build_store(config: Config, clock: Callable[[], float]) -> Store:
    if config.store.backend == "redis":
        from gateway.redis_store import RedisStore

        # What to read on the first sync: a restarted replica starts from the fleet's state.
        routes = {name: (*r.candidates, *r.shadow.candidates) for name, r in config.routes.items()}
        return RedisStore(config.store, clock=clock, routes=routes, models=config.models)
    return MemoryStore(clock=clock)


def assemble(config: Config, base: Gateway | None = None, *, store: Store | None = None,
             rng: np.random.Generator | None = None,
             clock: Callable[[], float] = time.time) -> Gateway:
    """A new generation for `config`: the config-bound parts built anew, the long-lived ones
    taken from `base` (a reload) or made here (the first generation)."""
    if base is not None:
        store, rng, clock = base.store, base.rng, base.clock
    assert store is not None and rng is not None
    providers = build_providers(config, rng)
    costs = CostModel(config.models,
                      litellm_price_table() if any(m.cost is None for m in
                                                   config.models.values()) else {})
    stats = base.stats if base is not None else Stats()
    metrics = base.metrics if base is not None else Metrics()
    # Breaker states and Retry-After cool-downs outlive a reload.
    breakers = base.router.breakers if base is not None else Breakers(store, clock=clock)
    router = Router(config, store, costs, breakers, rng=rng, clock=clock)
    if base is not None:
        router.cooldown_until.update({m: t for m, t in base.router.cooldown_until.items()
                                      if m in config.models})
    learner = Learner(config, store, router, costs, stats, clock=clock, metrics=metrics)
    # A child generator: mirroring draws never shift the router's sequence of choices.
    shadow = Shadow(config, router=router, providers=providers, learner=learner, costs=costs,
                    store=store, rng=rng.spawn(1)[0], clock=clock,
                    previous=base.shadow if base is not None else None)
    return Gateway(config=config, providers=providers, store=store, router=router,
                   learner=learner, costs=costs, stats=stats,
                   auth=KeyCheck(config.server.api_keys),
                   admin=KeyCheck(config.server.admin_keys, basic=True),
                   redact=Redactor(config.secrets), clock=clock, metrics=metrics,
                   history=base.history if base is not None else
                   dashboard.History(config.dashboard),
                   rng=rng, shadow=shadow,
                   reloader=base.reloader if base is not None else None)


async def start(gateway: Gateway) -> None:
    """Start a generation's providers and learner."""
    if gateway.auth.open:
        log.warning("no server.api_keys configured: the gateway accepts every caller")
    for provider in gateway.providers.values():
        await provider.start()
    gateway.tasks.append(asyncio.create_task(gateway.learner.run(), name="bayesgate-learner"))
    gateway.tasks.append(asyncio.create_task(gateway.shadow.run(),
                                             name="bayesgate-shadow-review"))


async def stop(gateway: Gateway) -> None:
    """Stop a generation: its learner learns what is queued, its providers close."""
    for task in gateway.tasks:
        task.cancel()
    await asyncio.gather(*gateway.tasks, return_exceptions=True)
    await gateway.shadow.aclose()  # before the providers close their sessions under the copies
    await gateway.learner.drain()
    for provider in gateway.providers.values():
        await provider.aclose()


@contextlib.asynccontextmanager
async def running(config: Config, *, seed: int | None = None,
                  clock: Callable[[], float] = time.time,
                  publish: Callable[[Gateway], None] | None = None) -> AsyncIterator[Gateway]:
    """Build, start and finally tear down a Gateway (the lifespan's body); `publish` is
    called with each new generation a reload makes."""
    store = build_store(config, clock)
    gateway = assemble(config, store=store, rng=np.random.default_rng(seed), clock=clock)
    reloader = gateway.reloader = Reloader(gateway, build=assemble, start=start, stop=stop,
                                           publish=publish)
    await store.start()
    await start(gateway)
    history = asyncio.create_task(gateway.history.run(reloader.current_gateway),
                                  name="bayesgate-history")
    reloader.install_signal_handler()
    try:
        yield gateway
    finally:
        reloader.remove_signal_handler()
        history.cancel()
        await asyncio.gather(history, return_exceptions=True)
        await reloader.aclose()  # stops the current generation and any still retiring
        await store.aclose()


def create_app(config: Config, *, seed: int | None = None,
               clock: Callable[[], float] = time.time) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        def publish(gateway: Gateway) -> None:
            app.state.gateway = gateway

        async with running(config, seed=seed, clock=clock, publish=publish) as gateway:
            app.state.gateway = gateway
            yield {"gateway": gateway}

    routes = [
        Route("/v1/chat/completions", Endpoint(chat_completions), methods=["POST"]),
        Route("/chat/completions", Endpoint(chat_completions), methods=["POST"]),
        Route("/v1/models", views.models, methods=["GET"]),
        Route("/healthz", views.healthz, methods=["GET"]),
        Route("/readyz", views.readyz, methods=["GET"]),
        Route("/stats", views.stats, methods=["GET"]),
        Route("/metrics", views.metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *dashboard.routes(),
    ]
    middleware = [Middleware(CurrentGateway)]
    if config.server.cors_origins:
        # Off unless configured: browsers may then call with a gateway key (a bearer header,
        # never cookies, so no credentials mode) and read the x-bayesgate-* headers.
        middleware.insert(0, Middleware(
            CORSMiddleware, allow_origins=list(config.server.cors_origins),
            allow_methods=["GET", "POST"], allow_headers=["*"], allow_credentials=False,
            expose_headers=["x-bayesgate-route", "x-bayesgate-model", "x-bayesgate-decision",
                            "x-bayesgate-overhead-ms"]))
    app = GatewayApp(routes=routes, lifespan=lifespan, middleware=middleware,
                     exception_handlers={404: _not_found, 405: _not_allowed,
                                         GatewayError: views.error_response})
    # With CORS on, chat answers need its headers too: no shortcut past the middleware.
    app.direct_chat = not config.server.cors_origins
    return app


_CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})


class GatewayApp(Starlette):
    """Starlette, with POST /v1/chat/completions dispatched straight to its handler.

    The handler answers every error itself, so the middleware stack (server errors, exception
    handlers, routing) only cost CPU there: about 6% of the gateway's per-request CPU
    under bench/run.py. Every other path takes the full stack.
    """

    direct_chat = True

    async def __call__(self, scope: types.Scope, receive: types.Receive,
                       send: types.Send) -> None:
        if (self.direct_chat and scope["type"] == "http" and scope["method"] == "POST"
                and scope["path"] in _CHAT_PATHS):
            scope["app"] = self
            gateway: Gateway = self.state.gateway
            scope["state"]["gateway"] = gateway
            gateway.in_flight += 1
            try:
                await chat_completions(scope, receive, send)
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
        gateway: Gateway = scope["app"].state.gateway
        scope["state"]["gateway"] = gateway
        gateway.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            gateway.in_flight -= 1


async def _not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": {"message": f"No such endpoint: {request.url.path}",
                                   "type": "invalid_request_error", "param": None,
                                   "code": "not_found"}}, status_code=404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": {"message": f"Method {request.method} is not allowed here.",
                                   "type": "invalid_request_error", "param": None,
                                   "code": "method_not_allowed"}}, status_code=405)
