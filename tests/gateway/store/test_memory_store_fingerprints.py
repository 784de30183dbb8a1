"""MemoryStore's retry fingerprints: exact expiry, bounded memory, O(1) per write (found by
bench/soak.py: past 10,000 live fingerprints every write rebuilt the whole dict)."""

from __future__ import annotations

import asyncio
import time

from gateway.store import MemoryStore
from gateway.store import memory as store_module


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_swap_returns_the_live_previous_value_only() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)

    async def run() -> None:
        assert await store.swap_fingerprint("a", "1", ttl_s=10) is None
        clock.now += 5
        assert await store.swap_fingerprint("a", "2", ttl_s=10) == "1"
        clock.now += 9  # 14 s after the first write, 9 after the rewrite: still alive
        assert await store.swap_fingerprint("b", "x", ttl_s=10) is None
        assert await store.swap_fingerprint("a", "3", ttl_s=10) == "2"
        clock.now += 11
        assert await store.swap_fingerprint("a", "4", ttl_s=10) is None

    asyncio.run(run())


def test_many_live_fingerprints_stay_cheap_and_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(store_module, "_MAX_FINGERPRINTS", 30_000)
    clock = Clock()
    store = MemoryStore(clock=clock)

    async def run() -> float:
        began = time.perf_counter()
        for i in range(60_000):
            clock.now += 0.001  # all alive: a 120 s window
            await store.swap_fingerprint(f"k{i}", "v", ttl_s=120)
        return time.perf_counter() - began

    took = asyncio.run(run())
    assert took < 2.0, took  # the old rebuild-past-10,000 took minutes here
    assert len(store._fingerprints) <= 30_000
