"""A short `bayesgate simulate`: the same policy code as the server, baselines that learn from
their own answers, sane numbers, and checks that fail when learning fails."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from gateway.cli import simulate as cli
from policies.evaluation import agents, bandits, ours, replay, world
from policies.evaluation import report as ev_report
from policies.evaluation.agents import ORACLE, OURS, STATIC, Request
from policies.evaluation.bandits import SEED

SCENARIOS = ("stationary", "degrade", "mixed", "storm")


@pytest.fixture(scope="module")
def cells() -> list[ev_report.Cell]:
    return ev_report.evaluate(SCENARIOS, rates=(2.0,), seeds=world.tuning_seeds(2),
                              requests=600, route=world.Route(), jobs=2)


def test_every_policy_is_reported_for_every_scenario(cells: list[ev_report.Cell]) -> None:
    assert [c.key for c in cells] == [f"{n}@2" for n in SCENARIOS]
    for cell in cells:
        names = [r.agent for r in cell.rows]
        assert names == list(ev_report.policies(cell.scenario))
        assert {OURS, SEED, "UCB1", "discounted TS 0.99", "sliding-window UCB 200",
                "epsilon-greedy 0.1", STATIC, "lowest latency", "lowest cost", "random",
                ORACLE} <= set(names)
        mixed = cell.scenario == "mixed"
        assert (ev_report.POOLED in names) == mixed
        assert (agents.PHASE_ORACLE in names) == mixed


def test_numbers_are_sane(cells: list[ev_report.Cell]) -> None:
    for cell in cells:
        by = {r.agent: r for r in cell.rows}
        oracle = by[ORACLE]
        assert oracle.cost_ratio == pytest.approx(1.0) and oracle.regret == pytest.approx(0.0)
        assert oracle.normalized_quality == pytest.approx(1.0)
        assert by["random"].normalized_quality == pytest.approx(0.0)
        for r in cell.rows:
            assert r.cost > 0 and math.isfinite(r.cost) and r.regret >= -1e-9, r
            assert 0 <= r.wrong < 0.3 and r.errors >= 0
        assert by["most expensive"].cost > by["lowest cost"].cost
        # The cheap small model answers wrong most often, and no label-free signal sees it.
        assert by["lowest cost"].wrong > by["most expensive"].wrong
        # Even on a short run our policy beats picking at random.
        assert by[OURS].regret < by["random"].regret, cell.key
        assert (by[OURS].adapt is None) == (cell.scenario in ("stationary", "mixed"))


def test_runs_are_reproducible() -> None:
    route = world.Route()
    phases = world.scenario("degrade", seed=3, route=route)
    a, b = (replay.run(ours.Bayesgate(route), phases, route, seed=3, requests=300, rate=2.0,
                       salt=OURS) for _ in range(2))
    assert (a.choices, a.cost, a.quality) == (b.choices, b.cost, b.quality)


def test_the_latency_trend_pays_where_latencies_cycle() -> None:
    """On the daily scenario (each provider slow at its own time of day) following latency
    faster than the posterior loses less; on the stationary one it costs next to nothing."""
    route = world.Route()

    def regret(name: str, trend: bool) -> float:
        total = 0.0
        for seed in world.tuning_seeds(6):
            phases = world.scenario(name, seed=seed, route=route)
            total += replay.run(ours.Bayesgate(route, latency_trend=trend), phases, route,
                                seed=seed, requests=2000, rate=2.0, salt=OURS).regret
        return total

    assert regret("daily", True) < 0.9 * regret("daily", False)
    assert regret("stationary", True) < 1.2 * regret("stationary", False)


def test_models_are_drawn_per_seed_and_seed_sets_are_apart() -> None:
    one, two = (world.scenario("stationary", seed=s)[0].models for s in (1, 2))
    assert [m.name for m in one] == [m.name for m in two]
    assert [m.quality for m in one] != [m.quality for m in two]
    assert world.scenario("stationary")[0].models == world.BASE  # nominal without a seed
    assert not set(world.tuning_seeds(500)) & set(world.evaluation_seeds(500))


def test_each_change_is_chosen_from_the_drawn_truth() -> None:
    route = world.Route()
    cut_wins = 0
    for seed in range(20):
        for name in ("degrade", "outage", "storm"):
            phases = world.scenario(name, seed=seed, route=route)
            before, during = (world.true_utilities(p.models, route) for p in phases[:2])
            best = max(before, key=before.__getitem__)
            assert phases[1].event == "change" and during[best] < before[best] - 0.05
        drift = world.scenario("drift", seed=seed, route=route)
        assert [p.event for p in drift].count("change") == 1
        storm = world.scenario("storm", seed=seed, route=route)
        cut = next(a for a, b in zip(storm[-1].models, storm[0].models, strict=True)
                   if a.price != b.price)
        after = world.true_utilities(storm[-1].models, route)
        assert storm[-1].event == "cut" and after[cut.name] > \
            world.true_utilities(storm[0].models, route)[cut.name]
        cut_wins += max(after, key=after.__getitem__) == cut.name
    assert cut_wins >= 18  # the cut makes that model the best in most draws
    daily = world.scenario("daily", seed=0)
    assert len(daily) == world.DAILY_CYCLES * world.DAILY_STEPS
    fastest = {min(p.models, key=lambda m: m.latency_ms).name for p in daily}
    assert len(fastest) > 1  # the fastest model changes with the time of day


def _two_models(good_first: bool) -> tuple[world.Phase, ...]:
    good = world.WorldModel("good", "x", 0.98, 500, 0.0, world.MINI.price)
    bad = world.WorldModel("bad", "y", 0.3, 500, 0.0, world.MINI.price)
    return (world.Phase(0.0, (bad, good) if good_first else (good, bad)),)


@pytest.mark.parametrize("name", list(bandits.LEARNING) + [OURS, "lowest latency"])
def test_learning_baselines_learn_from_their_own_answers(name: str) -> None:
    route = world.Route()
    make = {**bandits.LEARNING, OURS: lambda r: ours.Bayesgate(r), **agents.SIMPLE}[name]
    for order in (True, False):  # whichever is listed first
        r = replay.run(make(route), _two_models(order), route, seed=1, requests=800,
                       rate=2.0, salt=name)
        late = r.choices[-300:]
        if name == "lowest latency":  # equal latency: it cannot tell them apart
            assert 0.2 < late.count("good") / len(late) < 0.8
        else:
            assert late.count("good") / len(late) > 0.75, (name, late.count("good"))


def test_a_policy_sees_no_truth_but_its_own_observations() -> None:
    seen: list[agents.Observation] = []

    class Spy(agents.Fixed):
        def observe(self, req: Request, obs: agents.Observation) -> None:
            seen.append(obs)
            super().observe(req, obs)

    route = world.Route()
    spy = Spy(lambda req, rng: tuple(req.prices))
    replay.run(spy, _two_models(True), route, seed=1, requests=200, rate=2.0)
    assert len(seen) == 200 and {o.model for o in seen} == {"bad"}  # only what it chose
    assert 0.2 < sum(o.valid for o in seen) / 200 < 0.4


def test_the_checks_fail_for_random_the_static_list_and_the_seed_library(
        cells: list[ev_report.Cell]) -> None:
    failed = ev_report.failed_by(cells)
    for agent in ("random", STATIC, SEED, "lowest cost", "most expensive"):
        assert failed[agent] > 0, failed
    for cell in cells:  # a policy that does not learn misses the quality check everywhere
        assert not all(ok for _, ok in ev_report.checks(cell, "random"))


def test_main_prints_the_table_and_writes_plots(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--seeds", "1", "--requests", "300", "--scenario", "cold", "--rates", "2",
                     "--out", str(tmp_path), "--jobs", "1"])
    out = capsys.readouterr().out
    assert code in (0, 1) and (code == 0) == ("[MISS]" not in out)
    assert "scenario: cold at 2 req/s" in out and "oracle" in out and SEED in out
    assert (tmp_path / "simulate-cold-2rps.png").stat().st_size > 1000


def test_json_is_one_document_in_the_contract_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--seeds", "2", "--requests", "300", "--scenario", "degrade",
                     "--rates", "0.2,20", "--json", "--jobs", "1"])
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["scenarios"]) == {"degrade@0.2", "degrade@20"}
    cell = doc["scenarios"]["degrade@0.2"]
    assert cell["rate_rps"] == 0.2
    assert set(cell["policies"][OURS]) == {"regret_per_1k", "normalized_quality",
                                           "cost_vs_oracle", "adapt_requests",
                                           "recover_requests", "valid_but_wrong"}
    assert cell["policies"][ORACLE]["regret_per_1k"] == 0
    assert cell["checks"] and all(set(c) == {"name", "ok"} for c in cell["checks"])
    assert doc["seeds"] == {"tuning": [0, 1], "evaluation": [10000, 10001]}
    assert doc["graded"] == "evaluation" and doc["ok"] == (code == 0)
    assert doc["ok"] == all(c["ok"] for c in doc["checks"])


def test_bad_rates_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    for rates in ("fast", "0", "-1"):
        with pytest.raises(SystemExit) as err:
            cli.main(["--rates", rates])
        assert err.value.code == 2
    assert "--rates" in capsys.readouterr().err


def test_unknown_scenario_is_a_sentence() -> None:
    with pytest.raises(ValueError) as err:
        world.scenario("meteor")
    assert str(err.value) == (
        "Unknown scenario 'meteor'; choose one of stationary, degrade, outage, cold, arrival, "
        "mixed, drift, daily, storm, lockin-3, lockin-4, lockin-6.")


def test_the_simulator_runs_the_server_policy_code_not_a_copy() -> None:
    from policies import breaker, latency, posterior, reward, thompson

    assert ours.observe is posterior.observe and ours.decayed is posterior.decayed
    assert ours.LatencyTrend is latency.LatencyTrend
    assert ours.reward is reward.reward and replay.reward is reward.reward
    assert ours.ThompsonSampling is thompson.ThompsonSampling
    assert ours.breaker is breaker


def test_request_classes_buy_their_keep_on_the_mixed_workload(
        cells: list[ev_report.Cell]) -> None:
    mixed = next(c for c in cells if c.scenario == "mixed")
    ours_row, pooled = mixed.row(OURS), mixed.row(ev_report.POOLED)
    # Judging each request: the hard ones to a model good enough for them, the rest cheap.
    assert ours_row.regret < pooled.regret
    # The oracle that knows the phase but not each request does worse than the one that does.
    assert mixed.row(agents.PHASE_ORACLE).regret > 0


def test_a_model_its_breaker_refused_is_not_the_choice() -> None:
    class Refuses(agents.Fixed):
        def admit(self, model: str, now: float) -> bool:
            return model != "bad"

    route = world.Route()
    r = replay.run(Refuses(lambda req, rng: ("bad", "good")), _two_models(True), route,
                   seed=1, requests=100, rate=2.0)
    assert set(r.choices) == {"good"}
    good = world.true_utilities(_two_models(True)[0].models, route)
    assert good["good"] > good["bad"] and r.regret == pytest.approx(0.0)


def test_share_counter_counts_near_ties_as_the_best() -> None:
    choices = ["a"] * 10 + ["b"] * 60 + ["c"] * 40
    window = replay.SHARE_WINDOW
    assert replay.requests_to_share(choices, 10, 110, frozenset({"b"})) == window * 0.8
    assert replay.requests_to_share(choices, 10, 110, frozenset({"b", "c"})) == window * 0.8
    assert replay.requests_to_share(choices, 0, 110, frozenset({"z"})) == math.inf
