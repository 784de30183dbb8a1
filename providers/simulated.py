"""In-process fake models: the default config, the demo and load tests run with no keys.

Each model has a latency (time to the whole answer, or to the first token of a stream), jitter,
an error rate (answered as a 503), an invalid-answer rate (an empty message) and an output size.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass

import numpy as np

from providers.base import Context, Json, Settings, UpstreamStatus

_WORDS = ("the", "gateway", "routes", "each", "request", "to", "a", "model", "that", "is",
          "good", "enough", "fast", "enough", "and", "cheap", "right", "now")


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

    async def complete(self, body: Json, *, upstream_model: str) -> Json:
        spec, delay, invalid = self._draw(upstream_model)
        await asyncio.sleep(delay)
        content = "" if invalid else self._text(spec)
        return {
            "id": f"chatcmpl-sim{self._rng.integers(1 << 48):x}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": upstream_model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": _usage(body, spec),
        }

    async def stream(self, body: Json, *, upstream_model: str) -> AsyncGenerator[Json, None]:
        spec, delay, invalid = self._draw(upstream_model)
        await asyncio.sleep(delay)
        ident = f"chatcmpl-sim{self._rng.integers(1 << 48):x}"
        created = int(time.time())
        words = [] if invalid else self._text(spec).split(" ")
        per_chunk = max(1, -(-len(words) // spec.chunks)) if words else 1
        yield _chunk(ident, created, upstream_model, {"role": "assistant", "content": ""}, None)
        for i in range(0, len(words), per_chunk):
            await asyncio.sleep(0.002)
            text = " ".join(words[i:i + per_chunk]) + " "
            yield _chunk(ident, created, upstream_model, {"content": text}, None)
        yield _chunk(ident, created, upstream_model, {}, "stop")
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            usage = _chunk(ident, created, upstream_model, {}, None)
            usage["choices"] = []
            usage["usage"] = _usage(body, spec)
            yield usage


def _chunk(ident: str, created: int, model: str, delta: Json, finish: str | None) -> Json:
    return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _usage(body: Json, spec: SimModel) -> Json:
    messages = body.get("messages") or []
    prompt = sum(len(str(m.get("content", ""))) for m in messages if isinstance(m, dict)) // 4
    prompt = max(1, prompt)
    return {"prompt_tokens": prompt, "completion_tokens": spec.output_tokens,
            "total_tokens": prompt + spec.output_tokens}
