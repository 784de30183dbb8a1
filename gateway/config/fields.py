"""Typed field converters for the config parser: each takes a YAML value and its path and
returns the converted value or raises Invalid with a `path: message` sentence. Then the checks
that span several fields of one section."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from gateway.redact import redact_url

Convert = Callable[[Any, str], Any]

_ADDRESS = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/]+):[0-9]{1,5}")  # host:port, [v6]:port


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


# The APIs besides chat completions an `openai` provider's upstream may speak natively
# (`providers.NAME.native`): requests through that front door then reach it untranslated.
NATIVE_APIS = ("responses", "messages")


def native_apis(value: Any, path: str) -> tuple[str, ...]:
    found = str_list(value, path)
    for i, api in enumerate(found):
        if api not in NATIVE_APIS:
            raise Invalid(f"{path}[{i}]: expected one of {', '.join(NATIVE_APIS)}, got {api!r}")
    return tuple(dict.fromkeys(found))


def provider_errors(f: Mapping[str, Any], path: str) -> list[str]:
    if f.get("native") and f.get("type") != "openai":
        return [f"{path}.native: only an openai provider passes requests on untranslated "
                f"(this one is {f.get('type')})"]
    return []


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



def addresses(value: Any, path: str) -> tuple[str, ...]:
    """A list of "host:port" ("[::1]:port" for IPv6)."""
    found = str_list(value, path)
    for i, address in enumerate(found):
        if not _ADDRESS.fullmatch(address):
            raise Invalid(f"{path}[{i}]: expected host:port, got {address!r}")
    return found


def server_errors(f: Mapping[str, Any]) -> list[str]:
    if f.get("admin_open") and f.get("admin_keys"):
        return ["server.admin_open: not with admin_keys (they would be ignored)"]
    return []


def store_errors(f: Mapping[str, Any]) -> list[str]:
    """What store's fields, each valid, say together that cannot work."""
    errors = []
    url, mode = f.get("url", ""), f.get("mode", "standalone")
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        errors.append(f"store.url: expected a redis://, rediss:// or unix:// URL, "
                      f"got {redact_url(url)!r}")
    if mode != "standalone" and url.startswith("unix://"):
        errors.append(f"store.url: a unix:// socket cannot reach a Redis {mode}")
    if mode == "sentinel" and not f.get("sentinels"):
        errors.append("store.sentinels: required with mode: sentinel (host:port list)")
    for key, wanted in (("nodes", "cluster"), ("sentinels", "sentinel")):
        if f.get(key) and mode != wanted:
            errors.append(f"store.{key}: only with mode: {wanted}")
    if f.get("replica_acks") and mode == "cluster":
        errors.append("store.replica_acks: not with mode: cluster (WAIT answers for one "
                      "master, a batch spans several)")
    return errors
