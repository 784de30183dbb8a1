"""The ASGI application: everything long-lived is built in the lifespan and reached through
`request.state.gateway` (or `scope["state"]["gateway"]` on the raw hot path)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway import views
from gateway.asgi import Endpoint
from gateway.auth import KeyCheck
from gateway.breakers import Breakers
from gateway.chat import chat_completions
from gateway.config import Config
from gateway.learning import Learner
from gateway.pricing import CostModel, litellm_price_table
from gateway.redact import Redactor
from gateway.router import Router
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
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


def build_providers(config: Config, rng: np.random.Generator) -> dict[str, Provider]:
    from providers.simulated import SimModel, SimulatedProvider

    built: dict[str, Provider] = {}
    for name, spec in config.providers.items():
        if spec.type == "openai":
            from providers.openai import OpenAIProvider

            built[name] = OpenAIProvider(
                base_url=spec.base_url or "", api_key=spec.api_key, timeout_s=spec.timeout_s,
                connect_timeout_s=spec.connect_timeout_s, max_connections=spec.max_connections,
                headers=spec.headers)
        elif spec.type == "litellm":
            from providers.litellm import LiteLLMProvider

            built[name] = LiteLLMProvider(api_key=spec.api_key, base_url=spec.base_url,
                                          timeout_s=spec.timeout_s, headers=spec.headers)
        else:
            sims = {m.upstream_name: SimModel(**_fields(m.simulate))
                    for m in config.models.values() if m.provider == name}
            built[name] = SimulatedProvider(models=sims, rng=rng)
    return built


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def build_store(config: Config, clock: Callable[[], float]) -> Store:
    if config.store.backend == "redis":
        from gateway.redis_store import RedisStore

        # What to read on the first sync: a restarted replica starts from the fleet's state.
        routes = {name: (*r.candidates, *r.shadow.candidates) for name, r in config.routes.items()}
        return RedisStore(config.store, clock=clock, routes=routes, models=config.models)
    return MemoryStore(clock=clock)


@contextlib.asynccontextmanager
async def running(config: Config, *, seed: int | None = None,
                  clock: Callable[[], float] = time.time) -> AsyncIterator[Gateway]:
    """Build, start and finally tear down a Gateway (the lifespan's body)."""
    rng = np.random.default_rng(seed)
    providers = build_providers(config, rng)
    store = build_store(config, clock)
    costs = CostModel(config.models,
                      litellm_price_table() if any(m.cost is None for m in
                                                   config.models.values()) else {})
    stats = Stats()
    router = Router(config, store, costs, Breakers(config, store, clock=clock), rng=rng,
                    clock=clock)
    learner = Learner(config, store, router, costs, stats, clock=clock)
    gateway = Gateway(config=config, providers=providers, store=store, router=router,
                      learner=learner, costs=costs, stats=stats,
                      auth=KeyCheck(config.server.api_keys),
                      admin=KeyCheck(config.server.admin_keys),
                      redact=Redactor(config.secrets), clock=clock)
    if gateway.auth.open:
        log.warning("no server.api_keys configured: the gateway accepts every caller")
    for provider in providers.values():
        await provider.start()
    await store.start()
    gateway.tasks.append(asyncio.create_task(learner.run(), name="bayesgate-learner"))
    try:
        yield gateway
    finally:
        for task in gateway.tasks:
            task.cancel()
        await asyncio.gather(*gateway.tasks, return_exceptions=True)
        await learner.drain()
        await store.aclose()
        for provider in providers.values():
            await provider.aclose()


def create_app(config: Config, *, seed: int | None = None,
               clock: Callable[[], float] = time.time) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with running(config, seed=seed, clock=clock) as gateway:
            app.state.gateway = gateway
            yield {"gateway": gateway}

    routes = [
        Route("/v1/chat/completions", Endpoint(chat_completions), methods=["POST"]),
        Route("/chat/completions", Endpoint(chat_completions), methods=["POST"]),
        Route("/v1/models", views.models, methods=["GET"]),
        Route("/healthz", views.healthz, methods=["GET"]),
        Route("/readyz", views.readyz, methods=["GET"]),
        Route("/stats", views.stats, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: _not_found, 405: _not_allowed})
    return app


async def _not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": {"message": f"No such endpoint: {request.url.path}",
                                   "type": "invalid_request_error", "param": None,
                                   "code": "not_found"}}, status_code=404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": {"message": f"Method {request.method} is not allowed here.",
                                   "type": "invalid_request_error", "param": None,
                                   "code": "method_not_allowed"}}, status_code=405)
