"""One replica's updates reach a hash in order, so each counts exactly once: the update script
refuses one that would overtake its predecessor (GAP), and a GAP whose predecessor will never
come is sent again unchained. Against a real redis-server where Redis takes part."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.exceptions import NoScriptError, OutOfMemoryError, ResponseError
from support.redis_server import RedisServer

from gateway.config import StoreConfig
from gateway.store import Update
from gateway.store.lua import UPDATE, Keys, update_call
from gateway.store.redis import RedisStore
from gateway.store.redis_errors import APPLIED, DUPLICATE, GAP, sort_replies
from policies.posterior import Prior


def _update() -> Update:
    return Update.observation("auto", "m1", 1.0, prior=Prior(), half_life_s=None)


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


def test_an_update_cannot_overtake_its_predecessor(server: RedisServer) -> None:
    """What lost 2 of 240 updates in a cluster fail-over: the first update of a hash refused
    (NOSCRIPT on the promoted replica), a later one applied once another gateway had loaded the
    script, and the first then skipped as already seen."""
    client, keys = server.client(), Keys("t")

    def send(seq: int, prev: int) -> int:
        call = update_call(keys, _update(), replica="r1", seq=seq, prev=prev)
        return int(client.eval(UPDATE, *call))
    assert send(7, 0) == APPLIED  # the replica's first update of this hash
    assert send(12, 9) == GAP  # 9 is not applied: 12 waits for it
    assert int(client.hget("t:{auto}:post:m1", "observations")) == 1
    assert send(9, 7) == APPLIED
    assert send(12, 9) == APPLIED
    assert send(12, 9) == DUPLICATE
    assert int(client.hget("t:{auto}:post:m1", "observations")) == 3
    assert send(20, 0) == APPLIED  # unchained: applied whatever came before


def test_sort_replies() -> None:
    noscript, oom = NoScriptError("NOSCRIPT"), OutOfMemoryError("OOM")
    # The predecessor refused by NOSCRIPT is sent again, and its successor after it.
    r = sort_replies(["a", "b", "a"], [noscript, APPLIED, GAP])
    assert (r.again, r.unchained, r.noscript, r.refused) == ([0, 2], [], True, None)
    # A GAP with no predecessor in the batch: it was dropped, or acknowledged and then lost.
    r = sort_replies(["a", "a"], [GAP, GAP])
    assert (r.again, r.unchained) == ([0, 1], [0])
    # From the first "not now" on, all is sent again (what was applied is skipped then).
    r = sort_replies(["a", "b", "a", "b"], [APPLIED, oom, APPLIED, DUPLICATE])
    assert (r.again, r.refused, r.duplicates, r.failed) == ([1, 2, 3], oom, 1, [])
    # An update that can never succeed is dropped: its successor goes unchained.
    never = ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")
    r = sort_replies(["a", "a"], [never, GAP])
    assert (r.again, r.unchained, r.failed) == ([1], [1], [never])


@pytest.fixture
async def store(server: RedisServer) -> AsyncIterator[RedisStore]:
    config = StoreConfig(backend="redis", url=server.url, prefix="t", sync_interval_s=0.02)
    s = RedisStore(config, routes={"auto": ["m1"]})
    await s.start()
    yield s
    await s.aclose()


async def _drained(store: RedisStore) -> None:
    deadline = time.monotonic() + 5
    while store.pending or store.status()["state"] != "ok":
        assert time.monotonic() < deadline, store.status()
        await asyncio.sleep(0.01)


async def test_a_predecessor_lost_by_redis_does_not_block_the_hash(
        store: RedisStore, server: RedisServer) -> None:
    """A fail-over to a replica that lagged (no replica_acks) forgets acknowledged updates: the
    next update's predecessor is never coming, and it must not wait for it forever."""
    for _ in range(3):
        store.record(_update())
    await _drained(store)
    admin = server.client()
    seen = next(iter(admin.scan_iter("t:{auto}:seen:m1:*")))
    admin.set(seen, 1)  # the promoted replica had only the first of the three
    admin.hset("t:{auto}:post:m1", "observations", 1)
    for _ in range(2):
        store.record(_update())
    await _drained(store)
    assert int(admin.hget("t:{auto}:post:m1", "observations")) == 3  # 1 kept + 2 new
    assert store.status()["dropped"] == 0
