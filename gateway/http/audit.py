"""Requests answered with an error: one log line each (what was asked for, and why it failed),
counted by path and status in /stats (`errors`) and by endpoint in /metrics
(`bayesgate_http_errors_total`), so a client calling an endpoint the gateway lacks is seen.

The chat front door reports its own errors (its fast path bypasses the middleware);
`ErrorAudit` sees every other path's status on its way out.
"""

from __future__ import annotations

import time
from typing import Any

from gateway.http.asgi import Receive, Scope, Send
from gateway.ops import logs
from gateway.runtime.state import Generation

perf = time.perf_counter


def answered_with_error(gateway: Generation, scope: Scope, status: int, *, latency_s: float,
                        code: str | None = None, requested: Any = None, caller: str = "",
                        route: str = "", decision: str = "", endpoint: str | None = None) -> None:
    """Log and count one error answer; `endpoint` is the path template when the router did
    not match one (the chat fast path), else it is read from the scope."""
    path = scope.get("path", "")
    template = endpoint or getattr(scope.get("route"), "path", None) or "unmatched"
    gateway.stats.error(path if template == "unmatched" else template, status)
    gateway.metrics.http_errors.labels(template, str(status)).inc()
    logs.request(decision=decision, route=route, model="", status=status, latency_s=latency_s,
                 caller=caller, error={"method": scope.get("method", ""), "path": path,
                                       "code": code or "", "requested":
                                       requested if isinstance(requested, str) else ""})


class ErrorAudit:
    """Middleware: reports a non-chat request whose answer has a 4xx or 5xx status."""

    def __init__(self, app: Any, *, skip: frozenset[str]) -> None:
        self.app = app
        self._skip = skip  # paths whose handler reports its own errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._skip:
            await self.app(scope, receive, send)
            return
        started = perf()
        status = 0

        async def watched(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            if status >= 400:
                answered_with_error(scope["state"]["gateway"], scope, status,
                                    latency_s=perf() - started)
