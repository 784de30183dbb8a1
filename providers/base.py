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

from collections.abc import AsyncGenerator
from typing import Any, Protocol

Json = dict[str, Any]


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
    """One upstream API. `body` is the client's request as parsed JSON, already sanitised."""

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def complete(self, body: Json, *, upstream_model: str) -> Json:
        """A non-streaming chat completion as OpenAI's JSON."""
        ...

    def stream(self, body: Json, *, upstream_model: str) -> AsyncGenerator[Json, None]:
        """The chunks of a streaming completion; raises UpstreamInvalid if it ends early."""
        ...
