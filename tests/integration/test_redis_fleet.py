"""Replicas learn as one (issue 4): real uvicorn gateways sharing a real redis-server.

Each gateway runs in its own thread and event loop with its own RedisStore; the client is the
official `openai` SDK. The measured figures are printed (`pytest -s` shows them).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from support.fleet import Traffic, in_threads, synced, totals, wait_until
from support.gateway import GatewayThread
from support.redis_server import RedisServer, free_port

from gateway.store import Update

MODELS = ("m1", "m2", "m3")
PRIOR_TOTAL = 2.0  # the uniform prior: alpha + beta = 1 + 1


def _config(url: str, *, sync_interval_s: float = 0.25) -> str:
    models = "\n".join(
        f"  {m}: {{provider: sim, cost: {{input_per_mtok: {i + 1}, output_per_mtok: {i + 1}}},"
        f" simulate: {{latency_ms: {i + 2}, jitter_ms: 1, output_tokens: 5}}}}"
        for i, m in enumerate(MODELS))
    return f"""
store: {{backend: redis, url: "{url}", prefix: fleet, sync_interval_s: {sync_interval_s}}}
providers: {{sim: {{type: simulated}}}}
models:
{models}
routes:
  auto: {{candidates: [{", ".join(MODELS)}], decay: {{half_life_s: null}},
          learning: {{caller_share: 1}}}}  # one caller sends everything here
"""


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer(persist=True) as server:
        yield server


@pytest.fixture
def fleet(redis_server: RedisServer) -> Iterator[list[GatewayThread]]:
    gateways = [GatewayThread(_config(redis_server.url), seed=s).start() for s in (1, 2)]
    yield gateways
    for gw in gateways:
        gw.stop()


def _assert_totals(gateways: list[GatewayThread], answered: Counter[str]) -> None:
    views = [totals(gw) for gw in gateways]
    print(f"\n  answered per model: {dict(sorted(answered.items()))}")
    for i, view in enumerate(views):
        print(f"  replica {i}: " + ", ".join(
            f"{m} alpha+beta={a + b:.6f} obs={n}" for m, (a, b, n) in sorted(view.items())))
    for model in MODELS:
        expected = PRIOR_TOTAL + answered[model]
        for view in views:
            alpha, beta, observations = view.get(model, (1.0, 1.0, 0))
            assert alpha + beta == pytest.approx(expected, abs=1e-6), (model, view)
            assert observations == answered[model]
        assert views[0].get(model) == pytest.approx(views[1].get(model), abs=1e-9)


def test_two_replicas_learn_as_one(fleet: list[GatewayThread]) -> None:
    a, b = (Traffic(gw, tag=f"replica-{i}") for i, gw in enumerate(fleet))
    in_threads(lambda: a.run(500), lambda: b.run(500))
    assert a.errors == b.errors == []
    synced(fleet)
    answered = a.answered + b.answered
    assert sum(answered.values()) == 1000
    _assert_totals(fleet, answered)


def test_redis_killed_for_five_seconds(fleet: list[GatewayThread],
                                       redis_server: RedisServer) -> None:
    stop = threading.Event()
    a, b = (Traffic(gw, tag=f"replica-{i}") for i, gw in enumerate(fleet))

    def outage() -> None:
        time.sleep(1.0)
        redis_server.kill()
        time.sleep(1.0)
        down = [gw.gateway.store.status() for gw in fleet]
        time.sleep(4.0)
        redis_server.start()  # the same directory: the AOF brings back what was acknowledged
        recovered = wait_until(lambda: all(gw.gateway.store.status()["state"] == "ok"
                                      for gw in fleet))
        time.sleep(1.0)
        stop.set()
        print(f"\n  while down: {[(s['state'], s['pending']) for s in down]}; "
              f"recovered {recovered:.2f} s after the restart")
        assert all(s["state"] == "degraded" and s["pending"] > 0 for s in down)

    in_threads(lambda: a.until(stop), lambda: b.until(stop), outage)
    assert a.errors == b.errors == []
    synced(fleet)
    answered = a.answered + b.answered
    print(f"  requests: {a.sent + b.sent}, client-visible errors: 0")
    _assert_totals(fleet, answered)


def test_frozen_redis_does_not_slow_requests(fleet: list[GatewayThread],
                                             redis_server: RedisServer) -> None:
    gw = fleet[0]
    normal = Traffic(gw, tag="normal").run(300)
    synced(fleet)
    frozen = Traffic(gw, tag="frozen")
    errors_before = gw.gateway.store.status()["errors"]
    freeze = redis_server.freeze(2)
    time.sleep(0.05)
    deadline = time.monotonic() + 1.8
    while time.monotonic() < deadline:
        frozen.one()
    freeze.join()  # raises if the server did not really freeze for 2 s
    assert gw.gateway.store.status()["errors"] > errors_before  # the sync did hit the freeze
    assert normal.errors == frozen.errors == []
    figures = {}
    for name, run in (("normal", normal), ("frozen", frozen)):
        lat = sorted(run.latencies_ms)
        figures[name] = (statistics.median(lat), lat[int(len(lat) * 0.99) - 1], len(lat))
    print("\n  latency ms (p50, p99, n): "
          + ", ".join(f"{k} {v[0]:.2f} / {v[1]:.2f} / {v[2]}" for k, v in figures.items()))
    print(f"  store during the freeze: {gw.gateway.store.status()}")
    assert figures["frozen"][1] < figures["normal"][1] + 50
    assert figures["frozen"][0] < figures["normal"][0] + 5
    # Flushes cut off by the socket timeout were executed by Redis when it woke up and sent
    # again by the gateway: each still counts once.
    synced(fleet)
    print(f"  resent updates Redis had applied (skipped): "
          f"{[gw.gateway.store.status()['duplicates_skipped'] for gw in fleet]}")
    _assert_totals(fleet, normal.answered + frozen.answered)


def test_breaker_opened_on_one_replica_reaches_the_other(fleet: list[GatewayThread]) -> None:
    a, b = fleet
    synced(fleet)
    times = []
    for model in MODELS:
        async def open_on_a(model: str = model) -> None:
            a.gateway.store.open_circuit(model, time.time() + 30)
        started = time.monotonic()
        a.call(open_on_a())
        wait_until(lambda m=model: m in b.gateway.store.circuits(), 2.0)
        times.append(time.monotonic() - started)
        time.sleep(0.1)
    print(f"\n  breaker propagation A -> B (s): {[round(t, 3) for t in times]}")
    assert max(times) < 1.0
    assert b.gateway.store.circuits()["m1"] > time.time() + 25


def test_restarted_replica_starts_from_the_fleet(redis_server: RedisServer) -> None:
    first = GatewayThread(_config(redis_server.url)).start()
    try:
        traffic = Traffic(first, tag="first").run(100)
        synced([first])
        learned = totals(first)
    finally:
        first.stop()
    started = time.monotonic()
    second = GatewayThread(_config(redis_server.url)).start()
    try:
        waited = wait_until(lambda: second.gateway.store.status()["state"] == "ok", 5)
        print(f"\n  restarted replica in sync {time.monotonic() - started:.3f} s after start "
              f"({waited:.3f} s after serving)")
        restored = totals(second)
        assert restored.keys() == learned.keys()
        for model, values in learned.items():
            assert restored[model] == pytest.approx(values, abs=1e-9)
        assert sum(n for _, _, n in learned.values()) == 100 == sum(traffic.answered.values())
    finally:
        second.stop()


def test_unreachable_redis_at_start_degrades_then_connects() -> None:
    port = free_port()
    gw = GatewayThread(_config(f"redis://:pw-123456@127.0.0.1:{port}/0",
                               sync_interval_s=0.05)).start()
    try:
        ready = httpx.get(f"{gw.url}/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert "pw-123456" not in ready.text
        traffic = Traffic(gw, tag="early").run(20)
        assert traffic.errors == []
        gw.settle()
        assert gw.gateway.store.status()["pending"] == 2 * 20  # the route and the class, each
        with RedisServer(port=port, password="pw-123456") as server:
            wait_until(lambda: httpx.get(f"{gw.url}/readyz").json()["status"] == "ready")
            wait_until(lambda: gw.gateway.store.status()["pending"] == 0)
            stored = sum(int(server.client().hget(f"fleet:{{auto}}:post:{m}", "observations")
                             or 0) for m in MODELS)
            assert stored == 20
            stats = httpx.get(f"{gw.url}/stats").json()["store"]
            assert stats["backend"] == "redis" and stats["state"] == "ok"
    finally:
        gw.stop()


def test_replicas_closing_a_breaker_together_reset_the_model_once(
        fleet: list[GatewayThread], redis_server: RedisServer) -> None:
    """The reset after an outage used to be a delta from each replica's view: two replicas
    closing together sent it twice, and (20, 28) became (0.001, 0.001)."""
    a, b = fleet
    prior = a.gateway.beliefs.prior("auto", "m1")

    async def outage() -> None:
        for i in range(48):
            a.gateway.store.record(Update.observation("auto", "m1", 0.4 if i % 2 else 0.45,
                                                      prior=prior, half_life_s=None))
    a.call(outage())
    synced(fleet)
    before = b.gateway.store.snapshot("auto")["m1"]
    assert before.alpha > 15 and before.beta > 20

    async def recovered(gw: GatewayThread) -> None:
        gw.gateway.learner.forget("auto", "m1")
    a.call(recovered(a))
    b.call(recovered(b))  # the same recovery, seen by the other replica
    synced(fleet)
    stored = redis_server.client().hgetall("fleet:{auto}:post:m1")
    assert (float(stored[b"alpha"]), float(stored[b"beta"])) == (prior.alpha, prior.beta)
    for gw in fleet:
        post = gw.gateway.store.snapshot("auto")["m1"]
        assert (post.alpha, post.beta) == (pytest.approx(prior.alpha), pytest.approx(prior.beta))
    assert int(stored[b"observations"]) == 48  # a reset is not an observation
