"""`$dynamicRef` / `$recursiveRef`: documents specialised per dynamic scope
(`json_schema.dynamic_refs`), checked against `jsonschema` on every instance listed."""
from __future__ import annotations

import json
import random

import pytest

import grammask as gm
from grammask.errors import SchemaError
from grammask.grammar.json_schema import JsonSchemaOptions, schema_to_grammar
from grammask.grammar.json_schema.dynamic_refs import specialise_dynamic_refs
from grammask.grammar.json_schema.refs import RefResolver
from grammask.validate import byte_level_tokenizer, validate_text

jsonschema = pytest.importorskip("jsonschema")
ROOT = "https://example.test/"

# the classic: a generic list whose item type each caller binds
TYPED_LISTS = {
    "$id": ROOT + "main",
    "type": "object",
    "properties": {"numbers": {"$ref": "numberList"}, "strings": {"$ref": "stringList"},
                   "plain": {"$ref": "list"}},
    "$defs": {
        "list": {"$id": "list", "type": "array", "maxItems": 2,
                 "items": {"$dynamicRef": "#itemType"},
                 "$defs": {"default": {"$dynamicAnchor": "itemType", "type": "boolean"}}},
        "numberList": {"$id": "numberList", "$ref": "list",
                       "$defs": {"t": {"$dynamicAnchor": "itemType", "type": "integer"}}},
        "stringList": {"$id": "stringList", "$ref": "list",
                       "$defs": {"t": {"$dynamicAnchor": "itemType", "type": "string",
                                       "maxLength": 2}}},
    },
}
# the outermost binding wins: the root binds the anchor for everything below it
OUTERMOST = {
    "$id": ROOT + "root", "$dynamicAnchor": "node",
    "type": "object", "properties": {"v": {"type": "integer"}}, "$ref": "tree",
    "$defs": {"tree": {"$id": "tree", "$dynamicAnchor": "node", "type": "object",
                       "properties": {"kid": {"$dynamicRef": "#node"}}}},
    "unevaluatedProperties": False,
}
# 2019-09: a strict tree through $recursiveRef / $recursiveAnchor
RECURSIVE = {
    "$schema": "https://json-schema.org/draft/2019-09/schema",
    "$id": ROOT + "strict", "$recursiveAnchor": True, "$ref": "tree",
    "unevaluatedProperties": False,
    "$defs": {"tree": {"$id": "tree", "$recursiveAnchor": True, "type": "object",
                       "properties": {"d": {"type": "integer"},
                                      "kids": {"type": "array", "maxItems": 2,
                                               "items": {"$recursiveRef": "#"}}}}},
}
# references that are not dynamic stay static: a pointer fragment, an $anchor, no bookend
STATIC = {
    "$id": ROOT + "static",
    "properties": {
        "a": {"$dynamicRef": "#/$defs/n"},
        "b": {"$dynamicRef": "#plain"},
        "c": {"$dynamicRef": "#/$defs/t"},
        "d": {"$dynamicRef": "#/$defs/f"},
        "enum": {"$dynamicRef": "#plain"},       # a property named like a data keyword
    },
    "$defs": {"n": {"$dynamicAnchor": "n", "type": "integer"},
              "p": {"$anchor": "plain", "type": "string"},
              "t": True, "f": False},
}
# entered in place: an embedded resource under allOf, bound for its own subtree only.
# (Under `not`, `jsonschema` 4.x does not enter the subschema's resource, while the spec's
# dynamic scope holds every resource navigated: not compared here.)
IN_PLACE = {
    "$id": ROOT + "inplace",
    "anyOf": [{"$id": "one", "$ref": "gen",
               "$defs": {"x": {"$dynamicAnchor": "x", "type": "null"}}},
              {"$ref": "gen"}],
    "$defs": {"gen": {"$id": "gen", "$dynamicRef": "#x",
                      "$defs": {"x": {"$dynamicAnchor": "x", "type": "string"}}}},
}
INSTANCES = {
    "typed_lists": [{}, {"numbers": [1, 2]}, {"numbers": ["a"]}, {"strings": ["ab"]},
                    {"strings": ["abc"]}, {"strings": [1]}, {"plain": [True]}, {"plain": [1]},
                    {"numbers": [1], "strings": ["x"], "plain": [False, True]},
                    {"numbers": [1, 2, 3]}],
    "outermost": [{}, {"v": 1}, {"kid": {"v": 2}}, {"kid": {"v": "x"}},
                  {"kid": {"kid": {"v": 3}}}, {"kid": {"w": 1}}, {"w": 1}, {"kid": 1}],
    "recursive": [{}, {"d": 1}, {"kids": [{"d": 2}]}, {"kids": [{"e": 2}]},
                  {"kids": [{"kids": [{}]}]}, {"kids": [{"kids": [{"x": 0}]}]}, {"x": 1}],
    "static": [{}, {"a": 1}, {"a": "x"}, {"b": "s"}, {"b": 1}, {"c": None}, {"d": 0},
               {"enum": "s"}, {"enum": 2}],
    "in_place": [None, "s", 1, [], {}],
}
SCHEMAS = {"typed_lists": TYPED_LISTS, "outermost": OUTERMOST, "recursive": RECURSIVE,
           "static": STATIC, "in_place": IN_PLACE}


def _validator(schema: dict) -> object:
    cls = jsonschema.Draft201909Validator if "2019-09" in schema.get("$schema", "") \
        else jsonschema.Draft202012Validator
    return cls(schema)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_verdicts_equal_jsonschema(name: str) -> None:
    schema = SCHEMAS[name]
    compiled = gm.compile_json_schema(schema, byte_level_tokenizer(), cache=False)
    validator = _validator(schema)
    for value in INSTANCES[name]:
        text = json.dumps(value, separators=(",", ":"))
        assert validate_text(compiled, text).ok == validator.is_valid(value), (name, text)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_specialised_documents_mean_the_same_to_jsonschema(name: str) -> None:
    """The rewrite alone, judged by an independent validator: static `$ref`s only."""
    schema = SCHEMAS[name]
    out = specialise_dynamic_refs(schema, 64)
    assert not RefResolver(out).dynamic_refs
    before, after = _validator(schema), jsonschema.Draft202012Validator(out)
    for value in INSTANCES[name]:
        assert before.is_valid(value) == after.is_valid(value), (name, value)


def test_documents_without_dynamic_refs_are_untouched() -> None:
    schema = {"$defs": {"a": {"$dynamicAnchor": "a"}}, "$ref": "#/$defs/a"}
    assert specialise_dynamic_refs(schema, 64) is schema


def test_scope_copies_are_bounded() -> None:
    with pytest.raises(SchemaError, match="max_dynamic_scopes"):
        schema_to_grammar(TYPED_LISTS, JsonSchemaOptions(max_dynamic_scopes=2))
    schema_to_grammar(TYPED_LISTS, JsonSchemaOptions(max_dynamic_scopes=8))


def test_unresolvable_dynamic_refs_are_located_errors() -> None:
    with pytest.raises(SchemaError, match="no \\$anchor 'nowhere'"):
        schema_to_grammar({"properties": {"a": {"$dynamicRef": "#nowhere"}}})
    with pytest.raises(SchemaError, match="only '#'"):
        schema_to_grammar({"$recursiveRef": "#/x"})


def test_recursion_through_dynamic_refs_terminates() -> None:
    """A dynamic reference on a cycle reaches a fixpoint of environments."""
    schema = {"$id": ROOT + "cyc", "$dynamicAnchor": "n", "type": "array", "maxItems": 2,
              "items": {"$dynamicRef": "#n"}}
    compiled = gm.compile_json_schema(schema, byte_level_tokenizer(), cache=False)
    for text, ok in (("[]", True), ("[[],[[]]]", True), ("[1]", False), ("[[],[],[]]", False)):
        assert validate_text(compiled, text).ok is ok, text


# -- random documents: resources that bind an anchor or not, reaching each other ----------------
_TYPES = ["integer", "string", "boolean", "null", "array", "object"]


def _random_document(rng: random.Random) -> dict:
    """2-4 resources under a root; each may bind the dynamic anchor `t` to a type (a
    bookended one always does, since its `$dynamicRef "#t"` must resolve somewhere), and
    its body's properties use `$dynamicRef "#t"`, `$ref` to another resource, or a type."""
    n = rng.randint(2, 4)
    binds = [rng.random() < 0.6 for _ in range(n)]
    resources = {}
    for i in range(n):
        props = {}
        for name in "pq"[:rng.randint(1, 2)]:
            j = rng.randrange(n)
            kind = rng.random()
            if kind < 0.4 and binds[i]:
                props[name] = {"$dynamicRef": "#t"}
            elif kind < 0.55 and binds[j]:
                props[name] = {"$dynamicRef": f"r{j}#t"}
            elif kind < 0.85:
                props[name] = {"$ref": f"r{j}"}
            else:
                props[name] = {"type": rng.choice(_TYPES)}
            if rng.random() < 0.3:
                props[name] = {"type": "array", "maxItems": 2, "items": props[name]}
        res: dict = {"$id": f"r{i}", "type": "object", "properties": props}
        if binds[i]:
            res["$defs"] = {"t": {"$dynamicAnchor": "t", "type": rng.choice(_TYPES)}}
        resources[f"r{i}"] = res
    root: dict = {"$id": ROOT + f"doc{rng.randrange(10**6)}/root", "$ref": "r0",
                  "$defs": resources}
    if rng.random() < 0.4:
        root["$dynamicAnchor"] = "t"
        root["type"] = rng.choice(["object", "array"])
    return root


def _random_instance(rng: random.Random, depth: int = 0) -> object:
    r = rng.random()
    if depth < 3 and r < 0.45:
        return {k: _random_instance(rng, depth + 1) for k in "pq" if rng.random() < 0.6}
    if depth < 3 and r < 0.55:
        return [_random_instance(rng, depth + 1) for _ in range(rng.randint(0, 2))]
    return rng.choice([0, 7, "s", True, None, {}, []])


def test_random_documents_keep_their_meaning() -> None:
    """The rewrite, judged by `jsonschema` on both documents (an implementation of dynamic
    scope that shares no code with it); every fourth one also compiled and teacher-forced."""
    rng = random.Random(20261125)
    checked = compiled_count = 0
    for k in range(160):
        doc = _random_document(rng)
        out = specialise_dynamic_refs(doc, 64)
        assert not RefResolver(out).dynamic_refs
        before, after = jsonschema.Draft202012Validator(doc), jsonschema.Draft202012Validator(out)
        values = [_random_instance(rng) for _ in range(25)]
        verdicts = [before.is_valid(v) for v in values]
        assert verdicts == [after.is_valid(v) for v in values], json.dumps(doc)
        checked += len(values)
        if k % 4 == 0:
            compiled = gm.compile_json_schema(doc, byte_level_tokenizer(), cache=False)
            compiled_count += 1
            for v, ok in zip(values, verdicts):
                text = json.dumps(v, separators=(",", ":"))
                assert validate_text(compiled, text).ok == ok, (json.dumps(doc), text)
    assert checked == 4000 and compiled_count == 40


def test_older_drafts_ignore_dynamic_keywords() -> None:
    """Draft-07 validators do not know `$dynamicRef`: ignored, as other later keywords are."""
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "array",
              "items": {"$dynamicRef": "#/definitions/s"}, "definitions": {"s": {"type": "string"}}}
    assert specialise_dynamic_refs(schema, 64) is schema
    compiled = gm.compile_json_schema(schema, byte_level_tokenizer(), cache=False)
    for text in ('["a"]', "[1]"):
        assert validate_text(compiled, text).ok == jsonschema.Draft7Validator(schema).is_valid(
            json.loads(text)), text
