"""The provider interface and the one exception tree upstream failures are mapped into.

    ProviderError             anything that went wrong talking to an upstream
     +-- UpstreamTimeout      no (complete) answer in time; the gateway answers 504
     +-- UpstreamUnavailable  connection refused, reset, closed mid-body
     +-- UpstreamStatus       a non-2xx HTTP status, with the upstream's message
     +-- UpstreamInvalid      2xx but unusable: not JSON, no choices, a broken stream

Every library error is mapped into this tree at the provider boundary; nothing else escapes.
`retryable` says whether another attempt (on this or another model) can help; `client_fault`
marks upstream 4xx answers that are about the request itself (another model would not help).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Settings:
    """How a provider reaches its upstream: the keys of `providers.NAME` besides `type`.

    The defaults here are the config's defaults (the gateway's config schema extends this).
    """

    base_url: str | None = None
    api_key: str | None = None
    timeout_s: float = 120.0
    connect_timeout_s: float = 10.0
    # The longest silence between two chunks of a stream; None: timeout_s.
    stream_idle_timeout_s: float | None = None
    # The longest a whole stream may take (None: no bound); comments such as ": ping" are no
    # progress, so they never keep a stream alive past stream_idle_timeout_s either.
    stream_timeout_s: float | None = 1800.0
    max_connections: int = 256
    headers: Mapping[str, str] = field(default_factory=dict)
    # The largest answer body read from the upstream; a larger one is an invalid answer.
    max_response_bytes: int = 32_000_000
    # Request fields passed on besides OpenAI's own (an upstream's extras, e.g. vLLM's top_k).
    extra_fields: tuple[str, ...] = ()
    # The APIs besides chat completions the upstream speaks ("responses", "messages"): a
    # request through that front door is passed on untranslated (openai providers only).
    native: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Context:
    """What a provider may need besides its settings: the simulated models it serves (by
    upstream name) and the random generator their dice come from."""

    rng: np.random.Generator
    simulated: Mapping[str, Any] = field(default_factory=dict)  # upstream name -> SimModel


class ProviderError(Exception):
    status = 502
    retryable = True
    client_fault = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UpstreamTimeout(ProviderError):
    status = 504


class UpstreamUnavailable(ProviderError):
    pass


class UpstreamInvalid(ProviderError):
    pass


class UpstreamStatus(ProviderError):
    def __init__(self, status: int, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.upstream_status = status
        self.retry_after_s = retry_after_s
        # 400, 404, 413, 422: the request itself is at fault; the client should see it as is.
        self.client_fault = status in (400, 404, 413, 422)
        self.retryable = not self.client_fault
        self.status = status if self.client_fault else 502


class Provider(Protocol):
    """One upstream API. `body` is the client's request as parsed JSON, already sanitised.

    Each implementation also has `from_settings(settings, context)`, the factory the registry
    (providers/__init__.py) calls.
    """

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def complete(self, body: Json, *, upstream_model: str) -> Json:
        """A non-streaming chat completion as OpenAI's JSON."""
        ...

    def stream(self, body: Json, *, upstream_model: str) -> AsyncGenerator[Json, None]:
        """The chunks of a streaming completion; raises UpstreamInvalid if it ends early."""
        ...

    async def embed(self, body: Json, *, upstream_model: str) -> Json:
        """An embeddings answer (POST /v1/embeddings) as OpenAI's JSON."""
        ...


class NativeProvider(Provider, Protocol):
    """A provider whose upstream also speaks the Responses or Messages API (`native`)."""

    async def native(self, api: str, body: Json, *, upstream_model: str,
                     headers: Mapping[str, str] | None = None) -> Json:
        """A non-streaming answer of `api` ("responses" or "messages") as that API's JSON."""
        ...

    def native_stream(self, api: str, body: Json, *, upstream_model: str,
                      headers: Mapping[str, str] | None = None,
                      ) -> AsyncGenerator[list[Json], None]:
        """The events of a streaming answer of `api`, each its `data` JSON, a list per read."""
        ...

    async def count_tokens(self, body: Json, *, upstream_model: str,
                           headers: Mapping[str, str] | None = None) -> Json:
        """Anthropic's count_tokens answer, `{"input_tokens": N}`."""
        ...
