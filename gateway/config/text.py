"""From config text to a raw tree: YAML errors that name the file, `${VAR}` and `${VAR:-default}`
interpolation of every string."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def yaml_error(exc: yaml.YAMLError, path: str) -> str:
    """`PATH, line L, column C: what is wrong`, naming the file (PyYAML says <unicode string>)."""
    mark = getattr(exc, "problem_mark", None)
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    return f"{path}{where}: not valid YAML: {problem}" + (f" ({context})" if context else "")


def interpolate(node: Any, env: Mapping[str, str], path: str, errors: list[str]) -> Any:
    if isinstance(node, str):
        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            errors.append(f"{path or '<root>'}: environment variable {name} is not set")
            return ""
        return _ENV.sub(sub, node)
    if isinstance(node, dict):
        return {k: interpolate(v, env, join_path(path, str(k)), errors) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env, f"{path}[{i}]", errors) for i, v in enumerate(node)]
    return node


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
