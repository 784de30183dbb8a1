"""POST /v1/messages and /v1/messages/count_tokens: the Anthropic Messages API front door.

For Claude Code and the Anthropic SDKs (`ANTHROPIC_BASE_URL` = the gateway). The key may come
as `x-api-key` or as a bearer token; `anthropic-version` and `anthropic-beta` are accepted, and
passed on to an upstream that speaks Messages natively. Requests are translated to chat
(gateway/translate/messages_request.py), routed by `model` like chat, and answered in
Anthropic's shapes, errors included; a candidate whose provider lists `messages` in `native`
gets the request as it came and its answer goes back as it is (translate/native.py).
"""

from __future__ import annotations

import logging
from typing import Any, cast

import orjson

from gateway.errors import GatewayError
from gateway.http.asgi import ClientGone, Receive, Scope, Send, header, read_body, send_json
from gateway.http.chat import json_object
from gateway.http.door import Opened, serve
from gateway.http.native import native_candidates
from gateway.ops.logs import printable
from gateway.runtime.state import Generation
from gateway.translate import messages_answer, messages_request
from gateway.translate.messages_answer import MessagesEvents
from gateway.translate.native import MessagesStream, messages_view
from providers.base import NativeProvider, ProviderError

log = logging.getLogger("bayesgate.messages")


class MessagesDialect:
    door = "messages"
    keeps = False
    embeddings = False
    native: str | None = "messages"

    def __init__(self, request: dict[str, Any], headers: dict[str, str]) -> None:
        self.native_body = request  # untranslated: thinking blocks, cache_control and all
        self.native_headers = headers

    def answer(self, data: dict[str, Any]) -> bytes:
        return orjson.dumps(messages_answer.message(data))

    def events(self, model: str) -> MessagesEvents:
        return MessagesEvents(model)

    def native_answer(self, data: dict[str, Any], model: str) -> tuple[dict[str, Any], bytes]:
        data["model"] = model
        return messages_view(data), orjson.dumps(data)

    def native_events(self, model: str) -> MessagesStream:
        return MessagesStream(model)

    async def keep(self) -> None:
        return None


class MessagesDoor:
    name = "messages"

    def caller(self, gateway: Generation, scope: Scope) -> str:
        return gateway.auth.check(scope, x_api_key=True)

    async def open(self, gateway: Generation, body: bytes, caller: str,
                   scope: Scope) -> Opened:
        request = json_object(body)
        skipped: list[GatewayError] = []  # what chat cannot take: for native upstreams only
        chat = messages_request.chat_request(request, skipped)
        only = native_candidates(gateway, request["model"], "messages", skipped) \
            if skipped else None
        return Opened(chat, MessagesDialect(request, _passed_headers(scope)), only=only)

    def error_body(self, error: GatewayError) -> bytes:
        return messages_answer.error_body(error)


def _passed_headers(scope: Scope) -> dict[str, str]:
    """The client's Anthropic headers, for an upstream that takes the request as it came."""
    found = {}
    for name in (b"anthropic-version", b"anthropic-beta"):
        value = header(scope, name)
        if value is not None:
            found[name.decode()] = value.decode("latin-1")
    return found


MESSAGES = MessagesDoor()


async def messages(scope: Scope, receive: Receive, send: Send) -> None:
    await serve(MESSAGES, scope, receive, send)


async def count_tokens(scope: Scope, receive: Receive, send: Send) -> None:
    """The upstream's own count when `model` is, or is a route with, a candidate whose provider
    speaks Messages natively; otherwise (or when that upstream fails) an estimate of about four
    characters a token, as the simulated models and the learner's prompt estimate count."""
    gateway: Generation = scope["state"]["gateway"]
    try:
        MESSAGES.caller(gateway, scope)
        request = json_object(await read_body(scope, receive,
                                              gateway.config.server.max_body_bytes))
        request.setdefault("max_tokens", 1)  # not part of a count_tokens request
        chat = messages_request.chat_request(request, [])  # server tools are not counted
    except GatewayError as exc:
        await send_json(send, exc.status, messages_answer.error_body(exc))
        return
    except ClientGone:
        return
    counted = await _counted(gateway, request, _passed_headers(scope))
    if counted is None:
        text = orjson.dumps([chat["messages"], chat.get("tools")])
        counted = {"input_tokens": max(1, len(text) // 4)}
    await send_json(send, 200, orjson.dumps(counted))


async def _counted(gateway: Generation, request: dict[str, Any],
                   headers: dict[str, str]) -> dict[str, Any] | None:
    config = gateway.config
    name = request.get("model")
    if not isinstance(name, str):
        return None
    route = config.routes.get(name)
    names = route.candidates if route is not None else (name,)
    model = next((config.models[n] for n in names if n in config.models and "messages" in
                  config.providers[config.models[n].provider].native), None)
    if model is None:
        return None
    provider = cast(NativeProvider, gateway.providers[model.provider])
    try:
        counted = await provider.count_tokens(request, upstream_model=model.upstream_name,
                                              headers=headers)
    except ProviderError as exc:
        log.info("count_tokens on %s failed, estimated instead: %s", model.name,
                 printable(gateway.redact(exc.message), 300))
        return None
    return counted if isinstance(counted.get("input_tokens"), int) else None
