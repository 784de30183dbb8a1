"""Where posteriors live: the store interface, and the update every store applies.

The request path never waits on a store: `snapshot()` reads local state and `record()` applies
(memory) or queues (redis) an update. An update is a pair of increments to alpha and beta that
is applied after decaying the stored posterior toward its prior to the time of the update; an
observation adds (reward, 1 - reward), a correction moves weight from alpha to beta.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.store.documents import DocumentStore
from policies.posterior import Posterior, Prior, updated


def cell(route: str, cls: str) -> str:
    """The store's name for a route's request class (`auto#code`): a store keeps a class's
    posteriors as it keeps a route's, and route names may not contain '#'."""
    return f"{route}#{cls}" if cls else route


def scopes(route: str, cls: str) -> tuple[str, ...]:
    """Where an answer of class `cls` is learned: the route level, then the class's cell."""
    return (route, cell(route, cls)) if cls else (route,)


@dataclass(frozen=True, slots=True)
class Update:
    route: str
    model: str
    d_alpha: float
    d_beta: float
    prior: Prior
    half_life_s: float | None
    observations: int = 1  # 0 for a correction of an earlier observation
    max_strength: float | None = None  # alpha + beta above this shrinks the evidence
    initial: tuple[float, float] | None = None  # alpha, beta to start from when nothing is stored
    # A reset to the prior (after an outage), idempotent across the fleet: applied unless the
    # posterior was reset at or after this time (another replica saw the same recovery).
    reset_since: float | None = None

    @classmethod
    def observation(cls, route: str, model: str, reward: float, *, prior: Prior,
                    half_life_s: float | None, max_strength: float | None = None,
                    initial: tuple[float, float] | None = None,
                    weight: float = 1.0) -> Update:
        """One scored answer, counting as `weight` answers (1 unless bounded, see learner)."""
        return cls(route, model, weight * reward, weight * (1.0 - reward), prior, half_life_s,
                   max_strength=max_strength, initial=initial)


class Store(Protocol):
    @property
    def documents(self) -> DocumentStore:
        """Stored responses (awaited: the one part of a store a request may wait on)."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    def snapshot(self, route: str) -> Mapping[str, Posterior]:
        """The latest local view of a route's posteriors (models never updated are absent)."""
        ...

    def observations(self, route: str, model: str) -> int: ...

    def record(self, update: Update) -> None:
        """Apply or queue an update; never blocks and never raises for store trouble."""
        ...

    async def swap_fingerprint(self, key: str, value: str, *, ttl_s: float) -> str | None:
        """Store `value` under `key` for `ttl_s` and return what was there (None if nothing)."""
        ...

    async def swap_fingerprints(self, items: Sequence[tuple[str, str, float]]
                                ) -> list[str | None]:
        """`swap_fingerprint` for each (key, value, ttl_s), in order, in one round trip."""
        ...

    def circuits(self) -> Mapping[str, float]:
        """model -> the time until which a breaker somewhere in the fleet holds it open."""
        ...

    def open_circuit(self, model: str, until: float) -> None:
        """Tell the fleet this model's breaker is open until `until` (epoch seconds)."""
        ...

    def promotions(self, route: str) -> frozenset[str]:
        """Shadow candidates promoted to live candidates of `route` (a local read, no I/O)."""
        ...

    def promote(self, route: str, model: str) -> None:
        """Make `model` a live candidate of `route` for the whole fleet, for good; never blocks."""
        ...

    def spend(self, route: str, usd: float, *, period_s: float, now: float) -> None:
        """Add to the route's spend in the budget period `now` is in; never blocks."""
        ...

    def spent(self, route: str, *, period_s: float, now: float) -> float:
        """The fleet's spend on the route in the period `now` is in, as last known (no I/O)."""
        ...

    def status(self) -> dict[str, Any]:
        """For /readyz and /stats: at least {"backend", "state": "ok" | "degraded"}."""
        ...


def apply(post: Posterior | None, update: Update, *, now: float) -> Posterior:
    """The stored posterior after `update` at time `now` (the math: policies.posterior); for a
    reset, the prior (the store decides whether a reset applies)."""
    if update.reset_since is not None:
        return Posterior.from_prior(update.prior, now=now)
    return updated(post, update.d_alpha, update.d_beta, prior=update.prior, now=now,
                   half_life_s=update.half_life_s, max_strength=update.max_strength,
                   initial=update.initial)
