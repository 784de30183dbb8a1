"""`bayesgate serve`: the gateway under uvicorn until SIGTERM or Ctrl-C."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
from pathlib import Path

from gateway.cli.banner import banner
from gateway.config import Config

log = logging.getLogger("bayesgate")


def serve_forever(config: Config, *, host: str | None, port: int | None,
                  log_level: str | None = None, pidfile: str | None = None,
                  access_log: bool | None = None, config_note: str | None = None) -> int:
    import uvicorn

    from gateway.http.app import create_app
    from gateway.ops import logs
    from gateway.runtime import collector

    settings = config.logging
    if log_level:
        settings = dataclasses.replace(settings, level=log_level.lower())
    if access_log is not None:
        settings = dataclasses.replace(settings, access_log=access_log)
    listener = logs.configure(settings)
    host = host or config.server.host
    port = config.server.port if port is None else port
    log.info("%s", banner(config, host=host, port=port, note=config_note))
    if pidfile:
        Path(pidfile).write_text(f"{os.getpid()}\n")
    # uvicorn re-raises the SIGTERM it handled once it has shut down gracefully; catching it
    # as an exception lets the pidfile and the log queue be cleaned up before the process
    # dies of it as before.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    terminated = False
    app = create_app(config)
    collector.tune()
    try:
        # log_config=None: uvicorn's own lines go through our handler (and format) too.
        uvicorn.run(app, host=host, port=port, loop=_loop(), http="httptools",
                    log_level=settings.level, log_config=None, access_log=settings.access_log,
                    lifespan="on", timeout_graceful_shutdown=10)
    except _Terminated:
        terminated = True
    finally:
        listener.stop()
        if pidfile:
            Path(pidfile).unlink(missing_ok=True)
    if terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
    return 0


class _Terminated(BaseException):
    pass


def _exit_on_signal(signum: int, frame: object) -> None:
    raise _Terminated


def _loop() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"
