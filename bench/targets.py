"""The servers under test. Each target knows how to start itself against the fake upstream, what a
client sends it (URL, model, auth) and why it cannot run here, if it cannot.

  direct     the fake upstream itself: the latency baseline for "added latency"
  bare       bench/bare_proxy.py: starlette + aiohttp pass-through, the floor
  litellm    LiteLLM Proxy (pinned) in its own venv, one worker, one model
  bayesgate  `python -m gateway serve` with a two-candidate route `auto`
  traced     the same with OpenTelemetry traces on, every request sampled, exported over OTLP/HTTP
             to the fake upstream's /v1/traces (which answers 200 and discards them)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LITELLM_VERSION = "1.106.2"
LITELLM_MASTER_KEY = "sk-bench-master"
GATEWAY_KEY = "sk-bench-gw"
UPSTREAM_MODEL = "fake-model"

# Keeps LiteLLM off the network: the price map is read from the package instead of fetched.
OFFLINE_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


@dataclass
class Target:
    name: str
    port: int
    model: str
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = REPO
    api_key: str | None = None
    skip: str | None = None  # why it cannot run here

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(OFFLINE_ENV)
    env.update(extra)
    return env


def direct(port: int) -> Target:
    # Started by the orchestrator as the upstream; this target only points the load at it.
    return Target("direct", port, UPSTREAM_MODEL)


def bare(port: int, upstream_port: int) -> Target:
    return Target("bare", port, UPSTREAM_MODEL, cmd=[
        sys.executable, str(HERE / "bare_proxy.py"), "--port", str(port),
        "--upstream", f"http://127.0.0.1:{upstream_port}/v1"], env=_env({}))


def ensure_litellm_venv(venv: Path, *, log: Path) -> str | None:
    """Create the LiteLLM Proxy venv when missing. Returns a reason to skip, or None."""
    exe = venv / "bin" / "litellm"
    if exe.exists():
        return None
    print(f"creating {venv} with litellm[proxy]=={LITELLM_VERSION} (a few minutes, once) ...",
          flush=True)
    with open(log, "wb") as out:
        for cmd in ([sys.executable, "-m", "venv", str(venv)],
                    [str(venv / "bin" / "pip"), "install", "-q",
                     f"litellm[proxy]=={LITELLM_VERSION}"]):
            try:
                rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    timeout=1200).returncode
            except subprocess.TimeoutExpired:
                rc = -1
            if rc != 0:
                return f"could not create {venv} ({' '.join(cmd[:3])} exited {rc}; see {log})"
    return None if exe.exists() else f"{exe} missing after install (see {log})"


def litellm(port: int, upstream_port: int, *, venv: Path, workdir: Path) -> Target:
    config = workdir / "litellm.config.yaml"
    # JSON is valid YAML; one model pointing at the fake upstream, master key set, no DB.
    config.write_text(json.dumps({
        "model_list": [{"model_name": UPSTREAM_MODEL, "litellm_params": {
            "model": f"openai/{UPSTREAM_MODEL}",
            "api_base": f"http://127.0.0.1:{upstream_port}/v1", "api_key": "sk-bench"}}],
        "general_settings": {"master_key": LITELLM_MASTER_KEY},
        "litellm_settings": {"set_verbose": False},
    }, indent=2))
    # uvicorn's access log off, like the other targets: a per-request log line is not what the
    # comparison is about.
    log_config = workdir / "litellm.logging.json"
    log_config.write_text(json.dumps({
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
        "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "loggers": {"uvicorn": {"handlers": ["out"], "level": "INFO", "propagate": False},
                    "uvicorn.access": {"handlers": ["out"], "level": "WARNING",
                                       "propagate": False}},
    }))
    cmd = [str(venv / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1",
           "--port", str(port), "--num_workers", "1", "--log_config", str(log_config)]
    return Target("litellm", port, UPSTREAM_MODEL, cmd=cmd, api_key=LITELLM_MASTER_KEY,
                  cwd=workdir, env=_env({"LITELLM_LOG": "ERROR"}))


def importable(python: str, module: str = "gateway",
               fix: str = "pass --python or pip install -e .") -> str | None:
    """Why `python` cannot import `module` (a reason to skip a target), or None."""
    try:
        proc = subprocess.run([python, "-c", f"import {module}"], cwd=REPO, capture_output=True,
                              text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{python} cannot run: {exc}"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return f"`import {module}` fails with {python} ({last}); {fix}"
    return None


def bayesgate(port: int, upstream_port: int, *, python: str, config: Path,
              name: str = "bayesgate") -> Target:
    cmd = [python, "-m", "gateway", "serve", "--config", str(config), "--port", str(port)]
    return Target(name, port, "auto", cmd=cmd, api_key=GATEWAY_KEY,
                  env=_env({"BENCH_UPSTREAM_PORT": str(upstream_port),
                            "BENCH_GATEWAY_KEY": GATEWAY_KEY}),
                  skip=importable(python))


def traced(port: int, upstream_port: int, *, python: str, config: Path, workdir: Path) -> Target:
    """bayesgate with traces on: `config` plus a telemetry section pointing at the upstream."""
    text = config.read_text() + (
        "telemetry: {enabled: true, sample_ratio: 1.0, "
        f"endpoint: \"http://127.0.0.1:{upstream_port}/v1/traces\"}}\n")
    traced_config = workdir / "gateway.traced.yaml"
    traced_config.write_text(text)
    target = bayesgate(port, upstream_port, python=python, config=traced_config, name="traced")
    if target.skip is None:
        target.skip = importable(python, "opentelemetry.exporter.otlp.proto.http",
                                 "pip install 'bayesgate[telemetry]'")
    return target

