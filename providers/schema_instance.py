"""A random instance of a JSON Schema: what a simulated model answers for `json_schema` output
and tool-call arguments, so clients that parse structured output work on the default config.

    instance(schema, rng=rng) -> a JSON value (dict, list, str, int, float, bool or None)

Contract: the value validates against `schema` (draft 2020-12 semantics, draft 4-7 spellings
accepted) when the schema uses only the keywords supported below; the same schema and generator
state give the same value. Pure: it reads only its arguments and draws only from `rng`.
`Unsatisfiable` (a ValueError) says why no value can be built: `false`, an empty `enum` or
`type` intersection, bounds that exclude each other, a `$ref` that does not resolve, required
properties that hold their own schema, more than 20,000 values and string characters.

Supported: `type` (a name or a list), `enum`, `const`, local `$ref`s (any `#/...` pointer),
`allOf` (merged), `anyOf` / `oneOf` (one branch drawn), boolean schemas; `properties`,
`required` (an optional property appears half of the time), `additionalProperties` (false:
declared keys only; a schema: a key or two when none is declared), `min/maxProperties`;
`items`, `prefixItems` (and draft 4-7 tuple `items`, `additionalItems`), `min/maxItems`,
`contains`, `uniqueItems`; `min/maxLength`, `pattern`, `format` (date-time, date, time, email,
uuid, uri, uri-reference, hostname, ipv4, ipv6); `minimum`, `maximum`, `exclusiveMinimum/Maximum`
(numbers or draft 4 flags), `multipleOf`. Past `max_depth` nested containers a value takes the
shortest way out: no optional properties, arrays at `minItems`, the null or scalar branch.

Not supported (ignored, so a schema relying on them may get a value that does not validate):
OpenAPI's `nullable` (jsonschema reads no null into it either), `not`, `if`, `dependent*`,
`patternProperties`, `propertyNames`, `unevaluated*`, `$dynamicRef`, `$anchor` and `$id`
bases, remote `$ref`s (taken as the empty schema), `oneOf` exclusivity, float `multipleOf`
steps not exact in binary, length bounds a `format` cannot meet (the format wins).

Patterns, best effort: a string is drawn from the parse tree of `re` (unbounded quantifiers
repeat at most 4 times past their minimum; anchors, `\\b` and lookarounds read as empty), checked
with `re.search` as jsonschema does, redrawn up to 20 times. What `re` rejects (`\\p{L}`) and
patterns the draws keep missing (a lookahead, a `minLength` past the quantifiers) get a plain
string.
"""

from __future__ import annotations

import itertools
import json
import math
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from providers.schema_pattern import matching

Schema = dict[str, Any]

_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india")
_HARD_LIMIT = 32  # levels past max_depth before a schema is said to have no finite instance
_BUDGET = 20_000  # values and characters in one instance: at ~20 us a value, 0.4 s at most
_LOWER = frozenset({"minimum", "minLength", "minItems", "minProperties", "exclusiveMinimum"})
_UPPER = frozenset({"maximum", "maxLength", "maxItems", "maxProperties", "exclusiveMaximum"})
_SUBSCHEMAS = frozenset({"items", "additionalProperties", "contains", "additionalItems"})
_COMBINERS = ("$ref", "allOf", "anyOf", "oneOf")
_RANK = {"null": 0, "boolean": 1, "integer": 1, "number": 1, "string": 1, "array": 2, "object": 3}
_IMPLIED = {key: kind for kind, keys in (
    ("object", "properties required additionalProperties minProperties maxProperties"),
    ("array", "items prefixItems minItems maxItems contains"),
    ("number", "minimum maximum exclusiveMinimum exclusiveMaximum multipleOf"))
    for key in keys.split()}


class Unsatisfiable(ValueError):
    """No instance can be built for the schema; the message says which part is at fault."""


def instance(schema: Schema | bool, *, rng: np.random.Generator, max_depth: int = 5) -> Any:
    """A value that validates against `schema`, drawn from `rng` (see the module docstring)."""
    return _Builder(schema, rng, max_depth).value(schema, 0)


class _Builder:
    def __init__(self, root: Any, rng: np.random.Generator, max_depth: int) -> None:
        self.root, self.rng, self.max_depth, self.budget = root, rng, max_depth, _BUDGET

    def spend(self, size: int, *, ahead: bool = False) -> None:
        """Take `size` values or characters from the budget (`ahead`: see that they are left)."""
        if size > self.budget:
            raise Unsatisfiable(f"the instance would hold over {_BUDGET} values and characters")
        self.budget -= 0 if ahead else size

    def value(self, schema: Any, depth: int) -> Any:
        self.spend(1)
        if depth > self.max_depth + _HARD_LIMIT:
            raise Unsatisfiable(f"no finite instance within {depth} levels: a required "
                                "property refers back to its own schema")
        flat = self.flatten(schema, depth, 0)
        if "const" in flat:
            return flat["const"]
        if "enum" in flat:
            if not flat["enum"]:
                raise Unsatisfiable("`enum` allows no value")
            return self.choice(flat["enum"])
        return _MAKERS[self.kind(flat, depth)](self, flat, depth)

    def choice(self, options: list[Any] | tuple[Any, ...]) -> Any:
        return options[int(self.rng.integers(len(options)))]

    def flatten(self, schema: Any, depth: int, hops: int) -> Schema:
        """The schema with `$ref`, `allOf` and one drawn `anyOf` / `oneOf` branch merged in."""
        if schema is False:
            raise Unsatisfiable("the schema `false` has no instance")
        if not isinstance(schema, dict):
            return {}  # true (or junk): any value
        if hops > 64:
            raise Unsatisfiable("`$ref` / `allOf` refer to each other in a cycle")
        parts = [{k: v for k, v in schema.items() if k not in _COMBINERS}]
        if "$ref" in schema:
            parts.append(self.flatten(self.resolve(schema["$ref"]), depth, hops + 1))
        parts += [self.flatten(sub, depth, hops + 1) for sub in schema.get("allOf") or ()]
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                parts.append(self.flatten(self.pick(schema[key], depth), depth, hops + 1))
        return parts[0] if len(parts) == 1 else _merge(parts)

    def resolve(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            return {}  # a remote reference: taken as the empty schema (any value)
        node = self.root
        for token in [t for t in ref[1:].split("/") if t]:
            token = token.replace("~1", "/").replace("~0", "~")
            try:
                node = node[int(token)] if isinstance(node, list) else node[token]
            except (LookupError, TypeError, ValueError):
                raise Unsatisfiable(f"`$ref` {ref!r} does not resolve") from None
        return node

    def pick(self, branches: list[Any], depth: int) -> Any:
        return min(branches, key=self.weight) if depth >= self.max_depth else self.choice(branches)

    def weight(self, schema: Any) -> int:
        """How far a branch is from a leaf value: null 0, scalars 1, containers 2 or more."""
        try:
            if isinstance(schema, dict) and "$ref" in schema:
                schema = self.resolve(schema["$ref"])
        except Unsatisfiable:
            return 9
        if not isinstance(schema, dict) or "const" in schema or "enum" in schema:
            return 1
        types = _types(schema.get("type")) or [_implied(schema)]
        return min(_RANK.get(t, 1) for t in types) + (1 if set(schema) & set(_COMBINERS) else 0)

    def kind(self, schema: Schema, depth: int) -> str:
        declared = schema.get("type")
        options = _types(declared) or ([] if isinstance(declared, list) else [_implied(schema)])
        if not options:
            raise Unsatisfiable("`type` allows nothing")
        shallow = depth >= self.max_depth
        return min(options, key=_RANK.__getitem__) if shallow else str(self.choice(options))

    def object(self, schema: Schema, depth: int) -> dict[str, Any]:
        props, required = schema.get("properties") or {}, list(schema.get("required") or ())
        extra = schema.get("additionalProperties", True)
        extra_schema, shallow = extra if isinstance(extra, dict) else {}, depth >= self.max_depth
        keep = [k for k in props if k in required or (not shallow and self.rng.random() < 0.5)]
        keep += [k for k in required if k not in props]
        out = {k: self.value(props.get(k, extra_schema), depth + 1) for k in keep}
        wanted = int(schema.get("minProperties", 0))
        if not props and isinstance(extra, dict) and not shallow:  # a map: a key or two
            wanted = max(wanted, int(self.rng.integers(1, 3)))
        optional = [k for k in props if k not in out]
        self.spend(wanted - len(out), ahead=True)
        while len(out) < wanted:
            if optional:
                key = optional.pop(0)
                out[key] = self.value(props[key], depth + 1)
            elif extra is False:
                raise Unsatisfiable("`minProperties` asks for more properties than declared")
            else:
                key = next(k for i in itertools.count(len(out)) if (k := f"key_{i}") not in out)
                out[key] = self.value(extra_schema, depth + 1)
        surplus = len(out) - int(schema.get("maxProperties", len(out)))
        for key in [k for k in reversed(list(out)) if k not in required][:max(0, surplus)]:
            del out[key]
        return out

    def array(self, schema: Schema, depth: int) -> list[Any]:
        prefix, items = schema.get("prefixItems") or [], schema.get("items", {})
        if isinstance(items, list):  # draft 4-7 tuples
            prefix, items = items, schema.get("additionalItems", {})
        lo, hi = int(schema.get("minItems", 0)), schema.get("maxItems")
        hi = min(len(prefix), len(prefix) if hi is None else hi) if items is False else hi
        lo = max(lo, 1) if "contains" in schema else lo
        top = lo + 3 if hi is None else min(int(hi), lo + 3)
        if top < lo:
            raise Unsatisfiable(f"`maxItems` {hi} is below `minItems` {lo}")
        count = lo if depth >= self.max_depth else int(self.rng.integers(lo, top + 1))
        self.spend(count, ahead=True)

        def item(i: int) -> Any:
            sub = prefix[i] if i < len(prefix) else items
            if i == 0 and "contains" in schema:
                sub = {"allOf": [sub, schema["contains"]]}
            return self.value(sub, depth + 1)

        out = [item(i) for i in range(count)]
        return _unique(out, item) if schema.get("uniqueItems") else out

    def string(self, schema: Schema, depth: int) -> str:
        lo, hi = int(schema.get("minLength", 0)), schema.get("maxLength")
        if hi is not None and hi < lo:
            raise Unsatisfiable(f"`maxLength` {hi} is below `minLength` {lo}")
        self.spend(lo)
        fmt = _FORMATS.get(str(schema.get("format")))
        if fmt is not None:
            return fmt(self)
        if isinstance(pattern := schema.get("pattern"), str) and (
                found := matching(pattern, lo, hi, self.rng)) is not None:
            return found
        text = " ".join(self.choice(_WORDS) for _ in range(int(self.rng.integers(1, 4))))
        return text.ljust(lo, "x")[:None if hi is None else int(hi)]

    def number(self, schema: Schema, depth: int, *, integer: bool = False) -> float | int:
        lo, lo_open = _bound(schema, "minimum", "exclusiveMinimum")
        hi, hi_open = _bound(schema, "maximum", "exclusiveMaximum")
        lo = (hi - 100 if hi is not None else 0.0) if lo is None else lo
        hi = lo + 100 if hi is None else hi
        if hi - lo > 1000:  # a window of 1000 that holds 0 when it can
            lo = min(max(lo, 0.0), hi - 1000)
            hi = lo + 1000
        step = schema.get("multipleOf")
        if integer or isinstance(step, int | float):
            step = step if isinstance(step, int | float) and step > 0 else 1
            first = math.floor(lo / step) + 1 if lo_open else math.ceil(lo / step)
            last = math.ceil(hi / step) - 1 if hi_open else math.floor(hi / step)
            if last < first:
                raise Unsatisfiable(f"no multiple of {step} lies between {lo} and {hi}")
            value = int(self.rng.integers(first, last + 1)) * step
            return int(value) if float(value).is_integer() else value
        if lo > hi or (lo == hi and (lo_open or hi_open)):
            raise Unsatisfiable(f"no number lies between {lo} and {hi}")
        value = round(float(self.rng.uniform(lo, hi)), 2)
        if value < lo or value > hi or (lo_open and value == lo) or (hi_open and value == hi):
            value = (lo + hi) / 2
        return value


def _types(declared: Any) -> list[str]:
    names = [declared] if isinstance(declared, str) else declared
    return [t for t in names if t in _RANK] if isinstance(names, list) else []


def _implied(schema: Schema) -> str:
    """The type a schema without `type` implies through its keywords (a string if none)."""
    return next((kind for key, kind in _IMPLIED.items() if key in schema), "string")


def _merge(parts: list[Schema]) -> Schema:
    """One schema that asks what all the parts ask (as far as the generator needs)."""
    out: Schema = {}
    for part in parts:
        for key, val in part.items():
            old: Any = out.get(key)
            if key not in out:
                out[key] = val
            elif key == "properties" and isinstance(old, dict) and isinstance(val, dict):
                out[key] = {**old, **{k: {"allOf": [old[k], v]} if k in old else v
                                      for k, v in val.items()}}
            elif key == "required":
                out[key] = list(dict.fromkeys([*old, *val]))
            elif key == "type":
                a, b, numeric = set(_types(old)), set(_types(val)), {"integer", "number"}
                out[key] = sorted(a & b | ({"integer"} if a & numeric and b & numeric else set()))
            elif key == "enum":
                out[key] = [v for v in old if v in val]
            elif isinstance(val, bool) or isinstance(old, bool):
                out[key] = False if key in _SUBSCHEMAS and False in (old, val) else old or val
            elif key in _LOWER | _UPPER and isinstance(val, int | float):
                out[key] = max(old, val) if key in _LOWER else min(old, val)
            elif key in _SUBSCHEMAS and isinstance(val, dict):
                out[key] = {"allOf": [old, val]}
            else:
                out[key] = val
    return out


def _bound(schema: Schema, inclusive: str, exclusive: str) -> tuple[float | None, bool]:
    value, strict = schema.get(inclusive), schema.get(exclusive)
    if isinstance(strict, bool):  # draft 4: a flag on minimum / maximum
        return value, strict and value is not None
    if isinstance(strict, int | float) and (
            value is None or (strict >= value if inclusive == "minimum" else strict <= value)):
        return strict, True
    return value, False


def _unique(out: list[Any], again: Callable[[int], Any]) -> list[Any]:
    """`out` without repeats: a repeated item is drawn again (10 times), then dropped."""
    seen: dict[str, Any] = {}
    for i, item in enumerate(out):
        for _ in range(10):
            if json.dumps(item, sort_keys=True) not in seen:
                break
            item = again(i)
        seen.setdefault(json.dumps(item, sort_keys=True), item)
    return list(seen.values())


_MAKERS: dict[str, Callable[[_Builder, Schema, int], Any]] = {
    "object": _Builder.object, "array": _Builder.array, "string": _Builder.string,
    "number": lambda b, s, d: b.number(s, d),
    "integer": lambda b, s, d: b.number(s, d, integer=True),
    "boolean": lambda b, s, d: bool(b.rng.random() < 0.5), "null": lambda b, s, d: None,
}


def _date(b: _Builder) -> str:
    y, m, d = (int(b.rng.integers(lo, hi)) for lo, hi in ((2020, 2030), (1, 13), (1, 29)))
    return f"{y:04d}-{m:02d}-{d:02d}"


def _time(b: _Builder) -> str:
    return "{:02d}:{:02d}:{:02d}Z".format(*(int(b.rng.integers(n)) for n in (24, 60, 60)))


def _name(b: _Builder) -> str:
    return f"{b.choice(_WORDS)}{int(b.rng.integers(1, 1000))}"


_FORMATS: dict[str, Callable[[_Builder], str]] = {
    "date-time": lambda b: f"{_date(b)}T{_time(b)}", "date": _date, "time": _time,
    "email": lambda b: f"{_name(b)}@example.com", "hostname": lambda b: f"{_name(b)}.example.com",
    "uuid": lambda b: str(uuid.UUID(bytes=b.rng.bytes(16), version=4)),
    **dict.fromkeys(("uri", "uri-reference"), lambda b: f"https://example.com/{_name(b)}"),
    "ipv4": lambda b: f"192.0.2.{int(b.rng.integers(1, 255))}",
    "ipv6": lambda b: f"2001:db8::{int(b.rng.integers(1, 65536)):x}",
}


# Patterns are drawn from the parse tree of `re` (re._parser: private, in the stdlib since 3.11)
# because jsonschema checks them with re.search: strings come from the dialect they are checked in.
