"""Router.plan(): routes ranked by the policy over beliefs, costs and availability (seeded)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest
from support.clock import Clock

from gateway.config import Config, ModelConfig, loads
from gateway.errors import GatewayError
from gateway.routing.availability import Availability
from gateway.routing.beliefs import Beliefs
from gateway.routing.costs import CostModel
from gateway.routing.router import Plan, Router
from gateway.store import MemoryStore, Update
from policies.posterior import Prior

CONFIG = """
providers: {sim: {type: simulated}}
models:
  a: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1}}
  b: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1}}
  c: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1}}
  cand: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1}}
  dear: {provider: sim, cost: {input_per_mtok: 100, output_per_mtok: 100}}
routes:
  auto: {candidates: [a, b, c], max_attempts: 2, cost_weight: 0,
         shadow: {candidates: [cand]}}
  all: {candidates: [a, b, c], cost_weight: 0}
  thrifty: {candidates: [dear, a], cost_weight: 1}
  lavish: {candidates: [dear, a], cost_weight: 0}
"""


@dataclass(frozen=True)
class Rig:
    config: Config
    router: Router
    store: MemoryStore
    availability: Availability


def build(seed: int = 7) -> Rig:
    config = loads(CONFIG, env={})
    clock = Clock()
    store = MemoryStore(clock=clock)
    availability = Availability(store, clock=clock)
    router = Router(config, beliefs=Beliefs(config, store), costs=CostModel(config.models, {}),
                    availability=availability, store=store, rng=np.random.default_rng(seed),
                    clock=clock)
    return Rig(config, router, store, availability)


def observe(store: MemoryStore, route: str, model: str, reward: float, times: int = 100) -> None:
    for _ in range(times):
        store.record(Update.observation(route, model, reward, prior=Prior(), half_life_s=None))


def firsts(router: Router, route: str, n: int = 200) -> Counter[str]:
    return Counter(router.plan(route).attempts[0].name for _ in range(n))


def test_a_route_plans_at_most_max_attempts_configured_models() -> None:
    router = build().router
    plans = [router.plan("auto") for _ in range(20)]
    for plan in plans:
        assert plan.route is not None and plan.route_name == "auto"
        assert len(plan.attempts) == 2
        assert all(isinstance(m, ModelConfig) for m in plan.attempts)
        assert {m.name for m in plan.attempts} <= {"a", "b", "c"}
        assert len({m.name for m in plan.attempts}) == 2
        assert re.fullmatch(r"[0-9a-f]{16}", plan.decision_id)
    assert len({plan.decision_id for plan in plans}) == 20


def test_a_model_name_goes_straight_to_that_model() -> None:
    rig = build()
    router = rig.router
    plan = router.plan("b")
    assert plan == Plan(None, (rig.config.models["b"],), plan.decision_id)
    assert plan.route_name == ""


def test_an_unknown_name_is_a_404() -> None:
    router = build().router
    with pytest.raises(GatewayError) as info:
        router.plan("gpt-17")
    assert info.value.status == 404 and info.value.code == "model_not_found"
    assert "'gpt-17'" in info.value.message


@pytest.mark.parametrize("requested", [None, "", 3, ["auto"]])
def test_a_missing_or_non_string_model_is_a_400(requested: object) -> None:
    router = build().router
    with pytest.raises(GatewayError) as info:
        router.plan(requested)
    assert info.value.status == 400 and info.value.param == "model"


def test_the_clearly_better_model_is_chosen() -> None:
    rig = build()
    router, store = rig.router, rig.store
    observe(store, "auto", "a", 0.4)
    observe(store, "auto", "b", 0.9)
    observe(store, "auto", "c", 0.4)
    assert firsts(router, "auto")["b"] > 180


@pytest.mark.parametrize("how", ["cool_down", "breaker", "fleet"])
def test_an_unavailable_model_is_ranked_last(how: str) -> None:
    rig = build()
    router, store, availability = rig.router, rig.store, rig.availability
    route = rig.config.routes["all"]
    if how == "cool_down":
        availability.cool_down("a", 30)
    elif how == "breaker":  # five failures in a row open the default breaker
        for _ in range(5):
            availability.record(route, "a", success=False)
    else:
        store.open_circuit("a", 1030.0)
    # "a" is also the fallback: an unavailable fallback is never forced to the front.
    lasts = {router.plan("all").attempts[-1].name for _ in range(100)}
    assert lasts == {"a"}


def test_a_promoted_shadow_candidate_becomes_live() -> None:
    rig = build()
    router, store = rig.router, rig.store
    route = rig.config.routes["auto"]
    assert router.candidates(route) == ("a", "b", "c")
    store.promote("auto", "gone")  # no longer a shadow candidate of the route
    assert router.candidates(route) == ("a", "b", "c")
    store.promote("auto", "cand")
    assert router.candidates(route) == ("a", "b", "c", "cand")
    for model in ("a", "b", "c"):
        observe(store, "auto", model, 0.5)
    observe(store, "auto", "cand", 1.0)
    assert firsts(router, "auto", 50)["cand"] > 45


def test_the_cost_weight_makes_the_cheap_model_win() -> None:
    router = build().router
    assert firsts(router, "thrifty")["a"] > 190
    assert 60 < firsts(router, "lavish")["a"] < 140  # equal posteriors, cost ignored


def test_a_model_that_has_not_answered_is_priced_at_the_others_length() -> None:
    """Equal prices: a model with no answers yet must not look dearer for a guessed length
    (200 tokens against the others' measured 40), or it is never tried (a lock-in)."""
    config = loads(CONFIG, env={})
    costs = CostModel(config.models, {})
    for _ in range(10):
        costs.observe_tokens("a", 500, 40)
        costs.observe_tokens("b", 500, 60)
    usd = costs.expected_all(("a", "b", "c"), prompt_tokens=500)
    assert usd["c"] == pytest.approx(costs.expected("c", prompt_tokens=500, unknown=50.0))
    assert usd["a"] < usd["c"] < usd["b"] == costs.expected("b", prompt_tokens=500)
    # Nobody has answered: every model at the typical turn.
    fresh = CostModel(config.models, {})
    assert fresh.expected_all(("a", "b")) == {"a": fresh.expected("a"), "b": fresh.expected("a")}
