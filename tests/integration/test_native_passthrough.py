"""Native pass-through: a provider marked `native: [responses, messages]` gets requests through
those front doors untranslated and its answers go back as they came (reasoning items,
thinking blocks, the upstream's ids), while the gateway still routes, fails over, measures and
learns from them like any other answer. The official openai and anthropic SDKs -> a real
uvicorn gateway -> a fake upstream over real HTTP that speaks all three APIs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest
from support.gateway import GatewayThread
from support.native_upstream import NativeUpstream
from support.upstream import Behavior

KEY = "gw-native-key-123456"
UPSTREAM_KEY = "sk-upstream-secret-778899"
TOOLS = [{"type": "function", "name": "get_weather", "description": "The weather",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                         "required": ["city"]}}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[NativeUpstream]:
    server = NativeUpstream(behaviors={
        "up-down": Behavior(error_rate=1.0, status=500),
        "up-garbage": Behavior(mode="invalid_json"),
        "up-opening-drop": Behavior(mode="opening_drop"),
        "up-drop": Behavior(mode="drop"),
        "up-error-event": Behavior(mode="error_event"),
        "up-no-end": Behavior(mode="no_end"),
    }).start()
    yield server
    server.stop()


def config(url: str) -> str:
    off = "decay: {half_life_s: null}"
    first = f"{off}, confidence_floor: 0.99"  # the fallback, the first candidate, goes first
    return f"""
server: {{api_keys: ["{KEY}"]}}
providers:
  up: {{type: openai, base_url: "{url}", api_key: "{UPSTREAM_KEY}",
        native: [responses, messages]}}
  plain: {{type: openai, base_url: "{url}", api_key: "{UPSTREAM_KEY}"}}
models:
  nat: {{provider: up, upstream_name: up-model}}
  nat-down: {{provider: up, upstream_name: up-down}}
  nat-garbage: {{provider: up, upstream_name: up-garbage}}
  nat-opening-drop: {{provider: up, upstream_name: up-opening-drop}}
  nat-drop: {{provider: up, upstream_name: up-drop}}
  nat-error-event: {{provider: up, upstream_name: up-error-event}}
  nat-no-end: {{provider: up, upstream_name: up-no-end}}
  chat-only: {{provider: plain, upstream_name: plain-model}}
routes:
  auto: {{candidates: [nat], {off}}}
  down: {{candidates: [nat-down, chat-only], {first}}}
  garbage: {{candidates: [nat-garbage, chat-only], {first}}}
  opening: {{candidates: [nat-opening-drop, chat-only], {first}}}
  broken: {{candidates: [nat-drop], {off}}}
  error-event: {{candidates: [nat-error-event], {off}}}
  no-end: {{candidates: [nat-no-end], {off}}}
"""


@pytest.fixture(scope="module")
def gw(upstream: NativeUpstream) -> Iterator[GatewayThread]:
    server = GatewayThread(config(upstream.url)).start()
    yield server
    server.stop()


@pytest.fixture
def oa(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=KEY, max_retries=0)


@pytest.fixture
def an(gw: GatewayThread) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=KEY, max_retries=0)


def strength(gw: GatewayThread, route: str, model: str) -> float:
    gw.settle()
    post = gw.gateway.store.snapshot(route).get(model)
    return post.alpha + post.beta if post is not None else 2.0


def last_seen(upstream: NativeUpstream) -> Any:
    return upstream.requests[-1]


def test_responses_go_untranslated_and_come_back_as_they_came(
        gw: GatewayThread, upstream: NativeUpstream, oa: openai.OpenAI) -> None:
    before = strength(gw, "auto", "nat")
    given = [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]
    raw = oa.responses.with_raw_response.create(model="auto", input=given,  # type: ignore
                                                instructions="be brief",
                                                reasoning={"effort": "low"})
    response = raw.parse()
    seen = last_seen(upstream)
    assert seen.path == "/v1/responses" and seen.model == "up-model"
    assert seen.body["input"] == given and seen.body["reasoning"] == {"effort": "low"}
    assert "messages" not in seen.body and seen.body["instructions"] == "be brief"
    assert seen.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert response.id.startswith("resp_up") and response.model == "nat"
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output_text == "Hello from the fake upstream."
    assert raw.headers["x-bayesgate-model"] == "nat"
    assert strength(gw, "auto", "nat") == pytest.approx(before + 1)
    counters = gw.gateway.stats.counters("auto", "nat")
    assert counters.invalid == 0 and counters.doors["responses"] >= 1


def test_a_responses_stream_is_relayed_event_for_event(
        gw: GatewayThread, upstream: NativeUpstream, oa: openai.OpenAI) -> None:
    before = strength(gw, "auto", "nat")
    with oa.responses.stream(model="auto", input="hi") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[:3] == ["response.created", "response.in_progress",
                         "response.output_item.added"]
    assert kinds[-1] == "response.completed" and "response.output_text.delta" in kinds
    assert final.model == "nat" and final.id.startswith("resp_up")
    assert final.output[0].type == "reasoning"
    assert final.output_text == "Hello from the fake upstream."
    assert last_seen(upstream).body["stream"] is True
    assert strength(gw, "auto", "nat") == pytest.approx(before + 1)
    kept = oa.responses.retrieve(final.id)  # kept as it streamed, under the upstream's id
    assert kept.output_text == final.output_text and kept.model == "nat"
    with oa.responses.stream(model="auto", input="and?", previous_response_id=final.id) as s:
        assert s.get_final_response().previous_response_id == final.id
    assert [i.get("type", "message") for i in last_seen(upstream).body["input"]] == [
        "message", "reasoning", "message", "message"]


def test_a_stored_chain_is_sent_whole_and_kept_under_the_upstreams_ids(
        gw: GatewayThread, upstream: NativeUpstream, oa: openai.OpenAI) -> None:
    first = oa.responses.create(model="auto", input="what is 6 x 7?")
    second = oa.responses.create(model="auto", input="and then?", previous_response_id=first.id)
    body = last_seen(upstream).body
    assert "previous_response_id" not in body
    kinds = [(item.get("type", "message"), item.get("role")) for item in body["input"]]
    assert kinds == [("message", "user"), ("reasoning", None), ("message", "assistant"),
                     ("message", "user")]
    assert body["input"][1]["id"] == first.output[0].id  # the upstream finds it by its id
    assert all("id" not in item for i, item in enumerate(body["input"]) if i != 1)
    kept = oa.responses.retrieve(second.id)
    assert kept.model == "nat" and kept.previous_response_id == first.id
    assert second.previous_response_id == first.id
    assert second.id != first.id


def test_a_function_tool_round_trip(gw: GatewayThread, upstream: NativeUpstream,
                                    oa: openai.OpenAI) -> None:
    first = oa.responses.create(model="auto", input="weather in Paris?",
                                tools=TOOLS)  # type: ignore[arg-type]
    call = first.output[-1]
    assert call.type == "function_call" and call.name == "get_weather"
    assert orjson.loads(call.arguments) == {"city": "Paris"}
    oa.responses.create(model="auto", previous_response_id=first.id, input=[{
        "type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    sent = last_seen(upstream).body["input"]
    assert [item["type"] for item in sent[-2:]] == ["function_call", "function_call_output"]
    assert sent[-1]["call_id"] == call.call_id


def test_messages_keep_thinking_and_cache_control(gw: GatewayThread, upstream: NativeUpstream,
                                                  an: anthropic.Anthropic) -> None:
    before = strength(gw, "auto", "nat")
    system = [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}]
    message = an.messages.create(
        model="auto", max_tokens=2000, system=system,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "hi"}],
        thinking={"type": "enabled", "budget_tokens": 1024},
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"})
    seen = last_seen(upstream)
    assert seen.path == "/v1/messages" and seen.model == "up-model"
    assert seen.body["system"] == system and seen.body["thinking"]["budget_tokens"] == 1024
    assert seen.headers["x-api-key"] == UPSTREAM_KEY and "authorization" not in seen.headers
    assert seen.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert seen.headers["anthropic-version"] == an.default_headers["anthropic-version"]
    assert message.model == "nat" and message.id.startswith("msg_up")
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].signature.startswith("sig-up")  # type: ignore[union-attr]
    assert message.usage.cache_read_input_tokens == 3
    assert strength(gw, "auto", "nat") == pytest.approx(before + 1)


def test_a_messages_stream_and_a_tool_call(gw: GatewayThread, an: anthropic.Anthropic) -> None:
    before = strength(gw, "auto", "nat")
    with an.messages.stream(model="auto", max_tokens=100,
                            messages=[{"role": "user", "content": "hi"}]) as stream:
        final = stream.get_final_message()
    assert final.model == "nat" and [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[1].text == "Hello from the fake upstream."  # type: ignore[union-attr]
    tools = [{"name": "get_weather", "input_schema": TOOLS[0]["parameters"]}]
    with an.messages.stream(model="auto", max_tokens=100, tools=tools,  # type: ignore[arg-type]
                            messages=[{"role": "user", "content": "weather?"}]) as stream:
        used = stream.get_final_message()
    assert used.stop_reason == "tool_use"
    assert used.content[-1].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert strength(gw, "auto", "nat") == pytest.approx(before + 2)
    assert gw.gateway.stats.counters("auto", "nat").invalid == 0


@pytest.mark.parametrize("route", ["down", "garbage"])
def test_a_failing_native_candidate_fails_over_to_a_translated_one(
        gw: GatewayThread, upstream: NativeUpstream, oa: openai.OpenAI, route: str) -> None:
    raw = oa.responses.with_raw_response.create(model=route, input="hi")
    assert raw.headers["x-bayesgate-model"] == "chat-only"
    assert raw.parse().model == "chat-only" and raw.parse().output_text
    assert last_seen(upstream).path == "/v1/chat/completions"
    assert gw.gateway.stats.counters(route, f"nat-{route}").failures >= 1


def test_a_stream_that_breaks_before_the_answer_fails_over(
        gw: GatewayThread, an: anthropic.Anthropic, oa: openai.OpenAI) -> None:
    with oa.responses.stream(model="opening", input="hi") as stream:
        kinds = [event.type for event in stream]
        assert stream.get_final_response().model == "chat-only"
    assert kinds.count("response.created") == 1  # the dropped one's never reached the client
    with an.messages.stream(model="opening", max_tokens=50,
                            messages=[{"role": "user", "content": "hi"}]) as s:
        assert s.get_final_message().model == "chat-only"


def sse_types(gw: GatewayThread, path: str, body: dict[str, Any]) -> list[str]:
    with httpx.stream("POST", gw.url + path, json=body, timeout=10,
                      headers={"authorization": f"Bearer {KEY}"}) as resp:
        assert resp.status_code == 200
        lines = [line for line in resp.iter_lines() if line.startswith("data:")]
    return [orjson.loads(line[5:])["type"] for line in lines]


@pytest.mark.parametrize(("route", "model"), [("broken", "nat-drop"),
                                              ("error-event", "nat-error-event"),
                                              ("no-end", "nat-no-end")])
def test_a_break_after_the_first_byte_ends_in_the_dialects_error(
        gw: GatewayThread, upstream: NativeUpstream, route: str, model: str) -> None:
    kinds = sse_types(gw, "/v1/responses", {"model": route, "input": "hi", "stream": True})
    assert kinds[0] == "response.created" and kinds[-1] == "response.failed"
    assert "response.completed" not in kinds
    kinds = sse_types(gw, "/v1/messages", {"model": route, "max_tokens": 20, "stream": True,
                                           "messages": [{"role": "user", "content": "hi"}]})
    assert kinds[0] == "message_start" and kinds[-1] == "error" and "message_stop" not in kinds
    assert upstream.requests[-1].headers["anthropic-version"] == "2023-06-01"  # none was sent
    gw.settle()
    assert gw.gateway.stats.counters(route, model).failures >= 2


def test_chat_to_the_same_provider_stays_chat(gw: GatewayThread, upstream: NativeUpstream,
                                              oa: openai.OpenAI) -> None:
    before = strength(gw, "auto", "nat")
    answer = oa.chat.completions.create(model="auto", messages=[{"role": "user",
                                                                 "content": "hi"}])
    assert answer.model == "nat" and last_seen(upstream).path == "/v1/chat/completions"
    assert strength(gw, "auto", "nat") == pytest.approx(before + 1)


def test_count_tokens_asks_an_upstream_that_speaks_messages(
        gw: GatewayThread, upstream: NativeUpstream, an: anthropic.Anthropic) -> None:
    hi = [{"role": "user", "content": "hi"}]
    assert an.messages.count_tokens(model="auto", messages=hi).input_tokens == 42  # type: ignore
    seen = last_seen(upstream)
    assert seen.path == "/v1/messages/count_tokens" and seen.model == "up-model"
    assert "max_tokens" not in seen.body and seen.headers["x-api-key"] == UPSTREAM_KEY
    # no native candidate, or its upstream failing: the estimate (4 characters a token)
    calls = len(upstream.requests)
    assert an.messages.count_tokens(model="chat-only", messages=hi).input_tokens != 42
    assert len(upstream.requests) == calls
    assert an.messages.count_tokens(model="down", messages=hi).input_tokens != 42
    assert last_seen(upstream).model == "up-down"


WEB_SEARCH = {"type": "web_search"}
SERVER_TOOL = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}


def test_built_in_tools_go_only_to_candidates_that_speak_the_api(
        gw: GatewayThread, upstream: NativeUpstream, oa: openai.OpenAI,
        an: anthropic.Anthropic) -> None:
    answer = oa.responses.create(model="auto", input="news?",
                                 tools=[WEB_SEARCH, *TOOLS])  # type: ignore[list-item]
    assert answer.model == "nat" and last_seen(upstream).body["tools"][0] == WEB_SEARCH
    message = an.messages.create(model="auto", max_tokens=50, tools=[SERVER_TOOL],  # type: ignore
                                 messages=[{"role": "user", "content": "news?"}])
    assert message.model == "nat" and last_seen(upstream).body["tools"] == [SERVER_TOOL]
    calls = len(upstream.requests)
    # "down" has a native candidate (failing) and a chat one: only the native one may take it
    with pytest.raises(openai.APIStatusError) as failed:
        oa.responses.create(model="down", input="news?", tools=[WEB_SEARCH])  # type: ignore
    assert failed.value.status_code == 502
    assert {r.model for r in upstream.requests[calls:]} == {"up-down"}  # tried, retried
    calls = len(upstream.requests)
    with pytest.raises(openai.BadRequestError) as refused:
        oa.responses.create(model="chat-only", input="news?", tools=[WEB_SEARCH])  # type: ignore
    assert "'web_search'" in refused.value.message and "native" in refused.value.message
    with pytest.raises(anthropic.BadRequestError) as info:
        an.messages.create(model="chat-only", max_tokens=50, tools=[SERVER_TOOL],  # type: ignore
                           messages=[{"role": "user", "content": "news?"}])
    assert "web_search_20250305" in info.value.message
    assert len(upstream.requests) == calls  # refused before any upstream
