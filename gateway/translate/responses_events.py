"""A chat stream as the Responses API's typed server-sent events.

    response.created, response.in_progress                       before the first item
    response.output_item.added (message), response.content_part.added,
      response.output_text.delta ..., response.output_text.done,
      response.content_part.done, response.output_item.done      a message
    response.output_item.added (function_call),
      response.function_call_arguments.delta ..., .done,
      response.output_item.done                                  each tool call
    response.completed | response.incomplete | response.failed   the end

Items are closed in order: a message when the first tool call starts, a tool call when the
next one starts, whatever is open when the stream ends.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.translate import responses_answer as out

Json = dict[str, Any]
# The head of every text delta event up to its sequence number: deltas are most of a stream's
# events, and a byte template costs a fifth of building and dumping each event's dict.
_TEXT_DELTA = (b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
               b'"sequence_number":')


class ResponsesEvents:
    """One stream's events; `response` is the final response once `end()` ran."""

    def __init__(self, response: Json, namespaces: dict[str, str] | None = None) -> None:
        self.response = response
        self._namespaces = namespaces
        self._seq = 0
        self._started = False
        self._items: list[Json] = []
        self._open: Json | None = None  # the item receiving deltas
        self._part: Json | None = None  # the open message's content part
        self._where_bytes = b""  # the open part's item_id, indexes and "delta": key, as JSON
        self._calls: dict[int, Json] = {}  # chat tool-call index -> its item
        self._finish: object = None
        self._usage: object = None

    def _event(self, kind: str, fields: Json, frames: list[bytes]) -> None:
        frames.append(out.sse({"type": kind, "sequence_number": self._seq, **fields}))
        self._seq += 1

    def _with_response(self, kind: str, response: bytes, frames: list[bytes]) -> None:
        """An event whose one field is the response, already dumped."""
        frames.append(b"event: " + kind.encode() + b'\ndata: {"type":"' + kind.encode() +
                      b'","sequence_number":' + str(self._seq).encode() + b',"response":' +
                      response + b"}\n\n")
        self._seq += 1

    def chunk(self, chunk: Json) -> bytes:
        frames: list[bytes] = []
        if not self._started:
            self._started = True
            response = orjson.dumps(self.response)
            self._with_response("response.created", response, frames)
            self._with_response("response.in_progress", response, frames)
        usage = chunk.get("usage")
        if usage:
            self._usage = usage
        choices = chunk.get("choices")
        if not choices:
            return b"".join(frames)
        choice = choices[0]
        if choice.get("index", 0) != 0:
            choice = next((c for c in choices if c.get("index", 0) == 0), {})
        delta = choice.get("delta")
        if delta:
            text = delta.get("content")
            if text and isinstance(text, str):
                if self._part is not None and self._part["type"] == "output_text":
                    self._part["text"] += text
                    self._delta(text, frames)  # the common case, a byte template
                else:
                    self._text("output_text", text, frames)
            refusal = delta.get("refusal")
            if refusal and isinstance(refusal, str):
                self._text("refusal", refusal, frames)
            for call in delta.get("tool_calls") or ():
                self._call(call, frames)
        if choice.get("finish_reason"):
            self._finish = choice["finish_reason"]
        return b"".join(frames)

    def _delta(self, piece: str, frames: list[bytes]) -> None:
        frames.append(_TEXT_DELTA + str(self._seq).encode() + self._where_bytes +
                      orjson.dumps(piece) + b',"logprobs":[]}\n\n')
        self._seq += 1

    def _text(self, kind: str, piece: str, frames: list[bytes]) -> None:
        item = self._open
        if item is None or item["type"] != "message":
            self._close(frames)
            item = self._add(out.message_item([], status="in_progress"), frames)
        part = self._part
        if part is None or part["type"] != kind:
            self._close_part(frames)
            part = out.text_part("") if kind == "output_text" else {"type": "refusal",
                                                                    "refusal": ""}
            self._part = part
            item["content"].append(part)
            where = self._where()
            self._where_bytes = orjson.dumps(where)[:-1].replace(b"{", b",", 1) + b',"delta":'
            self._event("response.content_part.added", {**where, "part": part}, frames)
        if kind == "output_text":
            part["text"] += piece
            self._delta(piece, frames)
        else:
            part["refusal"] += piece
            self._event("response.refusal.delta", {**self._where(), "delta": piece}, frames)

    def _call(self, call: Json, frames: list[bytes]) -> None:
        index = call.get("index", 0)
        function = call.get("function") or {}
        item = self._calls.get(index)
        if item is None:
            self._close(frames)
            item = out.call_item(str(call.get("id") or out.new_id("call")),
                                 str(function.get("name") or ""), "", status="in_progress",
                                 namespaces=self._namespaces)
            self._calls[index] = self._add(item, frames)
        elif function.get("name") and not item["name"]:
            item["name"] = function["name"]
        piece = function.get("arguments")
        if isinstance(piece, str) and piece:
            item["arguments"] += piece
            if item is self._open:
                self._event("response.function_call_arguments.delta",
                            {"item_id": item["id"], "output_index": self._index(item),
                             "delta": piece}, frames)

    def _add(self, item: Json, frames: list[bytes]) -> Json:
        self._items.append(item)
        self._open = item
        self._event("response.output_item.added",
                    {"output_index": len(self._items) - 1, "item": item}, frames)
        return item

    def _index(self, item: Json) -> int:
        return next(i for i, it in enumerate(self._items) if it is item)

    def _where(self) -> Json:
        assert self._open is not None
        return {"item_id": self._open["id"], "output_index": len(self._items) - 1,
                "content_index": len(self._open["content"]) - 1}

    def _close_part(self, frames: list[bytes]) -> None:
        part = self._part
        if part is None:
            return
        where = self._where()
        if part["type"] == "output_text":
            self._event("response.output_text.done",
                        {**where, "text": part["text"], "logprobs": []}, frames)
        else:
            self._event("response.refusal.done", {**where, "refusal": part["refusal"]}, frames)
        self._event("response.content_part.done", {**where, "part": part}, frames)
        self._part = None

    def _close(self, frames: list[bytes]) -> None:
        item = self._open
        if item is None:
            return
        if item["type"] == "message":
            self._close_part(frames)
        else:
            self._event("response.function_call_arguments.done",
                        {"item_id": item["id"], "output_index": self._index(item),
                         "name": item["name"], "arguments": item["arguments"]}, frames)
        item["status"] = "completed"
        self._event("response.output_item.done",
                    {"output_index": self._index(item), "item": item}, frames)
        self._open = None

    def end(self) -> bytes:
        frames: list[bytes] = []
        self._close(frames)
        self.response["output"] = self._items
        out.finish(self.response, self._finish, self._usage)
        kind = "response.completed" if self.response["status"] == "completed" else \
            "response.incomplete"
        self._event(kind, {"response": self.response}, frames)
        return b"".join(frames)

    def failed(self, error: GatewayError) -> bytes:
        frames: list[bytes] = []
        for item in self._items:
            if item["status"] == "in_progress":
                item["status"] = "incomplete"
        self.response["output"] = self._items
        self._event("response.failed", {"response": out.failed(self.response, error)}, frames)
        return b"".join(frames)
