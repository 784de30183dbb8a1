"""POST /v1/embeddings: passed to the model the route picks (or the model named), answered in
OpenAI's shape with `model` set to the configured name.

A route over embedding models learns as a chat route does, from latency and validity (one
vector of numbers per input; learning/validity.py `check_embeddings`), with failover before the
answer. Two things chat has are left out: the client-retry fingerprint (the same text embedded
again is a cache miss, not a complaint) and shadow copies (shadow candidates are chat models).
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import GatewayError, bad_request
from gateway.http.asgi import Receive, Scope, Send
from gateway.http.chat import ChatEvents, json_object
from gateway.http.door import Opened, serve
from gateway.runtime.state import Generation


class EmbeddingsDialect:
    door = "embeddings"
    keeps = False
    native: str | None = None
    embeddings = True

    def answer(self, data: dict[str, Any]) -> bytes:
        return orjson.dumps(data)

    def events(self, model: str) -> ChatEvents:
        return ChatEvents()  # never streamed (`stream` is refused in open())

    async def keep(self) -> None:
        return None


class EmbeddingsDoor:
    name = "embeddings"
    _dialect = EmbeddingsDialect()

    def caller(self, gateway: Generation, scope: Scope) -> str:
        return gateway.auth.check(scope)

    async def open(self, gateway: Generation, body: bytes, caller: str,
                   scope: Scope) -> Opened:
        request = json_object(body)
        raw = request.get("input")
        if not (isinstance(raw, str) or (isinstance(raw, list) and raw and all(
                isinstance(x, str | int) or (isinstance(x, list) and x) for x in raw))):
            raise bad_request("'input' is required: a string, a non-empty list of strings, or "
                              "token arrays.", param="input")
        if request.get("stream"):
            raise bad_request("Embeddings are not streamed.", param="stream")
        return Opened(request, self._dialect)

    def error_body(self, error: GatewayError) -> bytes:
        return error.body()


EMBEDDINGS = EmbeddingsDoor()


async def embeddings(scope: Scope, receive: Receive, send: Send) -> None:
    await serve(EMBEDDINGS, scope, receive, send)
