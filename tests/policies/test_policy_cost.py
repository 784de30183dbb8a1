from __future__ import annotations

import math

import pytest

from policies.cost import MAX_TOKENS, Price, TokenMeter, expected_cost, normalized, request_cost


def test_expected_cost_in_usd() -> None:
    usd = expected_cost(input_per_mtok=2.5, output_per_mtok=10.0, input_tokens=1000,
                        output_tokens=500)
    assert usd == pytest.approx(0.0075)


def test_normalized_divides_by_the_largest_and_zeroes_junk() -> None:
    assert normalized({"a": 2.0, "b": 1.0, "c": math.nan, "d": -1.0}) == {
        "a": 1.0, "b": 0.5, "c": 0.0, "d": 0.0}
    assert normalized({"a": 0.0}) == {"a": 0.0}
    assert normalized({}) == {}


def test_meter_starts_from_a_guess_then_the_first_answer_replaces_it() -> None:
    meter = TokenMeter()
    assert meter.count == 0
    first = meter.observed(input_tokens=100, output_tokens=40)
    assert (first.input_tokens, first.output_tokens, first.count) == (100.0, 40.0, 1)


def test_meter_is_a_plain_mean_within_the_window_then_an_ewma() -> None:
    meter = TokenMeter()
    for n in (10, 20, 30):
        meter = meter.observed(input_tokens=n, output_tokens=n, window=4)
    assert meter.input_tokens == pytest.approx(20.0)
    for _ in range(200):
        meter = meter.observed(input_tokens=1000, output_tokens=0, window=4)
    assert meter.input_tokens == pytest.approx(1000.0, rel=1e-6)
    assert meter.output_tokens == pytest.approx(0.0, abs=1e-6)


def test_meter_ignores_nan_and_clamps_absurd_counts() -> None:
    meter = TokenMeter(100.0, 100.0, 5)
    assert meter.observed(input_tokens=math.nan, output_tokens=3) is meter
    huge = meter.observed(input_tokens=1e30, output_tokens=-7, window=1)
    assert (huge.input_tokens, huge.output_tokens) == (MAX_TOKENS, 0.0)


def test_meter_round_trips_through_fields() -> None:
    meter = TokenMeter(123.5, 45.25, 7)
    stored = {k.encode(): str(v).encode() for k, v in meter.to_fields().items()}
    assert TokenMeter.from_fields(stored) == meter  # type: ignore[arg-type]
    assert TokenMeter.from_fields({"input_tokens": "junk"}) == TokenMeter()


def test_request_cost_uses_the_measured_means() -> None:
    meter = TokenMeter(1000.0, 500.0, 3)
    assert request_cost(meter, Price(2.5, 10.0)) == pytest.approx(0.0075)


def test_bad_price_and_window_are_sentences() -> None:
    with pytest.raises(ValueError) as err:
        Price(-1.0, 2.0)
    assert str(err.value) == (
        "The price input_per_mtok must be a finite number of USD of at least 0, got -1.0.")
    with pytest.raises(ValueError) as err:
        TokenMeter().observed(input_tokens=1, output_tokens=1, window=0)
    assert str(err.value) == "The token meter window must be at least 1 answer, got 0."
