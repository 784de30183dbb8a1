"""POST /v1/chat/completions, the chat front door: the pipeline's own dialect.

Nothing to translate: the request is checked and passed on, the answer and the chunks are
written as they came (with `model` set to the configured name), streams end with `[DONE]`.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import GatewayError, bad_request
from gateway.http.asgi import Receive, Scope, Send
from gateway.http.door import Opened, serve
from gateway.runtime.state import Generation


class ChatEvents:
    __slots__ = ()

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def end(self) -> bytes:
        return b"data: [DONE]\n\n"

    def failed(self, error: GatewayError) -> bytes:
        return b"data: " + error.body() + b"\n\n"


class ChatDialect:
    door = "chat"
    keeps = False
    native: str | None = None
    embeddings = False
    _events = ChatEvents()

    def answer(self, data: dict[str, Any]) -> bytes:
        return orjson.dumps(data)

    def events(self, model: str) -> ChatEvents:
        return self._events

    async def keep(self) -> None:
        return None


class ChatDoor:
    name = "chat"
    _dialect = ChatDialect()

    def caller(self, gateway: Generation, scope: Scope) -> str:
        return gateway.auth.check(scope)

    async def open(self, gateway: Generation, body: bytes, caller: str,
                   scope: Scope) -> Opened:
        return Opened(parse_request(body), self._dialect)

    def error_body(self, error: GatewayError) -> bytes:
        return error.body()


CHAT = ChatDoor()


async def chat_completions(scope: Scope, receive: Receive, send: Send) -> None:
    await serve(CHAT, scope, receive, send)


def parse_request(body: bytes) -> dict[str, Any]:
    request = json_object(body)
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' is required and must be a non-empty list.",
                          param="messages")
    if any(not isinstance(m, dict) for m in messages):
        raise bad_request("Each entry of 'messages' must be an object.", param="messages")
    if "stream" in request and not isinstance(request["stream"], bool | None):
        raise bad_request("'stream' must be true or false.", param="stream")
    # Fields a client may not set (a redirect, a credential) never reach an upstream: each
    # provider passes on only the API's own fields (providers/openai.py, providers/litellm.py).
    return request


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, every front door's first check."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc.args[0]}.") from None
    if not isinstance(request, dict):
        raise bad_request("The request body must be a JSON object.")
    if body.count(b"[") + body.count(b"{") > _MAX_DEPTH:
        _check_depth(request)
    return request


# orjson reads 1024 levels of nesting but writes only 254: a body in between used to fail at
# the provider, as a 502 blamed on (and scored against) the model. Counting brackets (a C scan)
# rules out almost every body; only those with many brackets pay for the exact check.
_MAX_DEPTH = 254


def _check_depth(request: dict[str, Any]) -> None:
    try:
        orjson.dumps(request)
    except orjson.JSONEncodeError:
        raise bad_request(f"The request body is nested too deeply (at most {_MAX_DEPTH} "
                          "levels).") from None
