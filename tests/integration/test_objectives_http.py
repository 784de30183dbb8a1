"""A route's budget and latency objective, held through HTTP: a real gateway, simulated models
over its real provider path, the official SDK as the client, /stats as the operator sees it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import openai
import pytest
from support.gateway import GatewayThread

CONFIG = """
providers: {sim: {type: simulated}}
models:
  dear: {provider: sim, cost: {input_per_mtok: 2000, output_per_mtok: 2000},
         simulate: {latency_ms: 1, jitter_ms: 0, output_tokens: 10}}
  cheap: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1},
          simulate: {latency_ms: 1, jitter_ms: 0, output_tokens: 10, invalid_rate: 0.2}}
  slow: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1},
         simulate: {latency_ms: 40, jitter_ms: 0, output_tokens: 10}}
  fast: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1},
         simulate: {latency_ms: 1, jitter_ms: 0, output_tokens: 10, invalid_rate: 0.2}}
routes:
  budget: {candidates: [dear, cheap], classes: false, cost_weight: 0,
           learning: {caller_share: 1}, objective: {budget: {usd: 0.5, per: hour}}}
  quick: {candidates: [slow, fast], classes: false, cost_weight: 0,
          learning: {caller_share: 1}, objective: {latency_p95_ms: 20}}
  free: {candidates: [slow, fast], classes: false, cost_weight: 0,
         learning: {caller_share: 1}}
"""


@pytest.fixture
def gw() -> Iterator[GatewayThread]:
    gateway = GatewayThread(CONFIG, seed=5).start()
    yield gateway
    gateway.stop()


def _serve(gw: GatewayThread, route: str, n: int) -> list[str]:
    client = openai.OpenAI(base_url=gw.base_url, api_key="none", max_retries=0, timeout=10)
    served = []
    for i in range(n):
        answer = client.chat.completions.create(
            model=route, messages=[{"role": "user", "content": f"question {i}"}])
        served.append(answer.model)
        gw.settle()  # each answer learned (and its cost counted) before the next request
    return served


def test_a_spent_budget_moves_the_route_to_its_cheapest_model(gw: GatewayThread) -> None:
    """dear costs ~0.04 USD an answer and is the better model: the route spends the 0.5 USD
    hourly budget on it, then serves cheap only; /stats says so."""
    served = _serve(gw, "budget", 60)
    spent = gw.gateway.store.spent("budget", period_s=3600, now=gw.gateway.clock())
    dear = Counter(served)["dear"]
    assert dear >= 5, Counter(served)
    assert Counter(served[-20:]) == {"cheap": 20}
    # Over the budget by at most the answer that crossed it.
    assert 0.45 < spent < 0.5 + 0.05, spent
    stats = httpx.get(f"{gw.url}/stats").json()["routes"]["budget"]["objective"]
    assert stats["scale"] == "cost_weight" and stats["cost_weight"] == 0
    assert stats["budget"]["usd"] == 0.5 and stats["budget"]["per"] == "hour"
    assert stats["budget"]["exhausted"] is True
    assert stats["budget"]["spent_usd"] == pytest.approx(spent, abs=1e-6)


def test_a_latency_objective_moves_the_route_to_the_fast_model(gw: GatewayThread) -> None:
    """slow (40 ms, always valid) beats fast (1 ms, 20% invalid) on reward; with a 20 ms
    p95 objective the route serves fast, and most of its answers are under 20 ms."""
    free = _serve(gw, "free", 120)
    assert Counter(free[-60:])["slow"] >= 45, Counter(free)
    quick = _serve(gw, "quick", 200)
    late = Counter(quick[-120:])
    assert late["slow"] <= 0.1 * 120, late
    stats = httpx.get(f"{gw.url}/stats").json()["routes"]["quick"]["objective"]
    latency = stats["latency"]
    # Valid answers only: an invalid one's speed says nothing about the answers clients use.
    assert latency["p95_ms"] == 20 and 120 < latency["answers"] < 200
    assert latency["slow_share"]["slow"] > latency["slow_share"]["fast"]
    assert latency["over_share"] < 0.2
