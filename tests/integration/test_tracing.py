"""OpenTelemetry traces reach a real OTLP/HTTP receiver: one SERVER span per request with the
GenAI semantic-convention attributes, a CLIENT span per upstream attempt, the client's
traceparent continued, and no message content or key anywhere in what is exported."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest
from support.gateway import GatewayThread
from support.otlp import OtlpReceiver, Span
from support.upstream import Behavior, FakeUpstream

KEY = "gw-trace-key-0123456789"
UPSTREAM_KEY = "sk-trace-upstream-abcdef0123456789"
SECRET = "the secret prompt text 4417"
TRACE_ID, PARENT_ID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
SERVER, CLIENT = 2, 3  # SpanKind in OTLP's protobuf
ERROR = 2  # Status.code


def _config(upstream: str, receiver: str) -> str:
    return f"""
server: {{api_keys: {{app: "{KEY}"}}}}
telemetry: {{enabled: true, endpoint: "{receiver}", service_name: bayesgate-test}}
providers: {{up: {{type: openai, base_url: "{upstream}", api_key: "{UPSTREAM_KEY}"}}}}
models:
  broken: {{provider: up, upstream_name: broken-up, prior: {{alpha: 50, beta: 1}}}}
  good: {{provider: up, upstream_name: good-up}}
  ghost: {{provider: up, upstream_name: ghost-up}}
routes:
  auto: {{candidates: [broken, good], cost_weight: 0, decay: {{half_life_s: null}},
          breaker: {{consecutive_failures: 100, min_requests: 1000}},
          shadow: {{candidates: [ghost], rate: 1}}}}
"""


@pytest.fixture
def spans() -> list[Span]:
    receiver = OtlpReceiver().start()
    fake = FakeUpstream(behaviors={"broken-up": Behavior(error_rate=1.0, status=500),
                                   "good-up": Behavior(), "ghost-up": Behavior()}).start()
    gw = GatewayThread(_config(fake.url, receiver.endpoint)).start()
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key=KEY, max_retries=0)
        messages = [{"role": "user", "content": SECRET}]
        client.chat.completions.create(
            model="auto", messages=messages, temperature=0.3, max_tokens=50,
            extra_headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
        for _ in client.chat.completions.create(model="good", messages=messages, stream=True):
            pass
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model="broken", messages=messages)
        deadline = time.monotonic() + 5
        while not (fake.count("ghost-up") and gw.gateway.shadow.in_flight["auto"] == 0):
            assert time.monotonic() < deadline, "the shadow copy did not finish"
            time.sleep(0.01)
    finally:
        gw.stop()  # shuts the tracer down: what is queued is exported now
        fake.stop()
    receiver.stop()
    for body in receiver.raw:
        for secret in (SECRET, KEY, UPSTREAM_KEY):
            assert secret.encode() not in body
    return receiver.spans


def test_a_routed_request_and_its_attempts(spans: list[Span]) -> None:
    [server] = [s for s in spans if s.kind == SERVER and s.name == "chat auto"]
    assert (server.trace_id, server.parent_span_id) == (TRACE_ID, PARENT_ID)  # continued
    assert server.resource["service.name"] == "bayesgate-test"
    a = server.attributes
    assert {k: a[k] for k in ("gen_ai.operation.name", "gen_ai.request.model",
                              "gen_ai.response.model", "gen_ai.provider.name",
                              "gen_ai.response.finish_reasons", "bayesgate.route",
                              "bayesgate.attempts", "bayesgate.shadow", "bayesgate.door",
                              "http.response.status_code", "gen_ai.request.temperature",
                              "gen_ai.request.max_tokens")} == {
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "auto",
        "gen_ai.response.model": "good", "gen_ai.provider.name": "openai",
        "gen_ai.response.finish_reasons": ["stop"], "bayesgate.route": "auto",
        "bayesgate.attempts": 2, "bayesgate.shadow": False, "bayesgate.door": "chat",
        "http.response.status_code": 200, "gen_ai.request.temperature": 0.3,
        "gen_ai.request.max_tokens": 50}
    assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
    assert len(a["bayesgate.decision_id"]) >= 16 and "bayesgate.class" in a
    # The candidates in the policy's order, each with the utility it drew: the order tried.
    assert a["bayesgate.candidates"] == ["broken", "good"]
    scores = a["bayesgate.sampled_scores"]
    assert len(scores) == 2 and scores[0] >= scores[1] and all(-10 < u < 10 for u in scores)
    assert server.status_code != ERROR
    attempts = sorted((s for s in spans if s.kind == CLIENT
                       and s.parent_span_id == server.span_id),
                      key=lambda s: s.attributes["bayesgate.attempt"])
    assert [s.name for s in attempts] == ["chat broken-up", "chat good-up"]
    assert all(s.trace_id == TRACE_ID for s in attempts)
    failed, answered = attempts
    assert failed.status_code == ERROR and failed.attributes["error.type"] == "UpstreamStatus"
    assert failed.attributes["http.response.status_code"] == 500
    assert answered.status_code != ERROR and "error.type" not in answered.attributes
    assert answered.attributes["gen_ai.request.model"] == "good-up"


def test_a_stream_and_a_failed_request(spans: list[Span]) -> None:
    [stream] = [s for s in spans if s.kind == SERVER and s.name == "chat good"]
    assert stream.attributes["bayesgate.stream"] is True
    assert stream.attributes["gen_ai.usage.output_tokens"] > 0  # from the usage chunk
    assert stream.trace_id != TRACE_ID and stream.parent_span_id == ""  # a new trace
    [failed] = [s for s in spans if s.kind == SERVER and s.name == "chat broken"]
    assert failed.status_code == ERROR
    assert failed.attributes["http.response.status_code"] == 502
    assert failed.attributes["error.type"] == "upstream_failed"
    children = [s for s in spans if s.parent_span_id == failed.span_id]
    assert len(children) == 2 and all(c.status_code == ERROR for c in children)  # one retry


def test_a_shadow_copy_has_a_trace_of_its_own(spans: list[Span]) -> None:
    [copy] = [s for s in spans if s.attributes.get("bayesgate.shadow") is True]
    assert copy.name == "chat ghost" and copy.kind == 1  # INTERNAL
    assert copy.trace_id != TRACE_ID and copy.parent_span_id == ""  # not in the client's trace
    assert copy.attributes["gen_ai.response.model"] == "ghost"
    assert copy.attributes["bayesgate.door"] == "shadow"
    [attempt] = [s for s in spans if s.parent_span_id == copy.span_id]
    assert attempt.name == "chat ghost-up" and attempt.status_code != ERROR
    assert all(not s.attributes.get("bayesgate.shadow") for s in spans if s is not copy
               and s.kind == SERVER)


def test_with_telemetry_off_the_sdk_is_never_imported() -> None:
    """Off by default, and then free: a gateway answers without loading OpenTelemetry."""
    script = """
import sys
from support.gateway import GatewayThread
import httpx
gw = GatewayThread("providers: {sim: {type: simulated}}\\nmodels: {m: {provider: sim}}").start()
r = httpx.post(gw.base_url + "/chat/completions", json={"model": "m", "messages": [
    {"role": "user", "content": "hi"}]})
gw.stop()
assert r.status_code == 200, r.text
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, cwd=root, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                             [str(root), str(root / "tests")])})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
