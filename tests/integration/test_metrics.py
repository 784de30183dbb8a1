"""/metrics (parsed by prometheus-client's own parser), /stats, the admin keys and the request
log line, against a real server, a fake upstream and the official openai SDK."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.gateway import GatewayThread
from support.upstream import FakeUpstream, prompt_tokens

from gateway.config import LoggingConfig
from gateway.ops import logs

KEY = "client-key-0123456789"
ADMIN = "admin-key-9876543210"

# Every family DESIGN.md names (counters are parsed without their _total suffix).
FAMILIES = {
    "bayesgate_requests": "counter", "bayesgate_request_duration_seconds": "histogram",
    "bayesgate_ttft_seconds": "histogram", "bayesgate_overhead_seconds": "histogram",
    "bayesgate_selections": "counter", "bayesgate_posterior_mean": "gauge",
    "bayesgate_reward": "histogram", "bayesgate_circuit_state": "gauge",
    "bayesgate_shadow_requests": "counter", "bayesgate_shadow_dropped": "counter",
    "bayesgate_shadow_promotion_probability": "gauge",
    "bayesgate_store_sync_errors": "counter", "bayesgate_store_sync_lag_seconds": "gauge",
    "bayesgate_tokens": "counter", "bayesgate_cost_usd": "counter",
}


def config(upstream_url: str, admin: bool = False, *, admin_open: bool = False) -> str:
    keys = f'admin_keys: {{ops: "{ADMIN}"}}' if admin else ""
    keys += "admin_open: true" if admin_open else ""
    return f"""
server: {{api_keys: {{app: "{KEY}"}}, {keys}}}
providers: {{up: {{type: openai, base_url: "{upstream_url}"}}}}
models:
  cheap: {{provider: up, cost: {{input_per_mtok: 1, output_per_mtok: 2}}}}
  pricey: {{provider: up, cost: {{input_per_mtok: 10, output_per_mtok: 30}}}}
  ghost: {{provider: up, cost: {{input_per_mtok: 1, output_per_mtok: 1}}}}
routes:
  auto: {{candidates: [cheap, pricey], shadow: {{candidates: [ghost], rate: 0}}}}
"""


@pytest.fixture
def gw(upstream: FakeUpstream) -> Iterator[GatewayThread]:
    server = GatewayThread(config(upstream.url)).start()
    yield server
    server.stop()


PROMPT = prompt_tokens({"messages": [{"content": "top secret question 1"}]})


def traffic(gw: GatewayThread, n: int = 12) -> list[str]:
    client = openai.OpenAI(base_url=gw.base_url, api_key=KEY, max_retries=0)
    decisions = []
    for i in range(n):
        messages = [{"role": "user", "content": f"top secret question {i}"}]
        if i % 3 == 0:
            chunks = list(client.chat.completions.create(
                model="auto", messages=messages, stream=True,  # type: ignore[arg-type]
                stream_options={"include_usage": True}))
            assert chunks
        else:
            raw = client.chat.completions.with_raw_response.create(
                model="auto", messages=messages)  # type: ignore[arg-type]
            decisions.append(raw.headers["x-bayesgate-decision"])
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    gw.settle()
    return decisions


def scrape(gw: GatewayThread, **kw: object) -> dict[str, object]:
    kw.setdefault("headers", {"authorization": f"Bearer {KEY}"})  # the API keys guard it
    resp = httpx.get(f"{gw.url}/metrics", **kw)  # type: ignore[arg-type]
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(resp.text)}


def samples(family: object, name: str | None = None) -> list[tuple[dict[str, str], float]]:
    return [(s.labels, s.value) for s in family.samples  # type: ignore[attr-defined]
            if name is None or s.name == name]


def test_every_family_is_exported(gw: GatewayThread) -> None:
    traffic(gw)
    families = scrape(gw)
    for name, kind in FAMILIES.items():
        assert name in families, name
        assert families[name].type == kind, name  # type: ignore[attr-defined]

    ok = {tuple(sorted(lbl.items())): v
          for lbl, v in samples(families["bayesgate_requests"], "bayesgate_requests_total")}
    answered = sum(v for k, v in ok.items() if ("status", "200") in k)
    assert answered == 12
    assert ok[(("door", "chat"), ("model", ""), ("route", ""), ("status", "404"))] == 1
    assert {dict(k)["door"] for k in ok} == {"chat"}

    def count(name: str) -> float:
        return sum(v for _, v in samples(families[name], name + "_count"))

    assert count("bayesgate_request_duration_seconds") == 12
    assert count("bayesgate_ttft_seconds") == 4  # the streams
    assert count("bayesgate_overhead_seconds") == 12
    assert count("bayesgate_reward") == 12
    assert sum(v for _, v in samples(families["bayesgate_selections"])) == 12
    means = samples(families["bayesgate_posterior_mean"])
    assert {lbl["model"] for lbl, _ in means} == {"cheap", "pricey", "ghost"}
    assert all(0 < v < 1 for _, v in means)
    circuit = {(lbl["model"], lbl["state"]): v
               for lbl, v in samples(families["bayesgate_circuit_state"])}
    assert circuit[("cheap", "closed")] == 1 and circuit[("cheap", "open")] == 0
    assert samples(families["bayesgate_shadow_requests"]) == [
        ({"route": "auto", "model": "ghost"}, 0.0)]
    assert samples(families["bayesgate_shadow_dropped"]) == [({"route": "auto"}, 0.0)]
    assert all(0 <= v <= 1 and lbl["model"] == "ghost" for lbl, v in
               samples(families["bayesgate_shadow_promotion_probability"]))
    assert samples(families["bayesgate_store_sync_errors"]) == [({}, 0.0)]
    assert samples(families["bayesgate_store_sync_lag_seconds"]) == [({}, 0.0)]
    tokens = samples(families["bayesgate_tokens"])
    assert sum(v for lbl, v in tokens if lbl["kind"] == "completion") > 0
    assert sum(v for _, v in samples(families["bayesgate_cost_usd"])) > 0


def test_stats_full_picture(gw: GatewayThread) -> None:
    traffic(gw)
    doc = httpx.get(f"{gw.url}/stats", headers={"authorization": f"Bearer {KEY}"}).json()
    route = doc["routes"]["auto"]
    for name in ("cheap", "pricey"):
        m = route["models"][name]
        lo, hi = m["interval_95"]
        assert 0 <= lo < m["mean"] < hi <= 1
        assert set(m) >= {"alpha", "beta", "mean", "selections", "share", "circuit", "shadow",
                          "cost_usd", "reward_recent", "latency_ms", "failures"}
        assert m["circuit"] == "closed" and m["shadow"] is False
    assert route["models"]["ghost"]["shadow"] is True
    assert sum(route["models"][m]["selections"] for m in ("cheap", "pricey")) == 12
    assert sum(route["models"][m]["share"] for m in ("cheap", "pricey")) == pytest.approx(1)
    served = [m for m in ("cheap", "pricey") if route["models"][m]["answers"]]
    assert all(route["models"][m]["reward_recent"] > 0.5 for m in served)
    assert all(route["models"][m]["latency_ms"]["p50"] > 0 for m in served)
    cost = route["cost"]
    assert cost["baseline_model"] == "pricey"
    spent = sum(route["models"][m]["cost_usd"] for m in ("cheap", "pricey"))
    assert cost["spent_usd"] == pytest.approx(spent)
    assert cost["saved_usd"] == pytest.approx(cost["baseline_usd"] - cost["spent_usd"])
    assert cost["saved_usd"] >= 0


def test_admin_keys_guard_the_admin_surface(upstream: FakeUpstream) -> None:
    gw = GatewayThread(config(upstream.url, admin=True)).start()
    try:
        basic = "Basic " + base64.b64encode(f"ops:{ADMIN}".encode()).decode()
        for path in ("/stats", "/metrics", "/dashboard", "/dashboard/data",
                     "/dashboard/static/dashboard.js"):
            denied = httpx.get(gw.url + path)
            assert denied.status_code == 401, path
            assert denied.json()["error"]["type"] == "authentication_error"
            assert denied.headers["www-authenticate"].startswith("Basic")
            # a client key is not an admin key
            assert httpx.get(gw.url + path, headers={"authorization": f"Bearer {KEY}"}
                             ).status_code == 401
            for auth in (f"Bearer {ADMIN}", basic):
                assert httpx.get(gw.url + path, headers={"authorization": auth}
                                 ).status_code == 200, (path, auth)
        for path in ("/healthz", "/readyz"):
            assert httpx.get(gw.url + path).status_code == 200
    finally:
        gw.stop()


@pytest.mark.parametrize("admin_open", [False, True])
def test_without_admin_keys_the_api_keys_guard_the_admin_surface(
        upstream: FakeUpstream, admin_open: bool) -> None:
    """It was open to anyone whenever admin_keys was unset, even with api_keys set."""
    gw = GatewayThread(config(upstream.url, admin_open=admin_open)).start()
    try:
        for path in ("/stats", "/metrics", "/dashboard", "/dashboard/data"):
            anonymous = httpx.get(gw.url + path)
            assert anonymous.status_code == (200 if admin_open else 401), path
            assert httpx.get(gw.url + path, headers={"authorization": "Bearer wrong-key"}
                             ).status_code == (200 if admin_open else 401), path
            assert httpx.get(gw.url + path, headers={"authorization": f"Bearer {KEY}"}
                             ).status_code == 200, path
    finally:
        gw.stop()


def test_one_json_log_line_per_request(gw: GatewayThread) -> None:
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    listener = logs.configure(LoggingConfig(level="info", format="json"), stream=out)
    try:
        decisions = traffic(gw)
    finally:
        listener.stop()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    text = out.getvalue()
    assert "top secret question" not in text and KEY not in text
    lines = [json.loads(line) for line in text.splitlines()]
    requests = [line for line in lines if line.get("event") == "request"]
    assert len(requests) == 13  # 12 answers and one 404
    by_decision = {line["decision"]: line for line in requests}
    for decision in decisions:
        line = by_decision[decision]
        assert line["route"] == "auto" and line["model"] in ("cheap", "pricey")
        assert line["status"] == 200 and line["caller"] == "app"
        assert 0 <= line["reward"] <= 1 and line["latency_ms"] > 0
        # "top secret question N": the fake upstream counts 1.3 tokens a word + 3 a message
        assert line["prompt_tokens"] == PROMPT and line["completion_tokens"] == 7
        assert line["cost_usd"] > 0 and line["overhead_ms"] >= 0
    streams = [line for line in requests if line["stream"]]
    assert len(streams) == 4 and all(line["ttft_ms"] > 0 for line in streams)
    assert [line["status"] for line in requests if line["status"] != 200] == [404]
