"""Shadow traffic end to end: a real gateway, a fake upstream over HTTP, the openai SDK."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest
from support.gateway import GatewayThread
from support.redis_server import RedisServer
from support.upstream import Behavior, FakeUpstream, prompt_tokens

CLIENT_KEY = "client-key-0123456789"
LIVE_KEY = "live-upstream-key-abcdef"
SHADOW_KEY = "shadow-upstream-key-fedcba"


def config(upstream: FakeUpstream, *, shadow: str, live: str = "[live]") -> str:
    return f"""
server: {{api_keys: ["{CLIENT_KEY}"]}}
providers:
  up: {{type: openai, base_url: "{upstream.url}", api_key: "{LIVE_KEY}"}}
  side: {{type: openai, base_url: "{upstream.url}", api_key: "{SHADOW_KEY}"}}
models:
  live: {{provider: up, cost: {{input_per_mtok: 1, output_per_mtok: 1}}}}
  new: {{provider: side, upstream_name: new-upstream,
        cost: {{input_per_mtok: 2, output_per_mtok: 4}}}}
  other: {{provider: side, cost: {{input_per_mtok: 1, output_per_mtok: 1}}}}
routes:
  auto: {{candidates: {live}, shadow: {shadow}, decay: {{half_life_requests: null}}}}
"""


def client_for(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=CLIENT_KEY, max_retries=0)


def ask(client: openai.OpenAI, i: int, **kwargs: Any) -> Any:
    return client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": f"question {i}"}], **kwargs)


def wait_for(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def stats(gw: GatewayThread) -> dict[str, Any]:
    r = httpx.get(f"{gw.url}/stats", headers={"authorization": f"Bearer {CLIENT_KEY}"})
    r.raise_for_status()
    return r.json()["routes"]["auto"]  # type: ignore[no-any-return]


async def _review(gw: GatewayThread) -> None:
    gw.gateway.promotion.review()


@pytest.fixture
def gateways() -> Iterator[list[GatewayThread]]:
    started: list[GatewayThread] = []
    yield started
    for gw in started:
        gw.stop()


def start(gateways: list[GatewayThread], text: str, *, seed: int = 1) -> GatewayThread:
    gw = GatewayThread(text, seed=seed).start()
    gateways.append(gw)
    return gw


def test_rate_is_honoured_and_no_client_credentials_reach_the_shadow(
        upstream: FakeUpstream, gateways: list[GatewayThread]) -> None:
    gw = start(gateways, config(upstream, shadow="{candidates: [new], rate: 0.05}"))
    client = client_for(gw)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: ask(client, i).parse(), range(2000)))
    assert {a.model for a in answers} == {"live"}
    wait_for(lambda: stats(gw)["shadow_in_flight"] == 0)
    shadow = [r for r in upstream.requests if r.model == "new-upstream"]
    print(f"2000 requests at rate 0.05: the shadow upstream received {len(shadow)}")
    assert 70 <= len(shadow) <= 130, len(shadow)
    assert upstream.count("live") == 2000
    for seen in shadow:
        assert seen.headers["authorization"] == f"Bearer {SHADOW_KEY}"
        assert CLIENT_KEY not in json.dumps(seen.headers)
        assert seen.body["messages"][0]["content"].startswith("question ")
        assert "stream" not in seen.body
    gw.settle()
    route = stats(gw)
    model = route["models"]["new"]
    assert route["shadow_requests"] == model["shadow_requests"] == len(shadow)
    assert model["shadow"] is True and model["observations"] == len(shadow)
    assert model["shadow_answers"] == len(shadow) and model["shadow_failures"] == 0
    # the fake's prompt tokens and 7 completion tokens per answer at $2 / $4 per million tokens
    assert model["shadow_cost_usd"] == pytest.approx(
        sum(prompt_tokens(s.body) * 2 + 7 * 4 for s in shadow) / 1e6)
    assert model["cost_usd"] == 0  # shadow cost is kept apart from live cost
    assert model["selections"] == 0 and route["candidates"] == ["live"]


def test_streaming_primary_is_mirrored_as_one_plain_request(
        upstream: FakeUpstream, gateways: list[GatewayThread]) -> None:
    gw = start(gateways, config(upstream, shadow="{candidates: [new], rate: 1.0}"))
    stream = client_for(gw).chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True}, temperature=0.3, max_tokens=50)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text.strip() == "Hello from the fake upstream."
    wait_for(lambda: upstream.count("new-upstream") == 1)
    body = next(r.body for r in upstream.requests if r.model == "new-upstream")
    assert body == {"model": "new-upstream", "messages": [{"role": "user", "content": "hi"}],
                    "temperature": 0.3, "max_tokens": 50}


def test_opt_out_header_is_never_mirrored(upstream: FakeUpstream,
                                          gateways: list[GatewayThread]) -> None:
    gw = start(gateways, config(upstream, shadow="{candidates: [new], rate: 1.0}"))
    client = client_for(gw)
    for i in range(30):
        ask(client, i, extra_headers={"x-bayesgate-shadow": "off"})
    ask(client, 99, extra_headers={"x-bayesgate-shadow": "off"}, stream=True).parse().close()
    time.sleep(0.2)
    assert upstream.count("new-upstream") == 0
    for i in range(5):
        ask(client, i)
    wait_for(lambda: upstream.count("new-upstream") == 5)


def test_hanging_shadow_drops_over_max_in_flight_and_shuts_down_cleanly(
        upstream: FakeUpstream, gateways: list[GatewayThread],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    upstream.behaviors["new-upstream"] = Behavior(mode="hang")
    gw = start(gateways, config(upstream, shadow="{candidates: [new], rate: 1.0, "
                                                   "max_in_flight: 3}"))
    client = client_for(gw)
    began = time.perf_counter()
    for i in range(20):
        assert ask(client, i).parse().model == "live"
    assert time.perf_counter() - began < 5
    wait_for(lambda: upstream.count("new-upstream") == 3)
    route = stats(gw)
    assert route["shadow_in_flight"] == 3
    assert route["shadow_dropped"] == 17 and route["shadow_requests"] == 3
    stopped = time.perf_counter()
    gateways.remove(gw)
    gw.stop()
    assert time.perf_counter() - stopped < 3
    wait_for(lambda: upstream.cancelled == 3)
    assert upstream.count("new-upstream") == 3
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING
                and "api_keys" not in r.getMessage()]
    assert not problems, [r.getMessage() for r in problems]
    assert not any("destroyed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("behavior", [Behavior(error_rate=1.0), Behavior(mode="invalid_json"),
                                      Behavior(error_rate=1.0, status=400)])
def test_failing_shadow_never_reaches_the_client_and_scores_zero(
        upstream: FakeUpstream, gateways: list[GatewayThread], behavior: Behavior) -> None:
    upstream.behaviors["new-upstream"] = behavior
    gw = start(gateways, config(upstream, shadow="{candidates: [new], rate: 1.0}"))
    client = client_for(gw)
    for i in range(20):
        answer = ask(client, i, stream=i % 2 == 1).parse()
        if i % 2:
            assert "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
        else:
            assert answer.choices[0].message.content
    wait_for(lambda: stats(gw)["shadow_in_flight"] == 0)
    gw.settle()
    model = stats(gw)["models"]["new"]
    assert model["shadow_requests"] == 20 and model["shadow_failures"] == 20
    assert model["observations"] == 20 and model["mean"] < 0.1
    assert stats(gw)["models"]["live"]["failures"] == 0


def test_scored_like_live_answers_for_this_route_only(upstream: FakeUpstream,
                                                      gateways: list[GatewayThread]) -> None:
    upstream.behaviors["other"] = Behavior(mode="empty")
    gw = start(gateways, config(upstream, shadow="{candidates: [new, other], rate: 1.0}") +
               "  elsewhere: {candidates: [new]}\n")
    client = client_for(gw)
    for i in range(60):
        ask(client, i)
    wait_for(lambda: stats(gw)["shadow_in_flight"] == 0)
    gw.settle()
    models = stats(gw)["models"]
    good, empty = models["new"], models["other"]
    # Thompson sampling among the shadow candidates: the one answering empty text fades.
    assert good["shadow_requests"] > 2 * empty["shadow_requests"] > 0
    # Each empty answer is an observation with reward 0: beta grows by one, alpha not at all.
    assert empty["shadow_invalid"] == empty["observations"] == empty["shadow_requests"]
    assert empty["alpha"] == pytest.approx(1.0, abs=1e-4)
    assert empty["beta"] == pytest.approx(1.0 + empty["observations"], abs=0.02)
    assert good["mean"] > 0.8
    assert gw.gateway.store.observations("elsewhere", "new") == 0


def test_clearly_better_candidate_is_reported_ready_then_promoted(
        upstream: FakeUpstream, gateways: list[GatewayThread],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bayesgate.shadow")
    upstream.behaviors["live"] = Behavior(mode="empty")  # 200s with no content: reward 0
    shadow = "{candidates: [new], rate: 0.25}"
    gw = start(gateways, config(upstream, shadow=shadow))
    client = client_for(gw)
    ready_after = None
    for i in range(400):
        ask(client, i)
        if i % 10 == 9:
            wait_for(lambda: stats(gw)["shadow_in_flight"] == 0)
            gw.settle()
            gw.call(_review(gw))
            if stats(gw)["models"]["new"]["promotion_ready"]:
                ready_after = i + 1
                break
    assert ready_after is not None and ready_after <= 300, ready_after
    model = stats(gw)["models"]["new"]
    print(f"ready after {ready_after} requests: {model}")
    assert model["promotion_probability"] >= 0.95 and model["promotion_against"] == "live"
    assert model["observations"] >= 30 and model["promoted"] is False
    gw.call(_review(gw))
    ready_logs = [r for r in caplog.records if "ready for promotion" in r.getMessage()]
    assert len(ready_logs) == 1
    # Without auto_promote, the candidate stays hidden.
    assert {ask(client, i).headers["x-bayesgate-model"] for i in range(20)} == {"live"}

    promoted_gw = start(gateways, config(upstream, shadow=shadow.replace(
        "}", ", auto_promote: true}")))
    client = client_for(promoted_gw)
    for i in range(400):
        ask(client, i)
        if i % 10 == 9:
            wait_for(lambda: stats(promoted_gw)["shadow_in_flight"] == 0)
            promoted_gw.settle()
            promoted_gw.call(_review(promoted_gw))
            if stats(promoted_gw)["models"]["new"]["promoted"]:
                print(f"promoted after {i + 1} requests")
                break
    route = stats(promoted_gw)
    assert route["candidates"] == ["live", "new"]
    assert route["models"]["new"]["shadow"] is False
    assert promoted_gw.gateway.store.promotions("auto") == frozenset({"new"})
    copies = stats(promoted_gw)["shadow_requests"]
    served: Counter[str] = Counter()
    for i in range(50):
        response = ask(client, i)
        served[response.headers["x-bayesgate-model"]] += 1
        assert response.parse().model == response.headers["x-bayesgate-model"]
        promoted_gw.settle()
    assert served["new"] >= 40, served
    # A promoted model is live: nothing hidden is left to copy requests to.
    assert stats(promoted_gw)["shadow_requests"] == copies


def test_a_promotion_reaches_other_replicas_and_survives_restarts(
        upstream: FakeUpstream, gateways: list[GatewayThread]) -> None:
    upstream.behaviors["live"] = Behavior(mode="empty")
    with RedisServer(persist=True) as redis_server:
        text = config(upstream, shadow="{candidates: [new], rate: 0.5, auto_promote: true}")
        text += f'store: {{backend: redis, url: "{redis_server.url}", sync_interval_s: 0.05}}\n'
        first, second = start(gateways, text, seed=1), start(gateways, text, seed=2)
        client = client_for(first)
        for i in range(300):
            ask(client, i)
            if i % 10 == 9:
                wait_for(lambda: stats(first)["shadow_in_flight"] == 0)
                first.settle()
                time.sleep(0.1)  # a sync: the copies' scores reach Redis
                first.call(_review(first))
                if stats(first)["models"]["new"]["promoted"]:
                    break
        assert first.gateway.store.promotions("auto") == frozenset({"new"})
        # The other replica never reviewed anything: it learns the promotion from Redis.
        wait_for(lambda: stats(second)["candidates"] == ["live", "new"])
        for gw in list(gateways):
            gateways.remove(gw)
            gw.stop()
        restarted = start(gateways, text, seed=3)
        wait_for(lambda: stats(restarted)["candidates"] == ["live", "new"])
        served = Counter(ask(client_for(restarted), i).headers["x-bayesgate-model"]
                         for i in range(20))
        assert served["new"] >= 15, served
