"""`format: "regex"` on value strings (`grammask.grammar.json_schema.regex_format`): every
accepted value compiles with Python's `re` (soundness, brute force over random values), the
verdict does not depend on how the JSON text escapes the value, token masks equal an
independent Earley prefix oracle's, and the accepted subset covers the patterns real
schemas use."""
from __future__ import annotations

import json
import random
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from cfg_oracle import PrefixOracle, reference_allowed
from test_json_strings import random_encoding

import grammask as gm
from grammask.errors import SchemaError
from grammask.grammar.json_schema import JsonSchemaOptions, schema_to_grammar
from grammask.tokenizer_info import TokenizerInfo
from grammask.validate import byte_level_tokenizer, validate_text

REGEX = {"type": "string", "format": "regex"}
PIECES = list("ab09_-^$.|?*+()[]{},:=!<\\dwsDbBxu\"/ é\n") + \
    ["\\d", "\\.", "[a-z]", "{2,3}", "(?:", "(?=", "[^", "a-", "{1", "5}"]
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "jsonschemabench"


@pytest.fixture(scope="module")
def compiled() -> object:
    return gm.compile_json_schema(REGEX, byte_level_tokenizer(), cache=False)


def accepts(compiled: object, text: str) -> bool:
    return validate_text(compiled, text).ok


def python_valid(value: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            re.compile(value)
        except re.error:
            return False
    return True


def test_accepted_values_compile_and_escaping_does_not_matter(compiled: object) -> None:
    rng = random.Random(7)
    accepted = 0
    for _ in range(1500):
        value = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 7)))
        ok = accepts(compiled, json.dumps(value, ensure_ascii=False))
        accepted += ok
        assert not ok or python_valid(value), value
        for _ in range(2):
            assert accepts(compiled, random_encoding(value, rng)) == ok, value
    assert accepted > 300         # the fuzz reaches both verdicts


@pytest.mark.parametrize("value", [
    "", "^[a-zA-Z0-9_]{3,16}$", "^/api/(.*)$", "abc\\.com", "(a|b)*?", "a??", "a{10,15}",
    "a{0}", "x{9,10000}", "\\d+\\.\\d", '"quoted"\\w', "()", "(?:)", "(?=x)\\w", "(?!y)",
    "[^^]", "[-^]", "[a-z-_]", "[\\w-]", "[^-]", "[ -~]", "\\u00e9\\x41\\0\\/", "é|中|😀",
    "^\\s*$", "\\bword\\B", "a|", "|", "[.-_]",
])
def test_accepted(compiled: object, value: str) -> None:
    assert python_valid(value)
    assert accepts(compiled, json.dumps(value))
    assert accepts(compiled, json.dumps(value, ensure_ascii=False))


@pytest.mark.parametrize("value", [
    "*", "\\", "a**", "a???", "+a", "^*", "$+", "\\b+", "(?=a)*", "[z-a]", "a{3,2}",
    "a{10,9}", "[\\d-z]", "[]", "[^]", "[^]^", "(", ")", "(a", "\\x4", "\\u00", "(?<=a)b",
    "(?P<n>a)", "(?i)a", "\\1", "\\k<n>", "\\p{L}", "a{", "}", "]", "[[a]", "\\Z", "\\a",
    "a{,5}", "a*+",
])
def test_refused(compiled: object, value: str) -> None:
    assert not accepts(compiled, json.dumps(value))


def test_min_length_one_enum_and_types() -> None:
    tok = byte_level_tokenizer()
    nonempty = gm.compile_json_schema({**REGEX, "minLength": 1}, tok, cache=False)
    assert not accepts(nonempty, '""') and accepts(nonempty, '"|"') and accepts(nonempty, '"a"')
    enum = gm.compile_json_schema({"enum": ["a+", "*", "(?P<n>x)", ""], "format": "regex",
                                   "minLength": 1}, tok, cache=False)
    assert [accepts(enum, json.dumps(v)) for v in ["a+", "*", "(?P<n>x)", ""]] == \
        [True, False, False, False]     # in the same syntax (`(?P<n>` is Python's only)
    mixed = gm.compile_json_schema({"type": ["string", "object"], "format": "regex"}, tok,
                                   cache=False)
    assert accepts(mixed, "{}") and accepts(mixed, '"a+"') and not accepts(mixed, '"+"')


@pytest.mark.parametrize("schema, where", [
    ({**REGEX, "pattern": "^/"}, "#/format"),                 # with a pattern: still refused
    ({**REGEX, "maxLength": 9}, "#/format"),
    ({**REGEX, "minLength": 2}, "#/format"),
    ({"type": "object", "propertyNames": REGEX}, "#/propertyNames/format"),
    ({"type": "array", "items": REGEX, "uniqueItems": True}, "#"),
])
def test_still_refused_with_other_constraints(schema: dict, where: str) -> None:
    with pytest.raises(SchemaError) as err:
        gm.compile_json_schema(schema, byte_level_tokenizer(), cache=False)
    assert where in str(err.value)


TOKENS = [b'"', b'""', b"a", b"ab", b"\\\\", b"\\\\d", b"d", b"+", b"*", b"?", b"?:", b"(",
          b"(?", b")", b")*", b"[", b"[a", b"-z", b"]", b"]+", b"^", b"$", b"{", b"{2", b",",
          b"3}", b"}", b"|", b".", b"\\u00", b"2a", b"\\u002a", b"\\n", b"\\\"", b'a"', b'+"',
          b"\xc3\xa9", b"x", b"0", b"1"]


@pytest.mark.parametrize("schema", [REGEX, {"type": "array", "items": {**REGEX, "minLength": 1}}])
def test_masks_equal_the_prefix_oracle_on_random_walks(schema: dict) -> None:
    info = TokenizerInfo(TOKENS + [None], eos_token_ids=[len(TOKENS)])
    compiled = gm.compile_json_schema(schema, info, cache=False)
    oracle = PrefixOracle(schema_to_grammar(schema, JsonSchemaOptions()).pruned())
    rng = random.Random(3)
    bitmask = gm.allocate_token_bitmask(1, info.vocab_size)
    for _ in range(25):
        m, prefix = gm.Matcher(compiled), b""
        for _ in range(12):
            m.fill_next_token_bitmask(bitmask, 0)
            bits = np.unpackbits(bitmask[0].view(np.uint8), bitorder="little")
            got = set(np.flatnonzero(bits[:info.vocab_size]).tolist())
            want = reference_allowed(oracle, info.token_bytes, info.eos_token_ids, prefix)
            assert got == want, prefix
            choices = sorted(got - set(info.eos_token_ids))
            if not choices:
                break
            t = rng.choice(choices)
            assert m.accept_token(t)
            prefix += TOKENS[t]


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/jsonschemabench")
def test_covers_the_patterns_of_real_schemas(compiled: object) -> None:
    found: set[str] = set()

    def walk(x: object) -> None:
        if isinstance(x, dict):
            if isinstance(x.get("pattern"), str):
                found.add(x["pattern"])
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    for path in sorted((SHARED / "schemas").glob("*.jsonl"))[:6]:
        for line in path.read_text().splitlines():
            walk(json.loads(line))
    valid = [p for p in found if python_valid(p)]
    accepted = [p for p in valid if accepts(compiled, json.dumps(p))]
    assert len(valid) > 200
    assert len(accepted) >= 0.97 * len(valid)


SUITE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / \
    "json-schema-test-suite" / "tests" / "draft2020-12" / "optional" / "format"


@pytest.mark.skipif(not SUITE.is_dir(), reason="needs ../shared/data/json-schema-test-suite")
@pytest.mark.parametrize("name", ["regex.json", "ecmascript-regex.json"])
def test_no_invalid_regex_of_the_test_suite_accepted(name: str) -> None:
    """Python-only syntax (`(?P<n>`, `(?i)`, `\\a`) is refused; ECMA-only syntax (named
    groups, lookbehind, `[]`, `\\cA`) is refused too, the subset's known incompleteness."""
    tok = byte_level_tokenizer()
    for group in json.loads((SUITE / name).read_text()):
        compiled = gm.compile_json_schema(group["schema"], tok, cache=False)
        for case in group["tests"]:
            if not case["valid"]:
                assert not accepts(compiled, json.dumps(case["data"])), case["description"]


def test_teacher_forced_on_a_real_tokenizer(load_tokenizer_info, load_encoder) -> None:
    """Llama-3 tokens straddle regex tokens, JSON escapes and the closing quote (`]{`, `}$`,
    `",`): every token of valid texts is allowed, and invalid values are refused."""
    info, encode = load_tokenizer_info("llama3"), load_encoder("llama3")
    schema = {"type": "object", "properties": {"re": REGEX, "n": {"type": "integer"}}}
    engine = gm.compile_json_schema(schema, info, cache=False)
    bitmask = gm.allocate_token_bitmask(1, info.vocab_size)
    for value in ["^[a-zA-Z0-9_]{3,16}$", "\\d+\\.\\d*(?:e[+-]?\\d+)?", '"(\\\\.|[^"])*"',
                  "^/api/(v[12])/(.*)$", "a{10,15}?|b*"]:
        text = json.dumps({"re": value, "n": 1}, separators=(",", ":"))
        m = gm.Matcher(engine)
        for t in encode(text):
            m.fill_next_token_bitmask(bitmask, 0)
            assert (bitmask[0, t >> 5] >> (t & 31)) & 1, (value, t)
            assert m.accept_token(t)
        assert m.can_terminate()
    for bad in ["*a", "a{3,2}", "(?P<n>x)"]:
        assert not validate_text(engine, json.dumps({"re": bad}, separators=(",", ":"))).ok


def test_schemas_mixing_regex_with_combinators_accept_only_valid_values() -> None:
    """Random schemas where `format: "regex"` meets anyOf/oneOf/allOf/not/if, enums, other
    strings, objects and arrays: every value the grammar accepts is valid for `jsonschema`
    with its format checker (Python's `re` decides `regex` there)."""
    jsonschema = pytest.importorskip("jsonschema")
    rng = random.Random(11)
    tok = byte_level_tokenizer()
    leaves = [REGEX, {"format": "regex"}, {**REGEX, "minLength": 1},
              {"type": "string", "maxLength": 3}, {"type": "string", "pattern": "^a"},
              {"enum": ["a+", "*", "(x)", 1]}, {"type": "integer"}, {"const": "[a-z]"},
              {"type": ["string", "null"], "format": "regex"}, {"not": REGEX}]

    def schema(depth: int = 0) -> dict:
        if depth > 2 or rng.random() < 0.3:
            return rng.choice(leaves)
        kind = rng.choice(["anyOf", "oneOf", "allOf", "object", "array", "if", "not"])
        if kind in ("anyOf", "oneOf", "allOf"):
            return {kind: [schema(depth + 1) for _ in range(rng.randint(1, 3))]}
        if kind == "object":
            return {"type": "object", "properties": {"a": schema(depth + 1),
                    "b": schema(depth + 1)}, "additionalProperties": False}
        if kind == "array":
            return {"type": "array", "items": schema(depth + 1), "maxItems": 3}
        if kind == "if":
            return {"if": schema(depth + 1), "then": schema(depth + 1), "else": schema(depth + 1)}
        return {"not": schema(depth + 1)}

    scalars = ["a+", "*", "(x)", "", "[a-z]", "\\d", "a", "ab(", 1, None, "(?P<n>x)", "a{2,1}"]

    def value(depth: int = 0) -> object:
        r = rng.random()
        if depth < 2 and r < 0.2:
            return {k: value(depth + 1) for k in rng.sample(["a", "b"], rng.randint(0, 2))}
        if depth < 2 and r < 0.35:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return rng.choice(scalars)

    checker, compiled_count, accepted = jsonschema.FormatChecker(), 0, 0
    for _ in range(120):
        s = schema()
        try:
            compiled = gm.compile_json_schema(s, tok, cache=False)
        except gm.GrammaskError:
            continue
        compiled_count += 1
        reference = jsonschema.Draft202012Validator(s, format_checker=checker)
        for _ in range(12):
            x = value()
            if accepts(compiled, json.dumps(x, separators=(",", ":"))):
                accepted += 1
                assert reference.is_valid(x), (s, x)
    assert compiled_count > 60 and accepted > 100


def test_pydantic_pattern_fields_compile() -> None:
    """Pydantic writes `re.Pattern` fields as `{"type": "string", "format": "regex"}`:
    such models compile (refused before), and what they accept, Pydantic parses."""
    pydantic = pytest.importorskip("pydantic")
    from typing import Pattern

    class Route(pydantic.BaseModel):
        path: Pattern[str]
        methods: list[str]

    compiled = gm.compile_json_schema(Route, byte_level_tokenizer(), cache=False)
    for value in ["^/api/(v[12])/(.*)$", "\\d+", "a|b", ""]:
        text = json.dumps({"path": value, "methods": ["GET"]}, separators=(",", ":"))
        assert accepts(compiled, text)
        assert Route.model_validate_json(text).path.pattern == value
    for value in ["(", "*", "a{2,1}"]:
        assert not accepts(compiled, json.dumps({"path": value, "methods": []},
                                                separators=(",", ":")))
