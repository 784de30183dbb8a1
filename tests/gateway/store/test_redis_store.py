"""RedisStore against a real redis-server: the Lua math, exactly-once flushes, degradation."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from support.redis_server import RedisServer, free_port

from gateway.config import StoreConfig
from gateway.redact import redact_url
from gateway.store import Update, apply
from gateway.store import memory as memory_module
from gateway.store.redis import RedisStore
from policies.posterior import Posterior, Prior

PRIOR = Prior(2.0, 3.0)


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


def _config(url: str, **kw: object) -> StoreConfig:
    return StoreConfig(backend="redis", url=url, prefix="t", **kw)  # type: ignore[arg-type]


@pytest.fixture
async def store(server: RedisServer) -> AsyncIterator[RedisStore]:
    s = RedisStore(_config(server.url, sync_interval_s=0.02), routes={"auto": ["m1"]})
    await s.start()
    yield s
    await s.aclose()


async def _until(predicate, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def _stored(server: RedisServer, route: str, model: str) -> Posterior:
    raw = server.client().hgetall(f"t:{{{route}}}:post:{model}")
    return Posterior(float(raw[b"alpha"]), float(raw[b"beta"]), float(raw[b"updated_at"]))


async def test_lua_update_matches_python_twin(store: RedisStore, server: RedisServer) -> None:
    """Decay on Redis's clock, then add, then clamp: the same numbers as store.apply()."""
    updates = [Update.observation("auto", "m1", 0.9, prior=PRIOR, half_life_s=0.05,
                                  initial=(7.0, 2.0)),  # a cold start: nothing stored yet
               Update.observation("auto", "m1", 0.2, prior=PRIOR, half_life_s=0.05,
                                  max_strength=5.0),  # shrinks the evidence to the cap
               Update("auto", "m1", -50.0, 1.0, PRIOR, 0.05, observations=0)]  # clamps alpha
    before: Posterior | None = None
    for update in updates:
        store.record(update)
        await _until(lambda: store.pending == 0)
        after = _stored(server, "auto", "m1")
        expected = apply(before, update, now=after.updated_at)
        assert after.alpha == pytest.approx(expected.alpha, abs=1e-9)
        assert after.beta == pytest.approx(expected.beta, abs=1e-9)
        before = after
        await asyncio.sleep(0.03)  # a real decay between updates
    assert before is not None and before.alpha == pytest.approx(1e-3)
    assert int(server.client().hget("t:{auto}:post:m1", "observations")) == 2


@pytest.mark.parametrize(("alpha", "beta", "at"), [
    ("nan", "3", "1"), ("inf", "2", "1"), ("5", "-inf", "1"), ("0", "2", "1"),
    ("5", "2", "nan"), ("5", "2", "inf"),
])
@pytest.mark.parametrize("half_life_s", [None, 60.0])
async def test_lua_update_sanitises_broken_values_as_python_does(
        store: RedisStore, server: RedisServer, alpha: str, beta: str, at: str,
        half_life_s: float | None) -> None:
    """A NaN or infinite value in the hash (a bug, a hand edit) used to be carried into every
    later update; the script now starts over from the prior, as policies.posterior does."""
    await _until(lambda: store.status()["state"] == "ok")
    server.client().hset("t:{auto}:post:m1", mapping={"alpha": alpha, "beta": beta,
                                                       "updated_at": at})
    update = Update.observation("auto", "m1", 0.8, prior=PRIOR, half_life_s=half_life_s)
    store.record(update)
    await _until(lambda: store.pending == 0)
    after = _stored(server, "auto", "m1")
    expected = apply(Posterior(float(alpha), float(beta), float(at)), update,
                     now=after.updated_at)
    assert after.alpha == pytest.approx(expected.alpha, abs=1e-9)
    assert after.beta == pytest.approx(expected.beta, abs=1e-9)
    assert math.isfinite(after.updated_at) and after.updated_at > 1e9


async def test_snapshot_follows_redis_and_own_updates(store: RedisStore,
                                                      server: RedisServer) -> None:
    store.record(Update.observation("auto", "m1", 1.0, prior=PRIOR, half_life_s=None))
    # Our own update is visible at once, before any flush.
    assert store.snapshot("auto")["m1"].alpha == pytest.approx(3.0)
    other = RedisStore(_config(server.url, sync_interval_s=0.02), routes={"auto": ["m1"]})
    await other.start()
    try:
        await _until(lambda: "m1" in other.snapshot("auto"))
        assert other.snapshot("auto")["m1"].alpha == pytest.approx(3.0)
        assert other.observations("auto", "m1") == 1
        assert other.status()["state"] == "ok"
    finally:
        await other.aclose()


async def test_resent_batch_is_applied_once(store: RedisStore, server: RedisServer) -> None:
    """A flush whose acknowledgement was lost is sent again; the script skips the repeat."""
    await _until(lambda: store.status()["state"] == "ok")
    update = Update.observation("auto", "m1", 1.0, prior=PRIOR, half_life_s=None)
    store.record(update)
    await _until(lambda: store.pending == 0)
    pending = store._seq
    from gateway.store.redis import _Pending  # the resend path, without a real network cut

    store._queue.append(_Pending(pending, update, 0))
    await _until(lambda: store.pending == 0)
    assert _stored(server, "auto", "m1").alpha == pytest.approx(3.0)
    assert store.status()["duplicates_skipped"] == 1
    store.record(update)
    await _until(lambda: store.pending == 0)
    assert _stored(server, "auto", "m1").alpha == pytest.approx(4.0)


async def test_unreachable_at_start_then_connects() -> None:
    port = free_port()
    s = RedisStore(_config(f"redis://:hunter2@127.0.0.1:{port}/0", sync_interval_s=0.02,
                           max_pending=5), routes={"auto": ["m1"]})
    started = time.monotonic()
    await s.start()
    assert time.monotonic() - started < 0.1  # start() does not wait for Redis
    try:
        for _ in range(8):
            s.record(Update.observation("auto", "m1", 1.0, prior=PRIOR, half_life_s=None))
        await asyncio.sleep(0.1)
        status = s.status()
        assert status["state"] == "degraded" and status["errors"] >= 1
        assert status["pending"] == 5 and status["dropped"] == 3
        assert "hunter2" not in str(status)
        # Routing keeps learning locally meanwhile (the dropped ones included).
        assert s.snapshot("auto")["m1"].alpha == pytest.approx(2.0 + 8)
        assert await s.swap_fingerprint("k", "v1", ttl_s=10) is None
        assert await s.swap_fingerprint("k", "v2", ttl_s=10) == "v1"
        with RedisServer(port=port, password="hunter2") as server:
            await _until(lambda: s.status()["state"] == "ok" and s.pending == 0, 10)
            assert _stored(server, "auto", "m1").alpha == pytest.approx(2.0 + 5)
            assert s.snapshot("auto")["m1"].alpha == pytest.approx(2.0 + 5)
            assert await s.swap_fingerprint("k", "v3", ttl_s=10) is None  # now shared
            assert server.client().pttl("t:fp:k") > 9000
    finally:
        await s.aclose()


async def test_fingerprint_swap_is_shared(store: RedisStore, server: RedisServer) -> None:
    await _until(lambda: store.status()["state"] == "ok")
    assert await store.swap_fingerprint("auto:abc", "first", ttl_s=0.2) is None
    assert await store.swap_fingerprint("auto:abc", "second", ttl_s=0.2) == "first"
    await asyncio.sleep(0.3)
    assert await store.swap_fingerprint("auto:abc", "third", ttl_s=0.2) is None


async def test_circuits_keep_the_latest_until(store: RedisStore, server: RedisServer) -> None:
    until = time.time() + 5
    store.open_circuit("m1", until)
    store.open_circuit("m1", until - 3)  # an earlier end never shortens an open breaker
    assert store.circuits()["m1"] == until
    await _until(lambda: server.client().get("t:{circuits}:m1") is not None)
    assert float(server.client().get("t:{circuits}:m1")) == until
    assert 4000 < server.client().pttl("t:{circuits}:m1") <= 5000


def test_redact_url() -> None:
    assert redact_url("redis://:s3cret@h:6379/0") == "redis://:***@h:6379/0"
    assert redact_url("rediss://user:s3cret@h/0") == "rediss://user:***@h/0"
    assert redact_url("redis://h/0?password=s3cret&db=1") == "redis://h/0?password=***&db=1"
    assert redact_url("redis://h:6379/0") == "redis://h:6379/0"
    assert redact_url("redis://:p@ss-w0rd@h:6379/0") == "redis://:***@h:6379/0"
    assert redact_url("redis://user:a@b/c@h/0") == "redis://user:***@h/0"
    assert redact_url("redis://s3cret@h") == "redis://***@h"
    assert redact_url("unix:///tmp/redis.sock") == "unix:///tmp/redis.sock"


async def test_aclose_always_ends(server: RedisServer) -> None:
    """redis-py can swallow a cancellation inside a pipeline; closing must still end the task."""
    rng = random.Random(4)
    for _ in range(40):
        s = RedisStore(_config(server.url, sync_interval_s=0.01), routes={"auto": ["m1"]})
        await s.start()
        s.record(Update.observation("auto", "m1", 1.0, prior=PRIOR, half_life_s=None))
        await asyncio.sleep(rng.random() * 0.04)
        async with asyncio.timeout(3):
            await s.aclose()


async def test_promotions_reach_every_replica(store: RedisStore, server: RedisServer) -> None:
    other = RedisStore(_config(server.url, sync_interval_s=0.02), routes={"auto": ["m1"]})
    await other.start()
    try:
        store.promote("auto", "new-model")
        assert store.promotions("auto") == {"new-model"}
        await _until(lambda: other.promotions("auto") == {"new-model"})
        assert server.client().smembers("t:{auto}:promoted") == {b"new-model"}
    finally:
        await other.aclose()


async def test_flush_cut_off_by_a_freeze_counts_once(server: RedisServer) -> None:
    """Redis frozen past the socket timeout runs the batch when it wakes; the gateway, which
    never heard back, sends it again: the script skips every repeat."""
    store = RedisStore(_config(server.url, sync_interval_s=0.3), routes={"auto": ["m1"]})
    await store.start()
    try:
        await _until(lambda: store.status()["state"] == "ok")
        await asyncio.sleep(0.05)
        # Right after a sync: the next flush goes out on the pooled connection, into the freeze.
        await _until(lambda: store.status()["last_sync_age_s"] < 0.05)
        server.client().config_resetstat()
        freeze = server.freeze(1.2)
        for _ in range(10):
            store.record(Update.observation("auto", "m1", 1.0, prior=PRIOR, half_life_s=None))
        await _until(lambda: store.status()["state"] == "degraded", 3)
        await asyncio.to_thread(freeze.join)
        await _until(lambda: store.status()["state"] == "ok" and store.pending == 0, 5)
        await asyncio.sleep(0.1)
        # Redis ran each update more than once (the cut-off batch and resends, in any order) ...
        assert server.client().info("commandstats")["cmdstat_evalsha"]["calls"] >= 20
        # ... and applied it once.
        assert _stored(server, "auto", "m1").alpha == pytest.approx(2.0 + 10)
        assert int(server.client().hget("t:{auto}:post:m1", "observations")) == 10
    finally:
        await store.aclose()


async def test_script_reloaded_after_redis_forgets_it(store: RedisStore,
                                                      server: RedisServer) -> None:
    store.record(Update.observation("auto", "m1", 1.0, prior=PRIOR, half_life_s=None))
    await _until(lambda: store.pending == 0)
    server.client().script_flush()
    for _ in range(3):
        store.record(Update.observation("auto", "m1", 1.0, prior=PRIOR, half_life_s=None))
    await _until(lambda: store.pending == 0)
    assert _stored(server, "auto", "m1").alpha == pytest.approx(2.0 + 4)
    assert store.status()["dropped"] == 0


def _observation() -> Update:
    return Update.observation("auto", "m1", 0.75, prior=Prior(), half_life_s=None)


@pytest.mark.parametrize("refusal", ["oom", "readonly"])
async def test_error_replies_that_mean_not_now_keep_the_updates(
        store: RedisStore, server: RedisServer, refusal: str) -> None:
    """OOM (maxmemory) and READONLY (a replica after a fail-over) used to count the updates as
    dropped and erase them, while /readyz said ok: 10 of 10 lost."""
    admin = server.client()
    store.record(_observation())
    await _until(lambda: store.status()["pending"] == 0)  # the hash exists before the refusal
    if refusal == "oom":
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", "1")
    else:
        admin.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))
    try:
        for _ in range(10):
            store.record(_observation())
        await _until(lambda: store.status()["state"] == "degraded")
        await asyncio.sleep(0.2)
        assert store.status()["pending"] == 10 and store.status()["dropped"] == 0
    finally:
        if refusal == "oom":
            admin.config_set("maxmemory", "0")
        else:
            admin.execute_command("REPLICAOF", "NO", "ONE")
    await _until(lambda: store.status()["pending"] == 0 and store.status()["state"] == "ok",
                 timeout_s=10)
    assert int(admin.hget("t:{auto}:post:m1", "observations")) == 11  # none lost, none twice
    assert _stored(server, "auto", "m1").alpha == pytest.approx(1 + 11 * 0.75)
    assert store.status()["dropped"] == 0


async def test_fingerprints_during_an_outage_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local fallback had no cap and rebuilt its dict past 10,000 entries on every swap
    (O(n): 8.65 ms at 50k); it is now the memory store's (O(1) expiry from the oldest end)."""
    monkeypatch.setattr(memory_module, "_MAX_FINGERPRINTS", 1000)
    port = free_port()  # nothing listens: Redis is out from the start
    s = RedisStore(_config(f"redis://127.0.0.1:{port}/0", sync_interval_s=0.02),
                   routes={"auto": ["m1"]})
    await s.start()
    try:
        for i in range(5000):
            await s.swap_fingerprint(f"k{i}", "v", ttl_s=120)
        assert await s.swap_fingerprint("k4999", "w", ttl_s=120) == "v"  # recent ones kept
        assert await s.swap_fingerprint("k0", "w", ttl_s=120) is None  # the oldest went first
        assert len(s._fingerprints.local) <= 1000
        assert isinstance(s._fingerprints.local, memory_module.Fingerprints)
    finally:
        await s.aclose()
