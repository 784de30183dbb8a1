"""Client retries: the same conversation arriving again is charged to the earlier answer.

A client that retries is caught by a fingerprint of route + caller + messages kept in the
store for the route's `retry_window_s` (so it works across replicas): when the same
conversation arrives again, the earlier answer did not serve, and its observation (route level
and class) is corrected as if it had needed one retry more. The retry count an SDK declares
(`x-stainless-retry-count`) is only logged: the model that answers a retry is not the one that
failed, and a client could send any number.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import orjson

from gateway.config import Config
from gateway.learning.measure import Exchange
from gateway.routing.beliefs import Beliefs
from gateway.store import Store, Update, scopes
from policies.reward import Outcome, reward

MAX_DECLARED_RETRIES = 10  # a larger declared count is read as this many


def declared_retries(raw: bytes | None) -> int:
    """The value of an `x-stainless-retry-count` header, bounded; 0 when absent or unreadable."""
    if raw is None:
        return 0
    try:
        return max(0, min(int(raw), MAX_DECLARED_RETRIES))
    except ValueError:
        return 0


class RetryDetector:
    def __init__(self, config: Config, store: Store, beliefs: Beliefs, *,
                 clock: Callable[[], float]) -> None:
        self._config = config
        self._store = store
        self._beliefs = beliefs
        self._clock = clock

    async def check_many(self, checks: Sequence[tuple[str, Exchange, float]]) -> None:
        """Record each answer's fingerprint (one store round trip for them all, in order); an
        answer that repeats an earlier one's conversation corrects that one."""
        swaps = []
        for route_name, exchange, score in checks:
            # Keys are not sorted: an SDK retrying a request sends them in the same order.
            digest = hashlib.blake2b(orjson.dumps([route_name, exchange.caller,
                                                   exchange.messages]), digest_size=16)
            value = orjson.dumps([exchange.model, score, exchange.outcome.latency_ms,
                                  exchange.outcome.retries, exchange.cls]).decode()
            swaps.append((f"{route_name}:{digest.hexdigest()}", value,
                          self._config.routes[route_name].retry_window_s))
        found = await self._store.swap_fingerprints(swaps)
        for (route_name, _, _), previous in zip(checks, found, strict=True):
            if previous is not None:
                self._correct(route_name, previous)

    def _correct(self, route_name: str, previous: str) -> None:
        """Move the weight the earlier answer lost from alpha to beta (alpha + beta stays one
        per observation)."""
        route = self._config.routes[route_name]
        try:
            model, old_score, latency_ms, retries, *rest = orjson.loads(previous)
            cls = rest[0] if rest and isinstance(rest[0], str) else ""
        except (orjson.JSONDecodeError, ValueError, TypeError):
            return
        if model not in self._config.models:
            return
        redone = reward(Outcome(True, latency_ms, int(retries) + 1), route.reward)
        delta = max(0.0, float(old_score) - redone)
        if delta <= 0:
            return
        prior = self._beliefs.prior(route_name, model)
        now = self._clock()
        for scope in scopes(route_name, cls):
            half = self._beliefs.half_life(route, now, cls if scope != route_name else "")
            self._store.record(Update(scope, model, -delta, delta, prior, half,
                                      observations=0))
