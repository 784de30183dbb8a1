"""The Anthropic Messages API front door, end to end: the official anthropic SDK -> a real
uvicorn gateway (simulated models) -> the same pipeline as chat."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import pytest
from support.gateway import GatewayThread

KEY = "gw-messages-key-123456"
TOOLS = [{"name": "get_weather", "description": "The weather in a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]}}]
HI = [{"role": "user", "content": "hi"}]


def config() -> str:
    sim = "simulate: {latency_ms: 5, jitter_ms: 1, output_tokens: 12, chunks: 4}"
    return f"""
server: {{api_keys: ["{KEY}"]}}
providers: {{sim: {{type: simulated}}}}
models:
  sim-a: {{provider: sim, {sim}}}
  sim-b: {{provider: sim, {sim}}}
routes:
  auto: {{candidates: [sim-a, sim-b]}}
  claude-sonnet-4-5: {{candidates: [sim-b, sim-a]}}
"""


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayThread]:
    server = GatewayThread(config()).start()
    yield server
    server.stop()


@pytest.fixture
def client(gw: GatewayThread) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=KEY, max_retries=0)


@pytest.mark.parametrize("model", ["auto", "claude-sonnet-4-5", "sim-a"])
def test_plain_answer(client: anthropic.Anthropic, model: str) -> None:
    raw = client.messages.with_raw_response.create(model=model, max_tokens=100, messages=HI,
                                                   system="be brief")
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.model == raw.headers["x-bayesgate-model"]
    assert message.content[0].type == "text"
    assert message.content[0].text.startswith("the gateway routes")
    assert message.stop_reason == "end_turn" and message.usage.output_tokens == 12


def test_bearer_auth_works_too(gw: GatewayThread) -> None:
    client = anthropic.Anthropic(base_url=gw.url, auth_token=KEY, max_retries=0)
    assert client.messages.create(model="auto", max_tokens=10, messages=HI).content


def test_stream(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model="auto", max_tokens=100, messages=HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.startswith("the gateway routes") and final.content[0].text == text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 12


def test_tool_use_round_trip(client: anthropic.Anthropic) -> None:
    first = client.messages.create(model="auto", max_tokens=100, tools=TOOLS,
                                   tool_choice={"type": "any"},
                                   messages=[{"role": "user", "content": "weather in Oslo?"}])
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.name == "get_weather" and isinstance(use.input["city"], str)
    second = client.messages.create(model="auto", max_tokens=100, tools=TOOLS, messages=[
        {"role": "user", "content": "weather in Oslo?"},
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                      "content": "cold"}]}])
    assert second.stop_reason == "end_turn" and second.content[0].type == "text"


def test_streamed_tool_use(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model="auto", max_tokens=100, tools=TOOLS,
                                tool_choice={"type": "tool", "name": "get_weather"},
                                messages=[{"role": "user", "content": "weather?"}]) as stream:
        final = stream.get_final_message()
    use = final.content[0]
    assert use.type == "tool_use" and isinstance(use.input.get("city"), str)


def test_count_tokens(client: anthropic.Anthropic) -> None:
    counted = client.messages.count_tokens(model="auto", messages=[
        {"role": "user", "content": "hello " * 100}])
    assert 100 <= counted.input_tokens <= 400


def test_errors_are_in_anthropics_shape(gw: GatewayThread, client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model="nope", max_tokens=10, messages=HI)
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=gw.url, api_key="wrong", max_retries=0).messages.create(
            model="auto", max_tokens=10, messages=HI)
    for body, message in [
        ({"model": "auto", "messages": HI}, "max_tokens: Field required"),
        ({"model": "auto", "max_tokens": 5, "messages": [{"role": "bot", "content": "x"}]},
         "messages.0.role"),
        ({"model": "auto", "max_tokens": 5, "messages": HI,
          "tools": [{"type": "bash_20250124", "name": "bash"}]}, "the server tool"),
    ]:
        answer = httpx.post(f"{gw.url}/v1/messages", json=body, headers={"x-api-key": KEY})
        assert answer.status_code == 400
        assert answer.json()["type"] == "error"
        assert answer.json()["error"]["type"] == "invalid_request_error"
        assert message in answer.json()["error"]["message"]
    answer = httpx.post(f"{gw.url}/v1/messages", content=b"[", headers={"x-api-key": KEY})
    assert answer.status_code == 400 and answer.json()["type"] == "error"
