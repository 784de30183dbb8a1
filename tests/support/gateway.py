"""A real bayesgate (uvicorn on 127.0.0.1, port 0) running in its own thread and event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

from gateway.config import Config, loads
from gateway.http.app import create_app
from gateway.runtime import Generation
from gateway.runtime.server import serving


class GatewayThread:
    def __init__(self, config: Config | str, *, seed: int = 1) -> None:
        self.config = loads(config) if isinstance(config, str) else config
        self.app = create_app(self.config, seed=seed)
        self.url = ""
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="gateway")

    @property
    def gateway(self) -> Generation:
        return self.app.state.gateway  # type: ignore[no-any-return]

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> GatewayThread:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("gateway did not start")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(20)

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine on the gateway's own loop and wait for its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def settle(self) -> None:
        """Wait until everything answered so far has been learned."""
        self.call(self.gateway.learner.drain())

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced to start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serving(self.app) as url:
            self.url = url
            self._ready.set()
            await self._stop.wait()
