"""The composite, label-free reward: validity, latency and retries, each scored in [0, 1],
then the answer's warning signals, each taking its weight's share of what is left.

    reward = (validity_w + latency_w * latency_score + retries_w * retries_score) / sum of w
             x (1 - signal weight) for each signal the answer showed

An invalid answer scores 0. A signal (a refusal, an answer cut off by the upstream's own limit,
a content filter, a tool call that misses the declared tools or `tool_choice`, degenerate
repetition) marks an answer that parsed but served badly; weight 1 makes it count as invalid.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

# Measurements beyond this are treated as this (an hour): clamps absurd values, never stores them.
MAX_LATENCY_MS = 3_600_000.0
# More retries than this score the same as this many (0.5 ** 60 is already ~1e-18).
MAX_RETRIES = 60


# The warning signals the gateway measures on an answer that parsed (gateway.learning.signals).
SIGNALS = ("refusal", "truncated", "content_filter", "tool_mismatch", "repetition")


@dataclass(frozen=True, slots=True)
class RewardConfig:
    validity_weight: float = 0.5
    latency_weight: float = 0.3
    retries_weight: float = 0.2
    latency_midpoint_ms: float = 2000.0
    latency_scale_ms: float = 500.0
    # The share of the reward an answer with the signal loses (see SIGNALS).
    refusal_weight: float = 0.7
    truncated_weight: float = 0.5
    content_filter_weight: float = 0.8
    tool_mismatch_weight: float = 1.0
    repetition_weight: float = 0.7

    def __post_init__(self) -> None:
        for signal in SIGNALS:
            value = getattr(self, f"{signal}_weight")
            if not _is_number(value) or not 0 <= value <= 1:
                raise ValueError(f"The reward {signal}_weight must be a number in [0, 1], "
                                 f"got {value!r}.")
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
    signals: frozenset[str] = frozenset()  # of SIGNALS


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
    ) / total
    for signal in outcome.signals:
        score *= 1.0 - getattr(cfg, f"{signal}_weight", 0.0)
    return min(1.0, max(0.0, score))


def _is_number(value: object) -> bool:
    # bool is an int subclass, but True as a weight is a config mistake, not a number.
    if isinstance(value, bool):
        return False
    return isinstance(value, int | float) or isinstance(value, numbers.Real)
