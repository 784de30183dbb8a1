"""How the redis store reaches Redis: one server, a Redis Cluster, or a master named by Sentinel.

Every client is built to fail fast (0.5 s socket timeouts, no retries inside redis-py's
standalone client): the store's sync task retries with its own backoff and resends what was
not acknowledged, so a retry inside the client would only hide trouble and hold the task.

- standalone: `redis.asyncio.Redis` from `store.url` (redis://, rediss:// or unix://).
- cluster: `RedisCluster` seeded with `store.url` and `store.nodes`; it learns the slot map,
  follows MOVED and ASK, and reads the map again after a fail-over. Every key of a route carries
  the route's hash tag (lua.Keys), so a script's keys always share a slot.
- sentinel: the Sentinels in `store.sentinels` are asked for the master `store.master_name`;
  the connection pool asks again whenever a connection to the master fails or the master
  answers READONLY (it was demoted), so a fail-over costs a sync or two, never a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelManagedSSLConnection
from redis.backoff import ExponentialBackoff, NoBackoff

from gateway.config import StoreConfig

SOCKET_TIMEOUT_S = 0.5  # a frozen Redis costs the sync task this much, never a request
_MAX_CONNECTIONS = 8  # the sync task, fingerprints and documents; per node in a cluster

Client = redis.Redis | RedisCluster


@dataclass(slots=True)
class Connection:
    client: Client
    sentinel: Sentinel | None = None

    async def aclose(self) -> None:
        await self.client.aclose()
        if self.sentinel is not None:
            for sentinel in self.sentinel.sentinels:
                await sentinel.aclose()


def connect(config: StoreConfig, *, client_name: str) -> Connection:
    """No I/O: clients connect on first use."""
    timeouts: dict[str, Any] = {"socket_timeout": SOCKET_TIMEOUT_S,
                                "socket_connect_timeout": SOCKET_TIMEOUT_S}
    if config.mode == "cluster":
        # A couple of quick retries: after a fail-over the first try meets the old map, and
        # the client re-reads it (from any node) before the next.
        client = RedisCluster.from_url(
            config.url, startup_nodes=[ClusterNode(*_address(a)) for a in config.nodes],
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 2),
            max_connections=_MAX_CONNECTIONS, client_name=client_name, **timeouts)
        return Connection(client)
    if config.mode == "sentinel":
        options = parse_url(config.url)  # the master's credentials, database and TLS
        options.pop("host", None)
        options.pop("port", None)
        if options.pop("connection_class", None) is redis.SSLConnection:
            options["connection_class"] = SentinelManagedSSLConnection
        sentinel = Sentinel(
            [_address(a) for a in config.sentinels],
            sentinel_kwargs={"password": config.sentinel_password, **timeouts},
            **timeouts)
        client = sentinel.master_for(
            config.master_name, retry=Retry(NoBackoff(), 0), max_connections=_MAX_CONNECTIONS,
            client_name=client_name, **options)
        return Connection(client, sentinel)
    return Connection(redis.from_url(
        config.url, retry=Retry(NoBackoff(), 0), max_connections=_MAX_CONNECTIONS,
        client_name=client_name, **timeouts))


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)
