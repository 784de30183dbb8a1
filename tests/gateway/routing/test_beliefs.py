"""Beliefs: priors, cold starts from a family's evidence, and decay toward the prior."""

from __future__ import annotations

import pytest

from gateway.config import Config, RouteConfig, loads
from gateway.routing.beliefs import Beliefs
from gateway.store import MemoryStore, Update
from policies.defaults import COLD_START_STRENGTH
from policies.posterior import Posterior, Prior

CONFIG = """
providers: {sim: {type: simulated}}
models:
  plain: {provider: sim}
  fixed: {provider: sim, family: acme, prior: {alpha: 8, beta: 2}}
  sib1: {provider: sim, family: acme}
  sib2: {provider: sim, family: acme}
  newbie: {provider: sim, family: acme}
  outsider: {provider: sim, family: zeta}
routes:
  auto: {candidates: [plain, fixed, sib1, sib2, outsider],
         shadow: {candidates: [newbie]}, decay: {half_life_s: 10}}
"""


@pytest.fixture
def config() -> Config:
    return loads(CONFIG, env={})


@pytest.fixture
def route(config: Config) -> RouteConfig:
    return config.routes["auto"]


@pytest.fixture
def beliefs(config: Config, store: MemoryStore) -> Beliefs:
    return Beliefs(config, store)


def observe(store: MemoryStore, model: str, reward: float, times: int) -> None:
    for _ in range(times):
        store.record(Update.observation("auto", model, reward, prior=Prior(), half_life_s=10))


def test_a_model_without_state_or_family_starts_uniform(beliefs: Beliefs,
                                                        route: RouteConfig) -> None:
    assert beliefs.prior("auto", "plain") == Prior(1.0, 1.0)
    assert beliefs.posterior(route, "plain", now=1000.0) == Posterior(1.0, 1.0, 1000.0)


def test_a_configured_prior_wins_over_the_family(beliefs: Beliefs, store: MemoryStore,
                                                 route: RouteConfig) -> None:
    observe(store, "sib1", 1.0, 40)
    assert beliefs.prior("auto", "fixed") == Prior(8.0, 2.0)
    assert beliefs.posterior(route, "fixed", now=1000.0) == Posterior(8.0, 2.0, 1000.0)


def test_a_new_family_member_borrows_its_siblings_evidence_bounded(
        beliefs: Beliefs, store: MemoryStore, route: RouteConfig) -> None:
    observe(store, "sib1", 1.0, 40)
    observe(store, "sib2", 0.5, 40)
    observe(store, "outsider", 0.0, 40)  # another family: not pooled
    # Pooled over the uniform base: alpha 1 + 40 + 20, beta 1 + 0 + 20, shrunk to 10 answers.
    post = beliefs.posterior(route, "newbie", now=1000.0)
    assert post.strength == pytest.approx(COLD_START_STRENGTH)
    assert post.mean == pytest.approx(61 / 82)
    assert post == beliefs.cold_start(route, "newbie", now=1000.0)
    assert not beliefs.known("auto", "newbie")


def test_the_pooled_evidence_is_decayed_to_now(beliefs: Beliefs, store: MemoryStore,
                                               route: RouteConfig) -> None:
    observe(store, "sib1", 1.0, 40)
    observe(store, "sib2", 0.5, 40)
    # Ten seconds later every sibling's evidence has halved: alpha 1 + 30, beta 1 + 10.
    assert beliefs.posterior(route, "newbie", now=1010.0).mean == pytest.approx(31 / 42)


def test_a_lone_family_member_starts_at_its_family_prior(beliefs: Beliefs,
                                                         route: RouteConfig) -> None:
    assert beliefs.posterior(route, "newbie", now=1000.0) == Posterior(1.0, 1.0, 1000.0)


def test_stored_evidence_decays_toward_the_prior(beliefs: Beliefs, store: MemoryStore,
                                                 route: RouteConfig) -> None:
    observe(store, "plain", 1.0, 20)  # alpha 21, beta 1 at t = 1000
    assert beliefs.posterior(route, "plain", now=1000.0) == Posterior(21.0, 1.0, 1000.0)
    after = beliefs.posterior(route, "plain", now=1010.0)
    assert (after.alpha, after.beta) == pytest.approx((11.0, 1.0))
    later = beliefs.posterior(route, "plain", now=1020.0)
    assert (later.alpha, later.beta) == pytest.approx((6.0, 1.0))


def test_known_once_the_store_holds_state(beliefs: Beliefs, store: MemoryStore) -> None:
    assert not beliefs.known("auto", "plain")
    observe(store, "plain", 0.5, 1)
    assert beliefs.known("auto", "plain")
    assert not beliefs.known("other", "plain")


def test_a_class_starts_from_the_route_evidence_bounded_then_learns_its_own(
        beliefs: Beliefs, store: MemoryStore, route: RouteConfig) -> None:
    observe(store, "plain", 1.0, 40)  # the route: 40 good answers
    post = beliefs.posterior(route, "plain", now=0.0, cls="code")
    # The route's 40 answers count as at most class_prior_strength (3) for a new class.
    assert post.alpha == pytest.approx(1.0 + route.learning.class_prior_strength)
    assert post.beta == pytest.approx(1.0)
    for _ in range(30):  # the class's own answers, all bad, reach both levels
        for scope in ("auto", "auto#code"):
            store.record(Update.observation(scope, "plain", 0.0, prior=Prior(),
                                            half_life_s=10))
    code = beliefs.posterior(route, "plain", now=0.0, cls="code")
    # its own 30 failures, and the other classes' 40 successes bounded to 3 (not counted twice)
    bound = route.learning.class_prior_strength
    assert code.alpha == pytest.approx(1.0 + bound) and code.beta == pytest.approx(31.0)
    assert code.mean < 0.3 < 0.5 < beliefs.posterior(route, "plain", now=0.0, cls="chat").mean


def test_a_class_cell_decays_toward_the_prior_like_the_route(
        beliefs: Beliefs, store: MemoryStore, route: RouteConfig) -> None:
    for _ in range(20):
        store.record(Update.observation("auto#code", "plain", 0.0, prior=Prior(),
                                        half_life_s=10))
    fresh = beliefs.posterior(route, "plain", now=store._clock(), cls="code")
    later = beliefs.posterior(route, "plain", now=store._clock() + 10, cls="code")
    assert later.beta - 1.0 == pytest.approx((fresh.beta - 1.0) / 2, rel=1e-3)


def test_a_class_remembers_a_number_of_its_own_requests(config: Config,
                                                        store: MemoryStore) -> None:
    route = loads(CONFIG.replace("decay: {half_life_s: 10}",
                                 "decay: {half_life_s: 1800, half_life_requests: 200}"),
                  env={}).routes["auto"]
    beliefs = Beliefs(config, store)
    for i in range(600):  # 10 requests/s for a minute, one in ten of class "code"
        beliefs.arrived("auto", i / 10, "code" if i % 10 == 0 else "chat")
    now = 59.9
    assert beliefs.half_life(route, now) == pytest.approx(20.0, rel=0.05)  # 200 at 10/s
    assert beliefs.half_life(route, now, "code") == pytest.approx(200.0, rel=0.05)  # at 1/s
    # a class not seen here yet decays like the route
    assert beliefs.half_life(route, now, "math") == beliefs.half_life(route, now)
