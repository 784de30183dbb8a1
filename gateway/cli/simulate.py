"""`bayesgate simulate`: the offline evaluator's report (policies.evaluation), printed, with
optional PNG plots."""

from __future__ import annotations

import argparse
import os
import sys
import time

from gateway.cli.plots import plot
from policies.evaluation.agents import OURS
from policies.evaluation.lockin import evaluate_lockin, format_lockin, lockin_checks
from policies.evaluation.replay import SHARE_WINDOW
from policies.evaluation.report import checks, evaluate, format_table
from policies.evaluation.world import REQUEST_RATE, SCENARIOS, Route


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bayesgate simulate",
        description="Offline, seeded evaluation of the routing policy against baselines.")
    parser.add_argument("--seeds", type=int, default=20, help="runs per scenario (default 20)")
    parser.add_argument("--requests", type=int, default=3000,
                        help="requests per run (default 3000, %(default)s at 2 req/s)")
    parser.add_argument("--scenario", choices=("all", *SCENARIOS, "lockin"), default="all",
                        help="one scenario, 'lockin' for the lock-in family at 0.2, 2 and 20 "
                             "req/s, or all (default)")
    parser.add_argument("--out", metavar="DIR", help="write PNG plots into DIR")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: all cores)")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.requests < 4 * SHARE_WINDOW:
        parser.error(f"--seeds must be at least 1 and --requests at least {4 * SHARE_WINDOW}")
    names = SCENARIOS if args.scenario == "all" else \
        () if args.scenario == "lockin" else (args.scenario,)
    route = Route()
    began = time.perf_counter()
    jobs = max(1, args.jobs)
    report = evaluate(names, seeds=args.seeds, requests=args.requests, route=route, jobs=jobs)
    lockin = evaluate_lockin(seeds=args.seeds, route=route, jobs=jobs) \
        if args.scenario in ("all", "lockin") else []
    print(f"bayesgate simulate: {args.seeds} seeds x {args.requests} requests at "
          f"{REQUEST_RATE:g} req/s; cost_weight {route.cost_weight}, half-life "
          f"{route.half_life_requests} requests or {route.half_life_s} s, exploration "
          f"{route.exploration}, max strength {route.max_strength}, confidence floor "
          f"{route.confidence_floor} (fallback {route.fallback})\n")
    for name, (rows, _) in report.items():
        print(format_table(name, rows), end="\n\n")
    print("to 80% share: requests after each change of the best model (capped at the run).")
    if lockin:
        print("", format_lockin(lockin), sep="\n", end="\n\n")
    ok = True
    for text, passed in [*checks(report), *lockin_checks(lockin)]:
        ok &= passed
        print(f"  [{'ok' if passed else 'MISS'}] {text}")
    if args.out:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("matplotlib is not installed: skipping plots (pip install 'bayesgate[plots]').")
        else:
            for name, (_, runs) in report.items():
                ours = runs[OURS]
                for path in plot(f"{name}: {OURS}, seed 0", f"simulate-{name}.png",
                                 choices=ours.choices, trace=ours.trace, window=SHARE_WINDOW,
                                 requests=args.requests, out_dir=args.out):
                    print(f"wrote {path}")
    print(f"done in {time.perf_counter() - began:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
