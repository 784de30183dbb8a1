"""ruff and mypy on the code, as part of the suite (so CI runs them on every submission)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_ruff() -> None:
    result = run("ruff", "check", "gateway", "providers", "policies", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy() -> None:
    result = run("mypy")  # the packages and settings are in pyproject.toml
    assert result.returncode == 0, result.stdout + result.stderr
