"""The embedded default store: one process, nothing shared, nothing persisted."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gateway.store.base import Update, apply
from gateway.store.documents import Documents
from policies.objective import Ledger
from policies.posterior import Posterior

_MAX_FINGERPRINTS = 200_000  # a memory bound: ~1,600 req/s in a 120 s window


class Fingerprints:
    """Values with a time to live, bounded: O(1) per swap (expired and excess entries leave
    from the oldest end). The memory store's fingerprints, and the redis store's while Redis
    is out."""

    def __init__(self, *, clock: Callable[[], float], max_entries: int | None = None) -> None:
        self._clock = clock
        self._max = max_entries or _MAX_FINGERPRINTS
        self._values: dict[str, tuple[str, float]] = {}
        self._expiries: deque[tuple[float, str]] = deque()  # in the order they were written

    def __len__(self) -> int:
        return len(self._values)

    def swap(self, key: str, value: str, *, ttl_s: float) -> str | None:
        now = self._clock()
        # Expire from the oldest end, O(1) per write. (Rebuilding the dict whenever it held
        # over 10,000 entries cost O(n) per request once ~80 req/s kept that many alive in a
        # 120 s window: bench/soak.py's throughput fell from 530 to 140 req/s in 2.5 min.)
        expiries, values = self._expiries, self._values
        while expiries and (expiries[0][0] <= now or len(expiries) >= self._max):
            expiry, old = expiries.popleft()
            entry = values.get(old)
            if entry is not None and entry[1] == expiry:  # not rewritten since
                del values[old]
        previous = values.get(key)
        values[key] = (value, now + ttl_s)
        expiries.append((now + ttl_s, key))
        return previous[0] if previous and previous[1] > now else None


class MemoryStore:
    """The embedded default: one process, nothing shared, nothing persisted."""

    def __init__(self, *, clock: Callable[[], float] = time.time,
                 documents_max_bytes: int = 16_000_000) -> None:
        self._clock = clock
        self.documents = Documents(max_bytes=documents_max_bytes, clock=clock)
        self._posteriors: dict[str, dict[str, Posterior]] = {}
        self._counts: dict[tuple[str, str], int] = {}
        self._reset_at: dict[tuple[str, str], float] = {}
        self._fingerprints = Fingerprints(clock=clock)
        self._circuits: dict[str, float] = {}
        self._promotions: dict[str, frozenset[str]] = {}
        self._ledger = Ledger()

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def snapshot(self, route: str) -> Mapping[str, Posterior]:
        return self._posteriors.get(route, {})

    def observations(self, route: str, model: str) -> int:
        return self._counts.get((route, model), 0)

    def record(self, update: Update) -> None:
        models = self._posteriors.setdefault(update.route, {})
        key = (update.route, update.model)
        now = self._clock()
        if update.reset_since is not None:
            last = self._reset_at.get(key)
            if last is not None and last >= update.reset_since:
                return  # reset already, for the same recovery
            self._reset_at[key] = now
        models[update.model] = apply(models.get(update.model), update, now=now)
        self._counts[key] = self._counts.get(key, 0) + update.observations

    async def swap_fingerprint(self, key: str, value: str, *, ttl_s: float) -> str | None:
        return self._fingerprints.swap(key, value, ttl_s=ttl_s)

    async def swap_fingerprints(self, items: Sequence[tuple[str, str, float]]
                                ) -> list[str | None]:
        return [self._fingerprints.swap(k, v, ttl_s=t) for k, v, t in items]

    def circuits(self) -> Mapping[str, float]:
        return self._circuits

    def open_circuit(self, model: str, until: float) -> None:
        self._circuits[model] = max(until, self._circuits.get(model, 0.0))

    def promotions(self, route: str) -> frozenset[str]:
        return self._promotions.get(route, frozenset())

    def promote(self, route: str, model: str) -> None:
        self._promotions[route] = self.promotions(route) | {model}

    def spend(self, route: str, usd: float, *, period_s: float, now: float) -> None:
        self._ledger.add(route, usd, period_s=period_s, now=now)

    def spent(self, route: str, *, period_s: float, now: float) -> float:
        return self._ledger.spent(route, period_s=period_s, now=now)

    def status(self) -> dict[str, Any]:
        return {"backend": "memory", "state": "ok",
                "documents": len(self.documents), "documents_bytes": self.documents.size_bytes}
