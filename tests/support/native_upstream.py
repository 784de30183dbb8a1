"""A fake upstream that speaks OpenAI's Responses API and Anthropic's Messages API natively,
besides chat completions (FakeUpstream), over real HTTP on 127.0.0.1.

Its answers carry what only a native answer has: a reasoning item (Responses), a thinking
block with its signature (Messages), the upstream's own ids. A model's `Behavior` applies:
error_rate/status, delay_s, mode "invalid_json" (non-stream), "drop" (stream: the connection
closes after the opening events and two more), "opening_drop" (stream: it closes right after
the opening events, before anything of the answer), "error_event" (stream: an error event
after the opening events and two more), "no_end" (stream: [DONE] instead of the last event).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from typing import Any

import orjson
from aiohttp import web

from support.upstream import Behavior, FakeUpstream, Seen

Json = dict[str, Any]
USAGE = {"input_tokens": 11, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
         "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 2},
         "total_tokens": 18}
MESSAGE_USAGE = {"input_tokens": 11, "output_tokens": 7, "cache_read_input_tokens": 3,
                 "cache_creation_input_tokens": 0}


class NativeUpstream(FakeUpstream):
    _ids = itertools.count(1)

    def _routes(self, app: web.Application) -> None:
        super()._routes(app)
        app.router.add_post("/v1/responses", self._native)
        app.router.add_post("/v1/messages", self._native)
        app.router.add_post("/v1/messages/count_tokens", self._count)

    async def _count(self, request: web.Request) -> web.Response:
        """42 tokens, or a model's error."""
        body = orjson.loads(await request.read())
        self.requests.append(Seen(body.get("model", ""), {k.lower(): v for k, v in
                                                          request.headers.items()},
                                  body, request.path))
        behavior = self._behavior(body.get("model", ""))
        if behavior.error_rate:
            return web.json_response({"type": "error", "error": {
                "type": "api_error", "message": "fake failure"}}, status=behavior.status)
        return web.json_response({"input_tokens": 42})

    async def _native(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        model = body.get("model", "")
        self.requests.append(Seen(model, {k.lower(): v for k, v in request.headers.items()},
                                  body, request.path))
        behavior = self._behavior(model)
        if behavior.delay_s:
            await asyncio.sleep(behavior.delay_s)
        messages = request.path.endswith("/messages")
        if behavior.error_rate and self._rng.random() < behavior.error_rate:
            error = {"type": "error", "error": {"type": "api_error",
                                                "message": f"fake failure of {model}"}}
            return web.json_response(error, status=behavior.status)
        n = next(self._ids)
        answer = message(body, model, behavior, n) if messages else response(body, model,
                                                                             behavior, n)
        if not body.get("stream"):
            if behavior.mode == "invalid_json":
                return web.Response(text="{nope", content_type="application/json")
            return web.json_response(answer)
        events = message_events(answer) if messages else response_events(answer)
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        opening = 2  # response.created + in_progress; message_start + ping
        for i, event in enumerate(events):
            if behavior.mode == "opening_drop" and i == opening or \
                    behavior.mode == "drop" and i == opening + 2:
                assert request.transport is not None
                request.transport.abort()
                return resp
            if behavior.mode == "error_event" and i == opening + 2:
                error = {"type": "error", "error": {"type": "overloaded_error",
                                                    "message": "fake overload"}} if messages \
                    else {"type": "error", "code": "server_error", "message": "fake overload"}
                await asyncio.sleep(0.05)  # in a read of its own, after the first byte
                await resp.write(b"event: error\ndata: " + orjson.dumps(error) + b"\n\n")
                return resp
            if behavior.mode == "no_end" and i == len(events) - 1:
                await resp.write(b"data: [DONE]\n\n")  # as some proxies end streams
                break
            await resp.write(b"event: " + event["type"].encode() + b"\ndata: " +
                             orjson.dumps(event) + b"\n\n")
        await resp.write_eof()
        return resp


def _text(body: Json, behavior: Behavior) -> str:
    fmt = (body.get("text") or {}).get("format") or body.get("output_format") or {}
    return '{"answer": 42}' if fmt.get("type") in ("json_schema", "json_object") \
        else behavior.content


def response(body: Json, model: str, behavior: Behavior, n: int) -> Json:
    output: list[Json] = [{"id": f"rs_up{n}", "type": "reasoning", "summary": []}]
    tools = body.get("tools") or []
    functions = [t for t in tools if t.get("type") == "function"]
    if functions:
        output.append({"id": f"fc_up{n}", "type": "function_call", "status": "completed",
                       "call_id": f"call_up{n}", "name": functions[0]["name"],
                       "arguments": '{"city": "Paris"}'})
    else:
        output.append({"id": f"msg_up{n}", "type": "message", "status": "completed",
                       "role": "assistant", "content": [{
                           "type": "output_text", "text": _text(body, behavior),
                           "annotations": []}]})
    return {"id": f"resp_up{n}", "object": "response", "created_at": int(time.time()),
            "status": "completed", "model": model, "output": output, "usage": USAGE,
            "error": None, "incomplete_details": None, "instructions": body.get("instructions"),
            "metadata": {}, "parallel_tool_calls": True, "temperature": 1.0, "top_p": 1.0,
            "tool_choice": "auto", "tools": tools, "text": {"format": {"type": "text"}},
            "truncation": "disabled", "store": body.get("store", True)}


def response_events(final: Json) -> list[Json]:
    start = {**final, "status": "in_progress", "output": [], "usage": None}
    events: list[Json] = [{"type": "response.created", "response": start},
                          {"type": "response.in_progress", "response": start}]
    for index, item in enumerate(final["output"]):
        where = {"output_index": index, "item_id": item["id"]}
        if item["type"] == "message":
            text = item["content"][0]["text"]
            empty = {**item["content"][0], "text": ""}
            events += [{"type": "response.output_item.added", "output_index": index,
                        "item": {**item, "status": "in_progress", "content": []}},
                       {"type": "response.content_part.added", **where, "content_index": 0,
                        "part": empty}]
            events += [{"type": "response.output_text.delta", **where, "content_index": 0,
                        "delta": piece, "logprobs": []} for piece in _pieces(text)]
            events += [{"type": "response.output_text.done", **where, "content_index": 0,
                        "text": text, "logprobs": []},
                       {"type": "response.content_part.done", **where, "content_index": 0,
                        "part": item["content"][0]}]
        elif item["type"] == "function_call":
            events += [{"type": "response.output_item.added", "output_index": index,
                        "item": {**item, "status": "in_progress", "arguments": ""}},
                       {"type": "response.function_call_arguments.delta", **where,
                        "delta": item["arguments"]},
                       {"type": "response.function_call_arguments.done", **where,
                        "name": item["name"], "arguments": item["arguments"]}]
        else:
            events.append({"type": "response.output_item.added", "output_index": index,
                           "item": item})
        events.append({"type": "response.output_item.done", "output_index": index,
                       "item": item})
    events.append({"type": "response.completed", "response": final})
    return [{**event, "sequence_number": i} for i, event in enumerate(events)]


def _pieces(text: str) -> Iterator[str]:
    words = text.split(" ")
    for i, word in enumerate(words):
        yield word if i == len(words) - 1 else word + " "


def message(body: Json, model: str, behavior: Behavior, n: int) -> Json:
    content: list[Json] = [{"type": "thinking", "thinking": "Let me think.",
                            "signature": f"sig-up{n}"}]
    custom = [t for t in body.get("tools") or () if t.get("type", "custom") == "custom"]
    if custom:
        content.append({"type": "tool_use", "id": f"toolu_up{n}", "name": custom[0]["name"],
                        "input": {"city": "Paris"}})
    else:
        content.append({"type": "text", "text": _text(body, behavior)})
    return {"id": f"msg_up{n}", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": "tool_use" if custom else "end_turn",
            "stop_sequence": None, "usage": MESSAGE_USAGE}


def message_events(final: Json) -> list[Json]:
    start = {**final, "content": [], "stop_reason": None,
             "usage": {**MESSAGE_USAGE, "output_tokens": 1}}
    events: list[Json] = [{"type": "message_start", "message": start}, {"type": "ping"}]
    for index, block in enumerate(final["content"]):
        if block["type"] == "thinking":
            events += [{"type": "content_block_start", "index": index,
                        "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
                       {"type": "content_block_delta", "index": index, "delta": {
                           "type": "thinking_delta", "thinking": block["thinking"]}},
                       {"type": "content_block_delta", "index": index, "delta": {
                           "type": "signature_delta", "signature": block["signature"]}}]
        elif block["type"] == "text":
            events.append({"type": "content_block_start", "index": index,
                           "content_block": {"type": "text", "text": ""}})
            events += [{"type": "content_block_delta", "index": index,
                        "delta": {"type": "text_delta", "text": piece}}
                       for piece in _pieces(block["text"])]
        else:
            events += [{"type": "content_block_start", "index": index,
                        "content_block": {**block, "input": {}}},
                       {"type": "content_block_delta", "index": index, "delta": {
                           "type": "input_json_delta",
                           "partial_json": orjson.dumps(block["input"]).decode()}}]
        events.append({"type": "content_block_stop", "index": index})
    events += [{"type": "message_delta",
                "delta": {"stop_reason": final["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": MESSAGE_USAGE["output_tokens"],
                          "input_tokens": None}},
               {"type": "message_stop"}]
    return events
