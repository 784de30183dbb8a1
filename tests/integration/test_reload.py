"""Hot reload: a new config under traffic with no failed request, posteriors kept, an invalid
file rejected, and SIGHUP / `bayesgate reload` against a real `bayesgate serve` process."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import openai
import pytest
from support.gateway import GatewayThread
from support.upstream import Behavior, FakeUpstream

from gateway.config import load

ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, upstream: str, candidates: str, models: tuple[str, ...] = ("a", "b")
          ) -> None:
    listed = "\n".join(f"  {m}: {{provider: up, cost: {{input_per_mtok: 1, output_per_mtok: 1}}}}"
                       for m in models)
    path.write_text(f"""
providers: {{up: {{type: openai, base_url: "{upstream}", timeout_s: 5}}}}
models:
{listed}
routes:
  auto: {{candidates: {candidates}, cost_weight: 0}}
""")


def test_reload_under_traffic_changes_candidates_and_keeps_posteriors(
        upstream: FakeUpstream, tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        upstream.behaviors[name] = Behavior(delay_s=0.03)
    path = tmp_path / "gateway.yaml"
    write(path, upstream.url, "[a, b]")
    gw = GatewayThread(load(path)).start()
    answered: list[tuple[float, str]] = []
    failures: list[str] = []
    stop = threading.Event()

    def drive(worker: int) -> None:
        client = openai.OpenAI(base_url=gw.base_url, api_key="none", max_retries=0)
        i = 0
        while not stop.is_set():
            i += 1
            try:
                if i % 2:
                    started = time.monotonic()
                    out = client.chat.completions.create(
                        model="auto", messages=[{"role": "user", "content": f"{worker}-{i}"}])
                    answered.append((started, out.model))
                else:
                    chunks = list(client.chat.completions.create(
                        model="auto", stream=True,
                        messages=[{"role": "user", "content": f"{worker}-{i}"}]))
                    assert chunks[-1].choices[0].finish_reason == "stop"
            except Exception as exc:  # any failure at all fails the test
                failures.append(repr(exc))

    workers = [threading.Thread(target=drive, args=(n,)) for n in range(6)]
    try:
        for w in workers:
            w.start()
        time.sleep(1.0)
        gw.settle()
        old = gw.gateway
        before = old.store.observations("auto", "b")
        write(path, upstream.url, "[b, c]", models=("b", "c"))  # a is gone altogether
        assert gw.call(old.live.reloader.reload()) is True  # type: ignore[union-attr]
        reloaded_at = time.monotonic()
        new = gw.gateway
        assert new is not old and new.config.routes["auto"].candidates == ("b", "c")
        time.sleep(1.0)
    finally:
        stop.set()
        for w in workers:
            w.join()
    gw.settle()
    try:
        assert failures == []
        after_reload = Counter(model for started, model in answered if started > reloaded_at)
        assert after_reload and set(after_reload) <= {"b", "c"}, after_reload  # never a
        stats = httpx.get(f"{gw.url}/stats").json()["routes"]["auto"]
        assert set(stats["models"]) == {"b", "c"}
        kept = stats["models"]["b"]
        # b kept what it had learned (and learned more since); alpha + beta is capped at
        # decay.max_strength, so count observations
        assert before > 0 and kept["observations"] > before
        client = openai.OpenAI(base_url=gw.base_url, api_key="none", max_retries=0)
        assert client.chat.completions.create(  # the new model is served
            model="c", messages=[{"role": "user", "content": "x"}]).model == "c"
        with pytest.raises(openai.NotFoundError):  # the removed one is gone
            client.chat.completions.create(model="a", messages=[{"role": "user", "content": "x"}])
        # the old generation finished its requests and was closed
        deadline = time.monotonic() + 5
        while not all(t.done() for t in old.tasks) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert old.in_flight == 0 and all(t.done() for t in old.tasks)
    finally:
        gw.stop()


def test_invalid_file_is_rejected_and_the_old_config_kept(
        upstream: FakeUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "gateway.yaml"
    write(path, upstream.url, "[a, b]")
    gw = GatewayThread(load(path)).start()
    try:
        old = gw.gateway
        write(path, upstream.url, "[a, gpt4o]")
        with caplog.at_level(logging.ERROR, logger="bayesgate.reload"):
            assert gw.call(old.live.reloader.reload()) is False  # type: ignore[union-attr]
        assert gw.gateway is old
        assert "routes.auto.candidates[1]: unknown model 'gpt4o'" in caplog.text
        assert "the running config is kept" in caplog.text
        _still_serving_and_counted_one_rejection(gw)
    finally:
        gw.stop()


def test_a_provider_that_cannot_start_rejects_the_reload_and_leaks_nothing(
        upstream: FakeUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A start failure escaped the SIGHUP task, and the providers the new config had started
    were never closed."""
    from providers.openai import OpenAIProvider

    started: list[OpenAIProvider] = []
    closed: list[OpenAIProvider] = []
    real_start, real_close = OpenAIProvider.start, OpenAIProvider.aclose

    async def start(self: OpenAIProvider) -> None:
        if "broken-provider" in self._url:
            raise RuntimeError("cannot start: broken-provider")
        started.append(self)
        await real_start(self)

    async def aclose(self: OpenAIProvider) -> None:
        closed.append(self)
        await real_close(self)
    monkeypatch.setattr(OpenAIProvider, "start", start)
    monkeypatch.setattr(OpenAIProvider, "aclose", aclose)
    path = tmp_path / "gateway.yaml"
    write(path, upstream.url, "[a, b]")
    gw = GatewayThread(load(path)).start()
    try:
        old = gw.gateway
        text = path.read_text().replace("providers: {", f"""providers: {{
  fresh: {{type: openai, base_url: "{upstream.url}"}},
  zbad: {{type: openai, base_url: "http://broken-provider.invalid/v1"}},""")
        path.write_text(text.replace("  b: {provider: up", "  b: {provider: zbad").replace(
            "  a: {provider: up", "  a: {provider: fresh"))
        assert len(started) == 1  # the first config's provider
        with caplog.at_level(logging.ERROR, logger="bayesgate.reload"):
            assert gw.call(old.live.reloader.reload()) is False  # type: ignore[union-attr]
        assert gw.gateway is old
        assert "failed while starting it, the running config is kept" in caplog.text
        assert len(started) == 2 and closed == [started[1]]  # the new one, closed again
        _still_serving_and_counted_one_rejection(gw)
    finally:
        gw.stop()
    assert started[0] in closed  # and the running one at shutdown


def _still_serving_and_counted_one_rejection(gw: GatewayThread) -> None:
    client = openai.OpenAI(base_url=gw.base_url, api_key="none", max_retries=0)
    client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}])
    metrics = httpx.get(f"{gw.url}/metrics").text
    assert 'bayesgate_config_reloads_total{result="rejected"} 1.0' in metrics


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sim_config(path: Path, candidates: str) -> None:
    path.write_text(f"""
providers: {{sim: {{type: simulated}}}}
models:
  s1: {{provider: sim, simulate: {{latency_ms: 1, jitter_ms: 0}}}}
  s2: {{provider: sim, simulate: {{latency_ms: 1, jitter_ms: 0}}}}
routes:
  auto: {{candidates: {candidates}}}
logging: {{format: json}}
""")


def _candidates(url: str) -> list[str]:
    return list(httpx.get(f"{url}/stats").json()["routes"]["auto"]["candidates"])


def _wait_for(check, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_sighup_and_bayesgate_reload(tmp_path: Path) -> None:
    config, pidfile, port = tmp_path / "gateway.yaml", tmp_path / "bayesgate.pid", _free_port()
    _sim_config(config, "[s1]")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    cli = [sys.executable, "-m", "gateway"]
    server = subprocess.Popen([*cli, "serve", "--config", str(config), "--port", str(port),
                               "--pidfile", str(pidfile)], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: httpx.get(f"{url}/healthz").status_code == 200)
        assert pidfile.read_text().strip() == str(server.pid)
        _sim_config(config, "[s1, s2]")
        done = subprocess.run([*cli, "reload", "--pidfile", str(pidfile)], env=env,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        _wait_for(lambda: _candidates(url) == ["s1", "s2"])
        config.write_text("routes: {auto: {candidates: []}}\n")
        os.kill(server.pid, 1)  # SIGHUP, straight
        time.sleep(1.0)
        assert server.poll() is None and _candidates(url) == ["s1", "s2"]
        assert subprocess.run([*cli, "reload", "--pid", "999999999"], env=env,
                              capture_output=True, timeout=30).returncode == 1
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=20)
    assert server.returncode == -15, out  # uvicorn re-raises SIGTERM after a clean stop
    assert not pidfile.exists()
    assert '"logger":"bayesgate.reload","msg":"reloaded' in out, out
    assert "reload of" in out and "rejected, the running config is kept" in out
    assert "routes.auto.candidates: must not be empty" in out
