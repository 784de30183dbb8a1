"""Never locked in, from outside through HTTP (the case the lock-in issue found): three models
on one route with equal prices and latency and 2%, 10% and 25% invalid answers. The 2% model
serves; then (a config reload, as an operator's SIGHUP) it degrades to 60% invalid. The route
must bring the 10% model, not the 25% one, to 80% of its answers, and well within the phase."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.gateway import GatewayThread

from gateway.config import load

CONFIG = """
providers: {sim: {type: simulated}}
models:
  m0: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1},
       simulate: {latency_ms: 1, jitter_ms: 0, invalid_rate: %s}}
  m1: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1},
       simulate: {latency_ms: 1, jitter_ms: 0, invalid_rate: 0.10}}
  m2: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1},
       simulate: {latency_ms: 1, jitter_ms: 0, invalid_rate: 0.25}}
routes:
  auto: {candidates: [m0, m1, m2], classes: false, learning: {caller_share: 1}}
"""
WINDOW = 50
PHASE = 400


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[GatewayThread, Path]]:
    path = tmp_path / "gateway.yaml"
    path.write_text(CONFIG % "0.02", encoding="utf-8")
    gw = GatewayThread(load(str(path)), seed=3).start()
    yield gw, path
    gw.stop()


def _serve(http: httpx.Client, n: int, *, first: int = 0) -> list[str]:
    """n requests, each a new question (the same one again would be a client retry, which
    corrects the earlier answer's model: not what this test measures)."""
    models = []
    for i in range(first, first + n):
        r = http.post("/v1/chat/completions", json={
            "model": "auto", "messages": [{"role": "user", "content": f"question {i}"}]})
        assert r.status_code == 200, r.text
        models.append(r.json()["model"])
    return models


def test_after_the_best_model_degrades_the_route_finds_the_runner_up(
        setup: tuple[GatewayThread, Path]) -> None:
    gw, path = setup
    with httpx.Client(base_url=gw.url, timeout=30) as http:
        before = _serve(http, 300)
        assert Counter(before[-100:])["m0"] >= 70, Counter(before[-100:])
        gw.settle()
        path.write_text(CONFIG % "0.60", encoding="utf-8")
        assert gw.call(gw.gateway.live.reloader.reload()) is True
        after = _serve(http, PHASE, first=len(before))
        gw.settle()
        route = http.get("/stats").json()["routes"]["auto"]
        decay = route["decay"]
        metrics = http.get("/metrics").text
    # The learner saw m0 change: its posterior restarted from its answers since.
    assert route["models"]["m0"]["changes"] >= 1, route["models"]["m0"]
    count = route["models"]["m0"]["changes"]
    line = f'bayesgate_model_changes_total{{model="m0",route="auto"}} {count:.1f}'
    assert line in metrics, [m for m in metrics.splitlines() if "changes" in m]
    # Requests back to back: evidence lasts 200 requests, seconds here, not the 1800 s ceiling.
    assert decay["request_rate"] > 1 and decay["half_life_requests"] == 200
    assert 0 < decay["half_life_s"] < 1800
    assert decay["half_life_s"] == pytest.approx(200 / decay["request_rate"], rel=0.01)
    windows = [Counter(after[i - WINDOW:i]) for i in range(WINDOW, PHASE + 1)]
    reached = next((i + WINDOW for i, w in enumerate(windows) if w["m1"] >= 0.8 * WINDOW), None)
    assert reached is not None, [dict(Counter(after[i:i + WINDOW]))
                                 for i in range(0, PHASE, WINDOW)]
    # And it stays there: the 25% model does not take the route back.
    assert Counter(after[-100:])["m1"] >= 70, Counter(after[-100:])
