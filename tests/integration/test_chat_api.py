"""The OpenAI-compatible surface, end to end: the official openai SDK -> a real uvicorn server
-> a fake upstream over real HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import openai
import pytest
from support.gateway import GatewayThread
from support.upstream import Behavior, FakeUpstream, prompt_tokens

KEY = "gw-test-key-123456"
ADMIN = {"authorization": f"Bearer {KEY}"}  # with no admin_keys, the API keys open /stats
UPSTREAM_KEY = "sk-upstream-secret-abcdef123456"


def config(upstream_url: str, extra_routes: str = "") -> str:
    return f"""
server: {{api_keys: ["{KEY}"], max_body_bytes: 20000}}
providers:
  up: {{type: openai, base_url: "{upstream_url}", api_key: "{UPSTREAM_KEY}", timeout_s: 2}}
models:
  m-good: {{provider: up, upstream_name: good-upstream}}
  m-other: {{provider: up}}
  m-bad: {{provider: up}}
routes:
  auto: {{candidates: [m-good, m-other], cost_weight: 0, decay: {{half_life_s: null}}}}
  flaky: {{candidates: [m-bad, m-good], fallback: m-bad, cost_weight: 0}}
{extra_routes}
"""


@pytest.fixture
def gw(upstream: FakeUpstream) -> Iterator[GatewayThread]:
    server = GatewayThread(config(upstream.url)).start()
    yield server
    server.stop()


@pytest.fixture
def client(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=KEY, max_retries=0)


def test_non_streaming_answer_with_headers(client: openai.OpenAI, upstream: FakeUpstream) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hi"}])
    answer = raw.parse()
    assert answer.choices[0].message.content == "Hello from the fake upstream."
    assert answer.model in ("m-good", "m-other")
    assert raw.headers["x-bayesgate-route"] == "auto"
    assert raw.headers["x-bayesgate-model"] == answer.model
    decision = raw.headers["x-bayesgate-decision"]  # signed: it names what decided
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}", decision)
    assert raw.headers["x-bayesgate-class"] == "chat"
    overhead = float(raw.headers["x-bayesgate-overhead-ms"])
    assert 0 <= overhead < 1000
    seen = upstream.requests[-1]
    # The upstream gets the configured upstream name and key, never the client's key.
    assert seen.model == ("good-upstream" if answer.model == "m-good" else "m-other")
    assert seen.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert KEY not in json.dumps(seen.headers)


def test_streaming_with_usage(client: openai.OpenAI, gw: GatewayThread) -> None:
    stream = client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == "Hello from the fake upstream."
    assert {c.model for c in chunks} <= {"m-good", "m-other"}
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == prompt_tokens({"messages": [{"content": "hi"}]})
    gw.settle()
    stats = gw.gateway.stats
    answers = sum(stats.counters("auto", m).answers for m in ("m-good", "m-other"))
    assert answers == 1


def test_tools_and_response_format_pass_through(client: openai.OpenAI,
                                                upstream: FakeUpstream) -> None:
    tools = [{"type": "function", "function": {
        "name": "weather", "parameters": {"type": "object",
                                          "properties": {"city": {"type": "string"}}}}}]
    answer = client.chat.completions.create(
        model="m-good", messages=[{"role": "user", "content": "weather?"}], tools=tools)
    call = answer.choices[0].message.tool_calls[0]
    assert call.function.name == "weather" and json.loads(call.function.arguments)["city"]
    assert upstream.requests[-1].body["tools"] == tools
    answer = client.chat.completions.create(
        model="m-good", messages=[{"role": "user", "content": "json"}],
        response_format={"type": "json_object"})
    assert json.loads(answer.choices[0].message.content) == {"answer": 42}
    assert upstream.requests[-1].body["response_format"] == {"type": "json_object"}


def test_client_cannot_redirect_or_inject(gw: GatewayThread, upstream: FakeUpstream) -> None:
    body = {"model": "m-good", "messages": [{"role": "user", "content": "x"}],
            "api_base": "http://evil.example", "api_key": "sk-evil", "extra_headers": {"a": "b"}}
    r = httpx.post(f"{gw.base_url}/chat/completions", json=body,
                   headers={"authorization": f"Bearer {KEY}"})
    assert r.status_code == 200
    forwarded = upstream.requests[-1].body
    assert not {"api_base", "api_key", "extra_headers"} & forwarded.keys()


def test_only_known_fields_reach_the_upstream(upstream: FakeUpstream) -> None:
    """A deny-list let any field it did not name through (vendor switches, a proxy's own
    credentials under a new name); now OpenAI's fields pass, and a provider's extra_fields."""
    gw = GatewayThread(config(upstream.url).replace(
        "timeout_s: 2}", "timeout_s: 2, extra_fields: [top_k]}")).start()
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key=KEY, max_retries=0)
        client.chat.completions.create(
            model="m-good", messages=[{"role": "user", "content": "x"}], temperature=0.2,
            seed=7, metadata={"team": "a"}, user="u-1",
            extra_body={"top_k": 5, "proxy_api_key": "sk-evil", "vendor_mode": "x",
                        "litellm_logging_obj": {}})
        forwarded = upstream.requests[-1].body
        assert {k: forwarded[k] for k in ("temperature", "seed", "metadata", "user", "top_k")} \
            == {"temperature": 0.2, "seed": 7, "metadata": {"team": "a"}, "user": "u-1",
                "top_k": 5}
        assert not {"proxy_api_key", "vendor_mode", "litellm_logging_obj"} & forwarded.keys()
        assert forwarded["model"] == "good-upstream"
    finally:
        gw.stop()


def test_direct_model_and_models_list(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(model="m-other",
                                            messages=[{"role": "user", "content": "hi"}])
    assert answer.model == "m-other"
    ids = {m.id for m in client.models.list()}
    assert {"auto", "flaky", "m-good", "m-other", "m-bad"} <= ids


@pytest.mark.parametrize(("body", "status", "kind", "code"), [
    (b"{not json", 400, "invalid_request_error", None),
    (b'{"model": "auto"}', 400, "invalid_request_error", None),
    (b'{"model": "auto", "messages": "hi"}', 400, "invalid_request_error", None),
    (b'[1, 2]', 400, "invalid_request_error", None),
    (b'{"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}', 404,
     "invalid_request_error", "model_not_found"),
    (b'{"model": "auto", "messages": [{"role": "user", "content": "' + b"x" * 30000 + b'"}]}',
     413, "invalid_request_error", "request_too_large"),
])
def test_bad_input(gw: GatewayThread, body: bytes, status: int, kind: str,
                   code: str | None) -> None:
    r = httpx.post(f"{gw.base_url}/chat/completions", content=body,
                   headers={"authorization": f"Bearer {KEY}",
                            "content-type": "application/json"})
    assert r.status_code == status
    error = r.json()["error"]
    assert error["type"] == kind and error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    if code:
        assert error["code"] == code


def test_sdk_raises_typed_errors(client: openai.OpenAI, gw: GatewayThread) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "model_not_found"
    bad = openai.OpenAI(base_url=gw.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}])
    r = httpx.post(f"{gw.base_url}/chat/completions", json={"model": "auto", "messages": []})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"


def test_failover_then_all_failed(client: openai.OpenAI, gw: GatewayThread,
                                  upstream: FakeUpstream) -> None:
    upstream.behaviors["m-bad"] = Behavior(error_rate=1.0, status=503)
    for _ in range(5):
        answer = client.chat.completions.create(model="flaky",
                                                messages=[{"role": "user", "content": "x"}])
        assert answer.model == "m-good"
    upstream.behaviors["good-upstream"] = Behavior(error_rate=1.0, status=500)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="flaky", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502
    body = info.value.response.json()["error"]
    assert body["type"] == "upstream_error"
    assert UPSTREAM_KEY not in info.value.response.text
    gw.settle()
    # Every failed attempt is scored: the failing model's posterior falls below the good one's.
    stats = httpx.get(f"{gw.url}/stats", headers=ADMIN).json()["routes"]["flaky"]["models"]
    assert stats["m-bad"]["failures"] >= 1
    assert stats["m-bad"]["mean"] < stats["m-good"]["mean"]


def test_timeout_is_504_and_stream_failover(client: openai.OpenAI, gw: GatewayThread,
                                            upstream: FakeUpstream) -> None:
    upstream.behaviors["m-bad"] = Behavior(mode="hang")
    upstream.behaviors["good-upstream"] = Behavior(mode="hang")
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="flaky", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 504
    upstream.behaviors["good-upstream"] = Behavior()
    upstream.behaviors["m-bad"] = Behavior(error_rate=1.0, status=500)
    chunks = list(client.chat.completions.create(
        model="flaky", messages=[{"role": "user", "content": "x"}], stream=True))
    assert chunks and all(c.model == "m-good" for c in chunks)


def test_upstream_client_error_is_passed_on_redacted(client: openai.OpenAI,
                                                     upstream: FakeUpstream) -> None:
    upstream.behaviors["m-other"] = Behavior(error_rate=1.0, status=400)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="m-other",
                                       messages=[{"role": "user", "content": "x"}])
    assert "fake failure of m-other" in info.value.message
    assert upstream.count("m-other") == 1  # a client error is not retried elsewhere


def test_broken_stream_ends_with_error_event(client: openai.OpenAI,
                                             upstream: FakeUpstream) -> None:
    upstream.behaviors["m-other"] = Behavior(mode="error_event")
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(
                model="m-other", messages=[{"role": "user", "content": "x"}], stream=True):
            pass


def test_health_ready_stats(gw: GatewayThread, client: openai.OpenAI) -> None:
    client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}])
    gw.settle()
    assert httpx.get(f"{gw.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{gw.url}/readyz").json()["status"] == "ready"
    stats = httpx.get(f"{gw.url}/stats", headers=ADMIN).json()
    models = stats["routes"]["auto"]["models"]
    assert set(models) == {"m-good", "m-other"}
    row = next(r for r in models.values() if r["selections"] == 1)
    # One observation adds exactly one to alpha + beta (prior 1 + 1, decay off).
    assert row["alpha"] + row["beta"] == pytest.approx(3.0, abs=1e-3)
    assert row["share"] == 1.0
    assert {"alpha", "beta", "mean", "selections", "share", "failures", "circuit",
            "shadow"} <= row.keys()
    assert UPSTREAM_KEY not in json.dumps(stats) and KEY not in json.dumps(stats)
