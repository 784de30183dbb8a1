"""What each front door costs over chat, side by side: one bayesgate process, short cells of
every door in turn, many times over, so that the machine's drift hits every door alike.

    python bench/doors.py [--cycles 12] [--cell-s 2] [--conns 32] [--out FILE]

bench/run.py measures each door once a round, minutes away from its chat twin; on a shared
machine whose speed moves by a quarter between rounds, that cannot resolve a tenth of a
millisecond. Here each cycle runs one cell of every scenario (chat JSON, chat SSE, then the
Responses and Messages doors, translated and native, in an order rotated every cycle), reading
the gateway's CPU time around each cell. A door's cost is the median over cycles of its CPU
per request minus its chat twin's in the same cycle (`sat` for JSON, `stream` for SSE).
Prints a table and one JSON document (also written to --out).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import load
import targets as tg
from procs import Proc, free_port
from run import settle, upstream_requests, wait_ready
from scenarios import DOOR_PATHS, SCENARIOS, body_for

HERE = Path(__file__).resolve().parent
TWINS = {"sat": None, "stream": None, "responses": "sat", "responses_stream": "stream",
         "messages": "sat", "messages_stream": "stream", "responses_native": "sat",
         "responses_native_stream": "stream", "messages_native": "sat",
         "messages_native_stream": "stream"}


def cell(gateway: Proc, target: tg.Target, upstream_port: int, scenario: str, *,
         seconds: float, conns: int, workdir: Path) -> float:
    """The gateway's CPU ms per request over one cell of `scenario`."""
    sc = SCENARIOS[scenario]
    door = sc.get("door", "chat")
    settle(gateway)
    n0, cpu0 = upstream_requests(upstream_port), gateway.cpu_s()
    result = load.run_cell(
        tool="wrk" if load.have_wrk() else "python",
        url=target.url.replace(DOOR_PATHS["chat"], DOOR_PATHS[door]),
        body=body_for(sc.get("route", target.model), stream=sc["stream"], door=door),
        headers=target.headers(), connections=conns, duration_s=seconds, workdir=workdir,
        tag=scenario)
    settle(gateway)
    served = upstream_requests(upstream_port) - n0
    if sum(result["errors"].values()) or served <= 0:
        raise RuntimeError(f"{scenario}: {result['errors']}, {served} served")
    return (gateway.cpu_s() - cpu0) * 1000 / served


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, list[float]]:
    up_port, gw_port = free_port(), free_port()
    upstream = Proc("upstream", [sys.executable, str(HERE / "fake_upstream.py"), "--port",
                                 str(up_port)], log=workdir / "upstream.log", cpus={1})
    target = tg.bayesgate(gw_port, up_port, python=sys.executable,
                          config=HERE / "gateway.bench.yaml")
    gateway = Proc("bayesgate", target.cmd, log=workdir / "bayesgate.log", env=target.env,
                   cwd=target.cwd, cpus={0})
    try:
        wait_ready(upstream, tg.direct(up_port), timeout_s=30)
        wait_ready(gateway, target, timeout_s=60)
        names = list(TWINS)
        for name in names:  # warm-up
            cell(gateway, target, up_port, name, seconds=1, conns=args.conns, workdir=workdir)
        cpu: dict[str, list[float]] = {name: [] for name in names}
        for c in range(args.cycles):
            for name in names[c % len(names):] + names[:c % len(names)]:
                cpu[name].append(cell(gateway, target, up_port, name, seconds=args.cell_s,
                                      conns=args.conns, workdir=workdir))
            print(f"cycle {c + 1}/{args.cycles}: " + " ".join(
                f"{n} {cpu[n][-1]:.3f}" for n in names), flush=True)
        return cpu
    finally:
        gateway.stop()
        upstream.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cycles", type=int, default=12)
    p.add_argument("--cell-s", type=float, default=2.0)
    p.add_argument("--conns", type=int, default=32)
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-doors-") as tmp:
        cpu = measure(args, Path(tmp))
    rows = {}
    print(f"\n| door | CPU ms/req (median) | over its chat twin, median of {args.cycles} "
          "paired cycles | middle half |\n| --- | ---: | ---: | --- |")
    for name, twin in TWINS.items():
        median = statistics.median(cpu[name])
        rows[name] = {"cpu_ms_per_req": median, "twin": twin}
        over = ""
        if twin is not None:
            diffs = sorted(a - b for a, b in zip(cpu[name], cpu[twin], strict=True))
            q = len(diffs) // 4
            rows[name]["over_twin_ms"] = statistics.median(diffs)
            over = f"{statistics.median(diffs):+.3f}"
            spread = f"{diffs[q]:+.3f} to {diffs[-q - 1]:+.3f}"
        else:
            spread = ""
        print(f"| {name} | {median:.3f} | {over} | {spread} |")
    document = json.dumps({"cycles": args.cycles, "cell_s": args.cell_s, "conns": args.conns,
                           "doors": rows, "cpu_ms_per_req": cpu}, indent=1)
    if args.out:
        Path(args.out).write_text(document)
    print(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
