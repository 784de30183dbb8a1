"""A Responses API request (POST /v1/responses) as a chat completions request.

`input` (a string, or items: messages with text, image and file parts, `function_call`,
`function_call_output`) becomes `messages`; `instructions` a leading system message; function
tools, `tool_choice`, `text.format`, `max_output_tokens`, `reasoning.effort` their chat twins.
What has no chat twin is refused with a 400 naming it (a built-in tool such as web search,
an item type the gateway cannot replay), never silently dropped; fields that only shape the
stored response object (`metadata`, `store`, `include`, `truncation`) are kept by the caller.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import GatewayError, bad_request
from gateway.translate import untranslatable

Json = dict[str, Any]

# Chat completions fields that the Responses API does not have: a chat body sent here by
# mistake is told so (as OpenAI answers it), not half-served. Other unknown fields are let
# through unread, since clients add their own (the Codex CLI sends `client_metadata`).
CHAT_ONLY = frozenset({"messages", "response_format", "max_tokens", "max_completion_tokens",
                       "functions", "function_call", "n", "stop", "logprobs"})
# Known but not offered by this gateway: a 400 that says so.
_UNSUPPORTED = {"background": "background responses", "conversation": "conversations",
                "prompt": "stored prompt templates"}
# Passed to the upstream as they are; the rest (service tier, cache keys, logprobs) stay here,
# because many chat upstreams refuse a field they do not know.
_PASSED = ("temperature", "top_p", "user")
_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}


def unsupported(message: str, param: str) -> GatewayError:
    return GatewayError(400, message, param=param, code="unsupported_parameter")


def check_fields(request: Json) -> None:
    for key in CHAT_ONLY.intersection(request):
        raise GatewayError(400, f"Unknown parameter: '{key}' (a chat completions parameter: "
                           "send it to /v1/chat/completions, or use the Responses API's own).",
                           param=key, code="unknown_parameter")
    for key, what in _UNSUPPORTED.items():
        if request.get(key) not in (None, False):
            raise unsupported(f"This gateway does not offer {what} ('{key}').", key)
    if not isinstance(request.get("model"), str) or not request["model"]:
        raise bad_request("'model' is required and must be a string.", param="model")
    if "stream" in request and not isinstance(request["stream"], bool | None):
        raise bad_request("'stream' must be true or false.", param="stream")


def input_items(value: object) -> list[Json]:
    """`input` as a list of items (a string is one user message)."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise bad_request("'input' must be a string or a list of input items.", param="input")
    return value


def chat_request(request: Json, items: list[Json],
                 skipped: list[GatewayError] | None = None) -> Json:
    """The chat request for a checked Responses request whose conversation is `items`. With
    `skipped`, what has no chat twin is noted there and left out instead of refused (for a
    request that may go to an upstream that speaks the Responses API natively)."""
    messages: list[Json] = []
    instructions = request.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    elif instructions is not None and not isinstance(instructions, str):
        raise bad_request("'instructions' must be a string.", param="instructions")
    for index, item in enumerate(items):
        _add_item(messages, item, f"input[{index}]", skipped)
    if not messages and not skipped:
        raise bad_request("'input' must hold at least one message.", param="input")
    chat: Json = {"model": request["model"], "messages": messages}
    for key in _PASSED:
        if request.get(key) is not None:
            chat[key] = request[key]
    if request.get("max_output_tokens") is not None:
        chat["max_completion_tokens"] = request["max_output_tokens"]
    reasoning = request.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort"):
        chat["reasoning_effort"] = reasoning["effort"]
    tools = request.get("tools")
    functions = _tools(tools, skipped) if tools else None
    if functions:
        chat["tools"] = functions
        if request.get("parallel_tool_calls") is not None:  # chat refuses it without tools
            chat["parallel_tool_calls"] = request["parallel_tool_calls"]
    if request.get("tool_choice") is not None:
        choice = _tool_choice(request["tool_choice"], skipped)
        if choice is not None:
            chat["tool_choice"] = choice
    fmt = _format(request.get("text"))
    if fmt is not None:
        chat["response_format"] = fmt
    if request.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # response.completed carries usage
    return chat


def _add_item(messages: list[Json], item: Json, where: str,
              skipped: list[GatewayError] | None) -> None:
    kind = item.get("type", "message" if "role" in item else None)
    if kind == "message":
        role = _ROLES.get(item["role"]) if isinstance(item.get("role"), str) else None
        if role is None:
            raise bad_request(f"{where}.role must be one of user, assistant, system, "
                              f"developer; got {item.get('role')!r}.", param=f"{where}.role")
        messages.append({"role": role, "content": _content(item.get("content"), role, where)})
    elif kind == "function_call":
        call = {"id": _text(item, "call_id", where), "type": "function",
                "function": {"name": _text(item, "name", where),
                             "arguments": _text(item, "arguments", where)}}
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant" and "tool_call_id" not in last:
            last.setdefault("tool_calls", []).append(call)  # parallel calls: one message
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        content = output if isinstance(output, str) else _content(output, "tool", where)
        messages.append({"role": "tool", "tool_call_id": _text(item, "call_id", where),
                         "content": content})
    elif kind == "reasoning":
        return  # a reasoning model's own state: nothing a chat upstream can take back
    else:
        untranslatable(bad_request(
            f"{where}: input items of type {kind!r} are not supported by this gateway's "
            "translation (it takes message, function_call, function_call_output).",
            param=where), skipped)


def _text(item: Json, key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise bad_request(f"{where}.{key} is required and must be a string.",
                          param=f"{where}.{key}")
    return value


def _content(content: object, role: str, where: str) -> str | list[Json]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_request(f"{where}.content must be a string or a list of content parts.",
                          param=f"{where}.content")
    parts = [_part(part, f"{where}.content[{i}]") for i, part in enumerate(content)]
    if role != "user" and all(p["type"] == "text" for p in parts):
        # Chat takes text-only content for system, assistant and tool messages.
        return "".join(p["text"] for p in parts)
    return parts


def _part(part: object, where: str) -> Json:
    if not isinstance(part, dict):
        raise bad_request(f"{where} must be an object.", param=where)
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": _text(part, "text", where)}
    if kind == "refusal":
        return {"type": "text", "text": _text(part, "refusal", where)}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str):
            raise bad_request(f"{where}: only images given by 'image_url' are supported "
                              "(a URL or a data: URL), not by file_id.", param=where)
        image: Json = {"url": url}
        if part.get("detail"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        file = {k: part[k] for k in ("file_data", "file_id", "filename") if part.get(k)}
        return {"type": "file", "file": file}
    raise bad_request(f"{where}: content parts of type {kind!r} are not supported.",
                      param=where)


def _tools(tools: object, skipped: list[GatewayError] | None = None) -> list[Json]:
    if not isinstance(tools, list):
        raise bad_request("'tools' must be a list.", param="tools")
    out = []
    for index, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind == "namespace" and isinstance(tool, dict):  # a group of functions (Codex)
            out += _tools([t for t in tool.get("tools") or () if isinstance(t, dict)])
            continue
        if kind != "function" or not isinstance(tool, dict):
            untranslatable(unsupported(
                f"tools[{index}]: the built-in tool {kind!r} cannot be served through this "
                "gateway's chat models; only function tools can.", f"tools[{index}]"), skipped)
            continue
        function = {"name": _text(tool, "name", f"tools[{index}]")}
        for key in ("description", "parameters", "strict"):
            if tool.get(key) is not None:
                function[key] = tool[key]
        out.append({"type": "function", "function": function})
    return out


def namespaces(request: Json) -> dict[str, str]:
    """function name -> its namespace, for the functions declared inside a `namespace` tool
    (their calls must name the namespace again)."""
    found = {}
    for tool in request.get("tools") or ():
        if isinstance(tool, dict) and tool.get("type") == "namespace":
            for inner in tool.get("tools") or ():
                if isinstance(inner, dict) and isinstance(inner.get("name"), str):
                    found[inner["name"]] = str(tool.get("name"))
    return found


def _tool_choice(choice: object, skipped: list[GatewayError] | None) -> object:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": _text(choice, "name", "tool_choice")}}
    untranslatable(unsupported(f"tool_choice {choice!r} is not supported: use auto, none, "
                               "required or a function.", "tool_choice"), skipped)
    return None


def _format(text: object) -> Json | None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema" and isinstance(fmt, dict):
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    raise bad_request(f"text.format.type must be text, json_object or json_schema; got "
                      f"{kind!r}.", param="text.format")
