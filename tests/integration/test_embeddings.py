"""POST /v1/embeddings, end to end: the official openai SDK -> a real gateway -> an upstream
over HTTP (and the simulated models); a route over embedding models fails over and learns."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from support.gateway import GatewayThread
from support.upstream import Behavior, FakeUpstream

from gateway.learning.validity import check_embeddings

KEY = "gw-embeddings-key-123456"


@pytest.fixture
def gw(upstream: FakeUpstream) -> Iterator[GatewayThread]:
    server = GatewayThread(f"""
server: {{api_keys: ["{KEY}"]}}
providers:
  up: {{type: openai, base_url: "{upstream.url}", api_key: sk-up-secret-1234567890}}
  sim: {{type: simulated}}
models:
  e-up: {{provider: up, upstream_name: text-embed-up}}
  e-broken: {{provider: up, upstream_name: text-embed-broken}}
  e-sim: {{provider: sim, simulate: {{latency_ms: 2, jitter_ms: 0}}}}
routes:
  embed: {{candidates: [e-broken, e-up], fallback: e-broken, cost_weight: 0,
           decay: {{half_life_s: null}}}}
""").start()
    yield server
    server.stop()


@pytest.fixture
def client(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=KEY, max_retries=0)


def test_a_model_by_name_and_the_simulated_vectors(client: openai.OpenAI) -> None:
    raw = client.embeddings.with_raw_response.create(model="e-sim", input=["a", "b", "a"],
                                                     dimensions=8)
    answer = raw.parse()
    assert raw.headers["x-bayesgate-model"] == "e-sim" and answer.model == "e-sim"
    vectors = [d.embedding for d in answer.data]
    assert [len(v) for v in vectors] == [8, 8, 8]
    assert vectors[0] == vectors[2] != vectors[1]  # the same text, the same vector
    assert abs(sum(x * x for x in vectors[0]) - 1) < 1e-4


def test_a_route_fails_over_and_learns(client: openai.OpenAI, gw: GatewayThread,
                                       upstream: FakeUpstream) -> None:
    upstream.behaviors["text-embed-broken"] = Behavior(error_rate=1.0, status=503)
    for _ in range(6):
        answer = client.embeddings.create(model="embed", input="hello")
        assert answer.model == "e-up" and answer.data[0].embedding == [0.1, 0.2, 0.3]
    gw.settle()
    posts = gw.gateway.store.snapshot("embed")
    assert posts["e-up"].alpha > posts["e-up"].beta  # valid answers
    assert posts["e-broken"].beta > posts["e-broken"].alpha  # failed attempts
    stats = httpx.get(f"{gw.url}/stats", headers={"authorization": f"Bearer {KEY}"}).json()
    assert stats["routes"]["embed"]["models"]["e-up"]["doors"] == {"embeddings": 6}
    seen = [r for r in upstream.requests if r.model == "text-embed-up"]
    # Only `model` rewritten (the SDK asks for base64 vectors and decodes them itself).
    assert seen and seen[0].body == {"model": "text-embed-up", "input": "hello",
                                     "encoding_format": "base64"}


def test_bad_input_is_a_400(gw: GatewayThread) -> None:
    for body in ({"model": "e-sim"}, {"model": "e-sim", "input": []},
                 {"model": "e-sim", "input": "x", "stream": True}):
        answer = httpx.post(f"{gw.base_url}/embeddings", json=body,
                            headers={"authorization": f"Bearer {KEY}"})
        assert answer.status_code == 400, body
        assert answer.json()["error"]["type"] == "invalid_request_error"


def test_validity_of_an_embeddings_answer() -> None:
    good = {"data": [{"embedding": [0.1, 2]}, {"embedding": "AAAA"}]}
    assert check_embeddings(good, {"input": ["a", "b"]}) is None
    assert check_embeddings(good, {"input": "a"}) == "2 embeddings for 1 inputs"
    assert check_embeddings({"data": [{"embedding": [1, 2]}]}, {"input": [5, 6, 7]}) is None
    assert check_embeddings({"data": [{"embedding": []}]}, {"input": "a"}) == \
        "an embedding that is not a list of numbers"
    assert check_embeddings({"data": [{"embedding": ["x"]}]}, {"input": "a"}) is not None
    assert check_embeddings({}, {"input": "a"}) == "0 embeddings for 1 inputs"
