"""What the replies to the redis store's flush mean: applied, skipped, "not now" or "never".

An update refused for now (OOM under maxmemory, READONLY after a fail-over, LOADING, BUSY,
MOVED, CLUSTERDOWN, ...) is kept and sent again; one that can never succeed (a script or type
error) is dropped and counted.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import (
    AskError,
    AuthenticationError,
    BusyLoadingError,
    ClusterDownError,
    MasterDownError,
    MovedError,
    NoScriptError,
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


def describe(exc: BaseException) -> str:
    """For logs and status: the error's type, and its text if it has one."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


APPLIED, DUPLICATE, GAP = 1, 0, -1  # the update script's answers (see lua.py)


@dataclass(slots=True)
class Replies:
    """A flushed batch's replies, sorted (indexes into the batch, in batch order)."""

    again: list[int] = field(default_factory=list)  # sent again, in batch order
    unchained: list[int] = field(default_factory=list)  # ...not waiting for their predecessor
    failed: list[BaseException] = field(default_factory=list)  # never: dropped and counted
    refused: BaseException | None = None  # the first "not now": the sync backs off
    duplicates: int = 0
    noscript: bool = False  # the script must be loaded again first


def sort_replies(keys: Sequence[Hashable], results: Sequence[Any]) -> Replies:
    """`keys[i]` names the hash update i went to. Sent again: what NOSCRIPT refused, what came
    before its predecessor (GAP), and from the first update refused for now (OOM, READONLY,
    MOVED, ...) every later one (those of them that were applied are skipped when resent).
    A GAP whose predecessor is not sent again (dropped, or acknowledged and then lost by a Redis
    that restarted or failed over to a lagging replica) never gets it: it goes unchained."""
    replies = Replies()
    refused_at = next((i for i, r in enumerate(results) if isinstance(r, Exception)
                       and not isinstance(r, NoScriptError) and transient(r)), len(results))
    waiting: set[Hashable] = set()  # hashes with an update sent again earlier in the batch
    for i, (key, result) in enumerate(zip(keys, results, strict=True)):
        replies.noscript |= isinstance(result, NoScriptError)
        replies.duplicates += result == DUPLICATE
        if i >= refused_at or isinstance(result, NoScriptError) or result == GAP:
            if result == GAP and key not in waiting:
                replies.unchained.append(i)
            replies.again.append(i)
            waiting.add(key)
        elif isinstance(result, Exception):
            replies.failed.append(result)
    if refused_at < len(results):
        replies.refused = results[refused_at]
    return replies
