"""Upstream adapters behind one Protocol (`providers.base.Provider`).

    openai      direct pass-through to any OpenAI-compatible API over one pooled aiohttp session
    litellm     every other provider, translated by LiteLLM (imported only when configured)
    simulated   in-process fake models for the default config, demos and load tests

`providers` never imports `gateway`: the gateway builds providers from plain keyword arguments.
"""
