"""ProviderPool: an unchanged provider outlives a reload; a changed one is new; the last
generation to release a started provider closes it."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.config import Config, loads
from gateway.runtime.pool import ProviderPool
from providers.base import Provider, UpstreamStatus

CONFIG = """
providers:
  one: {type: simulated, timeout_s: %s}
  two: {type: simulated}
models:
  a: {provider: one, simulate: {latency_ms: %s, error_rate: %s}}
  b: {provider: two}
routes: {auto: {candidates: [a, b]}}
"""


def config(*, timeout_s: float = 30, latency_ms: float = 100, error_rate: float = 0) -> Config:
    return loads(CONFIG % (timeout_s, latency_ms, error_rate), env={})


class Recorder:
    """Counts start() and aclose() on provider instances (set on the instance, not the class)."""

    def __init__(self) -> None:
        self.started: list[Provider] = []
        self.closed: list[Provider] = []

    def watch(self, acquired: dict[str, Provider], monkeypatch: pytest.MonkeyPatch) -> None:
        for provider in acquired.values():
            async def start(p: Provider = provider) -> None:
                self.started.append(p)

            async def aclose(p: Provider = provider) -> None:
                self.closed.append(p)

            monkeypatch.setattr(provider, "start", start)
            monkeypatch.setattr(provider, "aclose", aclose)


@pytest.fixture
def pool() -> ProviderPool:
    return ProviderPool(np.random.default_rng(0))


def test_the_same_config_gets_the_same_instances(pool: ProviderPool) -> None:
    first = pool.acquire(config())
    second = pool.acquire(config())
    assert set(first) == {"one", "two"}
    assert all(second[name] is first[name] for name in first)
    assert first["one"] is not first["two"]


@pytest.mark.parametrize("changed", [{"timeout_s": 60}, {"latency_ms": 900},
                                     {"error_rate": 1}])
def test_a_changed_provider_gets_a_new_instance(pool: ProviderPool, changed: dict) -> None:
    before = pool.acquire(config())
    after = pool.acquire(config(**changed))
    assert after["one"] is not before["one"]
    assert after["two"] is before["two"]  # untouched: kept


async def test_the_new_instance_serves_the_new_simulated_model(pool: ProviderPool) -> None:
    pool.acquire(config())
    after = pool.acquire(config(error_rate=1))
    # Every answer of the new model fails, before any simulated latency is slept.
    with pytest.raises(UpstreamStatus) as info:
        await after["one"].complete({"messages": []}, upstream_model="a")
    assert (info.value.upstream_status, info.value.message) == (503, "simulated upstream error")


async def test_start_starts_each_instance_once(pool: ProviderPool,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    first = pool.acquire(config())
    recorder.watch(first, monkeypatch)
    await pool.start(first)
    second = pool.acquire(config())
    await pool.start(second)
    await pool.start(first)
    assert sorted(id(p) for p in recorder.started) == sorted(id(p) for p in first.values())


async def test_release_closes_after_the_last_generation(pool: ProviderPool,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    old = pool.acquire(config())
    recorder.watch(old, monkeypatch)
    await pool.start(old)
    new = pool.acquire(config(timeout_s=60))  # "one" is replaced, "two" is shared
    recorder.watch({"one": new["one"]}, monkeypatch)
    await pool.start(new)
    await pool.release(old)
    assert recorder.closed == [old["one"]]  # "two" is still used by the new generation
    await pool.release(new)
    assert recorder.closed == [old["one"], new["one"], old["two"]]
    assert new["two"] is old["two"]


async def test_an_instance_never_started_is_not_closed(pool: ProviderPool,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    acquired = pool.acquire(config())
    recorder.watch(acquired, monkeypatch)
    await pool.release(acquired)
    assert recorder.closed == []
    again = pool.acquire(config())  # released for good: a fresh instance next time
    assert again["one"] is not acquired["one"]


def test_an_openai_provider_outlives_a_change_of_its_models(pool: ProviderPool) -> None:
    text = """
providers: {up: {type: openai, base_url: "http://127.0.0.1:9/v1"}}
models:
  x: {provider: up}
%s
routes: {auto: {candidates: [x]}}
"""
    first = pool.acquire(loads(text % "", env={}))
    second = pool.acquire(loads(text % "  y: {provider: up}", env={}))
    assert second["up"] is first["up"]  # its connection pool stays warm
