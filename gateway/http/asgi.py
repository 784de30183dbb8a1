"""Small raw-ASGI helpers for the hot path: body reading with a size limit, JSON answers, and a
guard that cancels the work when the client goes away."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from gateway.errors import GatewayError, bad_request, too_large

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    declared = header(scope, b"content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise too_large(limit)
        except ValueError:
            raise bad_request("Invalid Content-Length header.") from None
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        parts.append(chunk)
        if not message.get("more_body", False):
            return parts[0] if len(parts) == 1 else b"".join(parts)


class ClientGone(Exception):
    """The client disconnected; nothing more can be sent."""


def json_headers(length: int, extra: Iterable[tuple[bytes, bytes]] = ()) -> Headers:
    return [(b"content-type", b"application/json"), (b"content-length", str(length).encode()),
            *extra]


async def send_json(send: Send, status: int, body: bytes,
                    extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": json_headers(len(body), extra)})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, error: GatewayError) -> None:
    extra = [(k.encode(), v.encode()) for k, v in error.headers.items()]
    await send_json(send, error.status, error.body(), extra)


class DisconnectGuard:
    """Cancels the current task when the client disconnects before the answer is complete.

    uvicorn's receive() blocks after the body until the client goes away or the response is
    complete; `complete()` must be called before the last send so that the end of a normal
    response is not mistaken for a disconnect.
    """

    __slots__ = ("_task", "_watcher", "finished", "disconnected")

    def __init__(self, receive: Receive) -> None:
        self._task = asyncio.current_task()
        self.finished = False
        self.disconnected = False
        self._watcher = asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not self.finished and self._task is not None:
                    self.disconnected = True
                    self._task.cancel()
                return

    def complete(self) -> None:
        self.finished = True

    def close(self) -> None:
        """After a complete answer the watcher ends by itself: uvicorn's receive() returns
        http.disconnect once the response is complete. Cancelling it there left, per request,
        a CancelledError whose traceback and frames form a reference cycle with the task, ~60
        objects only the cyclic GC frees: for a 30 s stream, a full collection (measured with
        5,000 open streams: pauses of ~0.5-1 s, the p99 time to first token of every stream
        opened meanwhile)."""
        if not self.finished:
            self._watcher.cancel()


class Endpoint:
    """Wraps a raw ASGI function so starlette's Route passes it scope, receive and send
    (a plain function would be treated as a Request -> Response handler)."""

    def __init__(self, fn: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self._fn = fn

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._fn(scope, receive, send)
