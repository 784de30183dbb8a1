"""Recommended per-route defaults, in one place so the gateway config and the offline
evaluator (`bayesgate simulate`) use the same numbers. See `gateway/simulate.py` for the
evidence behind them."""

from __future__ import annotations

from .breaker import BreakerConfig
from .reward import RewardConfig

COST_WEIGHT = 0.3
HALF_LIFE_S = 120.0
MAX_STRENGTH = 50.0
CONFIDENCE_FLOOR = 0.1
EXPLORATION = 0.1
MAX_ATTEMPTS = 3
COLD_START_STRENGTH = 10.0

REWARD = RewardConfig()
BREAKER = BreakerConfig()
