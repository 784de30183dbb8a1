"""What the gateway knows about a request before routing it, and the class that decides.

Every front door translates to a chat request first, so one reading of that request serves
them all. `features()` walks the messages once (a few microseconds for a chat turn): the
prompt's size as a token estimate (characters / 4, the rule of thumb for English text and
code), tools, a forced tool call, structured output, images, stream, the output budget, and
the text the keyword rules read. `Classifier` holds a route's classes, compiled once, and
picks the first that matches.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.config import UNMATCHED_CLASS, ClassConfig
from gateway.errors import bad_request

CHARS_PER_TOKEN = 4.0
_MESSAGE_TOKENS = 4  # each message's role and separators
_IMAGE_TOKENS = 765  # a 1024 x 1024 image at OpenAI's "high" detail
# What the keyword rules read: the head of the system message and the head and tail of the
# last user message (where the task usually is, around a pasted document), so long prompts
# cost no more to classify than short ones.
_TEXT_CHARS = 300


@dataclass(frozen=True, slots=True)
class Features:
    prompt_tokens: int  # estimated
    tools: bool
    tool_required: bool
    structured: bool
    images: bool
    stream: bool
    output_budget: int | None  # max_completion_tokens or max_tokens, when the client set one
    text: str  # lower-cased and bounded: the system message and the last user message


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
        text=f"{system[:_TEXT_CHARS]}\n{user[:_TEXT_CHARS]}\n"
             f"{user[-_TEXT_CHARS:] if len(user) > 2 * _TEXT_CHARS else user[_TEXT_CHARS:]}"
             .lower(),
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
        self.words = _Keywords(spec.keywords) if spec.keywords else None

    @property
    def always(self) -> bool:
        return not self.flags and self.words is None and self.min_tokens is None \
            and self.max_tokens is None

    def matches(self, f: Features, words: tuple[frozenset[str], str] | None) -> bool:
        """`words`: the text's words and its words joined by single spaces, read once."""
        for attr, value in self.flags:
            if getattr(f, attr) is not value:
                return False
        if self.min_tokens is not None and f.prompt_tokens < self.min_tokens:
            return False
        if self.max_tokens is not None and f.prompt_tokens > self.max_tokens:
            return False
        if self.words is None:
            return True
        assert words is not None
        return self.words.found(f.text, *words)


class _Keywords:
    """A rule's keywords, sorted by how they are found (str methods and set lookups in C: a
    regular expression alternation cost ~180 us over a 1,000-character prompt):

    - a word (`python`) is a whole word of the text;
    - a phrase (`stack trace`) is those words in a row; `word*` (`summar*`) starts a word;
    - anything with a symbol other than a trailing `*` (```` ``` ````, `#include`, `tl;dr`)
      is found as it is, anywhere.
    """

    __slots__ = ("words", "spaced", "raw")

    def __init__(self, keywords: Iterable[str]) -> None:
        self.words: frozenset[str] = frozenset()
        words, spaced, raw = set(), [], []
        for keyword in (k.lower().strip() for k in keywords):
            stem = keyword[:-1] if keyword.endswith("*") else keyword
            if not stem:
                continue
            if stem.translate(_PUNCTUATION) != stem:
                raw.append(keyword)
            elif keyword.endswith("*"):
                spaced.append(" " + " ".join(stem.split()))
            elif " " in stem:
                spaced.append(" " + " ".join(stem.split()) + " ")
            else:
                words.add(stem)
        self.words = frozenset(words)
        self.spaced = tuple(spaced)
        self.raw = tuple(raw)

    def found(self, text: str, tokens: frozenset[str], padded: str) -> bool:
        if not self.words.isdisjoint(tokens):
            return True
        for keyword in self.spaced:  # loops, not any(genexpr): this runs per request
            if keyword in padded:
                return True
        for keyword in self.raw:
            if keyword in text:
                return True
        return False


_PUNCTUATION = str.maketrans({c: " " for c in string.punctuation})


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
        words = None
        for rule in self._rules:
            if rule.words is not None and words is None:
                split = f.text.translate(_PUNCTUATION).split()
                words = (frozenset(split), f" {' '.join(split)} ")
            if rule.matches(f, words):
                return rule.name
        return UNMATCHED_CLASS
