"""A string that a JSON schema `pattern` matches (for providers/schema_instance.py), best effort.

Drawn from the parse tree of Python's own regex parser (`re._parser`, private but in the
standard library since 3.11; jsonschema checks patterns with `re.search`), each draw checked
and redrawn up to 20 times; None when no draw matches (Unicode properties, lookarounds that
the draws keep missing).
"""

from __future__ import annotations

import importlib
import re
import string
from typing import Any

import numpy as np

_PRINTABLE = "".join(chr(c) for c in range(32, 127))
_CATEGORIES = {"DIGIT": string.digits, "WORD": string.ascii_letters + string.digits + "_",
               "SPACE": " "}


def matching(pattern: str, lo: int, hi: int | None, rng: np.random.Generator) -> str | None:
    """A string of `lo` to `hi` characters that `re.search(pattern, ...)` matches, or None."""
    try:
        compiled, tree = re.compile(pattern), importlib.import_module("re._parser").parse(pattern)
        for _ in range(20):
            text = _emit(list(tree), rng, {})
            if lo <= len(text) <= (len(text) if hi is None else hi) and compiled.search(text):
                return text
    except Exception:  # re.error, an unsupported construct, another Python's parse tree
        pass
    return None


def _emit(items: list[Any], rng: np.random.Generator, groups: dict[int, str]) -> str:
    out = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name in ("ANY", "NOT_LITERAL", "IN"):
            pool = (_PRINTABLE.replace(chr(arg), "") if name == "NOT_LITERAL"
                    else _charset(arg) if name == "IN" else _PRINTABLE)
            out.append(pool[int(rng.integers(len(pool)))])
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            lo, hi, sub = arg
            count = int(rng.integers(lo, min(hi, lo + 4) + 1))
            out.extend(_emit(list(sub), rng, groups) for _ in range(count))
        elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
            out.append(_emit(list(arg[-1] if name == "SUBPATTERN" else arg), rng, groups))
            if name == "SUBPATTERN" and arg[0] is not None:
                groups[arg[0]] = out[-1]
        elif name == "BRANCH":
            out.append(_emit(list(arg[1][int(rng.integers(len(arg[1])))]), rng, groups))
        elif name == "GROUPREF":
            out.append(groups.get(arg, ""))
        elif name not in ("AT", "ASSERT", "ASSERT_NOT"):  # anchors, lookarounds: checked after
            raise ValueError(f"pattern construct {name} is not supported")
    return "".join(out)


def _charset(items: list[Any]) -> str:
    chars: set[str] = set()
    negate = any(str(op) == "NEGATE" for op, _ in items)
    for op, arg in items:
        name = str(op)
        if name in ("LITERAL", "RANGE"):
            lo, hi = (arg, arg) if name == "LITERAL" else arg
            chars.update(chr(c) for c in range(lo, hi + 1))
        elif name == "CATEGORY":
            kind = str(arg).removeprefix("CATEGORY_")
            pool = _CATEGORIES[kind.removeprefix("NOT_")]
            chars.update(set(_PRINTABLE) - set(pool) if kind.startswith("NOT_") else pool)
        elif name != "NEGATE":
            raise ValueError(f"character class item {name} is not supported")
    pool = "".join(sorted(set(_PRINTABLE) - chars if negate else chars))
    if not pool:
        raise ValueError("an empty character class")
    return pool
