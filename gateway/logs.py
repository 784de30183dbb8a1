"""Logging: text or one JSON object per line, written by a thread, never by the event loop.

`configure()` puts a QueueHandler on the root logger: a log call on the event loop costs a
record and a queue put; formatting and the write to stderr happen in the listener's thread
(DESIGN.md: no blocking I/O on the event loop). `request()` writes the one line per request
(logger `bayesgate.requests`): ids, route, model, status, timings, reward, tokens and cost,
never message content, never keys (a caller is named by its key's name).
"""

from __future__ import annotations

import datetime
import logging
import logging.handlers
import queue
import sys
from typing import Any

import orjson

from gateway.config import LoggingConfig

requests_log = logging.getLogger("bayesgate.requests")


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", ...fields}`; fields come from `extra={"fields": {}}`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(), "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """The usual one-liner, with a request's fields appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        return text


def configure(config: LoggingConfig, *, stream: Any = None) -> logging.handlers.QueueListener:
    """Route every logger through a queue to one handler; returns the started listener
    (stop it at exit to flush)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if config.format == "json" else TextFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(logging.handlers.QueueHandler(records))
    root.setLevel(config.level.upper())
    listener = logging.handlers.QueueListener(records, handler, respect_handler_level=True)
    listener.start()
    return listener


def request(*, decision: str, route: str, model: str, status: int, latency_s: float,
            ttft_s: float | None = None, overhead_s: float | None = None,
            reward: float | None = None, prompt_tokens: int = 0, completion_tokens: int = 0,
            cost_usd: float = 0.0, caller: str = "", stream: bool = False) -> None:
    if not requests_log.isEnabledFor(logging.INFO):
        return
    fields = {
        "event": "request", "decision": decision, "route": route or None, "model": model or None,
        "status": status, "stream": stream, "latency_ms": round(latency_s * 1000, 3),
        "ttft_ms": None if ttft_s is None else round(ttft_s * 1000, 3),
        "overhead_ms": None if overhead_s is None else round(overhead_s * 1000, 3),
        "reward": None if reward is None else round(reward, 4),
        "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
        "cost_usd": round(cost_usd, 8), "caller": caller or None,
    }
    requests_log.info("request", extra={"fields": fields})
