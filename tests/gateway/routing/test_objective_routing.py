"""A route's objective in the gateway: parsed from the config, applied by the router, spend
shared by the fleet through the store (a real redis-server for the shared ledger)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pytest
from support.clock import Clock
from support.redis_server import RedisServer

from gateway.config import ConfigError, StoreConfig, loads
from gateway.routing.availability import Availability
from gateway.routing.beliefs import Beliefs
from gateway.routing.costs import CostModel
from gateway.routing.objective import Objectives
from gateway.routing.router import Router
from gateway.store import MemoryStore, Update
from gateway.store.redis import RedisStore
from policies.objective import EXHAUSTED, Budget, Objective
from policies.posterior import Prior

CONFIG = """
providers: {sim: {type: simulated}}
models:
  dear: {provider: sim, cost: {input_per_mtok: 100, output_per_mtok: 100}}
  cheap: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1}}
  free: {provider: sim, cost: {input_per_mtok: 0, output_per_mtok: 0}}
routes:
  valued: {candidates: [dear, cheap], classes: false, objective: {value_usd: 1.0}}
  stingy: {candidates: [dear, cheap], classes: false, objective: {value_usd: 0.0001}}
  budget: {candidates: [dear, cheap], classes: false, cost_weight: 0,
           objective: {budget: {usd: 0.5, per: hour}}}
  old: {candidates: [dear, cheap], cost_weight: 0.2}
  even: {candidates: [dear, cheap], classes: false, cost_weight: 0}
"""


def test_the_objective_is_parsed_with_cost_weight_kept() -> None:
    config = loads(CONFIG, env={})
    assert config.routes["valued"].objective == Objective(0.3, value_usd=1.0)
    assert config.routes["budget"].objective == Objective(0.0, budget=Budget(0.5, "hour"))
    assert config.routes["old"].objective == Objective(0.2)  # existing configs unchanged
    assert config.routes["old"].objective.scale == "cost_weight"


@pytest.mark.parametrize(("objective", "error"), [
    ("{value_usd: 0.01}, cost_weight: 0.1",
     "routes.r.objective.value_usd: a route states either cost_weight or a value per good "
     "answer, not both"),
    ("{budget: {per: week}}", "routes.r.objective.budget.per: expected one of hour, day, got "
                              "'week'"),
    ("{budget: {per: day}}", "routes.r.objective.budget.usd: required, the most to spend per "
                             "period"),
    ("{latency_p95_ms: 0}", "routes.r.objective.latency_p95_ms: must be greater than 0, got 0"),
    ("{value: 1}", "routes.r.objective.value: unknown key (did you mean 'value_usd'? expected "
                   "one of: budget, latency_p95_ms, value_usd)"),
])
def test_objective_errors_name_the_key(objective: str, error: str) -> None:
    text = f"""
providers: {{sim: {{type: simulated}}}}
models: {{a: {{provider: sim}}}}
routes: {{r: {{candidates: [a], objective: {objective}}}}}
"""
    with pytest.raises(ConfigError) as err:
        loads(text, env={})
    assert error in str(err.value)


def _router(store: MemoryStore, clock: Clock) -> tuple[Router, Objectives]:
    config = loads(CONFIG, env={})
    objectives = Objectives(config, store, clock=clock)
    router = Router(config, beliefs=Beliefs(config, store), costs=CostModel(config.models, {}),
                    availability=Availability(store, clock=clock), store=store,
                    rng=np.random.default_rng(3), clock=clock, objectives=objectives)
    for _ in range(100):  # dear is the better model: 0.95 against 0.85
        store.record(Update.observation("even", "dear", 0.9, prior=Prior(), half_life_s=None))
        store.record(Update.observation("even", "cheap", 0.9, prior=Prior(), half_life_s=None))
        for route in ("valued", "stingy", "budget"):
            store.record(Update.observation(route, "dear", 0.95, prior=Prior(),
                                            half_life_s=None))
            store.record(Update.observation(route, "cheap", 0.85, prior=Prior(),
                                            half_life_s=None))
    return router, objectives


def _firsts(router: Router, route: str, n: int = 200) -> Counter[str]:
    return Counter(router.plan(route).attempts[0].name for _ in range(n))


def test_the_value_of_a_good_answer_decides_whether_quality_is_worth_its_price() -> None:
    """A typical request costs ~0.07 USD on dear and ~0.0007 on cheap: worth it when a good
    answer is worth 1 USD, not when it is worth 0.0001."""
    clock = Clock(1_800_000_000.0)
    router, _ = _router(MemoryStore(clock=clock), clock)
    assert _firsts(router, "valued")["dear"] > 150
    assert _firsts(router, "stingy")["cheap"] == 200


def test_a_spent_budget_sends_the_route_to_its_cheapest_candidate() -> None:
    clock = Clock(1_800_000_000.0)
    store = MemoryStore(clock=clock)
    router, objectives = _router(store, clock)
    assert _firsts(router, "budget")["dear"] > 150  # cost_weight 0: quality decides
    objectives.spent("budget", 0.5)
    assert store.spent("budget", period_s=3600, now=clock()) == 0.5
    assert _firsts(router, "budget") == {"cheap": 200}
    status = objectives.status(loads(CONFIG, env={}).routes["budget"])
    assert status["budget"]["exhausted"] is True
    assert status["budget"]["multiplier"] == EXHAUSTED
    assert status["budget"]["spent_usd"] == 0.5
    clock.t += 3600  # the next hour: a new budget
    assert _firsts(router, "budget")["dear"] > 150
    objectives.spent("old", 10.0)  # no budget on that route: nothing kept
    assert store.spent("old", period_s=3600, now=clock()) == 0.0


def test_a_model_slower_lately_than_its_posterior_knows_loses_its_share() -> None:
    """Equal posteriors; dear's answers go from 1 s to 3 s. Its posterior has not moved (the
    learner is not run here), the latency trend has: cheap serves."""
    clock = Clock(1_800_000_000.0)
    router, objectives = _router(MemoryStore(clock=clock), clock)
    for _ in range(200):
        objectives.answered("even", "dear", 1000)
        objectives.answered("even", "cheap", 1000)
    even = _firsts(router, "even")
    assert 60 < even["dear"] < 140  # a coin toss while both are steady
    for _ in range(40):
        objectives.answered("even", "dear", 3000)
        objectives.answered("even", "cheap", 1000)
    assert _firsts(router, "even")["cheap"] > 180
    trend = objectives.status(loads(CONFIG, env={}).routes["even"])["latency_trend"]
    assert list(trend) == ["dear"] and trend["dear"] > 0.04  # in reward units
    # A reload keeps what the trend knows where the route's reward is unchanged.
    config = loads(CONFIG, env={})
    again = Objectives(config, MemoryStore(clock=clock), clock=clock, previous=objectives)
    usd = {"dear": 0.0, "cheap": 0.0}
    kept = again.terms(config.routes["even"], usd, now=clock())
    assert kept["dear"] > 0.04 and kept["cheap"] == 0.0
    changed = loads(CONFIG.replace("cost_weight: 0}\n", "cost_weight: 0, reward: "
                                   "{latency_weight: 0.4}}\n"), env={})
    assert changed.routes["even"].reward != config.routes["even"].reward
    fresh = Objectives(changed, MemoryStore(clock=clock), clock=clock, previous=objectives)
    assert fresh.terms(changed.routes["even"], usd, now=clock()) == {"dear": 0.0, "cheap": 0.0}


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


async def _until(predicate, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_replicas_share_one_budget_through_redis(server: RedisServer) -> None:
    """Spend on one replica counts against the budget on the other, summed in Redis once
    acknowledged; what is not acknowledged yet is laid over the fleet's total locally."""
    config = StoreConfig(backend="redis", url=server.url, prefix="t",
                         sync_interval_s=0.02)  # type: ignore[call-arg]
    a, b = RedisStore(config), RedisStore(config)
    await a.start()
    await b.start()
    try:
        now = time.time()
        assert b.spent("auto", period_s=3600, now=now) == 0.0
        a.spend("auto", 0.25, period_s=3600, now=now)
        a.spend("auto", 0.5, period_s=3600, now=now)
        assert a.spent("auto", period_s=3600, now=now) == 0.75  # before any sync
        await _until(lambda: b.spent("auto", period_s=3600, now=time.time()) == 0.75)
        b.spend("auto", 0.25, period_s=3600, now=time.time())
        await _until(lambda: a.spent("auto", period_s=3600, now=time.time()) == 1.0)
        assert a.spent("auto", period_s=86400, now=time.time()) == 0.0  # another period
        key = a._ledger.key("auto", 3600)
        assert server.client().ttl(key) > 3600  # kept two periods, then gone
    finally:
        await a.aclose()
        await b.aclose()
