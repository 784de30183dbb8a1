"""POST /v1/messages and /v1/messages/count_tokens: the Anthropic Messages API front door.

For Claude Code and the Anthropic SDKs (`ANTHROPIC_BASE_URL` = the gateway). The key may come
as `x-api-key` or as a bearer token; `anthropic-version` and `anthropic-beta` are accepted and
not needed. Requests are translated to chat (gateway/translate/messages_request.py), routed by
`model` like chat, and answered in Anthropic's shapes, errors included.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.http.asgi import ClientGone, Receive, Scope, Send, read_body, send_json
from gateway.http.chat import json_object
from gateway.http.door import Opened, serve
from gateway.runtime.state import Generation
from gateway.translate import messages_answer, messages_request
from gateway.translate.messages_answer import MessagesEvents


class MessagesDialect:
    door = "messages"
    keeps = False
    embeddings = False

    def answer(self, data: dict[str, Any]) -> bytes:
        return orjson.dumps(messages_answer.message(data))

    def events(self, model: str) -> MessagesEvents:
        return MessagesEvents(model)

    async def keep(self) -> None:
        return None


class MessagesDoor:
    name = "messages"
    _dialect = MessagesDialect()

    def caller(self, gateway: Generation, scope: Scope) -> str:
        return gateway.auth.check(scope, x_api_key=True)

    async def open(self, gateway: Generation, body: bytes, caller: str) -> Opened:
        return Opened(messages_request.chat_request(json_object(body)), self._dialect)

    def error_body(self, error: GatewayError) -> bytes:
        return messages_answer.error_body(error)


MESSAGES = MessagesDoor()


async def messages(scope: Scope, receive: Receive, send: Send) -> None:
    await serve(MESSAGES, scope, receive, send)


async def count_tokens(scope: Scope, receive: Receive, send: Send) -> None:
    """An estimate (about four characters a token, as the simulated models and the learner's
    prompt estimate count): no tokenizer of every upstream model is at hand here."""
    gateway: Generation = scope["state"]["gateway"]
    try:
        MESSAGES.caller(gateway, scope)
        request = json_object(await read_body(scope, receive,
                                              gateway.config.server.max_body_bytes))
        request.setdefault("max_tokens", 1)  # not part of a count_tokens request
        chat = messages_request.chat_request(request)
    except GatewayError as exc:
        await send_json(send, exc.status, messages_answer.error_body(exc))
        return
    except ClientGone:
        return
    text = orjson.dumps([chat["messages"], chat.get("tools")])
    await send_json(send, 200, orjson.dumps({"input_tokens": max(1, len(text) // 4)}))
