"""The composite, label-free reward: validity, latency and retries, each scored in [0, 1]."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Measurements beyond this are treated as this (an hour): clamps absurd values, never stores them.
MAX_LATENCY_MS = 3_600_000.0


@dataclass(frozen=True, slots=True)
class RewardConfig:
    validity_weight: float = 0.5
    latency_weight: float = 0.3
    retries_weight: float = 0.2
    latency_midpoint_ms: float = 2000.0
    latency_scale_ms: float = 500.0

    def __post_init__(self) -> None:
        weights = (self.validity_weight, self.latency_weight, self.retries_weight)
        if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError("reward weights must be non-negative numbers with a positive sum")
        if not self.latency_scale_ms > 0:
            raise ValueError(f"latency scale must be positive, got {self.latency_scale_ms!r}")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the gateway measured about one answer."""

    valid: bool
    latency_ms: float
    retries: int = 0


def latency_score(latency_ms: float, cfg: RewardConfig) -> float:
    """Logistic curve: 1 / (1 + exp((ms - midpoint) / scale)); NaN and negatives clamp."""
    ms = latency_ms if math.isfinite(latency_ms) else MAX_LATENCY_MS
    ms = min(max(ms, 0.0), MAX_LATENCY_MS)
    z = (ms - cfg.latency_midpoint_ms) / cfg.latency_scale_ms
    if z > 700:  # exp overflows past ~709
        return 0.0
    return 1.0 / (1.0 + math.exp(z))


def retries_score(retries: int) -> float:
    """1 for a first-time answer, halving with each retry it took."""
    return 0.5 ** max(0, min(int(retries), 60))


def reward(outcome: Outcome, cfg: RewardConfig) -> float:
    """Weighted sum in [0, 1]. An invalid answer scores 0 whatever its speed."""
    if not outcome.valid:
        return 0.0
    total = cfg.validity_weight + cfg.latency_weight + cfg.retries_weight
    score = (
        cfg.validity_weight
        + cfg.latency_weight * latency_score(outcome.latency_ms, cfg)
        + cfg.retries_weight * retries_score(outcome.retries)
    )
    return min(1.0, max(0.0, score / total))
