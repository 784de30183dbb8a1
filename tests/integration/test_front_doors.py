"""Every front door is one pipeline: a request through /v1/responses or /v1/messages moves the
same posteriors, shadow copies, counters and metrics as the equivalent chat request."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest
from support.gateway import GatewayThread

KEY = "gw-doors-key-123456"


def config() -> str:
    sim = "simulate: {latency_ms: 5, jitter_ms: 0, output_tokens: 10, chunks: 3}"
    return f"""
server: {{api_keys: ["{KEY}"]}}
providers: {{sim: {{type: simulated}}}}
models:
  m-live: {{provider: sim, {sim}}}
  m-new: {{provider: sim, {sim}}}
routes:
  auto: {{candidates: [m-live], decay: {{half_life_s: null}},
          shadow: {{candidates: [m-new], rate: 1.0}}}}
"""


@pytest.fixture
def gw() -> Iterator[GatewayThread]:
    server = GatewayThread(config()).start()
    yield server
    server.stop()


def totals(gw: GatewayThread) -> dict[str, float]:
    posts = gw.gateway.store.snapshot("auto")
    return {m: posts[m].alpha + posts[m].beta if m in posts else 2.0 for m in ("m-live", "m-new")}


def settle(gw: GatewayThread, shadow_answers: int) -> None:
    """Until the shadow copies are answered (each is mirrored just after its answer's last
    byte, so the client can be faster) and everything is learned."""
    deadline = time.monotonic() + 10
    counters = gw.gateway.shadow.counters
    while counters.get(("auto", "m-new")) is None or \
            counters[("auto", "m-new")].answers < shadow_answers:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    gw.settle()


def chat(gw: GatewayThread, stream: bool) -> None:
    client = openai.OpenAI(base_url=gw.base_url, api_key=KEY, max_retries=0)
    messages = [{"role": "user", "content": "hi"}]
    if stream:
        assert "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="auto", messages=messages, stream=True) if c.choices)  # type: ignore[arg-type]
    else:
        assert client.chat.completions.create(model="auto", messages=messages  # type: ignore
                                              ).choices[0].message.content


def responses(gw: GatewayThread, stream: bool) -> None:
    client = openai.OpenAI(base_url=gw.base_url, api_key=KEY, max_retries=0)
    if stream:
        events = list(client.responses.create(model="auto", input="hi", stream=True))
        assert events[-1].type == "response.completed"
    else:
        assert client.responses.create(model="auto", input="hi").output_text


def messages(gw: GatewayThread, stream: bool) -> None:
    client = anthropic.Anthropic(base_url=gw.url, api_key=KEY, max_retries=0)
    hi = [{"role": "user", "content": "hi"}]
    if stream:
        with client.messages.stream(model="auto", max_tokens=50, messages=hi) as s:
            assert "".join(s.text_stream)
    else:
        assert client.messages.create(model="auto", max_tokens=50, messages=hi).content


def test_every_door_moves_the_same_learning_and_metrics(gw: GatewayThread) -> None:
    doors = {"chat": chat, "responses": responses, "messages": messages}
    moved = {}
    for done, (name, ask) in enumerate(doors.items(), start=1):
        before = totals(gw)
        for stream in (False, True, False, True):
            ask(gw, stream)
        settle(gw, 4 * done)
        after = totals(gw)
        moved[name] = {m: round(after[m] - before[m], 9) for m in after}
    # Each answer is one observation for the live model, and its shadow copy one for m-new.
    assert moved == {door: {"m-live": 4.0, "m-new": 4.0} for door in doors}
    live = gw.gateway.stats.counters("auto", "m-live")
    assert dict(live.doors) == {"chat": 4, "responses": 4, "messages": 4}
    assert live.selections == 12 and live.answers == 12 and live.invalid == 0
    assert min(live.rewards) > 0.9  # valid, fast answers score alike through every door
    assert gw.gateway.shadow.counters[("auto", "m-new")].answers == 12
    stats = httpx.get(f"{gw.url}/stats", headers={"authorization": f"Bearer {KEY}"}).json()
    assert stats["doors"] == {"chat": 4, "responses": 4, "messages": 4}
    assert stats["routes"]["auto"]["models"]["m-live"]["doors"] == stats["doors"]
    metrics = httpx.get(f"{gw.url}/metrics", headers={"authorization": f"Bearer {KEY}"}).text
    for door in doors:
        assert (f'bayesgate_requests_total{{door="{door}",model="m-live",route="auto",'
                f'status="200"}} 4.0') in metrics


def test_models_retrieve(gw: GatewayThread) -> None:
    client = openai.OpenAI(base_url=gw.base_url, api_key=KEY, max_retries=0)
    assert client.models.retrieve("auto").owned_by == "bayesgate-route"
    assert client.models.retrieve("m-new").id == "m-new"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-nope")
    assert "'gpt-nope' does not exist" in caught.value.message
