"""Thompson sampling over Beta posteriors with a cost-aware utility.

utility = theta - cost_weight * normalised_cost, theta ~ Beta(alpha, beta). The decision ranks
every available arm by its sampled utility, so the gateway can fail over in that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class Arm:
    name: str
    alpha: float
    beta: float
    cost: float = 0.0  # normalised to [0, 1] across the route
    available: bool = True  # False while the circuit breaker holds it open


@dataclass(frozen=True, slots=True)
class Decision:
    ranked: tuple[str, ...]  # first is the choice, the rest the failover order
    utilities: tuple[float, ...]

    @property
    def choice(self) -> str:
        return self.ranked[0]


class Policy(Protocol):
    def select(self, arms: Sequence[Arm], *, rng: np.random.Generator, now: float) -> Decision:
        ...


@dataclass(frozen=True, slots=True)
class ThompsonSampling:
    cost_weight: float = 0.0

    def select(self, arms: Sequence[Arm], *, rng: np.random.Generator, now: float) -> Decision:
        if not arms:
            raise ValueError("cannot select among zero arms")
        alphas = np.fromiter((a.alpha for a in arms), dtype=float, count=len(arms))
        betas = np.fromiter((a.beta for a in arms), dtype=float, count=len(arms))
        costs = np.fromiter((a.cost for a in arms), dtype=float, count=len(arms))
        theta = rng.beta(np.maximum(alphas, 1e-3), np.maximum(betas, 1e-3))
        utility = theta - self.cost_weight * costs
        # Unavailable arms go last, in utility order, so a request still has somewhere to go
        # when every breaker is open.
        penalty = np.fromiter((0.0 if a.available else 10.0 for a in arms), dtype=float)
        order = np.argsort(-(utility - penalty), kind="stable")
        return Decision(
            ranked=tuple(arms[i].name for i in order),
            utilities=tuple(float(utility[i]) for i in order),
        )
