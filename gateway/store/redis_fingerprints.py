"""Client-retry fingerprints in Redis, shared by the fleet; in a local dict while Redis is out.

A swap is SET key value PX ttl GET: one command stores the new fingerprint and returns the old
one, so two replicas seeing the same conversation agree on which came first. A batch is one
pipeline. The learner awaits it, so it is bounded by a short timeout, after which the batch is
swapped locally (a retry across replicas goes unseen while Redis is out; one on this replica
does not).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from redis.exceptions import RedisError

from gateway.store.lua import Keys
from gateway.store.memory import Fingerprints
from gateway.store.redis_client import Client
from gateway.store.redis_errors import describe

log = logging.getLogger("bayesgate.store")

_TIMEOUT_S = 0.2  # the learner awaits fingerprints: keep its stalls short
_FAILURES = (RedisError, OSError, asyncio.TimeoutError)


class SharedFingerprints:
    def __init__(self, client: Callable[[], Client | None], keys: Keys, *,
                 clock: Callable[[], float]) -> None:
        self._client = client  # None while Redis is out
        self._keys = keys
        self.local = Fingerprints(clock=clock)

    async def swap(self, items: Sequence[tuple[str, str, float]]) -> list[str | None]:
        """One round trip for a batch, swapped in order (a repeat within it sees the earlier)."""
        client = self._client()
        if client is not None:
            try:
                async with asyncio.timeout(_TIMEOUT_S):
                    pipe = client.pipeline(transaction=False)
                    for key, value, ttl_s in items:
                        pipe.set(self._keys.fingerprint(key), value,
                                 px=max(1, int(ttl_s * 1000)), get=True)
                    found = await pipe.execute()
                return [f.decode() if isinstance(f, bytes) else None for f in found]
            except _FAILURES as exc:
                log.debug("fingerprints kept locally, redis failed: %s", describe(exc))
        return [self.local.swap(k, v, ttl_s=t) for k, v, t in items]
