"""The objectives report holds ours to its budget, latency objective and value scale, and its
checks fail when the mechanism behind one is switched off."""

from __future__ import annotations

import json

import pytest

from gateway.cli import simulate as cli
from policies.evaluation import objectives
from policies.evaluation.ours import Bayesgate
from policies.evaluation.world import Route, tuning_seeds


@pytest.fixture(scope="module")
def report() -> objectives.Objectives:
    return objectives.evaluate_objectives(seeds=tuning_seeds(2), route=Route(), jobs=1)


def test_ours_holds_its_objectives(report: objectives.Objectives) -> None:
    checks = objectives.objective_checks(report)
    assert len(checks) == 7
    assert all(ok for _, ok in checks), [text for text, ok in checks if not ok]
    assert 0.9 < report.over_budget <= 1.01
    assert report.budget_reward > report.cheapest_reward
    assert report.latency_seeds == 2 and report.over_share_mean <= 0.05


class _Unpaced(Bayesgate):
    """Ours with the budget's pacer and the latency guard switched off."""

    def __post_init__(self) -> None:
        pass


def test_the_checks_fail_without_the_pacer_and_the_guard(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(objectives, "Bayesgate", _Unpaced)
    seed = tuning_seeds(1)[0]
    over, used, _, _ = objectives._budget(seed, Route())
    assert over > 1.5 and used > 1.5  # the unconstrained spend, twice the budget or so
    latency = objectives._latency(seed, Route())
    assert latency is not None and latency[0] > 0.2  # far over the p95's 5%


def test_the_objectives_part_alone_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--seeds", "1", "--scenario", "objectives", "--json", "--jobs", "1"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["scenarios"] == {} and doc["lockin"] == []
    assert set(doc["objectives"]) >= {"over_budget", "budget_used", "over_share",
                                      "value_spend", "value_free_reward"}
    names = [c["name"] for c in doc["checks"]]
    assert len(names) == 7 and all(n.startswith(("budget", "latency", "value")) for n in names)
    assert code == (0 if all(c["ok"] for c in doc["checks"]) else 1)
