"""How a front door writes the pipeline's chat answers back in its own API's shape: the
`Dialect` a door hands to the `Call`, and the `Events` that turn one stream's chat chunks
into that API's events. chat.py, responses.py, messages.py and embeddings.py implement them.
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


class Dialect(Protocol):
    """How one front door writes the pipeline's chat answers in its API's shape."""

    door: str  # the front door's name, a label in /stats and /metrics
    keeps: bool  # whether keep() must run before the last byte of an answer
    embeddings: bool  # the request is for embeddings (provider.embed), not a chat completion

    def answer(self, data: dict[str, Any]) -> bytes:
        """The JSON body for a chat completion (its `model` already the configured name)."""
        ...

    def events(self, model: str) -> Events: ...

    async def keep(self) -> None:
        """Store what was answered (a Responses API `store`), before the client sees the end."""
        ...
