"""An Anthropic Messages API request (POST /v1/messages) as a chat completions request.

`system` (a string or text blocks) becomes a leading system message; each message's blocks
become chat content: `text` and `image` parts, an assistant's `tool_use` blocks its
`tool_calls`, a user's `tool_result` blocks `tool` messages (placed first, as chat wants them
right after the call). `thinking` blocks are a model's own state and are not replayed to
another API; server tools (web search, code execution, computer use) are a 400 naming them.
Unknown top-level fields are ignored, as Claude Code sends beta fields freely.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import GatewayError, bad_request
from gateway.translate import untranslatable

Json = dict[str, Any]
_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
         "function_call": "tool_use", "content_filter": "refusal"}
_SKIPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})


def chat_request(request: Json, skipped: list[GatewayError] | None = None) -> Json:
    """The chat request for a Messages request. With `skipped`, what has no chat twin (server
    tools, their blocks) is noted there and left out instead of refused (for a request that
    may go to an upstream that speaks the Messages API natively)."""
    model = request.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model: Field required (a string).", param="model")
    budget = request.get("max_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        raise bad_request("max_tokens: Field required (an integer of at least 1).",
                          param="max_tokens")
    raw = request.get("messages")
    if not isinstance(raw, list) or not raw:
        raise bad_request("messages: Field required (a non-empty list).", param="messages")
    messages: list[Json] = []
    system = _system(request.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for index, message in enumerate(raw):
        if isinstance(message, dict) and message.get("role") == "system":
            # Not in Anthropic's documented API, yet Claude Code sends them: instructions.
            messages.append({"role": "system",
                             "content": _system(message.get("content"))})
            continue
        messages.extend(_message(message, f"messages.{index}", skipped))
    chat: Json = {"model": model, "messages": messages, "max_completion_tokens": budget}
    for key in ("temperature", "top_p"):
        if request.get(key) is not None:
            chat[key] = request[key]
    if request.get("stop_sequences"):
        chat["stop"] = request["stop_sequences"]
    metadata = request.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        chat["user"] = metadata["user_id"]
    functions = _tools(request["tools"], skipped) if request.get("tools") else None
    if functions:
        chat["tools"] = functions
    choice = request.get("tool_choice")
    if choice is not None and chat.get("tools"):
        chat.update(_tool_choice(choice))
    fmt = _format(request)
    if fmt is not None:
        chat["response_format"] = fmt
    if "stream" in request and not isinstance(request["stream"], bool | None):
        raise bad_request("stream: must be true or false.", param="stream")
    if request.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def stop_reason(finish_reason: object) -> str:
    return _STOP.get(finish_reason, "end_turn") if isinstance(finish_reason, str) else "end_turn"


def _format(request: Json) -> Json | None:
    """Structured output (`output_config.format`, or the beta's `output_format`) as chat's
    json_schema response format; the answer is then the JSON text in a text block."""
    config = request.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else request.get("output_format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or \
            not isinstance(fmt.get("schema"), dict):
        raise bad_request("output_config.format: expected {type: json_schema, schema: {...}}.",
                          param="output_config.format")
    return {"type": "json_schema",
            "json_schema": {"name": "output", "schema": fmt["schema"], "strict": True}}


def _system(system: object) -> str:
    if system is None or isinstance(system, str):
        return system or ""
    if isinstance(system, list):
        return "\n\n".join(_text_of(block, f"system.{i}") for i, block in enumerate(system))
    raise bad_request("system: must be a string or a list of text blocks.", param="system")


def _text_of(block: object, where: str) -> str:
    if not isinstance(block, dict) or block.get("type") != "text" or \
            not isinstance(block.get("text"), str):
        raise bad_request(f"{where}: expected a text block.", param=where)
    return str(block["text"])


def _message(message: object, where: str, skipped: list[GatewayError] | None) -> list[Json]:
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
        raise bad_request(f"{where}.role: must be 'user' or 'assistant' (or 'system').",
                          param=f"{where}.role")
    role, content = message["role"], message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise bad_request(f"{where}.content: must be a string or a list of content blocks.",
                          param=f"{where}.content")
    parts: list[Json] = []
    calls: list[Json] = []
    results: list[Json] = []
    for i, block in enumerate(content):
        _block(block, f"{where}.content.{i}", role, (parts, calls, results), skipped)
    out = list(results)
    if role == "assistant":
        text = "".join(p["text"] for p in parts if p["type"] == "text")
        if text or calls:
            reply: Json = {"role": "assistant", "content": text or None}
            if calls:
                reply["tool_calls"] = calls
            out.append(reply)
    elif parts:
        out.append({"role": "user", "content": parts})
    return out


def _block(block: object, where: str, role: str,
           into: tuple[list[Json], list[Json], list[Json]],
           skipped: list[GatewayError] | None) -> None:
    """One content block into the message's parts, tool calls and tool results."""
    parts, calls, results = into
    kind = block.get("type") if isinstance(block, dict) else None
    if not isinstance(kind, str):
        kind = None
    if not isinstance(block, dict) or kind in _SKIPPED_BLOCKS:
        if kind is None:
            raise bad_request(f"{where}: expected a content block object.", param=where)
        return
    if kind == "text":
        parts.append({"type": "text", "text": _text_of(block, where)})
    elif kind == "image" and role == "user":
        parts.append({"type": "image_url", "image_url": {"url": _source_url(block, where)}})
    elif kind == "document" and role == "user":
        parts.append({"type": "file", "file": {"file_data": _source_url(block, where)}})
    elif kind == "tool_use" and role == "assistant":
        calls.append({"id": str(block.get("id", "")), "type": "function",
                      "function": {"name": str(block.get("name", "")),
                                   "arguments": orjson.dumps(block.get("input") or {}).decode()}})
    elif kind == "tool_result" and role == "user":
        content = block.get("content")
        text = content if isinstance(content, str) else "".join(
            b.get("text", "") for b in content or () if isinstance(b, dict))
        if block.get("is_error"):
            text = f"Error: {text}"
        results.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")),
                        "content": text})
    else:
        untranslatable(GatewayError(400, f"{where}: content blocks of type {kind!r} are not "
                                    f"supported in a {role} message by this gateway's "
                                    "translation.", param=where), skipped)


def _source_url(block: Json, where: str) -> str:
    source: Json = block["source"] if isinstance(block.get("source"), dict) else {}
    if source.get("type") == "base64":
        return f"data:{source.get('media_type', '')};base64,{source.get('data', '')}"
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return str(source["url"])
    raise bad_request(f"{where}.source: only base64 and url sources are supported.",
                      param=f"{where}.source")


def _tools(tools: object, skipped: list[GatewayError] | None = None) -> list[Json]:
    if not isinstance(tools, list):
        raise bad_request("tools: must be a list.", param="tools")
    out = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "custom") != "custom" or \
                not isinstance(tool.get("name"), str):
            kind = tool.get("type") if isinstance(tool, dict) else None
            untranslatable(GatewayError(
                400, f"tools.{index}: the server tool {kind!r} cannot be served through this "
                "gateway's chat models; only custom tools (name, input_schema) can.",
                param=f"tools.{index}"), skipped)
            continue
        function: Json = {"name": tool["name"],
                          "parameters": tool.get("input_schema") or {"type": "object"}}
        if tool.get("description"):
            function["description"] = tool["description"]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: object) -> Json:
    kind = choice.get("type") if isinstance(choice, dict) else None
    if not isinstance(choice, dict) or kind not in ("auto", "any", "tool", "none"):
        raise bad_request("tool_choice.type: must be auto, any, tool or none.",
                          param="tool_choice")
    out: Json = {"tool_choice": {"auto": "auto", "any": "required", "none": "none"}.get(kind)}
    if kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": str(choice.get("name"))}}
    if choice.get("disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False
    return out
