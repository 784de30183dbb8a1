"""One client's json_schema cannot stall the others: the answer is validated with compiled,
cached validators whose regular expressions run in linear time (a `pattern` like `^(a+)+$`
against 28 a's and a `!` took the Python validator about 20 s, on the event loop)."""

from __future__ import annotations

import statistics
import threading
import time

import httpx
from support.gateway import GatewayThread
from support.upstream import Behavior, FakeUpstream

EVIL = {"type": "json_schema", "json_schema": {"name": "a", "schema": {
    "type": "object", "properties": {"answer": {"type": "string", "pattern": "^(a+)+$"}}}}}


def _p99(http: httpx.Client, n: int) -> float:
    times = []
    for i in range(n):
        began = time.perf_counter()
        r = http.post("/v1/chat/completions", json={
            "model": "plain", "messages": [{"role": "user", "content": f"hi {i}"}]})
        assert r.status_code == 200
        times.append(time.perf_counter() - began)
    return statistics.quantiles(times, n=100)[98]


def _beside(gw: GatewayThread, http: httpx.Client, model: str) -> tuple[float, list[int]]:
    """p99 of plain requests while another client keeps sending json_schema requests."""
    stop = threading.Event()
    sent: list[int] = []

    def other() -> None:
        with httpx.Client(base_url=gw.url, timeout=60) as client:
            while not stop.is_set():
                r = client.post("/v1/chat/completions", json={
                    "model": model, "response_format": EVIL,
                    "messages": [{"role": "user", "content": "aaaa"}]})
                sent.append(r.status_code)

    thread = threading.Thread(target=other)
    thread.start()
    try:
        return _p99(http, 100), sent
    finally:
        stop.set()
        thread.join(60)


def test_plain_requests_keep_their_latency_beside_a_catastrophic_pattern(
        upstream: FakeUpstream) -> None:
    # The same schema and traffic twice: answers that match it at once ("aaaa"), and answers
    # that send a backtracking engine through 2^28 paths (28 a's and a "!").
    upstream.behaviors["benign"] = Behavior(json_content='{"answer": "aaaa"}')
    upstream.behaviors["evil"] = Behavior(json_content='{"answer": "' + "a" * 28 + '!"}')
    gw = GatewayThread(f"""
providers: {{up: {{type: openai, base_url: "{upstream.url}"}}}}
models: {{plain: {{provider: up}}, benign: {{provider: up}}, evil: {{provider: up}}}}
routes: {{auto: {{candidates: [plain]}}}}
""").start()
    try:
        http = httpx.Client(base_url=gw.url, timeout=30)
        _p99(http, 20)  # warm up
        quiet, benign = _beside(gw, http, "benign")
        loud, hostile = _beside(gw, http, "evil")
        print(f"\n  p99 beside a harmless schema {quiet * 1000:.1f} ms ({len(benign)} answers), "
              f"beside the pattern {loud * 1000:.1f} ms ({len(hostile)} answers)")
        assert len(hostile) >= 5 and set(hostile) == set(benign) == {200}
        assert loud <= max(2 * quiet, quiet + 0.02)
        gw.settle()
        assert gw.gateway.stats.counters("", "evil").invalid == len(hostile)  # still judged
        assert gw.gateway.stats.counters("", "benign").invalid == 0
    finally:
        gw.stop()
