"""The Learner over a real RedisStore: a batch of answers checks its retry fingerprints in one
round trip (it used to wait one per answer), and a retry within the batch is still caught."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from support.redis_server import RedisServer

from gateway.config import StoreConfig, loads
from gateway.learning import measure
from gateway.learning.learner import Learner
from gateway.ops.stats import Stats
from gateway.routing.beliefs import Beliefs
from gateway.routing.costs import CostModel
from gateway.store.redis import RedisStore
from policies.reward import Outcome, reward

CONFIG = """
providers: {sim: {type: simulated}}
models: {a: {provider: sim}, b: {provider: sim}}
routes: {auto: {candidates: [a, b], decay: {half_life_s: null}, learning: {caller_share: 1}}}
"""


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


def _answer(n: int) -> measure.Exchange:
    return measure.answered("auto", "a", problem=None, latency_s=0.2, caller="app",
                            messages=[{"role": "user", "content": f"question {n}"}])


async def test_a_batch_swaps_its_fingerprints_in_one_round_trip(server: RedisServer) -> None:
    config = loads(CONFIG, env={})
    store = RedisStore(StoreConfig(backend="redis", url=server.url, prefix="t",
                                   sync_interval_s=0.05), routes={"auto": ["a", "b"]})
    await store.start()
    calls: list[int] = []
    batched = store.swap_fingerprints

    async def counted(items: Any) -> list[str | None]:
        calls.append(len(items))
        return await batched(items)
    store.swap_fingerprints = counted  # type: ignore[method-assign]
    try:
        deadline = time.monotonic() + 5
        while store.status()["state"] != "ok":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        learner = Learner(config, store, Beliefs(config, store), CostModel(config.models, {}),
                          Stats(), clock=time.time)
        for n in range(200):
            learner.submit(_answer(n))
        learner.submit(_answer(7))  # the client asked question 7 again: a retry
        await learner.drain()
        assert calls == [201]  # one pipeline, not 201 round trips
        admin = server.client()
        assert len(list(admin.scan_iter("t:fp:auto:*"))) == 200
        post = store.snapshot("auto")["a"]
        # 201 observations; the retried answer's weight moved from alpha to beta
        assert post.alpha + post.beta == pytest.approx(2 + 201)
        assert store.observations("auto", "a") == 201
        weights = config.routes["auto"].reward
        once, redone = (reward(Outcome(True, 200.0, r), weights) for r in (0, 1))
        assert redone < once
        assert post.alpha == pytest.approx(1 + 201 * once - (once - redone))
    finally:
        await store.aclose()
