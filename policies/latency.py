"""Latency that moves faster than the posterior.

A model's posterior holds up to `max_strength` answers of a reward that is part latency, so
when a provider slows down for its peak hour (or speeds up after it) the posterior takes
about that many answers to show it. Latency is measured on every valid answer, with far
less noise than validity, so it can be followed over fewer. Per route and model, this
replica keeps two moving averages of the latency score of the answers (the reward's own
curve): a recent one (`FAST`, about 10 answers) and a longer one (`SLOW`, about 50). Their
gap, less NOISE_GATE standard errors of the recent average (steady latency, however noisy,
moves nothing), is put in reward units (the latency weight's share of the reward) and added
to the model's cost term: a model slower lately than its evidence says pays the difference;
one faster lately is charged less, down to nothing. A model that stops answering has its gap
fade by half every IDLE_HALF_LIFE answers of the route, so an old slowdown does not keep it
out once the posterior has forgotten it too.

Chosen on the tuning seeds (60 at 2 req/s, `bayesgate simulate --seed-set tuning`): the daily
scenario (each provider slow at its own time of day) went from regret 21.8 per 1,000 requests
to 16.6 and normalised quality from 0.859 to 0.898, degrade (the best model three times
slower) from 19.9 to 18.3, and the seven scenarios whose latency never moves by at most 0.3
either way; the mean over the nine from 15.6 to 14.8. Recovery after degrade, outage and
storm: 171, 103 and 152 requests before, 163, 103 and 152 after. Without the noise gate (20
seeds, FAST 0.05) daily went lower (20.0 -> 14.7) but scenarios whose latency never moves lost
up to 3 (outage +2.2, mixed +3.0, storm +0.9): noise read as a trend; without scaling the
variance up for a model with few answers, one of 40 lock-in runs stayed on a worse model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from .reward import RewardConfig, latency_score

FAST = 0.1
SLOW = 0.02
IDLE_HALF_LIFE = 200.0
# A gap counts only beyond this many of its standard errors (the recent average's noise, from
# the spread of the scores): what is left of it is the penalty, so noise alone moves no one.
NOISE_GATE = 2.0
# The recent average's variance per unit of the scores' variance: FAST / (2 - FAST).
_FAST_VARIANCE = FAST / (2.0 - FAST)


@dataclass(slots=True)
class LatencyTrend:
    """One route's recent latency against its longer-run one, per model (replica-local)."""

    reward: RewardConfig
    # model -> (recent score, longer-run score, the scores' variance about the recent one,
    # the weight that variance has gathered (1 - (1 - SLOW)^answers), route answers at its
    # last, its gated gap in reward units)
    models: dict[str, tuple[float, float, float, float, int, float]] = \
        field(default_factory=dict)
    answers: int = 0
    weight: float = field(init=False)  # the latency weight's share of the reward

    def __post_init__(self) -> None:
        cfg = self.reward
        self.weight = cfg.latency_weight / (cfg.validity_weight + cfg.latency_weight
                                            + cfg.retries_weight)

    def observe(self, model: str, latency_ms: float) -> None:
        """A valid answer of `model` took `latency_ms` (TTFT for a stream)."""
        if not math.isfinite(latency_ms) or latency_ms < 0 or self.weight <= 0:
            return
        score = latency_score(latency_ms, self.reward)
        found = self.models.get(model)
        if found is None:
            self.models[model] = (score, score, 0.0, 0.0, self.answers, 0.0)
        else:
            fast, slow, var, seen, _, _ = found
            var, seen = var + SLOW * ((score - fast) ** 2 - var), seen + SLOW * (1.0 - seen)
            fast, slow = fast + FAST * (score - fast), slow + SLOW * (score - slow)
            # The gap shrunk toward 0 by NOISE_GATE standard errors of the recent average; the
            # variance over the weight it has (a model with few answers has not seen its
            # spread yet: unscaled, its first answers would pass the gate on noise alone).
            gap, margin = slow - fast, NOISE_GATE * math.sqrt(var / seen * _FAST_VARIANCE)
            self.models[model] = (fast, slow, var, seen, self.answers,
                                  self.weight * math.copysign(max(0.0, abs(gap) - margin), gap))
        self.answers += 1

    def penalties(self) -> dict[str, float] | None:
        """The models whose latency moved, each with its gap in reward units (positive: slower
        lately); None when none did."""
        out = {m: gap * 0.5 ** ((self.answers - at - 1) / IDLE_HALF_LIFE)
               for m, (*_, at, gap) in self.models.items() if gap}
        return out or None


def added(a: Mapping[str, float] | None, b: Mapping[str, float] | None,
          ) -> dict[str, float] | None:
    """Two sets of per-model penalties as one (None when neither has any)."""
    if a is None or b is None:
        return None if a is None and b is None else dict(a or b or {})
    return {m: a.get(m, 0.0) + b.get(m, 0.0) for m in a.keys() | b.keys()}
