"""Explicit feedback and the decision as a service, end to end: two replicas share a real
redis-server; the official SDK makes the requests, feedback goes to the other replica.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from support.gateway import GatewayThread
from support.redis_server import RedisServer

from gateway.learning.decisions import Decision, Decisions
from policies.reward import Outcome, reward

KEYS = {"app": "gw-feedback-app-0123456789", "other": "gw-feedback-other-0123456789"}
SIM = "simulate: {latency_ms: 2, jitter_ms: 0, error_rate: 0, invalid_rate: 0}"


def _config(url: str) -> str:
    return f"""
server: {{api_keys: {{app: {KEYS["app"]}, other: {KEYS["other"]}}}}}
store: {{backend: redis, url: "{url}", prefix: fb, sync_interval_s: 0.05}}
providers: {{sim: {{type: simulated}}}}
models:
  cheap: {{provider: sim, {SIM}}}
  premium: {{provider: sim, {SIM}}}
routes:
  auto: {{candidates: [cheap, premium], decay: {{half_life_s: null}},
          learning: {{feedback_weight: 5, feedback_window_s: 30}}}}
"""


@pytest.fixture(scope="module")
def fleet() -> Iterator[list[GatewayThread]]:
    with RedisServer() as server:
        gateways = [GatewayThread(_config(server.url), seed=i).start() for i in range(2)]
        yield gateways
        for gw in gateways:
            gw.stop()


def _http(gw: GatewayThread, key: str = KEYS["app"]) -> httpx.Client:
    return httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {key}"})


def _cell(gw: GatewayThread, scope: str, model: str) -> tuple[float, float]:
    found = gw.gateway.store.snapshot(scope).get(model)
    return (found.alpha, found.beta) if found is not None else (1.0, 1.0)


def _synced(fleet: list[GatewayThread]) -> None:
    for gw in fleet:
        gw.settle()
    deadline = time.time() + 10
    while any(gw.gateway.store.status()["pending"] for gw in fleet) and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # every replica re-reads the shared state


def test_feedback_moves_the_served_models_class_posterior_once_on_every_replica(
        fleet: list[GatewayThread]) -> None:
    first, second = fleet
    client = openai.OpenAI(base_url=first.base_url, api_key=KEYS["app"], max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "write python code for me"}])
    model, cls = raw.headers["x-bayesgate-model"], raw.headers["x-bayesgate-class"]
    decision = raw.headers["x-bayesgate-decision"]
    assert cls == "code"
    _synced(fleet)
    before = [(_cell(gw, "auto", model), _cell(gw, "auto#code", model)) for gw in fleet]
    r = _http(second).post("/v1/feedback", json={"decision_id": decision, "score": 0})
    assert r.status_code == 200, r.text
    assert r.json() | {"decision_id": None} == {
        "object": "bayesgate.feedback", "decision_id": None, "route": "auto", "class": "code",
        "model": model, "score": 0.0, "weight": 5.0}
    again = _http(first).post("/v1/feedback", json={"decision_id": decision, "thumbs": "up"})
    assert again.status_code == 409 and again.json()["error"]["code"] == \
        "feedback_already_applied"
    _synced(fleet)
    for gw, (route_before, class_before) in zip(fleet, before, strict=True):
        assert _cell(gw, "auto", model) == pytest.approx(
            (route_before[0], route_before[1] + 5.0))  # a score of 0 at weight 5: beta + 5
        assert _cell(gw, "auto#code", model) == pytest.approx(
            (class_before[0], class_before[1] + 5.0))


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"decision_id": "nope", "score": 1}, 404, "decision_not_found"),
    ({"score": 1}, 404, "decision_not_found"),
    ({"decision_id": "FORGED", "score": 1}, 404, "decision_not_found"),
    ({"decision_id": "OWN", "score": 2}, 400, None),
    ({"decision_id": "OWN", "score": "maybe"}, 400, None),
    ({"decision_id": "OWN"}, 400, None),
    ({"decision_id": "OWN", "valid": True, "latency_ms": -1}, 400, None),
    ({"decision_id": "OWN", "score": 1, "model": "nobody"}, 400, None),
    ({"decision_id": "OLD", "score": 1}, 410, "decision_expired"),
    ({"decision_id": "OTHERS", "score": 1}, 403, "decision_forbidden"),
])
def test_bad_feedback_is_a_clear_4xx(fleet: list[GatewayThread], body: dict[str, object],
                                     status: int, code: str | None) -> None:
    gw = fleet[0]
    decisions = gw.gateway.live.decisions
    tokens = {
        "OWN": decisions.issue("n1", Decision("auto", "chat", "cheap", "app", int(time.time()))),
        "OLD": decisions.issue("n2", Decision("auto", "chat", "cheap", "app",
                                              int(time.time()) - 31)),
        "OTHERS": decisions.issue("n3", Decision("auto", "chat", "cheap", "other",
                                                 int(time.time()))),
        # signed with another fleet's key
        "FORGED": Decisions(["another-secret"]).issue("n4", Decision(
            "auto", "chat", "cheap", "app", int(time.time()))),
    }
    if body.get("decision_id") in tokens:
        body = {**body, "decision_id": tokens[str(body["decision_id"])]}
    r = _http(gw).post("/v1/feedback", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    if status == 400:  # nothing was claimed: the same decision can still be rated
        ok = _http(gw).post("/v1/feedback", json={"decision_id": tokens["OWN"], "score": 1})
        assert ok.status_code in (200, 409)


def test_route_decides_without_calling_and_telemetry_feedback_scores_it(
        fleet: list[GatewayThread]) -> None:
    first, second = fleet
    answered_before = sum(first.gateway.stats.counters("auto", m).answers
                          for m in ("cheap", "premium"))
    r = _http(first).post("/v1/route", json={
        "model": "auto", "messages": [{"role": "user", "content": "hello"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]})
    assert r.status_code == 200, r.text
    decision = r.json()
    assert decision["object"] == "bayesgate.route_decision" and decision["class"] == "tools"
    assert decision["model"] in ("cheap", "premium")
    assert [f["model"] for f in decision["fallbacks"]] == \
        [m for m in ("cheap", "premium") if m != decision["model"]]
    assert decision["expected_cost_usd"] >= 0
    assert sum(first.gateway.stats.counters("auto", m).answers
               for m in ("cheap", "premium")) == answered_before  # no upstream was called
    _synced(fleet)
    fallback = decision["fallbacks"][0]["model"]
    before = _cell(second, "auto#tools", fallback)
    telemetry = {"decision_id": decision["decision_id"], "model": fallback, "valid": True,
                 "latency_ms": 2500, "retried": False}
    r = _http(second).post("/v1/feedback", json=telemetry)
    assert r.status_code == 200, r.text
    expected = reward(Outcome(True, 2500.0), first.gateway.config.routes["auto"].reward)
    assert r.json()["score"] == pytest.approx(expected, abs=1e-6) and r.json()["weight"] == 1
    _synced(fleet)
    after = _cell(first, "auto#tools", fallback)
    assert after == pytest.approx((before[0] + expected, before[1] + 1 - expected))


def test_route_refuses_models_and_unknown_names(fleet: list[GatewayThread]) -> None:
    http = _http(fleet[0])
    body = {"messages": [{"role": "user", "content": "x"}]}
    assert http.post("/v1/route", json={**body, "model": "cheap"}).status_code == 400
    assert http.post("/v1/route", json={**body, "model": "nope"}).status_code == 404
    assert http.post("/v1/route", content=b"{oops").status_code == 400
    assert httpx.post(f"{fleet[0].url}/v1/route", json={**body, "model": "auto"}).status_code \
        == 401
