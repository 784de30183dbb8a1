"""Stored documents: the Responses API's responses, kept for `previous_response_id` and
`GET /v1/responses/{id}`, each with a time to live.

A response continuing a chain holds only its own input and output and the ids of the
responses before it, so a chain of n turns costs O(n) bytes, not O(n^2); storing a turn gives
the earlier ones its time to live again, so a chain in use does not expire from its start.

`Documents` keeps them in this process, bounded in bytes (the oldest go first) so the memory
store never grows without limit. `RedisDocuments` keeps them in Redis (so a chain continues on
any replica) with a bounded local copy of what this replica wrote: while Redis is out, a
conversation begun here still continues here. Unlike posteriors, a document is written before
its answer's last byte, so a client that sends the next turn at once finds it anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

log = logging.getLogger("bayesgate.store")

_REDIS_TIMEOUT_S = 0.5
# What an entry costs besides its value (the key, the tuple, the dict slot), in bytes: counted
# against the bound, so that many small documents cannot outgrow it.
_ENTRY_OVERHEAD = 200


class DocumentStore(Protocol):
    async def put(self, key: str, value: bytes, *, ttl_s: float,
                  touch: Sequence[str] = ()) -> None:
        """Keep `value`, and give the documents `touch` names (the earlier responses of its
        chain) the same time to live again; never raises for store trouble (it is logged)."""
        ...

    async def get(self, key: str) -> bytes | None: ...

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Each key's document, or None, in the order given (one round trip)."""
        ...

    async def delete(self, key: str) -> bool:
        """True when something was deleted."""
        ...


class Documents:
    """In this process: at most `max_bytes` (values, keys and a per-entry overhead), the oldest
    dropped first; expired ones dropped as they are met."""

    def __init__(self, *, max_bytes: int, clock: Callable[[], float] = time.time) -> None:
        self._max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._bytes = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    async def put(self, key: str, value: bytes, *, ttl_s: float,
                  touch: Sequence[str] = ()) -> None:
        self.touch(touch, ttl_s=ttl_s)
        self.keep(key, value, ttl_s=ttl_s)

    def touch(self, keys: Sequence[str], *, ttl_s: float) -> None:
        """`keys` live `ttl_s` from now, and count as the newest for the byte bound."""
        expiry = self._clock() + ttl_s
        entries = self._entries
        for key in keys:
            entry = entries.get(key)
            if entry is not None and entry[1] > self._clock():
                entries[key] = (entry[0], expiry)
                entries.move_to_end(key)

    def keep(self, key: str, value: bytes, *, ttl_s: float) -> None:
        if _size(key, value) > self._max_bytes:
            return  # could never fit: keeping it would only evict everything else
        # A copy of exactly its size: orjson's output keeps the buffer it grew (4 KB for a
        # 700-byte response), which made the memory store hold 4.5x what it counted.
        value = memoryview(value).tobytes()
        self._drop(key)
        self._entries[key] = (value, self._clock() + ttl_s)
        self._bytes += _size(key, value)
        now = self._clock()
        entries = self._entries
        # Oldest first: expired ones, then whatever the byte bound needs.
        while entries:
            oldest, (data, expiry) = next(iter(entries.items()))
            if expiry > now and self._bytes <= self._max_bytes:
                break
            self._drop(oldest)

    async def get(self, key: str) -> bytes | None:
        return self.find(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self.find(key) for key in keys]

    def find(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= self._clock():
            self._drop(key)
            return None
        return entry[0]

    async def delete(self, key: str) -> bool:
        return self._drop(key)

    def _drop(self, key: str) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self._bytes -= _size(key, entry[0])
        return True


def _size(key: str, value: bytes) -> int:
    return len(key) + len(value) + _ENTRY_OVERHEAD


class RedisDocuments:
    """In Redis under `prefix:doc:<key>`, with `local` holding what this replica wrote."""

    def __init__(self, client: Callable[[], Any], *, prefix: str, local: Documents) -> None:
        self._client = client  # the store's current redis client, or None before start()
        self._prefix = prefix
        self.local = local
        self.errors = 0

    def _key(self, key: str) -> str:
        return f"{self._prefix}:doc:{key}"

    async def put(self, key: str, value: bytes, *, ttl_s: float,
                  touch: Sequence[str] = ()) -> None:
        self.local.touch(touch, ttl_s=ttl_s)
        self.local.keep(key, value, ttl_s=ttl_s)
        client = self._client()
        if client is None:
            return
        px = max(1, int(ttl_s * 1000))
        try:
            async with asyncio.timeout(_REDIS_TIMEOUT_S):
                if touch:  # not a transaction: in a cluster the keys live on many nodes
                    pipe = client.pipeline(transaction=False)
                    for earlier in touch:
                        pipe.pexpire(self._key(earlier), px)
                    pipe.set(self._key(key), value, px=px)
                    await pipe.execute()
                else:
                    await client.set(self._key(key), value, px=px)
        except Exception as exc:  # any Redis trouble: the local copy serves this replica
            self.errors += 1
            log.warning("document %s kept on this replica only, redis failed: %s",
                        key, type(exc).__name__)

    async def get(self, key: str) -> bytes | None:
        client = self._client()
        if client is not None:
            try:
                async with asyncio.timeout(_REDIS_TIMEOUT_S):
                    value = await client.get(self._key(key))
                return bytes(value) if value is not None else None
            except Exception as exc:
                self.errors += 1
                log.warning("document %s read from this replica, redis failed: %s",
                            key, type(exc).__name__)
        return self.local.find(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        client = self._client()
        if client is not None and keys:
            try:
                async with asyncio.timeout(_REDIS_TIMEOUT_S):
                    pipe = client.pipeline(transaction=False)
                    for key in keys:
                        pipe.get(self._key(key))
                    values = await pipe.execute()
                return [bytes(v) if v is not None else None for v in values]
            except Exception as exc:
                self.errors += 1
                log.warning("%d documents read from this replica, redis failed: %s",
                            len(keys), type(exc).__name__)
        return [self.local.find(key) for key in keys]

    async def delete(self, key: str) -> bool:
        deleted = self.local._drop(key)
        client = self._client()
        if client is None:
            return deleted
        async with asyncio.timeout(_REDIS_TIMEOUT_S):  # the client must hear if it failed
            return bool(await client.delete(self._key(key))) or deleted
