"""Prices and expected cost per request.

Prices come from the model's `cost` in config, else from LiteLLM's price table: a JSON file
shipped inside the litellm package, read here without importing litellm (the import costs
~4.5 s). Expected cost = price x the running mean of the tokens each model actually used.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Mapping
from pathlib import Path

import orjson

from gateway.config import ModelConfig
from policies.cost import Price, expected_cost

log = logging.getLogger("bayesgate.pricing")

# Until a model has answered, assume a typical chat turn.
_DEFAULT_TOKENS = (500.0, 200.0)
_MEAN_WEIGHT = 0.05  # exponential moving average: about the last 20 answers


@functools.cache
def litellm_price_table() -> dict[str, Price]:
    """LiteLLM's bundled price table, or {} when litellm is not installed: read once per
    process (the file ships with the package). Treat the result as read-only."""
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
    """Prices, and what a request is expected to cost on each model.

    The prompt's tokens are known before routing (the context's estimate, corrected per model
    by the ratio of the upstream's counts to our estimates); the output tokens are learned per
    (model, request class) as a moving mean and variance, and capped by the request's budget.
    """

    def __init__(self, models: Mapping[str, ModelConfig], table: Mapping[str, Price]) -> None:
        self.prices: dict[str, Price] = {}
        for name, model in models.items():
            price = model.cost or table.get(model.upstream_name)
            if price is None and "/" in model.upstream_name:
                price = table.get(model.upstream_name.split("/", 1)[1])
            self.prices[name] = price or Price(0.0, 0.0)
        # (model, class) -> (mean, variance) of completion tokens; class "" pools the classes
        self._completion: dict[tuple[str, str], tuple[float, float]] = {}
        self._prompt_ratio: dict[str, float] = {}  # model -> upstream prompt tokens / estimate

    def observe_tokens(self, model: str, prompt: int, completion: int, *, cls: str = "",
                       prompt_estimate: int = 0) -> None:
        """One answer's usage (prompt 0: the upstream sent none)."""
        if prompt > 0 and prompt_estimate > 0:
            ratio = prompt / prompt_estimate
            old = self._prompt_ratio.get(model)
            self._prompt_ratio[model] = ratio if old is None else old + _MEAN_WEIGHT * (
                ratio - old)
        for key in ((model, ""), (model, cls)) if cls else ((model, ""),):
            found = self._completion.get(key)
            if found is None:
                self._completion[key] = (float(completion), 0.0)
                continue
            mean, var = found
            diff = completion - mean
            incr = _MEAN_WEIGHT * diff
            self._completion[key] = (mean + incr, (1 - _MEAN_WEIGHT) * (var + diff * incr))

    def prompt_tokens(self, model: str, estimate: int) -> int:
        """The prompt's tokens on this model's tokenizer, from our estimate."""
        return round(estimate * self._prompt_ratio.get(model, 1.0))

    def completion_tokens(self, model: str, cls: str = "") -> tuple[float, float]:
        """Expected completion tokens of (model, class), and their standard deviation."""
        found = self._completion.get((model, cls)) or self._completion.get((model, ""))
        if found is None:
            return _DEFAULT_TOKENS[1], 0.0
        return found[0], found[1] ** 0.5

    def cost_of(self, model: str, prompt: int, completion: int) -> float:
        price = self.prices[model]
        return expected_cost(input_per_mtok=price.input_per_mtok,
                             output_per_mtok=price.output_per_mtok,
                             input_tokens=prompt, output_tokens=completion)

    def expected(self, model: str, *, cls: str = "", prompt_tokens: int | None = None,
                 budget: int | None = None, unknown: float | None = None) -> float:
        """The expected cost in USD of one request; `unknown`: the completion tokens assumed
        while the model has answered none (default a typical turn)."""
        price = self.prices[model]
        prompt = _DEFAULT_TOKENS[0] if prompt_tokens is None else prompt_tokens * \
            self._prompt_ratio.get(model, 1.0)
        found = self._completion.get((model, cls)) or self._completion.get((model, ""))
        completion = found[0] if found is not None else \
            _DEFAULT_TOKENS[1] if unknown is None else unknown
        if budget is not None and completion > budget:
            completion = budget
        return expected_cost(input_per_mtok=price.input_per_mtok,
                             output_per_mtok=price.output_per_mtok,
                             input_tokens=prompt, output_tokens=completion)

    def expected_all(self, models: tuple[str, ...], *, cls: str = "",
                     prompt_tokens: int | None = None,
                     budget: int | None = None) -> dict[str, float]:
        """Each model's expected cost in USD of this request. A model that has not answered
        yet is assumed to answer as long as the others do on average: a fixed guess would make
        it look dearer (or cheaper) than it is, and a model never tried for its guessed length
        is never measured (a lock-in)."""
        table = self._completion
        lengths = [f[0] for m in models
                   if (f := table.get((m, cls)) or table.get((m, ""))) is not None]
        typical = sum(lengths) / len(lengths) if lengths else None
        return {m: self.expected(m, cls=cls, prompt_tokens=prompt_tokens, budget=budget,
                                 unknown=typical) for m in models}
