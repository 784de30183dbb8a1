from __future__ import annotations

import pytest

from policies.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    BreakerConfig,
    BreakerState,
    admit,
    available,
    failure_rate,
    record,
    recovered,
)

CFG = BreakerConfig(failure_rate=0.5, min_requests=4, window_s=10.0, cooldown_s=5.0,
                    half_open_probes=1, probe_timeout_s=20.0)


def fail(state: BreakerState, now: float, n: int = 1) -> BreakerState:
    for _ in range(n):
        state = record(state, CFG, success=False, now=now)
    return state


def opened(now: float = 1.0) -> BreakerState:
    s = fail(BreakerState(), now, 4)
    assert s.state == OPEN
    return s


def test_it_stays_closed_below_the_minimum_volume() -> None:
    s = fail(BreakerState(), 1.0, 3)
    assert s.state == CLOSED and available(s, CFG, now=1.0)


def test_it_opens_at_the_failure_rate_with_enough_volume() -> None:
    s = BreakerState()
    for ok in (True, True, False, False):
        s = record(s, CFG, success=ok, now=1.0)
    assert s.state == OPEN and s.changed_at == 1.0
    assert not available(s, CFG, now=2.0)
    assert admit(s, CFG, now=2.0) == (False, s)


def test_a_failure_streak_opens_it_even_in_a_busy_window() -> None:
    s = BreakerState()
    for _ in range(100):
        s = record(s, CFG, success=True, now=1.0)
    s = fail(s, 2.0, 4)
    assert s.state == CLOSED and s.streak == 4
    assert record(s, CFG, success=True, now=2.0).streak == 0  # a success breaks the streak
    s = fail(s, 2.0)
    assert s.state == OPEN and s.streak == 0


def test_recovered_marks_only_a_probe_that_closed_it() -> None:
    _, probing = admit(opened(), CFG, now=6.0)
    closed = record(probing, CFG, success=True, now=7.0)
    assert recovered(probing, closed)
    assert not recovered(probing, record(probing, CFG, success=False, now=7.0))
    assert not recovered(closed, record(closed, CFG, success=True, now=8.0))


def test_old_failures_slide_out_of_the_window() -> None:
    s = fail(BreakerState(), 1.0, 3)
    assert failure_rate(s, CFG, now=1.0) == (1.0, 3.0)
    rate, volume = failure_rate(s, CFG, now=15.0)  # half the previous bucket still counts
    assert volume == pytest.approx(1.5) and rate == 1.0
    s = fail(s, 40.0)  # both buckets expired: a lone failure is below the volume
    assert s.state == CLOSED and failure_rate(s, CFG, now=40.0) == (1.0, 1.0)


def test_after_the_cooldown_a_live_request_probes_it() -> None:
    s = opened()
    assert available(s, CFG, now=6.0)
    ok, s = admit(s, CFG, now=6.0)
    assert ok and s.state == HALF_OPEN and s.probes == 1
    assert not available(s, CFG, now=6.5)
    assert admit(s, CFG, now=6.5)[0] is False  # the probe budget is bounded


def test_a_probe_success_closes_and_a_failure_reopens() -> None:
    _, probing = admit(opened(), CFG, now=6.0)
    closed = record(probing, CFG, success=True, now=7.0)
    assert closed.state == CLOSED and closed.failures == 0 and closed.prev_failures == 0
    reopened = record(probing, CFG, success=False, now=7.0)
    assert reopened.state == OPEN and reopened.changed_at == 7.0
    assert not available(reopened, CFG, now=11.0) and available(reopened, CFG, now=12.0)


def test_a_lost_probe_frees_its_slot_after_the_timeout() -> None:
    _, probing = admit(opened(), CFG, now=6.0)
    assert admit(probing, CFG, now=25.0)[0] is False
    ok, again = admit(probing, CFG, now=26.0)
    assert ok and again.probes == 1 and again.probe_at == 26.0


def test_several_probes_when_configured() -> None:
    cfg = BreakerConfig(min_requests=1, cooldown_s=1.0, half_open_probes=3)
    s = record(BreakerState(), cfg, success=False, now=0.0)
    grants = []
    for _ in range(5):
        ok, s = admit(s, cfg, now=2.0)
        grants.append(ok)
    assert grants == [True, True, True, False, False]


def test_late_results_while_open_change_nothing() -> None:
    s = opened()
    assert record(s, CFG, success=True, now=2.0) == s


def test_state_round_trips_through_a_redis_hash() -> None:
    _, s = admit(opened(), CFG, now=6.0)
    fields = s.to_fields()
    assert all(isinstance(v, str | float | int) for v in fields.values())
    as_redis = {k.encode(): str(v).encode() for k, v in fields.items()}
    assert BreakerState.from_fields(as_redis) == s
    assert BreakerState.from_fields(fields) == s


def test_a_broken_hash_parses_to_defaults() -> None:
    junk = {"state": "melted", "failures": "x", "probes": "-3", "changed_at": "nan"}
    assert BreakerState.from_fields(junk) == BreakerState()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"failure_rate": 0}, "The breaker failure_rate must be a fraction in (0, 1], got 0."),
        ({"min_requests": 0},
         "The breaker min_requests must be a whole number of at least 1, got 0."),
        ({"consecutive_failures": -2},
         "The breaker consecutive_failures must be a whole number of at least 1, got -2."),
        ({"half_open_probes": 1.5},
         "The breaker half_open_probes must be a whole number of at least 1, got 1.5."),
        ({"window_s": -1},
         "The breaker window_s must be a positive finite number of seconds, got -1."),
        ({"cooldown_s": float("inf")},
         "The breaker cooldown_s must be a positive finite number of seconds, got inf."),
    ],
)
def test_config_errors_are_sentences(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as err:
        BreakerConfig(**kwargs)  # type: ignore[arg-type]
    assert str(err.value) == message
