"""The Anthropic Messages translation, held to the official anthropic SDK's typed models:
requests to chat, chat answers to messages, chat streams to the typed events, errors."""

from __future__ import annotations

import typing
from typing import Any

import orjson
import pytest
from anthropic.types import Message, RawMessageStreamEvent

from gateway.errors import GatewayError, model_not_found, stream_failed, too_large
from gateway.translate import messages_answer, messages_request
from gateway.translate.messages_answer import MessagesEvents

EVENTS = {cls.model_fields["type"].annotation.__args__[0]: cls
          for cls in typing.get_args(typing.get_args(RawMessageStreamEvent)[0])}
TOOL = {"name": "get_weather", "description": "Weather now",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


def test_system_blocks_tool_use_and_results_become_chat() -> None:
    chat = messages_request.chat_request({
        "model": "auto", "max_tokens": 64, "system": [{"type": "text", "text": "be brief",
                                                       "cache_control": {"type": "ephemeral"}}],
        "stop_sequences": ["END"], "temperature": 0.5, "top_k": 3,
        "metadata": {"user_id": "u-1"}, "tools": [TOOL],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "weather?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": "iVBO"}}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hm", "signature": "s"},
                {"type": "text", "text": "checking"},
                {"type": "tool_use", "id": "tu_1", "name": "get_weather",
                 "input": {"city": "Oslo"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "tu_1", "content": [
                    {"type": "text", "text": "cold"}]},
                {"type": "text", "text": "and tomorrow?"}]}]})
    assert chat == {
        "model": "auto", "max_completion_tokens": 64, "temperature": 0.5, "stop": ["END"],
        "user": "u-1", "tool_choice": "required", "parallel_tool_calls": False,
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "parameters": TOOL["input_schema"],
            "description": "Weather now"}}],
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "weather?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}]},
            {"role": "assistant", "content": "checking", "tool_calls": [
                {"id": "tu_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]},
            {"role": "tool", "tool_call_id": "tu_1", "content": "cold"},
            {"role": "user", "content": [{"type": "text", "text": "and tomorrow?"}]}]}


@pytest.mark.parametrize(("body", "message"), [
    ({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens: Field required"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "tool", "content": "hi"}]},
     "messages.0.role: must be 'user' or 'assistant'"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
      "output_config": {"format": {"type": "regex"}}}, "output_config.format: expected"),
    ({"model": "m", "max_tokens": 5, "messages": []}, "messages: Field required"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
      "tools": [{"type": "web_search_20250305", "name": "web_search"}]},
     "tools.0: the server tool 'web_search_20250305' cannot be served"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "server_tool_use", "id": "x"}]}]},
     "messages.0.content.0: content blocks of type 'server_tool_use' are not supported"),
    ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model: Field required"),
])
def test_what_cannot_be_translated_is_a_400_that_names_it(body: dict[str, Any],
                                                           message: str) -> None:
    with pytest.raises(GatewayError) as caught:
        messages_request.chat_request(body)
    assert caught.value.status == 400 and message in caught.value.message


def test_structured_output_and_a_system_message_inside_messages() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    chat = messages_request.chat_request({
        "model": "m", "max_tokens": 5, "output_config": {"format": {
            "type": "json_schema", "schema": schema}},
        "messages": [{"role": "system", "content": [{"type": "text", "text": "rules"}]},
                     {"role": "user", "content": "x"}]})
    assert chat["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "output", "schema": schema, "strict": True}}
    assert chat["messages"] == [{"role": "system", "content": "rules"},
                                {"role": "user", "content": "x"}]


def test_an_answer_is_a_message_the_sdk_reads() -> None:
    data = {"id": "c", "model": "sim-a", "choices": [{"index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": "sure", "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]}}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}}
    message = Message.model_validate(messages_answer.message(data))
    assert message.model == "sim-a" and message.stop_reason == "tool_use"
    assert message.content[0].type == "text" and message.content[0].text == "sure"
    assert message.content[1].type == "tool_use" and message.content[1].input == {"city": "Oslo"}
    assert message.usage.input_tokens == 9 and message.usage.output_tokens == 4
    assert message.id.startswith("msg_")


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "c", "model": "sim-a", "choices": [{"index": 0, "delta": delta,
                                                      "finish_reason": finish}]}


def parse(frames: bytes) -> list[Any]:
    events = []
    for frame in frames.decode().split("\n\n"):
        if not frame:
            continue
        name, data = frame.split("\n")
        payload = orjson.loads(data.removeprefix("data: "))
        assert name == f"event: {payload['type']}"
        events.append(payload if payload["type"] in ("ping", "error") else
                      EVENTS[payload["type"]].model_validate(payload))
    return events


def test_a_text_and_tool_stream_is_anthropics_event_sequence() -> None:
    encoder = MessagesEvents("sim-a")
    frames = b"".join([
        encoder.chunk(chunk({"role": "assistant", "content": ""})),
        encoder.chunk(chunk({"content": "Hi "})), encoder.chunk(chunk({"content": "there"})),
        encoder.chunk(chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                             "function": {"name": "f", "arguments": ""}}]})),
        encoder.chunk(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]})),
        encoder.chunk(chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]})),
        encoder.chunk(chunk({}, "tool_calls")),
        encoder.chunk({"id": "c", "model": "m", "choices": [],
                       "usage": {"prompt_tokens": 5, "completion_tokens": 3}}),
        encoder.end()])
    events = parse(frames)
    kinds = [e["type"] if isinstance(e, dict) else e.type for e in events]
    assert kinds == ["message_start", "ping", "content_block_start", "content_block_delta",
                     "content_block_delta", "content_block_stop", "content_block_start",
                     "content_block_delta", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    assert events[0].message.model == "sim-a"
    assert [e.index for e in events[2:6]] == [0, 0, 0, 0]
    assert [e.index for e in events[6:10]] == [1, 1, 1, 1]
    assert events[6].content_block.type == "tool_use" and events[6].content_block.id == "call_1"
    assert "".join(e.delta.partial_json for e in events[7:9]) == '{"a":1}'
    assert events[10].delta.stop_reason == "tool_use"
    assert events[10].usage.output_tokens == 3 and events[10].usage.input_tokens == 5


def test_a_stream_broken_midway_ends_with_an_error_event() -> None:
    encoder = MessagesEvents("sim-a")
    events = parse(encoder.chunk(chunk({"content": "par"})) +
                   encoder.failed(stream_failed("upstream reset")))
    assert events[-1] == {"type": "error", "error": {"type": "api_error",
                                                     "message": "upstream reset"}}


@pytest.mark.parametrize(("error", "kind"), [
    (model_not_found("x"), "not_found_error"), (too_large(10), "request_too_large"),
    (GatewayError(429, "slow down"), "rate_limit_error"), (GatewayError(504, "late"),
                                                            "timeout_error"),
    (GatewayError(401, "no"), "authentication_error"), (GatewayError(502, "x"), "api_error")])
def test_errors_are_in_anthropics_shape(error: GatewayError, kind: str) -> None:
    assert orjson.loads(messages_answer.error_body(error)) == {
        "type": "error", "error": {"type": kind, "message": error.message}}
