"""In-process fake models: the default config, the demo and load tests run with no keys.

Each model has a latency (time to the whole answer, or to the first token of a stream), jitter,
an error rate (answered as a 503), an invalid-answer rate (an empty message) and an output size.
It answers in the shapes clients parse, so structured output and tools work as on a real model:

- `response_format` json_object: a JSON object; json_schema: an instance of the schema, drawn
  by providers/schema_instance.py (a schema it cannot satisfy or read gets `{}`, which the
  gateway scores invalid when it does not match). `json_invalid_rate` of these are cut short.
- `tools`: one call, `content: null` and finish_reason "tool_calls", its arguments an instance
  of the function's `parameters`. tool_choice "required" calls the first tool, a named function
  that one (400 if it is not in `tools`), "auto" or none a tool drawn at random, for
  `tool_call_rate` of the answers and never right after a `tool` result (so a round trip ends
  in text); "none" answers text. `tool_invalid_rate` of the calls have cut-short arguments.
- Streams carry the content over `chunks` chunks, and a tool call as OpenAI streams it: the
  id, type and name in the first `delta.tool_calls` entry, the arguments in fragments after.

Not simulated: parallel tool calls, the legacy `functions` / `function_call`, `n` > 1, refusals.
Every draw comes from the injected generator, before the answer's wait, so a seeded run of
sequential requests answers the same each time.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass

import numpy as np

from providers.base import Context, Json, Settings, UpstreamStatus
from providers.schema_instance import instance

_WORDS = ("the", "gateway", "routes", "each", "request", "to", "a", "model", "that", "is",
          "good", "enough", "fast", "enough", "and", "cheap", "right", "now")
_NO_PARAMETERS: Json = {"type": "object", "properties": {}}


@dataclass(frozen=True, slots=True)
class SimModel:
    latency_ms: float = 300.0
    jitter_ms: float = 50.0
    error_rate: float = 0.0
    invalid_rate: float = 0.0
    output_tokens: int = 40
    chunks: int = 8
    json_invalid_rate: float = 0.0  # a JSON-mode / json_schema answer that is not valid JSON
    tool_call_rate: float = 1.0  # with tools and tool_choice "auto": how often a tool is called
    tool_invalid_rate: float = 0.0  # a tool call whose arguments are not valid JSON


@dataclass(frozen=True, slots=True)
class _Reply:
    """What the model says: text (or None beside a tool call), the call, its token count."""

    content: str | None
    tokens: int
    call: tuple[str, str, str] | None = None  # (id, function name, arguments as JSON text)


class SimulatedProvider:
    def __init__(self, *, models: Mapping[str, SimModel], rng: np.random.Generator) -> None:
        self._models = dict(models)
        self._rng = rng

    @classmethod
    def from_settings(cls, settings: Settings, context: Context) -> SimulatedProvider:
        return cls(models=context.simulated, rng=context.rng)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def _draw(self, upstream_model: str) -> tuple[SimModel, float, bool]:
        spec = self._models.get(upstream_model)
        if spec is None:
            raise UpstreamStatus(404, f"simulated model {upstream_model!r} does not exist")
        delay = max(0.0, spec.latency_ms + self._rng.normal(0.0, spec.jitter_ms)) / 1000
        if self._rng.random() < spec.error_rate:
            raise UpstreamStatus(503, "simulated upstream error")
        return spec, delay, bool(self._rng.random() < spec.invalid_rate)

    def _text(self, spec: SimModel) -> str:
        return " ".join(_WORDS[i % len(_WORDS)] for i in range(spec.output_tokens))

    def _reply(self, body: Json, spec: SimModel, *, invalid: bool) -> _Reply:
        if invalid:
            return _Reply("", spec.output_tokens)
        function = self._tool(body, spec)
        if function is not None:
            return self._call(function, spec)
        fmt = body.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
            return self._structured(fmt, spec)
        return _Reply(self._text(spec), spec.output_tokens)

    def _tool(self, body: Json, spec: SimModel) -> Json | None:
        """The function this answer calls, or None for a message."""
        declared = body.get("tools")
        tools = [t["function"] for t in (declared if isinstance(declared, list) else ())
                 if isinstance(t, dict) and isinstance(t.get("function"), dict)]
        choice = body.get("tool_choice", "auto")
        if not tools or choice == "none":
            return None
        if isinstance(choice, dict):
            named = choice.get("function")
            wanted = named.get("name") if isinstance(named, dict) else None
            for function in tools:
                if function.get("name") == wanted:
                    return function
            raise UpstreamStatus(400, f"tool_choice names the function {wanted!r}, "
                                      "which is not one of the request's tools")
        if choice == "required":
            return tools[0]
        messages = body.get("messages")
        last = messages[-1] if isinstance(messages, list) and messages else None
        if isinstance(last, dict) and last.get("role") == "tool":
            return None  # the tool's result is in: answer it, so the round trip ends
        if self._rng.random() >= spec.tool_call_rate:
            return None
        return tools[int(self._rng.integers(len(tools)))]

    def _call(self, function: Json, spec: SimModel) -> _Reply:
        parameters = function.get("parameters")
        arguments = self._instance(parameters if isinstance(parameters, dict) else _NO_PARAMETERS)
        if self._rng.random() < spec.tool_invalid_rate:
            arguments = _truncated(arguments, self._rng)
        ident = f"call_{int(self._rng.integers(1 << 48)):012x}"
        return _Reply(None, _tokens(arguments), (ident, str(function.get("name")), arguments))

    def _structured(self, fmt: Json, spec: SimModel) -> _Reply:
        described = fmt.get("json_schema")
        schema = described.get("schema") if isinstance(described, dict) else None
        if fmt.get("type") == "json_schema" and isinstance(schema, dict):
            content = self._instance(schema)
        else:
            words = self._text(spec).split(" ")[:12]
            content = json.dumps({"answer": " ".join(words),
                                  "confidence": round(float(self._rng.random()), 2)})
        if self._rng.random() < spec.json_invalid_rate:
            content = _truncated(content, self._rng)
        return _Reply(content, _tokens(content))

    def _instance(self, schema: Json) -> str:
        """An instance of a client's schema as JSON text; `{}` for one it cannot satisfy."""
        try:
            return json.dumps(instance(schema, rng=self._rng))
        # Unsatisfiable (a ValueError), or a schema malformed in a way the generator trips on
        # (`"minimum": "x"`): a model would answer something; the gateway scores it.
        except (ValueError, TypeError, LookupError, AttributeError, ArithmeticError,
                RecursionError):
            return "{}"

    async def complete(self, body: Json, *, upstream_model: str) -> Json:
        spec, delay, invalid = self._draw(upstream_model)
        reply = self._reply(body, spec, invalid=invalid)
        ident = f"chatcmpl-sim{self._rng.integers(1 << 48):x}"
        await asyncio.sleep(delay)
        message: Json = {"role": "assistant", "content": reply.content}
        if reply.call is not None:
            call_id, name, arguments = reply.call
            message["tool_calls"] = [{"id": call_id, "type": "function",
                                      "function": {"name": name, "arguments": arguments}}]
        return {
            "id": ident,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": upstream_model,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "stop" if reply.call is None else "tool_calls"}],
            "usage": _usage(body, reply.tokens),
        }

    async def embed(self, body: Json, *, upstream_model: str) -> Json:
        """One vector per input, the same for the same text (a hash seeds it), unit length;
        an invalid answer leaves the vectors out."""
        spec, delay, invalid = self._draw(upstream_model)
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) or (isinstance(raw, list) and raw and
                                                   isinstance(raw[0], int)) else raw or []
        dimensions = body.get("dimensions")
        size = dimensions if isinstance(dimensions, int) else 16
        await asyncio.sleep(delay)
        data = [] if invalid else [{"object": "embedding", "index": i,
                                    "embedding": _vector(str(text), max(1, min(size, 4096)))}
                                   for i, text in enumerate(inputs)]
        tokens = max(1, sum(len(str(text)) for text in inputs) // 4)
        return {"object": "list", "data": data, "model": upstream_model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    async def stream(self, body: Json, *, upstream_model: str) -> AsyncGenerator[Json, None]:
        spec, delay, invalid = self._draw(upstream_model)
        reply = self._reply(body, spec, invalid=invalid)
        ident = f"chatcmpl-sim{self._rng.integers(1 << 48):x}"
        await asyncio.sleep(delay)
        created = int(time.time())

        def chunk(delta: Json, finish: str | None = None) -> Json:
            return {"id": ident, "object": "chat.completion.chunk", "created": created,
                    "model": upstream_model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        if reply.call is None:
            yield chunk({"role": "assistant", "content": ""})
            deltas: list[Json] = [{"content": piece}
                                  for piece in _pieces(reply.content or "", spec.chunks)]
        else:
            call_id, name, arguments = reply.call
            yield chunk({"role": "assistant", "content": None, "tool_calls": [
                {"index": 0, "id": call_id, "type": "function",
                 "function": {"name": name, "arguments": ""}}]})
            deltas = [{"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                      for piece in _pieces(arguments, spec.chunks)]
        for delta in deltas:
            await asyncio.sleep(0.002)
            yield chunk(delta)
        yield chunk({}, "stop" if reply.call is None else "tool_calls")
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            usage = chunk({})
            usage["choices"] = []
            usage["usage"] = _usage(body, reply.tokens)
            yield usage


def _vector(text: str, size: int) -> list[float]:
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    values = np.random.default_rng(seed).normal(size=size)
    return [round(float(v), 6) for v in values / np.linalg.norm(values)]


def _pieces(text: str, count: int) -> list[str]:
    """`text` in at most `count` pieces that join back into it, split after whitespace."""
    words = re.findall(r"\S+\s*|\s+", text)
    size = max(1, -(-len(words) // max(1, count)))
    return ["".join(words[i:i + size]) for i in range(0, len(words), size)]


def _truncated(text: str, rng: np.random.Generator) -> str:
    """`text` cut short, as a model stopped mid-answer leaves it; never valid JSON."""
    cut = text[:int(rng.integers(1, len(text)))] if len(text) > 1 else text
    try:
        json.loads(cut)
    except ValueError:
        return cut
    return cut + ","  # a cut that still parses ("12" -> "1") is made not to


def _tokens(text: str) -> int:
    return len(text) // 4 + 1


def _usage(body: Json, completion_tokens: int) -> Json:
    messages = body.get("messages") or []
    prompt = sum(len(str(m.get("content", ""))) for m in messages if isinstance(m, dict)) // 4
    prompt = max(1, prompt)
    return {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens}
