"""How a front door writes the pipeline's chat answers back in its own API's shape: the
`Dialect` a door hands to the `Call`, and the `Events` that turn one stream's chat chunks
into that API's events. chat.py, responses.py, messages.py and embeddings.py implement them.

A dialect whose API an upstream may speak natively (Responses, Messages) is also a `Native`:
for a candidate whose provider lists that API in `native`, the Call sends its `native_body`
as it is and relays that API's answer, reading it into chat only to measure it.
"""

from __future__ import annotations

from typing import Any, Protocol

from gateway.errors import GatewayError


class Events(Protocol):
    """One stream's answer in a dialect: each chat chunk in, the bytes to send out."""

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        """The bytes for one chat chunk (b"" when it adds nothing to send yet)."""
        ...

    def end(self) -> bytes:
        """The last bytes of a stream that ended properly."""
        ...

    def failed(self, error: GatewayError) -> bytes:
        """The last bytes of a stream whose upstream broke after the first byte."""
        ...


class NativeEvents(Protocol):
    """One native stream: each upstream event in, its bytes out and the chat chunk it
    amounts to (None when it adds nothing to measure)."""

    def event(self, event: dict[str, Any]) -> tuple[dict[str, Any] | None, bytes]: ...

    def failed(self, error: GatewayError) -> bytes:
        """The last bytes of a stream whose upstream broke after the first byte."""
        ...


class Dialect(Protocol):
    """How one front door writes the pipeline's chat answers in its API's shape."""

    door: str  # the front door's name, a label in /stats and /metrics
    native: str | None  # the API an upstream may take this request in untranslated, if any
    keeps: bool  # whether keep() must run before the last byte of an answer
    embeddings: bool  # the request is for embeddings (provider.embed), not a chat completion

    def answer(self, data: dict[str, Any]) -> bytes:
        """The JSON body for a chat completion (its `model` already the configured name)."""
        ...

    def events(self, model: str) -> Events: ...

    async def keep(self) -> None:
        """Store what was answered (a Responses API `store`), before the client sees the end."""
        ...


class Native(Dialect, Protocol):
    """A dialect whose requests an upstream that speaks its API gets untranslated."""

    @property
    def native_body(self) -> dict[str, Any]:
        """The request as that API takes it."""
        ...

    native_headers: dict[str, str]  # the client's headers that API needs (anthropic-beta)

    def native_answer(self, data: dict[str, Any], model: str) -> tuple[dict[str, Any], bytes]:
        """The chat answer to measure, and the client's bytes (its `model` set to `model`)."""
        ...

    def native_events(self, model: str) -> NativeEvents: ...
