"""Soak: N minutes of mixed traffic through a real `bayesgate serve` process, with faults.

A fake upstream (tests/support/upstream.py, in its own process) serves six models, most of
them broken on purpose: 503s, 429s with Retry-After, hangs, streams that stall, bodies that
are not JSON. Two routes put them behind the policy; clients stream half their requests.
Everything stays on 127.0.0.1 and every process is stopped at the end.

Reported: the gateway's RSS and open file descriptors every 10 s (from /proc), what the
clients got (by status and cause), and the learning totals at the end: observations in /stats
(one per scored attempt) against the answers and failed attempts the gateway counted.

    python bench/soak.py --minutes 10 [--concurrency 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from procs import Proc, free_port, rss_mb  # noqa: E402

CONFIG = """
providers:
  up: {{type: openai, base_url: "http://127.0.0.1:{up}/v1", timeout_s: 2,
        stream_idle_timeout_s: 1, connect_timeout_s: 1}}
models:
  ok: {{provider: up}}
  slowish: {{provider: up}}
  flaky: {{provider: up}}
  limited: {{provider: up}}
  hangs: {{provider: up}}
  broken: {{provider: up}}
routes:
  auto: {{candidates: [ok, slowish, flaky, limited, hangs, broken], ttft_deadline_s: 1}}
  fragile: {{candidates: [flaky, limited], max_attempts: 2}}
"""


def behaviors() -> dict[str, Any]:
    from support.upstream import Behavior

    words = " ".join(["word"] * 30)
    return {
        "ok": Behavior(delay_s=0.02, content=words),
        "slowish": Behavior(delay_s=0.3, chunk_delay_s=0.01, content=words),
        "flaky": Behavior(error_rate=0.4, status=503, delay_s=0.02, content=words),
        "limited": Behavior(error_rate=0.5, status=429, retry_after="3", content=words),
        "hangs": Behavior(mode="hang"),  # every call: 2 s timeout, or the 1 s TTFT deadline
        "broken": Behavior(mode="stall", content=words),  # streams stall; JSON answers work
    }


def serve_upstream(port: int) -> None:
    from support.upstream import FakeUpstream

    fake = FakeUpstream(behaviors=behaviors(), port=port).start()
    print(f"fake upstream on {fake.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        fake.stop()



def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Load:
    def __init__(self, base: str, *, seed: int) -> None:
        self.base = base
        self.rng = random.Random(seed)
        self.outcomes: Counter[str] = Counter()
        self.sent = 0
        self.answered = 0  # complete answers: a 200 JSON body, or a stream that ended [DONE]

    async def one(self, session: aiohttp.ClientSession) -> None:
        stream = self.rng.random() < 0.5
        route = "fragile" if self.rng.random() < 0.1 else "auto"
        body = {"model": route, "stream": stream,
                "messages": [{"role": "user", "content": f"q{self.rng.randrange(10**6)}"}]}
        self.sent += 1
        try:
            async with session.post(f"{self.base}/v1/chat/completions", json=body) as resp:
                raw = await resp.read()
        except TimeoutError:
            self.outcomes["client timeout"] += 1
            return
        except aiohttp.ClientError as exc:
            self.outcomes[f"connection: {type(exc).__name__}"] += 1
            return
        if resp.status != 200:
            try:
                code = json.loads(raw)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = "not OpenAI-shaped"
            self.outcomes[f"{resp.status} {code}"] += 1
        elif not stream:
            self.answered += 1
            self.outcomes["200 json"] += 1
        elif raw.endswith(b"data: [DONE]\n\n"):
            self.answered += 1
            self.outcomes["200 stream"] += 1
        else:
            code = "?"
            for line in raw.split(b"\n"):
                if line.startswith(b'data: {"error"'):
                    code = json.loads(line[6:])["error"]["message"][:40]
            self.outcomes[f"200 stream, then error: {code}"] += 1

    async def worker(self, session: aiohttp.ClientSession, until: float) -> None:
        while time.monotonic() < until:
            await self.one(session)


async def drive(base: str, gateway_pid: int, *, minutes: float, concurrency: int,
                seed: int) -> dict[str, Any]:
    load = Load(base, seed=seed)
    began = time.monotonic()
    until = began + minutes * 60
    samples: list[dict[str, float]] = []

    def sample() -> None:
        cpu, sent = cpu_s(gateway_pid), load.sent
        previous = samples[-1] if samples else {"cpu_s": cpu, "sent": sent}
        samples.append({"t_s": round(time.monotonic() - began), "rss_mb":
                        round(rss_mb(gateway_pid), 1), "fds": open_fds(gateway_pid),
                        "sent": sent, "answered": load.answered, "cpu_s": cpu,
                        # the gateway's own CPU per request over the last interval: flat
                        # unless some per-request cost grows with the run's length
                        "cpu_ms_per_req": round((cpu - previous["cpu_s"]) * 1000
                                                / max(1, sent - previous["sent"]), 3)})

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout,
                                     connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        workers = [asyncio.create_task(load.worker(s, until)) for _ in range(concurrency)]
        while time.monotonic() < until:
            sample()
            print("  t={t_s:>4}s  rss={rss_mb:>6.1f} MB  fds={fds:>4}  sent={sent:>7}  "
                  "answered={answered:>7}  gateway cpu/req={cpu_ms_per_req:.3f} ms"
                  .format(**samples[-1]), flush=True)
            await asyncio.sleep(min(10.0, max(0.0, until - time.monotonic())))
        await asyncio.gather(*workers)
        sample()
        await asyncio.sleep(1.0)  # let the learner's queue drain
        async with s.get(f"{base}/stats") as resp:
            stats = await resp.json()
    return {"samples": samples, "outcomes": dict(load.outcomes.most_common()),
            "sent": load.sent, "answered": load.answered, "stats": stats}


def learning(stats: dict[str, Any]) -> dict[str, Any]:
    rows = [row for route in stats["routes"].values() for row in route["models"].values()]
    observations = sum(r["observations"] for r in rows)
    answers = sum(r["answers"] for r in rows)
    failures = sum(r["failures"] for r in rows)
    return {"observations": observations, "answers": answers, "failed_attempts": failures,
            "per_model": {f"{name}/{m}": {"obs": row["observations"],
                                           "mean": round(row["mean"], 3),
                                           "circuit": row["circuit"]}
                          for name, route in stats["routes"].items()
                          for m, row in route["models"].items()}}


def report(result: dict[str, Any]) -> None:
    samples = result["samples"]
    first = next((s for s in samples if s["t_s"] >= 60), samples[-1])
    last = samples[-1]
    print("\nRSS (MB): start {:.1f}, at 1 min {:.1f}, at end ({} s) {:.1f}; growth after "
          "warm-up {:+.1f} MB".format(samples[0]["rss_mb"], first["rss_mb"], last["t_s"],
                                      last["rss_mb"], last["rss_mb"] - first["rss_mb"]))
    print("open fds: min {}, max {}, at end {}".format(
        min(s["fds"] for s in samples), max(s["fds"] for s in samples), last["fds"]))
    print(f"\nrequests sent {result['sent']}, answered completely {result['answered']}")
    for cause, n in result["outcomes"].items():
        print(f"  {n:>7}  {cause}")
    learned = result["learning"]
    broken = sum(n for cause, n in result["outcomes"].items() if "then error" in cause)
    expected = learned["answers"] + learned["failed_attempts"] - broken
    print(f"\nlearning: {learned['observations']} observations in /stats; expected "
          f"{expected} = {learned['answers']} answers + {learned['failed_attempts']} failed "
          f"attempts - {broken} streams broken mid-way (counted in both, observed once); "
          f"{'all learned' if expected == learned['observations'] else 'MISMATCH'}")
    server = result["stats"].get("requests", {})
    print(f"gateway's own request counts: {server}; learning dropped: "
          f"{result['stats'].get('learning_dropped')}")
    for key, row in learned["per_model"].items():
        print(f"  {key:<18} obs={row['obs']:>6}  mean={row['mean']:.3f}  {row['circuit']}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="also write the full result here")
    p.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return 0
    work = Path(tempfile.mkdtemp(prefix="bayesgate-soak-"))
    up_port, gw_port = free_port(), free_port()
    (work / "gateway.yaml").write_text(CONFIG.format(up=up_port))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    upstream = Proc("upstream", [sys.executable, __file__, "--serve-upstream", str(up_port)],
                    log=work / "upstream.log", env=env)
    gateway = Proc("gateway", [sys.executable, "-m", "gateway", "serve", "--config",
                               str(work / "gateway.yaml"), "--host", "127.0.0.1", "--port",
                               str(gw_port), "--log-level", "warning"],
                   log=work / "gateway.log", env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{gw_port}"
    try:
        _wait_ready(base, gateway)
        print(f"soak: {args.minutes:g} min, {args.concurrency} clients, gateway pid "
              f"{gateway.pid}, logs in {work}", flush=True)
        result = asyncio.run(drive(base, gateway.pid, minutes=args.minutes,
                                   concurrency=args.concurrency, seed=args.seed))
        result["learning"] = learning(result["stats"])
        report(result)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1))
        alive = gateway.alive()
    finally:
        gateway.stop()
        upstream.stop()
    if not alive:
        print("the gateway died:\n" + gateway.log_tail())
        return 1
    return 0


def _wait_ready(base: str, gateway: Proc) -> None:
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not gateway.alive():
            raise SystemExit("gateway exited at start:\n" + gateway.log_tail())
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gateway did not start in 60 s:\n" + gateway.log_tail())


if __name__ == "__main__":
    raise SystemExit(main())
