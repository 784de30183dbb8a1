"""Turn the benchmark's cells into medians, ratios and a markdown report."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

# The goals, checked for bayesgate when it ran: issue 7's (against LiteLLM, startup, RSS),
# issue 12's (what a front door's translation may add) and issue 17's (against the bare
# pass-through, added latency, traces, long streams), which replaced issue 7's 1.5x, 2 ms, 5 ms.
GOALS = {"cpu_vs_litellm": 1 / 15, "cpu_vs_bare": 1.3, "added_p50_ms": 1.0, "added_p99_ms": 3.0,
         "startup_s": 1.5, "rss_mb": 100.0, "translation_ms": 0.15, "tracing_ms": 0.1,
         "stream_added_ttft_p99_ms": 20.0, "kb_per_open_stream": 20.0,
         "rss_after_over_start": 1.1}


def _median(values: list[float]) -> float:
    clean = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(clean) if clean else float("nan")


def summarize(cells: list[dict], scenarios: list[str], targets: list[str]) -> dict:
    """Medians across rounds per (scenario, target); added latency is taken per round against
    `direct` in the same round and scenario, then the median of those differences."""
    by_key: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for c in cells:
        by_key[(c["scenario"], c["target"])].append(c)
    out: dict[str, dict[str, dict]] = {}
    for s in scenarios:
        out[s] = {}
        direct = {c["round"]: c for c in by_key.get((s, "direct"), [])}
        for t in targets:
            rows = by_key.get((s, t), [])
            if not rows:
                continue
            added50 = [c["p50_ms"] - direct[c["round"]]["p50_ms"] for c in rows
                       if c["round"] in direct]
            added99 = [c["p99_ms"] - direct[c["round"]]["p99_ms"] for c in rows
                       if c["round"] in direct]
            out[s][t] = {
                "rounds": len(rows),
                "rps": _median([c["rps"] for c in rows]),
                "p50_ms": _median([c["p50_ms"] for c in rows]),
                "p99_ms": _median([c["p99_ms"] for c in rows]),
                "added_p50_ms": _median(added50) if t != "direct" else 0.0,
                "added_p99_ms": _median(added99) if t != "direct" else 0.0,
                "cpu_ms_per_req": _median([c["cpu_ms_per_req"] for c in rows]),
                "upstream_cpu_pct": _median([c["upstream_cpu_pct"] for c in rows]),
                "loadgen_cpu_pct": _median([c["loadgen_cpu_pct"] for c in rows]),
                "foreign_cpu_pct": _median([c["foreign_cpu_pct"] for c in rows]),
                "errors": sum(c["errors"] for c in rows),
            }
    return out


def ratios(summary: dict) -> dict:
    """CPU/request and req/s of each proxy against LiteLLM Proxy, CPU/request against bare."""
    res: dict[str, dict[str, float]] = {}
    for s, per_target in summary.items():
        lit, bare = per_target.get("litellm"), per_target.get("bare")
        for t, m in per_target.items():
            if t in ("direct", "litellm"):
                continue
            r = res.setdefault(t, {})
            if lit:
                cpu = lit["cpu_ms_per_req"] / m["cpu_ms_per_req"]
                r[f"{s}.litellm_cpu_per_req_over_this"] = cpu
                r[f"{s}.rps_over_litellm"] = m["rps"] / lit["rps"]
            if bare and t != "bare":
                r[f"{s}.cpu_per_req_over_bare"] = m["cpu_ms_per_req"] / bare["cpu_ms_per_req"]
            plain = per_target.get("bayesgate")
            if t == "traced" and plain:  # what the traces cost, every request sampled
                r[f"{s}.cpu_ms_over_bayesgate"] = m["cpu_ms_per_req"] - plain["cpu_ms_per_req"]
    # The other front doors against their chat twin: what the translation adds.
    for door, twin in TRANSLATIONS.items():
        m, chat = summary.get(door, {}).get("bayesgate"), summary.get(twin, {}).get("bayesgate")
        if m and chat:
            res.setdefault("bayesgate", {})[f"{door}.cpu_ms_over_chat"] = \
                m["cpu_ms_per_req"] - chat["cpu_ms_per_req"]
    return res


TRANSLATIONS = {"responses": "sat", "responses_stream": "stream", "messages": "sat",
                "messages_stream": "stream", "responses_native": "sat",
                "responses_native_stream": "stream", "messages_native": "sat",
                "messages_native_stream": "stream"}


def _f(v: float, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}f}"


def markdown(run: dict) -> str:
    summary, per_target, scen = run["summary"], run["targets"], run["scenarios"]
    lines = [f"bench: {run['meta']['command']}", "",
             f"load: {run['meta']['load_tool']}, {run['meta']['rounds']} rounds x "
             f"{run['meta']['duration_s']:g} s per cell, medians across rounds; "
             f"{run['meta']['cpus']} CPUs shared by load generator, upstream and server"
             + (" (pinned: servers on CPU 0, upstream and load on CPU 1)"
                if run["meta"]["pinned"] else ""),
             f"other processes on the machine during the cells: median "
             f"{run['meta']['foreign_cpu_pct_median']:.0f}%, max "
             f"{run['meta']['foreign_cpu_pct_max']:.0f}% of one core"
             + (" -- NOT a quiet machine: absolute figures are depressed, compare ratios"
                if run["meta"]["foreign_cpu_pct_median"] > 20 else ""), "",
             "| scenario | target | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms "
             "| CPU ms/req | errors |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s, per in summary.items():
        for t, m in per.items():
            added = ("-", "-") if t == "direct" else (_f(m["added_p50_ms"]),
                                                       _f(m["added_p99_ms"]))
            lines.append(f"| {s} ({scen[s]['label']}) | {t} | {_f(m['rps'], 0)} | "
                         f"{_f(m['p50_ms'])} | {_f(m['p99_ms'])} | {added[0]} | {added[1]} | "
                         f"{_f(m['cpu_ms_per_req'], 3)} | {m['errors']} |")
    lines += _stream_rows(run.get("streams"))
    lines += ["", "| target | startup s | peak RSS MB | idle CPU ms/s | note |",
              "| --- | ---: | ---: | ---: | --- |"]
    for t, info in per_target.items():
        note = " ".join(str(info.get("note", "")).split()).replace("|", "/")
        lines.append(f"| {t} | {_f(info.get('startup_s'))} | {_f(info.get('peak_rss_mb'), 0)} | "
                     f"{_f(info.get('idle_cpu_ms_per_s'))} | {note} |")
    lines += ["", "Headline (same run):"]
    for t, r in run["ratios"].items():
        parts = []
        for s in ("sat", "stream"):
            if f"{s}.litellm_cpu_per_req_over_this" in r:
                parts.append(f"{s}: {r[f'{s}.litellm_cpu_per_req_over_this']:.1f}x less CPU/req "
                             f"than LiteLLM, {r[f'{s}.rps_over_litellm']:.1f}x its req/s")
            if f"{s}.cpu_per_req_over_bare" in r:
                parts.append(f"{s}: {r[f'{s}.cpu_per_req_over_bare']:.2f}x bare's CPU/req")
        for s in ("sat", "stream"):
            if f"{s}.cpu_ms_over_bayesgate" in r:
                parts.append(f"{s}: traces {r[f'{s}.cpu_ms_over_bayesgate'] * 1000:+.0f} us "
                             "CPU/req over bayesgate")
        for door, twin in TRANSLATIONS.items():
            if f"{door}.cpu_ms_over_chat" in r:
                parts.append(f"{door}: {r[f'{door}.cpu_ms_over_chat'] * 1000:+.0f} us CPU/req "
                             f"over {twin}")
        if parts:
            lines.append(f"- {t}: " + "; ".join(parts))
    if run.get("goals"):
        lines += ["", "Goals for bayesgate:"]
        lines += [f"- {g['what']}: {g['value']} (goal {g['goal']}) "
                  f"{'MET' if g['met'] else 'NOT MET'}" for g in run["goals"]]
    if run.get("upstream_note"):
        lines += ["", run["upstream_note"]]
    return "\n".join(lines) + "\n"


def goals(summary: dict, per_target: dict) -> list[dict]:
    if "bayesgate" not in per_target or per_target["bayesgate"].get("startup_s") is None:
        return []
    out = []

    def add(what: str, value: float, goal: float, *, le: bool = True) -> None:
        if value is None or math.isnan(value):
            return
        out.append({"what": what, "value": round(value, 3), "goal": ("<= " if le else "< ")
                    + f"{goal:.3g}", "met": value <= goal if le else value < goal})

    for s in ("sat", "stream"):
        per = summary.get(s, {})
        g, lit, bare = per.get("bayesgate"), per.get("litellm"), per.get("bare")
        if g and lit:
            add(f"{s}: CPU/req as a fraction of LiteLLM's",
                g["cpu_ms_per_req"] / lit["cpu_ms_per_req"], GOALS["cpu_vs_litellm"])
        if g and bare:
            add(f"{s}: CPU/req over bare", g["cpu_ms_per_req"] / bare["cpu_ms_per_req"],
                GOALS["cpu_vs_bare"])
    g = summary.get("d50c16", {}).get("bayesgate")
    if g:
        add("d50c16: added p50 ms", g["added_p50_ms"], GOALS["added_p50_ms"], le=False)
        add("d50c16: added p99 ms", g["added_p99_ms"], GOALS["added_p99_ms"], le=False)
    for door, twin in TRANSLATIONS.items():
        m, chat = summary.get(door, {}).get("bayesgate"), summary.get(twin, {}).get("bayesgate")
        if m and chat:
            add(f"{door}: CPU ms/req over {twin} "
                f"({'the pass-through' if 'native' in door else 'the translation'})",
                m["cpu_ms_per_req"] - chat["cpu_ms_per_req"], GOALS["translation_ms"])
    for s in ("sat", "stream"):
        t, g = summary.get(s, {}).get("traced"), summary.get(s, {}).get("bayesgate")
        if t and g:
            add(f"{s}: traces, CPU ms/req over bayesgate", t["cpu_ms_per_req"]
                - g["cpu_ms_per_req"], GOALS["tracing_ms"])
    info = per_target["bayesgate"]
    add("startup s", info["startup_s"], GOALS["startup_s"], le=False)
    add("peak RSS MB", info["peak_rss_mb"], GOALS["rss_mb"], le=False)
    return out


STREAMS_LABEL = "{n} open {s} s SSE streams; latency = time to first token"


def _stream_rows(streams: dict | None) -> list[str]:
    """The long-streams scenario as rows of the same table: p50/p99 are the streams' time to
    first token, added p50/p99 the probes' (through the proxy minus straight to the upstream,
    side by side while the streams run), CPU ms/req the CPU per stream; req/s does not apply.
    Memory follows the table."""
    if not streams or "targets" not in streams:
        return ["", f"long streams: {streams['failed']}"] if streams else []
    label = STREAMS_LABEL.format(n=f"{streams['streams']:,}", s=streams["stream_s"])
    lines = []
    for t, m in streams["targets"].items():
        probes, ttft = m["probe_ttft_ms"], m["stream_ttft_ms"]
        gw50, up50 = probes.get("gateway_p50"), probes.get("upstream_p50")
        added50 = gw50 - up50 if gw50 is not None and up50 is not None else None
        lines.append(f"| streams ({label}) | {t} | - | {_f(ttft['p50'])} | {_f(ttft['p99'])} | "
                     f"{_f(added50)} | {_f(m['added_ttft_p99_ms'])} | "
                     f"{_f(m['gateway_cpu_ms_per_stream'], 3)} | {m['errors']} |")
    memory = "; ".join(
        f"{t} {m['kb_per_open_stream']:.0f} KB per open stream, RSS {m['rss_mb']['start']:.0f} "
        f"MB at start / {m['rss_mb']['peak']:.0f} peak / {m['rss_mb']['after']:.0f} "
        f"{m['after_s']:g} s after the last stream" for t, m in streams["targets"].items())
    return lines + ["", f"Long streams, memory: {memory}."]


def stream_goals(streams: dict | None) -> list[dict]:
    m = (streams or {}).get("targets", {}).get("bayesgate")
    if not m:
        return []
    rss = m["rss_mb"]
    checks = [("streams: errors", m["errors"], 0, True),
              ("streams: added TTFT p99 ms", m["added_ttft_p99_ms"],
               GOALS["stream_added_ttft_p99_ms"], False),
              ("streams: KB per open stream", m["kb_per_open_stream"],
               GOALS["kb_per_open_stream"], False),
              ("streams: RSS after / at start", rss["after"] / rss["start"],
               GOALS["rss_after_over_start"], True)]
    return [{"what": what, "value": None if value is None else round(value, 3),
             "goal": ("<= " if le else "< ") + f"{goal:.3g}",
             "met": value is not None and (value <= goal if le else value < goal)}
            for what, value, goal, le in checks]
