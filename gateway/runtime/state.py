"""What a running gateway holds, in two parts (the shape of a reload).

    Live        built once at start and kept until shutdown: the store, counters, metrics,
                dashboard history, the random generator and the clock, the availability rule
                (breakers and cool-downs), the provider pool (connection pools), the reloader
    Generation  built from one config: keys, beliefs, costs, router, learner, mirror and
                review, and the providers that config uses. A reload builds a new generation
                around the same Live and publishes it in one step; a request runs start to end
                on the generation it began on
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from gateway.auth import KeyCheck
from gateway.config import Config, TelemetryConfig
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
from gateway.routing.costs import CostModel
from gateway.routing.objective import Objectives
from gateway.routing.router import Router
from gateway.runtime.pool import ProviderPool
from gateway.store import Store
from policies.traffic import RequestRate
from providers.base import Provider


class Reloads(Protocol):
    async def reload(self, path: str | None = None) -> bool:
        """Re-read the config (from `path`, else its file); True when the new one is live."""
        ...


@dataclass
class Live:
    """The parts that outlive a reload."""

    store: Store
    stats: Stats
    metrics: Metrics
    history: History
    availability: Availability
    pool: ProviderPool
    rng: np.random.Generator
    clock: Callable[[], float]
    reloader: Reloads | None = None  # runtime.reload.Reloader, once running
    decisions: Decisions = field(default_factory=lambda: Decisions(()))  # signed decision ids
    # the request rates here of the routes, and of their classes (by store.cell(route, cls))
    traffic: dict[str, RequestRate] = field(default_factory=dict)
    tracing: Tracing = field(default_factory=lambda: Tracing(TelemetryConfig()))  # off


@dataclass
class Generation:
    """The parts built from one config, around the Live ones."""

    config: Config
    live: Live
    providers: dict[str, Provider]
    beliefs: Beliefs
    costs: CostModel
    objectives: Objectives
    router: Router
    learner: Learner
    shadow: Shadow
    promotion: Promotion
    auth: KeyCheck
    admin: KeyCheck
    redact: Redactor
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)  # this generation's
    in_flight: int = 0  # requests running on this generation

    # The Live parts a request reaches most, by their short names.
    @property
    def store(self) -> Store:
        return self.live.store

    @property
    def stats(self) -> Stats:
        return self.live.stats

    @property
    def metrics(self) -> Metrics:
        return self.live.metrics

    @property
    def clock(self) -> Callable[[], float]:
        return self.live.clock
