"""The redis store: replicas share posteriors, breakers and retry fingerprints through Redis.

No request waits on Redis. `snapshot()`, `observations()` and `circuits()` read a local copy;
`record()` and `open_circuit()` apply locally and queue; one background task, started in
`start()` and cancelled in `aclose()`, flushes the queue in pipelined batches and then re-reads
the shared state, every `sync_interval_s` (at once when a breaker opens).

Delivery is exactly-once as far as Redis keeps its data: an update leaves the queue only after
Redis acknowledged the batch that carried it; a batch whose acknowledgement was lost (Redis
killed, frozen past the socket timeout, a broken connection) is sent again whole, and the update
script skips what it already applied (each replica numbers its updates, and an update cannot
overtake its predecessor to the same hash; see lua.py). With `store.replica_acks: n` a batch
counts as acknowledged only once n replicas have it too (WAIT), so a Sentinel fail-over to a
replica that lagged loses nothing either. An update whose own command failed (an error reply,
not a lost connection) is dropped and counted. Past `max_pending` queued updates the oldest are
dropped and counted.

Redis down or slow: the gateway keeps routing on its snapshot (with its own queued updates laid
over it), retries with exponential backoff, flushes on recovery and reports "degraded".
Fingerprints fall back to a local dict while Redis is out (redis_fingerprints.py); budgets'
spend is summed in Redis (ledger.py). Redis keeps what it is given only if it persists (AOF
or RDB): a Redis restarted empty starts the fleet over from the priors.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoScriptError, RedisError

from gateway.config import StoreConfig
from gateway.redact import redact_url
from gateway.store.base import Update, apply
from gateway.store.documents import Documents, RedisDocuments
from gateway.store.ledger import SharedLedger
from gateway.store.lua import OPEN_CIRCUIT, UPDATE, Keys, script_sha, update_call
from gateway.store.redis_client import SOCKET_TIMEOUT_S, Client, Connection, connect
from gateway.store.redis_errors import describe, sort_replies
from gateway.store.redis_fingerprints import SharedFingerprints
from policies.posterior import Posterior

log = logging.getLogger("bayesgate.store")

_BATCH = 1000  # updates per pipeline
_WAIT_MS = 200  # how long a batch waits for store.replica_acks replicas
_MAX_BACKOFF_S = 2.0
_FAILURES = (RedisError, OSError, asyncio.TimeoutError)


@dataclass(frozen=True, slots=True)
class _Pending:
    seq: int
    update: Update
    prev: int  # the seq of this replica's update before it to the same hash (0: none)


class RedisStore:
    def __init__(self, config: StoreConfig, *, clock: Callable[[], float] = time.time,
                 routes: Mapping[str, Iterable[str]] | None = None,
                 models: Iterable[str] = ()) -> None:
        """`routes` (route -> models) and `models` are read on the first sync, so a restarted
        replica starts from what the fleet learned; anything else is tracked once used."""
        self._config = config
        self._clock = clock
        self._keys = Keys(config.prefix)
        self._replica = os.urandom(6).hex()
        self._tracked: dict[str, set[str]] = {r: set(ms) for r, ms in (routes or {}).items()}
        self._circuit_models: set[str] = set(models)
        for ms in self._tracked.values():
            self._circuit_models |= ms
        self._connection: Connection | None = None
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._wake = asyncio.Event()
        # The shared state as last read with our queued updates laid over it.
        self._view: dict[str, dict[str, Posterior]] = {}
        self._counts: dict[tuple[str, str], int] = {}
        self._local_circuits: dict[str, float] = {}  # opened here, kept until they expire
        self._unsent_circuits: dict[str, float] = {}
        self._circuits: dict[str, float] = {}
        self._promotions: dict[str, frozenset[str]] = {}
        self._ledger = SharedLedger(config.prefix)
        self._unsent_promotions: set[tuple[str, str]] = set()
        self._fingerprints = SharedFingerprints(lambda: self._client if self._ok else None,
                                                self._keys, clock=clock)
        self._queue: collections.deque[_Pending] = collections.deque()
        self._inflight: list[_Pending] = []
        self._seq = 0
        self._last_seq: dict[tuple[str, str], int] = {}  # per hash: the seq of its last update
        self._unchained: set[int] = set()  # seqs whose predecessor will never come (lua.py)
        self._dropped = 0
        self._errors = 0
        self._duplicates = 0  # resent updates that Redis had applied already (and skipped)
        self._recorded = 0  # observations given to the store (Redis adds them up, once each)
        self._ok = False
        self._last_sync = time.monotonic()  # of the last good sync (of start() before one)
        # Not while degraded: a request would wait out the timeout for each document.
        self.documents = RedisDocuments(
            lambda: self._client if self._ok else None, prefix=config.prefix,
            local=Documents(max_bytes=config.documents_max_bytes, clock=clock))

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Never blocks on Redis and never raises for it: the first sync runs in the task."""
        self._connection = connect(self._config, client_name=f"bayesgate-{self._replica}")
        self._client = self._connection.client
        self._update_sha, self._open_sha = script_sha(UPDATE), script_sha(OPEN_CIRCUIT)
        self._last_sync = time.monotonic()
        self._task = asyncio.create_task(self._run(), name="bayesgate-redis-sync")

    async def aclose(self) -> None:
        # The flag, not only cancel(): redis-py 8.1 sometimes swallows a cancellation that lands
        # inside a pipeline's execute(), and the task would then outlive aclose().
        self._closing = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._client is not None:
            if self.pending:
                try:  # a last flush, so a clean shutdown loses nothing
                    async with asyncio.timeout(2 * SOCKET_TIMEOUT_S):
                        await self._flush()
                except _FAILURES as exc:
                    log.warning("redis store closing with %d updates unsent: %s",
                                self.pending, describe(exc))
            await self._connection.aclose() if self._connection else None
            self._client = self._connection = None

    # -- the request side (no I/O) ----------------------------------------------------------

    def snapshot(self, route: str) -> Mapping[str, Posterior]:
        view = self._view.get(route)
        if view is None:
            self._tracked.setdefault(route, set())
            return {}
        return view

    def observations(self, route: str, model: str) -> int:
        return self._counts.get((route, model), 0)

    def record(self, update: Update) -> None:
        self._recorded += update.observations
        models = self._tracked.setdefault(update.route, set())
        if update.model not in models:
            models.add(update.model)
            self._circuit_models.add(update.model)
        if self.pending >= self._config.max_pending:
            if not self._queue:
                self._dropped += 1
                return
            self._queue.popleft()
            self._dropped += 1
        self._seq += 1
        cell = (update.route, update.model)
        self._queue.append(_Pending(self._seq, update, self._last_seq.get(cell, 0)))
        self._last_seq[cell] = self._seq
        self._apply_locally(update)

    def circuits(self) -> Mapping[str, float]:
        return self._circuits

    def open_circuit(self, model: str, until: float) -> None:
        if until <= self._local_circuits.get(model, 0.0):
            return
        self._local_circuits[model] = until
        self._unsent_circuits[model] = until
        self._circuit_models.add(model)
        self._circuits = {**self._circuits, model: max(until, self._circuits.get(model, 0.0))}
        self._wake.set()  # the fleet should hear of it now, not at the next tick

    def promotions(self, route: str) -> frozenset[str]:
        return self._promotions.get(route, frozenset())

    def promote(self, route: str, model: str) -> None:
        """For good: a set member in Redis, never expired, read by every replica."""
        self._tracked.setdefault(route, set())
        self._promotions = {**self._promotions, route: self.promotions(route) | {model}}
        self._unsent_promotions.add((route, model))
        self._wake.set()

    def spend(self, route: str, usd: float, *, period_s: float, now: float) -> None:
        self._ledger.add(route, usd, period_s=period_s, now=now)

    def spent(self, route: str, *, period_s: float, now: float) -> float:
        return self._ledger.spent(route, period_s=period_s, now=now)

    @property
    def pending(self) -> int:
        return len(self._queue) + len(self._inflight)

    def status(self) -> dict[str, Any]:
        return {"backend": "redis", "state": "ok" if self._ok else "degraded",
                "pending": self.pending, "dropped": self._dropped,
                "last_sync_age_s": round(time.monotonic() - self._last_sync, 3),
                "errors": self._errors, "document_errors": self.documents.errors,
                "duplicates_skipped": self._duplicates, "recorded": self._recorded,
                "url": redact_url(self._config.url), "mode": self._config.mode,
                "replica": self._replica}

    async def swap_fingerprint(self, key: str, value: str, *, ttl_s: float) -> str | None:
        return (await self.swap_fingerprints([(key, value, ttl_s)]))[0]

    async def swap_fingerprints(self, items: Sequence[tuple[str, str, float]]) -> list[str | None]:
        return await self._fingerprints.swap(items)

    # -- the background task -------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while not self._closing:
            try:
                await self._sync()
            except Exception as exc:
                failures += 1
                self._errors += 1
                if not isinstance(exc, _FAILURES):  # a bug, not Redis: keep serving, say so
                    log.exception("redis store sync failed")
                elif self._ok or failures == 1:
                    log.warning("redis store degraded (%s): serving on the local snapshot, "
                                "%d updates pending", describe(exc), self.pending)
                self._ok = False
            else:
                if not self._ok:
                    log.info("redis store connected to %s", redact_url(self._config.url))
                failures = 0
                self._ok = True
                self._last_sync = time.monotonic()
            interval = self._config.sync_interval_s
            if failures:
                interval = min(interval * 2 ** failures, max(_MAX_BACKOFF_S, interval))
                interval *= random.uniform(0.8, 1.0)
            await self._sleep(interval)

    async def _sleep(self, seconds: float) -> None:
        timer = asyncio.get_running_loop().call_later(seconds, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            timer.cancel()
        self._wake.clear()

    async def _sync(self) -> None:
        if not self._ok:  # first contact, or back after trouble (maybe a new or empty Redis)
            assert self._client is not None
            for script in (UPDATE, OPEN_CIRCUIT):
                await self._client.script_load(script)
        await self._flush()
        await self._refresh()

    async def _flush(self) -> None:
        if self._unsent_circuits or self._unsent_promotions or self._ledger.pending:
            await self._flush_signals()
        # Only what is queued now: steady traffic must not keep the task here forever.
        for _ in range(math.ceil(len(self._queue) / _BATCH)):
            await self._flush_batch()
        if not self._queue:
            self._unchained.clear()  # of updates dropped since

    async def _flush_signals(self) -> None:
        """Breakers opened, candidates promoted and money spent here, told to the fleet."""
        assert self._client is not None
        circuits, promotions = dict(self._unsent_circuits), set(self._unsent_promotions)
        now = self._clock()
        pipe = self._client.pipeline(transaction=False)
        for model, until in circuits.items():
            ttl_ms = math.ceil((until - now) * 1000)
            if ttl_ms > 0:
                pipe.execute_command("EVALSHA", self._open_sha, 1, self._keys.circuit(model),
                                     repr(until), ttl_ms)
        for route, model in promotions:
            pipe.sadd(self._keys.promoted(route), model)
        spent = self._ledger.queue_flush(pipe)
        results = await pipe.execute(raise_on_error=False)
        if any(isinstance(r, NoScriptError) for r in results):
            await self._client.script_load(OPEN_CIRCUIT)  # a new or restarted Redis
        failed = next((r for r in results if isinstance(r, Exception)), None)
        if failed is not None:
            raise RedisError(f"breakers, promotions or spend not stored: {describe(failed)}")
        self._ledger.flushed(spent)
        for model, until in circuits.items():
            if self._unsent_circuits.get(model) == until:
                del self._unsent_circuits[model]
        self._unsent_promotions -= promotions

    async def _flush_batch(self) -> None:
        assert self._client is not None
        batch = self._inflight = [self._queue.popleft()
                                  for _ in range(min(_BATCH, len(self._queue)))]
        try:
            results = await self._send(batch)
        except BaseException:
            # Unacknowledged: back to the front, in order; the script skips what was applied.
            self._inflight = []
            self._queue.extendleft(reversed(batch))
            while self.pending > self._config.max_pending and self._queue:
                self._queue.popleft()
                self._dropped += 1
            raise
        finally:
            self._inflight = []
        replies = sort_replies([(i.update.route, i.update.model) for i in batch], results)
        self._duplicates += replies.duplicates
        if self._unchained:
            self._unchained.difference_update(
                item.seq for item, r in zip(batch, results, strict=True) if r in (0, 1))
        self._unchained.update(batch[i].seq for i in replies.unchained)
        if replies.failed:  # can never succeed (a script or type error): dropped and counted
            self._dropped += len(replies.failed)
            self._errors += 1
            log.error("redis store: %d updates rejected by Redis, e.g. %s",
                      len(replies.failed), describe(replies.failed[0]))
        # Sent again in batch order, under their own numbers.
        self._queue.extendleft(batch[i] for i in reversed(replies.again))
        if replies.noscript:  # a new or restarted Redis, a promoted replica
            await self._client.script_load(UPDATE)
        if replies.refused is not None:  # the sync backs off, degraded
            raise RedisError(f"updates refused for now: {describe(replies.refused)}")

    async def _send(self, batch: list[_Pending]) -> list[Any]:
        """Each update's reply (one pipeline, then WAIT); raises if too few replicas acked."""
        assert self._client is not None
        # Plain EVALSHA, not the Script object: in a pipeline that would cost a SCRIPT
        # EXISTS round trip per flush. NOSCRIPT (a restarted Redis) is the caller's.
        pipe = self._client.pipeline(transaction=False)
        for item in batch:
            pipe.execute_command(  # EVALSHA by name: the cluster pipeline blocks evalsha()
                "EVALSHA", self._update_sha, *update_call(
                    self._keys, item.update, replica=self._replica, seq=item.seq,
                    prev=0 if item.seq in self._unchained else item.prev))
        if acks := self._config.replica_acks:
            pipe.execute_command("WAIT", acks, _WAIT_MS)
        results = await pipe.execute(raise_on_error=False)
        if acks:
            acked = results.pop()
            if isinstance(acked, Exception):
                raise acked
            if acked < acks:
                # Applied on the master, maybe not on the replica a fail-over promotes:
                # unacknowledged, so all of it is sent again (what stayed is skipped).
                raise RedisError(f"{acked} of {acks} replicas acknowledged in {_WAIT_MS} ms")
        return results

    async def _refresh(self) -> None:
        """Read the shared state and swap it in, our still-queued updates laid over it."""
        assert self._client is not None
        routes = sorted(self._tracked)
        pairs = [(route, model) for route in routes for model in sorted(self._tracked[route])]
        circuit_models = sorted(self._circuit_models)
        pipe = self._client.pipeline(transaction=False)
        for route, model in pairs:
            pipe.hgetall(self._keys.posterior(route, model))
        for route in routes:
            pipe.smembers(self._keys.promoted(route))
        if circuit_models:
            pipe.execute_command("MGET", *(self._keys.circuit(m) for m in circuit_models))
        ledger = self._ledger.queue_read(pipe, self._clock())
        results = await pipe.execute()
        if ledger:
            self._ledger.read(ledger, results[-len(ledger):])
        view: dict[str, dict[str, Posterior]] = {}
        counts: dict[tuple[str, str], int] = {}
        for (route, model), fields in zip(pairs, results, strict=False):
            if fields:
                view.setdefault(route, {})[model] = Posterior(*(
                    float(fields[k]) for k in (b"alpha", b"beta", b"updated_at")))
                counts[(route, model)] = int(fields.get(b"observations", 0))
        promoted = results[len(pairs):len(pairs) + len(routes)]
        self._promotions = {
            route: frozenset(m.decode() for m in members)
            | {m for r, m in self._unsent_promotions if r == route}
            for route, members in zip(routes, promoted, strict=True)}
        now = self._clock()
        self._local_circuits = {m: t for m, t in self._local_circuits.items() if t > now}
        opened = results[len(pairs) + len(routes)] if circuit_models else []
        circuits = {m: float(t) for m, t in zip(circuit_models, opened, strict=True)
                    if t is not None}
        for model, until in self._local_circuits.items():
            circuits[model] = max(until, circuits.get(model, 0.0))
        self._view, self._counts, self._circuits = view, counts, circuits
        for item in self._queue:
            self._apply_locally(item.update)

    def _apply_locally(self, update: Update) -> None:
        models = self._view.setdefault(update.route, {})
        models[update.model] = apply(models.get(update.model), update, now=self._clock())
        key = (update.route, update.model)
        self._counts[key] = self._counts.get(key, 0) + update.observations
