"""Is an answer usable? The label-free validity half of the reward.

Valid means: at least one choice with content or tool calls; finish_reason not an error;
JSON-mode output parses (and matches the json_schema when one was asked for); tool-call
arguments parse as JSON; a stream ended with [DONE]. Each check returns the reason it failed.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema_rs
import orjson

from gateway.learning.signals import signals

Json = dict[str, Any]


def check_completion(data: Json, request: Json) -> str | None:
    """None when a non-streaming answer is valid, else why not."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        return "no choices"
    reason = None
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            reason = "choice without a message"
            continue
        reason = _check_message(message.get("content"), message.get("tool_calls"),
                                choice.get("finish_reason"), request)
        if reason is None:
            return None
    return reason


def check_embeddings(data: Json, request: Json) -> str | None:
    """None when an embeddings answer has one vector (numbers, or base64 text) per input."""
    raw = request.get("input")
    wanted = 1 if isinstance(raw, str) or (isinstance(raw, list) and raw and
                                           isinstance(raw[0], int)) else len(raw or ())
    items = data.get("data")
    if not isinstance(items, list) or len(items) != wanted:
        return f"{len(items) if isinstance(items, list) else 0} embeddings for {wanted} inputs"
    for item in items:
        vector = item.get("embedding") if isinstance(item, dict) else None
        if isinstance(vector, str) and vector:
            continue  # encoding_format: base64
        if not isinstance(vector, list) or not vector or \
                not all(isinstance(v, int | float) and not isinstance(v, bool) for v in vector):
            return "an embedding that is not a list of numbers"
    return None


def embeddings_structural_problem(data: Json) -> str | None:
    """An embeddings 200 that cannot be passed on at all (no `data` list): worth failing over."""
    if not isinstance(data.get("data"), list):
        return "upstream answered 200 without a data list"
    return None


def structural_problem(data: Json) -> str | None:
    """A 200 answer that cannot be passed on at all (no choices): worth failing over."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        return "upstream answered 200 without any choices"
    return None


class StreamTally:
    """Accumulates what validity needs from stream chunks, without keeping the text."""

    __slots__ = ("content", "tool_args", "tool_names", "refusal", "finish_reason", "usage",
                 "chunks", "done")

    def __init__(self) -> None:
        self.content: list[str] = []
        self.tool_args: dict[int, list[str]] = {}
        self.tool_names: dict[int, str] = {}
        self.refusal: list[str] = []
        self.finish_reason: str | None = None
        self.usage: Json | None = None
        self.chunks = 0
        self.done = False

    def add(self, chunk: Json) -> None:
        self.chunks += 1
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            return
        for choice in choices:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            if isinstance(delta.get("content"), str) and delta["content"]:
                self.content.append(delta["content"])
            if isinstance(delta.get("refusal"), str) and delta["refusal"]:
                self.refusal.append(delta["refusal"])
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                if isinstance(call, dict):
                    args = _arguments(call)
                    index = call.get("index")
                    index = index if isinstance(index, int) else 0
                    parts = self.tool_args.setdefault(index, [])
                    if isinstance(args, str):
                        parts.append(args)
                    fn = call.get("function")
                    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                        self.tool_names[index] = fn["name"]

    def check(self, request: Json) -> str | None:
        if not self.done:
            return "stream did not end properly"
        content = "".join(self.content) or None
        calls = [{"function": {"arguments": "".join(p)}} for p in self.tool_args.values()]
        return _check_message(content, calls or None, self.finish_reason, request)

    def signals(self, request: Json, *, budget_set: bool) -> frozenset[str]:
        calls = [(self.tool_names.get(i), "".join(p)) for i, p in self.tool_args.items()]
        return signals("".join(self.content), calls, self.finish_reason,
                       "".join(self.refusal), request, budget_set=budget_set)

    def completion_tokens_estimate(self) -> int:
        return sum(len(c) for c in self.content) // 4 + 1


def _check_message(content: Any, tool_calls: Any, finish_reason: Any, request: Json) -> str | None:
    if finish_reason == "error":
        return "finish_reason is error"
    if isinstance(tool_calls, list) and tool_calls:
        for call in tool_calls:
            args = _arguments(call)
            if not isinstance(args, str) or _loads(args) is _BAD:
                return "tool-call arguments are not JSON"
        return None
    if not isinstance(content, str) or not content.strip():
        return "empty message"
    return _check_format(content, request.get("response_format"))


_BAD = object()


def _arguments(call: Any) -> Any:
    function = call.get("function") if isinstance(call, dict) else None
    return function.get("arguments") if isinstance(function, dict) else None


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return _BAD


def _check_format(content: str, response_format: Any) -> str | None:
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind not in ("json_object", "json_schema"):
        return None
    value = _loads(content)
    if value is _BAD:
        return "JSON mode answer is not JSON"
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if kind == "json_schema" and isinstance(schema, dict):
        return _check_schema(value, schema)
    return None


def _check_schema(value: Any, schema: Json) -> str | None:
    validator = _validator(orjson.dumps(schema))
    if validator is None:  # the client's schema is broken, which is not the model's fault
        return None
    error = next(iter(validator.iter_errors(value)), None)
    if error is None:
        return None
    return f"answer does not match the json_schema: {error.message[:200]}"


@functools.lru_cache(maxsize=256)
def _validator(schema: bytes) -> Any:
    """A compiled validator per schema (clients send the same schema again and again; building
    one costs far more than validating). jsonschema-rs: its regular expressions run in linear
    time, so a client's `pattern` such as `^(a+)+$` cannot stall the event loop (the Python
    `jsonschema` took 1.24 s for 24 a's and a `!`, x4 per two characters)."""
    try:
        return jsonschema_rs.validator_for(orjson.loads(schema))
    except Exception:  # an invalid schema, an unresolvable $ref, ...
        return None
