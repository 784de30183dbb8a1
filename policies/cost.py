"""Expected cost per request: prices times a running mean of the tokens a model really used."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

# One answer cannot use more than this; larger readings are broken usage blocks.
MAX_TOKENS = 10_000_000.0


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def __post_init__(self) -> None:
        for name in ("input_per_mtok", "output_per_mtok"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(
                    f"The price {name} must be a finite number of USD of at least 0, "
                    f"got {value!r}."
                )


@dataclass(frozen=True, slots=True)
class TokenMeter:
    """Running mean of tokens per answer for one model.

    Until `window` answers were seen it is the plain mean (so the first real answer replaces the
    guess at once); after that an exponentially weighted mean with weight 1 / window, so a
    change in prompt mix shows within a few windows. The defaults are the guess before any data.
    """

    input_tokens: float = 500.0
    output_tokens: float = 250.0
    count: int = 0

    def observed(
        self, *, input_tokens: float, output_tokens: float, window: int = 100
    ) -> TokenMeter:
        if window < 1:
            raise ValueError(f"The token meter window must be at least 1 answer, got {window!r}.")
        tin, tout = _clamp_tokens(input_tokens), _clamp_tokens(output_tokens)
        if tin is None or tout is None:
            return self  # a broken usage block is not evidence
        n = self.count + 1
        w = 1.0 / min(n, window)
        return TokenMeter(
            input_tokens=self.input_tokens + w * (tin - self.input_tokens),
            output_tokens=self.output_tokens + w * (tout - self.output_tokens),
            count=n,
        )

    def to_fields(self) -> dict[str, float]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "count": float(self.count)}

    @classmethod
    def from_fields(
        cls, raw: Mapping[str, str | bytes | float] | Mapping[bytes, bytes]
    ) -> TokenMeter:
        """Parse a stored hash (str or bytes, as Redis returns it); junk takes the defaults."""
        data = {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}

        def num(key: str, default: float) -> float:
            value = data.get(key)
            try:
                x = float(value.decode() if isinstance(value, bytes) else value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return default
            return x if math.isfinite(x) and x >= 0 else default

        return cls(num("input_tokens", 500.0), num("output_tokens", 250.0), int(num("count", 0)))


def expected_cost(
    *, input_per_mtok: float, output_per_mtok: float, input_tokens: float, output_tokens: float
) -> float:
    """USD for one request with the given (mean) token counts."""
    return (input_per_mtok * input_tokens + output_per_mtok * output_tokens) / 1_000_000


def request_cost(meter: TokenMeter, price: Price) -> float:
    """Expected USD for the next request to a model, from its measured token means."""
    return expected_cost(
        input_per_mtok=price.input_per_mtok,
        output_per_mtok=price.output_per_mtok,
        input_tokens=meter.input_tokens,
        output_tokens=meter.output_tokens,
    )


def normalized(costs: Mapping[str, float]) -> dict[str, float]:
    """Each cost divided by the largest, in [0, 1]; all zeros when nothing costs anything."""
    finite = {k: (v if math.isfinite(v) and v > 0 else 0.0) for k, v in costs.items()}
    top = max(finite.values(), default=0.0)
    if top <= 0:
        return {k: 0.0 for k in finite}
    return {k: v / top for k, v in finite.items()}


def _clamp_tokens(value: float) -> float | None:
    if not isinstance(value, int | float) or math.isnan(value):
        return None
    return min(max(float(value), 0.0), MAX_TOKENS)
