"""providers.litellm: what LiteLLM is given comes from the config, never from the client.

The body reaching `_kwargs` has already been through chat.parse_request, but the provider is
the last line: only OpenAI chat parameters pass, and api_base / api_key / extra_headers are
the configured ones (or absent), whatever the body says.
"""

from __future__ import annotations

from providers.litellm import LiteLLMProvider

HOSTILE = {
    "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
    "api_base": "http://evil.example", "base_url": "http://evil.example",
    "api_key": "sk-evil-000000000", "extra_headers": {"x-evil": "1"}, "headers": {"a": "b"},
    "custom_llm_provider": "openai", "mock_response": "pwned", "litellm_params": {"x": 1},
    "metadata": {"x": 1}, "callbacks": ["x"], "litellm_logging_obj": "x", "num_retries": 99,
    "timeout": 9999, "model": "evil-model", "azure_ad_token": "t", "api_version": "1",
    "aws_access_key_id": "AKIAEVIL", "vertex_credentials": "{}", "fallbacks": ["evil"],
}


def test_configured_values_win_and_the_rest_is_dropped() -> None:
    provider = LiteLLMProvider(api_key="sk-configured-1234567", base_url="https://real.example",
                               timeout_s=12, headers={"x-org": "configured"})
    kwargs = provider._kwargs(dict(HOSTILE), "anthropic/claude-3-5-haiku-latest")
    assert kwargs == {
        "messages": HOSTILE["messages"], "temperature": 0.2, "tools": HOSTILE["tools"],
        "model": "anthropic/claude-3-5-haiku-latest", "timeout": 12, "num_retries": 0,
        "api_key": "sk-configured-1234567", "api_base": "https://real.example",
        "extra_headers": {"x-org": "configured"},
    }


def test_nothing_configured_means_nothing_passed() -> None:
    kwargs = LiteLLMProvider()._kwargs(dict(HOSTILE), "gemini/gemini-2.0-flash")
    assert not {"api_key", "api_base", "base_url", "extra_headers", "headers"} & kwargs.keys()
    assert kwargs["model"] == "gemini/gemini-2.0-flash"
