"""Upstream adapters behind one Protocol (`providers.base.Provider`).

    openai      direct pass-through to any OpenAI-compatible API over one pooled aiohttp session
    litellm     every other provider, translated by LiteLLM (imported only when configured)
    simulated   in-process fake models for the default config, demos and load tests

`PROVIDERS` is the registry: a config's `providers.NAME.type` -> "module:class", imported only
when a provider of that type is built (so LiteLLM is never imported unless configured). Adding a
provider is one module and one line here. `providers` never imports `gateway`: a provider is
built from plain `Settings` and a `Context`.
"""

from __future__ import annotations

import importlib
from typing import Any

from providers.base import Context, Provider, Settings

PROVIDERS: dict[str, str] = {
    "openai": "providers.openai:OpenAIProvider",
    "litellm": "providers.litellm:LiteLLMProvider",
    "simulated": "providers.simulated:SimulatedProvider",
}


def provider_class(type_name: str) -> Any:
    """The class registered for `type_name`, imported now; KeyError for an unknown type."""
    module, _, attr = PROVIDERS[type_name].partition(":")
    return getattr(importlib.import_module(module), attr)


def create(type_name: str, settings: Settings, context: Context) -> Provider:
    provider: Provider = provider_class(type_name).from_settings(settings, context)
    return provider
