"""A small closed-loop HTTP/1.1 load generator, the fallback when wrk is not installed.

Fixed number of keep-alive connections, fixed duration; every connection sends the next request as
soon as the previous response has ended (SSE read to its terminating chunk). Raw asyncio protocol,
httptools' response parser and uvloop when installed, so that one process drives a few thousand
requests per second. It prints one JSON object with the same fields as the wrk script.

    python bench/loadgen.py --url http://127.0.0.1:9001/v1/chat/completions \
        --body-file body.json --connections 64 --duration 10 [--header 'Authorization: Bearer k']
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

import httptools

# How a stream that ended properly ends, per API: chat, Responses, Anthropic Messages.
STREAM_ENDS = (b"data: [DONE]", b"event: response.completed", b"event: message_stop")


class Conn(asyncio.Protocol):
    def __init__(self, run: Run) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.sent = 0.0
        self.tail = b""
        self.ended = False
        self.lost = run.loop.create_future()

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.send()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.run.errors["read"] += 1
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        if self.run.stream and not self.ended:
            window = self.tail + body
            self.ended = any(marker in window for marker in STREAM_ENDS)
            self.tail = window[-32:]

    def on_message_complete(self) -> None:
        run = self.run
        now = time.perf_counter()
        status = self.parser.get_status_code()
        if status != 200:
            run.errors["status"] += 1
        elif run.stream and not self.ended:
            run.errors["stream"] += 1
        elif now <= run.deadline:
            run.latencies.append(now - self.sent)
        self.tail = b""
        self.ended = False
        if now < run.deadline and self.parser.should_keep_alive():
            self.send()
        else:
            self.close()

    def send(self) -> None:
        self.sent = time.perf_counter()
        assert self.transport is not None
        self.transport.write(self.run.request)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Run:
    def __init__(self, request: bytes, *, stream: bool, duration: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.request = request
        self.stream = stream
        self.start = time.perf_counter()
        self.deadline = self.start + duration
        self.latencies: list[float] = []
        self.errors = {"connect": 0, "read": 0, "status": 0, "timeout": 0, "stream": 0}


def build_request(url: str, body: bytes, headers: list[str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lines = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {host}:{port}",
             "Content-Type: application/json", f"Content-Length: {len(body)}", *headers]
    return host, port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[i]


async def drive(url: str, body: bytes, headers: list[str], *, connections: int,
                duration: float, timeout: float) -> dict:
    host, port, request = build_request(url, body, headers)
    stream = b'"stream":true' in body.replace(b" ", b"")
    run = Run(request, stream=stream, duration=duration)
    loop = run.loop
    conns: list[Conn] = []
    for _ in range(connections):
        try:
            _, conn = await loop.create_connection(lambda: Conn(run), host, port)
            conns.append(conn)
        except OSError:
            run.errors["connect"] += 1
    pending = [c.lost for c in conns]
    if pending:
        _, still = await asyncio.wait(pending, timeout=duration + timeout - (time.perf_counter()
                                                                               - run.start))
        run.errors["timeout"] += len(still)
        for c in conns:
            c.close()
    elapsed = min(time.perf_counter(), run.deadline) - run.start
    lat = sorted(run.latencies)
    us = 1e6
    return {
        "tool": "loadgen.py",
        "requests": len(lat),
        "duration_s": elapsed,
        "rps": len(lat) / elapsed if elapsed > 0 else 0.0,
        "errors": run.errors,
        "latency_us": {
            "p50": percentile(lat, 50) * us, "p90": percentile(lat, 90) * us,
            "p99": percentile(lat, 99) * us,
            "mean": (sum(lat) / len(lat) * us) if lat else float("nan"),
            "max": (lat[-1] * us) if lat else float("nan"),
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--body-file", required=True)
    p.add_argument("-c", "--connections", type=int, default=16)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--header", action="append", default=[])
    args = p.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    with open(args.body_file, "rb") as f:
        body = f.read()
    result = asyncio.run(drive(args.url, body, args.header, connections=args.connections,
                               duration=args.duration, timeout=args.timeout))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
