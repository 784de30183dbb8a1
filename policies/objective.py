"""What a route optimises, on a scale an operator can state.

The policy ranks each candidate by a sampled utility, theta - its cost term, where theta is
the sampled reward in [0, 1] and the cost term is in the same units. A route says how money
weighs against reward in one of two ways, and may add two constraints enforced online:

- `cost_weight` w (the default, kept for existing configs): the term is w x the request's
  expected cost over the dearest candidate's. It has no unit: one very expensive candidate
  shrinks every other term toward 0, and $0.001 against $0.002 weighs like $1 against $2.
- `value_usd` V, what one good answer is worth: utility = P(good) x V - the expected cost of
  this request, divided by V to stay on the reward's scale, so the term is cost / V. A model
  that costs more than a good answer is worth loses to any free model, whatever it costs.
- a budget, at most B USD per hour or per UTC day: a Lagrange multiplier mu on the cost term
  (as in bandits with knapsacks), raised while the measured spend rate would use up what is
  left of the period before it ends, lowered while it would not; the term becomes
  (scale + mu) x cost. Once the period's budget is spent, mu is so large that the cheapest
  candidate serves, until the period ends.
- a latency objective, at most 5% of the route's answers slower than L ms (p95 <= L): a
  multiplier nu on each model's measured share of answers slower than L, raised by every slow
  answer and lowered by every fast one (a stochastic dual step, so the route's share of slow
  answers settles near LATENCY_AIM, a little under 5%); the term gains nu x that share.

Everything here is a pure function or a small state object driven with an explicit clock, so
the gateway and the offline evaluator run the same code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from .cost import normalized

PERIODS = {"hour": 3600.0, "day": 86400.0}
# The multiplier once a period's budget is spent: cost outweighs any reward difference.
EXHAUSTED = 1e6
# The spend rate is measured over about this share of the period (3 min of an hour, 72 min
# of a day), and at most 10 minutes: a burst shows within minutes, a lull does not unlock it.
RATE_WINDOW_SHARE = 0.05
RATE_WINDOW_MAX_S = 600.0
# mu = MU_UNIT x (e^z - 1), z integrating the overspend: held 2x over the allowed rate for one
# rate window, z rises by BUDGET_GAIN. In log space, because the cost term's scale varies by
# orders of magnitude (one very dear candidate leaves the others' normalised costs ~0.03, and
# their gaps need a mu of ~5 to matter; on another route 0.1 is plenty): a linear step that
# is right for one overshoots or crawls on the other (measured: 15 minutes at 2x the allowed
# rate before a step of 1 per window made the cheap model lose).
MU_UNIT = 0.05
BUDGET_GAIN = 2.0
Z_MAX = 12.0  # mu ~ 8,000: cost outweighs any reward long before
# nu's step per answer, times the answer's excess over the aimed-at share in units of that
# share (at 4%, a slow answer: +24 steps, a fast one: -1), and its ceiling (a model always slow
# costs at most this much reward).
LATENCY_STEP = 0.005
LATENCY_MAX = 2.0
LATENCY_QUANTILE = 0.95
# The share of slow answers nu steers to: below the 5% a p95 allows, so that the noise of the
# dual step and the exploration of slow models stay within it (at 5% itself, 2 of 10 tuning
# seeds ended at 6.5%).
LATENCY_AIM = 0.04
SLOW_SHARE_WEIGHT = 0.05  # per-model share of slow answers: about the last 20 answers
SLOW_SHARE_HALF_LIFE = 1000.0  # route answers; see LatencyGuard


@dataclass(frozen=True, slots=True)
class Budget:
    usd: float
    per: str = "day"

    def __post_init__(self) -> None:
        if not (isinstance(self.usd, int | float) and math.isfinite(self.usd) and self.usd > 0):
            raise ValueError(f"A budget must be a positive finite number of USD, got "
                             f"{self.usd!r}.")
        if self.per not in PERIODS:
            raise ValueError(f"A budget is per 'hour' or per 'day', got {self.per!r}.")

    @property
    def period_s(self) -> float:
        return PERIODS[self.per]

    def period_start(self, now: float) -> float:
        return period_start(now, self.period_s)


def period_start(now: float, period_s: float) -> float:
    """The start of the period `now` is in: whole UTC hours or days (epoch time)."""
    return now - now % period_s


class Ledger:
    """Spend per (route, period length) in the current period only: a new period starts at 0."""

    def __init__(self) -> None:
        self._totals: dict[tuple[str, float], tuple[float, float]] = {}  # -> (start, USD)

    def add(self, route: str, usd: float, *, period_s: float, now: float) -> None:
        if not usd > 0:
            return
        key, start = (route, period_s), period_start(now, period_s)
        found = self._totals.get(key)
        before = found[1] if found is not None and found[0] == start else 0.0
        self._totals[key] = (start, before + usd)

    def spent(self, route: str, *, period_s: float, now: float) -> float:
        found = self._totals.get((route, period_s))
        return found[1] if found is not None and found[0] == period_start(now, period_s) \
            else 0.0


@dataclass(frozen=True, slots=True)
class Objective:
    cost_weight: float = 0.0  # used when value_usd is None
    value_usd: float | None = None
    budget: Budget | None = None
    latency_p95_ms: float | None = None

    def __post_init__(self) -> None:
        v = self.value_usd
        if v is not None and not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise ValueError(f"The value of a good answer must be a positive finite number of "
                             f"USD, got {v!r}.")
        lat = self.latency_p95_ms
        if lat is not None and not (isinstance(lat, int | float) and math.isfinite(lat)
                                    and lat > 0):
            raise ValueError(f"The latency objective must be a positive number of ms, got "
                             f"{lat!r}.")

    @property
    def scale(self) -> str:
        return "value_usd" if self.value_usd is not None else "cost_weight"


def cost_terms(objective: Objective, usd: Mapping[str, float], *, mu: float = 0.0,
               penalties: Mapping[str, float] | None = None) -> dict[str, float]:
    """Each candidate's cost term in reward units, from its expected USD for this request,
    the budget multiplier `mu` and the latency penalties (nu x the model's slow share)."""
    if objective.value_usd is not None:
        weight, scaled = 1.0 + mu, {m: _usd(c) / objective.value_usd for m, c in usd.items()}
    else:
        weight, scaled = objective.cost_weight + mu, normalized(usd)
    if penalties is None:
        return {m: weight * c for m, c in scaled.items()}
    return {m: weight * c + penalties.get(m, 0.0) for m, c in scaled.items()}


def _usd(cost: float) -> float:
    return cost if math.isfinite(cost) and cost > 0 else 0.0


@dataclass(slots=True)
class Pacer:
    """The budget multiplier mu of one route, from the spend of its current period (the whole
    fleet's: the caller reads it from the store) sampled as time goes by.

    The floor: what serving every request on its cheapest candidate would cost per second,
    measured from the requests paced. Once what is left of the budget would only pay for the
    rest of the period at the floor, the budget counts as spent (mu = EXHAUSTED): the
    cheapest candidate serves from then on, and the period ends at about the budget instead
    of over it by the floor's spend after the money ran out (measured: up to 10% over).
    """

    budget: Budget
    z: float = 0.0  # log of the multiplier's pressure (mu = MU_UNIT x (e^z - 1))
    rate: float = 0.0  # USD per second, measured
    period: float = math.nan  # start of the period being paced
    last_t: float = math.nan
    last_spent: float = 0.0
    tick_s: float = 1.0  # samples closer together than this are folded into the next
    floor: float = 0.0  # USD per second at the cheapest candidates, measured
    floor_usd: float = 0.0  # the cheapest candidates' USD of the requests since the last tick

    def update(self, spent: float, now: float, cheapest_usd: float = 0.0) -> float:
        """mu for a request whose cheapest candidate is expected to cost `cheapest_usd`,
        after the period's spend reached `spent` USD at `now`."""
        if cheapest_usd > 0 and math.isfinite(cheapest_usd):
            self.floor_usd += cheapest_usd
        budget = self.budget
        start = budget.period_start(now)
        if start != self.period:  # a new period: what was spent before is not this one's
            self.period, self.last_t, self.last_spent = start, now, spent
            self.z = min(self.z, BUDGET_GAIN)  # keep the learned pressure, not a lockout
            return self.current(spent, now)
        dt = now - self.last_t
        if dt < self.tick_s:
            return self.current(spent, now)
        window = min(budget.period_s * RATE_WINDOW_SHARE, RATE_WINDOW_MAX_S)
        weight = min(1.0, dt / window)
        self.rate += weight * (max(0.0, spent - self.last_spent) / dt - self.rate)
        self.floor += weight * (self.floor_usd / dt - self.floor)
        self.last_t, self.last_spent, self.floor_usd = now, spent, 0.0
        # Never paced over less than one rate window: near the end of a period what is left
        # would look like licence to spend it all at once, faster than the rate can show.
        left_s = max(start + budget.period_s - now, window)
        # What is paced is the spend above the floor: when the cheapest candidates alone
        # would use most of the budget, the little left over must be watched as closely as a
        # whole budget.
        room = (budget.usd - spent) / left_s - self.floor
        if room > 0:
            over = min(max((self.rate - self.floor) / room - 1.0, -1.0), 3.0)
            self.z = min(max(self.z + BUDGET_GAIN * weight * over, 0.0), Z_MAX)
        return self.current(spent, now)

    def current(self, spent: float, now: float) -> float:
        """mu now, without a new sample (a read, for /stats)."""
        budget = self.budget
        left_s = budget.period_start(now) + budget.period_s - now
        return EXHAUSTED if budget.usd - spent <= self.floor * left_s else self.mu

    @property
    def mu(self) -> float:
        return MU_UNIT * math.expm1(self.z)


@dataclass(slots=True)
class LatencyGuard:
    """The latency multiplier nu of one route, and each model's share of slow answers.

    A model's share starts at LATENCY_AIM, worth one answer (started at its first answer, 2 of
    30 tuning seeds locked onto a model with 20-29% slow answers while a faster one sat at a
    share of 0.7-1.0 from its first few), and relaxes back toward it by half every
    SLOW_SHARE_HALF_LIFE answers the route gets while the model gets none, so a model that was
    slow for a while (a degradation since over) is tried again. At 200 the retries of slow
    models pushed the worst of 30 tuning seeds to 9.2% slow answers; at 1000, 6.35%.
    """

    target_ms: float
    nu: float = 0.0
    # model -> (share of its answers over target, its answers, route answers at its last)
    slow: dict[str, tuple[float, int, int]] = field(default_factory=dict)
    answers: int = 0
    over: int = 0  # answers over the target, since start (for /stats)

    def observe(self, model: str, latency_ms: float) -> None:
        if not math.isfinite(latency_ms):
            return
        is_slow = 1.0 if latency_ms > self.target_ms else 0.0
        share, n = self.share(model), self.slow.get(model, (0.0, 0, 0))[1] + 1
        weight = max(SLOW_SHARE_WEIGHT, 1.0 / (n + 1))
        self.slow[model] = (share + weight * (is_slow - share), n, self.answers)
        step = LATENCY_STEP * (is_slow - LATENCY_AIM) / LATENCY_AIM
        self.nu = min(LATENCY_MAX, max(0.0, self.nu + step))
        self.answers += 1
        self.over += int(is_slow)

    def share(self, model: str) -> float:
        """The model's share of slow answers, relaxed toward LATENCY_AIM while it is idle."""
        found = self.slow.get(model)
        if found is None:
            return LATENCY_AIM
        share, _, at = found
        idle = self.answers - at - 1
        if idle <= 0:
            return share
        return LATENCY_AIM + (share - LATENCY_AIM) * 0.5 ** (idle / SLOW_SHARE_HALF_LIFE)

    def penalties(self) -> dict[str, float] | None:
        """nu x each model's slow share; None while nu is 0 (nothing to add)."""
        if self.nu <= 0 or not self.slow:
            return None
        nu = self.nu
        return {m: nu * self.share(m) for m in self.slow}
