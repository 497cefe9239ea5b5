"""oneOf branches proven disjoint (`json_schema.disjoint`) are built as anyOf, so a wrong
"disjoint" would accept values that match two branches. The test's soundness check is
direct: on random branch schemas, every pair the test calls apart shares no value of an
enumerated pool, by `jsonschema`'s verdict. Real-schema shapes (discriminated objects,
branches that are themselves oneOfs) are then teacher-forced end to end."""
from __future__ import annotations

import itertools
import json
import random

import pytest

import grammask as gm
from grammask.grammar.json_schema import GrammarBuilder, JsonSchemaOptions, schema_to_grammar
from grammask.grammar.json_schema.disjoint import all_disjoint
from grammask.limits import DEFAULT_LIMITS
from grammask.validate import validate_text

jsonschema = pytest.importorskip("jsonschema")

_SCALARS = ["x", "y", "", "xy", 1, 2, None, True]
_KEYS = ["t", "a", "b"]


def _pool() -> list:
    """Objects over three keys (absent or a scalar each), and arrays, strings, numbers near
    the bounds the random schemas use."""
    out: list = []
    for values in itertools.product([...] + _SCALARS[:7], repeat=len(_KEYS)):
        out.append({k: v for k, v in zip(_KEYS, values) if v is not ...})
    out += [[1] * n for n in range(5)] + ["", "a", "ab", "abc", "abcd", "x", "xy", "y", "yx"]
    out += [-2, -1, 0, 0.5, 1, 1.5, 2, 3, 10, True, None]
    return out


POOL = _pool()


def _leaf(rng: random.Random):
    return rng.choice([
        {"const": rng.choice(_SCALARS)},
        {"enum": rng.sample(_SCALARS, rng.randint(1, 3))},
        {"type": rng.choice(["string", "integer", "null"])},
        {"type": "integer", "minimum": rng.randint(0, 2)},
        {"type": "string", "pattern": rng.choice(["^x", "^y$", "x$", "^(x|y)$", "^$", "y"])},
        {"pattern": rng.choice(["^x$", "^xy?$", "^y"])},
        False, True, {}])


def _object(rng: random.Random, depth: int) -> dict:
    keys = rng.sample(_KEYS, rng.randint(0, 3))
    s: dict = {"properties": {k: _leaf(rng) for k in keys}}
    if rng.random() < 0.8:
        s["type"] = "object"
    if keys and rng.random() < 0.8:
        s["required"] = rng.sample(keys, rng.randint(1, len(keys)))
    if rng.random() < 0.3:
        s["required"] = sorted(set(s.get("required", [])) | {rng.choice(_KEYS)})
    r = rng.random()
    if r < 0.4:
        s["additionalProperties"] = False
    elif r < 0.5:
        s["additionalProperties"] = _leaf(rng)
    if rng.random() < 0.15:
        s["patternProperties"] = {"^a": _leaf(rng)}
    if rng.random() < 0.2:
        s["maxProperties"] = rng.randint(0, 2)
    if rng.random() < 0.2:
        s["minProperties"] = rng.randint(1, 3)
    if depth < 1 and rng.random() < 0.3:
        s[rng.choice(["oneOf", "anyOf"])] = [_object(rng, depth + 1)
                                            for _ in range(rng.randint(1, 3))]
    return s


def _branch(rng: random.Random) -> dict:
    kind = rng.choice(["obj", "obj", "obj", "arr", "str", "num", "types", "leaf"])
    if kind == "leaf":
        return _leaf(rng)
    if kind == "obj":
        return _object(rng, 0)
    if kind == "arr":
        return {"type": "array", **{k: rng.randint(0, 3) for k in ("minItems", "maxItems")
                                     if rng.random() < 0.6}}
    if kind == "str":
        return {"type": "string", **{k: rng.randint(0, 3) for k in ("minLength", "maxLength")
                                      if rng.random() < 0.6}}
    if kind == "num":
        s: dict = {"type": rng.choice(["number", "integer"])}
        for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if rng.random() < 0.35:
                s[k] = rng.choice([0, 0.5, 1, 2])
        return s
    return {"type": rng.sample(["object", "array", "string", "number", "null"], 2)}


def _valid_set(schema) -> frozenset[int]:
    v = jsonschema.Draft202012Validator(schema)
    return frozenset(i for i, value in enumerate(POOL) if v.is_valid(value))


@pytest.mark.parametrize("seed", range(3))
def test_branches_called_disjoint_share_no_value(seed):
    rng = random.Random(seed)
    apart = 0
    for _ in range(250):
        a, b = _branch(rng), _branch(rng)
        builder = GrammarBuilder({}, JsonSchemaOptions(), DEFAULT_LIMITS)
        collector = builder.collector
        built = [collector.collect([(a, "#/0")]), collector.collect([(b, "#/1")])]
        if not all_disjoint(collector, built, builder._strings_apart):
            continue
        apart += 1
        both = _valid_set(a) & _valid_set(b)
        assert not both, (a, b, [POOL[i] for i in sorted(both)[:3]])
    assert apart > 60          # the test exercises the "apart" side, not only "may overlap"


# A package registry's repository: a oneOf of objects told apart by a required "type" enum
# (additional properties allowed), one of them holding a nested oneOf; beside a `false`.
_REPO = {"$defs": {
    "vcs": {"type": "object", "required": ["type", "url"],
            "properties": {"type": {"enum": ["git", "svn"]}, "url": {"type": "string"}}},
    "path": {"type": "object", "required": ["type", "url"],
             "properties": {"type": {"enum": ["path"]}, "url": {"type": "string"}}},
    "package": {"type": "object", "required": ["type", "package"],
                "properties": {"type": {"enum": ["package"]},
                               "package": {"oneOf": [{"type": "string"},
                                                     {"type": "array", "maxItems": 1}]}}},
    "repo": {"type": "object", "oneOf": [{"$ref": "#/$defs/vcs"}, {"$ref": "#/$defs/path"},
                                         {"$ref": "#/$defs/package"}]}},
    "type": "object",
    "additionalProperties": {"oneOf": [{"$ref": "#/$defs/repo"}, {"const": False}]}}


# Branches told apart only once a nested group is distributed: each "kind" branch requires
# two names, the other side allows at most one property.
_NESTED = {"type": "array", "items": {"oneOf": [
    {"oneOf": [{"required": ["t", "a"], "properties": {"t": {"const": "x"}}},
               {"required": ["t", "b"], "properties": {"t": {"const": "y"}}}],
     "type": "object"},
    {"type": "object", "maxProperties": 1, "additionalProperties": {"const": False}}]}}

# Content or a reference: the reference forbids extra names, the content requires one.
_CONTENT = {"type": "object", "properties": {"basic": {"oneOf": [
    {"type": "object", "required": ["type", "version"],
     "properties": {"type": {"type": "string"}}},
    {"type": "object", "required": ["type", "ref"], "additionalProperties": False,
     "properties": {"type": {"const": "reference"}, "ref": {"type": "string"}}}]}},
    "patternProperties": {".*": {"type": "object"}}}

_VALUES = {
    "repo": [{}, {"r": False}, {"r": True}, {"r": {"type": "git", "url": "u"}},
             {"r": {"type": "path", "url": "u", "extra": 1}}, {"r": {"type": "cvs", "url": "u"}},
             {"r": {"type": "package", "package": "p"}}, {"r": {"type": "package", "package": []}},
             {"r": {"type": "package", "package": [1, 2]}}, {"r": {"type": "git"}},
             {"r": {"url": "u"}}, {"r": {"type": "package", "package": {}}}],
    "nested": [[], [{"t": "x", "a": 1}], [{"t": "y", "b": 1}], [{"t": "x", "b": 1}], [{"q": False}],
               [{"q": True}], [{"t": "x", "a": 1}, {"z": False}], [{}], [{"t": "x"}],
               [{"t": "y", "a": 1, "b": 2}], [{"t": "x", "a": False}]],
    "content": [{"basic": {"type": "a", "version": 1}}, {"basic": {"type": "reference", "ref": "r"}},
                {"basic": {"type": "reference", "ref": "r", "version": 1}},
                {"basic": {"type": "reference", "version": 1}}, {"basic": {"type": "x"}}, {}],
}


@pytest.mark.parametrize("name,schema", [("repo", _REPO), ("nested", _NESTED),
                                         ("content", _CONTENT)])
def test_discriminated_one_of_built_as_any_of_agrees_with_jsonschema(name, schema):
    """Before the nested groups were distributed for the test, each of these oneOfs went to
    the exact form; the first two past `max_branches` in their real, larger schemas."""
    grammar = schema_to_grammar(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for value in _VALUES[name]:
        text = json.dumps(value, separators=(",", ":"))
        assert validate_text(grammar, text).ok == validator.is_valid(value), text


def test_one_of_disjoint_branches_teacher_forced(load_tokenizer_info, load_encoder):
    """The same through a real tokenizer's masks: valid instances pass token by token,
    a value matching no branch is refused."""
    tok, encode = load_tokenizer_info("gpt2"), load_encoder("gpt2")
    compiled = gm.compile_json_schema(_REPO, tok, cache=False)
    bm = gm.allocate_token_bitmask(1, tok.vocab_size)

    def forced(text: str) -> bool:
        m = gm.Matcher(compiled)
        for t in encode(text):
            m.fill_next_token_bitmask(bm, 0)
            if not (int(bm[0, t // 32]) >> (t % 32)) & 1:
                return False
            assert m.accept_token(t)
        return m.can_terminate()

    assert forced('{"a":{"type":"git","url":"u"},"b":false,"c":{"type":"package","package":[]}}')
    assert not forced('{"a":{"type":"cvs","url":"u"}}')
    assert not forced('{"a":{"type":"package","package":[1,2]}}')


def _agrees_on_pool(schema: dict) -> None:
    """The grammar's verdict equals `jsonschema`'s on every pool value (keys in any order,
    so the pool's fixed key order tests the language, not the order)."""
    grammar = schema_to_grammar(schema, JsonSchemaOptions(property_order="any"))
    validator = jsonschema.Draft202012Validator(schema)
    for value in POOL:
        text = json.dumps(value, separators=(",", ":"))
        assert validate_text(grammar, text).ok == validator.is_valid(value), (schema, text)


@pytest.mark.parametrize("seed", range(3))
def test_random_one_of_exact_on_a_value_pool(seed):
    """oneOf of random branches, whatever form the builder picks (anyOf when disjoint, the
    exact form with pruned negations otherwise, branches dropped when they always meet
    another): accepted exactly when one branch holds."""
    rng = random.Random(100 + seed)
    for _ in range(12):
        schema = {"oneOf": [_branch(rng) for _ in range(rng.randint(2, 3))]}
        try:
            _agrees_on_pool(schema)
        except gm.SchemaError:
            continue


def test_one_of_over_a_shared_base_is_exact():
    """Branches that share a base (`allOf [base, specific]`): beside branch i the base's
    negation cannot hold, so only what tells the branches apart is spelled out."""
    base = {"type": "object", "required": ["t"], "properties": {"t": {"type": "string"},
                                                                 "b": {"enum": [1, 2]}}}
    schema = {"$defs": {"base": base}, "oneOf": [
        {"allOf": [{"$ref": "#/$defs/base"}, {"required": ["a"], "properties": {"a": {"const": 1}}}]},
        {"allOf": [{"$ref": "#/$defs/base"}, {"required": ["b"]}]},
        {"allOf": [{"$ref": "#/$defs/base"}, {"properties": {"t": {"const": "x"}}}]}]}
    _agrees_on_pool(schema)
