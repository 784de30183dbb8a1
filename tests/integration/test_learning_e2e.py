"""The gateway learns from what it measures: the acceptance runs of the core issue."""

from __future__ import annotations

import socket
import time
from collections import Counter

import httpx
import openai
import pytest
from support.gateway import GatewayThread
from support.upstream import Behavior, FakeUpstream


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_most_reliable_model_wins(upstream: FakeUpstream) -> None:
    upstream.behaviors.update({"e2": Behavior(error_rate=0.02), "e20": Behavior(error_rate=0.2),
                               "e60": Behavior(error_rate=0.6)})
    gw = GatewayThread(f"""
providers: {{up: {{type: openai, base_url: "{upstream.url}"}}}}
models:
  e2: {{provider: up, cost: {{input_per_mtok: 1, output_per_mtok: 1}}}}
  e20: {{provider: up, cost: {{input_per_mtok: 1, output_per_mtok: 1}}}}
  e60: {{provider: up, cost: {{input_per_mtok: 1, output_per_mtok: 1}}}}
routes:
  auto: {{candidates: [e60, e20, e2]}}
""", seed=3).start()
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key="none", max_retries=0)
        errors = 0
        for i in range(400):
            try:
                client.chat.completions.create(
                    model="auto", messages=[{"role": "user", "content": f"question {i}"}])
            except openai.APIStatusError as exc:
                assert exc.status_code == 502
                errors += 1  # all three candidates failed on the same request (p ~ 0.24%)
            gw.settle()
        share = Counter(list(gw.gateway.stats.recent["auto"])[-100:])
        assert share["e2"] >= 80, share
        assert errors <= 3
    finally:
        gw.stop()


def test_refused_connections_are_avoided(upstream: FakeUpstream) -> None:
    dead = f"http://127.0.0.1:{_free_port()}/v1"
    gw = GatewayThread(f"""
providers:
  up: {{type: openai, base_url: "{upstream.url}"}}
  dead: {{type: openai, base_url: "{dead}", connect_timeout_s: 1}}
models:
  alive: {{provider: up, cost: {{input_per_mtok: 1, output_per_mtok: 1}}}}
  # An optimistic prior, so the dead model is tried first and has to be learned away.
  gone: {{provider: dead, cost: {{input_per_mtok: 1, output_per_mtok: 1}},
          prior: {{alpha: 9, beta: 1}}}}
routes:
  auto: {{candidates: [gone, alive]}}
""", seed=5).start()
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key="none", max_retries=0)
        for i in range(300):
            answer = client.chat.completions.create(
                model="auto", messages=[{"role": "user", "content": f"q{i}"}])
            assert answer.model == "alive"
            gw.settle()
        share = Counter(list(gw.gateway.stats.recent["auto"])[-100:])
        assert share["gone"] < 10, share
        assert gw.gateway.stats.counters("auto", "gone").failures >= 1
    finally:
        gw.stop()


@pytest.fixture
def slow_gateway(upstream: FakeUpstream):  # type: ignore[no-untyped-def]
    upstream.behaviors["hang"] = Behavior(mode="hang")
    upstream.behaviors["slow"] = Behavior(content=" ".join(["word"] * 50), chunk_delay_s=0.1)
    gw = GatewayThread(f"""
providers: {{up: {{type: openai, base_url: "{upstream.url}", timeout_s: 30}}}}
models: {{hang: {{provider: up}}, slow: {{provider: up}}}}
routes: {{auto: {{candidates: [hang, slow]}}}}
""").start()
    yield gw
    gw.stop()


def _wait_for(predicate, timeout_s: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_disconnect_before_answer_cancels_upstream(slow_gateway: GatewayThread,
                                                   upstream: FakeUpstream) -> None:
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{slow_gateway.base_url}/chat/completions", timeout=0.5,
                   json={"model": "hang", "messages": [{"role": "user", "content": "x"}]})
    assert _wait_for(lambda: upstream.cancelled == 1)
    assert _wait_for(lambda: slow_gateway.gateway.stats.client_disconnects == 1)


def test_disconnect_mid_stream_cancels_upstream(slow_gateway: GatewayThread,
                                                upstream: FakeUpstream) -> None:
    client = openai.OpenAI(base_url=slow_gateway.base_url, api_key="none", max_retries=0)
    stream = client.chat.completions.create(
        model="slow", messages=[{"role": "user", "content": "x"}], stream=True)
    first = [next(iter(stream)) for _ in range(3)]
    assert all(c.model == "slow" for c in first)
    stream.close()
    assert _wait_for(lambda: upstream.cancelled == 1)
    assert _wait_for(lambda: slow_gateway.gateway.stats.client_disconnects == 1)
    slow_gateway.settle()
    # An answer the client abandoned says nothing about the model: it is not scored.
    assert slow_gateway.gateway.store.observations("auto", "slow") == 0


def test_breaker_opens_on_a_failure_storm_and_skips_the_model(upstream: FakeUpstream) -> None:
    upstream.behaviors["storm"] = Behavior(error_rate=1.0, status=503)
    gw = GatewayThread(f"""
providers: {{up: {{type: openai, base_url: "{upstream.url}"}}}}
models:
  storm: {{provider: up, prior: {{alpha: 50, beta: 1}}}}
  calm: {{provider: up}}
routes:
  auto: {{candidates: [storm, calm], breaker: {{consecutive_failures: 3, cooldown_s: 60}}}}
""").start()
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key="none", max_retries=0)
        for i in range(40):
            answer = client.chat.completions.create(
                model="auto", messages=[{"role": "user", "content": f"q{i}"}])
            assert answer.model == "calm"
        gw.settle()
        stats = httpx.get(f"{gw.url}/stats").json()["routes"]["auto"]["models"]
        assert stats["storm"]["circuit"] == "open"
        # Open after 3 failures in a row; from then on it is not even tried.
        assert upstream.count("storm") == 3
        assert gw.gateway.store.circuits()["storm"] > time.time()
    finally:
        gw.stop()


def test_a_new_model_starts_from_its_family_pooled_evidence(upstream: FakeUpstream) -> None:
    upstream.behaviors["veteran"] = Behavior(mode="empty")  # its answers are all invalid
    gw = GatewayThread(f"""
providers: {{up: {{type: openai, base_url: "{upstream.url}"}}}}
models:
  veteran: {{provider: up, family: meta}}
  rookie: {{provider: up, family: meta}}
  loner: {{provider: up}}
routes:
  auto: {{candidates: [veteran, rookie, loner], decay: {{half_life_s: null}},
          learning: {{direct_weight: 1}}}}
""").start()  # direct requests count in full here: this is about the family, not the weight
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key="none", max_retries=0)
        for i in range(20):
            client.chat.completions.create(model="veteran",
                                           messages=[{"role": "user", "content": f"q{i}"}])
        gw.settle()
        route = gw.gateway.config.routes["auto"]
        beliefs = gw.gateway.beliefs
        rookie = beliefs.posterior(route, "rookie", now=time.time())
        family = beliefs.prior("auto", "rookie")
        # The family's bad record is borrowed, bounded to 10 pseudo-answers ...
        assert rookie.mean < family.alpha / (family.alpha + family.beta) - 0.2
        assert rookie.alpha + rookie.beta == pytest.approx(10.0)
        # ... a model with no family starts uniform ...
        loner = beliefs.posterior(route, "loner", now=time.time())
        assert (loner.alpha, loner.beta) == (1.0, 1.0)
        # ... and the rookie's first answer is added to that start, not to the prior.
        client.chat.completions.create(model="rookie",
                                       messages=[{"role": "user", "content": "first"}])
        gw.settle()
        learned = gw.gateway.store.snapshot("auto")["rookie"]
        assert learned.alpha + learned.beta == pytest.approx(11.0)
        assert learned.alpha == pytest.approx(rookie.alpha + 1.0, abs=0.1)
    finally:
        gw.stop()
