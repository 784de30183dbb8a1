"""Prices and expected cost per request.

Prices come from the model's `cost` in config, else from LiteLLM's price table: a JSON file
shipped inside the litellm package, read here without importing litellm (the import costs
~4.5 s). Expected cost = price x the running mean of the tokens each model actually used.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from pathlib import Path

import orjson

from gateway.config import ModelConfig
from policies.cost import Price, expected_cost, normalized

log = logging.getLogger("bayesgate.pricing")

# Until a model has answered, assume a typical chat turn.
_DEFAULT_TOKENS = (500.0, 200.0)
_MEAN_WEIGHT = 0.05  # exponential moving average: about the last 20 answers


def litellm_price_table() -> dict[str, Price]:
    """LiteLLM's bundled price table, or {} when litellm is not installed."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations)))
    path = path / "model_prices_and_context_window_backup.json"
    try:
        table = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        log.warning("cannot read LiteLLM's price table at %s", path)
        return {}
    prices = {}
    for name, row in table.items():
        if not isinstance(row, dict):
            continue
        inp, out = row.get("input_cost_per_token"), row.get("output_cost_per_token")
        if isinstance(inp, int | float) and isinstance(out, int | float):
            try:
                prices[name] = Price(inp * 1e6, out * 1e6)
            except ValueError:  # a negative or infinite price in the table: no price
                continue
    return prices


class CostModel:
    def __init__(self, models: Mapping[str, ModelConfig], table: Mapping[str, Price]) -> None:
        self.prices: dict[str, Price] = {}
        for name, model in models.items():
            price = model.cost or table.get(model.upstream_name)
            if price is None and "/" in model.upstream_name:
                price = table.get(model.upstream_name.split("/", 1)[1])
            self.prices[name] = price or Price(0.0, 0.0)
        self._tokens: dict[str, tuple[float, float]] = {}
        # Normalised costs per candidate tuple, recomputed only after token means move: the
        # router asks for them on every request.
        self._normalized: dict[tuple[str, ...], dict[str, float]] = {}
        self._seen = 0

    def observe_tokens(self, model: str, prompt: int, completion: int) -> None:
        old = self._tokens.get(model)
        if old is None:
            self._tokens[model] = (float(prompt), float(completion))
            self._normalized.clear()
        else:
            self._tokens[model] = (old[0] + _MEAN_WEIGHT * (prompt - old[0]),
                                   old[1] + _MEAN_WEIGHT * (completion - old[1]))
        self._seen += 1
        if self._seen % 32 == 0:  # a moving mean over ~20 answers: refresh now and then
            self._normalized.clear()

    def cost_of(self, model: str, prompt: int, completion: int) -> float:
        price = self.prices[model]
        return expected_cost(input_per_mtok=price.input_per_mtok,
                             output_per_mtok=price.output_per_mtok,
                             input_tokens=prompt, output_tokens=completion)

    def expected(self, model: str) -> float:
        prompt, completion = self._tokens.get(model, _DEFAULT_TOKENS)
        return self.cost_of(model, int(prompt), int(completion))

    def normalized(self, models: tuple[str, ...]) -> dict[str, float]:
        found = self._normalized.get(models)
        if found is None:
            found = self._normalized[models] = normalized({m: self.expected(m) for m in models})
        return found
