"""Conditionals on one discriminator property, split by its value (`json_schema.discriminated`):
exact against `jsonschema` on random schemas and instances, and n + 3 alternatives where the
distribution had 2^n."""
from __future__ import annotations

import json
import random

import pytest

import grammask as gm
from grammask.grammar.json_schema import JsonSchemaOptions, schema_to_grammar
from grammask.grammar.json_schema.constraints import Collector, Group
from grammask.grammar.json_schema.discriminated import merge_conditionals
from grammask.grammar.json_schema.refs import RefResolver
from grammask.validate import byte_level_tokenizer, validate_text

jsonschema = pytest.importorskip("jsonschema")
VALUES = ["a", "b", "c", 1, True, None]
ANY_ORDER = JsonSchemaOptions(property_order="any")


def _if(rng: random.Random) -> dict:
    sub: dict = {"const": rng.choice(VALUES)} if rng.random() < 0.6 else \
        {"enum": rng.sample(VALUES, rng.randint(1, 3))}
    if rng.random() < 0.2:
        sub["type"] = rng.choice(["string", "integer", ["string", "boolean"]])
    cond: dict = {"properties": {"k": sub}}
    if rng.random() < 0.3:
        cond["required"] = ["k"]
    if rng.random() < 0.3:
        cond["type"] = "object"
    return cond


def _branch(rng: random.Random) -> object:
    r = rng.random()
    if r < 0.15:
        return rng.choice([True, False])
    if r < 0.3:
        return {"type": rng.choice(["object", "array", "string"])}
    if r < 0.5:
        return {"required": [rng.choice("xy")]}
    return {"properties": {rng.choice("xy"): {"type": rng.choice(["integer", "string"])}}}


def _schema(rng: random.Random, n: int) -> dict:
    parts = []
    for _ in range(n):
        part: dict = {"if": _if(rng)}
        if rng.random() < 0.85:
            part["then"] = _branch(rng)
        if "then" not in part or rng.random() < 0.5:
            part["else"] = _branch(rng)
        parts.append(part)
    schema: dict = {"allOf": parts}
    if rng.random() < 0.5:
        schema["type"] = "object"
    return schema


def _instance(rng: random.Random) -> object:
    if rng.random() < 0.15:
        return rng.choice([1, "s", [], None])
    out: dict = {}
    for key in ("k", "x", "y"):
        if rng.random() < 0.6:
            out[key] = rng.choice([*VALUES, "zz", 7, "s"]) if key == "k" else \
                rng.choice([1, "s"])
    return out


def test_merged_conditionals_equal_jsonschema() -> None:
    rng = random.Random(7)
    checked = 0
    for _ in range(60):
        schema = _schema(rng, rng.randint(3, 6))
        compiled = gm.compile_json_schema(schema, byte_level_tokenizer(), cache=False,
                                          property_order="any")
        validator = jsonschema.Draft202012Validator(schema)
        for _ in range(30):
            value = _instance(rng)
            text = json.dumps(value, separators=(",", ":"))
            assert validate_text(compiled, text).ok == validator.is_valid(value), \
                (json.dumps(schema), text)
            checked += 1
    assert checked == 1800


def test_many_conditionals_stay_linear() -> None:
    """40 conditionals: 2^40 alternatives distributed, 43 cases split."""
    schema = {"type": "object", "allOf": [
        {"if": {"properties": {"kind": {"const": f"k{i}"}}},
         "then": {"properties": {f"p{i}": {"type": "integer"}}, "required": [f"p{i}"]}}
        for i in range(40)]}
    compiled = gm.compile_json_schema(schema, byte_level_tokenizer(), cache=False)
    for text, ok in (('{"kind":"k3","p3":1}', True), ('{"kind":"k3"}', False),
                     ('{"kind":"k3","p3":"x"}', False), ('{"kind":"other"}', True),
                     ('{"p0":1,"p1":1}', False)):
        assert validate_text(compiled, text).ok is ok, text
    grammar = schema_to_grammar(schema)
    assert len(grammar.rules) < 1000


def _groups(schema: dict) -> tuple[Collector, list[Group]]:
    collector = Collector(RefResolver(schema))
    return collector, collector.collect([(schema, "#")]).any_of


def test_only_discriminator_tests_are_merged() -> None:
    plain = [{"if": {"properties": {"k": {"const": i}}}, "then": {"required": ["a"]}}
             for i in range(3)]
    collector, groups = _groups({"allOf": plain})
    assert len(merge_conditionals(groups, collector.synthesize)) == 1
    # an `if` that asks more than the discriminator, two keys, or fewer than three
    for extra in ({"minProperties": 1}, {"properties": {"k": {"const": 0}, "j": {"const": 1}}},
                  {"properties": {"k": {"const": 0, "minLength": 1}}}):
        mixed = [dict(plain[0], **{"if": {**plain[0]["if"], **extra}}), *plain[1:]]
        collector, groups = _groups({"allOf": mixed})
        assert len(merge_conditionals(groups, collector.synthesize)) == 3, extra
    collector, groups = _groups({"allOf": plain[:2]})
    assert len(merge_conditionals(groups, collector.synthesize)) == 2


def test_annotation_scopes_keep_the_distribution() -> None:
    """Under unevaluatedProperties the `if`'s own evaluation matters: not merged, still exact."""
    schema = {"type": "object", "unevaluatedProperties": False, "allOf": [
        {"if": {"properties": {"k": {"const": i}}}, "then": {"properties": {f"p{i}": True}}}
        for i in range(3)]}
    compiled = gm.compile_json_schema(schema, byte_level_tokenizer(), cache=False)
    validator = jsonschema.Draft202012Validator(schema)
    for value in ({"k": 1, "p1": 0}, {"k": 1, "p2": 0}, {"k": 5}, {}, {"p0": 1}):
        text = json.dumps(value, separators=(",", ":"))
        assert validate_text(compiled, text).ok == validator.is_valid(value), text
