"""`GET /openapi.json`: a hand-written OpenAPI 3.0 description of the gateway's own endpoints.

It describes what clients may send and what they get back (OpenAI's shapes where the endpoint
is OpenAI's), so that schemathesis can test the gateway against it. Written by hand rather
than generated: the chat endpoint is raw ASGI, and the request schema is deliberately open
(unknown fields are passed on to the upstream).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = _json(_ref("Error"), "An error in OpenAI's format.")
_UNAUTHORIZED = {"401": _json(_ref("Error"), "Missing or wrong gateway key.")}

_MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant",
                                            "tool"]},
        "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}],
                    "nullable": True},
        "name": {"type": "string"},
        "tool_call_id": {"type": "string"},
        "tool_calls": {"type": "array", "items": {"type": "object"}},
    },
}

_CHAT_REQUEST = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "minLength": 1,
                  "description": "A route (e.g. auto) or a configured model."},
        "messages": {"type": "array", "minItems": 1, "items": _ref("Message")},
        "stream": {"type": "boolean", "nullable": True},
        "stream_options": {"type": "object", "nullable": True,
                           "properties": {"include_usage": {"type": "boolean"}}},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "max_tokens": {"type": "integer", "minimum": 1},
        "max_completion_tokens": {"type": "integer", "minimum": 1},
        "n": {"type": "integer", "minimum": 1, "maximum": 1},
        "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "tools": {"type": "array", "items": {"type": "object"}},
        "tool_choice": {"oneOf": [{"type": "string"}, {"type": "object"}]},
        "response_format": {"type": "object"},
        "seed": {"type": "integer"},
        "user": {"type": "string"},
    },
    # Unknown fields are passed on (except the few that could redirect the call).
    "additionalProperties": True,
}

_COMPLETION = {
    "type": "object",
    "required": ["id", "object", "created", "model", "choices"],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string"},
        "created": {"type": "integer"},
        "model": {"type": "string", "description": "The configured model that answered."},
        "choices": {"type": "array", "minItems": 1, "items": {"type": "object"}},
        "usage": {"type": "object"},
    },
}

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "bayesgate", "version": "0.1.0",
             "description": "An OpenAI-compatible gateway that picks the upstream model per "
                            "request by Thompson sampling."},
    "paths": {
        "/v1/chat/completions": {"post": {
            "operationId": "createChatCompletion",
            "security": [{"bearer": []}],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": _ref("ChatRequest")}}},
            "responses": {
                "200": {"description": "The answer: JSON, or server-sent events when stream "
                                       "is true.",
                        "content": {"application/json": {"schema": _ref("ChatCompletion")},
                                    "text/event-stream": {"schema": {"type": "string"}}}},
                "400": _ERROR, **_UNAUTHORIZED,
                "404": _json(_ref("Error"), "Neither a route nor a configured model."),
                "413": _json(_ref("Error"), "The body is larger than server.max_body_bytes."),
                "429": _json(_ref("Error"), "Every candidate is rate limited."),
                "502": _json(_ref("Error"), "Every candidate failed."),
                "504": _json(_ref("Error"), "The last candidate timed out."),
            },
        }},
        "/v1/models": {"get": {
            "operationId": "listModels",
            "security": [{"bearer": []}],
            "responses": {"200": _json(_ref("ModelList"), "Routes and models."),
                          **_UNAUTHORIZED},
        }},
        "/healthz": {"get": {
            "operationId": "healthz", "security": [],
            "responses": {"200": _json({"type": "object", "required": ["status"],
                                        "properties": {"status": {"type": "string"}}},
                                       "The process is up.")},
        }},
        "/readyz": {"get": {
            "operationId": "readyz", "security": [],
            "responses": {"200": _json({"type": "object", "required": ["status", "store"],
                                        "properties": {
                                            "status": {"type": "string",
                                                       "enum": ["ready", "degraded"]},
                                            "store": {"type": "object"}}},
                                       "Ready, or degraded (routing on the local snapshot).")},
        }},
        "/stats": {"get": {
            "operationId": "stats",
            "security": [{"bearer": []}],
            "responses": {"200": _json({"type": "object", "required": ["routes", "store"],
                                        "properties": {"routes": {"type": "object"},
                                                       "store": {"type": "object"}}},
                                       "Per route and model: posterior, counts, circuit."),
                          **_UNAUTHORIZED},
        }},
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "One of server.api_keys (for /stats: "
                                                      "server.admin_keys)."}},
        "schemas": {
            "Message": _MESSAGE,
            "ChatRequest": _CHAT_REQUEST,
            "ChatCompletion": _COMPLETION,
            "ModelList": {"type": "object", "required": ["object", "data"], "properties": {
                "object": {"type": "string", "enum": ["list"]},
                "data": {"type": "array", "items": {
                    "type": "object", "required": ["id", "object", "owned_by"],
                    "properties": {"id": {"type": "string"}, "object": {"type": "string"},
                                   "created": {"type": "integer"},
                                   "owned_by": {"type": "string"}}}}}},
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["message", "type", "param", "code"],
                "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                               "param": {"type": "string", "nullable": True},
                               "code": {"type": "string", "nullable": True}}}}},
        },
    },
}

_BODY = orjson.dumps(SPEC)


async def openapi(request: Request) -> Response:
    return Response(_BODY, media_type="application/json")
