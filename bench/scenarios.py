"""The benchmark's scenarios and the request each sends, in each front door's dialect."""

from __future__ import annotations

import json

SCENARIOS = {
    "sat": {"stream": False, "delay_ms": 0, "conns": 64,
            "label": "0 ms upstream, 64 conns"},
    "d50c16": {"stream": False, "delay_ms": 50, "conns": 16,
               "label": "50 ms upstream, 16 conns"},
    "d50c64": {"stream": False, "delay_ms": 50, "conns": 64,
               "label": "50 ms upstream, 64 conns"},
    "stream": {"stream": True, "delay_ms": 0, "conns": 64,
               "label": "SSE, 0 ms upstream, 64 conns"},
    "serial": {"stream": False, "delay_ms": 0, "conns": 1,
               "label": "0 ms upstream, 1 conn"},
    # The other front doors (bayesgate only), each against its chat twin above (sat, stream):
    # what the translation costs.
    "responses": {"stream": False, "delay_ms": 0, "conns": 64, "door": "responses",
                  "label": "POST /v1/responses, 0 ms upstream, 64 conns"},
    "responses_stream": {"stream": True, "delay_ms": 0, "conns": 64, "door": "responses",
                         "label": "/v1/responses SSE, 0 ms upstream, 64 conns"},
    "messages": {"stream": False, "delay_ms": 0, "conns": 64, "door": "messages",
                 "label": "POST /v1/messages, 0 ms upstream, 64 conns"},
    "messages_stream": {"stream": True, "delay_ms": 0, "conns": 64, "door": "messages",
                        "label": "/v1/messages SSE, 0 ms upstream, 64 conns"},
    # The same doors to an upstream that speaks their APIs (the route `native`, whose provider
    # has `native: [responses, messages]`): what the pass-through costs.
    "responses_native": {"stream": False, "delay_ms": 0, "conns": 64, "door": "responses",
                         "route": "native", "label": "/v1/responses native, 0 ms, 64 conns"},
    "responses_native_stream": {"stream": True, "delay_ms": 0, "conns": 64,
                                "door": "responses", "route": "native",
                                "label": "/v1/responses native SSE, 0 ms, 64 conns"},
    "messages_native": {"stream": False, "delay_ms": 0, "conns": 64, "door": "messages",
                        "route": "native", "label": "/v1/messages native, 0 ms, 64 conns"},
    "messages_native_stream": {"stream": True, "delay_ms": 0, "conns": 64, "door": "messages",
                               "route": "native",
                               "label": "/v1/messages native SSE, 0 ms, 64 conns"},
}
DOOR_PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses",
              "messages": "/v1/messages"}

def body_for(model: str, *, stream: bool, door: str = "chat") -> bytes:
    """The same question in each front door's dialect."""
    question = "Say hello in five words."
    req: dict = {"model": model, "max_tokens": 16,
                 "messages": [{"role": "user", "content": question}]}
    if door == "responses":  # streams get usage without asking
        req = {"model": model, "max_output_tokens": 16, "input": question}
    if stream:
        req["stream"] = True
        if door == "chat":
            req["stream_options"] = {"include_usage": True}
    return json.dumps(req, separators=(",", ":")).encode()
