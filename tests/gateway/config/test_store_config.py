"""store.mode and its keys: what is accepted, what is refused and how it is said."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, loads

BASE = """
providers: {sim: {type: simulated}}
models: {a: {provider: sim}}
routes: {auto: {candidates: [a]}}
"""


def _store(body: str) -> str:
    return BASE + f"store: {{backend: redis, {body}}}"


def test_standalone_is_the_default() -> None:
    store = loads(_store("url: 'redis://h:1/0'"), env={}).store
    assert (store.mode, store.nodes, store.sentinels, store.replica_acks) == (
        "standalone", (), (), 0)


def test_cluster_and_sentinel_are_parsed() -> None:
    cluster = loads(_store("mode: cluster, url: 'redis://a:7000', "
                           "nodes: ['b:7001', '[::1]:7002']"), env={}).store
    assert cluster.mode == "cluster" and cluster.nodes == ("b:7001", "[::1]:7002")
    config = loads(_store("mode: sentinel, url: 'redis://:pw-master@x/2', "
                          "sentinels: ['s1:26379', 's2:26379'], master_name: cache, "
                          "sentinel_password: '${SP}', replica_acks: 1"), env={"SP": "pw-sent"})
    store = config.store
    assert (store.mode, store.sentinels, store.master_name, store.replica_acks) == (
        "sentinel", ("s1:26379", "s2:26379"), "cache", 1)
    assert {"pw-master", "pw-sent"} <= set(config.secrets)  # redacted from logs


@pytest.mark.parametrize(("body", "expected"), [
    ("mode: shard", "store.mode: expected one of standalone, cluster, sentinel, got 'shard'"),
    ("mode: cluster, url: 'unix:///tmp/r.sock'",
     "store.url: a unix:// socket cannot reach a Redis cluster"),
    ("mode: cluster, nodes: ['host']", "store.nodes[0]: expected host:port, got 'host'"),
    ("nodes: ['h:1']", "store.nodes: only with mode: cluster"),
    ("mode: sentinel", "store.sentinels: required with mode: sentinel"),
    ("sentinels: ['h:1']", "store.sentinels: only with mode: sentinel"),
    ("mode: sentinel, sentinels: ['h:x']", "store.sentinels[0]: expected host:port, got 'h:x'"),
    ("mode: cluster, replica_acks: 1", "store.replica_acks: not with mode: cluster"),
    ("replica_acks: 17", "store.replica_acks: must be at most 16, got 17"),
])
def test_errors(body: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        loads(_store(body), env={})
    assert any(e.startswith(expected) for e in info.value.errors), info.value.errors
