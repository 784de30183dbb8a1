"""Hot reload: SIGHUP (or `bayesgate reload`) re-reads the config file without a restart.

A file that does not validate is rejected, its errors logged, and the running config kept. A
valid one becomes a new Generation (router, learner, keys, ..., built by `assemble`) around
the same Live parts (state.py), so the posteriors of every (route, model) that remains are
kept as they are, and the same counters, metrics, history, breakers and connection pools. The
new generation is published for the next request; the old one finishes the requests it
already has, then its learner learns what it queued and its providers are released. Changes
that need a new process (listen address, store backend) are logged and otherwise ignored.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable

import providers
from gateway.config import Config, ConfigError, load
from gateway.routing.costs import litellm_price_table
from gateway.runtime.state import Generation

log = logging.getLogger("bayesgate.reload")

_RESTART_ONLY: tuple[tuple[str, Callable[[Config], object]], ...] = (
    ("server.host", lambda c: c.server.host), ("server.port", lambda c: c.server.port),
    ("store", lambda c: c.store), ("telemetry", lambda c: c.telemetry))


class Reloader:
    def __init__(self, generation: Generation, *, build: Callable[..., Generation],
                 start: Callable[[Generation], Awaitable[None]],
                 stop: Callable[[Generation], Awaitable[None]],
                 publish: Callable[[Generation], None] | None = None,
                 grace_s: float | None = None) -> None:
        self.current = generation
        self._build = build
        self._start = start
        self._stop = stop
        self._publish = publish
        # An old generation waits at most this long for its requests (a stream can be long).
        self._grace_s = grace_s if grace_s is not None else max(
            [p.timeout_s for p in generation.config.providers.values()] + [30.0]) + 5.0
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()
        self._triggered: set[asyncio.Task[bool]] = set()
        self._signal_installed = False

    async def reload(self, path: str | None = None) -> bool:
        """Re-read the config (from `path`, else the file it came from); True if applied."""
        async with self._lock:
            old = self.current
            source = path or old.config.path
            if source is None:
                log.error("reload ignored: the running config was not loaded from a file")
                old.metrics.reloads.labels("rejected").inc()
                return False
            try:
                config = await asyncio.to_thread(load, source)  # file I/O off the event loop
            except ConfigError as exc:
                log.error("reload of %s rejected, the running config is kept:\n  %s", source,
                          "\n  ".join(exc.errors))
                old.metrics.reloads.labels("rejected").inc()
                return False
            _warn_restart_only(old.config, config)
            new = None
            try:
                await asyncio.to_thread(prepare, config)  # imports and tables, off the loop
                new = self._build(config, old)
                await self._start(new)
            except Exception:
                # A provider that cannot start (a bad URL, a missing package, ...): the new
                # config never goes live, and what it started is stopped again.
                log.exception("reload of %s failed while starting it, the running config is "
                              "kept", source)
                old.metrics.reloads.labels("rejected").inc()
                if new is not None:
                    await self._discard(new)
                return False
            self.current = new
            if self._publish is not None:
                self._publish(new)
            task = asyncio.create_task(self._retire(old), name="bayesgate-retire")
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
            new.metrics.reloads.labels("ok").inc()
            log.info("reloaded %s: %d routes, %d models", source, len(config.routes),
                     len(config.models))
            return True

    async def _discard(self, new: Generation) -> None:
        try:
            await self._stop(new)
        except Exception:
            log.exception("stopping the rejected config's generation failed")

    def trigger(self) -> None:
        """Start a reload from a signal handler (the handler itself must not await)."""
        task = asyncio.get_running_loop().create_task(self.reload(), name="bayesgate-reload")
        self._triggered.add(task)
        task.add_done_callback(self._triggered.discard)

    async def _retire(self, old: Generation) -> None:
        deadline = time.monotonic() + self._grace_s
        while old.in_flight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if old.in_flight > 0:
            log.warning("closing the previous config's providers with %d requests still "
                        "running", old.in_flight)
        try:
            await self._stop(old)
        except Exception:
            log.exception("stopping the previous config's generation failed")

    async def aclose(self) -> None:
        """At shutdown: finish pending reloads, retire old generations, stop the current."""
        for task in list(self._triggered):
            task.cancel()
        await asyncio.gather(*self._triggered, *self._retiring, return_exceptions=True)
        await self._stop(self.current)

    def install_signal_handler(self) -> None:
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.trigger)
        except (ValueError, RuntimeError, NotImplementedError, AttributeError):
            # Not the main thread (tests, embedding) or no SIGHUP (Windows): reload() still
            # works when called.
            log.debug("SIGHUP handler not installed (not in the main thread)")
            return
        self._signal_installed = True

    def remove_signal_handler(self) -> None:
        if self._signal_installed:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._signal_installed = False


def prepare(config: Config) -> None:
    """What building a generation for `config` would do slowly on the event loop, done first
    in a thread: import each provider type's module (LiteLLM's takes seconds) and parse the
    price table, so the build itself finds them cached."""
    for spec in config.providers.values():
        providers.provider_class(spec.type)
    if any(m.cost is None for m in config.models.values()):
        litellm_price_table()


def _warn_restart_only(old: Config, new: Config) -> None:
    changed = [name for name, get in _RESTART_ONLY if get(old) != get(new)]
    if changed:
        log.warning("reload: %s changed; that takes a restart, the running values are kept",
                    ", ".join(changed))
