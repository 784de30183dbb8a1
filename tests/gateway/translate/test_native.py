"""Native answers read into chat for measuring: answers and events shaped as the official SDKs'
typed models say (each one validated by them first), read into what the pipeline's validity,
usage and signal checks see; and answers or events of any other shape never raise."""

from __future__ import annotations

import typing
from typing import Any

import orjson
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from openai.types.responses import Response, ResponseStreamEvent
from support.native_upstream import message, message_events, response, response_events
from support.upstream import Behavior

from gateway.errors import stream_failed
from gateway.learning.validity import StreamTally, check_completion
from gateway.translate import native

OPENAI_EVENTS = {cls.model_fields["type"].annotation.__args__[0]: cls
                 for cls in typing.get_args(typing.get_args(ResponseStreamEvent)[0])}
ANTHROPIC_EVENTS = {cls.model_fields["type"].annotation.__args__[0]: cls
                    for cls in typing.get_args(typing.get_args(RawMessageStreamEvent)[0])}
TOOLS = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
ANTHROPIC_TOOLS = [{"name": "get_weather", "input_schema": {"type": "object"}}]
TEXT = "Hello from the fake upstream."


def responses_answer(body: dict[str, Any]) -> dict[str, Any]:
    found = response(body, "up", Behavior(), 1)
    Response.model_validate(found)
    return found


def messages_answer(body: dict[str, Any]) -> dict[str, Any]:
    found = message(body, "up", Behavior(), 1)
    Message.model_validate(found)
    return found


def test_a_response_reads_as_its_text_and_usage() -> None:
    view = native.responses_view(responses_answer({}))
    choice = view["choices"][0]
    assert choice["message"]["content"] == TEXT and choice["finish_reason"] == "stop"
    assert view["usage"]["prompt_tokens"] == 11 and view["usage"]["completion_tokens"] == 7
    assert view["usage"]["completion_tokens_details"]["reasoning_tokens"] == 2
    assert check_completion(view, {}) is None


def test_a_responses_function_call_reads_as_a_tool_call() -> None:
    view = native.responses_view(responses_answer({"tools": TOOLS}))
    choice = view["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}


@pytest.mark.parametrize(("status", "details", "finish", "problem"), [
    ("incomplete", {"reason": "max_output_tokens"}, "length", None),
    ("incomplete", {"reason": "content_filter"}, "content_filter", None),
    ("failed", None, "error", "finish_reason is error"),
])
def test_a_response_that_did_not_complete(status: str, details: Any, finish: str,
                                          problem: str | None) -> None:
    answer = {**responses_answer({}), "status": status, "incomplete_details": details}
    view = native.responses_view(answer)
    assert view["choices"][0]["finish_reason"] == finish
    assert check_completion(view, {}) == problem


def test_a_json_schema_answer_is_checked_against_the_translated_request() -> None:
    request = {"response_format": {"type": "json_schema", "json_schema": {
        "name": "a", "schema": {"type": "object", "required": ["answer"]}}}}
    good = native.responses_view(responses_answer({"text": {"format": {
        "type": "json_schema"}}}))
    assert check_completion(good, request) is None
    bad = native.responses_view(responses_answer({}))
    assert check_completion(bad, request) is not None


def test_a_message_reads_as_its_text_without_the_thinking() -> None:
    view = native.messages_view(messages_answer({}))
    assert view["choices"][0]["message"]["content"] == TEXT
    assert view["choices"][0]["finish_reason"] == "stop"
    assert view["usage"] == {"prompt_tokens": 14, "completion_tokens": 7, "total_tokens": 21,
                             "prompt_tokens_details": {"cached_tokens": 3}}
    tool = native.messages_view(messages_answer({"tools": ANTHROPIC_TOOLS}))
    assert tool["choices"][0]["finish_reason"] == "tool_calls"
    assert orjson.loads(tool["choices"][0]["message"]["tool_calls"][0]["function"][
        "arguments"]) == {"city": "Paris"}


def tally(stream: Any, events: list[dict[str, Any]], kinds: dict[str, Any]) -> StreamTally:
    found = StreamTally()
    for event in events:
        if event["type"] != "ping":  # not among the SDK's event models, which skip it
            kinds[event["type"]].model_validate(event)
        chunk, body = stream.event(orjson.loads(orjson.dumps(event)))
        assert orjson.loads(body.split(b"\ndata: ", 1)[1])["type"] == event["type"]
        if chunk is not None:
            found.add(chunk)
    found.done = True
    return found


@pytest.mark.parametrize("tools", [False, True])
def test_a_responses_stream_reads_as_chat_chunks(tools: bool) -> None:
    answer = responses_answer({"tools": TOOLS} if tools else {})
    stream = native.ResponsesStream("nat")
    found = tally(stream, response_events(answer), OPENAI_EVENTS)
    assert found.check({}) is None and found.usage is not None
    assert found.finish_reason == ("tool_calls" if tools else "stop")
    assert ("".join(found.content) == TEXT) is not tools
    assert stream.response is not None and stream.response["model"] == "nat"
    failed = orjson.loads(stream.failed(stream_failed("cut")).split(b"\ndata: ", 1)[1])
    OPENAI_EVENTS["response.failed"].model_validate(failed)
    assert failed["sequence_number"] == len(response_events(answer))


@pytest.mark.parametrize("tools", [False, True])
def test_a_messages_stream_reads_as_chat_chunks(tools: bool) -> None:
    answer = messages_answer({"tools": ANTHROPIC_TOOLS} if tools else {})
    stream = native.MessagesStream("nat")
    events = message_events(answer)
    found = tally(stream, events, ANTHROPIC_EVENTS)
    assert found.check({}) is None
    assert found.finish_reason == ("tool_calls" if tools else "stop")
    assert found.usage is not None and found.usage["prompt_tokens"] == 14  # a null kept none
    assert events[0]["message"]["model"] == "up"  # the events given; the relayed ones say nat


# Providers hand on only JSON objects; these are objects of every wrong shape.
GARBAGE = [{}, {"output": 5}, {"output": [1, {"type": "message", "content": "x"}]},
           {"content": {"a": 1}}, {"content": [None, {"type": "text", "text": 3}]},
           {"type": "response.completed", "response": []},
           {"type": "content_block_start", "content_block": 3},
           {"type": "response.output_item.added", "item": None},
           {"type": "message_delta", "usage": "x", "delta": 1}]


@pytest.mark.parametrize("value", GARBAGE)
def test_answers_and_events_of_any_shape_never_raise(value: dict[str, Any]) -> None:
    for read in (native.responses_view, native.messages_view):
        assert check_completion(read(value), {}) is not None
    for stream in (native.ResponsesStream("m"), native.MessagesStream("m")):
        chunk, body = stream.event(value)
        assert body.startswith(b"event: ") and (chunk is None or chunk["choices"])


def test_a_chain_is_expanded_only_when_the_gateway_expanded_it() -> None:
    request = {"model": "auto", "input": "hi", "previous_response_id": "resp_1"}
    conversation = [{"id": "msg_ours", "type": "message", "role": "user", "content": "a"},
                    {"id": "rs_up", "type": "reasoning", "summary": []},
                    {"id": "fc_x", "type": "function_call", "call_id": "c", "name": "f",
                     "arguments": "{}"}]
    assert native.responses_body(request, conversation, expanded=False) is request
    body = native.responses_body(request, conversation, expanded=True)
    assert "previous_response_id" not in body and body["model"] == "auto"
    assert [item.get("id") for item in body["input"]] == [None, "rs_up", None]
