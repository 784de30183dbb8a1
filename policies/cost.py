"""Expected cost per request and its normalisation across a route's candidates."""

from __future__ import annotations

import math
from collections.abc import Mapping


def expected_cost(
    *, input_per_mtok: float, output_per_mtok: float, input_tokens: float, output_tokens: float
) -> float:
    """USD for one request with the given (mean) token counts."""
    return (input_per_mtok * input_tokens + output_per_mtok * output_tokens) / 1_000_000


def normalized(costs: Mapping[str, float]) -> dict[str, float]:
    """Each cost divided by the largest, in [0, 1]; all zeros when nothing costs anything."""
    finite = {k: (v if math.isfinite(v) and v > 0 else 0.0) for k, v in costs.items()}
    top = max(finite.values(), default=0.0)
    if top <= 0:
        return {k: 0.0 for k in finite}
    return {k: v / top for k, v in finite.items()}
