"""Drive one benchmark cell: wrk (a Lua script sets the POST body and prints the percentiles)
when it is installed, else bench/loadgen.py in its own process. Both report the same JSON shape:
requests (successful), duration_s, rps, errors{...}, latency_us{p50,p90,p99,mean,max}, plus
the load generator's own CPU seconds (it shares the 2 cores with the servers under test).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

from procs import pin_to

HERE = Path(__file__).resolve().parent

WRK_LUA = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
{headers}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {{"requests_total":%d,"duration_us":%d,"errors":{{"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d}},"latency_us":{{"p50":%.1f,"p90":%.1f,"p99":%.1f,' ..
    '"mean":%.1f,"max":%.1f}}}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean,
    latency.max))
end
"""


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_cell(*, tool: str, url: str, body: bytes, headers: dict[str, str], connections: int,
             duration_s: float, workdir: Path, tag: str, cpus: set[int] | None = None,
             timeout_s: float = 30.0) -> dict:
    before = _children_cpu_s()
    if tool == "wrk":
        result = _run_wrk(url=url, body=body, headers=headers, connections=connections,
                          duration_s=duration_s, workdir=workdir, tag=tag, cpus=cpus,
                          timeout_s=timeout_s)
    else:
        result = _run_loadgen(url=url, body=body, headers=headers, connections=connections,
                              duration_s=duration_s, workdir=workdir, tag=tag, cpus=cpus,
                              timeout_s=timeout_s)
    result["loadgen_cpu_s"] = _children_cpu_s() - before
    return result


def _bounded(cmd: list[str], *, duration_s: float, timeout_s: float,
             cpus: set[int] | None) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=pin_to(cpus),
                          timeout=duration_s + timeout_s + 15)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-500:]}")
    return proc.stdout


def _run_wrk(*, url: str, body: bytes, headers: dict[str, str], connections: int,
             duration_s: float, workdir: Path, tag: str, cpus: set[int] | None,
             timeout_s: float) -> dict:
    script = workdir / f"wrk-{tag}.lua"
    hdr = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    script.write_text(WRK_LUA.format(body=body.decode(), headers=hdr))
    threads = max(1, min(2, connections))
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s:g}s",
           f"--timeout={timeout_s:g}s", "-s", str(script), url]
    out = _bounded(cmd, duration_s=duration_s, timeout_s=timeout_s, cpus=cpus)
    line = next((x for x in out.splitlines() if x.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {out[-500:]}")
    raw = json.loads(line[len("BENCHJSON "):])
    errors = raw["errors"]
    ok = raw["requests_total"] - errors["status"]
    duration = raw["duration_us"] / 1e6
    return {"tool": "wrk", "requests": ok, "duration_s": duration,
            "rps": ok / duration if duration else 0.0, "errors": errors,
            "latency_us": raw["latency_us"]}


def _run_loadgen(*, url: str, body: bytes, headers: dict[str, str], connections: int,
                 duration_s: float, workdir: Path, tag: str, cpus: set[int] | None,
                 timeout_s: float) -> dict:
    body_file = workdir / f"body-{tag}.json"
    body_file.write_bytes(body)
    cmd = [sys.executable, str(HERE / "loadgen.py"), "--url", url, "--body-file", str(body_file),
           "--connections", str(connections), "--duration", str(duration_s),
           "--timeout", str(timeout_s)]
    for k, v in headers.items():
        cmd += ["--header", f"{k}: {v}"]
    out = _bounded(cmd, duration_s=duration_s, timeout_s=timeout_s, cpus=cpus)
    return json.loads(out.strip().splitlines()[-1])


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))
