"""`bayesgate simulate`: the offline evaluator's report (policies.evaluation), printed as
tables or one JSON document, with optional PNG plots; exit 0 only when every check holds."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence

from gateway.cli.plots import plot
from policies.evaluation.lockin import LockinRow, evaluate_lockin, format_lockin, lockin_checks
from policies.evaluation.objectives import (
    Objectives,
    evaluate_objectives,
    format_objectives,
    objective_checks,
)
from policies.evaluation.replay import SHARE_WINDOW
from policies.evaluation.report import (
    Cell,
    as_json,
    checks,
    evaluate,
    failed_by,
    finite,
    format_table,
    overall,
)
from policies.evaluation.world import (
    RATES,
    SCENARIOS,
    Route,
    evaluation_seeds,
    tuning_seeds,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bayesgate simulate",
        description="Offline, seeded evaluation of the routing policy against baselines that "
                    "learn on their own, an oracle, and checks that fail when learning fails.")
    parser.add_argument("--seeds", type=int, default=10,
                        help="runs per scenario and rate (default 10)")
    parser.add_argument("--seed-set", choices=("evaluation", "tuning"), default="evaluation",
                        help="grade the evaluation seeds (default) or the ones defaults may "
                             "be tuned on")
    parser.add_argument("--requests", type=int, default=2000,
                        help="requests per run (default %(default)s)")
    parser.add_argument("--scenario", choices=("all", *SCENARIOS, "lockin", "objectives"),
                        default="all",
                        help="one scenario, 'lockin' for the lock-in family only, "
                             "'objectives' for budgets, latency objectives and values per "
                             "answer only, or all (default)")
    parser.add_argument("--rates", default=",".join(f"{r:g}" for r in RATES),
                        help="requests per second, comma-separated (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--out", metavar="DIR", help="write PNG plots into DIR")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: all cores)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.requests < 4 * SHARE_WINDOW:
        parser.error(f"--seeds must be at least 1 and --requests at least {4 * SHARE_WINDOW}")
    try:
        rates = [float(r) for r in args.rates.split(",")]
    except ValueError:
        parser.error(f"--rates must be numbers separated by commas, got {args.rates!r}")
    if not rates or any(not 0 < r < 1e6 for r in rates):
        parser.error("--rates must be positive numbers of requests per second")
    names = SCENARIOS if args.scenario == "all" else \
        () if args.scenario in ("lockin", "objectives") else (args.scenario,)
    seeds = (evaluation_seeds if args.seed_set == "evaluation" else tuning_seeds)(args.seeds)
    route, jobs, began = Route(), max(1, args.jobs), time.perf_counter()
    cells = evaluate(names, rates=rates, seeds=seeds, requests=args.requests, route=route,
                     jobs=jobs)
    lockin = evaluate_lockin(seeds=seeds, route=route, jobs=jobs) \
        if args.scenario in ("all", "lockin") else []
    objectives = evaluate_objectives(seeds=seeds, route=route, jobs=jobs) \
        if args.scenario in ("all", "objectives") else None
    results = [*(c for cell in cells for c in checks(cell)),
               *([overall(cells)] if len(cells) > 1 else []), *lockin_checks(lockin),
               *(objective_checks(objectives) if objectives else [])]
    ok = all(passed for _, passed in results)
    if args.json:
        print(json.dumps({
            "scenarios": as_json(cells),
            "lockin": [{k: finite(v) for k, v in dataclasses.asdict(r).items()}
                       for r in lockin],
            "objectives": {k: finite(v) if isinstance(v, float) else v for k, v in
                           dataclasses.asdict(objectives).items()} if objectives else None,
            "checks": [{"name": text, "ok": passed} for text, passed in results],
            "ok": ok,
            "requests": args.requests,
            "graded": args.seed_set,
            "seeds": {"tuning": tuning_seeds(args.seeds),
                      "evaluation": evaluation_seeds(args.seeds)},
        }, indent=1, allow_nan=False))
    else:
        _print_text(args, route, cells, lockin, objectives, results, seeds)
    if args.out:
        _plots(cells, args.requests, args.out, quiet=args.json)
    if not args.json:
        print(f"done in {time.perf_counter() - began:.1f} s")
    return 0 if ok else 1


def _print_text(args: argparse.Namespace, route: Route, cells: Sequence[Cell],
                lockin: Sequence[LockinRow], objectives: Objectives | None,
                results: Sequence[tuple[str, bool]], seeds: Sequence[int]) -> None:
    print(f"bayesgate simulate: {len(seeds)} {args.seed_set} seeds ({seeds[0]}-{seeds[-1]}) x "
          f"{args.requests} requests; cost_weight {route.cost_weight}, half-life "
          f"{route.half_life_requests} requests or {route.half_life_s} s, exploration "
          f"{route.exploration}, max strength {route.max_strength}, confidence floor "
          f"{route.confidence_floor} (fallback: the first candidate)\n")
    for cell in cells:
        print(format_table(cell), end="\n\n")
    if lockin:
        print(format_lockin(lockin), end="\n\n")
    if objectives:
        print(format_objectives(objectives), end="\n\n")
    for text, passed in results:
        print(f"  [{'ok' if passed else 'MISS'}] {text}")
    if len(cells) > 1:
        print("\nchecks each policy fails when held to the same checks as ours:")
        for agent, failed in failed_by(cells).items():
            print(f"  {agent:<24} {failed}")


def _plots(cells: Sequence[Cell], requests: int, out_dir: str, *, quiet: bool) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("matplotlib is not installed: skipping plots (pip install 'bayesgate[plots]').",
              file=sys.stderr)
        return
    for cell in cells:
        ours = cell.sample
        for path in plot(f"{cell.scenario} at {cell.rate:g} req/s: bayesgate, first seed",
                         f"simulate-{cell.scenario}-{cell.rate:g}rps.png", choices=ours.choices,
                         trace=ours.trace, window=SHARE_WINDOW, requests=requests,
                         out_dir=out_dir):
            if not quiet:
                print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
