"""Providers, and with them their connection pools, outlive a reload that leaves them as they
were: each generation acquires the providers its config names, the pool hands back the running
instance when the provider's settings (and, for simulated providers, its models) are unchanged,
and a provider is closed when the last generation using it has stopped."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import providers
from gateway.config import Config, ProviderConfig
from providers.base import Context, Provider
from providers.simulated import SimModel


@dataclass
class _Entry:
    spec: ProviderConfig
    simulated: dict[str, SimModel]
    provider: Provider
    users: int = 0
    started: bool = False


class ProviderPool:
    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._entries: list[_Entry] = []

    def acquire(self, config: Config) -> dict[str, Provider]:
        """The providers of `config` by name: running ones where nothing changed, else new
        (not yet started: see `start`)."""
        acquired: dict[str, Provider] = {}
        for name, spec in config.providers.items():
            # Only a simulated provider's instance depends on its models (their dice).
            simulated = {m.upstream_name: m.simulate for m in config.models.values()
                         if m.provider == name} if spec.type == "simulated" else {}
            entry = next((e for e in self._entries
                          if e.spec == spec and e.simulated == simulated), None)
            if entry is None:
                provider = providers.create(spec.type, spec,
                                            Context(rng=self._rng, simulated=simulated))
                entry = _Entry(spec, simulated, provider)
                self._entries.append(entry)
            entry.users += 1
            acquired[name] = entry.provider
        return acquired

    async def start(self, acquired: dict[str, Provider]) -> None:
        for entry in self._entries:
            if not entry.started and any(entry.provider is p for p in acquired.values()):
                await entry.provider.start()
                entry.started = True

    async def release(self, acquired: dict[str, Provider]) -> None:
        """A generation stopped: close what no other generation still uses."""
        for provider in acquired.values():
            entry = next((e for e in self._entries if e.provider is provider), None)
            if entry is None:
                continue
            entry.users -= 1
            if entry.users <= 0:
                self._entries.remove(entry)
                if entry.started:
                    await entry.provider.aclose()
