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


def test_plain_requests_keep_their_latency_beside_a_catastrophic_pattern(
        upstream: FakeUpstream) -> None:
    upstream.behaviors["evil"] = Behavior(json_content='{"answer": "' + "a" * 28 + '!"}')
    gw = GatewayThread(f"""
providers: {{up: {{type: openai, base_url: "{upstream.url}"}}}}
models: {{plain: {{provider: up}}, evil: {{provider: up}}}}
routes: {{auto: {{candidates: [plain]}}}}
""").start()
    try:
        http = httpx.Client(base_url=gw.url, timeout=30)
        _p99(http, 20)  # warm up
        quiet = _p99(http, 100)
        stop = threading.Event()
        sent = []

        def attack() -> None:
            with httpx.Client(base_url=gw.url, timeout=60) as evil:
                while not stop.is_set():
                    r = evil.post("/v1/chat/completions", json={
                        "model": "evil", "response_format": EVIL,
                        "messages": [{"role": "user", "content": "aaaa"}]})
                    sent.append(r.status_code)

        attacker = threading.Thread(target=attack)
        attacker.start()
        try:
            loud = _p99(http, 100)
        finally:
            stop.set()
            attacker.join(60)
        print(f"\n  p99 quiet {quiet * 1000:.1f} ms, beside the pattern {loud * 1000:.1f} ms, "
              f"{len(sent)} hostile answers")
        assert len(sent) >= 5 and set(sent) == {200}
        assert loud <= max(2 * quiet, 0.02)
        gw.settle()
        assert gw.gateway.stats.counters("", "evil").invalid == len(sent)  # still judged
    finally:
        gw.stop()
