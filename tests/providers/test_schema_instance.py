"""providers.schema_instance: every drawn instance validates (jsonschema) against its schema, for
a corpus of hand-written schemas, pydantic models' schemas and the strict schemas the openai SDK
sends for `chat.completions.parse`; the same seed draws the same value."""

from __future__ import annotations

import copy
import datetime
import enum
import json
import re
import uuid
from typing import Annotated, Any, Literal

import jsonschema
import numpy as np
import pytest
from openai.lib._pydantic import to_strict_json_schema
from pydantic import BaseModel, Field

from providers.schema_instance import Unsatisfiable, instance

SEEDS = range(40)
ISO = jsonschema.Draft202012Validator.FORMAT_CHECKER

CORPUS: dict[str, dict[str, Any]] = {
    "scalars": {"type": "object", "properties": {
        "s": {"type": "string"}, "i": {"type": "integer"}, "n": {"type": "number"},
        "b": {"type": "boolean"}, "z": {"type": "null"}},
        "required": ["s", "i", "n", "b", "z"]},
    "type lists and nullable": {"type": "object", "properties": {
        "either": {"type": ["string", "integer", "null"]},
        "optional": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
        "required": ["either", "optional"]},
    "optional properties and additionalProperties false": {
        "type": "object", "additionalProperties": False, "required": ["a"],
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"},
                       "c": {"type": "array", "items": {"type": "string"}}}},
    "enum and const": {"type": "object", "properties": {
        "color": {"enum": ["red", "green", 3, None]}, "v": {"const": {"x": [1, 2]}},
        "typed": {"type": "string", "enum": ["a", "b"]}}, "required": ["color", "v", "typed"]},
    "arrays": {"type": "object", "properties": {
        "bounded": {"type": "array", "items": {"type": "integer"}, "minItems": 2,
                    "maxItems": 3},
        "exactly_five": {"type": "array", "items": {"type": "boolean"}, "minItems": 5,
                         "maxItems": 5},
        "tuple": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}],
                  "items": False, "minItems": 2},
        "unique": {"type": "array", "items": {"enum": [1, 2, 3, 4]}, "uniqueItems": True,
                   "minItems": 2},
        "contains": {"type": "array", "items": {"type": "integer"},
                     "contains": {"const": 7}}},
        "required": ["bounded", "exactly_five", "tuple", "unique", "contains"]},
    "nested objects": {"type": "object", "required": ["a"], "properties": {"a": {
        "type": "object", "required": ["b"], "properties": {"b": {
            "type": "object", "required": ["c"], "properties": {"c": {
                "type": "array", "items": {"type": "object", "required": ["d"],
                                           "properties": {"d": {"type": "number"}}}}}}}}}},
    "defs and refs": {"$defs": {"point": {"type": "object", "required": ["x", "y"],
                                          "properties": {"x": {"type": "number"},
                                                         "y": {"type": "number"}}},
                                "path": {"type": "array", "items": {"$ref": "#/$defs/point"}}},
                      "type": "object", "required": ["from", "via"],
                      "properties": {"from": {"$ref": "#/$defs/point"},
                                     "via": {"$ref": "#/$defs/path"}}},
    "draft 7 definitions and tuple items": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {"name": {"type": "string", "minLength": 3}},
        "type": "array", "items": [{"$ref": "#/definitions/name"}, {"type": "integer"}],
        "additionalItems": False, "minItems": 2},
    "a recursive tree": {"$defs": {"node": {
        "type": "object", "required": ["value", "children"], "additionalProperties": False,
        "properties": {"value": {"type": "integer"},
                       "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
        "$ref": "#/$defs/node"},
    "a recursive linked list through the root": {
        "type": "object", "required": ["head", "next"],
        "properties": {"head": {"type": "string"},
                       "next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}},
    "anyOf oneOf allOf": {"type": "object", "required": ["any", "one", "all"], "properties": {
        "any": {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "integer"}]},
        "one": {"oneOf": [{"type": "object", "required": ["kind"],
                           "properties": {"kind": {"const": "a"}}},
                          {"type": "object", "required": ["kind", "n"],
                           "properties": {"kind": {"const": "b"}, "n": {"type": "integer"}}}]},
        "all": {"allOf": [{"type": "object", "required": ["x"],
                           "properties": {"x": {"type": "integer", "minimum": 3}}},
                          {"required": ["y"], "properties": {"y": {"type": "string"},
                                                             "x": {"maximum": 5}}}]}}},
    "string formats": {"type": "object", "properties": {
        f: {"type": "string", "format": f} for f in (
            "date-time", "date", "time", "email", "uuid", "uri", "uri-reference", "hostname",
            "ipv4", "ipv6")}, "required": ["date-time", "date", "time", "email", "uuid", "uri",
                                           "uri-reference", "hostname", "ipv4", "ipv6"]},
    "string lengths": {"type": "object", "required": ["short", "long", "exact"], "properties": {
        "short": {"type": "string", "maxLength": 2},
        "long": {"type": "string", "minLength": 40},
        "exact": {"type": "string", "minLength": 6, "maxLength": 6}}},
    "numeric bounds": {"type": "object", "required": list("abcdefgh"), "properties": {
        "a": {"type": "integer", "minimum": 10, "maximum": 12},
        "b": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 2},
        "c": {"type": "number", "minimum": 0.5, "maximum": 0.75},
        "d": {"type": "number", "exclusiveMinimum": 1, "exclusiveMaximum": 1.01},
        "e": {"type": "integer", "multipleOf": 5, "minimum": 11, "maximum": 29},
        "f": {"type": "number", "minimum": 1e12},
        "g": {"type": "integer", "maximum": -1e9},
        "h": {"type": "number", "multipleOf": 0.25, "minimum": 0, "maximum": 1}}},
    "maps and property counts": {"type": "object", "required": ["map", "some"], "properties": {
        "map": {"type": "object", "additionalProperties": {"type": "integer"}},
        "some": {"type": "object", "minProperties": 2, "maxProperties": 2,
                 "properties": {"a": {"type": "string"}, "b": {"type": "string"},
                                "c": {"type": "string"}}}}},
    "patterns": {"type": "object", "required": ["sku", "hex", "either", "word"],
                 "properties": {"sku": {"type": "string", "pattern": r"^[A-Z]{3}-\d{4}$"},
                                "hex": {"type": "string", "pattern": r"^#[0-9a-fA-F]{6}$"},
                                "either": {"type": "string", "pattern": r"^(yes|no)(!)?$"},
                                "word": {"type": "string", "pattern": r"^\w+$",
                                         "minLength": 2, "maxLength": 6}}},
    "no type at all": {"properties": {"a": {}, "b": True}, "required": ["a", "b"]},
}


class Color(enum.Enum):
    red = "red"
    blue = "blue"


class Priority(enum.IntEnum):
    low = 1
    high = 2


class Address(BaseModel):
    street: str
    city: str
    zip: str = Field(pattern=r"^\d{5}$")


class Person(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    age: int = Field(ge=0, le=130)
    email: str | None = None
    home: Address
    past: list[Address] = []


class Node(BaseModel):
    label: str
    children: list[Node] = []
    parent: Node | None = None


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = Field(ge=1, le=9)


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Order(BaseModel):
    id: uuid.UUID
    placed: datetime.datetime
    ship_on: datetime.date
    color: Color
    priority: Priority
    mode: Literal["air", "sea"]
    buyer: Person
    items: list[Annotated[str, Field(min_length=2)]] = Field(min_length=1, max_length=4)
    pet: Cat | Dog = Field(discriminator="kind")
    counts: dict[str, int]
    pair: tuple[int, str]
    note: str | None
    tree: Node


MODELS = [Address, Person, Node, Order]


def draws(schema: Any, seeds: range = SEEDS) -> list[Any]:
    return [instance(schema, rng=np.random.default_rng(seed)) for seed in seeds]


def check(schema: dict[str, Any], value: Any) -> None:
    validator = jsonschema.validators.validator_for(schema)
    validator(schema, format_checker=ISO).validate(value)


@pytest.mark.parametrize("name", list(CORPUS))
def test_every_instance_validates(name: str) -> None:
    schema = CORPUS[name]
    for value in draws(schema):
        check(schema, value)
        json.dumps(value, allow_nan=False)  # JSON all the way down


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("strict", [False, True], ids=["model_json_schema", "openai_strict"])
def test_pydantic_schemas(model: type[BaseModel], strict: bool) -> None:
    schema = to_strict_json_schema(model) if strict else model.model_json_schema()
    for value in draws(schema):
        check(schema, value)
        model.model_validate_json(json.dumps(value))  # what `.parse()` does with the answer


def test_the_same_seed_draws_the_same_value() -> None:
    schema = to_strict_json_schema(Order)
    assert draws(schema, range(5)) == draws(schema, range(5))
    assert len({json.dumps(v, sort_keys=True) for v in draws(schema, range(10))}) == 10


def test_the_schema_is_not_changed() -> None:
    schema = Order.model_json_schema()
    before = copy.deepcopy(schema)
    draws(schema, range(5))
    assert schema == before


def test_optional_properties_and_branches_vary() -> None:
    values = draws(CORPUS["optional properties and additionalProperties false"])
    assert {frozenset(v) for v in values} >= {frozenset("a"), frozenset("abc")}
    kinds = {type(v["either"]).__name__ for v in draws(CORPUS["type lists and nullable"])}
    assert kinds == {"str", "int", "NoneType"}


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def test_recursion_stops_at_the_depth() -> None:
    schema = CORPUS["a recursive tree"]
    for limit in (0, 2, 6):
        values = [instance(schema, rng=np.random.default_rng(s), max_depth=limit)
                  for s in SEEDS]
        for value in values:
            check(schema, value)
        # past the limit: one more object (its children list stays empty)
        assert max(depth(v) for v in values) <= limit + 2
    assert instance(schema, rng=np.random.default_rng(0), max_depth=0) == {
        "value": instance({"type": "integer"}, rng=np.random.default_rng(0)), "children": []}


def test_past_the_depth_the_shortest_way_out() -> None:
    schema = CORPUS["optional properties and additionalProperties false"]
    assert {frozenset(instance(schema, rng=np.random.default_rng(s), max_depth=0))
            for s in SEEDS} == {frozenset("a")}
    nullable = {"anyOf": [{"type": "object"}, {"type": "null"}]}
    assert instance(nullable, rng=np.random.default_rng(0), max_depth=0) is None
    assert instance({"type": ["array", "null", "string"]}, rng=np.random.default_rng(0),
                    max_depth=0) is None


def test_formats_are_real_values() -> None:
    value = instance(CORPUS["string formats"], rng=np.random.default_rng(3))
    datetime.datetime.fromisoformat(value["date-time"])
    datetime.date.fromisoformat(value["date"])
    assert uuid.UUID(value["uuid"]).version == 4
    assert re.fullmatch(r"[a-z]+\d+@example\.com", value["email"])
    assert value["uri"].startswith("https://")


def test_patterns_that_cannot_be_drawn_give_a_plain_string() -> None:
    # re rejects \p{L}; the lookahead keeps every draw from matching: best effort, no error
    for pattern in (r"^\p{L}+$", r"^(?=.*Z)[a-y]{3}$"):
        value = instance({"type": "string", "pattern": pattern}, rng=np.random.default_rng(0))
        assert isinstance(value, str) and value
    # a lookahead the draws can meet, and a back-reference
    for pattern in (r"^(?!0)\d{3}$", r"^(ab|cd)-\1$"):
        for value in draws({"type": "string", "pattern": pattern}, range(10)):
            assert re.search(pattern, value)


@pytest.mark.parametrize(("schema", "message"), [
    (False, "the schema `false` has no instance"),
    ({"enum": []}, "`enum` allows no value"),
    ({"type": "string", "minLength": 5, "maxLength": 2}, "`maxLength` 2 is below `minLength` 5"),
    ({"type": "array", "minItems": 3, "maxItems": 1}, "`maxItems` 1 is below `minItems` 3"),
    ({"type": "integer", "minimum": 1.2, "maximum": 1.8}, "no multiple of 1 lies between"),
    ({"type": "number", "exclusiveMinimum": 1, "maximum": 1}, "no number lies between 1 and 1"),
    ({"$ref": "#/$defs/missing"}, "`$ref` '#/$defs/missing' does not resolve"),
    ({"allOf": [{"type": "string"}, {"type": "integer"}]}, "`type` allows nothing"),
    ({"type": "object", "additionalProperties": False, "minProperties": 1},
     "`minProperties` asks for more properties than declared"),
    ({"type": "object", "required": ["next"], "properties": {"next": {"$ref": "#"}}},
     "no finite instance within 38 levels: a required property refers back to its own schema"),
    ({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
     "`$ref` / `allOf` refer to each other in a cycle"),
    # a client's schema must not make the gateway draw a gigabyte
    ({"type": "array", "minItems": 10**9}, "the instance would hold over 20000 values"),
    ({"type": "string", "minLength": 10**9}, "the instance would hold over 20000 values"),
    ({"type": "object", "minProperties": 10**9}, "the instance would hold over 20000 values"),
    ({"type": "array", "minItems": 200, "items": {"type": "array", "minItems": 200}},
     "the instance would hold over 20000 values"),
])
def test_unsatisfiable_schemas_say_why(schema: Any, message: str) -> None:
    with pytest.raises(Unsatisfiable) as info:
        instance(schema, rng=np.random.default_rng(0))
    assert str(info.value).startswith(message)
