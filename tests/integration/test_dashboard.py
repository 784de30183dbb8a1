"""/dashboard in a real headless Chromium (Debian's `chromium`, which `.ci/run` installs) against
a running gateway with traffic: the page draws every route's charts with the live numbers.

Set BAYESGATE_SCREENSHOT=docs/dashboard.png to refresh the screenshot kept in the docs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.gateway import GatewayThread

CONFIG = """
providers: {sim: {type: simulated}}
models:
  sim-mini:
    provider: sim
    cost: {input_per_mtok: 0.15, output_per_mtok: 0.60}
    simulate: {latency_ms: 15, jitter_ms: 5, error_rate: 0.02, invalid_rate: 0.15}
  sim-balanced:
    provider: sim
    cost: {input_per_mtok: 0.80, output_per_mtok: 3.20}
    simulate: {latency_ms: 40, jitter_ms: 10, error_rate: 0.01, invalid_rate: 0.01}
  sim-pro:
    provider: sim
    cost: {input_per_mtok: 5.00, output_per_mtok: 15.00}
    simulate: {latency_ms: 90, jitter_ms: 20}
routes:
  auto:
    candidates: [sim-mini, sim-balanced, sim-pro]
    decay: {half_life_s: null}
    reward: {latency_midpoint_ms: 80, latency_scale_ms: 25}
  quality:
    candidates: [sim-pro, sim-balanced, sim-mini]
    cost_weight: 0
    decay: {half_life_s: null}
dashboard: {history_interval_s: 0.2}
"""

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars"]


def chromium() -> str:
    found = os.environ.get("BAYESGATE_CHROMIUM") or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is missing in CI: .ci/run installs Debian's chromium package")
    pytest.skip("no chromium found and none installed here: `apt-get install chromium` (or "
                "`bash .ci/run`, which installs it) to run the browser test")


def browse(url: str, *args: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}",
                               "--virtual-time-budget=4000", *args, url],
                              capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayThread]:
    """A gateway that has served a few seconds of traffic on both routes."""
    server = GatewayThread(CONFIG, seed=5).start()
    stop = time.monotonic() + 5.0

    def drive(route: str) -> None:
        with httpx.Client(timeout=10) as client:
            i = 0
            while time.monotonic() < stop:
                i += 1
                client.post(f"{server.base_url}/chat/completions", json={
                    "model": route, "stream": i % 2 == 0,
                    "messages": [{"role": "user", "content": f"{route} {i}"}]})

    workers = [threading.Thread(target=drive, args=(r,)) for r in ["auto"] * 6 + ["quality"] * 2]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    server.settle()
    time.sleep(0.5)  # a few history points after the last answer
    yield server
    server.stop()


def test_page_draws_the_live_numbers(gw: GatewayThread) -> None:
    stats = httpx.get(f"{gw.url}/stats").json()
    dom = browse(f"{gw.url}/dashboard", "--dump-dom")
    assert "cannot load" not in dom
    assert re.search(r'<body data-updated="[0-9.]+"', dom), dom[:2000]
    for name, route in stats["routes"].items():
        section = re.search(rf'<section class="route" data-route="{name}">(.*?)</section>', dom,
                            re.S)
        assert section, name
        html = section.group(1)
        assert f"always {route['cost']['baseline_model']} would have cost" in html
        for model, m in route["models"].items():
            assert re.search(rf'<path class="density" d="M[^"]+Z"[^>]*data-model="{model}"',
                             html), (name, model)
            row = re.search(rf'<tr data-model="{model}">(.*?)</tr>', html, re.S)
            assert row, (name, model)
            assert f'<td class="mean">{m["mean"]:.3f}</td>' in row.group(1), (model, m["mean"])
            assert f'<td class="share">{m["share"] * 100:.0f}%</td>' in row.group(1)
            assert f'>{m["circuit"]}</span>' in row.group(1)
        assert_density_scale_and_legend(html, route["models"])
        for cls, c in route["classes"].items():  # the request classes' table
            row = re.search(rf'<tr data-class="{cls}">(.*?)</tr>', html, re.S)
            assert row, (name, cls)
            assert f'<td class="requests">{c["requests"]}</td>' in row.group(1)
            for model in route["candidates"]:
                m = c["models"][model]
                assert re.search(rf'<td class="class-model" data-model="{model}">'
                                 rf'{m["selections"]}[^<]*· {m["mean"]:.3f}</td>', row.group(1)), \
                    (cls, model, row.group(1))
        # share over time (stacked areas), reward and latency lines: one per model served
        areas = re.findall(r'<path d="M[^"]+Z" fill="[^"]+" fill-opacity="0.6" stroke="none" '
                           r'data-model="([^"]+)" class="area"', html)
        assert sorted(areas) == sorted(route["models"])
        lines = re.findall(r'<path d="M[^"]+" class="series" stroke="[^"]+" data-model="([^"]+)"',
                           html)
        rewarded = [mm for mm, d in route["models"].items() if d["reward_recent"] is not None]
        timed = [mm for mm, d in route["models"].items() if d["latency_ms"]["p50"] is not None]
        assert rewarded and timed
        for mm in route["models"]:  # one reward line and one latency line per model measured
            assert lines.count(mm) == (mm in rewarded) + (mm in timed), (mm, lines)


def density_chart(html: str) -> str:
    chart = re.search(r'<svg [^>]*id="density">(.*?)</svg>', html, re.S)
    assert chart, html[:2000]
    return chart.group(1)


def assert_density_scale_and_legend(html: str, models: dict[str, dict]) -> None:
    """The density chart has a scale (density ticks, reward ticks, axis labels) and a legend
    entry per model with its alpha, beta and mean, whether or not its curve is hidden."""
    chart = density_chart(html)
    tick = r'<text [^>]*class="{}"[^>]*>([0-9.]+)</text>'
    yticks = [float(v) for v in re.findall(tick.format("ytick"), chart)]
    assert len(yticks) >= 2 and yticks[0] == 0 and yticks == sorted(yticks), yticks
    assert yticks[-1] > 0
    xticks = [float(v) for v in re.findall(tick.format("xtick"), chart)]
    assert len(xticks) >= 3 and all(0 <= v <= 1 for v in xticks), xticks
    assert xticks == sorted(xticks), xticks
    labels = re.findall(r'<text [^>]*class="axis-label"[^>]*>([^<]+)</text>', chart)
    assert sorted(labels) == ["density", "expected reward"], labels
    for model, m in models.items():
        entry = re.search(rf'<li data-model="{model}"[^>]*>(.*?)</li>', html, re.S)
        assert entry, (model, html[:3000])
        nums = re.search(r'α ([0-9.]+) β ([0-9.]+) · mean ([0-9.]+)', entry.group(1))
        assert nums, entry.group(1)
        alpha, beta, mean = map(float, nums.groups())
        assert abs(alpha - m["alpha"]) <= 0.051 and abs(beta - m["beta"]) <= 0.051, (model, nums)
        assert abs(mean - m["mean"]) <= 0.0006, (model, nums)
        assert re.search(rf'<path class="curve" d="M[^"]+" stroke="[^"]+" data-model="{model}"',
                         chart), model


def test_coinciding_posteriors_stay_visible() -> None:
    """Right after start every model sits at its prior Beta(1, 1): the curves coincide, so each
    is drawn with its own slice of an interleaved dash pattern (a distinct offset, every colour
    shows), every model is in the legend and a note names the coinciding ones."""
    server = GatewayThread(CONFIG, seed=5).start()
    try:
        dom = browse(f"{server.url}/dashboard", "--dump-dom")
    finally:
        server.stop()
    assert "cannot load" not in dom
    routes = {"auto": ["sim-mini", "sim-balanced", "sim-pro"],
              "quality": ["sim-pro", "sim-balanced", "sim-mini"]}
    for name, models in routes.items():
        section = re.search(rf'<section class="route" data-route="{name}">(.*?)</section>', dom,
                            re.S)
        assert section, name
        html = section.group(1)
        assert_density_scale_and_legend(html, {m: {"alpha": 1.0, "beta": 1.0, "mean": 0.5}
                                               for m in models})
        chart = density_chart(html)
        curves = re.findall(r'<path class="curve" d="M[^"]+" stroke="([^"]+)" data-model="([^"]+)"'
                            r' stroke-dasharray="([^"]+)" stroke-dashoffset="([^"]+)"', chart)
        assert [c[1] for c in curves] == models, curves
        assert len({c[0] for c in curves}) == len(models)  # distinct colours
        assert {c[2] for c in curves} == {"6 12"}  # dash 6, gap for the other two
        assert sorted(float(c[3]) for c in curves) == [0, 6, 12]  # each its own slice
        note = re.search(r'<p class="coincide" data-models="([^"]+)">([^<]+)</p>', html)
        assert note and note.group(1).split() == models, html[-3000:]
        assert all(m in note.group(2) for m in models) and "coincide" in note.group(2)
        assert len(re.findall(r'<li data-model="[^"]+" class="coincides">', html)) == len(models)


def test_screenshot_shows_the_charts(gw: GatewayThread, tmp_path: Path) -> None:
    shot = tmp_path / "dashboard.png"
    browse(f"{gw.url}/dashboard", f"--screenshot={shot}", "--window-size=1500,1100")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))[..., :3]
    # the first three model colours of the page are all on screen (charts, not a blank page)
    for rgb in ((0x25, 0x63, 0xEB), (0xDC, 0x26, 0x26), (0x05, 0x96, 0x69)):
        target = [c / 255 for c in rgb]
        close = (abs(pixels - target) < 0.03).all(axis=-1)
        assert close.sum() > 200, rgb
    keep = os.environ.get("BAYESGATE_SCREENSHOT")
    if keep:
        Path(keep).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, keep)
