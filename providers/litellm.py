"""Every provider LiteLLM supports (Anthropic, Gemini, Bedrock, ...), translated to and from
OpenAI's format by `litellm.acompletion`.

LiteLLM is imported in `start()`, only when such a provider is configured: the import takes
~4.5 s and fetches a price map from the internet unless LITELLM_LOCAL_MODEL_COST_MAP is set
before it (docs/architecture.md, measured facts).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from providers.base import (
    Context,
    Json,
    ProviderError,
    Settings,
    UpstreamInvalid,
    UpstreamStatus,
    UpstreamTimeout,
    UpstreamUnavailable,
)

# OpenAI chat parameters LiteLLM is given; anything else in the body (api_base, api_key,
# custom_llm_provider, ...) could redirect the call or change its credentials, so it is dropped.
_PASSED = frozenset({
    "messages", "temperature", "top_p", "n", "stop", "max_tokens", "max_completion_tokens",
    "presence_penalty", "frequency_penalty", "logit_bias", "user", "tools", "tool_choice",
    "parallel_tool_calls", "response_format", "seed", "logprobs", "top_logprobs",
    "stream_options", "reasoning_effort",
})
_EMBEDDING_PASSED = frozenset({"input", "dimensions", "encoding_format", "user"})


class LiteLLMProvider:
    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_s: float = 120.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url
        self._timeout_s = timeout_s
        self._headers = dict(headers or {})
        self._litellm: Any = None

    @classmethod
    def from_settings(cls, settings: Settings, context: Context) -> LiteLLMProvider:
        return cls(api_key=settings.api_key, base_url=settings.base_url,
                   timeout_s=settings.timeout_s, headers=settings.headers)

    async def start(self) -> None:
        # The first import takes seconds: in a thread, so no request waits for it.
        self._litellm = await asyncio.to_thread(_import_litellm)

    async def aclose(self) -> None:
        return None

    def _kwargs(self, body: Json, upstream_model: str) -> dict[str, Any]:
        kwargs = {k: v for k, v in body.items() if k in _PASSED}
        kwargs.update(model=upstream_model, timeout=self._timeout_s, num_retries=0)
        if self._api_key:
            kwargs["api_key"] = self._api_key
        if self._base_url:
            kwargs["api_base"] = self._base_url
        if self._headers:
            kwargs["extra_headers"] = self._headers
        return kwargs

    async def complete(self, body: Json, *, upstream_model: str) -> Json:
        try:
            response = await self._litellm.acompletion(**self._kwargs(body, upstream_model))
        except Exception as exc:
            raise self._map(exc) from exc
        return _as_dict(response)

    async def embed(self, body: Json, *, upstream_model: str) -> Json:
        kwargs = {k: v for k, v in body.items() if k in _EMBEDDING_PASSED}
        kwargs.update(model=upstream_model, timeout=self._timeout_s)
        if self._api_key:
            kwargs["api_key"] = self._api_key
        if self._base_url:
            kwargs["api_base"] = self._base_url
        try:
            response = await self._litellm.aembedding(**kwargs)
        except Exception as exc:
            raise self._map(exc) from exc
        return _as_dict(response)

    async def stream(self, body: Json, *, upstream_model: str) -> AsyncGenerator[Json, None]:
        kwargs = self._kwargs(body, upstream_model)
        kwargs["stream"] = True
        try:
            response = await self._litellm.acompletion(**kwargs)
            async for chunk in response:
                yield _as_dict(chunk)
        except ProviderError:
            raise
        except Exception as exc:
            raise self._map(exc) from exc

    def _map(self, exc: Exception) -> ProviderError:
        lib = self._litellm
        message = str(getattr(exc, "message", "") or exc)[:500]
        if isinstance(exc, lib.Timeout | TimeoutError):
            return UpstreamTimeout("upstream did not answer in time")
        if isinstance(exc, lib.APIConnectionError):
            return UpstreamUnavailable(f"cannot reach upstream: {message}")
        status = getattr(exc, "status_code", None)
        if isinstance(status, int) and 400 <= status < 600:
            return UpstreamStatus(status, f"upstream answered {status}: {message}")
        return UpstreamInvalid(f"upstream call failed: {type(exc).__name__}: {message}")


def _as_dict(obj: Any) -> Json:
    if isinstance(obj, dict):
        return obj
    dump = getattr(obj, "model_dump", None)
    if dump is None:
        raise UpstreamInvalid("LiteLLM returned an object that is not a completion")
    data: Json = dump(exclude_none=True)
    return data


def _import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    return litellm
