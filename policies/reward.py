"""The composite, label-free reward: validity, latency and retries, each scored in [0, 1]."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

# Measurements beyond this are treated as this (an hour): clamps absurd values, never stores them.
MAX_LATENCY_MS = 3_600_000.0
# More retries than this score the same as this many (0.5 ** 60 is already ~1e-18).
MAX_RETRIES = 60


@dataclass(frozen=True, slots=True)
class RewardConfig:
    validity_weight: float = 0.5
    latency_weight: float = 0.3
    retries_weight: float = 0.2
    latency_midpoint_ms: float = 2000.0
    latency_scale_ms: float = 500.0

    def __post_init__(self) -> None:
        for name in ("validity_weight", "latency_weight", "retries_weight"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"The reward {name} must be a finite number of at least 0, got {value!r}."
                )
        if self.validity_weight + self.latency_weight + self.retries_weight <= 0:
            raise ValueError("The reward weights must not all be 0: at least one must be positive.")
        mid = self.latency_midpoint_ms
        if not _is_number(mid) or not math.isfinite(mid) or mid < 0:
            raise ValueError(
                f"The latency midpoint must be a finite number of milliseconds of at least 0, "
                f"got {mid!r}."
            )
        scale = self.latency_scale_ms
        if not _is_number(scale) or not math.isfinite(scale) or scale <= 0:
            raise ValueError(
                f"The latency scale must be a positive finite number of milliseconds, "
                f"got {scale!r}."
            )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the gateway measured about one answer (raw; the scoring functions clamp it)."""

    valid: bool
    latency_ms: float
    retries: int = 0


def clamp_latency_ms(latency_ms: float) -> float:
    """A latency in [0, MAX_LATENCY_MS]. NaN and +inf mean the answer never arrived in time,
    so they count as the worst latency; a negative reading (clock step) counts as 0."""
    if not _is_number(latency_ms) or math.isnan(latency_ms):
        return MAX_LATENCY_MS
    return min(max(float(latency_ms), 0.0), MAX_LATENCY_MS)


def clamp_retries(retries: float) -> int:
    """A retry count in [0, MAX_RETRIES]; NaN, negatives and garbage count as 0 retries."""
    if not _is_number(retries) or math.isnan(retries):
        return 0
    if math.isinf(retries):
        return MAX_RETRIES if retries > 0 else 0
    return min(max(int(retries), 0), MAX_RETRIES)


def latency_score(latency_ms: float, cfg: RewardConfig) -> float:
    """Logistic curve: 1 / (1 + exp((ms - midpoint) / scale)), on the clamped latency."""
    z = (clamp_latency_ms(latency_ms) - cfg.latency_midpoint_ms) / cfg.latency_scale_ms
    if z > 700:  # exp overflows past ~709
        return 0.0
    return 1.0 / (1.0 + math.exp(z))


def retries_score(retries: float) -> float:
    """1 for a first-time answer, halving with each retry it took."""
    return 0.5 ** clamp_retries(retries)


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


def _is_number(value: object) -> bool:
    # bool is an int subclass, but True as a weight is a config mistake, not a number.
    if isinstance(value, bool):
        return False
    return isinstance(value, int | float) or isinstance(value, numbers.Real)
