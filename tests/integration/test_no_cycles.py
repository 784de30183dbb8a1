"""No cyclic garbage per request: a finished request's objects are freed by reference
counting alone. Garbage only the cyclic collector frees lives until a full collection when
the request was long (a 30 s stream outlives the young generations), and with thousands of
streams open each full collection paused the event loop for 0.5-1 s (bench/streams.py).
The collector is off while the requests run, so what they leave behind stays countable."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import httpx
import pytest
from support.gateway import GatewayThread

from gateway.runtime import collector

CONFIG = """
providers: {sim: {type: simulated}}
models:
  m: {provider: sim, simulate: {latency_ms: 1, jitter_ms: 0, output_tokens: 5, chunks: 3}}
routes:
  auto: {candidates: [m]}
"""


@pytest.fixture
def gw() -> Iterator[GatewayThread]:
    gateway = GatewayThread(CONFIG, seed=2).start()
    yield gateway
    gateway.stop()


def _cancelled() -> int:
    return sum(isinstance(o, asyncio.CancelledError) for o in gc.get_objects())


def test_answers_and_streams_leave_no_cancelled_watchers_behind(gw: GatewayThread) -> None:
    with httpx.Client(base_url=gw.url, timeout=10) as http:
        def one(i: int, stream: bool) -> None:
            body = {"model": "auto", "stream": stream,
                    "messages": [{"role": "user", "content": f"q {i}"}]}
            r = http.post("/v1/chat/completions", json=body)
            assert r.status_code == 200 and (not stream or "[DONE]" in r.text)

        for i in range(5):  # warm: first-use objects are not per request
            one(i, i % 2 == 0)
        gw.settle()
        gc.collect()
        gc.disable()
        try:
            before = _cancelled()
            for i in range(60):
                one(i, i % 2 == 0)
            gw.settle()
            after = _cancelled()
        finally:
            gc.enable()
    # Each request cancelled its disconnect watcher, leaving a CancelledError in a cycle
    # with its traceback, frames and task: 60 here before the fix.
    assert after - before < 5, (before, after)


def test_serve_freezes_what_startup_built_and_makes_full_collections_rare() -> None:
    threshold = gc.get_threshold()
    try:
        collector.tune()
        assert gc.get_freeze_count() > 1000
        assert gc.get_threshold() == (collector.YOUNG, collector.MIDDLE, collector.FULL_EVERY)
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
