"""The Reloader driven with fake generations: what is published, kept, logged and stopped."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.config import Config, load, loads
from gateway.ops.metrics import Metrics
from gateway.runtime import reload as reload_module
from gateway.runtime.reload import Reloader

CONFIG = """
server: {port: %d}
providers: {sim: {type: simulated}}
models: {m: {provider: sim}}
routes: {auto: {candidates: [%s]}}
"""


class QuickAsyncio:
    """`asyncio` as reload.py sees it, with sleep() cut to one yield (no real waiting)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def sleep(delay: float) -> None:
        await asyncio.sleep(0)


class Fakes:
    def __init__(self, config: Config) -> None:
        self.first = SimpleNamespace(config=config, metrics=Metrics(), in_flight=1)
        self.started: list[Any] = []
        self.stopped: list[Any] = []
        self.published: list[Any] = []

    def build(self, config: Config, old: Any) -> Any:
        return SimpleNamespace(config=config, metrics=old.metrics, in_flight=0)

    async def start(self, generation: Any) -> None:
        self.started.append(generation)

    async def stop(self, generation: Any) -> None:
        self.stopped.append(generation)

    def reloader(self) -> Reloader:
        return Reloader(self.first, build=self.build, start=self.start,  # type: ignore[arg-type]
                        stop=self.stop, publish=self.published.append, grace_s=1.0)


def write(path: Path, *, port: int = 8080, model: str = "m") -> Path:
    path.write_text(CONFIG % (port, model), encoding="utf-8")
    return path


def reloads(metrics: Metrics, result: str) -> float | None:
    return metrics.registry.get_sample_value("bayesgate_config_reloads_total",
                                             {"result": result})


async def settle(times: int = 20) -> None:
    for _ in range(times):
        await asyncio.sleep(0)


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reload_module, "asyncio", QuickAsyncio())


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return write(tmp_path / "gateway.yaml")


async def test_a_valid_file_is_published_and_the_old_one_retired_when_idle(path: Path) -> None:
    fakes = Fakes(load(path, env={}))
    reloader = fakes.reloader()
    assert await reloader.reload() is True
    new = reloader.current
    assert new is not fakes.first and new.config.path == str(path)
    assert fakes.published == [new] and fakes.started == [new]
    assert reloads(new.metrics, "ok") == 1.0
    await settle()
    assert fakes.stopped == []  # the old generation still has a request running
    fakes.first.in_flight = 0
    await settle()
    assert fakes.stopped == [fakes.first]
    await reloader.aclose()
    assert fakes.stopped == [fakes.first, new]


async def test_an_invalid_file_is_rejected_and_the_running_config_kept(
        path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="bayesgate.reload")
    fakes = Fakes(load(path, env={}))
    reloader = fakes.reloader()
    write(path, model="nope")
    assert await reloader.reload() is False
    assert reloader.current is fakes.first
    assert fakes.published == [] and fakes.started == [] and fakes.stopped == []
    [record] = caplog.records
    assert record.name == "bayesgate.reload"
    assert record.getMessage() == (f"reload of {path} rejected, the running config is kept:\n"
                                   "  routes.auto.candidates[0]: unknown model 'nope'")
    assert reloads(fakes.first.metrics, "rejected") == 1.0
    assert reloads(fakes.first.metrics, "ok") == 0.0


@pytest.mark.parametrize("failing", ["build", "start"])
async def test_a_generation_that_cannot_be_built_or_started_is_rejected(
        path: Path, failing: str, caplog: pytest.LogCaptureFixture) -> None:
    fakes = Fakes(load(path, env={}))
    built: list[Any] = []

    def build(config: Config, old: Any) -> Any:
        if failing == "build":
            raise ImportError("no module named 'litellm'")
        built.append(fakes.build(config, old))
        return built[-1]

    async def start(generation: Any) -> None:
        raise OSError("cannot start a provider")
    reloader = Reloader(fakes.first, build=build,  # type: ignore[arg-type]
                        start=start if failing == "start" else fakes.start, stop=fakes.stop,
                        publish=fakes.published.append, grace_s=1.0)
    write(path, model="m")
    with caplog.at_level(logging.ERROR, logger="bayesgate.reload"):
        assert await reloader.reload() is False
    assert reloader.current is fakes.first and fakes.published == []
    assert fakes.stopped == built  # what was built is stopped again, the running one is not
    assert "failed while starting it, the running config is kept" in caplog.text
    assert reloads(fakes.first.metrics, "rejected") == 1.0


async def test_a_new_port_needs_a_restart(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bayesgate.reload")
    fakes = Fakes(load(path, env={}))
    reloader = fakes.reloader()
    other = write(path.with_name("other.yaml"), port=9090)
    assert await reloader.reload(str(other)) is True
    assert reloader.current.config.server.port == 9090  # the config object changes, not the socket
    assert [r.getMessage() for r in caplog.records] == [
        "reload: server.port changed; that takes a restart, the running values are kept"]
    await reloader.aclose()


async def test_a_config_not_from_a_file_cannot_be_reloaded(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="bayesgate.reload")
    fakes = Fakes(loads(CONFIG % (8080, "m"), env={}))
    reloader = fakes.reloader()
    assert await reloader.reload() is False
    assert reloader.current is fakes.first
    assert "not loaded from a file" in caplog.records[0].getMessage()
    assert reloads(fakes.first.metrics, "rejected") == 1.0


async def test_aclose_stops_the_current_generation(path: Path) -> None:
    fakes = Fakes(load(path, env={}))
    await fakes.reloader().aclose()
    assert fakes.stopped == [fakes.first]
    assert fakes.started == []


async def test_the_grace_period_ends_a_stuck_generation(
        path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    monkeypatch.setattr(reload_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    fakes = Fakes(load(path, env={}))
    reloader = fakes.reloader()
    assert await reloader.reload() is True
    await settle()
    assert fakes.stopped == []
    now[0] = 1.5  # past grace_s=1.0 with the request still running
    await settle()
    assert fakes.stopped == [fakes.first]
    assert "with 1 requests still running" in caplog.text
