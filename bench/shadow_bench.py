"""Does shadow traffic slow the client down? Client-side p50/p99 with shadow off and on.

One fake OpenAI-compatible upstream (its own process) serves the live model, another one (as in
production, where a shadow model is someone else's server) three shadow models: one that
answers after 2 s, one that always errors, one that hangs. Five gateways (one
process each, `bayesgate serve`) share the live model and differ only in their route's shadow
candidate: none (twice: the second is an A/A control that shows the run's noise), slow, error,
hang. The client drives them in interleaved blocks (shuffled each round), so load from the rest
of the machine falls on every configuration alike, and prints p50/p99 per configuration with
the ratio to shadow off, the gateway's own overhead (x-bayesgate-overhead-ms) and each
gateway's shadow counts (warm-up requests included).

    python bench/shadow_bench.py --requests 2000 --concurrency 8 --rate 0.3

At the end the gateways are stopped with SIGTERM and their logs are checked for errors (a
shadow call still hanging must be cancelled cleanly).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# "off again" is an A/A control: its ratio to "off" is the noise floor of the run.
SHADOWS = {"off": None, "off again": None, "slow 2 s": "slow", "errors": "broken",
           "hangs": "stuck"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_upstream(port: int, live_delay_s: float) -> None:
    """The fake upstream, run in a child process (`--serve-upstream`)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support.upstream import Behavior, FakeUpstream

    signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)  # the server thread inherits the mask
    fake = FakeUpstream(behaviors={
        "live": Behavior(delay_s=live_delay_s), "slow": Behavior(delay_s=2.0),
        "broken": Behavior(error_rate=1.0, status=500), "stuck": Behavior(mode="hang")},
        port=port)
    fake.requests = _Nothing()  # a long run would otherwise grow the request log without end
    fake.start()
    signal.sigwait(signals)
    fake.stop()


class _Nothing(list):  # type: ignore[type-arg]
    def append(self, item: object) -> None:  # noqa: D102
        return None


def gateway_config(live_port: int, shadow_port: int, shadow: str | None, *, rate: float,
                   max_in_flight: int) -> str:
    route = "{candidates: [live]}"
    if shadow:
        route = (f"{{candidates: [live], shadow: {{candidates: [{shadow}], rate: {rate}, "
                 f"max_in_flight: {max_in_flight}}}}}")
    price = "cost: {input_per_mtok: 1, output_per_mtok: 1}"
    return f"""
providers:
  up: {{type: openai, base_url: "http://127.0.0.1:{live_port}/v1", api_key: bench-live-key}}
  side: {{type: openai, base_url: "http://127.0.0.1:{shadow_port}/v1", api_key: bench-side-key}}
models:
  live: {{provider: up, {price}}}
  slow: {{provider: side, {price}}}
  broken: {{provider: side, {price}}}
  stuck: {{provider: side, {price}}}
routes:
  auto: {route}
"""


async def wait_up(session: aiohttp.ClientSession, url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            async with session.get(url) as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def block(session: aiohttp.ClientSession, url: str, n: int, concurrency: int,
                latencies: list[float], overheads: list[float], errors: list[int],
                counter: list[int]) -> None:
    async def worker() -> None:
        while counter[0] < n:
            counter[0] += 1
            body = {"model": "auto",
                    "messages": [{"role": "user", "content": f"q{random.random()}"}]}
            began = time.perf_counter()
            try:
                async with session.post(url, json=body) as resp:
                    await resp.read()
                    ok = resp.status == 200
                    overhead = resp.headers.get("x-bayesgate-overhead-ms")
            except aiohttp.ClientError:
                ok, overhead = False, None
            latencies.append((time.perf_counter() - began) * 1000)
            if overhead is not None:
                overheads.append(float(overhead))
            if not ok:
                errors[0] += 1
    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def drive(ports: dict[str, int], args: argparse.Namespace) -> dict[str, dict[str, object]]:
    results: dict[str, dict[str, object]] = {}
    latencies: dict[str, list[float]] = {name: [] for name in ports}
    overheads: dict[str, list[float]] = {name: [] for name in ports}
    errors: dict[str, list[int]] = {name: [0] for name in ports}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        for port in ports.values():
            await wait_up(session, f"http://127.0.0.1:{port}/healthz")
        urls = {name: f"http://127.0.0.1:{port}/v1/chat/completions"
                for name, port in ports.items()}
        for url in urls.values():  # warm-up, not measured
            await block(session, url, 50, args.concurrency, [], [], [0], [0])
        rounds = max(1, args.requests // args.block)
        order = list(ports)
        shuffle = random.Random(args.seed)
        for _ in range(rounds):
            shuffle.shuffle(order)
            for name in order:
                await block(session, urls[name], args.block, args.concurrency,
                            latencies[name], overheads[name], errors[name], [0])
        await asyncio.sleep(0.5)
        for name, port in ports.items():
            async with session.get(f"http://127.0.0.1:{port}/stats") as resp:
                route = (await resp.json())["routes"]["auto"]
            results[name] = {"latencies": latencies[name], "overheads": overheads[name],
                             "errors": errors[name][0], "route": route}
    return results


def table(results: dict[str, dict[str, object]]) -> str:
    base = results["off"]["latencies"]
    p50_0, p99_0 = np.percentile(base, [50, 99])  # type: ignore[call-overload]
    head = (f"{'shadow model':<13}{'n':>6}{'errors':>7}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'p50 ratio':>10}{'p99 ratio':>10}{'ovh p50':>9}{'ovh p99':>9}"
            f"{'mirrored':>10}{'dropped':>9}{'failed':>8}")
    lines = [head, "-" * len(head)]
    for name, r in results.items():
        lat = r["latencies"]
        p50, p99 = np.percentile(lat, [50, 99])  # type: ignore[call-overload]
        o50, o99 = np.percentile(r["overheads"] or [0.0], [50, 99])  # type: ignore[call-overload]
        route = r["route"]
        assert isinstance(route, dict)
        lines.append(
            f"{name:<13}{len(lat):>6}{r['errors']:>7}{p50:>9.2f}{p99:>9.2f}"  # type: ignore[arg-type]
            f"{p50 / p50_0:>10.3f}{p99 / p99_0:>10.3f}{o50:>9.3f}{o99:>9.3f}"
            f"{route.get('shadow_requests', 0):>10}{route.get('shadow_dropped', 0):>9}"
            f"{route.get('shadow_failures', 0):>8}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured per configuration")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--block", type=int, default=50, help="requests per interleaved block")
    parser.add_argument("--rate", type=float, default=0.3)
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--live-delay-ms", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_upstream:
        serve_upstream(args.serve_upstream, args.live_delay_ms / 1000)
        return 0

    env = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    live_port, shadow_port = _free_port(), _free_port()
    procs: list[subprocess.Popen[bytes]] = [subprocess.Popen(
        [sys.executable, __file__, "--serve-upstream", str(port),
         "--live-delay-ms", str(args.live_delay_ms)], env=env)
        for port in (live_port, shadow_port)]
    ports: dict[str, int] = {}
    logs: dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for i, (name, shadow) in enumerate(SHADOWS.items()):
                path = Path(tmp) / f"{i}.yaml"
                path.write_text(gateway_config(live_port, shadow_port, shadow, rate=args.rate,
                                               max_in_flight=args.max_in_flight))
                ports[name] = _free_port()
                logs[name] = Path(tmp) / f"{i}.log"
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "gateway", "serve", "--config", str(path),
                     "--port", str(ports[name]), "--log-level", "warning"],
                    env=env, stdout=subprocess.DEVNULL, stderr=logs[name].open("wb")))
            results = asyncio.run(drive(ports, args))
        finally:
            for proc in reversed(procs):
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(30)
        print(f"live model answers in {args.live_delay_ms:g} ms; shadow rate {args.rate}, "
              f"max_in_flight {args.max_in_flight}; {args.requests} requests per "
              f"configuration at concurrency {args.concurrency}, interleaved blocks of "
              f"{args.block}; {os.cpu_count()} CPUs")
        print(table(results))
        noisy = {}
        for name, log in logs.items():
            lines = [line for line in log.read_text().splitlines()
                     if "no server.api_keys" not in line]
            if lines:
                noisy[name] = "\n".join(lines)
        for name, text in noisy.items():
            print(f"--- gateway log of '{name}' ---\n{text}")
        print("gateway logs through shutdown:", "clean" if not noisy else "see above")
    return 0


if __name__ == "__main__":
    sys.exit(main())
