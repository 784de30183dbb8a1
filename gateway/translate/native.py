"""Answers from an upstream that speaks the Responses or Messages API natively.

They reach the client as they came, with only `model` set to the configured name (a
response's, a message's, and in a stream the events that carry the whole response or
message), and a response's `previous_response_id` set to what the client sent (the gateway
sent the chain whole instead). Each is also read into the chat answer the pipeline measures,
so a native answer is checked, scored and costed like a translated one:

    Responses: output_text parts -> content, function_call items -> tool_calls,
               status completed / incomplete (max_output_tokens, content_filter) / failed
               -> finish_reason stop or tool_calls / length, content_filter / error
    Messages:  text blocks -> content, tool_use blocks -> tool_calls (input as JSON),
               thinking blocks are the model's own and not measured,
               stop_reason end_turn, stop_sequence, pause_turn / max_tokens / tool_use /
               refusal -> stop / length / tool_calls / content_filter

A stream's leading events (`response.created`, `response.in_progress`; `message_start`,
`ping`) say nothing of the answer yet: they are held until the first event that does, so a
candidate that fails before it can still be failed over.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.translate.messages_answer import error_body

Json = dict[str, Any]
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}
_STOP = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop",
         "max_tokens": "length", "model_context_window_exceeded": "length",
         "tool_use": "tool_calls", "refusal": "content_filter"}
_RESPONSE_EVENTS = frozenset({"response.created", "response.in_progress", "response.queued",
                              "response.completed", "response.incomplete", "response.failed"})
_RESPONSE_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed"})
OPENING = frozenset({"response.created", "response.in_progress", "response.queued",
                     "message_start", "ping"})


def responses_body(request: Json, conversation: list[Json], *, expanded: bool) -> Json:
    """The Responses request a native upstream gets: as it came, unless the gateway expanded
    it (a stored chain continued, stored items referred to). Then `input` is the whole
    conversation, without `previous_response_id`: each item without the id the gateway may
    have given it, except reasoning items, which the upstream finds by their own ids."""
    if not expanded:
        return request
    body = {k: v for k, v in request.items() if k != "previous_response_id"}
    body["input"] = [item if item.get("type") == "reasoning" else
                     {k: v for k, v in item.items() if k != "id"} for item in conversation]
    return body


def _dict(value: object) -> Json:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _completion(content: list[str], refusal: list[str], calls: list[Json], finish: str,
                usage: Json | None) -> Json:
    message: Json = {"role": "assistant", "content": "".join(content) or None}
    if refusal:
        message["refusal"] = "".join(refusal)
    if calls:
        message["tool_calls"] = calls
    data: Json = {"object": "chat.completion",
                  "choices": [{"index": 0, "message": message, "finish_reason": finish}]}
    if usage is not None:
        data["usage"] = usage
    return data


def _call(call_id: object, name: object, arguments: object) -> Json:
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": arguments}}


def responses_usage(usage: object) -> Json | None:
    if not isinstance(usage, dict):
        return None
    prompt, completion = int(usage.get("input_tokens") or 0), int(
        usage.get("output_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": int(usage.get("total_tokens") or prompt + completion),
            "prompt_tokens_details": {"cached_tokens": _dict(
                usage.get("input_tokens_details")).get("cached_tokens") or 0},
            "completion_tokens_details": {"reasoning_tokens": _dict(
                usage.get("output_tokens_details")).get("reasoning_tokens") or 0}}


def _response_finish(response: Json, calls: bool) -> str:
    status = response.get("status")
    if status == "completed":
        return "tool_calls" if calls else "stop"
    if status == "incomplete":
        reason = _dict(response.get("incomplete_details")).get("reason")
        return _INCOMPLETE.get(reason, "length") if isinstance(reason, str) else "length"
    return "error"  # failed, cancelled, or no status at all


def responses_view(response: Json) -> Json:
    """The chat answer a `response` object amounts to."""
    content: list[str] = []
    refusal: list[str] = []
    calls: list[Json] = []
    for item in _list(response.get("output")):
        item = _dict(item)
        if item.get("type") == "message":
            for part in _list(item.get("content")):
                part = _dict(part)
                if part.get("type") == "output_text" and isinstance(part.get("text"), str):
                    content.append(part["text"])
                elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                    refusal.append(part["refusal"])
        elif item.get("type") == "function_call":
            calls.append(_call(item.get("call_id"), item.get("name"), item.get("arguments")))
    return _completion(content, refusal, calls, _response_finish(response, bool(calls)),
                       responses_usage(response.get("usage")))


def messages_usage(usage: object) -> Json | None:
    if not isinstance(usage, dict):
        return None
    cached = int(usage.get("cache_read_input_tokens") or 0)
    prompt = int(usage.get("input_tokens") or 0) + cached + int(
        usage.get("cache_creation_input_tokens") or 0)
    completion = int(usage.get("output_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached}}


def _stop(reason: object) -> str:
    return _STOP.get(reason, "stop") if isinstance(reason, str) else "stop"


def messages_view(message: Json) -> Json:
    """The chat answer an Anthropic `message` amounts to."""
    content: list[str] = []
    calls: list[Json] = []
    for block in _list(message.get("content")):
        block = _dict(block)
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            content.append(block["text"])
        elif block.get("type") == "tool_use":
            calls.append(_call(block.get("id"), block.get("name"),
                               orjson.dumps(block.get("input", {})).decode()))
    return _completion(content, [], calls, _stop(message.get("stop_reason")),
                       messages_usage(message.get("usage")))


def _sse(event: Json) -> bytes:
    kind = event.get("type")
    return b"event: " + (kind if isinstance(kind, str) else "message").encode() + \
        b"\ndata: " + orjson.dumps(event) + b"\n\n"


def _delta(delta: Json) -> Json:
    return {"choices": [{"index": 0, "delta": delta}]}


def _tool_delta(index: int, arguments: object, call_id: object = None,
                name: object = None) -> Json:
    call: Json = {"index": index, "function": {"arguments": arguments}}
    if name is not None:
        call.update(id=call_id, type="function")
        call["function"]["name"] = name
    return _delta({"tool_calls": [call]})


def _call_started(calls: dict[object, int], key: object, call_id: object, name: object,
                  arguments: object) -> Json:
    """The chunk that opens a tool call, numbered in the order the calls came; `key` is where
    the API's later deltas say they belong (an output index, a content block index)."""
    index = calls[key] = len(calls)
    return _tool_delta(index, arguments, call_id, name)


def _end(finish: str, usage: Json | None) -> Json:
    chunk: Json = {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
    if usage is not None:
        chunk["usage"] = usage
    return chunk


class ResponsesStream:
    """One native Responses stream: each event's bytes, and the chat chunk it amounts to.
    `response` is the latest whole response an event carried (the final one at the end)."""

    def __init__(self, model: str, *, previous_response_id: object = None) -> None:
        self.model = model
        self.previous_response_id = previous_response_id  # the chain the gateway sent whole
        self.response: Json | None = None
        self._calls: dict[object, int] = {}  # output_index -> tool-call index
        self._seq = -1

    def event(self, event: Json) -> tuple[Json | None, bytes]:
        kind = event.get("type")
        seq = event.get("sequence_number")
        if isinstance(seq, int):
            self._seq = seq
        chunk: Json | None = None
        if kind == "response.output_text.delta":
            chunk = _delta({"content": event.get("delta")})
        elif kind == "response.function_call_arguments.delta":
            index = self._calls.get(event.get("output_index"))
            if index is not None:
                chunk = _tool_delta(index, event.get("delta"))
        elif kind == "response.output_item.added":
            item = _dict(event.get("item"))
            if item.get("type") == "function_call":
                chunk = _call_started(self._calls, event.get("output_index"), item.get("call_id"),
                                      item.get("name"), item.get("arguments") or "")
        elif kind == "response.refusal.delta":
            chunk = _delta({"refusal": event.get("delta")})
        elif kind in _RESPONSE_EVENTS and isinstance(event.get("response"), dict):
            response = self.response = event["response"]
            response["model"] = self.model
            response["previous_response_id"] = self.previous_response_id
            if kind in _RESPONSE_ENDS:
                chunk = _end(_response_finish(response, bool(self._calls)),
                             responses_usage(response.get("usage")))
        return chunk, _sse(event)

    def failed(self, error: GatewayError) -> bytes:
        response = self.response or {"object": "response", "model": self.model, "output": []}
        response.update(status="failed", error={"code": "server_error",
                                                "message": error.message})
        self._seq += 1
        return _sse({"type": "response.failed", "sequence_number": self._seq,
                     "response": response})


class MessagesStream:
    """One native Messages stream: each event's bytes, and the chat chunk it amounts to."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._calls: dict[object, int] = {}  # content block index -> tool-call index
        self._usage: Json = {}
        self._finish = "stop"

    def event(self, event: Json) -> tuple[Json | None, bytes]:
        kind = event.get("type")
        chunk: Json | None = None
        if kind == "content_block_delta":
            delta = _dict(event.get("delta"))
            if delta.get("type") == "text_delta":
                chunk = _delta({"content": delta.get("text")})
            elif delta.get("type") == "input_json_delta":
                index = self._calls.get(event.get("index"))
                if index is not None:
                    chunk = _tool_delta(index, delta.get("partial_json"))
        elif kind == "content_block_start":
            block = _dict(event.get("content_block"))
            if block.get("type") == "tool_use":
                chunk = _call_started(self._calls, event.get("index"), block.get("id"),
                                      block.get("name"), "")
        elif kind == "message_start" and isinstance(event.get("message"), dict):
            message = event["message"]
            message["model"] = self.model
            self._count(message.get("usage"))
        elif kind == "message_delta":
            self._count(event.get("usage"))
            self._finish = _stop(_dict(event.get("delta")).get("stop_reason"))
        elif kind == "message_stop":
            chunk = _end(self._finish, messages_usage(self._usage))
        return chunk, _sse(event)

    def _count(self, usage: object) -> None:
        """Usage as far as it came (a message_delta's nulls do not erase message_start's)."""
        self._usage.update({k: v for k, v in _dict(usage).items() if v is not None})

    def failed(self, error: GatewayError) -> bytes:
        return b"event: error\ndata: " + error_body(error) + b"\n\n"
