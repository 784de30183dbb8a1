"""Chaos: steady traffic through two bayesgate replicas sharing Redis while, in turn, Redis and
an upstream fail. Nothing is mocked but the LLMs: real `bayesgate serve` processes, a real
redis-server (standalone with AOF, then a Sentinel set), the fake upstream of the tests
(tests/support/upstream.py) over HTTP on 127.0.0.1.

Phases, each `--seconds` long (the fault starts 1 s in):

    quiet             nothing fails
    redis killed      SIGKILL, restarted 4 s later on the same AOF
    redis frozen      DEBUG SLEEP 2 s (every command waits)
    redis full        maxmemory 1 with noeviction for 3 s: every write answers OOM
    upstream hangs    m1 accepts and never answers (1 s provider timeout)
    upstream garbage  m1 answers 200 with a body that is not JSON
    upstream 429      m1 rate-limits everything (Retry-After: 1)
    upstream resets   m1 resets the connection (TCP RST) before answering
    all down          every model answers 503: the one phase where clients should get errors
    sentinel quiet    the replicas restarted on a Sentinel set (master, 2 replicas, 3 Sentinels,
                      `replica_acks: 1`, passwords on Redis and the Sentinels)
    sentinel fail-over  SIGKILL of the master; the Sentinels promote a replica

Reported per phase: requests, client errors by cause, latency p50/p99 (client side), whether
a replica said `degraded`, and learning: the observations the replicas gave their store
against the ones Redis holds once they have synced (lost = given - stored; must be 0), and,
where every upstream answered, the route's stored observations against the answers the
clients got.

    python bench/chaos.py [--seconds 6] [--clients 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from procs import Proc  # noqa: E402
from support.redis_server import RedisServer, free_port  # noqa: E402
from support.redis_topologies import SentinelSet  # noqa: E402
from support.upstream import Behavior, FakeUpstream  # noqa: E402

MODELS = ("m1", "m2", "m3")
PASSWORD = "chaos-pw-5521"
CONFIG = """
store: {{backend: redis, prefix: chaos, sync_interval_s: 0.1, {store}}}
providers:
  up: {{type: openai, base_url: "http://127.0.0.1:{up}/v1", timeout_s: 1,
        stream_idle_timeout_s: 1, connect_timeout_s: 0.5}}
models:
  m1: {{provider: up, cost: {{input_per_mtok: 0.1, output_per_mtok: 0.4}}}}
  m2: {{provider: up, cost: {{input_per_mtok: 0.5, output_per_mtok: 2}}}}
  m3: {{provider: up, cost: {{input_per_mtok: 2, output_per_mtok: 8}}}}
routes:
  auto: {{candidates: [m1, m2, m3], ttft_deadline_s: 1, learning: {{caller_share: 1}}}}
"""


def healthy() -> dict[str, Behavior]:
    return {m: Behavior(delay_s=0.01, content="steady answer " * 8) for m in MODELS}


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    answers: int = 0


class Fleet:
    """Two `bayesgate serve` replicas on one store config."""

    def __init__(self, store: str, up_port: int, work: Path, name: str) -> None:
        config = work / f"gateway-{name}.yaml"
        config.write_text(CONFIG.format(store=store, up=up_port))
        self.ports = [free_port(), free_port()]
        self.procs = [Proc(f"{name}-{i}", [
            sys.executable, "-m", "gateway", "serve", "--config", str(config), "--host",
            "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            log=work / f"{name}-{i}.log", cwd=ROOT, env={
                **os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
            for i, port in enumerate(self.ports)]
        self.bases = [f"http://127.0.0.1:{p}" for p in self.ports]

    async def ready(self, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 60
        for proc, base in zip(self.procs, self.bases, strict=True):
            while True:
                if not proc.alive():
                    raise SystemExit(f"{proc.name} exited:\n{proc.log_tail()}")
                try:
                    async with session.get(f"{base}/readyz") as resp:
                        if (await resp.json())["status"] == "ready":
                            break
                except (aiohttp.ClientError, ValueError, KeyError):
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"{proc.name} not ready in 60 s:\n{proc.log_tail()}")
                await asyncio.sleep(0.1)

    async def stores(self, session: aiohttp.ClientSession) -> list[dict[str, Any]]:
        out = []
        for base in self.bases:
            async with session.get(f"{base}/stats") as resp:
                out.append((await resp.json())["store"])
        return out

    async def synced(self, session: aiohttp.ClientSession, timeout_s: float = 60) -> float:
        """Until every replica has flushed all it learned; returns the seconds it took."""
        began = time.monotonic()
        while True:
            await asyncio.sleep(0.3)  # the learner's queue, then one sync
            stores = await self.stores(session)
            if all(s["pending"] == 0 and s["state"] == "ok" for s in stores):
                return time.monotonic() - began
            if time.monotonic() - began > timeout_s:
                raise SystemExit(f"replicas did not sync in {timeout_s} s: {stores}")

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


def stored(client: Any) -> tuple[int, int]:
    """(all observations, the route's own) in Redis: route and class hashes of prefix chaos."""
    total = route = 0
    for key in client.scan_iter("chaos:*:post:*", count=1000):
        n = int(client.hget(key, "observations") or 0)
        total += n
        route += 0 if b":class:" in key else n
    return total, route


async def one(session: aiohttp.ClientSession, base: str, rng: random.Random, tally: Tally,
              n: int) -> None:
    stream = rng.random() < 0.25
    body = {"model": "auto", "stream": stream,
            "messages": [{"role": "user", "content": f"chaos {n} {rng.randrange(10**9)}"}]}
    began = time.perf_counter()
    try:
        async with session.post(f"{base}/v1/chat/completions", json=body) as resp:
            raw = await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        tally.errors[f"connection: {type(exc).__name__}"] += 1
        return
    tally.latencies_ms.append((time.perf_counter() - began) * 1000)
    if resp.status != 200:
        try:
            code = json.loads(raw)["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = "not OpenAI-shaped"
        tally.errors[f"{resp.status} {code}"] += 1
    elif stream and not raw.endswith(b"data: [DONE]\n\n"):
        tally.errors["stream ended with an error"] += 1
    else:
        tally.answers += 1


async def load(session: aiohttp.ClientSession, fleet: Fleet, clients: int, seconds: float,
               seed: int) -> tuple[Tally, list[str]]:
    tally, states = Tally(), []
    until = time.monotonic() + seconds

    async def worker(base: str, rng: random.Random) -> None:
        n = 0
        while time.monotonic() < until:
            n += 1
            await one(session, base, rng, tally, n)

    async def watch() -> None:
        while time.monotonic() < until:
            for base in fleet.bases:
                try:
                    async with session.get(f"{base}/readyz") as resp:
                        states.append((await resp.json())["status"])
                except (aiohttp.ClientError, ValueError, KeyError):
                    states.append("unreachable")
            await asyncio.sleep(0.25)
    rngs = [random.Random(seed * 1000 + i) for i in range(clients * len(fleet.bases))]
    jobs = [worker(base, rngs[i * clients + c]) for i, base in enumerate(fleet.bases)
            for c in range(clients)]
    await asyncio.gather(watch(), *jobs)
    return tally, states


Fault = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class Phase:
    name: str
    fault: Fault | None = None
    upstream: dict[str, Behavior] | None = None  # behaviours for the phase (else healthy)
    errors_expected: bool = False


async def after(seconds: float, *steps: Callable[[], Any]) -> None:
    """Wait, then run blocking steps in a thread (and a float step as a pause)."""
    await asyncio.sleep(seconds)
    for step in steps:
        await asyncio.to_thread(step)


async def run_phase(session: aiohttp.ClientSession, fleet: Fleet, phase: Phase,
                    redis_client: Callable[[], Any], upstream: FakeUpstream, *, seconds: float,
                    clients: int, seed: int) -> dict[str, Any]:
    given_before = sum(s["recorded"] for s in await fleet.stores(session))
    total_before, route_before = await asyncio.to_thread(stored, redis_client())
    upstream.behaviors.update(phase.upstream or healthy())
    fault = asyncio.create_task(phase.fault()) if phase.fault else None
    try:
        tally, states = await load(session, fleet, clients, seconds, seed)
        if fault is not None:
            await fault
    finally:
        upstream.behaviors.update(healthy())
    sync_s = await fleet.synced(session)
    given = sum(s["recorded"] for s in await fleet.stores(session)) - given_before
    total, route = await asyncio.to_thread(stored, redis_client())
    lat = sorted(tally.latencies_ms) or [0.0]
    upstream_ok = phase.upstream is None
    row = {
        "phase": phase.name, "requests": tally.answers + sum(tally.errors.values()),
        "client_errors": sum(tally.errors.values()), "errors_expected": phase.errors_expected,
        "error_causes": dict(tally.errors.most_common()),
        "p50_ms": round(statistics.median(lat), 1),
        "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1),
        "degraded_seen": "degraded" in states, "sync_after_s": round(sync_s, 2),
        "given": given, "stored": total - total_before,
        "lost": given - (total - total_before),
        "answers": tally.answers, "route_stored": route - route_before,
    }
    row["answers_match"] = (row["route_stored"] == tally.answers) if upstream_ok else None
    print(f"  {phase.name:<18} {row['requests']:>5} requests, {row['client_errors']} client "
          f"errors {row['error_causes'] or ''}, p99 {row['p99_ms']} ms, lost {row['lost']}"
          f"{', degraded seen' if row['degraded_seen'] else ''}", flush=True)
    return row


def standalone_phases(redis: RedisServer) -> list[Phase]:
    def oom(on: bool) -> Callable[[], None]:
        def step() -> None:
            admin = redis.client()
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", "1" if on else "0")
        return step

    def m1(**kw: Any) -> dict[str, Behavior]:
        return {**healthy(), "m1": Behavior(**kw)}
    return [
        Phase("quiet"),
        Phase("redis killed", lambda: after(1, redis.kill, lambda: time.sleep(4), redis.start)),
        Phase("redis frozen", lambda: after(1, lambda: redis.freeze(2).join())),
        Phase("redis full (OOM)", lambda: after(1, oom(True), lambda: time.sleep(3),
                                                oom(False))),
        Phase("upstream hangs", upstream=m1(mode="hang")),
        Phase("upstream garbage", upstream=m1(mode="invalid_json")),
        Phase("upstream 429", upstream=m1(error_rate=1.0, status=429, retry_after="1")),
        Phase("upstream resets", upstream=m1(mode="reset")),
        Phase("all down", upstream={m: Behavior(error_rate=1.0, status=503) for m in MODELS},
              errors_expected=True),
    ]


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bayesgate-chaos-"))
    upstream = FakeUpstream(behaviors=dict(healthy())).start()
    up_port = upstream.port
    rows: list[dict[str, Any]] = []
    leaks: list[str] = []
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(
            limit=0)) as session:
        with RedisServer(persist=True) as redis:
            fleet = Fleet(f'url: "{redis.url}"', up_port, work, "standalone")
            try:
                await fleet.ready(session)
                for i, phase in enumerate(standalone_phases(redis)):
                    rows.append(await run_phase(
                        session, fleet, phase, redis.client, upstream, seconds=args.seconds,
                        clients=args.clients, seed=args.seed + i))
            finally:
                fleet.stop()
        with SentinelSet(password=PASSWORD, replicas=2) as sentinels:
            addresses = ", ".join(f'"{a}"' for a in sentinels.sentinels)
            fleet = Fleet(f'mode: sentinel, url: "redis://:{PASSWORD}@mymaster/0", '
                          f"sentinels: [{addresses}], sentinel_password: {PASSWORD}, "
                          f"replica_acks: 1", up_port, work, "sentinel")
            try:
                await fleet.ready(session)
                phases = [Phase("sentinel quiet"), Phase(
                    "sentinel fail-over", lambda: after(1, sentinels.kill_master))]
                for i, phase in enumerate(phases):
                    rows.append(await run_phase(
                        session, fleet, phase, lambda: sentinels.master.client(), upstream,
                        seconds=args.seconds + 2, clients=args.clients, seed=args.seed + 50 + i))
                for base in fleet.bases:
                    for path in ("/readyz", "/stats", "/metrics"):
                        async with session.get(base + path) as resp:
                            if PASSWORD in await resp.text():
                                leaks.append(base + path)
            finally:
                fleet.stop()
    upstream.stop()
    return {"phases": rows, "password_leaks": leaks, "seconds": args.seconds,
            "clients_per_replica": args.clients, "logs": str(work)}


def table(result: dict[str, Any]) -> str:
    lines = ["| phase | requests | client errors | p50 / p99 ms | degraded seen | updates "
             "given / stored | lost | answers = stored |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in result["phases"]:
        errors = str(r["client_errors"]) + (" (expected)" if r["errors_expected"] else "")
        match = {True: "yes", False: "NO", None: "n/a (failed attempts count)"}
        lines.append(f"| {r['phase']} | {r['requests']} | {errors} | {r['p50_ms']} / "
                     f"{r['p99_ms']} | {'yes' if r['degraded_seen'] else 'no'} | "
                     f"{r['given']} / {r['stored']} | {r['lost']} | "
                     f"{match[r['answers_match']]} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=6.0, help="length of each phase")
    p.add_argument("--clients", type=int, default=4, help="concurrent clients per replica")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="also write the full result here")
    args = p.parse_args()
    result = asyncio.run(main_async(args))
    print("\n" + table(result))
    print(f"\npasswords in /readyz, /stats or /metrics: {result['password_leaks'] or 'none'}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    bad = [r["phase"] for r in result["phases"] if r["lost"] != 0
           or (r["client_errors"] and not r["errors_expected"])
           or r["answers_match"] is False]
    if bad or result["password_leaks"]:
        print(f"FAILED: {', '.join(bad) or 'a password leaked'}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
