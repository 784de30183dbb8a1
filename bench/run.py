"""bayesgate vs LiteLLM Proxy vs a bare pass-through, side by side, in one run.

    python bench/run.py                 # 3 rounds x 10 s per cell, all targets, 5,000 streams
    python bench/run.py --quick         # 2 rounds x 3 s per cell, no long streams
    python bench/run.py --targets direct,bare,litellm --rounds 5 --duration 20 --streams 0

Starts a fake upstream, then each target as its own process group, measures startup, validates
one plain and one streaming answer, warms up, and runs every scenario against every target,
interleaved (round 1: A B C D, round 2: A B C D, ...), then, with everything else stopped, the
long-streams scenario (bench/streams.py: --streams concurrent 30 s streams through bare and
bayesgate). Prints one markdown table of it all and writes JSON and markdown to bench/results/.
Every process it started is killed at exit, also on Ctrl-C.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import load
import report
import targets as tg
from procs import Proc, free_port, machine_busy_s
from scenarios import DOOR_PATHS, SCENARIOS, body_for

HERE = Path(__file__).resolve().parent

ALL_TARGETS = ["direct", "bare", "litellm", "bayesgate", "traced"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="bayesgate benchmark (see bench/README.md)")
    p.add_argument("--quick", action="store_true", help="2 rounds x 3 s per cell")
    p.add_argument("--rounds", type=int, help="rounds over all cells (default 3, quick 2)")
    p.add_argument("--duration", type=float, help="seconds per cell (default 10, quick 3)")
    p.add_argument("--targets", default=",".join(ALL_TARGETS),
                   help=f"comma list of {ALL_TARGETS}; direct is always added")
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help=f"comma list of {list(SCENARIOS)}")
    p.add_argument("--python", default=sys.executable,
                   help="interpreter that has bayesgate installed (default: this one)")
    p.add_argument("--gateway-config", default=str(HERE / "gateway.bench.yaml"))
    p.add_argument("--litellm-venv", default=str(HERE / ".venv-litellm"))
    p.add_argument("--load", choices=["auto", "wrk", "python"], default="auto",
                   help="load generator: wrk when installed (auto), or bench/loadgen.py")
    p.add_argument("--pin", action="store_true",
                   help="pin servers to CPU 0, upstream and load generator to CPU 1")
    p.add_argument("--streams", type=int,
                   help="open streams of the long-streams scenario, 0 to skip it "
                        "(default 5000, quick 0)")
    p.add_argument("--startup-timeout", type=float, default=120.0)
    p.add_argument("--out", default=str(HERE / "results"))
    args = p.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.warmup = 1.0 if args.quick else 3.0
    if args.streams is None:
        args.streams = 0 if args.quick else 5000
    args.targets = ["direct"] + [t for t in args.targets.split(",") if t and t != "direct"]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    for t in args.targets:
        if t not in ALL_TARGETS:
            p.error(f"--targets: unknown target {t!r}; choose from {ALL_TARGETS}")
    for s in args.scenarios:
        if s not in SCENARIOS:
            p.error(f"--scenarios: unknown scenario {s!r}; choose from {list(SCENARIOS)}")
    if args.rounds < 1 or args.duration <= 0 or args.streams < 0:
        p.error("--rounds must be >= 1, --duration > 0 and --streams >= 0")
    return args


def http_call(port: int, method: str, path: str, *, body: bytes | None = None,
              headers: dict[str, str] | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body,
                     headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_ready(proc: Proc, target: tg.Target, *, timeout_s: float) -> float:
    """Seconds from spawn to the first successful chat completion."""
    body = body_for(target.model, stream=False)
    deadline = proc.spawned_at + timeout_s
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{target.name} exited ({proc.popen.returncode}):\n"
                               f"{proc.log_tail()}")
        try:
            status, _ = http_call(target.port, "POST", "/v1/chat/completions", body=body,
                                  headers=target.headers(), timeout=5)
            if status == 200:
                return time.monotonic() - proc.spawned_at
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{target.name} not ready after {timeout_s:g} s:\n{proc.log_tail()}")


def validate(target: tg.Target) -> None:
    """One plain and one streaming answer, checked before any load is trusted."""
    status, raw = http_call(target.port, "POST", "/v1/chat/completions",
                            body=body_for(target.model, stream=False), headers=target.headers())
    data = json.loads(raw) if status == 200 else {}
    if status != 200 or not data.get("choices", [{}])[0].get("message", {}).get("content"):
        raise RuntimeError(f"{target.name}: bad non-streaming answer {status}: {raw[:300]!r}")
    status, raw = http_call(target.port, "POST", "/v1/chat/completions",
                            body=body_for(target.model, stream=True), headers=target.headers())
    events = [ln for ln in raw.split(b"\n") if ln.startswith(b"data:")]
    if status != 200 or not events or events[-1].strip() != b"data: [DONE]" or len(events) < 9:
        raise RuntimeError(f"{target.name}: bad stream {status}, {len(events)} events: "
                           f"{raw[-300:]!r}")


def upstream_requests(upstream_port: int) -> int:
    status, raw = http_call(upstream_port, "GET", "/_bench/stats")
    if status != 200:
        raise RuntimeError(f"fake upstream stats failed ({status})")
    return int(json.loads(raw)["requests"])


def settle(proc: Proc, *, step_s: float = 0.25, quiet_s: float = 0.011,
           limit_s: float = 15.0) -> None:
    """Wait until the server has finished the work the load left behind.

    When the load generator stops, a slow server still holds up to `conns` requests; LiteLLM at
    saturation needs most of a second for them. That work belongs to this cell's CPU, and left
    running it would steal the CPU of the next target's cell. Quiet = at most one clock tick
    (10 ms) of CPU in a 250 ms step.
    """
    deadline = time.monotonic() + limit_s
    last = proc.cpu_s()
    while time.monotonic() < deadline:
        time.sleep(step_s)
        now = proc.cpu_s()
        if now - last <= quiet_s:
            return
        last = now


def set_delay(upstream_port: int, ms: float) -> None:
    status, _ = http_call(upstream_port, "POST", f"/_bench/delay?ms={ms:g}")
    if status != 200:
        raise RuntimeError(f"fake upstream refused the delay change ({status})")


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stamp = time.strftime("%Y%m%d-%H%M%S")
        self.workdir = Path(args.out).resolve() / self.stamp
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.procs: list[Proc] = []
        self.tool = ("wrk" if load.have_wrk() else "python") if args.load == "auto" else args.load
        if self.tool == "wrk" and not load.have_wrk():
            raise SystemExit("--load wrk: wrk is not installed (apt-get install wrk)")
        pin = args.pin and load.cpu_count() >= 2
        self.server_cpus = {0} if pin else None
        self.side_cpus = {1} if pin else None
        self.pinned = pin
        self.info: dict[str, dict] = {}
        self.live: list[tuple[tg.Target, Proc | None]] = []
        self.cells: list[dict] = []

    def spawn(self, name: str, cmd: list[str], **kw: object) -> Proc:
        proc = Proc(name, cmd, log=self.workdir / f"{name}.log", **kw)  # type: ignore[arg-type]
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    def start_upstream(self) -> None:
        self.upstream_port = free_port()
        self.upstream = self.spawn("upstream", [
            sys.executable, str(HERE / "fake_upstream.py"), "--port", str(self.upstream_port)],
            cpus=self.side_cpus)
        target = tg.direct(self.upstream_port)
        startup = wait_ready(self.upstream, target, timeout_s=30)
        self.info["direct"] = {"startup_s": startup, "note": "the fake upstream itself"}
        self.live.append((target, self.upstream))

    def build(self, name: str) -> tg.Target:
        port, up, args = free_port(), self.upstream_port, self.args
        if name == "bare":
            return tg.bare(port, up)
        if name == "litellm":
            venv = Path(args.litellm_venv).resolve()
            skip = tg.ensure_litellm_venv(venv, log=self.workdir / "litellm-venv.log")
            target = tg.litellm(port, up, venv=venv, workdir=self.workdir)
            target.skip = skip
            return target
        if name == "traced":
            return tg.traced(port, up, python=args.python,
                             config=Path(args.gateway_config).resolve(), workdir=self.workdir)
        return tg.bayesgate(port, up, python=args.python,
                            config=Path(args.gateway_config).resolve())

    def start_targets(self) -> None:
        for name in self.args.targets[1:]:
            target = self.build(name)
            if target.skip:
                print(f"[skip] {name}: {target.skip}", flush=True)
                self.info[name] = {"note": f"skipped: {target.skip}"}
                continue
            proc = self.spawn(name, target.cmd, env=target.env, cwd=target.cwd,
                              cpus=self.server_cpus)
            try:
                startup = wait_ready(proc, target, timeout_s=self.args.startup_timeout)
            except RuntimeError as exc:
                print(f"[fail] {exc}", flush=True)
                self.info[name] = {"note": f"failed to start (see {proc.log_path})"}
                proc.stop()
                continue
            self.info[name] = {"startup_s": startup, "note": ""}
            print(f"[up] {name} ready in {startup:.2f} s (pid {proc.pid})", flush=True)
            self.live.append((target, proc))

    def prepare(self) -> None:
        """Validate, warm up and measure each target's idle CPU."""
        checked = []
        for target, proc in self.live:
            try:
                validate(target)
            except (RuntimeError, OSError, ValueError) as exc:
                print(f"[fail] {exc}", flush=True)
                self.info[target.name]["note"] = f"failed validation: {exc}"[:200]
                if proc is not self.upstream and proc is not None:
                    proc.stop()
                continue
            for stream in (False, True):
                self.load(target, stream=stream, conns=16, duration=self.args.warmup, tag="warm")
            checked.append((target, proc))
        self.live = checked
        idle = 1.0 if self.args.quick else 3.0
        before = {t.name: p.cpu_s() for t, p in self.live}
        time.sleep(idle)
        for t, p in self.live:
            self.info[t.name]["idle_cpu_ms_per_s"] = (p.cpu_s() - before[t.name]) * 1000 / idle

    def load(self, target: tg.Target, *, stream: bool, conns: int, duration: float,
             tag: str, door: str = "chat", model: str | None = None) -> dict:
        url = target.url.replace(DOOR_PATHS["chat"], DOOR_PATHS[door])
        return load.run_cell(tool=self.tool, url=url,
                             body=body_for(model or target.model, stream=stream, door=door),
                             headers=target.headers(), connections=conns, duration_s=duration,
                             workdir=self.workdir, tag=f"{target.name}-{tag}",
                             cpus=self.side_cpus)

    def cell(self, rnd: int, scenario: str, target: tg.Target, proc: Proc) -> dict:
        sc = SCENARIOS[scenario]
        set_delay(self.upstream_port, sc["delay_ms"])
        settle(proc)
        n0, cpu0, up0 = upstream_requests(self.upstream_port), proc.cpu_s(), self.upstream.cpu_s()
        busy0 = machine_busy_s()
        res = self.load(target, stream=sc["stream"], conns=sc["conns"],
                        duration=self.args.duration, tag=scenario,
                        door=sc.get("door", "chat"), model=sc.get("route"))
        up1, busy1, mid = self.upstream.cpu_s(), machine_busy_s(), proc.cpu_s()
        # CPU that neither the server, the upstream nor the load generator used: other work on
        # the machine competing for the 2 cores during this cell.
        ours = (mid - cpu0) + res["loadgen_cpu_s"] + (0 if proc is self.upstream else up1 - up0)
        foreign = max(0.0, (busy1 - busy0) - ours)
        settle(proc)
        n1, cpu1 = upstream_requests(self.upstream_port), proc.cpu_s()
        # CPU/request divides by the requests the upstream received: those the client completed
        # plus those still in flight when the load stopped, whose CPU is in the window too.
        forwarded = n1 - n0
        reqs, dur = res["requests"], res["duration_s"]
        lat = res["latency_us"]
        row = {"round": rnd, "scenario": scenario, "target": target.name, "tool": res["tool"],
               "requests": reqs, "forwarded": forwarded, "duration_s": dur, "rps": res["rps"],
               "p50_ms": lat["p50"] / 1000, "p90_ms": lat["p90"] / 1000,
               "p99_ms": lat["p99"] / 1000, "max_ms": lat["max"] / 1000,
               "errors": sum(res["errors"].values()), "error_kinds": res["errors"],
               "cpu_s": cpu1 - cpu0,
               "cpu_ms_per_req": (cpu1 - cpu0) * 1000 / forwarded if forwarded else float("nan"),
               "upstream_cpu_pct": (up1 - up0) * 100 / dur if dur else float("nan"),
               "loadgen_cpu_pct": res["loadgen_cpu_s"] * 100 / dur if dur else float("nan"),
               "foreign_cpu_pct": foreign * 100 / dur if dur else float("nan")}
        self.info[target.name]["peak_rss_mb"] = proc.peak_rss_mb()
        print(f"  r{rnd} {scenario:7s} {target.name:9s} {row['rps']:8.0f} req/s  "
              f"p50 {row['p50_ms']:8.2f} ms  p99 {row['p99_ms']:8.2f} ms  "
              f"cpu {row['cpu_ms_per_req']:7.3f} ms/req  err {row['errors']}", flush=True)
        return row

    def rounds(self) -> None:
        for rnd in range(1, self.args.rounds + 1):
            print(f"round {rnd}/{self.args.rounds}", flush=True)
            for scenario in self.args.scenarios:
                for target, proc in list(self.live):
                    if "door" in SCENARIOS[scenario] and target.name != "bayesgate":
                        continue  # only bayesgate has them; traces cost the same there
                    try:
                        if proc is not None and not proc.alive():
                            raise RuntimeError(f"exited ({proc.popen.returncode}):\n"
                                               f"{proc.log_tail()}")
                        self.cells.append(self.cell(rnd, scenario, target, proc))  # type: ignore[arg-type]
                    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                        # One broken target must not cost the others' figures.
                        print(f"[fail] {target.name} in {scenario}, round {rnd}: {exc}",
                              flush=True)
                        self.info[target.name]["note"] = f"dropped in round {rnd}: {exc}"[:200]
                        self.live.remove((target, proc))
                        if proc is not None and proc is not self.upstream:
                            proc.stop()

    def streams(self) -> dict | None:
        """The long-streams scenario, once every other server is stopped: bench/streams.py
        runs bare and bayesgate one after the other with their own upstream."""
        which = [t for t in ("bare", "bayesgate") if t in self.args.targets]
        if not self.args.streams or not which:
            return None
        out = self.workdir / "streams.json"
        cmd = [sys.executable, str(HERE / "streams.py"), "--streams", str(self.args.streams),
               "--python", self.args.python, "--targets", ",".join(which), "--out", str(out)]
        print(f"long streams: {' '.join(cmd[1:])}", flush=True)
        with open(self.workdir / "streams.log", "w") as log:
            rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
        if rc == 0 and out.exists():
            return dict(json.loads(out.read_text()))
        print(f"[fail] long streams exited {rc}; see {self.workdir / 'streams.log'}", flush=True)
        return {"failed": f"bench/streams.py exited {rc}"}

    def result(self) -> dict:
        names = [t for t in self.args.targets if any(c["target"] == t for c in self.cells)]
        summary = report.summarize(self.cells, self.args.scenarios, names)
        sat_direct = summary.get("sat", {}).get("direct")
        note = ""
        if sat_direct:
            note = (f"Fake upstream alone (direct, sat): {sat_direct['rps']:.0f} req/s at "
                    f"{sat_direct['cpu_ms_per_req'] * 1000:.0f} us CPU/req; during the proxy "
                    "cells it used the upstream CPU % listed in the JSON.")
        foreign = [c["foreign_cpu_pct"] for c in self.cells]
        meta = {"command": " ".join(["python"] + sys.argv), "started": self.stamp,
                "foreign_cpu_pct_median": statistics.median(foreign) if foreign else 0.0,
                "foreign_cpu_pct_max": max(foreign) if foreign else 0.0,
                "load_tool": self.tool, "rounds": self.args.rounds,
                "duration_s": self.args.duration, "cpus": load.cpu_count(),
                "pinned": self.pinned, "python": sys.version.split()[0],
                "gateway_python": self.args.python}
        run = {"meta": meta, "scenarios": {s: SCENARIOS[s] for s in self.args.scenarios},
               "targets": self.info, "summary": summary, "ratios": report.ratios(summary),
               "goals": report.goals(summary, self.info), "upstream_note": note,
               "cells": self.cells}
        return run


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (and SIGHUP) go through the same cleanup as Ctrl-C.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    bench = Bench(args)
    print(f"results in {bench.workdir}; load generator: {bench.tool}", flush=True)
    try:
        bench.start_upstream()
        bench.start_targets()
        bench.prepare()
        bench.rounds()
        run = bench.result()
        bench.stop_all()
        run["streams"] = bench.streams()
        run["goals"] += report.stream_goals(run["streams"])
    except KeyboardInterrupt:
        print("interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        bench.stop_all()
    text = report.markdown(run)
    (bench.workdir / "report.md").write_text(text)
    (bench.workdir / "result.json").write_text(json.dumps(run, indent=2))
    latest = Path(args.out) / "latest.json"
    latest.write_text(json.dumps(run, indent=2))
    print()
    print(text)
    print(f"wrote {bench.workdir / 'result.json'} and {latest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
