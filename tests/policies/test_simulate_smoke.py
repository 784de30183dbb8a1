"""A short `bayesgate simulate`: the same policy code as the server, sane numbers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from gateway import simulate


@pytest.fixture(scope="module")
def report() -> dict[str, tuple[list[simulate.Row], dict[str, simulate.Run]]]:
    return simulate.evaluate(simulate.SCENARIOS, seeds=2, requests=600, route=simulate.Route())


def test_every_baseline_is_reported_for_every_scenario(report: dict) -> None:  # type: ignore[type-arg]
    assert set(report) == set(simulate.SCENARIOS)
    for rows, _ in report.values():
        assert [r.agent for r in rows] == list(simulate.agents(simulate.Route()))


def test_numbers_are_sane(report: dict) -> None:  # type: ignore[type-arg]
    for name, (rows, _) in report.items():
        by = {r.agent: r for r in rows}
        oracle = by["oracle"]
        assert oracle.cost_ratio == pytest.approx(1.0) and oracle.retention == pytest.approx(1.0)
        assert oracle.regret == pytest.approx(0.0)
        for r in rows:
            assert r.cost > 0 and math.isfinite(r.cost) and r.regret >= -1e-9
            assert 0 < r.retention < 1.2 and r.errors >= 0
        assert by["most expensive"].cost > by["cheapest"].cost
        # Even on a short run our policy beats picking at random.
        assert by[simulate.OURS].regret < by["random"].regret, name
        assert by[simulate.OURS].retention > 0.9, name


def test_runs_are_reproducible() -> None:
    phases = simulate.scenario("degrade")
    route = simulate.Route()
    agent = simulate.agents(route)[simulate.OURS]
    a = simulate.run(simulate.OURS, agent, phases, route, seed=3, requests=300)
    b = simulate.run(simulate.OURS, agent, phases, route, seed=3, requests=300)
    assert (a.choices, a.cost, a.quality) == (b.choices, b.cost, b.quality)


def test_share_counter() -> None:
    choices = ["a"] * 10 + ["b"] * 100
    assert simulate._requests_to_share(choices, 10, "b", 110) == simulate.SHARE_WINDOW * 0.8
    assert simulate._requests_to_share(choices, 0, "c", 110) == math.inf


def test_main_prints_the_table_and_writes_plots(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = simulate.main(["--seeds", "1", "--requests", "300", "--scenario", "cold",
                          "--out", str(tmp_path), "--jobs", "1"])
    out = capsys.readouterr().out
    assert code in (0, 1)
    assert "scenario: cold" in out and "oracle" in out and "epsilon-greedy" in out
    assert (tmp_path / "simulate-cold.png").stat().st_size > 1000


def test_unknown_scenario_is_a_sentence() -> None:
    with pytest.raises(ValueError) as err:
        simulate.scenario("meteor")
    assert str(err.value) == (
        "Unknown scenario 'meteor'; choose one of stationary, degrade, outage, cold.")


def test_the_simulator_runs_the_server_policy_code_not_a_copy() -> None:
    from policies import breaker, posterior, reward, thompson

    assert simulate.observe is posterior.observe and simulate.decayed is posterior.decayed
    assert simulate.reward is reward.reward
    assert simulate.ThompsonSampling is thompson.ThompsonSampling
    assert simulate.breaker is breaker
