"""Which Redis error replies mean "not now" rather than "never", for the redis store's flush.

An update refused for now (OOM under maxmemory, READONLY after a fail-over, LOADING, BUSY,
MOVED, CLUSTERDOWN, ...) is kept and sent again; one that can never succeed (a script or type
error) is dropped and counted.
"""

from __future__ import annotations

import asyncio
import re

from redis.exceptions import (
    AskError,
    AuthenticationError,
    BusyLoadingError,
    ClusterDownError,
    MasterDownError,
    MovedError,
    OutOfMemoryError,
    ReadOnlyError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Error replies that say "not now" rather than "never": the update is kept and sent again.
_TRANSIENT = frozenset({"OOM", "READONLY", "MOVED", "ASK", "LOADING", "BUSY", "CLUSTERDOWN",
                        "TRYAGAIN", "MASTERDOWN", "NOREPLICAS", "NOAUTH", "WRONGPASS"})


_TRANSIENT_TYPES = (OutOfMemoryError, ReadOnlyError, BusyLoadingError, MovedError, AskError,
                    TryAgainError, ClusterDownError, MasterDownError, AuthenticationError,
                    RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)


# Redis before 7 runs the script and reports a refused call inside it as "Error running script
# (call to f_...): @user_script:8: -OOM command not allowed ..." (the first write of the script
# failed, so nothing of it was applied).
_IN_SCRIPT = re.compile(r"(?:^|[\s:]-?)(" + "|".join(sorted(_TRANSIENT)) + r")\b")


def transient(exc: BaseException) -> bool:
    """redis-py turns most error codes into exception types (and drops the code from the
    message); the rest (BUSY, NOREPLICAS, ...) arrive as a ResponseError starting with it, or,
    from inside the update script on Redis 6, after the script's name."""
    if isinstance(exc, _TRANSIENT_TYPES):
        return True
    text = str(exc)
    words = text.split(maxsplit=1)
    if words and words[0].upper() in _TRANSIENT:
        return True
    return text.startswith("Error running script") and _IN_SCRIPT.search(text) is not None


