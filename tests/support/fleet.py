"""Traffic through real gateways sharing a store, and what the fleet learned from it."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import openai

from support.gateway import GatewayThread


class Traffic:
    """Sequential requests through one gateway (routes in turn), counting who answered each
    route and every client-visible error."""

    def __init__(self, gw: GatewayThread, *, tag: str, routes: Sequence[str] = ("auto",)) -> None:
        self.client = openai.OpenAI(base_url=gw.base_url, api_key="none", max_retries=0,
                                    timeout=10)
        self.tag = tag
        self._routes = itertools.cycle(routes)
        self.answered: Counter[str] = Counter()  # model -> answers, all routes
        self.by_route: dict[str, Counter[str]] = {r: Counter() for r in routes}
        self.latencies_ms: list[float] = []
        self.errors: list[str] = []
        self.sent = 0

    def one(self) -> None:
        self.sent += 1
        route = next(self._routes)
        started = time.perf_counter()
        try:
            answer = self.client.chat.completions.create(
                model=route, messages=[{"role": "user", "content": f"{self.tag} {self.sent}"}])
        except openai.OpenAIError as exc:
            self.errors.append(repr(exc))
            return
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        self.answered[answer.model] += 1
        self.by_route[route][answer.model] += 1

    def run(self, n: int) -> Traffic:
        for _ in range(n):
            self.one()
        return self

    def until(self, stop: threading.Event) -> Traffic:
        while not stop.is_set():
            self.one()
        return self


def in_threads(*jobs: Callable[[], Any]) -> None:
    """Run the jobs side by side; an exception in one is raised here."""
    failures: list[BaseException] = []

    def guarded(job: Callable[[], Any]) -> None:
        try:
            job()
        except BaseException as exc:
            failures.append(exc)
    threads = [threading.Thread(target=guarded, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if failures:
        raise failures[0]


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout_s, "condition not reached in time"
        time.sleep(0.005)
    return time.monotonic() - started


def totals(gw: GatewayThread, route: str = "auto") -> dict[str, tuple[float, float, int]]:
    """model -> (alpha, beta, observations) as this replica sees the route."""
    async def read() -> dict[str, tuple[float, float, int]]:
        store = gw.gateway.store
        return {m: (p.alpha, p.beta, store.observations(route, m))
                for m, p in store.snapshot(route).items()}
    return gw.call(read())  # type: ignore[no-any-return]


def synced(gateways: list[GatewayThread], timeout_s: float = 15.0) -> None:
    """Learned, flushed, and re-read by every replica."""
    for gw in gateways:
        gw.settle()
    wait_until(lambda: all(gw.gateway.store.status()["pending"] == 0
                           and gw.gateway.store.status()["state"] == "ok"
                           for gw in gateways), timeout_s)
    time.sleep(2 * gateways[0].gateway.config.store.sync_interval_s + 0.05)
