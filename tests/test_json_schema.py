"""JSON Schema compiler: differential tests against the `jsonschema` validator, errors that name
the schema path, options, Pydantic.

Instances are teacher-forced token by token (every token's bit must be set, EOS at the end),
so these tests check the grammar and the masks together. Generated instances avoid the
spellings grammask documents as not generated (property order other than the schema's, number
exponents under bounds, `1.0` for integers, escaped property names): an instance `jsonschema`
rejects must always be rejected; one it accepts must be accepted."""
from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest
from scan_checks import assert_same_scan, full_scan

import grammask as gm
from grammask.grammar.json_schema import schema_to_grammar
from grammask.validate import validate_text

jsonschema = pytest.importorskip("jsonschema")

TOKENIZER = "llama3"


@pytest.fixture(scope="module")
def tok(load_tokenizer_info):
    return load_tokenizer_info(TOKENIZER)


@pytest.fixture(scope="module")
def encode(load_encoder):
    return load_encoder(TOKENIZER)


def accepts(compiled, encode, text: str) -> bool:
    """Teacher-force `text`: every token allowed by the mask and accepted, then EOS."""
    m = gm.Matcher(compiled)
    bm = gm.allocate_token_bitmask(1, compiled.tokenizer_info.vocab_size)
    for t in encode(text):
        m.fill_next_token_bitmask(bm, 0)
        bit = bool((int(bm[0, t // 32]) >> (t % 32)) & 1)
        ok = m.accept_token(t)
        assert bit == ok, f"mask bit and accept_token disagree on {t} in {text!r}"
        if not ok:
            return False
    m.fill_next_token_bitmask(bm, 0)
    eos = any((int(bm[0, e // 32]) >> (e % 32)) & 1 for e in compiled.tokenizer_info.eos_token_ids)
    assert eos == m.can_terminate()
    return eos


def dumps(v) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


# ------------------------------------------------------------------------------ differential
SCHEMAS = [
    {"type": "object", "properties": {"a": {"type": "integer", "minimum": 0, "maximum": 10},
                                      "b": {"type": "string", "maxLength": 3}},
     "required": ["a"]},
    {"type": "object", "properties": {"a": {"type": "boolean"}}, "additionalProperties": False},
    {"type": "object", "properties": {"a": {"type": "null"}},
     "additionalProperties": {"type": "integer"}, "minProperties": 1, "maxProperties": 2},
    {"type": "object", "patternProperties": {"^x": {"type": "string"}},
     "additionalProperties": {"type": "boolean"}},
    {"type": "object", "propertyNames": {"maxLength": 2}},
    {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
     "dependentRequired": {"a": ["b"]}},
    {"type": "object", "properties": {"a": {}, "b": {}},
     "dependentSchemas": {"a": {"properties": {"b": {"type": "string"}}, "required": ["b"]}}},
    {"type": "array", "items": {"type": "integer", "multipleOf": 3}, "minItems": 1, "maxItems": 3},
    {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False},
    {"type": "array", "contains": {"type": "string"}, "minContains": 2, "maxContains": 3},
    {"type": "array", "items": {"enum": ["x", 1, None, [1]]}},
    {"anyOf": [{"type": "string", "minLength": 2}, {"type": "integer", "exclusiveMaximum": 0}]},
    {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 2}]},
    {"oneOf": [{"required": ["a"]}, {"required": ["b"]}],
     "properties": {"a": {}, "b": {}, "c": {}}},
    {"not": {"type": ["object", "array"]}},
    {"not": {"enum": ["a", 1, True]}},
    {"type": "string", "not": {"pattern": "^a"}},
    {"if": {"properties": {"k": {"const": "n"}}, "required": ["k"]},
     "then": {"properties": {"v": {"type": "integer"}}},
     "else": {"properties": {"v": {"type": "string"}}},
     "properties": {"k": {}, "v": {}}},
    {"$defs": {"node": {"type": "object", "properties": {
        "v": {"type": "integer"}, "next": {"$ref": "#/$defs/node"}}, "additionalProperties": False}},
     "$ref": "#/$defs/node"},
    {"type": "array", "items": {"$ref": "#"}, "maxItems": 2},
    {"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}},
               {"properties": {"a": {"minimum": 5}}, "required": ["a"]}]},
    {"type": "number", "minimum": -1.5, "maximum": 2.25},
    {"type": "string", "format": "date"},
    {"type": "string", "pattern": "^[a-c]+$", "minLength": 2},
    {"const": {"a": [1, "x"]}},
    {"type": ["string", "null"], "enum": ["a", None, 3]},
    {"type": "object", "properties": {"a": {"type": "integer"}},
     "unevaluatedProperties": False},
    {"type": "object", "properties": {"a": {"not": {}}}},
]

_STRINGS = ["", "a", "ab", "abc", "xy", "x1", "hello", "2020-02-29", "2021-02-29", "n", "é", 'q"t']
_KEYS = ["a", "b", "c", "k", "v", "x", "xa", "zz", "next"]


def _value(rng: random.Random, depth: int, keys: list[str], hint: str | None = None):
    kind = hint if hint and rng.random() < 0.7 else rng.choice(
        ["int", "int", "num", "str", "str", "bool", "null", "arr", "obj"]
        if depth < 3 else ["int", "str", "bool", "null"])
    if kind == "int":
        return rng.choice([-3, -1, 0, 1, 2, 3, 5, 6, 9, 10, 11, 100])
    if kind == "num":
        return rng.choice([0.5, -1.5, 2.25, 2.5, -2.5, 3.75])   # not 2.0: see the docstring
    if kind == "str":
        return rng.choice(_STRINGS)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "arr":
        return [_value(rng, depth + 1, keys) for _ in range(rng.randint(0, 4))]
    chosen = [k for i, k in enumerate(keys) if rng.random() < (0.6 if i < 3 else 0.15)]
    return {k: _value(rng, depth + 1, keys) for k in chosen}


def _hint(schema) -> str | None:
    """The kind of value the schema is about, so most generated values are near misses."""
    if not isinstance(schema, dict):
        return None
    text = json.dumps(schema)
    if '"items"' in text or '"contains"' in text or '"prefixItems"' in text:
        return "arr"
    if '"properties"' in text or '"object"' in text or "Properties" in text or "required" in text:
        return "obj"
    return {"string": "str", "integer": "int", "number": "num"}.get(str(schema.get("type")))


def _schema_keys(schema) -> list[str]:
    """Property names in schema order (so generated objects follow it), then the pool."""
    seen: list[str] = []

    def walk(s):
        if isinstance(s, dict):
            for name in (s.get("properties") or {}):
                if name not in seen:
                    seen.append(name)
            for v in s.values():
                walk(v)
        elif isinstance(s, list):
            for v in s:
                walk(v)
    walk(schema)
    return seen + [k for k in _KEYS if k not in seen]


@pytest.mark.parametrize("index", range(len(SCHEMAS)))
def test_matches_jsonschema_validator(tok, encode, index):
    schema = SCHEMAS[index]
    compiled = gm.compile_json_schema(schema, tok)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    rng = random.Random(index)
    keys = _schema_keys(schema)
    hint = _hint(schema)
    seen: set[str] = set()
    valid_seen = 0
    for _ in range(250):
        value = _value(rng, 0, keys, hint)
        text = dumps(value)
        if text in seen:
            continue
        seen.add(text)
        want = validator.is_valid(value)
        valid_seen += want
        assert accepts(compiled, encode, text) == want, (schema, text, want)
    assert valid_seen or "const" in json.dumps(schema), "the generator found no valid instance"


# ------------------------------------------------------------------------------ specific cases
def test_documented_under_approximations(tok, encode):
    obj = gm.compile_json_schema({"type": "object", "properties": {"a": {}, "b": {}}}, tok)
    assert accepts(obj, encode, '{"a":1,"b":2}')
    assert not accepts(obj, encode, '{"b":2,"a":1}')       # schema order
    num = gm.compile_json_schema({"type": "number", "minimum": 1}, tok)
    assert accepts(num, encode, "12.5") and not accepts(num, encode, "1e3")
    zero = gm.compile_json_schema({"type": "number", "minimum": 0}, tok)   # a sign only
    assert accepts(zero, encode, "1e3") and not accepts(zero, encode, "-1e3")
    free = gm.compile_json_schema({"type": "number"}, tok)
    assert accepts(free, encode, "1e3") and accepts(free, encode, "-0.5E-7")


def test_strings_take_every_json_escape(tok, encode):
    c = gm.compile_json_schema({"type": "string", "maxLength": 3}, tok)
    for text in ['"\\u0041bc"', '"\\n\\t\\""', '"\\ud83d\\ude00ab"', '"é\\/x"']:
        assert accepts(c, encode, text), text
    for text in ['"abcd"', '"\\x41"', '"\\ud83d"', '"a\nb"']:
        assert not accepts(c, encode, text), text


def test_extra_keys_never_shadow_declared_ones(tok, encode):
    c = gm.compile_json_schema({"type": "object", "properties": {"a": {"type": "integer"}}}, tok)
    assert accepts(c, encode, '{"a":1,"b":"x"}')
    assert not accepts(c, encode, '{"a":"x"}')
    assert not accepts(c, encode, '{"b":1,"\\u0061":"x"}')     # "a", spelled with an escape
    assert not accepts(c, encode, '{"a":1,"a":2}')


def test_flexible_whitespace_is_bounded(tok, encode):
    c = gm.compile_json_schema({"type": "array", "items": {"type": "integer"}}, tok,
                               whitespace="flexible", max_whitespace=2)
    assert accepts(c, encode, "[ 1 , 2 ]")
    assert accepts(c, encode, "[\n 1]")
    assert not accepts(c, encode, "[   1]")


def test_separators_option(tok, encode):
    c = gm.compile_json_schema({"type": "object", "properties": {"a": {}, "b": {}}}, tok,
                               item_separator=", ", key_separator=": ")
    assert accepts(c, encode, json.dumps({"a": 1, "b": [1, 2]}))


@pytest.mark.parametrize("schema, path, words", [
    ({"type": "array", "uniqueItems": True, "items": {"type": "string", "maxLength": 5000}},
     "#/uniqueItems", "uniqueItems"),
    ({"properties": {"a": {"$ref": "#/$defs/missing"}}}, "#/properties/a", "missing"),
    ({"$ref": "http://example.com/x.json"}, "#", "remote"),
    ({"type": "strin"}, "#/type", "unknown type"),
    ({"properties": {"a": {"minLength": -1}}}, "#/properties/a/minLength", "non-negative"),
    ({"type": "string", "pattern": "(a)b\\1"}, "#/pattern", "backreferences"),
    ({"not": {"uniqueItems": True}}, "#/not/uniqueItems", "uniqueItems"),
    ({"not": {"multipleOf": 0}}, "#/not/multipleOf", "> 0"),
])
def test_refusals_name_the_schema_path(schema, path, words):
    with pytest.raises(gm.SchemaError) as info:
        schema_to_grammar(schema)
    assert path in str(info.value) and words in str(info.value)


@pytest.mark.parametrize("schema", [False, {"not": {}}, {"type": "integer", "minimum": 5,
                                                         "maximum": 1}])
def test_empty_language_accepts_nothing(tok, encode, schema):
    c = gm.compile_json_schema(schema, tok)
    assert any("empty language" in w for w in c.warnings)
    m = gm.Matcher(c)
    bm = gm.allocate_token_bitmask(1, tok.vocab_size)
    m.fill_next_token_bitmask(bm, 0)
    assert not bm.any() and not m.can_terminate()
    assert not accepts(c, encode, "1") and not accepts(c, encode, "{}")


def test_bad_options_and_inputs(tok):
    with pytest.raises(gm.GrammarError):
        gm.compile_json_schema({}, tok, whitespace="wide")
    with pytest.raises(gm.GrammarError):
        gm.compile_json_schema({}, tok, no_such_option=True)
    with pytest.raises(gm.SchemaError):
        gm.compile_json_schema("{not json", tok)
    with pytest.raises(gm.SchemaError):
        gm.compile_json_schema(42, tok)


def test_recursion_limit_is_an_error_not_a_crash():
    deep: dict = {"type": "integer"}
    for _ in range(3000):
        deep = {"allOf": [deep]}
    with pytest.raises(gm.GrammarError):
        schema_to_grammar(deep)


def test_pydantic_model(tok, encode):
    pydantic = pytest.importorskip("pydantic")

    class Pet(pydantic.BaseModel):
        name: str
        age: int = pydantic.Field(ge=0, le=30)
        kind: str | None = None

    class Owner(pydantic.BaseModel):
        owner: str
        pets: list[Pet]

    c = gm.compile_json_schema(Owner, tok)
    good = Owner(owner="ann", pets=[Pet(name="rex", age=3), Pet(name="tom", age=1, kind="cat")])
    assert accepts(c, encode, good.model_dump_json())
    assert not accepts(c, encode, '{"owner":"ann","pets":[{"name":"rex","age":31}]}')
    adapter = pydantic.TypeAdapter(list[int])
    c2 = gm.compile_json_schema(adapter, tok)
    assert accepts(c2, encode, "[1,2,3]") and not accepts(c2, encode, '["1"]')


def test_mask_bits_follow_the_grammar_on_a_walk(tok):
    """Every token a mask allows leads to a live state (fork, accept, never refused)."""
    c = gm.compile_json_schema(SCHEMAS[0], tok)
    m = gm.Matcher(c)
    bm = gm.allocate_token_bitmask(1, tok.vocab_size)
    rng = np.random.default_rng(0)
    for _ in range(12):
        m.fill_next_token_bitmask(bm, 0)
        words = bm[0].view(np.uint32)
        allowed = np.flatnonzero(np.unpackbits(words.view(np.uint8), bitorder="little"))
        allowed = allowed[allowed < tok.vocab_size]
        if not allowed.shape[0]:
            break
        for t in rng.choice(allowed, size=min(20, allowed.shape[0]), replace=False):
            f = m.fork()
            assert f.accept_token(int(t))
        nxt = [t for t in allowed if t not in tok.eos_token_ids]
        if not nxt:
            break
        assert m.accept_token(int(rng.choice(nxt)))


def test_any_property_order(tok, encode):
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"},
                                               "c": {}}, "required": ["a", "b"]}
    c = gm.compile_json_schema(schema, tok, property_order="any")
    for text in ['{"b":"x","a":1}', '{"c":null,"b":"x","a":1}', '{"a":1,"b":"x","zz":3}']:
        assert accepts(c, encode, text), text
    for text in ['{"b":"x"}', '{"a":1,"a":2,"b":"x"}', '{"b":1,"a":1}']:
        assert not accepts(c, encode, text), text
    with pytest.raises(gm.GrammarError):
        gm.compile_json_schema(schema, tok, property_order="sorted")


def _shuffled(rng: random.Random, v):
    if isinstance(v, dict):
        items = list(v.items())
        rng.shuffle(items)
        return {k: _shuffled(rng, x) for k, x in items}
    if isinstance(v, list):
        return [_shuffled(rng, x) for x in v]
    return v


@pytest.mark.parametrize("index", range(0, len(SCHEMAS), 3))
def test_any_order_matches_jsonschema_on_shuffled_objects(tok, encode, index):
    schema = SCHEMAS[index]
    compiled = gm.compile_json_schema(schema, tok, property_order="any")
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    rng = random.Random(1000 + index)
    keys, hint = _schema_keys(schema), _hint(schema)
    for _ in range(120):
        value = _shuffled(rng, _value(rng, 0, keys, hint))
        assert accepts(compiled, encode, dumps(value)) == validator.is_valid(value), \
            (schema, dumps(value))


CONTAINER_VALUES = [
    {"not": {"const": {"a": 1}}},
    {"type": "array", "not": {"enum": [[1, 2]]}},
    {"not": {"const": [1, "x"]}},
    {"not": {"enum": [{"a": 1, "b": [2]}, 3, "x", []]}},
    {"type": "object", "properties": {"a": {}, "b": {}}, "not": {"const": {"a": 1, "b": {"c": 2}}}},
    {"oneOf": [{"const": {"a": 1}}, {"type": "object", "properties": {"a": {"type": "integer"}}}]},
    # a container const beside keywords it fails: once accepted (only its type was checked)
    {"const": {"a": 1}, "properties": {"a": {"type": "string"}}},
    {"enum": [{"a": 1}, {"a": "x"}, [1, 1]], "properties": {"a": {"type": "string"}},
     "uniqueItems": True},
    {"const": [1, "x"], "prefixItems": [{"type": "integer"}], "contains": {"type": "string"}},
]


@pytest.mark.parametrize("index", range(len(CONTAINER_VALUES)))
def test_container_values_excluded_or_beside_keywords_are_exact(tok, encode, index):
    """`not {const/enum}` of objects and arrays (structural: another type, a missing or extra
    key, another length, a differing value) and container consts beside other keywords
    (checked value by value): accepted exactly when jsonschema says valid."""
    schema = CONTAINER_VALUES[index]
    compiled = gm.compile_json_schema(schema, tok, property_order="any")
    validator = jsonschema.Draft202012Validator(schema)
    for text in ["1", "3", '"x"', "null", "[]", "[1]", "[1,2]", '[1,"x"]', '[1,"y"]',
                 '[1,"x",3]', "[1,1]", "{}", '{"a":1}', '{"a":2}', '{"a":"x"}', '{"b":1}',
                 '{"a":1,"b":[2]}', '{"a":1,"b":[3]}', '{"a":1,"b":{"c":2}}',
                 '{"a":1,"b":{"c":3}}', '{"a":1,"b":[2],"c":0}']:
        want = validator.is_valid(json.loads(text))
        assert accepts(compiled, encode, text) == want, (schema, text, want)


# ------------------------------------------------------------------------------ random schemas
def _random_schema(rng: random.Random, d: int = 0) -> dict:
    """Small random schemas mixing every keyword family and combinator."""
    kinds = ["type", "enum", "const", "num", "str", "obj", "arr", "comb", "not", "true", "if"]
    k = rng.choice(kinds if d < 3 else ["type", "enum", "num", "str", "true"])
    if k == "type":
        return {"type": rng.choice(["string", "integer", "number", "boolean", "null", "object",
                                    "array", ["string", "null"], ["integer", "string"]])}
    if k == "enum":
        return {"enum": rng.sample([1, 2, "a", "ab", None, True, 2.5, [1], {"a": 1}],
                                   rng.randint(1, 3))}
    if k == "const":
        return {"const": rng.choice([1, "a", None, False, 0])}
    if k == "num":
        return {"type": rng.choice(["integer", "number"]), **rng.choice(
            [{"minimum": rng.randint(-3, 5)}, {"maximum": rng.randint(-2, 10)},
             {"exclusiveMinimum": 0.5}, {"multipleOf": rng.choice([2, 3, 0.5])}, {}])}
    if k == "str":
        return {"type": "string", **rng.choice(
            [{"minLength": rng.randint(0, 3)}, {"maxLength": rng.randint(0, 4)},
             {"pattern": rng.choice(["^a", "b$", "^[a-c]*$", "x"])}, {"format": "date"}, {}])}
    if k == "obj":
        props = {n: _random_schema(rng, d + 1) for n in rng.sample(["a", "b", "c"], rng.randint(0, 3))}
        s: dict = {"type": "object", "properties": props}
        if props and rng.random() < 0.5:
            s["required"] = rng.sample(list(props), rng.randint(1, len(props)))
        if rng.random() < 0.3:
            s["additionalProperties"] = rng.choice([False, _random_schema(rng, d + 1)])
        if rng.random() < 0.2:
            s["minProperties"] = rng.randint(0, 2)
        if rng.random() < 0.2:
            s["maxProperties"] = rng.randint(0, 3)
        return s
    if k == "arr":
        s = {"type": "array", "items": _random_schema(rng, d + 1)}
        if rng.random() < 0.3:
            s["minItems"] = rng.randint(0, 2)
        if rng.random() < 0.3:
            s["maxItems"] = rng.randint(0, 3)
        if rng.random() < 0.2:
            s["contains"] = _random_schema(rng, d + 1)
        return s
    if k == "comb":
        return {rng.choice(["anyOf", "oneOf", "allOf"]):
                [_random_schema(rng, d + 1) for _ in range(rng.randint(1, 3))]}
    if k == "not":
        return {"not": _random_schema(rng, d + 1)}
    if k == "if":
        return {"if": _random_schema(rng, d + 1), "then": _random_schema(rng, d + 1),
                "else": _random_schema(rng, d + 1)}
    return {}


@pytest.mark.parametrize("seed", range(4))
def test_random_schemas_never_accept_what_jsonschema_rejects(tok, encode, seed):
    """Soundness on random keyword mixtures: every accepted instance is valid. (Refusing a
    schema with SchemaError is allowed; rejecting a valid instance is only checked above.)"""
    rng = random.Random(seed)
    for _ in range(25):
        schema = _random_schema(rng)
        try:
            compiled = gm.compile_json_schema(schema, tok, cache=False)
        except gm.SchemaError:
            continue
        validator = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        keys, hint = _schema_keys(schema), _hint(schema)
        for _ in range(30):
            value = _value(rng, 0, keys, hint)
            if accepts(compiled, encode, dumps(value)):
                assert validator.is_valid(value), (schema, dumps(value))


def test_plain_run_shortcut_scans_equal_full_scans(tok, encode):
    """Lexer states where plain tokens are accepted without a walk (`plain_runs`) must scan
    exactly like a full walk: single terminals (bounded and unbounded strings, a format, the
    last rungs of a `maxLength` string where longer plain tokens are refused unwalked) and
    combined states (a declared name beside the string of other names)."""
    from grammask.mask_cache.cfg_masks import scan_lexer_state
    from grammask.mask_cache.plain_runs import UNBOUNDED
    schema = {"type": "object", "properties": {
        "a": {"type": "string", "maxLength": 7}, "b": {"type": "string", "pattern": "^[a-z ]*$"},
        "c": {"type": "string"}, "d": {"type": "string", "format": "date-time"},
        "e": {"type": "string", "pattern": "^x.+-sys$"},
        "name": {}, "named": {}}}
    c = gm.compile_json_schema(schema, tok, cache=False)
    text = dumps({"a": "abcdefg", "b": "hello world", "c": 'x"yé', "d": "2020-01-01T00:00:00Z",
                  "e": "xyz-q-sys", "named": 1})
    assert accepts(c, encode, text)
    checked = combined = single_unladdered = exact_ends = 0
    for lx in range(c.lexer.num_states):
        limit, exact, charset = c._plain_limit(lx)
        if limit <= 0 and not exact:
            continue
        checked += 1
        exact_ends += exact
        members = c.lexer.members(lx)
        combined += len(members) > 1
        single_unladdered += len(members) == 1 and limit >= UNBOUNDED and \
            c._plain_runs[members[0]][0] < UNBOUNDED
        args = (c.trie, c._token_bytes, c.lexer.trans, c.lexer.emit, lx, tok.vocab_size)
        full, fast = scan_lexer_state(*args, 0), scan_lexer_state(*args, limit, exact, charset)
        for field in ("acc", "link_tokens", "walk_tokens", "link_emits", "walk_emits"):
            assert np.array_equal(np.sort(getattr(full, field)), np.sort(getattr(fast, field)))
        assert (full.f0 is None) == (fast.f0 is None)
    assert checked >= 10 and combined >= 5 and single_unladdered >= 1 and exact_ends >= 3


def test_successor_scans_equal_full_scans(tok, encode):
    """A lexer state scanned through the state it moves to on most bytes
    (`CompiledCFG._successor_scan`: declared property names beside the names of undeclared
    properties, escapes and non-ASCII names included) classifies every token exactly like
    a full walk from it."""
    schema = {"type": "object", "properties": {
        "name": {}, "named": {"type": "string"}, "nickname": {}, "description": {},
        "d\u00e9j\u00e0": {}, 'q"uote': {}, "back\\slash": {}},
        "required": ["name"]}
    c = gm.compile_json_schema(schema, tok, cache=False)
    text = dumps({"name": 1, "named": "x", "nickname": 2, "descriptive": 3, "déjà": 4,
                  'q"uote': 5, "back\\slash": 6, "zzz": 7})
    assert accepts(c, encode, text)
    checked = 0
    for lx in range(c.lexer.num_states):
        fast = c._successor_scan(lx)
        if fast is None:
            continue
        checked += 1
        assert_same_scan(full_scan(c, lx), fast, lx)
    assert checked >= 10, checked


def test_successor_scans_of_states_that_go_to_each_other(tok, encode):
    """A string of an even length alternates between two states that each go to the other on
    every plain byte: each is the other's successor scan base, and the one asked second is
    scanned by a full walk instead of asking the first again (no endless recursion)."""
    c = gm.compile_json_schema({"type": "string", "pattern": "^(..)*$"}, tok, cache=False)
    assert accepts(c, encode, dumps("abcdefgh"))
    assert not accepts(c, encode, dumps("abcdefg"))
    for lx in list(c._lex_masks):
        assert_same_scan(full_scan(c, lx), c._lex_masks[lx], lx)


def test_charset_run_shortcut_scans_equal_full_scans(tok, encode):
    """Lexer states inside pattern-restricted strings take the charset shortcut
    (`plain_runs.charset_run`) and must scan exactly like a full walk: counted patterns
    whose run ends dead (exact), unbounded ones, a run whose end still takes part of the set
    (a bucketed walk), formats, and a pattern property beside a declared name (combined)."""
    from grammask.mask_cache.cfg_masks import scan_lexer_state
    from grammask.mask_cache.plain_runs import UNBOUNDED
    schema = {"type": "object", "properties": {
        "a": {"type": "string", "pattern": "^[a-z0-9_-]{3,20}$"},
        "b": {"type": "string", "pattern": "^[0-9a-f]+$"},
        "c": {"type": "string", "pattern": "^[a-z]{18}[a-m]*$"},
        "d": {"type": "string", "format": "email"},
        "e": {"type": "object", "properties": {"id": {}},
              "patternProperties": {"^[a-z]+$": {}}, "additionalProperties": False}},
        "required": ["a", "b", "c", "d", "e"]}
    c = gm.compile_json_schema(schema, tok, cache=False)
    text = dumps({"a": "abc_12-x", "b": "00ff", "c": "abcdefghijklmnopqrabc", "d": "john.doe@example.com",
                  "e": {"id": 1, "idx": 2}})
    assert accepts(c, encode, text)
    kinds = {"exact": 0, "unbounded": 0, "bucketed": 0, "combined": 0}
    for lx in range(c.lexer.num_states):
        limit, exact, charset = c._plain_limit(lx)
        if charset is None:
            continue
        kinds["unbounded" if limit >= UNBOUNDED else "exact" if exact else "bucketed"] += 1
        kinds["combined"] += len(c.lexer.members(lx)) > 1
        args = (c.trie, c._token_bytes, c.lexer.trans, c.lexer.emit, lx, tok.vocab_size)
        full, fast = scan_lexer_state(*args, 0), scan_lexer_state(*args, limit, exact, charset)
        for field in ("acc", "link_tokens", "walk_tokens", "link_emits", "walk_emits",
                      "link_start", "walk_start"):
            assert np.array_equal(np.sort(getattr(full, field)), np.sort(getattr(fast, field)))
        assert (full.f0 is None) == (fast.f0 is None)
        if full.f0 is not None:
            assert np.array_equal(full.f0, fast.f0)
    assert all(n >= 1 for n in kinds.values()), kinds


def test_dot_pattern_excludes_line_separators_under_the_plain_shortcut(tok, encode):
    """An ECMA-262 `.` does not match U+2028/U+2029. They are outside the plain set, so a
    `.`-pattern state takes the plain shortcut and text with a separator is still refused."""
    c = gm.compile_json_schema({"type": "string", "pattern": "^x.+-sys$"}, tok, cache=False)
    assert accepts(c, encode, dumps("xa b-c-sys"))
    assert not accepts(c, encode, dumps("xa\u2028b-sys"))
    assert not accepts(c, encode, dumps("xa\u2029b-sys"))
    assert any(c._plain_limit(lx)[0] > 0 for lx in range(c.lexer.num_states))


def test_overlapping_pattern_properties_order_is_deterministic() -> None:
    """A name matching several patternProperties gets the conjunction of their schemas in
    the order the patterns are declared -- not a set's hash order, which made the property
    order (and so which instances pass) depend on PYTHONHASHSEED (MaskBench
    Github_hard---o82144)."""
    import os
    import subprocess
    import sys
    code = (
        "import grammask as gm\n"
        "tok = gm.TokenizerInfo([bytes([b]) for b in range(256)] + [None], eos_token_ids=[256])\n"
        "s = {'patternProperties': {'.*': {'properties': {'b': {}, 'a': {}}},"
        " 'x': {'properties': {'a': {}, 'b': {}}}}}\n"
        "for text in ('{\"x\":{\"b\":1,\"a\":2}}', '{\"x\":{\"a\":1,\"b\":2}}'):\n"
        "    m = gm.Matcher(gm.compile_json_schema(s, tok, cache=False))\n"
        "    print(int(m.accept_string(text) and m.can_terminate()), end='')\n")
    seen = set()
    for seed in ("0", "1", "2", "3", "4", "5"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        seen.add(out.stdout)
    assert seen == {"10"}          # '.*' is declared first: its order (b, a) comes first


# ------------------------------------------------------------------ unevaluated* (annotations)
# Each schema: texts that must be accepted, texts that must be refused. Branches of anyOf /
# oneOf / if / dependentSchemas evaluate properties or items only where they succeed.
UNEVALUATED_CASES = [
    ({"properties": {"foo": {"type": "string"}},
      "anyOf": [{"properties": {"bar": {"const": "bar"}}, "required": ["bar"]},
                {"properties": {"baz": {"const": "baz"}}, "required": ["baz"]}],
      "unevaluatedProperties": False},
     ['{"foo":"foo","bar":"bar"}', '{"foo":"foo","bar":"bar","baz":"baz"}', '{"baz":"baz"}'],
     ['{"foo":"foo","bar":"bar","baz":"x"}', '{"foo":"foo"}', '{"bar":"bar","q":1}']),
    ({"oneOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]},
                {"properties": {"b": {"type": "integer"}}, "required": ["b"]}],
      "unevaluatedProperties": False},
     ['{"a":1}', '{"b":2}'], ['{"a":1,"b":2}', '{"a":1,"c":2}', '{}']),
    ({"if": {"properties": {"foo": {"const": "then"}}, "required": ["foo"]},
      "then": {"properties": {"bar": {"type": "string"}}, "required": ["bar"]},
      "else": {"properties": {"baz": {"type": "string"}}, "required": ["baz"]},
      "unevaluatedProperties": False},
     ['{"foo":"then","bar":"x"}', '{"baz":"x"}'],
     ['{"foo":"then","bar":"x","baz":"x"}', '{"foo":"else","baz":"x"}']),
    ({"if": {"patternProperties": {"^f": {"type": "string"}}}, "unevaluatedProperties": False},
     ['{"foo":"a"}', '{}'], ['{"foo":1}', '{"bar":"a"}']),
    ({"properties": {"foo": {}}, "dependentSchemas": {"foo": {"properties": {"bar": {}}}},
      "unevaluatedProperties": False},
     ['{"foo":1,"bar":2}', '{"foo":1}'], ['{"bar":2}']),
    ({"properties": {"foo": {}}, "allOf": [{"unevaluatedProperties": {"type": "integer"}}],
      "unevaluatedProperties": False},
     ['{"foo":1,"bar":2}'], ['{"foo":"x"}', '{"foo":1,"bar":"y"}']),     # inner: own scope
    ({"$defs": {"b": {"properties": {"bar": {}}}}, "$ref": "#/$defs/b",
      "properties": {"foo": {}}, "unevaluatedProperties": False},
     ['{"foo":1,"bar":2}'], ['{"foo":1,"bar":2,"baz":3}']),
    ({"allOf": [{"properties": {"foo": True}}, {"unevaluatedProperties": False}]},   # cousins
     ['{}'], ['{"foo":1}']),
    ({"unevaluatedItems": {"type": "boolean"}, "anyOf": [{"items": {"type": "string"}}, True]},
     ['[true,false]', '["yes","no"]', '[]'], ['["yes",false]', '[1]']),
    ({"prefixItems": [{"const": "foo"}],
      "anyOf": [{"prefixItems": [True, {"const": "bar"}]},
                {"prefixItems": [True, True, {"const": "baz"}]}],
      "unevaluatedItems": False},
     ['["foo","bar"]', '["foo","bar","baz"]', '["foo",1,"baz"]'],
     ['["foo","bar",42]', '["foo","bar","baz",42]']),
    ({"prefixItems": [{"const": "foo"}],
      "oneOf": [{"prefixItems": [True, {"const": "bar"}]},
                {"prefixItems": [True, {"const": "baz"}]}],
      "unevaluatedItems": False},
     ['["foo","bar"]', '["foo","baz"]'], ['["foo","bar",42]', '["foo"]', '["foo",1]']),
    ({"prefixItems": [{"const": "foo"}], "if": {"prefixItems": [True, {"const": "bar"}]},
      "then": {"prefixItems": [True, True, {"const": "then"}]},
      "else": {"prefixItems": [True, True, True, {"const": "else"}]},
      "unevaluatedItems": False},
     ['["foo","bar","then"]', '["foo",42,42,"else"]'],
     ['["foo","bar","then","else"]', '["foo",42,42,"else",42]', '["foo","bar",1,"else"]']),
    ({"prefixItems": [True], "contains": {"type": "string"}, "unevaluatedItems": False},
     ['[1,"foo"]', '[1,"a","b"]'], ['[1,2]', '[1,2,"foo"]', '[1]']),
    ({"contains": {"type": "string"}, "minContains": 0, "unevaluatedItems": False},
     ['[]', '["a","b"]'], ['[0]', '["a",0]']),
    ({"allOf": [{"prefixItems": [{"type": "string"}]}, {"unevaluatedItems": True}],
      "unevaluatedItems": False},
     ['["foo",42,true]'], ['[1]']),
]


@pytest.mark.parametrize("index", range(len(UNEVALUATED_CASES)))
def test_unevaluated_sees_successful_branches(tok, encode, index):
    schema, good, bad = UNEVALUATED_CASES[index]
    compiled = gm.compile_json_schema(schema, tok)
    validator = jsonschema.Draft202012Validator(schema)
    for text in good:
        assert validator.is_valid(json.loads(text)), text          # the case itself is right
        assert accepts(compiled, encode, text), (schema, text)
    for text in bad:
        assert not validator.is_valid(json.loads(text)), text
        assert not accepts(compiled, encode, text), (schema, text)


def _instances(keys: list[str], values: list, size: int) -> list[str]:
    """Objects over `keys` (in that order, each subset up to `size` keys, values from
    `values`) and arrays of up to `size` items: the instances an unevaluated* schema sorts."""
    import itertools
    out = []
    for n in range(size + 1):
        for names in itertools.combinations(keys, n):
            for vals in itertools.product(values, repeat=n):
                out.append(dumps(dict(zip(names, vals))))
        out += [dumps(list(items)) for items in itertools.product(values, repeat=n)]
    return out


@pytest.mark.parametrize("index", range(len(UNEVALUATED_CASES)))
def test_unevaluated_never_accepts_invalid(tok, encode, index):
    """Soundness against jsonschema on many small objects and arrays (valid ones in another
    property order than the grammar's may be refused; invalid ones never pass)."""
    schema, _, _ = UNEVALUATED_CASES[index]
    compiled = gm.compile_json_schema(schema, tok)
    validator = jsonschema.Draft202012Validator(schema)
    keys = [k for k in _schema_keys(schema) if k in json.dumps(schema)][:4] + ["q"]
    consts = sorted(set(re.findall(r'"const": "(\w+)"', json.dumps(schema))))
    accepted = 0
    for text in _instances(keys, [*consts, 1, True, "x"], 3):
        if accepts(compiled, encode, text):
            accepted += 1
            assert validator.is_valid(json.loads(text)), (schema, text)
    assert accepted


SEVERAL_CONTAINS = [
    {"type": "array", "allOf": [{"contains": {"const": 1}}, {"contains": {"const": 2}}]},
    {"type": "array", "allOf": [{"contains": {"type": "integer"}}, {"contains": {"minimum": 3}}]},
    {"type": "array", "allOf": [{"contains": {"const": 1}, "maxContains": 1},
                                {"contains": {"type": "integer"}, "minContains": 2}]},
    {"type": "array", "maxItems": 3,
     "allOf": [{"contains": {"const": 1}, "minContains": 2, "maxContains": 3},
               {"contains": {"const": 2}, "minContains": 0, "maxContains": 0}]},
    {"type": "array", "items": {"type": "integer"},
     "allOf": [{"contains": {"enum": [1, 2]}}, {"contains": {"enum": [2, 3]}},
               {"contains": {"const": 4}, "maxContains": 1}]},
    {"type": "array", "prefixItems": [{"const": 1}],
     "allOf": [{"contains": {"const": 1}}, {"contains": {"const": 1}, "minContains": 2}]},
    {"type": "array", "allOf": [{"contains": {"const": 1}}, {"contains": {"const": 2}}],
     "unevaluatedItems": {"const": 3}},
    # oneOf's exact form: each branch with the other negated, `not items` -> contains
    {"oneOf": [{"type": "array", "items": {"const": 1}},
               {"type": "array", "items": {"enum": [1, 2]}}]},
]


@pytest.mark.parametrize("index", range(len(SEVERAL_CONTAINS)))
def test_several_contains_in_one_conjunction_are_exact(tok, encode, index):
    """Every array of up to 3 items over a small domain: accepted exactly when jsonschema
    says valid (one item may count for several `contains`; one with maxContains must not
    match once its count is full)."""
    import itertools
    schema = SEVERAL_CONTAINS[index]
    compiled = gm.compile_json_schema(schema, tok)
    validator = jsonschema.Draft202012Validator(schema)
    seen = set()
    for n in range(4):
        for items in itertools.product([1, 2, 3, 4, "a"], repeat=n):
            text = dumps(list(items))
            want = validator.is_valid(list(items))
            assert accepts(compiled, encode, text) == want, (schema, text, want)
            seen.add(want)
    assert seen == {True, False}


NOT_MULTIPLE_OF = [
    {"not": {"multipleOf": 3}},
    {"type": "integer", "not": {"multipleOf": 3}, "minimum": -20, "maximum": 40},
    {"type": "number", "not": {"multipleOf": 0.5}, "maximum": 3},
    {"allOf": [{"not": {"multipleOf": 5}}, {"not": {"multipleOf": 3}}, {"multipleOf": 2}]},
    {"type": "array", "items": {"type": "integer"}, "contains": {"not": {"multipleOf": 2}}},
    {"not": {"not": {"multipleOf": 4}}},
]


@pytest.mark.parametrize("index", range(len(NOT_MULTIPLE_OF)))
def test_not_multiple_of_is_exact(tok, encode, index):
    """`not {multipleOf}`: numbers (integers, decimals, negatives) accepted exactly when
    jsonschema says valid; other types satisfy multipleOf vacuously, so `not` refuses them.
    (1.0-style spellings of integers are left out: grammask's integers are spelled without a
    fraction, a documented under-approximation.)"""
    schema = NOT_MULTIPLE_OF[index]
    compiled = gm.compile_json_schema(schema, tok)
    validator = jsonschema.Draft202012Validator(schema)
    texts = [str(i) for i in range(-12, 31)] + ["0.5", "1.5", "2.5", "-4.5", "7.25", "0.75",
                                                  '"a"', "null", "true", "{}", "[]", "[2]",
                                                  "[2,4]", "[2,3]", "[1]", "[6,10]"]
    seen = set()
    for text in texts:
        want = validator.is_valid(json.loads(text))
        assert accepts(compiled, encode, text) == want, (schema, text, want)
        seen.add(want)
    assert seen == {True, False}


EXISTS = [
    {"type": "object", "not": {"patternProperties": {"^a": {"type": "integer"}}}},
    {"type": "object", "not": {"propertyNames": {"maxLength": 1}}},
    {"type": "object", "not": {"propertyNames": {"enum": ["a", "b"]}}},
    {"type": "object", "not": {"propertyNames": {"not": {"const": "b"}}}},
    {"type": "object", "properties": {"a": {"type": "integer"}},
     "not": {"additionalProperties": {"type": "integer"}}},
    {"type": "object", "properties": {"a": {}}, "patternProperties": {"^b": {}},
     "not": {"additionalProperties": False}},
    {"type": "object", "properties": {"a": {"type": "integer"}, "b": {}}, "required": ["a"],
     "allOf": [{"not": {"patternProperties": {"a": {"minimum": 2}}}},
               {"not": {"propertyNames": {"not": {"const": "ab"}}}}]},
    {"type": "object", "oneOf": [{"patternProperties": {"^a": {"type": "string"}}},
                                 {"patternProperties": {"b$": {"type": "integer"}}}]},
    {"not": {"patternProperties": {"^a": {"type": "integer"}, "b": False}}, "maxProperties": 2},
    {"not": {"dependentRequired": {"a": ["b", "c"]}}},
    {"type": "object", "not": {"dependentSchemas": {"a": {"properties": {"b": {"minimum": 2}}}}}},
    {"type": "object", "properties": {"a": {}, "b": {}},
     "oneOf": [{"dependentRequired": {"a": ["b"]}}, {"required": ["b"]}]},
]


def _objects() -> list[str]:
    import itertools
    out = ["1", '"x"', "[]"]
    for n in range(3):
        for names in itertools.permutations(["a", "b", "ab", "c"], n):
            for vals in itertools.product([1, 5, "s"], repeat=n):
                out.append(dumps(dict(zip(names, vals))))
    return out


@pytest.mark.parametrize("index", range(len(EXISTS)))
def test_required_property_witnesses_are_exact(tok, encode, index):
    """`not {patternProperties / propertyNames / additionalProperties}` ask for some property
    whose name and value fail them, `not {dependentRequired / dependentSchemas}` for a
    property without what it needs: with properties in any order every small object is
    accepted exactly when jsonschema says valid; in schema order, never an invalid one."""
    schema = EXISTS[index]
    validator = jsonschema.Draft202012Validator(schema)
    anywhere = gm.compile_json_schema(schema, tok, property_order="any")
    in_order = gm.compile_json_schema(schema, tok)
    seen = set()
    for text in _objects():
        want = validator.is_valid(json.loads(text))
        assert accepts(anywhere, encode, text) == want, (schema, text, want)
        assert want or not accepts(in_order, encode, text), (schema, text)
        seen.add(want)
    assert seen == {True, False}


def test_more_required_properties_than_the_limit_are_refused_with_the_path(tok):
    schema = {"type": "object",
              "allOf": [{"not": {"propertyNames": {"not": {"const": f"p{i}"}}}} for i in range(5)]}
    with pytest.raises(gm.SchemaError) as info:
        gm.compile_json_schema(schema, tok)
    assert "more than 4 properties required to exist" in str(info.value)
    assert "#/allOf/4/not/propertyNames" in str(info.value)


def test_branches_the_rest_contradicts_do_not_count_toward_max_branches(tok, encode):
    """Two anyOf of 40 branches each (1,600 combinations, above max_branches = 1,024) of which
    only two per group can hold a string: the string's 4 live combinations are built, the
    others dropped before they count; past the bound in live branches it is still refused."""
    def group(pats):
        return {"anyOf": [{"type": "string", "pattern": p} for p in pats] +
                         [{"type": "integer", "minimum": k} for k in range(38)]}
    schema = {"type": "string", "allOf": [group(["^a", "^b"]), group(["c$", "d$"])]}
    compiled = gm.compile_json_schema(schema, tok)
    validator = jsonschema.Draft202012Validator(schema)
    for text in ['"ac"', '"bd"', '"ad"', '"ab"', '"cd"', '"a"', "5"]:
        assert accepts(compiled, encode, text) == validator.is_valid(json.loads(text)), text
    wide = {"allOf": [{"anyOf": [{"minimum": k} for k in range(40)]},
                      {"anyOf": [{"maximum": k} for k in range(40)]}]}
    with pytest.raises(gm.SchemaError, match="max_branches"):
        gm.compile_json_schema(wide, tok)


MANY_PATTERNS = [
    {"type": "object", "additionalProperties": {"type": "null"},
     "patternProperties": {"^a": {"type": "integer"}, "^b": {"type": "string"}, "c$": {"minimum": 3},
                           "^d": False, "x": {"type": "integer"}, "^ab": {"maximum": 4}}},
    {"type": "object", "additionalProperties": False,
     "patternProperties": {f"^k{i}$": {"const": i} for i in range(7)}},
]


@pytest.mark.parametrize("index", range(len(MANY_PATTERNS)))
def test_more_than_four_pattern_properties_split_names_into_live_regions(tok, encode, index):
    """Past four patternProperties the extra names are split into the regions that exist
    (not 2^n): every small object is still accepted exactly when jsonschema says valid."""
    import itertools
    schema = MANY_PATTERNS[index]
    compiled = gm.compile_json_schema(schema, tok, property_order="any")
    validator = jsonschema.Draft202012Validator(schema)
    seen = set()
    for n in range(3):
        for names in itertools.permutations(["a", "ab", "bc", "d", "xa", "k1", "k3", "z"], n):
            for vals in itertools.product([1, 7, "s", None], repeat=n):
                text = dumps(dict(zip(names, vals)))
                want = validator.is_valid(json.loads(text))
                assert accepts(compiled, encode, text) == want, (schema, text, want)
                seen.add(want)
    assert seen == {True, False}


def test_pattern_properties_splitting_names_too_finely_are_refused(tok):
    schema = {"type": "object", "patternProperties": {c: {"type": "integer"} for c in "abcdefg"}}
    with pytest.raises(gm.SchemaError, match="more than 64 regions"):
        gm.compile_json_schema(schema, tok)


def test_recursive_one_of_with_overlapping_branches_converges(tok, encode):
    """A oneOf on its own recursion cycle whose branches overlap is built in its exact form
    ("this branch and not the others"); that form's synthetic schemas are the same objects
    each round, so the recursion meets its rules again (it nested new ones until max_depth
    before) and the language stays exact."""
    schema = {"$defs": {"t": {"oneOf": [
        {"type": "string"},
        {"type": "object", "properties": {"x": {"$ref": "#/$defs/t"}}},
        {"type": "object", "properties": {"y": {"type": "integer"}}, "required": ["y"]}]}},
        "$ref": "#/$defs/t"}
    compiled = gm.compile_json_schema(schema, tok, property_order="any")
    validator = jsonschema.Draft202012Validator(schema)
    for text in ['"a"', '{}', '{"x":"a"}', '{"y":1}', '{"x":{"y":1}}', '{"x":{"x":{"y":2}}}',
                 '{"x":"a","y":1}', '{"x":{}}', '{"y":"s"}', '{"x":{"x":{}}}', '1',
                 '{"x":{"x":{"x":"b"}}}', '{"y":1,"x":{}}']:
        assert accepts(compiled, encode, text) == validator.is_valid(json.loads(text)), text


def test_more_contains_than_the_limit_are_refused_with_the_path(tok):
    schema = {"allOf": [{"contains": {"const": i}} for i in range(5)]}
    with pytest.raises(gm.SchemaError) as info:
        gm.compile_json_schema(schema, tok)
    assert "more than 4 'contains'" in str(info.value) and "#/allOf/4" in str(info.value)


def test_unevaluated_anyof_with_many_evaluating_branches_is_refused():
    branches = [{"properties": {f"p{i}": {}}} for i in range(8)]
    with pytest.raises(gm.SchemaError) as info:
        schema_to_grammar({"anyOf": branches, "unevaluatedProperties": False})
    assert "#/anyOf" in str(info.value)


def test_not_prefix_items_is_the_arrays_failing_one_prefix_item(tok, encode):
    c = gm.compile_json_schema({"not": {"prefixItems": [{"type": "string"}, {"const": 1}]}}, tok)
    for text in ['[1]', '["a",2]', '[1,1]', '[1,1,true]']:
        assert accepts(c, encode, text), text
    for text in ['[]', '["a"]', '["a",1]', '["a",1,"x"]', '3', '{}']:    # others satisfy it
        assert not accepts(c, encode, text), text
    with pytest.raises(gm.SchemaError):      # items past a prefix: no plain complement
        schema_to_grammar({"not": {"prefixItems": [True], "items": {"type": "string"}}})


def test_not_additional_properties_false_needs_a_name_outside_the_declared_ones(tok, encode):
    """`not {properties: {a}, additionalProperties: false}` is an object with some property
    other than `a`. Where the object itself did not declare `a`, an `a` went through as an
    extra property and counted as "other": `{"a": ""}` was accepted (and so was a value
    matching two oneOf branches, `oneOf [{properties: {a}, additionalProperties: false},
    {type: object}]`)."""
    c = gm.compile_json_schema(
        {"type": "object", "not": {"properties": {"a": {}}, "additionalProperties": False}}, tok)
    for text in ['{"b":1}', '{"a":1,"b":1}', '{"b":1,"a":1}']:
        assert accepts(c, encode, text), text
    for text in ['{}', '{"a":""}', '{"a":1}']:
        assert not accepts(c, encode, text), text
    one = schema_to_grammar({"oneOf": [{"type": "object", "additionalProperties": False,
                                        "properties": {"a": {"type": "string"}}},
                                       {"type": ["null", "object"]}]})
    assert [validate_text(one, t).ok for t in ['{"a":""}', '{}', '{"a":1}', 'null', '{"b":1}']] \
        == [False, False, True, True, True]
