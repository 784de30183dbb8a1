"""The Learner over a MemoryStore: rewards into posteriors, tokens and cost, drops, retries."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from gateway.config import loads
from gateway.learning import measure
from gateway.learning.learner import Learner
from gateway.learning.retries import declared_retries
from gateway.ops.metrics import Metrics
from gateway.ops.stats import Stats
from gateway.routing.beliefs import Beliefs
from gateway.routing.costs import CostModel
from gateway.store import MemoryStore
from policies.reward import Outcome, reward

CONFIG = """
providers: {sim: {type: simulated}}
models:
  a: {provider: sim, cost: {input_per_mtok: 2, output_per_mtok: 10}}
  b: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1}, prior: {alpha: 3, beta: 2}}
  c: {provider: sim, cost: {input_per_mtok: 1, output_per_mtok: 1}}
routes:
  auto: {candidates: [a, b], shadow: {candidates: [c]}, decay: {half_life_s: null}}
  side: {candidates: [b], shadow: {candidates: [a]}, decay: {half_life_s: null}}
  solo: {candidates: [c], decay: {half_life_s: null}}
"""
NOW = 1000.0
MESSAGES = [{"role": "user", "content": "hi"}]


def make(max_queue: int = 100, text: str = CONFIG) -> tuple[Learner, MemoryStore, Stats, Metrics]:
    config = loads(text, env={})
    store = MemoryStore(clock=lambda: NOW)
    stats, metrics = Stats(), Metrics()
    learner = Learner(config, store, Beliefs(config, store), CostModel(config.models, {}), stats,
                      clock=lambda: NOW, max_queue=max_queue, metrics=metrics)
    return learner, store, stats, metrics


def ok(route: str, model: str, **kw: Any) -> measure.Exchange:
    return measure.answered(route, model, problem=None, latency_s=0.5, **kw)


async def test_an_answer_adds_one_observation_with_its_reward() -> None:
    learner, store, stats, metrics = make()
    learner.submit(ok("auto", "a"))
    await learner.drain()
    post = store.snapshot("auto")["a"]
    score = reward(Outcome(True, 500.0), loads(CONFIG, env={}).routes["auto"].reward)
    assert post.alpha == pytest.approx(1 + score) and post.beta == pytest.approx(2 - score)
    assert post.alpha + post.beta == pytest.approx(3.0)
    assert store.observations("auto", "a") == 1
    assert list(stats.counters("auto", "a").rewards) == [pytest.approx(score)]
    assert list(stats.counters("auto", "a").latencies_ms) == [500.0]
    assert metrics.registry.get_sample_value(
        "bayesgate_reward_count", {"route": "auto", "model": "a"}) == 1.0


async def test_a_failure_adds_only_to_beta() -> None:
    learner, store, stats, _ = make()
    learner.submit(measure.failed("auto", "a", elapsed_s=2.0))
    await learner.drain()
    post = store.snapshot("auto")["a"]
    assert (post.alpha, post.beta) == (pytest.approx(1.0), pytest.approx(2.0))
    assert list(stats.counters("auto", "a").rewards) == [0.0]
    assert not stats.counters("auto", "a").latencies_ms  # no latency for a failure


async def test_a_direct_answer_counts_at_a_bounded_weight_for_routes_listing_the_model() -> None:
    learner, store, _, _ = make()
    weight = loads(CONFIG, env={}).routes["auto"].learning.direct_weight
    assert learner.routes_for(ok("", "a")) == [("auto", weight), ("side", weight)]
    learner.submit(measure.failed("", "a", elapsed_s=1.0, caller="k"))
    await learner.drain()
    for route in ("auto", "side"):  # a live candidate of auto, a shadow candidate of side
        post = store.snapshot(route)["a"]
        assert (post.alpha, post.beta) == (pytest.approx(1.0), pytest.approx(1.0 + weight))
    assert "a" not in store.snapshot("solo")
    assert store.snapshot("") == {}


async def test_an_answer_of_a_class_updates_the_route_and_the_class() -> None:
    learner, store, _, _ = make()
    learner.submit(measure.failed("auto", "a", elapsed_s=1.0, cls="code"))
    await learner.drain()
    assert store.snapshot("auto")["a"].beta == pytest.approx(2.0)
    assert store.snapshot("auto#code")["a"].beta == pytest.approx(2.0)
    assert store.observations("auto#code", "a") == 1
    assert "a" not in store.snapshot("auto#chat")


async def test_an_answer_cut_short_by_the_clients_own_budget_moves_nothing() -> None:
    learner, store, stats, _ = make()
    learner.submit(measure.answered("auto", "a", problem="JSON mode answer is not JSON",
                                    latency_s=0.1, client_cut=True, caller="k"))
    await learner.drain()
    assert "a" not in store.snapshot("auto")
    assert stats.counters("auto", "a").rewards[-1] == 0.0  # still shown in /stats


async def test_one_caller_cannot_move_a_model_past_its_share_in_a_window() -> None:
    learner, store, _, _ = make()
    route = loads(CONFIG, env={}).routes["auto"]
    cap = route.learning.caller_answers
    for _ in range(100):
        learner.submit(measure.failed("auto", "a", elapsed_s=1.0, caller="mallory"))
    await learner.drain()
    assert store.snapshot("auto")["a"].beta == pytest.approx(1.0 + cap)
    for _ in range(100):  # other callers' answers still count, and widen mallory's share
        learner.submit(measure.failed("auto", "a", elapsed_s=1.0, caller="alice"))
        learner.submit(measure.failed("auto", "a", elapsed_s=1.0, caller="bob"))
        await learner.drain()
    for _ in range(10):  # copies the gateway made itself are no caller's
        learner.submit(measure.failed("auto", "a", elapsed_s=1.0, caller=None))
    await learner.drain()
    beta = store.snapshot("auto")["a"].beta
    assert beta == pytest.approx(1.0 + cap + 200 + 10)
    for _ in range(300):  # mallory again: at most half of all that was added in the window
        learner.submit(measure.failed("auto", "a", elapsed_s=1.0, caller="mallory"))
        await learner.drain()
    added = store.snapshot("auto")["a"].beta - 1.0
    # mallory ends with half of what the callers added (the copies are no caller's)
    assert added == pytest.approx(10 + 2 * 200, abs=1.5)


async def test_a_lone_callers_bound_is_its_own_setting_not_the_routes_cap() -> None:
    text = CONFIG.replace("decay: {half_life_s: null}}\n  side",
                          "decay: {max_strength: 400}, learning: {caller_answers: 8}}\n  side")
    learner, store, _, _ = make(text=text)
    assert loads(text, env={}).routes["auto"].max_strength == 400
    for _ in range(50):
        learner.submit(measure.failed("auto", "a", elapsed_s=1.0, caller="mallory"))
    await learner.drain()
    assert store.snapshot("auto")["a"].beta == pytest.approx(1.0 + 8, abs=0.01)


async def test_a_full_queue_drops_and_counts() -> None:
    learner, store, stats, _ = make(max_queue=1)
    learner.submit(ok("auto", "a"))
    learner.submit(ok("auto", "a"))
    assert stats.learning_dropped == 1
    await learner.drain()
    assert store.observations("auto", "a") == 1


async def test_tokens_and_cost_are_counted() -> None:
    learner, _, stats, _ = make()
    learner.submit(ok("auto", "a", usage={"prompt_tokens": 1000, "completion_tokens": 500}))
    await learner.drain()
    counters = stats.counters("auto", "a")
    assert (counters.prompt_tokens, counters.completion_tokens) == (1000, 500)
    assert counters.cost_usd == pytest.approx((2 * 1000 + 10 * 500) / 1e6)


async def test_forget_resets_to_the_models_prior() -> None:
    learner, store, _, _ = make()
    for _ in range(5):
        learner.submit(measure.failed("auto", "b", elapsed_s=1.0))
    await learner.drain()
    assert store.snapshot("auto")["b"].beta == pytest.approx(7.0)
    learner.forget("auto", "b")
    post = store.snapshot("auto")["b"]
    assert (post.alpha, post.beta) == (pytest.approx(3.0), pytest.approx(2.0))
    assert store.observations("auto", "b") == 5  # a reset is not an observation


async def test_a_model_that_changes_restarts_from_its_answers_since(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bayesgate.learning")
    learner, store, stats, _ = make()
    for _ in range(40):
        learner.submit(ok("solo", "c", cls="code"))
    await learner.drain()
    assert store.snapshot("solo")["c"].mean > 0.9
    failures = 0
    while not stats.counters("solo", "c").changes:
        learner.submit(measure.failed("solo", "c", elapsed_s=1.0, cls="code"))
        await learner.drain()
        failures += 1
        assert failures < 10, store.snapshot("solo")["c"]
    # The prior plus the answers since the change (all failed); the class cell from its prior,
    # plus the answer that showed the change.
    post = store.snapshot("solo")["c"]
    assert (post.alpha, post.beta) == (pytest.approx(1.0), pytest.approx(1.0 + failures))
    cell = store.snapshot("solo#code")["c"]
    assert (cell.alpha, cell.beta) == (pytest.approx(1.0), pytest.approx(2.0))
    assert store.observations("solo", "c") == 40 + failures  # each answer counted once
    assert stats.counters("solo", "c").changes == 1
    assert "c on route solo changed for the worse" in caplog.text
    for _ in range(30):  # a model that stays bad is not "changed" again
        learner.submit(measure.failed("solo", "c", elapsed_s=1.0))
    await learner.drain()
    assert stats.counters("solo", "c").changes == 1


async def test_only_answers_that_count_in_full_can_show_a_change() -> None:
    # A reset drops all of a model's evidence: direct requests (bounded weight), explicit
    # feedback and a caller past its share must not be able to trigger one.
    learner, store, stats, _ = make()
    route = loads(CONFIG, env={}).routes["auto"]
    for _ in range(40):
        learner.submit(ok("auto", "a"))
    await learner.drain()
    for i in range(60):
        learner.submit(measure.failed("", "a", elapsed_s=1.0, caller=f"c{i}"))  # direct
        learner.feedback(route, "", "a", 0.0, weight=1.0)
        await learner.drain()
    assert not stats.learning_dropped
    assert store.snapshot("auto")["a"].beta == pytest.approx(1 + 40 * 0.015 + 60 * 1.2,
                                                             abs=1.0)  # all counted
    assert stats.counters("auto", "a").changes == 0
    learner, store, stats, _ = make()
    for _ in range(40):
        learner.submit(ok("auto", "a", caller="mallory"))  # one caller fills its share...
    await learner.drain()
    for _ in range(50):  # ...then its bad answers count less than one answer each
        learner.submit(measure.failed("auto", "a", elapsed_s=1.0, caller="mallory"))
        await learner.drain()
    assert stats.counters("auto", "a").changes == 0
    for _ in range(10):  # the route's own traffic that goes bad does show a change
        learner.submit(measure.failed("auto", "a", elapsed_s=1.0))
    await learner.drain()
    assert stats.counters("auto", "a").changes == 1


async def test_change_detection_can_be_turned_off() -> None:
    config = loads(CONFIG.replace("solo: {candidates: [c],",
                                  "solo: {candidates: [c], learning: {change_threshold: null},"),
                   env={})
    assert config.routes["solo"].learning.change_threshold is None
    store, stats = MemoryStore(clock=lambda: NOW), Stats()
    learner = Learner(config, store, Beliefs(config, store), CostModel(config.models, {}),
                      stats, clock=lambda: NOW)
    for _ in range(40):
        learner.submit(ok("solo", "c"))
    for _ in range(20):
        learner.submit(measure.failed("solo", "c", elapsed_s=1.0))
    await learner.drain()
    post = store.snapshot("solo")["c"]
    assert post.alpha + post.beta == pytest.approx(62.0) and not stats.counters("solo", "c").changes


async def test_the_same_conversation_again_corrects_the_earlier_answer() -> None:
    learner, store, _, _ = make()
    rewards = loads(CONFIG, env={}).routes["auto"].reward
    score = reward(Outcome(True, 500.0), rewards)
    redone = reward(Outcome(True, 500.0, 1), rewards)
    learner.submit(ok("auto", "a", messages=MESSAGES))
    learner.submit(ok("auto", "a", messages=MESSAGES))
    await learner.drain()
    post = store.snapshot("auto")["a"]
    delta = score - redone
    assert delta > 0
    assert post.alpha == pytest.approx(1 + 2 * score - delta)
    assert post.beta == pytest.approx(1 + 2 * (1 - score) + delta)
    assert post.alpha + post.beta == pytest.approx(4.0)
    assert store.observations("auto", "a") == 2


async def test_another_conversation_is_not_a_retry() -> None:
    learner, store, _, _ = make()
    learner.submit(ok("auto", "a", messages=MESSAGES))
    learner.submit(ok("auto", "a", messages=[{"role": "user", "content": "bye"}]))
    await learner.drain()
    score = reward(Outcome(True, 500.0), loads(CONFIG, env={}).routes["auto"].reward)
    assert store.snapshot("auto")["a"].alpha == pytest.approx(1 + 2 * score)


def test_answered_takes_tokens_from_usage_else_the_estimate() -> None:
    usage = {"prompt_tokens": 7, "completion_tokens": 5}
    with_usage = ok("auto", "a", usage=usage, completion_estimate=99)
    assert (with_usage.prompt_tokens, with_usage.completion_tokens) == (7, 5)
    without = ok("auto", "a", usage=None, completion_estimate=12)
    assert (without.prompt_tokens, without.completion_tokens) == (0, 12)
    broken = ok("auto", "a", usage={"prompt_tokens": -1, "completion_tokens": "x"},
                completion_estimate=12)
    assert (broken.prompt_tokens, broken.completion_tokens) == (0, 0)
    assert ok("auto", "a").outcome == Outcome(True, 500.0, 0)
    assert measure.answered("auto", "a", problem="empty message", latency_s=1.0).outcome.valid \
        is False


@pytest.mark.parametrize(("raw", "expected"), [(b"3", 3), (b"99", 10), (b"x", 0), (None, 0),
                                               (b"-2", 0)])
def test_declared_retries(raw: bytes | None, expected: int) -> None:
    assert declared_retries(raw) == expected
