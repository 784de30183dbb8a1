"""The `litellm` provider end to end: LiteLLM translates the call (here to its OpenAI
adapter) and the gateway relays the answer, streaming included."""

from __future__ import annotations

import openai
import pytest
from support.gateway import GatewayThread
from support.upstream import Behavior, FakeUpstream

pytest.importorskip("litellm")


def test_litellm_provider_answers_and_streams(upstream: FakeUpstream) -> None:
    gw = GatewayThread(f"""
providers:
  lite: {{type: litellm, base_url: "{upstream.url}", api_key: sk-lite-upstream-key}}
models:
  via-lite: {{provider: lite, upstream_name: openai/lite-model,
             cost: {{input_per_mtok: 1, output_per_mtok: 1}}}}
routes:
  auto: {{candidates: [via-lite]}}
""").start()
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key="client-key", max_retries=0)
        answer = client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}])
        assert answer.model == "via-lite"
        assert answer.choices[0].message.content == "Hello from the fake upstream."
        seen = upstream.requests[-1]
        assert seen.model == "lite-model"  # LiteLLM stripped its provider prefix
        assert seen.headers["authorization"] == "Bearer sk-lite-upstream-key"
        chunks = list(client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}], stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text.strip() == "Hello from the fake upstream."
        assert {c.model for c in chunks} == {"via-lite"}
        upstream.behaviors["lite-model"] = Behavior(error_rate=1.0, status=503)
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="auto",
                                           messages=[{"role": "user", "content": "x"}])
        assert info.value.status_code == 502
        assert "sk-lite-upstream-key" not in info.value.response.text
        gw.settle()
        assert gw.gateway.store.observations("auto", "via-lite") >= 3
    finally:
        gw.stop()


def test_litellm_provider_embeds(upstream: FakeUpstream) -> None:
    gw = GatewayThread(f"""
providers:
  lite: {{type: litellm, base_url: "{upstream.url}", api_key: sk-lite-upstream-key}}
models:
  lite-embed: {{provider: lite, upstream_name: openai/embed-model,
               cost: {{input_per_mtok: 0.02, output_per_mtok: 0}}}}
routes:
  vectors: {{candidates: [lite-embed]}}
""").start()
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key="client-key", max_retries=0)
        answer = client.embeddings.create(model="vectors", input=["one", "two"])
        assert answer.model == "lite-embed"
        assert [d.embedding for d in answer.data] == [[0.1, 0.2, 0.3]] * 2
        seen = upstream.requests[-1]
        assert seen.model == "embed-model" and seen.body["input"] == ["one", "two"]
        assert seen.headers["authorization"] == "Bearer sk-lite-upstream-key"
        gw.settle()
        assert gw.gateway.store.observations("vectors", "lite-embed") == 1
    finally:
        gw.stop()
