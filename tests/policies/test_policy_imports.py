"""policies/ imports only the standard library and numpy (docs/architecture.md: dependency
direction)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "policies"


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_policies_import_only_stdlib_and_numpy() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert files
    allowed = set(sys.stdlib_module_names) | {"numpy", "policies", "__future__"}
    for path in files:
        bad = imported_roots(path) - allowed
        assert not bad, f"{path.name} imports {sorted(bad)}"
