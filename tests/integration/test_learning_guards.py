"""Learning that cannot be misled, end to end: the official SDK -> a real gateway -> a fake
upstream over HTTP. Each test is one way a client or an upstream used to mislead the route's
posteriors (direct requests with a budget that cuts answers short, a model-specific 4xx, a
rate limit, a client that gives up on a slow model, a client retry charged to the wrong
model), and the prompt cost of streams that carry no usage.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from support.gateway import GatewayThread
from support.upstream import Behavior, FakeUpstream, prompt_tokens

KEY = "gw-guards-key-0123456789"
MSG = [{"role": "user", "content": "hello there"}]


def _gateway(upstream: FakeUpstream, route_extra: str = "") -> GatewayThread:
    # `cheap` has the optimistic prior, so it is the route's first choice while nothing is known.
    return GatewayThread(f"""
server: {{api_keys: ["{KEY}"]}}
providers: {{up: {{type: openai, base_url: "{upstream.url}", api_key: sk-up-0123456789abcdef}}}}
models:
  cheap: {{provider: up, prior: {{alpha: 20, beta: 1}},
          cost: {{input_per_mtok: 0.1, output_per_mtok: 0.4}}}}
  premium: {{provider: up, cost: {{input_per_mtok: 3, output_per_mtok: 15}}}}
routes:
  auto: {{candidates: [cheap, premium], fallback: cheap, decay: {{half_life_s: null}},
          breaker: {{min_requests: 1000, consecutive_failures: 1000}} {route_extra}}}
""").start()


@pytest.fixture
def gw(upstream: FakeUpstream) -> Iterator[GatewayThread]:
    server = _gateway(upstream)
    yield server
    server.stop()


@pytest.fixture
def client(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=KEY, max_retries=0)


def _post(gw: GatewayThread, model: str) -> tuple[float, float]:
    found = gw.gateway.store.snapshot("auto").get(model)
    return (found.alpha, found.beta) if found is not None else (0.0, 0.0)


def test_direct_requests_cut_short_by_their_own_budget_do_not_flip_the_route(
        gw: GatewayThread, client: openai.OpenAI, upstream: FakeUpstream) -> None:
    for i in range(10):  # the route learns that cheap answers well
        client.chat.completions.create(model="auto", messages=[{"role": "user",
                                                                  "content": f"q{i}"}])
    gw.settle()
    before = _post(gw, "cheap")
    upstream.behaviors["cheap"] = Behavior(mode="cut")
    for i in range(30):  # JSON mode with max_tokens 1, naming the model: every answer cut
        client.chat.completions.create(model="cheap", max_tokens=1,
                                       response_format={"type": "json_object"},
                                       messages=[{"role": "user", "content": f"json {i}"}])
    gw.settle()
    after = _post(gw, "cheap")
    assert after == pytest.approx(before)  # the client's own budget: not the model's fault
    upstream.behaviors.pop("cheap")
    served = [client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": f"after {i}"}]
    ).headers["x-bayesgate-model"] for i in range(20)]
    assert served.count("cheap") >= 18


def test_direct_requests_move_a_route_at_a_bounded_weight(
        gw: GatewayThread, client: openai.OpenAI, upstream: FakeUpstream) -> None:
    upstream.behaviors["cheap"] = Behavior(mode="empty")  # invalid, and not the client's doing
    for i in range(10):
        client.chat.completions.create(model="cheap", messages=[{"role": "user",
                                                                   "content": f"d{i}"}])
    gw.settle()
    alpha, beta = _post(gw, "cheap")
    weight = gw.gateway.config.routes["auto"].learning.direct_weight
    assert (alpha, beta) == (pytest.approx(20.0), pytest.approx(1.0 + 10 * weight))


def test_a_model_specific_4xx_fails_over_and_counts_against_that_model(
        gw: GatewayThread, client: openai.OpenAI, upstream: FakeUpstream) -> None:
    upstream.behaviors["cheap"] = Behavior(
        error_rate=1.0, status=400,
        error_message="This model's maximum context length is 8192 tokens")
    for i in range(10):
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": f"long {i}"}])
        assert raw.headers["x-bayesgate-model"] == "premium"
    gw.settle()
    assert upstream.count("cheap") >= 1 and upstream.count("premium") == 10
    alpha, beta = _post(gw, "cheap")
    assert alpha == pytest.approx(20.0) and beta == pytest.approx(1.0 + upstream.count("cheap"))
    assert gw.gateway.store.observations("auto", "premium") == 10


def test_a_4xx_from_every_candidate_reaches_the_client_and_charges_no_model(
        gw: GatewayThread, client: openai.OpenAI, upstream: FakeUpstream) -> None:
    for model in ("cheap", "premium"):
        upstream.behaviors[model] = Behavior(error_rate=1.0, status=400,
                                             error_message="'messages' is malformed")
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="auto", messages=MSG)
    assert "malformed" in str(caught.value)
    assert upstream.count("cheap") == upstream.count("premium") == 1
    gw.settle()
    assert _post(gw, "cheap") == _post(gw, "premium") == (0.0, 0.0)  # nothing stored


def test_a_rate_limit_cools_the_model_down_and_is_not_scored(
        gw: GatewayThread, client: openai.OpenAI, upstream: FakeUpstream) -> None:
    upstream.behaviors["cheap"] = Behavior(error_rate=1.0, status=429)  # no Retry-After
    for i in range(5):
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": f"r{i}"}])
        assert raw.headers["x-bayesgate-model"] == "premium"
    gw.settle()
    assert "cheap" not in gw.gateway.store.snapshot("auto")  # no score for a rate limit
    assert gw.gateway.live.availability.cooldown_until["cheap"] > time.time()
    stats = httpx.get(f"{gw.url}/stats", headers={"authorization": f"Bearer {KEY}"}).json()
    assert stats["routes"]["auto"]["models"]["cheap"]["failures"] >= 1


def test_a_client_that_gives_up_on_a_slow_model_charges_it(upstream: FakeUpstream) -> None:
    upstream.behaviors["cheap"] = Behavior(delay_s=2.0)
    gw = _gateway(upstream, ", reward: {latency_midpoint_ms: 300, latency_scale_ms: 100}")
    try:
        impatient = openai.OpenAI(base_url=gw.base_url, api_key=KEY, max_retries=0,
                                  timeout=0.6)
        for i in range(3):
            with pytest.raises(openai.APITimeoutError):
                impatient.chat.completions.create(model="auto", messages=[
                    {"role": "user", "content": f"slow {i}"}])
        deadline = time.time() + 5
        while _post(gw, "cheap")[1] < 4.0 and time.time() < deadline:
            time.sleep(0.05)
        gw.settle()
        alpha, beta = _post(gw, "cheap")
        assert alpha == pytest.approx(20.0) and beta == pytest.approx(4.0)  # three slow failures
        assert "premium" not in gw.gateway.store.snapshot("auto")  # never in flight
        stats = gw.gateway.stats
        assert stats.client_disconnects == 3
    finally:
        gw.stop()


def test_a_client_retry_is_charged_to_the_model_of_the_earlier_answer(
        gw: GatewayThread, upstream: FakeUpstream) -> None:
    http = httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {KEY}"})
    body = {"model": "auto", "messages": [{"role": "user", "content": "the same question"}]}
    first = http.post("/v1/chat/completions", json=body)
    assert first.headers["x-bayesgate-model"] == "cheap"
    gw.settle()
    cheap_before = _post(gw, "cheap")
    upstream.behaviors["cheap"] = Behavior(error_rate=1.0, status=500)
    again = http.post("/v1/chat/completions", json=body,
                      headers={"x-stainless-retry-count": "3"})
    assert again.headers["x-bayesgate-model"] == "premium"
    gw.settle()
    alpha, beta = _post(gw, "premium")
    assert alpha > 1.9 and alpha + beta == pytest.approx(3.0)  # no penalty for the retry count
    # cheap: the 500 just now (beta + 1), and its earlier answer corrected (alpha -> beta)
    cheap = _post(gw, "cheap")
    assert cheap[0] < cheap_before[0]
    assert cheap[0] + cheap[1] == pytest.approx(sum(cheap_before) + 1.0)


def test_the_prompt_cost_of_streams_without_usage_is_estimated_within_ten_percent(
        upstream: FakeUpstream) -> None:
    gw = _gateway(upstream)
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key=KEY, max_retries=0)
        text = " ".join(f"word{i % 97} of the document" for i in range(400))  # ~2,000 tokens
        for i in range(10):  # answers with usage calibrate the estimate for the model
            client.chat.completions.create(model="cheap", messages=[
                {"role": "user", "content": f"{i} {text}"}])
        upstream.behaviors["cheap"] = Behavior(usage=False)
        gw.settle()
        before = gw.gateway.stats.counters("", "cheap").prompt_tokens
        true = 0
        for i in range(40):  # streamed, the SDK default: no stream_options, and no usage
            messages = [{"role": "user", "content": f"{i} {text}"}]
            true += prompt_tokens({"messages": messages})
            stream = client.chat.completions.create(model="cheap", messages=messages,
                                                    stream=True)
            chunks = list(stream)
            assert all(c.usage is None for c in chunks)
        gw.settle()
        counted = gw.gateway.stats.counters("", "cheap").prompt_tokens - before
        assert abs(counted - true) <= 0.1 * true, (counted, true)
    finally:
        gw.stop()


def test_streams_ask_for_usage_and_clients_that_did_not_ask_get_none(
        gw: GatewayThread, client: openai.OpenAI, upstream: FakeUpstream) -> None:
    messages = [{"role": "user", "content": "count my tokens please"}]
    chunks = list(client.chat.completions.create(model="cheap", messages=messages,
                                                 stream=True))
    assert all(c.usage is None for c in chunks) and chunks[-1].choices
    assert upstream.requests[-1].body["stream_options"] == {"include_usage": True}
    gw.settle()
    assert gw.gateway.stats.counters("", "cheap").prompt_tokens == prompt_tokens(
        {"messages": messages})
    asked = list(client.chat.completions.create(
        model="cheap", messages=messages, stream=True, stream_options={"include_usage": True}))
    assert asked[-1].usage is not None and not asked[-1].choices


def test_a_refusal_is_counted_and_costs_its_weight(
        gw: GatewayThread, client: openai.OpenAI, upstream: FakeUpstream) -> None:
    upstream.behaviors["cheap"] = Behavior(content="I'm sorry, but I can't help with that.")
    for stream in (False, True):
        answer = client.chat.completions.create(model="auto", messages=MSG, stream=stream)
        if stream:
            list(answer)
    gw.settle()
    stats = httpx.get(f"{gw.url}/stats", headers={"authorization": f"Bearer {KEY}"}).json()
    assert stats["routes"]["auto"]["models"]["cheap"]["signals"] == {"refusal": 2}
    weight = gw.gateway.config.routes["auto"].reward.refusal_weight
    alpha, beta = _post(gw, "cheap")
    # two answers, each scored at most (1 - weight) of a clean answer's reward
    assert alpha - 20.0 <= 2 * (1 - weight) + 1e-9 and alpha + beta == pytest.approx(23.0)


def test_a_provider_can_be_spared_the_stream_usage_field(upstream: FakeUpstream) -> None:
    gw = GatewayThread(f"""
providers: {{up: {{type: openai, base_url: "{upstream.url}", stream_usage: false}}}}
models: {{plain: {{provider: up}}}}
routes: {{auto: {{candidates: [plain]}}}}
""").start()
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key="none", max_retries=0)
        assert list(client.chat.completions.create(model="auto", messages=MSG, stream=True))
        assert "stream_options" not in upstream.requests[-1].body
    finally:
        gw.stop()


@pytest.mark.parametrize("mode", ["ok", "chunked"])
def test_an_upstream_body_over_the_cap_is_an_invalid_answer(upstream: FakeUpstream,
                                                            mode: str) -> None:
    upstream.behaviors["huge"] = Behavior(content="x" * 3_000_000, mode=mode)
    gw = GatewayThread(f"""
providers: {{up: {{type: openai, base_url: "{upstream.url}", max_response_bytes: 1000000}}}}
models: {{huge: {{provider: up, prior: {{alpha: 20, beta: 1}}}}, good: {{provider: up}}}}
routes: {{auto: {{candidates: [huge, good], decay: {{half_life_s: null}}}}}}
""").start()
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key="none", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(model="auto", messages=MSG)
        assert raw.headers["x-bayesgate-model"] == "good"
        assert upstream.count("huge") == 1
        gw.settle()
        huge = gw.gateway.store.snapshot("auto")["huge"]
        assert (huge.alpha, huge.beta) == (pytest.approx(20.0), pytest.approx(2.0))
        with pytest.raises(openai.APIStatusError) as caught:  # named: nowhere else to go
            client.chat.completions.create(model="huge", messages=MSG)
        assert caught.value.status_code == 502 and "max_response_bytes" in str(caught.value)
    finally:
        gw.stop()


def test_upstream_json_too_deep_to_write_is_garbage_not_a_500(upstream: FakeUpstream) -> None:
    upstream.behaviors["deep"] = Behavior(mode="deep")
    gw = GatewayThread(f"""
providers: {{up: {{type: openai, base_url: "{upstream.url}"}}}}
models: {{deep: {{provider: up, prior: {{alpha: 20, beta: 1}}}}, good: {{provider: up}}}}
routes: {{auto: {{candidates: [deep, good], decay: {{half_life_s: null}}}}}}
""").start()
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key="none", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(model="auto", messages=MSG)
        assert raw.headers["x-bayesgate-model"] == "good"  # failed over, as for any garbage
        gw.settle()
        assert gw.gateway.store.snapshot("auto")["deep"].beta == pytest.approx(2.0)
        http = httpx.Client(base_url=gw.url, timeout=10)
        with http.stream("POST", "/v1/chat/completions", json={
                "model": "deep", "messages": MSG, "stream": True}) as r:
            assert r.status_code == 200
            text = "".join(r.iter_text())
        assert '"error"' in text and "cannot be passed on" in text  # an error event, in shape
    finally:
        gw.stop()
