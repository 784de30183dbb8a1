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

from gateway.translate.responses_request import CHAT_ONLY


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
        "messages": {"type": "array", "minItems": 1, "items": _ref("ChatMessage")},
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

# The request schemas describe what the gateway takes for sure (schemathesis holds it to
# accepting every body they allow); the translation takes more (items, parts, tool kinds).
_INPUT_MESSAGE = {"type": "object", "required": ["role", "content"], "properties": {
    "role": {"type": "string", "enum": ["user", "assistant", "system", "developer"]},
    "content": {"type": "string"}}}

_RESPONSES_REQUEST = {
    "type": "object",
    "required": ["model", "input"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "input": {"oneOf": [{"type": "string"},
                            {"type": "array", "minItems": 1, "items": _INPUT_MESSAGE}]},
        "instructions": {"type": "string", "nullable": True},
        "store": {"type": "boolean", "nullable": True},
        "stream": {"type": "boolean", "nullable": True},
        "tools": {"type": "array", "items": {
            "type": "object", "required": ["type", "name"],
            "properties": {"type": {"type": "string", "enum": ["function"]},
                           "name": {"type": "string"}, "parameters": {"type": "object"}}}},
        "tool_choice": {"type": "string", "enum": ["auto", "none", "required"]},
        "text": {"type": "object", "properties": {"format": {
            "type": "object", "required": ["type"],
            "properties": {"type": {"type": "string", "enum": ["text", "json_object"]}}}}},
        "max_output_tokens": {"type": "integer", "minimum": 1, "maximum": 2 ** 62},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "metadata": {"type": "object"},
        # chat completions parameters, refused with a 400 that names the Responses one
        **{key: {"not": {}} for key in sorted(CHAT_ONLY)},
    },
    "additionalProperties": True,
}

_RESPONSE = {
    "type": "object",
    "required": ["id", "object", "created_at", "model", "output", "status"],
    "properties": {"id": {"type": "string"}, "object": {"type": "string", "enum": ["response"]},
                   "created_at": {"type": "integer"}, "model": {"type": "string"},
                   "output": {"type": "array", "items": {"type": "object"}},
                   "status": {"type": "string"}, "usage": {"type": "object", "nullable": True}},
}

_TEXT_BLOCK = {"type": "object", "required": ["type", "text"], "properties": {
    "type": {"type": "string", "enum": ["text"]}, "text": {"type": "string"}}}
_ANTHROPIC_MESSAGES = {"type": "array", "minItems": 1, "items": {
    "type": "object", "required": ["role", "content"], "properties": {
        "role": {"type": "string", "enum": ["user", "assistant"]},
        "content": {"oneOf": [{"type": "string"},
                              {"type": "array", "items": _TEXT_BLOCK}]}}}}

_MESSAGES_REQUEST = {
    "type": "object",
    "required": ["model", "max_tokens", "messages"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        # orjson reads integers past 64 bits as floats: those are refused as not integers.
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 2 ** 62},
        "messages": _ANTHROPIC_MESSAGES,
        "system": {"oneOf": [{"type": "string"}, {"type": "array", "items": _TEXT_BLOCK}]},
        "stream": {"type": "boolean"},
        "tools": {"type": "array", "items": {
            "type": "object", "required": ["name", "input_schema"],
            "properties": {"name": {"type": "string"}, "input_schema": {"type": "object"}}}},
        "tool_choice": {"type": "object", "required": ["type"], "properties": {
            "type": {"type": "string", "enum": ["auto", "any", "none"]}}},
        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "additionalProperties": True,
}

_ANTHROPIC_ERROR = _json(_ref("AnthropicError"), "An error in Anthropic's format.")
_MESSAGES_ERRORS = {code: _ANTHROPIC_ERROR for code in ("400", "401", "404", "413", "429",
                                                        "502", "504")}
_RESPONSE_ID = [{"name": "response_id", "in": "path", "required": True,
                 "schema": {"type": "string"}}]


def _post(operation: str, request: str, answer: str, errors: dict[str, Any]) -> dict[str, Any]:
    return {"post": {
        "operationId": operation, "security": [{"bearer": []}],
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": _ref(request)}}},
        "responses": {"200": {"description": "The answer: JSON, or server-sent events when "
                                             "stream is true.",
                              "content": {"application/json": {"schema": _ref(answer)},
                                          "text/event-stream": {"schema": {"type": "string"}}}},
                      **errors}}}


_DOOR_ERRORS = {code: _ERROR for code in ("400", "401", "404", "413", "429", "502", "504")}

_DOORS = {
    "/v1/responses": _post("createResponse", "ResponsesRequest", "Response", _DOOR_ERRORS),
    "/v1/responses/{response_id}": {
        "get": {"operationId": "getResponse", "security": [{"bearer": []}],
                "parameters": _RESPONSE_ID,
                "responses": {"200": _json(_ref("Response"), "A stored response."),
                              "404": _ERROR, **_UNAUTHORIZED}},
        "delete": {"operationId": "deleteResponse", "security": [{"bearer": []}],
                   "parameters": _RESPONSE_ID,
                   "responses": {"200": _json({"type": "object", "required": ["id", "deleted"],
                                               "properties": {"id": {"type": "string"},
                                                              "deleted": {"type": "boolean"}}},
                                              "Deleted."), "404": _ERROR, **_UNAUTHORIZED}}},
    "/v1/responses/{response_id}/input_items": {"get": {
        "operationId": "listInputItems", "security": [{"bearer": []}],
        "parameters": _RESPONSE_ID,
        "responses": {"200": _json({"type": "object", "required": ["object", "data"]},
                                   "The response's input items."),
                      "400": _ERROR, "404": _ERROR, **_UNAUTHORIZED}}},
    "/v1/messages": _post("createMessage", "MessagesRequest", "AnthropicMessage",
                           _MESSAGES_ERRORS),
    "/v1/messages/count_tokens": {"post": {
        "operationId": "countTokens", "security": [{"bearer": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["model", "messages"],
            "properties": {"model": {"type": "string", "minLength": 1},
                           "messages": _ANTHROPIC_MESSAGES}}}}},
        "responses": {"200": _json({"type": "object", "required": ["input_tokens"],
                                    "properties": {"input_tokens": {"type": "integer"}}},
                                   "An estimate."), "400": _ANTHROPIC_ERROR,
                      "401": _ANTHROPIC_ERROR, "413": _ANTHROPIC_ERROR}}},
    "/v1/embeddings": _post("createEmbedding", "EmbeddingsRequest", "EmbeddingList",
                            _DOOR_ERRORS),
    "/v1/feedback": {"post": {
        "operationId": "createFeedback", "security": [{"bearer": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["decision_id"],
            "properties": {
                "decision_id": {"type": "string", "minLength": 1},
                "score": {"oneOf": [{"type": "number", "minimum": 0, "maximum": 1},
                                    {"type": "string", "enum": ["up", "down"]}]},
                "thumbs": {"oneOf": [{"type": "string", "enum": ["up", "down"]},
                                     {"type": "boolean"}]},
                "valid": {"type": "boolean"},
                "latency_ms": {"type": "number", "minimum": 0},
                "retried": {"oneOf": [{"type": "boolean"}, {"type": "integer", "minimum": 0}]},
                "model": {"type": "string"}}}}}},
        "responses": {"200": _json({"type": "object", "required": ["object", "model", "score"],
                                    "properties": {"object": {"type": "string"},
                                                   "model": {"type": "string"},
                                                   "score": {"type": "number"}}},
                                   "The feedback was applied."),
                      **{code: _ERROR for code in ("400", "401", "403", "404", "409", "410",
                                                   "413")}}}},
    "/v1/route": {"post": {
        "operationId": "createRouteDecision", "security": [{"bearer": []}],
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": _ref("ChatRequest")}}},
        "responses": {"200": _json({"type": "object", "required": [
            "object", "decision_id", "route", "model", "fallbacks"], "properties": {
                "object": {"type": "string"}, "decision_id": {"type": "string"},
                "route": {"type": "string"}, "class": {"type": "string", "nullable": True},
                "model": {"type": "string"}, "upstream_name": {"type": "string"},
                "fallbacks": {"type": "array", "items": {"type": "object"}},
                "expected_cost_usd": {"type": "number"}}},
            "The route's decision; no upstream was called."),
            **{code: _ERROR for code in ("400", "401", "404", "413")}}}},
    "/v1/models/{model_id}": {"get": {
        "operationId": "retrieveModel", "security": [{"bearer": []}],
        "parameters": [{"name": "model_id", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {"200": _json(_ref("Model"), "A route or a model."), "404": _ERROR,
                      **_UNAUTHORIZED}}},
}

_MODEL = {"type": "object", "required": ["id", "object", "owned_by"],
          "properties": {"id": {"type": "string"}, "object": {"type": "string"},
                         "created": {"type": "integer"}, "owned_by": {"type": "string"}}}

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
        **_DOORS,
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "One of server.api_keys (for /stats: "
                                                      "server.admin_keys)."}},
        "schemas": {
            "ChatMessage": _MESSAGE,
            "ChatRequest": _CHAT_REQUEST,
            "ChatCompletion": _COMPLETION,
            "ModelList": {"type": "object", "required": ["object", "data"], "properties": {
                "object": {"type": "string", "enum": ["list"]},
                "data": {"type": "array", "items": _ref("Model")}}},
            "Model": _MODEL,
            "ResponsesRequest": _RESPONSES_REQUEST,
            "EmbeddingsRequest": {"type": "object", "required": ["model", "input"],
                                  "properties": {"model": {"type": "string", "minLength": 1},
                                                 "input": {"oneOf": [
                                                     {"type": "string"},
                                                     {"type": "array", "minItems": 1,
                                                      "items": {"type": "string"}}]}},
                                  "additionalProperties": True},
            "EmbeddingList": {"type": "object", "required": ["object", "data", "model"],
                              "properties": {"data": {"type": "array"},
                                             "model": {"type": "string"}}},
            "Response": _RESPONSE,
            "MessagesRequest": _MESSAGES_REQUEST,
            "AnthropicMessage": {"type": "object", "required": ["id", "type", "role", "content",
                                                                "model"],
                                 "properties": {"type": {"type": "string", "enum": ["message"]},
                                                "content": {"type": "array"}}},
            "AnthropicError": {"type": "object", "required": ["type", "error"], "properties": {
                "type": {"type": "string", "enum": ["error"]},
                "error": {"type": "object", "required": ["type", "message"],
                          "properties": {"type": {"type": "string"},
                                         "message": {"type": "string"}}}}},
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
