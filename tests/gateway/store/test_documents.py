"""Stored documents (Responses API responses): bounded in memory, shared through a real Redis,
and still served by the replica that wrote them while Redis is out."""

from __future__ import annotations

import asyncio
import time
import tracemalloc

import orjson
from support.clock import Clock
from support.redis_server import RedisServer

from gateway.config import StoreConfig
from gateway.store.documents import Documents
from gateway.store.redis import RedisStore


async def test_documents_expire_and_the_oldest_go_past_the_byte_bound() -> None:
    clock = Clock(1000.0)
    entry = 1 + 40 + 200  # key, value, the per-entry overhead
    docs = Documents(max_bytes=2 * entry + 10, clock=clock)
    await docs.put("a", b"x" * 40, ttl_s=10)
    await docs.put("b", b"y" * 40, ttl_s=10)
    assert await docs.get("a") == b"x" * 40 and docs.size_bytes == 2 * entry
    await docs.put("c", b"z" * 40, ttl_s=10)  # over the bound: "a" goes
    assert await docs.get("a") is None and await docs.get("b") is not None
    assert docs.size_bytes == 2 * entry and len(docs) == 2
    await docs.put("huge", b"h" * 500, ttl_s=10)  # could never fit: not kept, nothing evicted
    assert await docs.get("huge") is None and len(docs) == 2
    clock.t += 11
    assert await docs.get("b") is None and await docs.get("c") is None
    assert docs.size_bytes == 0
    await docs.put("d", b"1", ttl_s=5)
    assert await docs.delete("d") is True and await docs.delete("d") is False


async def _connected(store: RedisStore) -> None:
    deadline = time.monotonic() + 5
    while store.status()["state"] != "ok":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


async def test_touched_documents_live_on_and_count_as_the_newest() -> None:
    clock = Clock(1000.0)
    docs = Documents(max_bytes=3 * (200 + 10 + 100), clock=clock)
    for key in ("resp_1", "resp_2", "resp_3"):
        docs.keep(key, b"x" * 100, ttl_s=10)
    clock.t += 8
    await docs.put("resp_4", b"y" * 100, ttl_s=10, touch=["resp_1", "resp_unknown"])
    assert await docs.get_many(["resp_1", "resp_2", "resp_3", "resp_4"]) == [
        b"x" * 100, None, b"x" * 100, b"y" * 100]  # resp_2 was the oldest left: evicted
    clock.t += 5
    assert docs.find("resp_1") == b"x" * 100 and docs.find("resp_3") is None  # 13 s old


async def test_the_byte_bound_is_what_the_documents_really_hold() -> None:
    # orjson's output keeps the buffer it grew: kept as it is, 16 MB counted were 70 MB held.
    docs = Documents(max_bytes=2_000_000)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(6000):
            value = orjson.dumps({"id": f"resp_{i:024x}", "output": [{"text": "x" * 600}]})
            await docs.put(f"resp_{i:024x}", value, ttl_s=60)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert docs.size_bytes <= 2_000_000 and len(docs) < 6000
    assert held < 1.5 * docs.size_bytes, (held, docs.size_bytes)


async def test_redis_documents_are_shared_and_survive_an_outage_locally() -> None:
    with RedisServer() as server:
        config = StoreConfig(backend="redis", url=server.url, prefix="d", sync_interval_s=0.02)
        one, two = (RedisStore(config, routes={"auto": ["m1"]}) for _ in range(2))
        await one.start()
        await two.start()
        try:
            await _connected(one)
            await _connected(two)
            await one.documents.put("resp_1", b"doc", ttl_s=60)
            assert await two.documents.get("resp_1") == b"doc"  # the other replica reads it
            assert await two.documents.delete("resp_1") is True
            assert await one.documents.get("resp_1") is None  # deleted for the fleet
            # A chain's next turn renews the earlier ones; they are read back in one trip.
            await one.documents.put("resp_a", b"a", ttl_s=5)
            await two.documents.put("resp_b", b"b", ttl_s=600, touch=["resp_a", "resp_gone"])
            assert await one._client.pttl("d:doc:resp_a") > 300_000
            assert await one.documents.get_many(["resp_a", "resp_gone", "resp_b"]) == [
                b"a", None, b"b"]
            await one.documents.put("resp_2", b"kept", ttl_s=60)
            server.stop()
            deadline = time.monotonic() + 5
            while one.status()["state"] == "ok":
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            began = time.monotonic()
            assert await one.documents.get("resp_2") == b"kept"  # from the local copy
            assert await two.documents.get("resp_2") is None  # never wrote it
            assert time.monotonic() - began < 0.2  # degraded: no wait on a dead Redis
        finally:
            await one.aclose()
            await two.aclose()
