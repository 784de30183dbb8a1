"""bench/streams.py runs end to end at a small scale: long streams through a real bayesgate
process, probes, and the report's fields (no timing asserted: figures come from the bench)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_long_streams_bench_reports_every_stream(tmp_path: Path) -> None:
    out = tmp_path / "streams.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "streams.py"), "--streams", "60", "--stream-s",
         "3", "--ramp-s", "1", "--after-s", "0", "--targets", "bayesgate", "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())["targets"]["bayesgate"]
    assert report["completed"] == 60 and report["errors"] == 0 and report["statuses"] == [200]
    assert report["probes"]["gateway"] > 10 and report["probes"]["errors"] == 0
    assert report["stream_ttft_ms"]["p50"] > 0 and report["added_ttft_p99_ms"] is not None
    assert report["rss_mb"]["peak"] >= report["rss_mb"]["start"] > 0
    # bench/run.py puts the same JSON into its one table and checks its goals.
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import report as bench_report
    finally:
        sys.path.remove(str(REPO / "bench"))
    rows = bench_report._stream_rows(json.loads(out.read_text()))
    assert rows[0].startswith("| streams (60 open 3 s SSE streams") and "| bayesgate |" in rows[0]
    assert rows[0].endswith("| 0 |") and "KB per open stream" in rows[-1]
    goals = {g["what"]: g for g in bench_report.stream_goals(json.loads(out.read_text()))}
    assert goals["streams: errors"]["met"] and goals["streams: errors"]["value"] == 0
    assert goals["streams: added TTFT p99 ms"]["value"] == report["added_ttft_p99_ms"]
