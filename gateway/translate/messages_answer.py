"""A chat answer as an Anthropic Messages API message, whole or as its stream of events.

    message_start, ping                         before the first block
    content_block_start (text), content_block_delta (text_delta) ..., content_block_stop
    content_block_start (tool_use), content_block_delta (input_json_delta) ...,
      content_block_stop                        each tool call
    message_delta (stop_reason, usage), message_stop    the end
    error                                       an upstream that broke after the first byte

Errors are written in Anthropic's shape, `{"type": "error", "error": {"type", "message"}}`,
with the error type Anthropic uses for the status.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.translate.messages_request import stop_reason

Json = dict[str, Any]
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "not_found_error", 405: "invalid_request_error",
                413: "request_too_large", 429: "rate_limit_error", 504: "timeout_error",
                529: "overloaded_error"}


def error_body(error: GatewayError) -> bytes:
    kind = _ERROR_TYPES.get(error.status, "api_error" if error.status >= 500 else
                            "invalid_request_error")
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": error.message}})


def new_id() -> str:
    return f"msg_{os.urandom(12).hex()}"


def usage(chat_usage: object) -> Json:
    chat = chat_usage if isinstance(chat_usage, dict) else {}
    cached = (chat.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    prompt = int(chat.get("prompt_tokens") or 0)
    return {"input_tokens": prompt - cached, "output_tokens": int(chat.get("completion_tokens")
                                                                  or 0),
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached}


def tool_input(arguments: object) -> Json:
    """A tool call's arguments as the object Anthropic's `input` is ({} if not one)."""
    try:
        value = orjson.loads(arguments) if isinstance(arguments, str) and arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def message(data: Json) -> Json:
    """The message for a non-streamed chat completion `data` (its model already set)."""
    choice = (data.get("choices") or [{}])[0]
    reply = choice.get("message") or {}
    content: list[Json] = []
    if isinstance(reply.get("content"), str) and reply["content"]:
        content.append({"type": "text", "text": reply["content"]})
    for call in reply.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append({"type": "tool_use", "id": str(call.get("id") or new_id()),
                        "name": str(function.get("name") or ""),
                        "input": tool_input(function.get("arguments"))})
    return {"id": new_id(), "type": "message", "role": "assistant", "model": data.get("model"),
            "content": content, "stop_reason": stop_reason(choice.get("finish_reason")),
            "stop_sequence": None, "usage": usage(data.get("usage"))}


def _sse(kind: str, data: Json) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **data}) + \
        b"\n\n"


class MessagesEvents:
    """One stream's events, from the chat chunks of one model's answer."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._started = False
        self._blocks = 0  # blocks started so far
        self._open: str | None = None  # "text", or "tool:<chat index>"
        self._finish: object = None
        self._usage: object = None

    def chunk(self, chunk: Json) -> bytes:
        frames: list[bytes] = []
        if not self._started:
            self._started = True
            frames.append(_sse("message_start", {"message": {
                "id": new_id(), "type": "message", "role": "assistant", "model": self._model,
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": 0, "output_tokens": 0}}}))
            frames.append(_sse("ping", {}))
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if isinstance(text, str) and text:
                self._start("text", {"type": "text", "text": ""}, frames)
                frames.append(_sse("content_block_delta", {
                    "index": self._blocks - 1, "delta": {"type": "text_delta", "text": text}}))
            for call in delta.get("tool_calls") or ():
                self._call(call, frames)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return b"".join(frames)

    def _call(self, call: Json, frames: list[bytes]) -> None:
        function = call.get("function") or {}
        self._start(f"tool:{call.get('index', 0)}", {
            "type": "tool_use", "id": str(call.get("id") or new_id()),
            "name": str(function.get("name") or ""), "input": {}}, frames)
        piece = function.get("arguments")
        if isinstance(piece, str) and piece:
            frames.append(_sse("content_block_delta", {
                "index": self._blocks - 1,
                "delta": {"type": "input_json_delta", "partial_json": piece}}))

    def _start(self, key: str, block: Json, frames: list[bytes]) -> None:
        if self._open == key:
            return
        self._stop(frames)
        self._open = key
        frames.append(_sse("content_block_start", {"index": self._blocks,
                                                   "content_block": block}))
        self._blocks += 1

    def _stop(self, frames: list[bytes]) -> None:
        if self._open is not None:
            frames.append(_sse("content_block_stop", {"index": self._blocks - 1}))
            self._open = None

    def end(self) -> bytes:
        frames: list[bytes] = []
        self._stop(frames)
        frames.append(_sse("message_delta", {
            "delta": {"stop_reason": stop_reason(self._finish), "stop_sequence": None},
            "usage": usage(self._usage)}))
        frames.append(_sse("message_stop", {}))
        return b"".join(frames)

    def failed(self, error: GatewayError) -> bytes:
        return b"event: error\ndata: " + error_body(error) + b"\n\n"
