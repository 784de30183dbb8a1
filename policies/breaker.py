"""A per-model circuit breaker as a pure state machine: closed, open, half-open.

    closed     every request may go; failures and successes are counted over a sliding window
               (two buckets of `window_s`); at `min_requests` or more and a failure rate at or
               above `failure_rate`, or after `consecutive_failures` failures in a row, it
               opens (the streak catches a hard outage that busy traffic would dilute in the
               window)
    open       no request goes (the ranking puts the model last) until `cooldown_s` has passed
    half-open  live traffic probes it: at most `half_open_probes` requests in flight, and a
               probe that never reports back frees its slot after `probe_timeout_s`;
               a success closes the breaker, a failure re-opens it

Probes come from live requests (via `admit`), never from shadow traffic, so a model recovers
whether or not shadow mirroring is on. State is a frozen dataclass; every function takes `now`
and returns a new state, and `to_fields`/`from_fields` map it to a small Redis hash.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
_STATES = (CLOSED, OPEN, HALF_OPEN)


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    failure_rate: float = 0.5
    min_requests: int = 10
    window_s: float = 60.0
    # A probe every 5 s: a model back from an outage is found within seconds (30 s held it
    # out for 600 requests at 20 requests/s in `bayesgate simulate`'s outage scenario).
    cooldown_s: float = 5.0
    half_open_probes: int = 1
    probe_timeout_s: float = 60.0
    consecutive_failures: int = 5

    def __post_init__(self) -> None:
        if not (_num(self.failure_rate) and 0.0 < self.failure_rate <= 1.0):
            raise ValueError(
                f"The breaker failure_rate must be a fraction in (0, 1], got {self.failure_rate!r}."
            )
        for name in ("min_requests", "half_open_probes", "consecutive_failures"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise ValueError(f"The breaker {name} must be a whole number of at least 1, "
                                 f"got {value!r}.")
        for name in ("window_s", "cooldown_s", "probe_timeout_s"):
            value = getattr(self, name)
            if not (_num(value) and math.isfinite(value) and value > 0):
                raise ValueError(
                    f"The breaker {name} must be a positive finite number of seconds, "
                    f"got {value!r}."
                )


@dataclass(frozen=True, slots=True)
class BreakerState:
    state: str = CLOSED
    changed_at: float = 0.0  # when it last opened, half-opened or closed
    window_start: float = 0.0  # start of the current bucket
    successes: float = 0.0  # current bucket
    failures: float = 0.0
    prev_successes: float = 0.0  # the bucket before, weighted by its overlap with the window
    prev_failures: float = 0.0
    probes: int = 0  # half-open probes in flight
    probe_at: float = 0.0  # when the last probe was let through
    streak: int = 0  # consecutive failures while closed

    def to_fields(self) -> dict[str, str | float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_fields(
        cls, raw: Mapping[str, str | bytes | float] | Mapping[bytes, bytes]
    ) -> BreakerState:
        """Parse a stored hash (str or bytes keys and values, as Redis returns them); missing
        or broken fields take their defaults, an unknown state counts as closed."""
        data: dict[str, str | float] = {}
        for key, value in raw.items():
            k = key.decode() if isinstance(key, bytes) else str(key)
            data[k] = value.decode() if isinstance(value, bytes) else value
        state = data.get("state", CLOSED)
        kwargs: dict[str, str | float | int] = {"state": state if state in _STATES else CLOSED}
        for f in fields(cls):
            if f.name == "state" or f.name not in data:
                continue
            try:
                value = float(data[f.name])
            except (TypeError, ValueError):
                continue
            if not math.isfinite(value) or value < 0:
                continue
            kwargs[f.name] = int(value) if f.name in ("probes", "streak") else value
        return cls(**kwargs)  # type: ignore[arg-type]


def available(state: BreakerState, cfg: BreakerConfig, *, now: float) -> bool:
    """May the policy rank this model among the live ones? (`Arm.available`.)"""
    if state.state == CLOSED:
        return True
    if state.state == OPEN:
        return now - state.changed_at >= cfg.cooldown_s
    return state.probes < cfg.half_open_probes or now - state.probe_at >= cfg.probe_timeout_s


def admit(state: BreakerState, cfg: BreakerConfig, *, now: float) -> tuple[bool, BreakerState]:
    """Claim the right to send one live request now; the new state holds the probe slot."""
    if state.state == CLOSED:
        return True, state
    if state.state == OPEN:
        if now - state.changed_at < cfg.cooldown_s:
            return False, state
        return True, replace(state, state=HALF_OPEN, changed_at=now, probes=1, probe_at=now)
    if state.probes < cfg.half_open_probes:
        return True, replace(state, probes=state.probes + 1, probe_at=now)
    if now - state.probe_at >= cfg.probe_timeout_s:
        # The probes in flight are presumed lost (a replica died holding them).
        return True, replace(state, probes=1, probe_at=now)
    return False, state


def record(
    state: BreakerState, cfg: BreakerConfig, *, success: bool, now: float
) -> BreakerState:
    """Count one upstream result (a failure is an error or timeout, not an invalid answer)."""
    if state.state == HALF_OPEN:
        if success:
            return BreakerState(state=CLOSED, changed_at=now, window_start=now)
        return _opened(state, now)
    if state.state == OPEN:
        return state  # late results of requests sent before it opened change nothing
    s = _rolled(state, cfg, now=now)
    # Built directly, not with dataclasses.replace: this runs on every answer (5x faster).
    s = BreakerState(CLOSED, s.changed_at, s.window_start,
                     s.successes + (1.0 if success else 0.0),
                     s.failures + (0.0 if success else 1.0),
                     s.prev_successes, s.prev_failures, s.probes, s.probe_at,
                     0 if success else s.streak + 1)
    if s.streak >= cfg.consecutive_failures:
        return _opened(s, now)
    rate, volume = failure_rate(s, cfg, now=now)
    if volume >= cfg.min_requests and rate >= cfg.failure_rate:
        return _opened(s, now)
    return s


def recovered(before: BreakerState, after: BreakerState) -> bool:
    """Did this `record` close the breaker after a successful probe? The evidence gathered
    during the outage is then stale: the caller resets that model's posterior to its prior."""
    return before.state == HALF_OPEN and after.state == CLOSED


def failure_rate(state: BreakerState, cfg: BreakerConfig, *, now: float) -> tuple[float, float]:
    """(failure rate, request volume) over the last `window_s`, sliding-window estimate."""
    s = _rolled(state, cfg, now=now)
    overlap = max(0.0, 1.0 - (now - s.window_start) / cfg.window_s)
    fails = s.failures + s.prev_failures * overlap
    volume = fails + s.successes + s.prev_successes * overlap
    return (fails / volume if volume > 0 else 0.0), volume


def _rolled(state: BreakerState, cfg: BreakerConfig, *, now: float) -> BreakerState:
    if not math.isfinite(now) or now < state.window_start + cfg.window_s:
        return state
    buckets = math.floor((now - state.window_start) / cfg.window_s)
    start = state.window_start + buckets * cfg.window_s
    if buckets == 1:
        return replace(state, window_start=start, successes=0.0, failures=0.0,
                       prev_successes=state.successes, prev_failures=state.failures)
    return replace(state, window_start=start, successes=0.0, failures=0.0,
                   prev_successes=0.0, prev_failures=0.0)


def _opened(state: BreakerState, now: float) -> BreakerState:
    return replace(state, state=OPEN, changed_at=now, probes=0, streak=0)


def _num(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
