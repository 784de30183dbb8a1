"""Errors the gateway answers with, in OpenAI's shape: {"error": {message, type, param, code}}."""

from __future__ import annotations

import orjson


class GatewayError(Exception):
    """An error answered to the client; `message` must already be free of secrets."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> bytes:
        """The JSON body, the one place OpenAI's error envelope is written."""
        return orjson.dumps({"error": {"message": self.message, "type": self.type,
                                       "param": self.param, "code": self.code}})


def bad_request(message: str, *, param: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param)


def model_not_found(model: object) -> GatewayError:
    return GatewayError(404, f"The model {model!r} does not exist: it is neither a route nor a "
                        "configured model of this gateway (see GET /v1/models).",
                        code="model_not_found", param="model")


def unauthorized(message: str = "Missing or invalid API key: send 'Authorization: Bearer "
                 "<key>' with one of this gateway's keys.") -> GatewayError:
    return GatewayError(401, message, type="authentication_error", code="invalid_api_key")


def too_large(limit: int) -> GatewayError:
    return GatewayError(413, f"Request body is larger than this gateway accepts ({limit} bytes).",
                        code="request_too_large")


def upstream_failed(status: int, message: str) -> GatewayError:
    return GatewayError(status, message, type="upstream_error", code="upstream_failed")


def stream_failed(message: str) -> GatewayError:
    """The error event that ends a stream whose upstream broke after the first byte."""
    return GatewayError(502, message, type="upstream_error", code="upstream_stream_failed")


def no_such_endpoint(path: str, served: list[str] | None = None) -> GatewayError:
    listed = f". This gateway serves: {', '.join(served)}." if served else ""
    return GatewayError(404, f"No such endpoint: {path}{listed}", code="not_found")


def method_not_allowed(method: str) -> GatewayError:
    return GatewayError(405, f"Method {method} is not allowed here.", code="method_not_allowed")
