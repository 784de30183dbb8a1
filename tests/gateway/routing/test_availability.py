"""Availability: Retry-After cool-downs, this replica's breakers and the fleet's open circuits."""

from __future__ import annotations

import pytest
from support.clock import Clock

from gateway.config import RouteConfig, loads
from gateway.routing.availability import Availability
from gateway.store import MemoryStore

CONFIG = """
providers: {sim: {type: simulated}}
models:
  a: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1}}
  b: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1}}
routes:
  auto: {candidates: [a, b],
         breaker: {consecutive_failures: 2, cooldown_s: 10, min_requests: 100}}
  plain: {candidates: [a, b]}
"""


@pytest.fixture
def av(store: MemoryStore, clock: Clock) -> Availability:
    return Availability(store, clock=clock)


@pytest.fixture
def route() -> RouteConfig:
    return loads(CONFIG, env={}).routes["auto"]


def opened(av: Availability, route: RouteConfig) -> None:
    assert av.record(route, "a", success=False) is False
    assert av.describe("auto", "a", now=1000.0) == "closed"  # one failure is no streak yet
    assert av.record(route, "a", success=False) is False


def test_a_cool_down_holds_until_the_clock_passes_it(av: Availability) -> None:
    av.cool_down("a", 30)
    assert not av.available("a", now=1029.9)
    assert av.available("a", now=1030.0)
    assert av.available("b", now=1000.0)


def test_a_long_retry_after_is_capped_at_300_s(av: Availability) -> None:
    av.cool_down("a", 86_400)
    assert av.cooldown_until["a"] == 1300.0
    assert not av.available("a", now=1299.0)
    assert av.available("a", now=1300.0)


def test_keep_only_forgets_models_no_longer_configured(av: Availability) -> None:
    av.cool_down("a", 30)
    av.cool_down("b", 30)
    av.keep_only({"a"})
    assert av.cooldown_until == {"a": 1030.0}
    assert av.available("b", now=1000.0) and not av.available("a", now=1000.0)


def test_two_failures_open_the_breaker_for_the_fleet(
        av: Availability, store: MemoryStore, route: RouteConfig) -> None:
    opened(av, route)
    assert not av.available("a", now=1000.0, route=route)
    assert av.describe("auto", "a", now=1000.0) == "open"
    assert store.circuits() == {"a": 1010.0}
    assert not av.available("a", now=1000.0)  # fleet-wide: no route needed
    assert av.describe("plain", "a", now=1000.0) == "open"
    assert av.available("b", now=1000.0, route=route)
    assert not av.admit(route, "a")


def test_a_successful_probe_closes_it(av: Availability, clock: Clock,
                                      route: RouteConfig) -> None:
    opened(av, route)
    clock.t = 1010.0
    assert av.available("a", now=1010.0, route=route)
    assert av.admit(route, "a")
    assert not av.admit(route, "a")  # the one probe is still out
    assert av.describe("auto", "a", now=1010.0) == "half_open"
    assert not av.available("a", now=1010.0, route=route)
    assert av.record(route, "a", success=True) is True
    assert av.describe("auto", "a", now=1010.0) == "closed"
    assert av.admit(route, "a") and av.admit(route, "a")


def test_a_failed_probe_reopens_it(av: Availability, clock: Clock, store: MemoryStore,
                                   route: RouteConfig) -> None:
    opened(av, route)
    clock.t = 1010.0
    assert av.admit(route, "a")
    assert av.record(route, "a", success=False) is False
    assert av.describe("auto", "a", now=1010.0) == "open"
    assert store.circuits()["a"] == 1020.0
    assert not av.available("a", now=1015.0, route=route)
    clock.t = 1020.0
    assert av.admit(route, "a")
