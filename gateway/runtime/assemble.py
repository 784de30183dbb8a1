"""Building, starting and stopping the gateway's parts (the lifespan's body).

`running()` builds the Live parts and the first Generation, starts them, and at the end stops
them in order: the reloader retires every generation (its learner learns what it queued, its
mirror's copies are cancelled, its providers are released), then the store closes. Everything
long-lived is created here and torn down here: no module-level state anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

import numpy as np

from gateway.auth import KeyCheck
from gateway.config import Config
from gateway.learning.decisions import Decisions
from gateway.learning.learner import Learner
from gateway.learning.promotion import Promotion
from gateway.learning.shadow import Shadow
from gateway.ops.history import History
from gateway.ops.metrics import Metrics
from gateway.ops.stats import Stats
from gateway.ops.tracing import Tracing
from gateway.redact import Redactor
from gateway.routing.availability import Availability
from gateway.routing.beliefs import Beliefs
from gateway.routing.context import Classifier
from gateway.routing.costs import CostModel, litellm_price_table
from gateway.routing.objective import Objectives
from gateway.routing.router import Router
from gateway.runtime.pool import ProviderPool
from gateway.runtime.reload import Reloader
from gateway.runtime.state import Generation, Live
from gateway.store import MemoryStore, Store, cell

log = logging.getLogger("bayesgate")


def build_store(config: Config, clock: Callable[[], float]) -> Store:
    if config.store.backend == "redis":
        from gateway.store.redis import RedisStore

        # What to read on the first sync: a restarted replica starts from the fleet's state.
        routes: dict[str, tuple[str, ...]] = {}
        for name, r in config.routes.items():
            models = (*r.candidates, *r.shadow.candidates)
            routes[name] = models
            for cls in Classifier(r.classes).names:
                routes[cell(name, cls)] = models
        return RedisStore(config.store, clock=clock, routes=routes, models=config.models)
    return MemoryStore(clock=clock, documents_max_bytes=config.store.documents_max_bytes)


def build_live(config: Config, *, store: Store, rng: np.random.Generator,
               clock: Callable[[], float]) -> Live:
    # The fleet's shared secrets sign decision ids, so feedback is checked on any replica.
    secrets = (*config.secrets, config.store.url) if config.store.backend == "redis" \
        else config.secrets
    return Live(store=store, stats=Stats(), metrics=Metrics(), decisions=Decisions(secrets),
                history=History(config.dashboard), availability=Availability(store, clock=clock),
                pool=ProviderPool(rng), rng=rng, clock=clock,
                tracing=Tracing(config.telemetry))


def assemble(config: Config, base: Generation | None = None, *,
             live: Live | None = None) -> Generation:
    """A new generation for `config` around the Live parts of `base` (a reload) or `live`
    (the first generation)."""
    if base is not None:
        live = base.live
    assert live is not None, "assemble() needs the Live parts or a generation to reload"
    store, clock = live.store, live.clock
    live.availability.keep_only(config.models)  # cool-downs of removed models are forgotten
    costs = CostModel(config.models,
                      litellm_price_table() if any(m.cost is None for m in
                                                   config.models.values()) else {})
    beliefs = Beliefs(config, store, live.traffic)
    objectives = Objectives(config, store, clock=clock,
                            previous=base.objectives if base is not None else None)
    router = Router(config, beliefs=beliefs, costs=costs, availability=live.availability,
                    store=store, rng=live.rng, clock=clock, objectives=objectives)
    learner = Learner(config, store, beliefs, costs, live.stats, clock=clock,
                      metrics=live.metrics, objectives=objectives)
    providers = live.pool.acquire(config)
    # A child generator: mirroring draws never shift the router's sequence of choices.
    shadow = Shadow(config, beliefs=beliefs, availability=live.availability,
                    providers=providers, submit=learner.submit, costs=costs, store=store,
                    rng=live.rng.spawn(1)[0], clock=clock,
                    previous=base.shadow if base is not None else None, tracing=live.tracing,
                    spent=objectives.spent)
    promotion = Promotion(config, beliefs=beliefs, costs=costs, store=store,
                          live=router.candidates, clock=clock,
                          previous=base.promotion if base is not None else None)
    return Generation(config=config, live=live, providers=providers, beliefs=beliefs,
                      costs=costs, objectives=objectives, router=router, learner=learner,
                      shadow=shadow,
                      promotion=promotion, auth=KeyCheck(config.server.api_keys),
                      admin=KeyCheck(config.server.admin_access, basic=True),
                      redact=Redactor(config.secrets))


async def start(generation: Generation) -> None:
    """Start a generation's providers, learner and promotion review."""
    if generation.auth.open:
        log.warning("no server.api_keys configured: the gateway accepts every caller")
    await generation.live.pool.start(generation.providers)
    generation.tasks.append(asyncio.create_task(generation.learner.run(),
                                                name="bayesgate-learner"))
    generation.tasks.append(asyncio.create_task(generation.promotion.run(),
                                                name="bayesgate-shadow-review"))


async def stop(generation: Generation) -> None:
    """Stop a generation: its learner learns what is queued, its providers are released."""
    for task in generation.tasks:
        task.cancel()
    await asyncio.gather(*generation.tasks, return_exceptions=True)
    await generation.shadow.aclose()  # before the providers close their sessions under copies
    await generation.learner.drain()
    await generation.live.pool.release(generation.providers)


@contextlib.asynccontextmanager
async def running(config: Config, *, seed: int | None = None,
                  clock: Callable[[], float] = time.time,
                  publish: Callable[[Generation], None] | None = None,
                  ) -> AsyncIterator[Generation]:
    """Build, start and finally tear down a gateway; `publish` is called with each new
    generation a reload makes."""
    store = build_store(config, clock)
    live = build_live(config, store=store, rng=np.random.default_rng(seed), clock=clock)
    generation = assemble(config, live=live)
    reloader = Reloader(generation, build=assemble, start=start, stop=stop, publish=publish)
    live.reloader = reloader
    await store.start()
    await start(generation)
    reloader.install_signal_handler()
    try:
        yield generation
    finally:
        reloader.remove_signal_handler()
        await reloader.aclose()  # stops the current generation and any still retiring
        await store.aclose()
        await asyncio.to_thread(live.tracing.shutdown)  # the last spans out
