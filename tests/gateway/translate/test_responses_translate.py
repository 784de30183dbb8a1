"""The Responses API translation, held to the official openai SDK's typed models: requests to
chat, chat answers to `response` objects, chat streams to the typed events."""

from __future__ import annotations

import typing
from typing import Any

import orjson
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from gateway.errors import GatewayError, stream_failed
from gateway.translate import responses_answer, responses_request
from gateway.translate.responses_events import ResponsesEvents

# event type -> the SDK's model of it (validating against the whole union buries the error)
EVENTS = {cls.model_fields["type"].annotation.__args__[0]: cls
          for cls in typing.get_args(typing.get_args(ResponseStreamEvent)[0])}
TOOL = {"type": "function", "name": "get_weather", "description": "Weather now",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": True}


def translate(request: dict[str, Any]) -> dict[str, Any]:
    responses_request.check_fields(request)
    items = responses_request.input_items(request.get("input"))
    return responses_request.chat_request(request, items)


def test_a_string_input_with_instructions_is_a_system_and_a_user_message() -> None:
    chat = translate({"model": "auto", "input": "hi", "instructions": "be brief",
                      "max_output_tokens": 50, "temperature": 0.2, "metadata": {"a": "b"}})
    assert chat == {"model": "auto", "max_completion_tokens": 50, "temperature": 0.2,
                    "messages": [{"role": "system", "content": "be brief"},
                                 {"role": "user", "content": "hi"}]}


def test_items_become_messages_with_tool_calls_and_results() -> None:
    chat = translate({"model": "auto", "tools": [TOOL], "tool_choice": "required",
                      "parallel_tool_calls": False, "input": [
                          {"role": "developer", "content": "rules"},
                          {"type": "message", "role": "user", "content": [
                              {"type": "input_text", "text": "look: "},
                              {"type": "input_image", "image_url": "https://x/y.png",
                               "detail": "low"}]},
                          {"type": "reasoning", "id": "rs_1", "summary": []},
                          {"type": "message", "role": "assistant", "id": "msg_1",
                           "content": [{"type": "output_text", "text": "calling",
                                        "annotations": []}]},
                          {"type": "function_call", "call_id": "c1", "name": "get_weather",
                           "arguments": '{"city":"Oslo"}'},
                          {"type": "function_call", "call_id": "c2", "name": "get_weather",
                           "arguments": '{"city":"Rome"}'},
                          {"type": "function_call_output", "call_id": "c1", "output": "cold"},
                          {"type": "function_call_output", "call_id": "c2", "output": "warm"}]})
    assert chat["messages"] == [
        {"role": "system", "content": "rules"},
        {"role": "user", "content": [{"type": "text", "text": "look: "},
                                     {"type": "image_url", "image_url": {
                                         "url": "https://x/y.png", "detail": "low"}}]},
        {"role": "assistant", "content": "calling", "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}},
            {"id": "c2", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "cold"},
        {"role": "tool", "tool_call_id": "c2", "content": "warm"}]
    assert chat["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather now", "parameters": TOOL["parameters"],
        "strict": True}}]
    assert chat["tool_choice"] == "required"
    assert chat["parallel_tool_calls"] is False


def test_text_format_and_reasoning_and_stream() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    chat = translate({"model": "m", "input": "x", "stream": True, "reasoning": {"effort": "low"},
                      "text": {"format": {"type": "json_schema", "name": "N", "schema": schema,
                                          "strict": True}},
                      "tool_choice": {"type": "function", "name": "f"}})
    assert chat["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "N", "schema": schema, "strict": True}}
    assert chat["reasoning_effort"] == "low"
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert translate({"model": "m", "input": "x", "text": {"format": {"type": "json_object"}}}
                     )["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(("request_body", "message"), [
    ({"model": "m", "messages": [{"role": "user", "content": "hi"}]},
     "Unknown parameter: 'messages' (a chat completions parameter"),
    ({"model": "m", "input": "x", "tools": [{"type": "web_search"}]},
     "tools[0]: the built-in tool 'web_search' cannot be served"),
    ({"model": "m", "input": "x", "tools": [{"type": "file_search", "vector_store_ids": []}]},
     "the built-in tool 'file_search'"),
    ({"model": "m", "input": [{"type": "computer_call", "call_id": "c"}]},
     "input[0]: input items of type 'computer_call' are not supported"),
    ({"model": "m", "input": [{"role": "tool", "content": "x"}]},
     "input[0].role must be one of user, assistant, system, developer; got 'tool'."),
    ({"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
     "input[0].call_id is required and must be a string."),
    ({"model": "m", "input": 5}, "'input' must be a string or a list of input items."),
    ({"model": "m", "input": "x", "background": True}, "does not offer background responses"),
    ({"input": "x"}, "'model' is required and must be a string."),
    ({"model": "m", "input": "x", "text": {"format": {"type": "yaml"}}},
     "text.format.type must be text, json_object or json_schema; got 'yaml'."),
])
def test_what_cannot_be_translated_is_a_400_that_names_it(request_body: dict[str, Any],
                                                           message: str) -> None:
    with pytest.raises(GatewayError) as caught:
        translate(request_body)
    assert caught.value.status == 400
    assert message in caught.value.message


def completion(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion", "created": 1, "model": "sim-a",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18,
                      "prompt_tokens_details": {"cached_tokens": 3}}}


def skeleton(**request: Any) -> dict[str, Any]:
    return responses_answer.skeleton({"model": "auto", "input": "x", **request},
                                     response_id="resp_1", model="sim-a", store=True)


def test_an_answer_is_a_response_the_sdk_reads() -> None:
    data = completion({"role": "assistant", "content": "hello", "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]}, "tool_calls")
    response = Response.model_validate(responses_answer.answer(
        skeleton(tools=[TOOL], metadata={"k": "v"}), data))
    assert response.status == "completed" and response.model == "sim-a"
    assert response.output_text == "hello"
    call = response.output[1]
    assert call.type == "function_call" and call.call_id == "call_1"
    assert call.arguments == '{"city":"Oslo"}' and call.name == "get_weather"
    assert response.usage is not None and response.usage.input_tokens == 11
    assert response.usage.input_tokens_details.cached_tokens == 3
    assert response.metadata == {"k": "v"} and response.tools[0].name == "get_weather"


def test_a_length_stop_is_an_incomplete_response() -> None:
    response = Response.model_validate(responses_answer.answer(
        skeleton(max_output_tokens=5), completion({"role": "assistant", "content": "cut"},
                                                  "length")))
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "sim-a",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def parse(frames: bytes) -> list[Any]:
    events = []
    for frame in frames.decode().split("\n\n"):
        if not frame:
            continue
        name, data = frame.split("\n")
        payload = orjson.loads(data.removeprefix("data: "))
        event = EVENTS[payload["type"]].model_validate(payload)
        assert name == f"event: {event.type}"
        events.append(event)
    return events


def test_a_text_and_tool_stream_is_the_typed_event_sequence() -> None:
    encoder = ResponsesEvents(skeleton(tools=[TOOL]))
    frames = b"".join([
        encoder.chunk(chunk({"role": "assistant", "content": ""})),
        encoder.chunk(chunk({"content": "Hel"})), encoder.chunk(chunk({"content": "lo"})),
        encoder.chunk(chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                             "function": {"name": "get_weather",
                                                          "arguments": ""}}]})),
        encoder.chunk(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]})),
        encoder.chunk(chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty":1}'}}]})),
        encoder.chunk(chunk({}, "tool_calls")),
        encoder.chunk({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                       "choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 6,
                                                "total_tokens": 10}}),
        encoder.end()])
    events = parse(frames)
    assert [e.type for e in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta", "response.function_call_arguments.done",
        "response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    message_id = events[2].item.id
    assert {e.item_id for e in events[3:8]} == {message_id} == {events[8].item.id}
    assert events[6].text == "Hello"
    call_id = events[9].item.id
    assert {e.item_id for e in events[10:13]} == {call_id} == {events[13].item.id}
    assert events[12].arguments == '{"city":1}'
    final = events[-1].response
    assert final.status == "completed" and final.output_text == "Hello"
    assert [o.type for o in final.output] == ["message", "function_call"]
    assert final.output[1].call_id == "call_1" and final.usage.output_tokens == 6


def test_a_stream_broken_midway_ends_with_response_failed() -> None:
    encoder = ResponsesEvents(skeleton())
    frames = encoder.chunk(chunk({"content": "par"})) + \
        encoder.failed(stream_failed("upstream reset"))
    events = parse(frames)
    assert events[-1].type == "response.failed"
    assert events[-1].response.status == "failed"
    assert events[-1].response.error.message == "upstream reset"
    assert events[-1].response.output[0].status == "incomplete"
