"""A chat answer as a Responses API `response` object, whole or as its typed stream events.

The response echoes the request's settings (as OpenAI's does) around `output`: a `message` item
with `output_text` (or `refusal`) parts, then one `function_call` item per tool call. A chat
`finish_reason` of `length` or `content_filter` makes the response `incomplete`. A stream
opens each item when its first delta arrives and closes it (the `.done` events) when the next
item starts or the stream ends, numbering every event (`sequence_number`) from 0.
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson

from gateway.errors import GatewayError

Json = dict[str, Any]
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{os.urandom(24).hex()}"


def skeleton(request: Json, *, response_id: str, model: str, store: bool) -> Json:
    """The response before any output: its id and the settings it was asked with."""
    reasoning = _mapping(request.get("reasoning"))
    text = _mapping(request.get("text"))
    return {
        "id": response_id, "object": "response", "created_at": int(time.time()),
        "status": "in_progress", "background": False, "error": None,
        "incomplete_details": None, "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "max_tool_calls": request.get("max_tool_calls"), "model": model, "output": [],
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": store, "temperature": request.get("temperature", 1.0),
        "text": {**text, "format": text.get("format") or {"type": "text"}},
        "tool_choice": request.get("tool_choice", "auto"), "tools": request.get("tools") or [],
        "top_p": request.get("top_p", 1.0), "truncation": request.get("truncation", "disabled"),
        "usage": None, "user": request.get("user"), "metadata": request.get("metadata") or {},
    }


def _mapping(value: object) -> Json:
    return value if isinstance(value, dict) else {}


def usage(chat_usage: object) -> Json | None:
    if not isinstance(chat_usage, dict):
        return None
    prompt = int(chat_usage.get("prompt_tokens") or 0)
    completion = int(chat_usage.get("completion_tokens") or 0)
    details = _mapping(chat_usage.get("prompt_tokens_details"))
    reasoning = _mapping(chat_usage.get("completion_tokens_details")).get("reasoning_tokens")
    return {"input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": details.get("cached_tokens") or 0,
                                     "cache_write_tokens": details.get("cache_write_tokens")
                                     or 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": reasoning or 0},
            "total_tokens": int(chat_usage.get("total_tokens") or prompt + completion)}


def finish(response: Json, finish_reason: object, chat_usage: object) -> Json:
    """`response` with its final status and usage (in place, and returned)."""
    reason = _INCOMPLETE.get(finish_reason) if isinstance(finish_reason, str) else None
    response["status"] = "incomplete" if reason else "completed"
    response["incomplete_details"] = {"reason": reason} if reason else None
    response["usage"] = usage(chat_usage)
    response["completed_at"] = int(time.time()) if not reason else None
    return response


def text_part(text: str) -> Json:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(parts: list[Json], *, status: str = "completed") -> Json:
    return {"id": new_id("msg"), "type": "message", "status": status, "role": "assistant",
            "content": parts}


def call_item(call_id: str, name: str, arguments: str, *, status: str = "completed",
              namespaces: dict[str, str] | None = None) -> Json:
    item = {"id": new_id("fc"), "type": "function_call", "status": status, "call_id": call_id,
            "name": name, "arguments": arguments}
    if namespaces and name in namespaces:
        item["namespace"] = namespaces[name]
    return item


def output(message: Json, namespaces: dict[str, str] | None = None) -> list[Json]:
    """The output items of one chat `message`."""
    items: list[Json] = []
    parts = []
    if isinstance(message.get("content"), str) and message["content"]:
        parts.append(text_part(message["content"]))
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    if parts:
        items.append(message_item(parts))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        items.append(call_item(str(call.get("id") or new_id("call")),
                               str(function.get("name") or ""),
                               str(function.get("arguments") or ""), namespaces=namespaces))
    return items


def answer(response: Json, data: Json, namespaces: dict[str, str] | None = None) -> Json:
    """The finished response for a non-streamed chat completion `data`."""
    choices = data.get("choices") or [{}]
    choice = choices[0]
    response["output"] = output(choice.get("message") or {}, namespaces)
    return finish(response, choice.get("finish_reason"), data.get("usage"))


def failed(response: Json, error: GatewayError) -> Json:
    response["status"] = "failed"
    response["error"] = {"code": "server_error", "message": error.message}
    return response


def sse(event: Json) -> bytes:
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
