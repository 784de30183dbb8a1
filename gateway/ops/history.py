"""The dashboard's time series: a bounded series of per-route points (share, posterior mean,
recent reward and latency), sampled from the /stats document by a task the lifespan owns, so
a page opened late still shows the recent past."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from gateway.config import DashboardConfig

log = logging.getLogger("bayesgate.dashboard")

# (the time of the sample, the /stats document of that moment)
Sampler = Callable[[], tuple[float, dict[str, Any]]]


class History:
    def __init__(self, config: DashboardConfig) -> None:
        self.interval_s = config.history_interval_s
        self.points: deque[dict[str, Any]] = deque(maxlen=config.history_points)

    async def run(self, sample: Sampler) -> None:
        """Take a point every `interval_s` until cancelled; a failed sample is logged."""
        while True:
            try:
                self.add(*sample())
            except Exception:
                log.exception("sampling the dashboard history failed")
            await asyncio.sleep(self.interval_s)

    def add(self, t: float, doc: dict[str, Any]) -> None:
        routes = {}
        for name, route in doc["routes"].items():
            routes[name] = {model: {"share": m["share"], "mean": m["mean"],
                                    "reward": m["reward_recent"], "p50": m["latency_ms"]["p50"],
                                    "selections": m["selections"]}
                            for model, m in route["models"].items()}
        self.points.append({"t": round(t, 3), "routes": routes})

    def since(self, t: float) -> list[dict[str, Any]]:
        return [p for p in self.points if p["t"] > t]
