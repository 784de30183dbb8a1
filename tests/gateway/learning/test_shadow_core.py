"""The Shadow mirror and its promotion review, on an in-process gateway (seeded, fixed clock)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from gateway.config import ConfigError, loads
from gateway.routing.router import Plan
from gateway.runtime import Generation as Gateway
from gateway.runtime import running
from gateway.store import MemoryStore, Update
from policies.posterior import Prior

CONFIG = """
providers: {sim: {type: simulated}}
models:
  live: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1}}
  other: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1}}
  cand: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1},
         simulate: {latency_ms: 60000}}
routes:
  auto: {candidates: [live, other], cost_weight: 0,
         shadow: {candidates: [cand], rate: 1.0, max_in_flight: 2, %s}}
  plain: {candidates: [live]}
"""


async def gateway_with(extra: str = "promotion: {min_observations: 30}") -> AsyncIterator[Gateway]:
    async with running(loads(CONFIG % extra, env={}), seed=4, clock=lambda: 1000.0) as gw:
        yield gw


@pytest.fixture
async def gw() -> AsyncIterator[Gateway]:
    async for built in gateway_with():
        yield built


def observe(gw: Gateway, model: str, reward: float, times: int, route: str = "auto") -> None:
    for _ in range(times):
        gw.store.record(Update.observation(route, model, reward, prior=Prior(),
                                           half_life_s=None))


def plan(gw: Gateway, route: str = "auto") -> Plan:
    return gw.router.plan(route)


# -- config ------------------------------------------------------------------------------------

def test_defaults() -> None:
    shadow = loads(CONFIG % "", env={}).routes["auto"].shadow
    assert shadow.promotion.threshold == 0.95 and shadow.promotion.min_observations == 30
    assert shadow.auto_promote is False


@pytest.mark.parametrize(("extra", "expected"), [
    ("promotion: {threshold: 0.3}",
     "routes.auto.shadow.promotion.threshold: must be at least 0.5, got 0.3"),
    ("promotion: {threshold: 1.5}",
     "routes.auto.shadow.promotion.threshold: must be at most 1, got 1.5"),
    ("promotion: {min_observations: 0}",
     "routes.auto.shadow.promotion.min_observations: must be at least 1, got 0"),
    ("promotion: {min_observations: 2.5}",
     "routes.auto.shadow.promotion.min_observations: expected an integer, got 2.5"),
    ("promotion: {after: 3}", "routes.auto.shadow.promotion.after: unknown key "
     "(expected one of: min_observations, threshold)"),
    ("promotion: 0.9", "routes.auto.shadow.promotion: expected a mapping, got float"),
    ("auto_promote: yes please",
     "routes.auto.shadow.auto_promote: expected true or false, got 'yes please'"),
    ("max_in_flight: 0", "routes.auto.shadow.max_in_flight: must be at least 1, got 0"),
])
def test_config_errors_name_the_path(extra: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        loads(CONFIG % extra, env={})
    assert info.value.errors == [expected]


def test_a_shadow_candidate_listed_twice_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        loads(CONFIG.replace("[cand]", "[cand, cand]") % "", env={})
    assert info.value.errors == ["routes.auto.shadow.candidates: lists a model more than once"]


# -- promotion math ----------------------------------------------------------------------------

async def test_probability_follows_the_posteriors_and_is_stable(gw: Gateway) -> None:
    route = gw.config.routes["auto"]
    observe(gw, "live", 0.6, 100)
    observe(gw, "other", 0.4, 100)

    def p() -> tuple[str, float]:
        return gw.promotion.beat_probability(route, "cand", ("live", "other"), now=1000.0)

    # Beta(1,1) vs Beta(61,41): exactly 1 - 61/102 = 0.402; the router's normal approximation
    # (policies.thompson.prob_better, now the one estimator) gives 0.369.
    assert p() == ("live", pytest.approx(0.40, abs=0.05))
    observe(gw, "cand", 0.95, 40)
    against, better = p()
    assert against == "live" and better > 0.99
    assert p() == (against, better)  # seeded: the same posteriors give the same figure
    observe(gw, "cand", 0.0, 200)
    assert p()[1] < 0.01


async def test_cost_counts_in_the_comparison() -> None:
    text = (CONFIG % "").replace("cost_weight: 0", "cost_weight: 1").replace(
        "cand: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1}",
        "cand: {provider: sim, cost: {input_per_mtok: 50, output_per_mtok: 50}")
    async with running(loads(text, env={}), seed=4, clock=lambda: 1000.0) as gw:
        observe(gw, "live", 0.8, 100)
        observe(gw, "cand", 0.9, 100)
        route = gw.config.routes["auto"]
        # Better quality, but 50 times the price at cost_weight 1: not worth promoting.
        assert gw.promotion.beat_probability(route, "cand", ("live",), now=1000.0)[1] < 0.01


async def test_ready_needs_enough_observations_and_is_logged_once(
        gw: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bayesgate.shadow")
    observe(gw, "live", 0.3, 50)
    observe(gw, "other", 0.2, 50)
    observe(gw, "cand", 1.0, 29)
    gw.promotion.review()
    verdict = gw.promotion.verdicts["auto"]["cand"]
    assert verdict.probability > 0.99 and not verdict.ready and verdict.observations == 29
    observe(gw, "cand", 1.0, 1)
    gw.promotion.review()
    gw.promotion.review()
    assert gw.promotion.verdicts["auto"]["cand"].ready
    assert not gw.promotion.verdicts["auto"]["cand"].promoted
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "cand of route auto is ready for promotion" in messages[0]
    assert gw.router.candidates(gw.config.routes["auto"]) == ("live", "other")


async def test_auto_promote_makes_it_live_through_the_store() -> None:
    async for gw in gateway_with("auto_promote: true"):
        route = gw.config.routes["auto"]
        observe(gw, "live", 0.3, 50)
        observe(gw, "other", 0.2, 50)
        observe(gw, "cand", 1.0, 30)
        gw.promotion.review()
        assert gw.store.promotions("auto") == frozenset({"cand"})
        assert gw.router.candidates(route) == ("live", "other", "cand")
        assert gw.shadow.hidden(route) == ()
        assert gw.promotion.verdicts["auto"]["cand"].promoted
        assert {plan(gw).attempts[0].name for _ in range(50)} >= {"cand"}


def test_promotions_in_the_memory_store_and_stale_ones_are_ignored() -> None:
    store = MemoryStore()
    assert store.promotions("auto") == frozenset()
    store.promote("auto", "cand")
    store.promote("auto", "cand")
    store.promote("auto", "gone")  # no longer a shadow candidate of the route
    assert store.promotions("auto") == frozenset({"cand", "gone"})
    assert store.promotions("plain") == frozenset()


async def test_router_ignores_a_promotion_of_a_model_no_longer_shadowed(gw: Gateway) -> None:
    gw.store.promote("auto", "gone")
    gw.store.promote("plain", "cand")
    assert gw.router.candidates(gw.config.routes["auto"]) == ("live", "other")
    assert gw.router.candidates(gw.config.routes["plain"]) == ("live",)


# -- mirroring -----------------------------------------------------------------------------------

async def test_only_routes_with_shadow_candidates_are_mirrored(gw: Gateway) -> None:
    request = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    gw.shadow.mirror(plan(gw, "plain"), dict(request))
    gw.shadow.mirror(plan(gw, "live"), dict(request))
    gw.shadow.mirror(plan(gw), dict(request), opted_out=True)
    assert sum(gw.shadow.in_flight.values()) == 0
    assert all(c.requests == 0 for c in gw.shadow.counters.values())


async def test_max_in_flight_then_cancelled_at_close(gw: Gateway) -> None:
    request = {"model": "auto", "messages": [{"role": "user", "content": "hi"}],
               "stream": True, "stream_options": {"include_usage": True}}
    for _ in range(5):
        gw.shadow.mirror(plan(gw), request)
    await asyncio.sleep(0.01)
    assert gw.shadow.in_flight["auto"] == 2 and gw.shadow.dropped["auto"] == 3
    assert gw.shadow.counter("auto", "cand").requests == 2
    await gw.shadow.aclose()
    assert gw.shadow.in_flight["auto"] == 0
    gw.shadow.mirror(plan(gw), request)  # closed: a late request is not mirrored
    assert gw.shadow.counter("auto", "cand").requests == 2
    await gw.learner.drain()
    assert gw.store.observations("auto", "cand") == 0  # a cancelled copy is not a failure


async def test_a_reload_keeps_the_shadow_counters_and_verdicts(gw: Gateway) -> None:
    from gateway.runtime import assemble

    request = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    for _ in range(3):
        gw.shadow.mirror(plan(gw), request)
    observe(gw, "live", 0.3, 50)
    observe(gw, "other", 0.2, 50)
    observe(gw, "cand", 1.0, 30)
    gw.promotion.review()
    reloaded = assemble(gw.config, gw)
    assert reloaded.shadow.counter("auto", "cand").requests == 2
    assert reloaded.shadow.dropped["auto"] == 1
    assert reloaded.promotion.verdicts["auto"]["cand"].ready
    assert reloaded.shadow.in_flight["auto"] == 0  # the copies belong to the old generation
    await gw.shadow.aclose()


async def test_promotion_rests_on_evidence_still_held_not_a_lifetime_count() -> None:
    """Copies minutes apart: 30 observations counted, but the decayed posterior holds little
    more than its start. It used to be promoted at P = 0.958 from its family prior alone."""
    clock = [1000.0]
    text = CONFIG.replace("cost_weight: 0,", "cost_weight: 0, decay: {half_life_s: 60},")
    text = text.replace("cand: {provider: sim,",
                        "cand: {provider: sim, prior: {alpha: 19, beta: 1},")
    config = loads(text % "promotion: {min_observations: 30}", env={})
    async with running(config, seed=4, clock=lambda: clock[0]) as gw:
        prior = gw.beliefs.prior("auto", "cand")  # an optimistic prior, as a family's may be
        for _ in range(30):  # one perfect copy every five minutes
            clock[0] += 300
            gw.store.record(Update.observation("auto", "cand", 1.0, prior=prior,
                                               half_life_s=60))
        for model in ("live", "other"):  # the live models, served all along
            for _ in range(40):
                gw.store.record(Update.observation("auto", model, 0.6, prior=Prior(),
                                                   half_life_s=60))
        gw.promotion.review()
        verdict = gw.promotion.verdicts["auto"]["cand"]
        assert verdict.observations == 30 and verdict.probability >= 0.95
        assert not verdict.ready and verdict.evidence < 5
        for _ in range(40):  # the same copies close together: now the evidence is held
            gw.store.record(Update.observation("auto", "cand", 1.0, prior=prior,
                                               half_life_s=60))
        gw.promotion.review()
        assert gw.promotion.verdicts["auto"]["cand"].ready
