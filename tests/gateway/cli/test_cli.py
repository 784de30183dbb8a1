"""The CLI as a user runs it: real processes."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True,
                          text=True, timeout=60)


def test_check_config_ok_and_bad(tmp_path: Path) -> None:
    ok = run("check-config", "gateway.yaml")
    assert ok.returncode == 0 and "ok" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers: {p: {type: simulated}}\nmodels: {m: {provider: p}}\n"
                   "routes: {auto: {candidates: [m], fallback: gpt4o}}\n")
    result = run("check-config", str(bad))
    assert result.returncode == 1
    assert "routes.auto.fallback: unknown model 'gpt4o'" in result.stderr


def serve(cwd: Path | None = None) -> tuple[subprocess.Popen[str], int]:
    """`bayesgate serve` on a free port, once it answers /healthz."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(port)],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return proc, port


def test_serve_default_config_answers_the_openai_sdk() -> None:
    proc, port = serve()
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x")
        answer = client.chat.completions.create(model="auto",
                                                messages=[{"role": "user", "content": "hi"}])
        assert answer.model in ("sim-mini", "sim-balanced", "sim-pro")
        chunks = list(client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}], stream=True))
        assert chunks[0].model in ("sim-mini", "sim-balanced", "sim-pro")
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0]
    assert proc.returncode in (0, -15), output  # uvicorn re-raises SIGTERM after a clean stop
    assert "Application shutdown complete" in output
    assert "accepts every caller" in output  # the open-gateway warning


def test_demo_runs_and_learns() -> None:
    result = run("demo", "--requests", "120", "--concurrency", "24")
    assert result.returncode == 0, result.stderr
    assert "sim-balanced" in result.stdout
    assert "0 client-visible errors" in result.stdout
    assert "chosen" in result.stdout  # how often each candidate was chosen first


def test_version_and_help() -> None:
    from gateway import __version__

    assert run("--version").stdout.strip() == f"bayesgate {__version__}"
    helped = run("--help").stdout
    assert all(c in helped for c in ("serve", "check-config", "reload", "demo", "simulate"))
    assert "default config shipped with bayesgate" in run("serve", "--help").stdout


def test_serve_outside_the_repository_uses_the_shipped_config(tmp_path: Path) -> None:
    proc, port = serve(cwd=tmp_path)
    try:
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                            json={"model": "auto", "messages": [{"role": "user", "content": "x"}]})
        assert answer.status_code == 200
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0]
    assert "no ./gateway.yaml here: the default config shipped with bayesgate" in output
    assert f"curl http://127.0.0.1:{port}/v1/chat/completions" in output
    assert "route      auto: sim-mini, sim-balanced, sim-pro" in output
