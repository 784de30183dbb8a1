"""Typed field converters for the config parser: each takes a YAML value and its path and
returns the converted value or raises Invalid with a `path: message` sentence."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Convert = Callable[[Any, str], Any]


class Invalid(Exception):
    pass


def string(value: Any, path: str) -> str:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise Invalid(f"{path}: expected a string, got {type(value).__name__}")


def number(lo: float | None = None, hi: float | None = None, *, strict_lo: bool = False,
            integer: bool = False) -> Convert:
    def convert(value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise Invalid(f"{path}: expected a number, got {value!r}")
        try:
            number = int(value) if integer else float(value)
        except ValueError:
            kind = "an integer" if integer else "a number"
            raise Invalid(f"{path}: expected {kind}, got {value!r}") from None
        if integer and isinstance(value, float) and value != int(value):
            raise Invalid(f"{path}: expected an integer, got {value!r}")
        if not math.isfinite(number):
            raise Invalid(f"{path}: expected a finite number, got {value!r}")
        if lo is not None and (number <= lo if strict_lo else number < lo):
            bound = "greater than" if strict_lo else "at least"
            raise Invalid(f"{path}: must be {bound} {lo}, got {value!r}")
        if hi is not None and number > hi:
            raise Invalid(f"{path}: must be at most {hi}, got {value!r}")
        return number
    return convert


def boolean(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    raise Invalid(f"{path}: expected true or false, got {value!r}")


def str_list(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise Invalid(f"{path}: expected a list, got {type(value).__name__}")
    return tuple(string(v, f"{path}[{i}]") for i, v in enumerate(value))


def optional(convert: Convert) -> Convert:
    return lambda value, path: None if value is None else convert(value, path)


def keep(value: Any, path: str) -> Any:
    return value


def choice(options: tuple[str, ...], *, fold: bool = False) -> Convert:
    def convert(value: Any, path: str) -> str:
        if fold and isinstance(value, str):
            value = value.lower()
        if value not in options:
            raise Invalid(f"{path}: expected one of {', '.join(options)}, got {value!r}")
        return str(value)
    return convert


def str_map(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise Invalid(f"{path}: expected a mapping, got {type(value).__name__}")
    return {str(k): string(v, f"{path}.{k}") for k, v in value.items()}


def keys(value: Any, path: str) -> dict[str, str]:
    """A list of keys (named key-1, key-2, ...) or a mapping name -> key; empty keys dropped."""
    if isinstance(value, list):
        named = {f"key-{i + 1}": string(v, f"{path}[{i}]") for i, v in enumerate(value)}
    elif isinstance(value, dict):
        named = str_map(value, path)
    else:
        raise Invalid(f"{path}: expected a list of keys or a mapping name -> key")
    return {name: key for name, key in named.items() if key}

