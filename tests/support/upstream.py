"""An OpenAI-compatible fake upstream served over real HTTP on 127.0.0.1, in its own thread.

What it does is chosen per upstream model name through `behaviors`; it records every request
(headers and body) and counts the calls that the gateway abandoned (client closed).
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass
class Behavior:
    error_rate: float = 0.0  # share of requests answered with `status`
    status: int = 500
    retry_after: str | None = None
    delay_s: float = 0.0  # before the answer (or the first chunk)
    mode: str = "ok"  # ok | invalid_json | no_choices | empty | no_done | hang | cut_body
    #                    | stall (stream stops sending after two chunks) | error_event
    #                    | drop (stream: the connection is closed after two chunks)
    #                    | chunked (non-stream: sent without a content-length)
    #                    | deep (the answer, or the second chunk, holds JSON 300 levels deep)
    #                    | reset (the connection is reset, RST, before any answer)
    #                    | pings (stream: after two chunks only ": ping" comments, forever)
    #                    | endless (stream: content chunks every chunk_delay_s, never done)
    chunk_delay_s: float = 0.0
    content: str = "Hello from the fake upstream."
    error_message: str | None = None  # the text of an error answer (default names the model)
    usage: bool = True  # False: never a usage block, even when the request asks for one
    json_content: str | None = None  # the answer to a response_format request
    # "cut" (mode): a JSON-mode answer cut off at the request's max_tokens (finish "length")


@dataclass
class Seen:
    model: str
    headers: dict[str, str]
    body: dict[str, Any]
    path: str = "/v1/chat/completions"


@dataclass
class FakeUpstream:
    # per upstream model: one Behavior, or a list used one per call (the last one then stays)
    behaviors: dict[str, Behavior | list[Behavior]] = field(default_factory=dict)
    seed: int = 7
    requests: list[Seen] = field(default_factory=list)
    cancelled: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    streamed_bytes: int = 0  # SSE bytes written to the gateway, over all streams
    port: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def count(self, model: str) -> int:
        return sum(1 for r in self.requests if r.model == model)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeUpstream:
        self._thread = threading.Thread(target=self._run, daemon=True, name="fake-upstream")
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake upstream did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = web.Application()
        self._routes(app)
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)

    # -- the endpoint --------------------------------------------------------------------------

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        """Three numbers per input; a model's behaviour's error_rate and status apply."""
        body = orjson.loads(await request.read())
        model = body.get("model", "")
        self.requests.append(Seen(model, {k.lower(): v for k, v in request.headers.items()},
                                  body))
        behavior = self._behavior(model)
        if behavior.error_rate and self._rng.random() < behavior.error_rate:
            return web.json_response({"error": {"message": f"fake failure of {model}",
                                                "type": "server_error"}},
                                     status=behavior.status)
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else list(raw or [])
        return web.json_response({
            "object": "list", "model": model,
            "data": [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}
                     for i in range(len(inputs))],
            "usage": {"prompt_tokens": 3 * len(inputs), "total_tokens": 3 * len(inputs)}})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        model = body.get("model", "")
        self.requests.append(Seen(model, {k.lower(): v for k, v in request.headers.items()},
                                  body))
        behavior = self._behavior(model)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if behavior.delay_s:
                await asyncio.sleep(behavior.delay_s)
            if behavior.mode == "hang":
                await asyncio.sleep(3600)
            if behavior.mode == "reset":
                return _reset(request)
            if behavior.error_rate and self._rng.random() < behavior.error_rate:
                headers = {"retry-after": behavior.retry_after} if behavior.retry_after else {}
                message = behavior.error_message or f"fake failure of {model}"
                return web.json_response(
                    {"error": {"message": message, "type": "server_error"}},
                    status=behavior.status, headers=headers)
            if not _understood(body):
                # A real API answers 400 to parameters it cannot make sense of.
                return web.json_response({"error": {"message": "fake upstream: bad parameters",
                                                    "type": "invalid_request_error"}}, status=400)
            if body.get("stream"):
                return await self._stream(request, body, model, behavior)
            if behavior.mode == "cut_body":
                return await self._cut_body(request, body, model, behavior)
            if behavior.mode == "chunked":  # no content-length: the body in 64 KB pieces
                raw = orjson.dumps(completion(body, model, behavior))
                resp = web.StreamResponse(headers={"content-type": "application/json"})
                await resp.prepare(request)
                for i in range(0, len(raw), 65536):
                    await resp.write(raw[i:i + 65536])
                await resp.write_eof()
                return resp
            return self._complete(body, model, behavior)
        except (asyncio.CancelledError, ConnectionResetError):
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1

    def _behavior(self, model: str) -> Behavior:
        found = self.behaviors.get(model, Behavior())
        if isinstance(found, list):
            return found.pop(0) if len(found) > 1 else found[0]
        return found

    def _complete(self, body: dict[str, Any], model: str, behavior: Behavior) -> web.Response:
        if behavior.mode == "invalid_json":
            return web.Response(text="{this is not json", content_type="application/json")
        answer = completion(body, model, behavior)
        if behavior.mode == "no_choices":
            answer["choices"] = []
        if behavior.mode == "empty":
            answer["choices"][0]["message"]["content"] = ""
        return web.Response(body=dumps(answer, behavior), content_type="application/json")

    async def _cut_body(self, request: web.Request, body: dict[str, Any], model: str,
                        behavior: Behavior) -> web.StreamResponse:
        """Promise more bytes than are sent, then close: the client sees a broken body."""
        raw = orjson.dumps(completion(body, model, behavior))
        resp = web.StreamResponse(headers={"content-length": str(len(raw)),
                                           "content-type": "application/json"})
        await resp.prepare(request)
        await resp.write(raw[: len(raw) // 2])
        assert request.transport is not None
        request.transport.close()
        return resp

    async def _stream(self, request: web.Request, body: dict[str, Any], model: str,
                      behavior: Behavior) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for i, chunk in enumerate(chunks(body, model, behavior)):
            if behavior.mode == "stall" and i == 2:
                await asyncio.sleep(3600)
            if behavior.mode == "error_event" and i == 2:
                message = behavior.error_message or "fake stream failure"
                await resp.write(b"data: " + orjson.dumps({"error": {"message": message}})
                                 + b"\n\n")
                return resp
            if behavior.mode == "endless" and i == 2:
                while True:
                    await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
                    await asyncio.sleep(behavior.chunk_delay_s or 0.05)
            if behavior.mode == "pings" and i == 2:
                while True:
                    await resp.write(b": ping\n\n")
                    await asyncio.sleep(0.05)
            if behavior.mode == "drop" and i == 2:
                assert request.transport is not None
                request.transport.abort()
                return resp
            event = b"data: " + (dumps(chunk, behavior) if i == 1 else orjson.dumps(chunk)) \
                + b"\n\n"
            await resp.write(event)
            self.streamed_bytes += len(event)
            if behavior.chunk_delay_s:
                await asyncio.sleep(behavior.chunk_delay_s)
        if behavior.mode != "no_done":
            await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def _reset(request: web.Request) -> web.Response:
    """Close with SO_LINGER 0, so the peer gets a TCP RST rather than a clean end."""
    assert request.transport is not None
    sock = request.transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    request.transport.abort()
    return web.Response(status=500)  # never sent: the connection is gone


def _understood(body: dict[str, Any]) -> bool:
    try:
        completion(body, "m", Behavior())
        chunks({"stream_options": body.get("stream_options")}, "m", Behavior(content="x"))
    except (KeyError, IndexError, TypeError, AttributeError):
        return False
    return True


def completion(body: dict[str, Any], model: str, behavior: Behavior) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": behavior.content}
    finish = "stop"
    if body.get("tools"):
        message = {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": body["tools"][0]["function"]["name"],
                         "arguments": '{"city": "Paris"}'}}]}
        finish = "tool_calls"
    elif isinstance(body.get("response_format"), dict):
        message["content"] = behavior.json_content or '{"answer": 42}'
        if behavior.mode == "cut":
            message["content"], finish = '{"ans', "length"
    answer = {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
              "model": model, "choices": [{"index": 0, "message": message,
                                           "finish_reason": finish}]}
    if behavior.usage:
        prompt = prompt_tokens(body)
        answer["usage"] = {"prompt_tokens": prompt, "completion_tokens": 7,
                           "total_tokens": prompt + 7}
    return answer


def dumps(data: dict[str, Any], behavior: Behavior) -> bytes:
    """The JSON of an answer or chunk; mode "deep" adds a field nested 300 levels, written by
    hand (orjson reads up to 1024 levels but writes only 254)."""
    raw = orjson.dumps(data)
    if behavior.mode != "deep":
        return raw
    return raw[:-1] + b',"deep":' + b"[" * 300 + b"0" + b"]" * 300 + b"}"


def prompt_tokens(body: dict[str, Any]) -> int:
    """The fake's tokenizer: 1.3 tokens a word plus 3 a message (not the gateway's estimate)."""
    messages = body.get("messages") or []
    words = sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))
    return 12 if not messages else round(1.3 * words) + 3 * len(messages)


def chunks(body: dict[str, Any], model: str, behavior: Behavior) -> list[dict[str, Any]]:
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}
    words = behavior.content.split(" ")
    out = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                 "finish_reason": None}]}]
    out += [{**base, "choices": [{"index": 0, "delta": {"content": w + " "},
                                  "finish_reason": None}]} for w in words]
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if (body.get("stream_options") or {}).get("include_usage") and behavior.usage:
        prompt = prompt_tokens(body)
        out.append({**base, "choices": [], "usage": {"prompt_tokens": prompt,
                                                     "completion_tokens": len(words),
                                                     "total_tokens": prompt + len(words)}})
    return out
