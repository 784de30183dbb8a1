"""Shared by the routing unit tests: a clock the test moves by hand, and a memory store on it."""

from __future__ import annotations

import pytest
from support.clock import Clock

from gateway.store import MemoryStore


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> MemoryStore:
    return MemoryStore(clock=clock)
