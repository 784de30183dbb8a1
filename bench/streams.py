"""Long streams at scale: thousands of 30 s streams open at once through one gateway process.

    python bench/streams.py [--streams 5000] [--stream-s 30] [--ramp-s 25]
                            [--targets bare,bayesgate] [--out FILE] [--profile FILE]

Starts the fake upstream with long streams (the role chunk at once, then one content chunk a
second for --stream-s seconds, then the usage chunk and [DONE]) and one bayesgate process
(bench/gateway.bench.yaml, the provider's max_connections raised to hold every stream), then
from this process, over raw asyncio connections:

1. warm-up: 200 short streams, then the gateway's RSS as the start level;
2. ramp: --streams streams opened evenly over --ramp-s seconds, each read to its [DONE];
3. from the start of the ramp until the first long streams end: probes, one short stream
   every 50 ms, alternately through the gateway and straight to the upstream, so "added time
   to first token" is the gateway's TTFT minus the upstream's, measured side by side on the
   same loaded machine while thousands of streams run;
4. after the last stream ended: the RSS again, at once and --after-s (20) seconds later.

Prints one JSON document: errors, streams completed, TTFT of the ramp's streams and of the
probes (p50, p99), the added TTFT p99, RSS at start / peak / after and the memory per open
stream ((peak - start) / streams), and the gateway's CPU per stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import httptools

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from procs import Proc, free_port, rss_mb  # noqa: E402
from targets import GATEWAY_KEY, REPO, _env  # noqa: E402

PROBE_EVERY_S = 0.05
WARMUP = 200


class Stream(asyncio.Protocol):
    """One streaming request on its own connection: the time to its first event and whether
    it ended with [DONE]."""

    def __init__(self, request: bytes, done: asyncio.Future[Stream]) -> None:
        self.request = request
        self.done = done
        self.parser = httptools.HttpResponseParser(self)
        self.sent = 0.0
        self.ttft: float | None = None
        self.status = 0
        self.ended = False
        self.tail = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.sent = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._finish()

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        if self.ttft is None and b"data: " in body:
            self.ttft = time.perf_counter() - self.sent
        window = self.tail + body
        if b"data: [DONE]" in window:
            self.ended = True
        self.tail = window[-16:]

    def on_message_complete(self) -> None:
        self._finish()

    def _finish(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if not self.done.done():
            self.done.set_result(self)


def _request(port: int, *, model: str, auth: str | None, max_tokens: int) -> bytes:
    body = json.dumps({"model": model, "stream": True, "max_tokens": max_tokens,
                       "stream_options": {"include_usage": True},
                       "messages": [{"role": "user", "content": "tell me a long story"}]}).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n")
    if auth:
        head += f"authorization: Bearer {auth}\r\n"
    return head.encode() + b"\r\n" + body


async def _open(port: int, request: bytes) -> Stream:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Stream] = loop.create_future()
    stream = Stream(request, done)
    try:
        await loop.create_connection(lambda: stream, "127.0.0.1", port)
    except OSError:
        stream.done.set_result(stream)
    return await done


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000, 2)


def _ok(s: Stream) -> bool:
    return s.status == 200 and s.ended and s.ttft is not None


async def _measure(args: argparse.Namespace, gw_port: int, up_port: int, gw: Proc) -> dict:
    model, key = ("auto", GATEWAY_KEY) if gw.name == "bayesgate" else ("fake-model", None)
    long_gw = _request(gw_port, model=model, auth=key, max_tokens=args.stream_s)
    short_gw = _request(gw_port, model=model, auth=key, max_tokens=1)
    short_up = _request(up_port, model="fake-model", auth=None, max_tokens=1)
    warm = await asyncio.gather(*(_open(gw_port, short_gw) for _ in range(WARMUP)))
    if not all(_ok(s) for s in warm):
        raise SystemExit(f"warm-up failed: {sum(not _ok(s) for s in warm)} of {WARMUP}; "
                         f"gateway log:\n{gw.log_tail()}")
    await asyncio.sleep(2)
    rss_start, cpu_start = rss_mb(gw.pid), gw.cpu_s()
    spy = subprocess.Popen(["py-spy", "record", "--pid", str(gw.pid), "--output", args.profile,
                            "--duration", str(int(args.stream_s + args.ramp_s)), "--nonblocking",
                            *(["--format", "raw"] if args.profile.endswith(".txt") else [])],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) \
        if args.profile else None
    began = time.perf_counter()
    probes_gw: list[Stream] = []
    probes_up: list[Stream] = []
    peak = [rss_start]
    prober = asyncio.create_task(_probe(
        began + args.stream_s,  # the first streams end about here
        [(gw_port, short_gw, probes_gw), (up_port, short_up, probes_up)], gw.pid, peak))
    tasks: list[asyncio.Task[Stream]] = []
    gap = args.ramp_s / args.streams
    for i in range(args.streams):
        delay = began + i * gap - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_open(gw_port, long_gw)))
    ramped = time.perf_counter() - began
    await prober
    streams = await asyncio.gather(*tasks)
    await asyncio.sleep(1)  # the last probes
    cpu = gw.cpu_s() - cpu_start
    if spy is not None:
        spy.wait(60)
    rss_end = rss_mb(gw.pid)
    await asyncio.sleep(args.after_s)  # past aiohttp's 15 s keep-alive of idle connections
    rss_later = rss_mb(gw.pid)
    ttft = [s.ttft for s in streams if s.ttft is not None]
    gw_ttft = [s.ttft for s in probes_gw if _ok(s)]
    up_ttft = [s.ttft for s in probes_up if _ok(s)]
    p99_gw, p99_up = _pct(gw_ttft, 99), _pct(up_ttft, 99)
    return {
        "streams": args.streams, "stream_s": args.stream_s, "ramp_s": round(ramped, 2),
        "completed": sum(_ok(s) for s in streams),
        "errors": sum(not _ok(s) for s in streams),
        "statuses": sorted({s.status for s in streams}),
        "stream_ttft_ms": {"p50": _pct(ttft, 50), "p99": _pct(ttft, 99)},
        "probes": {"gateway": len(probes_gw), "upstream": len(probes_up),
                   "errors": sum(not _ok(s) for s in probes_gw + probes_up)},
        "probe_ttft_ms": {"gateway_p50": _pct(gw_ttft, 50), "gateway_p99": p99_gw,
                          "upstream_p50": _pct(up_ttft, 50), "upstream_p99": p99_up},
        "added_ttft_p99_ms": round(p99_gw - p99_up, 2) if p99_gw and p99_up else None,
        "rss_mb": {"start": round(rss_start, 1), "peak": round(peak[0], 1),
                   "end": round(rss_end, 1), "after": round(rss_later, 1)},
        "after_s": args.after_s,
        "kb_per_open_stream": round((peak[0] - rss_start) * 1024 / args.streams, 1),
        "gateway_cpu_ms_per_stream": round(cpu * 1000 / args.streams, 3),
    }


async def _probe(until: float, targets: list[tuple[int, bytes, list[Stream]]], pid: int,
                 peak: list[float]) -> None:
    """One short stream every PROBE_EVERY_S, through each target in turn, from the start of
    the ramp until the first long streams end; the gateway's peak RSS meanwhile."""
    turn, running = 0, []
    while time.perf_counter() < until:
        port, request, into = targets[turn % len(targets)]
        probe = asyncio.create_task(_open(port, request))
        probe.add_done_callback(lambda t, into=into: into.append(t.result()))
        running.append(probe)
        turn += 1
        peak[0] = max(peak[0], rss_mb(pid))
        await asyncio.sleep(PROBE_EVERY_S)
    await asyncio.gather(*running)


def _config(path: Path, connections: int) -> Path:
    text = (HERE / "gateway.bench.yaml").read_text()
    text = text.replace("api_key: sk-bench}",
                        f"api_key: sk-bench, max_connections: {connections}}}")
    assert f"max_connections: {connections}" in text, "bench/gateway.bench.yaml changed shape"
    path.write_text(text)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=5000)
    parser.add_argument("--stream-s", type=int, default=30)
    parser.add_argument("--ramp-s", type=float, default=25.0)
    parser.add_argument("--after-s", type=float, default=20.0,
                        help="how long after the last stream to read the RSS again")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--targets", default="bare,bayesgate",
                        help="comma-separated, run one after the other: bare "
                             "(bench/bare_proxy.py, the floor) and bayesgate")
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--profile", metavar="FILE",
                        help="record the gateway with py-spy (on the PATH) into FILE, "
                             "flamegraph SVG, from the ramp to the last stream's end")
    args = parser.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    work = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    results = {}
    for target in args.targets.split(","):
        results[target] = _run(args, target, work)
        print(f"{target}: {json.dumps(results[target])}", file=sys.stderr, flush=True)
    result = {"targets": results, "streams": args.streams, "stream_s": args.stream_s,
              "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


def _run(args: argparse.Namespace, target: str, work: Path) -> dict:
    up_port, port = free_port(), free_port()
    upstream = Proc("upstream", [sys.executable, str(HERE / "fake_upstream.py"), "--port",
                                 str(up_port)], log=work / f"upstream-{target}.log")
    if target == "bare":
        server = Proc("bare", [sys.executable, str(HERE / "bare_proxy.py"), "--port", str(port),
                               "--upstream", f"http://127.0.0.1:{up_port}/v1"],
                      log=work / "bare.log", env=_env({}))
        health = "/v1/models"
    elif target == "bayesgate":
        config = _config(work / "gateway.yaml", args.streams + 1000)
        server = Proc("bayesgate", [args.python, "-m", "gateway", "serve", "--config",
                                    str(config), "--port", str(port), "--log-level", "warning"],
                      log=work / "gateway.log", cwd=REPO,
                      env=_env({"BENCH_UPSTREAM_PORT": str(up_port),
                                "BENCH_GATEWAY_KEY": GATEWAY_KEY}))
        health = "/healthz"
    else:
        raise SystemExit(f"unknown target {target!r}: bare or bayesgate")
    try:
        _wait(up_port, "/v1/models", None)
        _wait(port, health, server)
        urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{up_port}/_bench/stream?chunks={args.stream_s}&interval_ms=1000",
            method="POST"), timeout=5).read()
        return asyncio.run(_measure(args, port, up_port, server))
    finally:
        server.stop()
        upstream.stop()


def _wait(port: int, path: str, proc: Proc | None, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1).read()
            return
        except OSError:
            if proc is not None and not proc.alive():
                break
            time.sleep(0.1)
    tail = proc.log_tail() if proc is not None else ""
    raise SystemExit(f"nothing answers on port {port}{path}\n{tail}")


if __name__ == "__main__":
    main()
