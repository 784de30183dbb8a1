"""Capture every log record of every thread (uvicorn's loggers do not propagate to the root)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "bayesgate", "aiohttp",
            "asyncio")


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        """Every record as it would be written, tracebacks and structured fields included."""
        return [f"{self.format(r)} {getattr(r, 'fields', '')}" for r in self.records]

    def errors(self) -> list[str]:
        return [self.format(r) for r in self.records if r.levelno >= logging.ERROR]


@contextlib.contextmanager
def captured_logs(level: int = logging.DEBUG) -> Iterator[Captured]:
    handler = Captured()
    saved = []
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(level)
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger, old in saved:
            logger.removeHandler(handler)
            logger.setLevel(old)
