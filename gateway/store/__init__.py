"""Where posteriors, breaker openings, promotions and retry fingerprints live.

    base     the Store protocol and the Update every store applies (`apply`, math in policies)
    memory   the embedded default: one process, nothing shared
    redis    replicas learn as one through Redis; the request path never waits on it
    lua      the Redis key layout and the scripts (the Lua twin of `apply`)

May import: `gateway.config`, `gateway.redact`, `policies`. The request path only calls the
non-blocking half of the protocol (snapshot, record, circuits, promotions).
"""

from gateway.store.base import Store, Update, apply, cell, scopes
from gateway.store.memory import MemoryStore

__all__ = ["MemoryStore", "Store", "Update", "apply", "cell", "scopes"]
