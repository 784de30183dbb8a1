"""POST /v1/responses and the stored responses: the OpenAI Responses API front door.

A request is translated to chat (gateway/translate/responses_request.py) and answered as a
`response` (translate/responses_answer.py, translate/responses_events.py). With `store` (the
default, as OpenAI's) the response, and the conversation that led to it, is kept in the store's
documents for `store.documents_ttl_s` before its last byte is sent, so `previous_response_id`
continues the chain on any replica at once. A chain stays on the model that answered its
previous turn while that model can serve (the router's `stay_on`). A stored response belongs to
the key that made it: another key's id reads as unknown.

A candidate whose provider lists `responses` in `native` gets the request as it came (with a
stored chain expanded into `input`, translate/native.py), and its response, kept under the
upstream's own id, goes back as it is.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import GatewayError, bad_request
from gateway.http.asgi import Receive, Scope, Send
from gateway.http.chat import json_object
from gateway.http.door import Opened, serve
from gateway.http.native import native_candidates
from gateway.http.views import json_response
from gateway.runtime.state import Generation
from gateway.translate import responses_answer as answers
from gateway.translate import responses_request as requests
from gateway.translate.native import ResponsesStream, responses_body, responses_view
from gateway.translate.responses_events import ResponsesEvents

Json = dict[str, Any]


class ResponsesDialect:
    door = "responses"
    embeddings = False
    native: str | None = "responses"
    native_headers: dict[str, str] = {}

    def __init__(self, gateway: Generation, request: Json, *, caller: str,
                 conversation: list[Json], own: list[Json], chain: list[str],
                 expanded: bool) -> None:
        self._gateway = gateway
        self._request = request
        self._caller = caller
        self._own = own  # this request's input items
        self._chain = chain  # the ids of the chain's earlier responses, oldest first
        self.id = answers.new_id("resp")
        self.keeps = request.get("store") is not False
        self.response: Json | None = None
        self._events: ResponsesEvents | ResponsesStream | None = None
        self._namespaces = requests.namespaces(request)
        self._conversation = conversation
        self._expanded = expanded

    @functools.cached_property
    def native_body(self) -> Json:
        """The request for an upstream that speaks the Responses API, built only when one is
        tried (a chain's expansion copies every item)."""
        return responses_body(self._request, self._conversation, expanded=self._expanded)

    def _skeleton(self, model: str) -> Json:
        return answers.skeleton(self._request, response_id=self.id, model=model,
                                store=self.keeps)

    def answer(self, data: Json) -> bytes:
        self.response = answers.answer(self._skeleton(data["model"]), data, self._namespaces)
        return orjson.dumps(self.response)

    def events(self, model: str) -> ResponsesEvents:
        self._events = ResponsesEvents(self._skeleton(model), self._namespaces)
        return self._events

    def native_answer(self, data: Json, model: str) -> tuple[Json, bytes]:
        data["model"] = model
        data["previous_response_id"] = self._request.get("previous_response_id")
        self.response = data  # kept under the upstream's id
        return responses_view(data), orjson.dumps(data)

    def native_events(self, model: str) -> ResponsesStream:
        self._events = ResponsesStream(
            model, previous_response_id=self._request.get("previous_response_id"))
        return self._events

    async def keep(self) -> None:
        response = self.response if self._events is None else self._events.response
        if response is None or not isinstance(response.get("id"), str) or not isinstance(
                response.get("output"), list):
            return
        document = {"owner": self._caller, "response": response, "own": self._own,
                    "chain": self._chain}
        documents = self._gateway.store.documents
        ttl_s = self._gateway.config.store.documents_ttl_s
        # Each output item apart too, for clients that refer back to one by id (the Vercel
        # AI SDK sends `item_reference`s to earlier assistant output). One after the other:
        # asyncio.gather's tasks cost 50 us here, more than the writes to the memory store.
        await documents.put(response["id"], orjson.dumps(document), ttl_s=ttl_s,
                            touch=self._chain)
        for item in response["output"]:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            await documents.put(f"item:{item['id']}", orjson.dumps(
                {"owner": self._caller, "response": None, "item": item}), ttl_s=ttl_s)


class ResponsesDoor:
    name = "responses"

    def caller(self, gateway: Generation, scope: Scope) -> str:
        return gateway.auth.check(scope)

    async def open(self, gateway: Generation, body: bytes, caller: str,
                   scope: Scope) -> Opened:
        request = json_object(body)
        requests.check_fields(request)
        if "input" not in request:
            raise bad_request("'input' is required.", param="input")
        given = requests.input_items(request["input"])
        items = [_with_id(await _referred(gateway, item, caller) if
                          item.get("type") == "item_reference" else item) for item in given]
        earlier: list[Json] = []
        chain: list[str] = []
        stay_on = None
        previous = request.get("previous_response_id")
        if previous is not None:
            chain, earlier, stay_on = await conversation_of(gateway, previous, caller)
        conversation = [*earlier, *items]
        skipped: list[GatewayError] = []  # what chat cannot take: for native upstreams only
        chat = requests.chat_request(request, conversation, skipped)
        dialect = ResponsesDialect(
            gateway, request, caller=caller, conversation=conversation, own=items, chain=chain,
            expanded=bool(earlier) or any(i.get("type") == "item_reference" for i in given))
        only = native_candidates(gateway, request["model"], "responses", skipped) \
            if skipped else None
        return Opened(chat, dialect, stay_on, only)

    def error_body(self, error: GatewayError) -> bytes:
        return error.body()


RESPONSES = ResponsesDoor()


async def create(scope: Scope, receive: Receive, send: Send) -> None:
    await serve(RESPONSES, scope, receive, send)


async def conversation_of(gateway: Generation, previous: object,
                          caller: str) -> tuple[list[str], list[Json], str]:
    """For a request continuing `previous`: the chain's response ids (oldest first, ending
    with `previous`), the conversation so far (each turn's input and output), and the model
    that answered the last turn."""
    if not isinstance(previous, str):
        raise bad_request("'previous_response_id' must be a string.",
                          param="previous_response_id")
    last = await _stored(gateway, previous, caller)
    if last is None:
        raise GatewayError(400, f"Previous response with id {previous!r} not found (unknown, "
                           "expired, deleted, or not stored).", param="previous_response_id",
                           code="previous_response_not_found")
    ancestors = [a for a in last.get("chain") or () if isinstance(a, str)]
    found = await gateway.store.documents.get_many(ancestors)
    documents = [_owned(raw, caller) for raw in found]
    if any(d is None or not d.get("response") for d in documents):
        raise GatewayError(400, f"Previous response with id {previous!r} continues a chain "
                           "whose earlier responses are gone (expired, deleted, or not "
                           "stored).", param="previous_response_id",
                           code="previous_response_not_found")
    conversation: list[Json] = []
    for document in (*documents, last):
        assert document is not None
        if "items" in document:  # written by an earlier version: the whole conversation
            conversation = list(document["items"])
        else:
            conversation += document["own"]
        conversation += document["response"]["output"]
    return [*ancestors, previous], conversation, last["response"]["model"]


def _with_id(item: Json) -> Json:
    """An input item as GET /v1/responses/{id}/input_items lists it: with an id, and a
    message's text as `input_text` parts (the shape OpenAI lists)."""
    kind = item.get("type", "message")
    if not isinstance(kind, str):
        return item  # the translation refuses it, naming the item
    if kind == "message" and isinstance(item.get("content"), str):
        item = {**item, "content": [{"type": "input_text", "text": item["content"]}]}
    if "id" in item:
        return item
    prefix = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}.get(
        kind, "item")
    return {"id": answers.new_id(prefix), "type": kind, **item}


async def _referred(gateway: Generation, reference: Json, caller: str) -> Json:
    """The stored item an `item_reference` names."""
    document = await _document(gateway, f"item:{reference.get('id')}", caller)
    if document is None or not isinstance(document.get("item"), dict):
        raise GatewayError(400, f"Item with id {reference.get('id')!r} not found (unknown, "
                           "expired, or not stored).", param="input", code="item_not_found")
    item: Json = document["item"]
    return item


async def _document(gateway: Generation, key: str, caller: str) -> Json | None:
    return _owned(await gateway.store.documents.get(key), caller)


def _owned(raw: bytes | None, caller: str) -> Json | None:
    if raw is None:
        return None
    document: Json = orjson.loads(raw)
    return document if document.get("owner") == caller else None


async def _stored(gateway: Generation, response_id: object, caller: str) -> Json | None:
    """A stored response's document, if `caller` made it."""
    if not isinstance(response_id, str) or not response_id.startswith("resp_"):
        return None
    document = await _document(gateway, response_id, caller)
    return document if document is not None and document.get("response") else None


def _not_found(response_id: str) -> GatewayError:
    return GatewayError(404, f"Response with id {response_id!r} not found.",
                        code="not_found", param="response_id")


async def _requested(request: Request) -> tuple[Generation, str, Json]:
    """The gateway, the response id in the path, and its document (a 404 if the caller has
    none by that id)."""
    gateway: Generation = request.state.gateway
    caller = gateway.auth.check(request.scope)
    response_id = request.path_params["response_id"]
    document = await _stored(gateway, response_id, caller)
    if document is None:
        raise _not_found(response_id)
    return gateway, response_id, document


async def retrieve(request: Request) -> Response:
    _, _, document = await _requested(request)
    return json_response(document["response"])


async def delete(request: Request) -> Response:
    gateway, response_id, _ = await _requested(request)
    await gateway.store.documents.delete(response_id)
    return json_response({"id": response_id, "object": "response", "deleted": True})


async def input_items(request: Request) -> Response:
    _, _, document = await _requested(request)
    items = document["own"] if "own" in document else \
        document["items"][len(document["items"]) - document["own_items"]:]
    query = request.query_params
    if query.get("order", "desc") == "desc":
        items = items[::-1]
    after = query.get("after")
    if after:
        ids = [item.get("id") for item in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    try:
        limit = min(100, max(1, int(query.get("limit", "20"))))
    except ValueError:
        raise bad_request("'limit' must be an integer from 1 to 100.", param="limit") from None
    page = items[:limit]
    return json_response({"object": "list", "data": page,
                          "first_id": page[0]["id"] if page else None,
                          "last_id": page[-1]["id"] if page else None,
                          "has_more": len(items) > limit})
