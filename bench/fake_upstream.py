"""A cheap fake OpenAI-compatible upstream for the benchmark.

Raw asyncio protocol (uvloop when installed), hand-rolled HTTP/1.1 keep-alive parsing and
precomputed response bytes, so that it costs a few tens of microseconds per request and is never
the bottleneck of a proxy under test (see `--self-test` in bench/run.py's output).

Endpoints:
  POST /v1/chat/completions   JSON, or SSE when the body has "stream": true (9 chunks, a usage
                              chunk when stream_options.include_usage, then data: [DONE])
  POST /v1/responses          the same answer in OpenAI's Responses API: a `response`, or its
                              typed events (7 text deltas among 14 events)
  POST /v1/messages           the same answer in Anthropic's Messages API: a `message`, or its
                              events (7 text deltas among 13 events)
  GET  /v1/models
  POST /v1/traces             an OTLP/HTTP trace sink: 200 with an empty protobuf answer (the
                              `traced` target exports its spans here); spans counted, not kept
  POST /_bench/delay?ms=N     sets the response delay at run time (the orchestrator uses it to
                              switch between the 0 ms and 50 ms scenarios without a restart)
  POST /_bench/stream?chunks=N&interval_ms=M
                              long streams from now on: the role chunk at once, then one content
                              chunk every M ms, N of them (fewer when the request's max_tokens is
                              smaller), then the finish and usage chunks and [DONE]; chunks=0
                              goes back to the 9-chunk stream written at once (bench/streams.py)

    python bench/fake_upstream.py --port 9001 --delay-ms 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time

MODEL = "fake-model"
WORDS = ["Hello", " from", " the", " fake", " upstream", ",", " friend"]  # 7 content chunks


def _json(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _response(status: str, ctype: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status.encode() + b"\r\ncontent-type: " + ctype
        + b"\r\ncontent-length: " + str(len(body)).encode()
        + b"\r\nconnection: keep-alive\r\n\r\n" + body
    )


def _usage() -> dict:
    return {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}


def _completion() -> bytes:
    return _json({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 1700000000, "model": MODEL,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": "".join(WORDS)}}],
        "usage": _usage(),
    })


def _chunk(delta: dict, finish: str | None) -> dict:
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000,
            "model": MODEL, "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}


def _sse_frames(include_usage: bool) -> list[bytes]:
    """Each SSE event as one HTTP/1.1 chunk, written separately like a real upstream does."""
    events = [_chunk({"role": "assistant", "content": ""}, None)]
    events += [_chunk({"content": w}, None) for w in WORDS]
    events.append(_chunk({}, "stop"))  # 9 chunks so far
    if include_usage:
        last = _chunk({}, None)
        last["choices"] = []
        last["usage"] = _usage()
        events.append(last)
    datas = [b"data: " + _json(e) + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]
    return [format(len(d), "x").encode() + b"\r\n" + d + b"\r\n" for d in datas] + [b"0\r\n\r\n"]


def _native_frames(events: list[dict]) -> tuple[bytes, ...]:
    datas = [b"event: " + e["type"].encode() + b"\ndata: " + _json(e) + b"\n\n" for e in events]
    frames = [format(len(d), "x").encode() + b"\r\n" + d + b"\r\n" for d in datas]
    return (SSE_HEAD + frames[0], *frames[1:], b"0\r\n\r\n")


def _responses() -> tuple[bytes, tuple[bytes, ...]]:
    text = "".join(WORDS)
    part = {"type": "output_text", "text": text, "annotations": []}
    item = {"id": "msg_fake", "type": "message", "status": "completed", "role": "assistant",
            "content": [part]}
    final = {"id": "resp_fake", "object": "response", "created_at": 1700000000,
             "status": "completed", "model": MODEL, "output": [item],
             "usage": {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19}}
    start = {**final, "status": "in_progress", "output": [], "usage": None}
    where = {"item_id": "msg_fake", "output_index": 0, "content_index": 0}
    events = [{"type": "response.created", "response": start},
              {"type": "response.in_progress", "response": start},
              {"type": "response.output_item.added", "output_index": 0,
               "item": {**item, "status": "in_progress", "content": []}},
              {"type": "response.content_part.added", **where, "part": {**part, "text": ""}}]
    events += [{"type": "response.output_text.delta", **where, "delta": w} for w in WORDS]
    events += [{"type": "response.output_text.done", **where, "text": text},
               {"type": "response.content_part.done", **where, "part": part},
               {"type": "response.output_item.done", "output_index": 0, "item": item},
               {"type": "response.completed", "response": final}]
    events = [{**e, "sequence_number": i} for i, e in enumerate(events)]
    return _response("200 OK", b"application/json", _json(final)), _native_frames(events)


def _messages() -> tuple[bytes, tuple[bytes, ...]]:
    final = {"id": "msg_fake", "type": "message", "role": "assistant", "model": MODEL,
             "content": [{"type": "text", "text": "".join(WORDS)}], "stop_reason": "end_turn",
             "stop_sequence": None, "usage": {"input_tokens": 12, "output_tokens": 7}}
    events = [{"type": "message_start", "message": {**final, "content": [],
                                                    "stop_reason": None}},
              {"type": "ping"},
              {"type": "content_block_start", "index": 0,
               "content_block": {"type": "text", "text": ""}}]
    events += [{"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": w}} for w in WORDS]
    events += [{"type": "content_block_stop", "index": 0},
               {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 7}},
               {"type": "message_stop"}]
    return _response("200 OK", b"application/json", _json(final)), _native_frames(events)


SSE_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n")
COMPLETION = _response("200 OK", b"application/json", _completion())
MODELS = _response("200 OK", b"application/json", _json(
    {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 1700000000,
                                 "owned_by": "bench"}]}))
NOT_FOUND = _response("404 Not Found", b"application/json", _json(
    {"error": {"message": "not found", "type": "invalid_request_error", "param": None,
               "code": None}}))
OK = _response("200 OK", b"application/json", b"{}")
TRACES_OK = _response("200 OK", b"application/x-protobuf", b"")  # an empty export answer
NATIVE = {b"/responses": _responses(), b"/messages": _messages()}  # (JSON, SSE frames)


class State:
    def __init__(self, delay_ms: float) -> None:
        self.delay_s = delay_ms / 1000.0
        self.requests = 0
        self.started = time.monotonic()
        self.slow_chunks = 0  # long streams: content chunks per stream (0: off)
        self.slow_interval_s = 1.0
        self.open_streams = 0
        self.trace_exports = 0


class Upstream(asyncio.Protocol):
    def __init__(self, state: State, sse_plain: tuple[bytes, ...],
                 sse_usage: tuple[bytes, ...]) -> None:
        self.state = state
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.sse = {False: sse_plain, True: sse_usage}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            length = 0
            lower = head.lower()
            i = lower.find(b"content-length:")
            if i >= 0:
                j = lower.find(b"\r\n", i)
                length = int(lower[i + 15:j if j >= 0 else len(lower)])
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4:end + 4 + length]
            self.buf = self.buf[end + 4 + length:]
            self.handle(head[:head.find(b"\r\n")] if b"\r\n" in head else head, body)

    def handle(self, request_line: bytes, body: bytes) -> None:
        parts = request_line.split(b" ")
        method, target = parts[0], parts[1] if len(parts) > 1 else b"/"
        if method == b"POST" and target.endswith(b"/chat/completions"):
            self.state.requests += 1  # what was proxied: the runner's CPU/req denominator
            # Cheaper than a JSON parse and robust to both `"stream":true` and `"stream": true`.
            compact = body.replace(b" ", b"")
            if b'"stream":true' in compact and self.state.slow_chunks:
                self.slow(compact)
            elif b'"stream":true' in compact:
                frames = self.sse[b'"include_usage":true' in compact]
                self.later(frames)
            else:
                self.later(COMPLETION)
        elif method == b"POST" and target[target.rfind(b"/"):] in NATIVE:
            self.state.requests += 1
            answer, frames = NATIVE[target[target.rfind(b"/"):]]
            self.later(frames if b'"stream":true' in body.replace(b" ", b"") else answer)
        elif method == b"GET" and target.endswith(b"/models"):
            self.write(MODELS)
        elif method == b"POST" and target.startswith(b"/v1/traces"):
            self.state.trace_exports += 1
            self.write(TRACES_OK)
        elif method == b"POST" and target.startswith(b"/_bench/delay"):
            ms = float(target.split(b"ms=")[1]) if b"ms=" in target else 0.0
            self.state.delay_s = ms / 1000.0
            self.write(OK)
        elif method == b"POST" and target.startswith(b"/_bench/stream"):
            query = dict(p.split(b"=", 1) for p in target.partition(b"?")[2].split(b"&")
                         if b"=" in p)
            self.state.slow_chunks = int(query.get(b"chunks", b"0"))
            self.state.slow_interval_s = float(query.get(b"interval_ms", b"1000")) / 1000
            self.write(OK)
        elif method == b"GET" and target.startswith(b"/_bench/stats"):
            self.write(_response("200 OK", b"application/json", _json(
                {"requests": self.state.requests, "delay_ms": self.state.delay_s * 1000,
                 "open_streams": self.state.open_streams,
                 "trace_exports": self.state.trace_exports})))
        else:
            self.write(NOT_FOUND)

    def slow(self, compact: bytes) -> None:
        """A long stream: one content chunk per interval, each its own write."""
        chunks = self.state.slow_chunks
        i = compact.find(b'"max_tokens":')
        if i >= 0:
            digits = compact[i + 13:i + 23].split(b",")[0].split(b"}")[0]
            if digits.isdigit():
                chunks = min(chunks, int(digits))
        self.state.open_streams += 1
        self.write(SLOW_HEAD)
        self.next_chunk(chunks)

    def next_chunk(self, left: int) -> None:
        if self.transport is None or self.transport.is_closing():
            self.state.open_streams -= 1
            return
        if left <= 0:
            self.state.open_streams -= 1
            self.write(SLOW_TAIL)
            return
        asyncio.get_running_loop().call_later(self.state.slow_interval_s, self._chunk, left)

    def _chunk(self, left: int) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(SLOW_CHUNK)
        self.next_chunk(left - 1)

    def later(self, payload: bytes | tuple[bytes, ...]) -> None:
        if self.state.delay_s > 0:
            asyncio.get_running_loop().call_later(self.state.delay_s, self.write, payload)
        else:
            self.write(payload)

    def write(self, payload: bytes | tuple[bytes, ...]) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if isinstance(payload, bytes):
            self.transport.write(payload)
            return
        # One write (so, with TCP_NODELAY, usually one segment) per SSE event, as a real upstream
        # sends them; the proxy under test has to relay each one.
        for frame in payload:
            self.transport.write(frame)


def _stream_frames(frames: list[bytes]) -> tuple[bytes, ...]:
    return (SSE_HEAD + frames[0], *frames[1:])


_SLOW = _sse_frames(True)  # role, 7 words, finish, usage, [DONE], end
SLOW_HEAD = SSE_HEAD + _SLOW[0]
SLOW_CHUNK = _SLOW[1]
SLOW_TAIL = b"".join(_SLOW[-4:])


async def serve(host: str, port: int, delay_ms: float) -> None:
    loop = asyncio.get_running_loop()
    state = State(delay_ms)
    plain, usage = _stream_frames(_sse_frames(False)), _stream_frames(_sse_frames(True))
    server = await loop.create_server(lambda: Upstream(state, plain, usage), host, port,
                                      backlog=1024, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"fake upstream on http://{host}:{port}/v1 delay={delay_ms}ms pid={os.getpid()}",
          flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9001)
    p.add_argument("--delay-ms", type=float, default=0.0)
    args = p.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.host, args.port, args.delay_ms))


if __name__ == "__main__":
    main()
