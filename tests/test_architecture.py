"""The house rules, checked on every module of gateway/, providers/ and policies/ (see
docs/architecture.md): imports form no cycle, `policies` imports only the standard library and
numpy, `providers` never imports `gateway`, a gateway package imports only from its own layer or
the ones below it, and modules and functions stay small.

Every import counts: at module level, inside functions, and under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
import statistics
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gateway", "providers", "policies")

# Bottom to top. A gateway module may import from its own layer and the layers below it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("gateway", "gateway.errors", "gateway.redact", "gateway.auth"),
    ("gateway.config",),
    ("gateway.store",),
    ("gateway.ops",),
    ("gateway.routing",),
    ("gateway.learning",),
    ("gateway.runtime",),
    ("gateway.translate",),
    ("gateway.http",),
    ("gateway.cli", "gateway.__main__"),
)

MAX_MODULE_LINES = 400
MAX_MEDIAN_LINES = 150
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the three packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: Iterable[str]) -> set[str]:
    """Every module `name` imports (absolute names), wherever the import statement stands."""
    known = set(known)
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in known else base)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, mods) for name, path in mods.items()}


def internal(target: str) -> bool:
    return target.split(".")[0] in PACKAGES


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The import cycles (strongly connected components of more than one module, or a module
    importing itself), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def layer_of(name: str) -> int | None:
    best: tuple[int, int] | None = None  # (length of the matching prefix, layer)
    for number, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if name == prefix or name.startswith(prefix + "."):
                if prefix == "gateway" and name != "gateway":
                    continue  # the root module only, not everything under it
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), number)
    return None if best is None else best[1]


def upward(edges: Mapping[str, Iterable[str]]) -> list[str]:
    """Imports from a gateway module into a higher layer, and gateway modules in no layer."""
    problems = []
    for source, targets in sorted(edges.items()):
        if not source.startswith("gateway"):
            continue
        here = layer_of(source)
        if here is None:
            problems.append(f"{source} belongs to no layer (add its package to LAYERS)")
            continue
        for target in sorted(targets):
            there = layer_of(target) if target.startswith("gateway") else None
            if there is not None and there > here:
                problems.append(f"{source} imports {target}, a higher layer")
    return problems


# -- the checker itself can fail -------------------------------------------------------------

def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_layer_check_finds_an_upward_import() -> None:
    edges = {"gateway.routing.router": {"gateway.http.app", "gateway.store"},
             "gateway.nowhere": set()}
    assert upward(edges) == ["gateway.nowhere belongs to no layer (add its package to LAYERS)",
                             "gateway.routing.router imports gateway.http.app, a higher layer"]


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("from . import sibling\nfrom .base import X\n"
                      "def f():\n    import json\n")
    assert imports_of("policies.m", source, {"policies.sibling"}) == {
        "policies.sibling", "policies.base", "json"}


# -- the rules -------------------------------------------------------------------------------

def test_no_import_cycles() -> None:
    edges = {m: {t for t in ts if internal(t)} for m, ts in graph().items()}
    assert len(edges) > 40
    assert cycles(edges) == []


def test_policies_import_only_the_standard_library_and_numpy() -> None:
    allowed = set(sys.stdlib_module_names) | {"numpy", "policies", "__future__"}
    bad = {m: sorted(t for t in ts if t.split(".")[0] not in allowed)
           for m, ts in graph().items() if m.split(".")[0] == "policies"}
    assert {m: ts for m, ts in bad.items() if ts} == {}


def test_providers_never_import_the_gateway() -> None:
    bad = {m: sorted(t for t in ts if t.split(".")[0] == "gateway")
           for m, ts in graph().items() if m.split(".")[0] == "providers"}
    assert {m: ts for m, ts in bad.items() if ts} == {}


def test_gateway_packages_import_only_downward() -> None:
    assert upward(graph()) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_are_small(package: str) -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules().items()
             if name.split(".")[0] == package}
    assert {n: s for n, s in sizes.items() if s > MAX_MODULE_LINES} == {}


def test_the_median_module_is_short() -> None:
    sizes = [len(path.read_text().splitlines()) for path in modules().values()]
    assert statistics.median(sizes) <= MAX_MEDIAN_LINES


def test_functions_are_short() -> None:
    long = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {lines} lines")
    assert long == []
