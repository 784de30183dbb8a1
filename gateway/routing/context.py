"""What the gateway knows about a request before routing it, and the class that decides.

Every front door translates to a chat request first, so one reading of that request serves
them all. `features()` walks the messages once (a few microseconds for a chat turn): the
prompt's size as a token estimate (characters / 4, the rule of thumb for English text and
code), tools, a forced tool call, structured output, images, stream, the output budget, and
the text the keyword rules read. `Classifier` holds a route's classes, compiled once, and
picks the first that matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.config import UNMATCHED_CLASS, ClassConfig
from gateway.errors import bad_request

CHARS_PER_TOKEN = 4.0
_MESSAGE_TOKENS = 4  # each message's role and separators
_IMAGE_TOKENS = 765  # a 1024 x 1024 image at OpenAI's "high" detail
_TEXT_CHARS = 2000  # what the keyword rules read of the system and the last user message


@dataclass(frozen=True, slots=True)
class Features:
    prompt_tokens: int  # estimated
    tools: bool
    tool_required: bool
    structured: bool
    images: bool
    stream: bool
    output_budget: int | None  # max_completion_tokens or max_tokens, when the client set one
    text: str  # lower-cased: the system message and the last user message, bounded


def features(request: dict[str, Any]) -> Features:
    chars = 0
    tokens = 0
    images = False
    system = user = ""
    messages = request.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, dict):
                continue
            tokens += _MESSAGE_TOKENS
            content = message.get("content")
            text = ""
            if isinstance(content, str):
                text = content
            elif isinstance(content, list):
                parts = []
                for part in content:
                    if not isinstance(part, dict):
                        continue
                    kind = part.get("type")
                    if kind == "text" and isinstance(part.get("text"), str):
                        parts.append(part["text"])
                    elif kind in ("image_url", "input_image", "image"):
                        images = True
                        tokens += _IMAGE_TOKENS
                text = " ".join(parts)
            chars += len(text)
            calls = message.get("tool_calls")
            if isinstance(calls, list):
                for call in calls:
                    fn = call.get("function") if isinstance(call, dict) else None
                    args = fn.get("arguments") if isinstance(fn, dict) else None
                    if isinstance(args, str):
                        chars += len(args)
            role = message.get("role")
            if role in ("system", "developer"):
                system = text
            elif role == "user":
                user = text
    tools = request.get("tools")
    if isinstance(tools, list) and tools:
        # Declared tools are part of the prompt; their JSON is about that many characters.
        chars += len(repr(tools))
    choice = request.get("tool_choice")
    fmt = request.get("response_format")
    budget = request.get("max_completion_tokens", request.get("max_tokens"))
    return Features(
        prompt_tokens=tokens + int(chars / CHARS_PER_TOKEN),
        tools=bool(tools) and isinstance(tools, list),
        tool_required=choice == "required" or isinstance(choice, dict),
        structured=isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object"),
        images=images,
        stream=request.get("stream") is True,
        output_budget=budget if isinstance(budget, int) and not isinstance(budget, bool)
        and budget > 0 else None,
        text=f"{system[:_TEXT_CHARS]}\n{user[:_TEXT_CHARS]}".lower(),
    )


class _Rule:
    __slots__ = ("name", "flags", "min_tokens", "max_tokens", "words")

    def __init__(self, spec: ClassConfig) -> None:
        self.name = spec.name
        self.flags = tuple((attr, value) for attr in
                           ("tools", "tool_required", "structured", "images", "stream")
                           if (value := getattr(spec, attr)) is not None)
        self.min_tokens = spec.min_prompt_tokens
        self.max_tokens = spec.max_prompt_tokens
        self.words = _keyword_pattern(spec.keywords)

    @property
    def always(self) -> bool:
        return not self.flags and self.words is None and self.min_tokens is None \
            and self.max_tokens is None

    def matches(self, f: Features) -> bool:
        for attr, value in self.flags:
            if getattr(f, attr) is not value:
                return False
        if self.min_tokens is not None and f.prompt_tokens < self.min_tokens:
            return False
        if self.max_tokens is not None and f.prompt_tokens > self.max_tokens:
            return False
        return self.words is None or self.words.search(f.text) is not None


def _keyword_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """One alternation; a keyword that starts with a letter or digit must start a word, so
    "sql" does not match inside "mysqlx" but "summar" matches "summarise"."""
    alternatives = [(r"\b" if w[0].isalnum() else "") + re.escape(w.lower()) for w in words if w]
    return re.compile("|".join(alternatives)) if alternatives else None


class Classifier:
    """A route's classes in order; the first that matches a request is its class."""

    def __init__(self, classes: tuple[ClassConfig, ...]) -> None:
        self._rules = tuple(_Rule(c) for c in classes)
        names = [c.name for c in classes]
        if self._rules and not self._rules[-1].always and UNMATCHED_CLASS not in names:
            names.append(UNMATCHED_CLASS)  # some requests match no class
        self.names = tuple(names)

    def classify(self, f: Features, *, stated: bytes | None = None) -> str:
        """The request's class ("" when the route has none). `stated`: the client's
        x-bayesgate-class header, which must name one of the route's classes."""
        if not self._rules:
            return ""
        if stated is not None:
            name = stated.decode("latin-1").strip().lower()
            if name not in self.names:
                raise bad_request(f"x-bayesgate-class: {name!r} is not a class of this route "
                                  f"(its classes: {', '.join(self.names)}).",
                                  param="x-bayesgate-class")
            return name
        for rule in self._rules:
            if rule.matches(f):
                return rule.name
        return UNMATCHED_CLASS
