"""Good enough for this request, end to end through HTTP with the official SDK: a route over a
cheap and a premium model where the cheap one breaks most tool calls and rarely anything else.
After a warm-up each kind of request goes mostly to the model that is good enough for it, and
validity on tool requests comes close to the premium model's. Three API keys share the traffic
(the default caller-share bound then lets all of it count).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import httpx
import openai
import pytest
from support.gateway import GatewayThread

KEYS = {"team-a": "gw-ctx-a-0123456789", "team-b": "gw-ctx-b-0123456789",
        "team-c": "gw-ctx-c-0123456789"}
TOOLS = [{"type": "function", "function": {
    "name": "weather", "parameters": {"type": "object", "required": ["city"],
                                      "properties": {"city": {"type": "string"}}}}}]


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayThread]:
    keys = ", ".join(f"{name}: {key}" for name, key in KEYS.items())
    server = GatewayThread(f"""
server: {{api_keys: {{{keys}}}}}
providers: {{sim: {{type: simulated}}}}
models:
  cheap: {{provider: sim, cost: {{input_per_mtok: 0.15, output_per_mtok: 0.6}},
          simulate: {{latency_ms: 5, jitter_ms: 1, error_rate: 0, invalid_rate: 0.02,
                      tool_invalid_rate: 0.7}}}}
  premium: {{provider: sim, cost: {{input_per_mtok: 5, output_per_mtok: 15}},
            simulate: {{latency_ms: 5, jitter_ms: 1, error_rate: 0, invalid_rate: 0,
                        tool_invalid_rate: 0}}}}
routes:
  auto: {{candidates: [cheap, premium], fallback: cheap}}
""", seed=7).start()
    yield server
    server.stop()


def _ask(clients: list[openai.OpenAI], i: int, *, tools: bool) -> tuple[str, str, bool]:
    """(model, class, valid) of one request."""
    client = clients[i % len(clients)]
    if tools:
        raw = client.chat.completions.with_raw_response.create(
            model="auto", tools=TOOLS, tool_choice="required",
            messages=[{"role": "user", "content": f"weather in city {i}?"}])
        calls = raw.parse().choices[0].message.tool_calls or []
        try:
            valid = bool(calls) and isinstance(json.loads(calls[0].function.arguments), dict)
        except json.JSONDecodeError:
            valid = False
    else:
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": f"hi number {i}"}])
        valid = bool(raw.parse().choices[0].message.content)
    return raw.headers["x-bayesgate-model"], raw.headers["x-bayesgate-class"], valid


def test_each_kind_of_request_goes_to_the_model_good_enough_for_it(gw: GatewayThread) -> None:
    clients = [openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
               for key in KEYS.values()]
    for i in range(240):  # warm-up: one tool request in three
        _ask(clients, i, tools=i % 3 == 0)
    served: dict[str, Counter[str]] = {"tools": Counter(), "chat": Counter()}
    valid: Counter[str] = Counter()
    for i in range(300):
        tools = i % 3 == 0
        model, cls, ok = _ask(clients, 1000 + i, tools=tools)
        assert cls == ("tools" if tools else "chat")
        served[cls][model] += 1
        valid[cls] += ok
    tool_requests, chat_requests = sum(served["tools"].values()), sum(served["chat"].values())
    print(f"\n  tools -> {dict(served['tools'])}, valid {valid['tools']}/{tool_requests}"
          f"\n  chat  -> {dict(served['chat'])}, valid {valid['chat']}/{chat_requests}")
    assert served["tools"]["premium"] >= 0.8 * tool_requests
    assert served["chat"]["cheap"] >= 0.8 * chat_requests
    # The premium model breaks no tool call: validity on tools within 10 points of it.
    assert valid["tools"] >= 0.9 * tool_requests
    stats = httpx.get(f"{gw.url}/stats",
                      headers={"authorization": f"Bearer {KEYS['team-a']}"}).json()
    classes = stats["routes"]["auto"]["classes"]
    assert classes["tools"]["models"]["cheap"]["mean"] < classes["chat"]["models"]["cheap"]["mean"]
    assert classes["tools"]["requests"] >= 180 and classes["chat"]["requests"] >= 360
    metrics = httpx.get(f"{gw.url}/metrics",
                        headers={"authorization": f"Bearer {KEYS['team-a']}"}).text
    assert 'bayesgate_class_selections_total{class="tools",model="premium",route="auto"}' \
        in metrics


def test_a_client_may_state_the_class(gw: GatewayThread) -> None:
    http = httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {KEYS['team-a']}"})
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    stated = http.post("/v1/chat/completions", json=body, headers={"x-bayesgate-class": "code"})
    assert stated.status_code == 200 and stated.headers["x-bayesgate-class"] == "code"
    wrong = http.post("/v1/chat/completions", json=body, headers={"x-bayesgate-class": "nope"})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["param"] == "x-bayesgate-class"
    named = http.post("/v1/chat/completions", json={**body, "model": "cheap"})
    assert "x-bayesgate-class" not in named.headers  # a named model: no class decided
