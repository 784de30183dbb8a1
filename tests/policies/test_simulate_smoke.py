"""A short `bayesgate simulate`: the same policy code as the server, sane numbers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from gateway.cli import simulate as cli
from policies.evaluation import agents as ev_agents
from policies.evaluation import replay, world
from policies.evaluation import report as ev_report


@pytest.fixture(scope="module")
def report() -> dict[str, tuple[list[ev_report.Row], dict[str, replay.Run]]]:
    return ev_report.evaluate(world.SCENARIOS, seeds=2, requests=600, route=world.Route())


def test_every_baseline_is_reported_for_every_scenario(report: dict) -> None:  # type: ignore[type-arg]
    assert set(report) == set(world.SCENARIOS)
    for name, (rows, _) in report.items():
        expected = [a for a in ev_agents.agents(world.Route())
                    if a != ev_agents.POOLED or name == "mixed"]  # classes matter only mixed
        assert [r.agent for r in rows] == expected


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
        assert by[ev_agents.OURS].regret < by["random"].regret, name
        assert by[ev_agents.OURS].retention > 0.9, name


def test_runs_are_reproducible() -> None:
    phases = world.scenario("degrade")
    route = world.Route()
    agent = ev_agents.agents(route)[ev_agents.OURS]
    a = replay.run(ev_agents.OURS, agent, phases, route, seed=3, requests=300)
    b = replay.run(ev_agents.OURS, agent, phases, route, seed=3, requests=300)
    assert (a.choices, a.cost, a.quality) == (b.choices, b.cost, b.quality)


def test_share_counter() -> None:
    choices = ["a"] * 10 + ["b"] * 100
    assert replay._requests_to_share(choices, 10, "b", 110) == replay.SHARE_WINDOW * 0.8
    assert replay._requests_to_share(choices, 0, "c", 110) == math.inf


def test_main_prints_the_table_and_writes_plots(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--seeds", "1", "--requests", "300", "--scenario", "cold",
                          "--out", str(tmp_path), "--jobs", "1"])
    out = capsys.readouterr().out
    assert code in (0, 1)
    assert "scenario: cold" in out and "oracle" in out and "epsilon-greedy" in out
    assert (tmp_path / "simulate-cold.png").stat().st_size > 1000


def test_unknown_scenario_is_a_sentence() -> None:
    with pytest.raises(ValueError) as err:
        world.scenario("meteor")
    assert str(err.value) == (
        "Unknown scenario 'meteor'; choose one of stationary, degrade, outage, cold, mixed, "
        "lockin-3, lockin-4, lockin-6.")


def test_the_simulator_runs_the_server_policy_code_not_a_copy() -> None:
    from policies import breaker, posterior, reward, thompson

    assert replay.observe is posterior.observe and replay.decayed is posterior.decayed
    assert replay.reward is reward.reward
    assert ev_agents.ThompsonSampling is thompson.ThompsonSampling
    assert replay.breaker is breaker


def test_request_classes_buy_their_keep_on_the_mixed_workload(report: dict) -> None:  # type: ignore[type-arg]
    by = {r.agent: r for r in report["mixed"][0]}
    ours, pooled = by[ev_agents.OURS], by[ev_agents.POOLED]
    # Judging each request: the hard ones to a model good enough for them, the rest cheap.
    # (Quality against the oracle needs longer runs: see `bayesgate simulate --scenario mixed`.)
    assert ours.regret < pooled.regret and ours.cost < pooled.cost
