"""Validity, the label-free half of the reward: each check and the exact reason it gives."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.learning.validity import StreamTally, check_completion, structural_problem

SCHEMA = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {
    "type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}}


def answer(content: Any = "hello", *, finish: Any = "stop", tool_calls: Any = None) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {"choices": [{"index": 0, "finish_reason": finish, "message": message}]}


def call(arguments: Any) -> dict:
    return {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}


@pytest.mark.parametrize(("data", "request_", "expected"), [
    (answer(), {}, None),
    (answer(""), {}, "empty message"),
    (answer("   \n"), {}, "empty message"),
    (answer(None), {}, "empty message"),
    ({"choices": []}, {}, "no choices"),
    ({}, {}, "no choices"),
    ({"choices": [{"index": 0, "finish_reason": "stop"}]}, {}, "choice without a message"),
    (answer(finish="error"), {}, "finish_reason is error"),
    (answer(None, tool_calls=[call('{"x": 1}')]), {}, None),
    (answer(None, tool_calls=[call('{"x": 1}'), call("{x: 1")]), {},
     "tool-call arguments are not JSON"),
    (answer(None, tool_calls=[{"function": {"name": "f"}}]), {},
     "tool-call arguments are not JSON"),
    (answer("not json"), {"response_format": {"type": "json_object"}},
     "JSON mode answer is not JSON"),
    (answer('{"a": 1}'), {"response_format": {"type": "json_object"}}, None),
    (answer("plain text"), {"response_format": {"type": "text"}}, None),
    (answer('{"n": 3}'), {"response_format": SCHEMA}, None),
    (answer("[1"), {"response_format": SCHEMA}, "JSON mode answer is not JSON"),
])
def test_check_completion(data: dict, request_: dict, expected: str | None) -> None:
    assert check_completion(data, request_) == expected


def test_one_valid_choice_is_enough() -> None:
    data = {"choices": [answer("")["choices"][0], answer("fine")["choices"][0]]}
    assert check_completion(data, {}) is None


def test_a_schema_mismatch_says_what_is_wrong() -> None:
    reason = check_completion(answer('{"m": 3}'), {"response_format": SCHEMA})
    assert reason == "answer does not match the json_schema: \"n\" is a required property"
    reason = check_completion(answer('{"n": "three"}'), {"response_format": SCHEMA})
    assert reason is not None and reason.startswith("answer does not match the json_schema")


def test_a_broken_client_schema_is_not_the_models_fault() -> None:
    broken = {"type": "json_schema", "json_schema": {"schema": {"type": "no-such-type"}}}
    assert check_completion(answer('{"n": 3}'), {"response_format": broken}) is None


def test_structural_problem() -> None:
    assert structural_problem(answer()) is None
    assert structural_problem(answer("")) is None  # invalid, but still passable to the client
    assert structural_problem({"choices": []}) == "upstream answered 200 without any choices"
    assert structural_problem({"choices": "x"}) == "upstream answered 200 without any choices"


def chunk(delta: dict, finish: str | None = None, index: int = 0) -> dict:
    return {"choices": [{"index": index, "delta": delta, "finish_reason": finish}]}


def test_stream_tally_joins_content_across_chunks() -> None:
    tally = StreamTally()
    for part in ("hel", "lo ", "wor", "ld"):
        tally.add(chunk({"content": part}))
    tally.add(chunk({"content": "ignored"}, index=1))  # only the first choice is tallied
    tally.add(chunk({}, "stop"))
    tally.add({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}})
    tally.done = True
    assert "".join(tally.content) == "hello world"
    assert (tally.chunks, tally.finish_reason) == (7, "stop")
    assert tally.usage == {"prompt_tokens": 3, "completion_tokens": 4}
    assert tally.check({}) is None
    assert tally.check({"response_format": {"type": "json_object"}}) == \
        "JSON mode answer is not JSON"
    assert tally.completion_tokens_estimate() == len("hello world") // 4 + 1


def test_stream_tally_joins_tool_call_fragments() -> None:
    tally = StreamTally()
    tally.add(chunk({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": ""}}]}))
    for part in ('{"ci', 'ty": ', '"Paris"}'):
        tally.add(chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}))
    tally.add(chunk({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}))
    tally.add(chunk({}, "tool_calls"))
    tally.done = True
    assert {i: "".join(p) for i, p in tally.tool_args.items()} == {
        0: '{"city": "Paris"}', 1: "{}"}
    assert tally.check({}) is None
    tally.add(chunk({"tool_calls": [{"index": 1, "function": {"arguments": ", oops"}}]}))
    assert tally.check({}) == "tool-call arguments are not JSON"


def test_a_stream_that_did_not_end_is_invalid() -> None:
    tally = StreamTally()
    tally.add(chunk({"content": "partial answer"}))
    assert tally.check({}) == "stream did not end properly"
    tally.done = True
    assert tally.check({}) is None
    empty = StreamTally()
    empty.done = True
    assert empty.check({}) == "empty message"
    errored = StreamTally()
    errored.add(chunk({"content": "x"}, "error"))
    errored.done = True
    assert errored.check({}) == "finish_reason is error"
