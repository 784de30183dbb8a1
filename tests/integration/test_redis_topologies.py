"""Redis Cluster and Sentinel under traffic: two real gateways, a real three-master cluster or a
real Sentinel set, the official `openai` SDK as the client.

Each test fails a Redis over while both replicas serve, then checks that no client saw an error
and that the store holds exactly one observation per answer (none lost, none counted twice).
The measured figures are printed (`pytest -s` shows them).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from redis.cluster import RedisCluster
from support.fleet import Traffic, in_threads, synced, totals, wait_until
from support.gateway import GatewayThread
from support.redis_topologies import ClusterSet, SentinelSet

MODELS = ("m1", "m2", "m3")
ROUTES = ("auto", "fast", "cheap")  # hash tags in slots of masters 0, 2 and 1 of three
PASSWORD = "s3ntinel-pw-9"


def _config(store: str) -> str:
    models = "\n".join(
        f"  {m}: {{provider: sim, cost: {{input_per_mtok: {i + 1}, output_per_mtok: {i + 1}}},"
        f" simulate: {{latency_ms: {i + 1}, jitter_ms: 1, output_tokens: 5}}}}"
        for i, m in enumerate(MODELS))
    routes = "\n".join(
        f"  {r}: {{candidates: [{', '.join(MODELS)}], decay: {{half_life_s: null}},"
        f" learning: {{caller_share: 1}}}}" for r in ROUTES)
    return f"""
store: {{backend: redis, prefix: fleet, sync_interval_s: 0.1, {store}}}
providers: {{sim: {{type: simulated}}}}
models:
{models}
routes:
{routes}
"""


def _fleet(store: str) -> list[GatewayThread]:
    gateways = [GatewayThread(_config(store), seed=s).start() for s in (1, 2)]
    wait_until(lambda: all(gw.gateway.store.status()["state"] == "ok" for gw in gateways), 15)
    return gateways


def _under_traffic(gateways: list[GatewayThread], fault: object) -> list[Traffic]:
    """Both replicas serve all routes; `fault()` runs after 1 s; traffic goes on 1.5 s more."""
    stop = threading.Event()
    traffic = [Traffic(gw, tag=f"replica-{i}", routes=ROUTES) for i, gw in enumerate(gateways)]

    def chaos() -> None:
        try:
            time.sleep(1.0)
            fault()  # type: ignore[operator]
            time.sleep(1.5)
        finally:
            stop.set()
    in_threads(*(lambda t=t: t.until(stop) for t in traffic), chaos)
    return traffic


def _assert_each_answer_stored_once(gateways: list[GatewayThread], traffic: list[Traffic],
                                    *, per_route: int = 20) -> None:
    assert [t.errors for t in traffic] == [[], []]
    synced(gateways)
    print(f"\n  requests: {sum(t.sent for t in traffic)}, client-visible errors: 0, "
          f"duplicates skipped: "
          f"{[gw.gateway.store.status()['duplicates_skipped'] for gw in gateways]}")
    for route in ROUTES:
        answered: Counter[str] = sum((t.by_route[route] for t in traffic), Counter())
        assert sum(answered.values()) >= per_route, (route, answered)
        for gw in gateways:
            view = totals(gw, route)
            for model in MODELS:
                alpha, beta, observations = view.get(model, (1.0, 1.0, 0))
                assert observations == answered[model], (route, model, view, answered)
                assert alpha + beta == pytest.approx(2.0 + answered[model], abs=1e-6)
    assert all(gw.gateway.store.status()["dropped"] == 0 for gw in gateways)


@pytest.fixture
def cluster() -> Iterator[ClusterSet]:
    with ClusterSet(masters=3) as found:
        yield found


def test_cluster_failover_under_traffic(cluster: ClusterSet) -> None:
    seeds = ", ".join(f'"127.0.0.1:{m.port}"' for m in cluster.masters[1:])
    gateways = _fleet(f'mode: cluster, url: "{cluster.url}", nodes: [{seeds}]')
    try:
        holders = {r: cluster.master_of(f"fleet:{{{r}}}:post:m1") for r in ROUTES}
        assert sorted(holders.values()) == [0, 1, 2]  # the routes' keys are spread over all
        target = holders["auto"]
        took: list[float] = []

        def failover() -> None:
            began = time.monotonic()
            cluster.failover(target)
            took.append(time.monotonic() - began)
        traffic = _under_traffic(gateways, failover)
        print(f"\n  CLUSTER FAILOVER of master {target} (holds {{auto}}): {took[0]:.2f} s")
        _assert_each_answer_stored_once(gateways, traffic)
        # What the cluster itself holds, read through a fresh cluster client.
        direct = RedisCluster.from_url(cluster.url)
        try:
            for route in ROUTES:
                stored = sum(int(direct.hget(f"fleet:{{{route}}}:post:{m}", "observations")
                                 or 0) for m in MODELS)
                assert stored == sum(sum(t.by_route[route].values()) for t in traffic)
        finally:
            direct.close()
        status = gateways[0].gateway.store.status()
        assert status["mode"] == "cluster" and status["state"] == "ok"
        # A stored Responses chain: its documents spread over the masters, renewed and read
        # back in one pipeline across slots.
        ids = [f"resp_c{i}" for i in range(8)]
        assert len({cluster.master_of(f"fleet:doc:{i}") for i in ids}) > 1
        one, two = (gw.gateway.store.documents for gw in gateways)
        for i in ids[:-1]:
            gateways[0].call(one.put(i, i.encode(), ttl_s=5))
        gateways[1].call(two.put(ids[-1], b"last", ttl_s=600, touch=ids[:-1]))
        assert gateways[0].call(one.get_many(ids)) == [i.encode() for i in ids[:-1]] + [b"last"]
        assert min(direct_ttl(cluster, f"fleet:doc:{i}") for i in ids) > 300_000
        assert one.errors == two.errors == 0
    finally:
        for gw in gateways:
            gw.stop()


def direct_ttl(cluster: ClusterSet, key: str) -> int:
    client = RedisCluster.from_url(cluster.url)
    try:
        return int(client.pttl(key))
    finally:
        client.close()


@pytest.fixture
def sentinels() -> Iterator[SentinelSet]:
    with SentinelSet(password=PASSWORD, replicas=2) as found:
        yield found


def _sentinel_store(sentinels: SentinelSet, *, replica_acks: int) -> str:
    addresses = ", ".join(f'"{a}"' for a in sentinels.sentinels)
    return (f'mode: sentinel, url: "redis://:{PASSWORD}@mymaster/0", '
            f"sentinels: [{addresses}], master_name: {sentinels.MASTER}, "
            f'sentinel_password: "{PASSWORD}", replica_acks: {replica_acks}')


def test_sentinel_failover_under_traffic(sentinels: SentinelSet) -> None:
    """The master is killed (SIGKILL) mid-traffic. With `replica_acks: 1` no update is lost
    with it: a batch leaves the queue only once a replica has it too, and Sentinel promotes the
    replica that is furthest ahead."""
    gateways = _fleet(_sentinel_store(sentinels, replica_acks=1))
    try:
        old = sentinels.master.port
        took: list[float] = []
        traffic = _under_traffic(gateways, lambda: took.append(sentinels.kill_master()))
        assert sentinels.master.port != old
        print(f"\n  Sentinel fail-over after SIGKILL: {took[0]:.2f} s")
        _assert_each_answer_stored_once(gateways, traffic)
        for route in ROUTES:
            stored = sum(int(sentinels.master.client().hget(f"fleet:{{{route}}}:post:{m}",
                                                            "observations") or 0)
                         for m in MODELS)
            assert stored == sum(sum(t.by_route[route].values()) for t in traffic)
        for gw in gateways:
            for path in ("/readyz", "/stats"):
                body = httpx.get(gw.url + path, timeout=5).text
                assert PASSWORD not in body, path
        assert gateways[0].gateway.store.status()["mode"] == "sentinel"
    finally:
        for gw in gateways:
            gw.stop()


def test_replica_acks_hold_updates_until_a_replica_has_them(sentinels: SentinelSet) -> None:
    gateways = _fleet(_sentinel_store(sentinels, replica_acks=2))
    gw = gateways[0]
    try:
        first = Traffic(gw, tag="both-replicas", routes=ROUTES).run(30)
        synced(gateways)
        freeze = sentinels.replicas[0].freeze(1.5)  # one of the two replicas cannot answer
        time.sleep(0.05)
        second = Traffic(gw, tag="one-replica", routes=ROUTES).run(30)
        gw.settle()
        time.sleep(0.5)
        held = gw.gateway.store.status()
        print(f"\n  with one of two replicas frozen: {held}")
        assert held["state"] == "degraded" and held["pending"] > 0
        freeze.join()
        _assert_each_answer_stored_once(gateways, [first, second])
    finally:
        for g in gateways:
            g.stop()
