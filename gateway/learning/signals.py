"""Warning signals on an answer that parsed: what a label-free judge can still see.

- `truncated`: `finish_reason: length` when the client set no output budget (the upstream's
  own limit cut the answer; a cut at the client's budget is the client's choice);
- `content_filter`: `finish_reason: content_filter`;
- `refusal`: a `refusal` field, or a reply that opens with a refusal phrase;
- `tool_mismatch`: a tool call to a tool the request did not declare, arguments that are not
  an object or lack a parameter the tool's schema requires, or `tool_choice` not honoured
  (required or named and no call or another one; "none" and a call);
- `repetition`: a long reply that compresses to a tenth of its size (a model stuck in a loop).

Each has a weight in the route's reward (`policies.reward.SIGNALS`). Cheap: a few string
checks, and zlib over at most the last 4 KB of a long reply.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

import orjson

Json = dict[str, Any]

_REFUSAL = re.compile(
    r"\s*(?:(?:i'm|i am|i’m)\s+sorry|sorry|unfortunately|i apologi[sz]e)?[,.!\s]*"
    r"(?:but\s+)?(?:i\s+(?:can(?:'|’)?t|cannot|can\s+not|won(?:'|’)?t|will\s+not|am\s+unable"
    r"|(?:'|’)m\s+unable|am\s+not\s+able|(?:'|’)m\s+not\s+able)\s+"
    r"(?:help|assist|comply|provide|do\s+that|fulfil|fulfill|support|create|write|answer)"
    r"|as\s+an\s+ai\b)", re.IGNORECASE)
_REPETITION_MIN_CHARS = 400
_REPETITION_RATIO = 0.1


def signals(content: Any, tool_calls: list[tuple[Any, Any]], finish_reason: Any,
            refusal: Any, request: Json, *, budget_set: bool) -> frozenset[str]:
    """`tool_calls`: (name, arguments) of each call, as far as they arrived."""
    found = set()
    if finish_reason == "length" and not budget_set:
        found.add("truncated")
    elif finish_reason == "content_filter":
        found.add("content_filter")
    text = content if isinstance(content, str) else ""
    if (isinstance(refusal, str) and refusal.strip()) or (text and _REFUSAL.match(text[:160])):
        found.add("refusal")
    if _tool_mismatch(tool_calls, request):
        found.add("tool_mismatch")
    if len(text) >= _REPETITION_MIN_CHARS:
        tail = text[-4000:].encode()
        if len(zlib.compress(tail, 1)) < _REPETITION_RATIO * len(tail):
            found.add("repetition")
    return frozenset(found)


def _tool_mismatch(calls: list[tuple[Any, Any]], request: Json) -> bool:
    declared = _declared(request.get("tools"))
    choice = request.get("tool_choice")
    if not calls:
        return bool(declared) and (choice == "required" or isinstance(choice, dict))
    if choice == "none":
        return True
    wanted = choice.get("function", {}).get("name") if isinstance(choice, dict) and \
        isinstance(choice.get("function"), dict) else None
    for name, arguments in calls:
        if declared is None:
            continue  # no tools declared in a form we read: nothing to hold the call to
        if name not in declared or (wanted is not None and name != wanted):
            return True
        try:
            args = orjson.loads(arguments) if isinstance(arguments, str) and arguments else {}
        except orjson.JSONDecodeError:
            continue  # not JSON: validity already failed it
        if not isinstance(args, dict) or not declared[name].issubset(args):
            return True
    return False


def _declared(tools: Any) -> dict[str, frozenset[str]] | None:
    """Declared function name -> the parameters its schema requires; None when no tools."""
    if not isinstance(tools, list) or not tools:
        return None
    found: dict[str, frozenset[str]] = {}
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            return None  # a tool we cannot read (a built-in tool type): no name checks
        params = fn.get("parameters")
        required = params.get("required") if isinstance(params, dict) else None
        found[fn["name"]] = frozenset(r for r in required if isinstance(r, str)) \
            if isinstance(required, list) else frozenset()
    return found


def of_completion(data: Json, request: Json, *, budget_set: bool) -> frozenset[str]:
    """The signals of a non-streaming answer (its first choice)."""
    choices = data.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        return frozenset()
    calls = []
    raw = message.get("tool_calls")
    for call in raw if isinstance(raw, list) else ():
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict):
            calls.append((fn.get("name"), fn.get("arguments")))
    return signals(message.get("content"), calls, choice.get("finish_reason"),  # type: ignore[union-attr]
                   message.get("refusal"), request, budget_set=budget_set)
