"""Long strings lexed in chunks (`grammar/json_schema/long_strings.py`): exact lengths across
chunk boundaries (escapes, multi-byte UTF-8, surrogate pairs counted as one code point),
masks equal to the single-automaton reference on a small vocabulary, strings that can meet a
chunked one split alike (anyOf, enum, contains), refusals, and large bounds compiling."""
from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest
from test_json_strings import random_encoding

import grammask as gm
from grammask.errors import LimitExceededError
from grammask.grammar.json_schema import JsonSchemaOptions, schema_to_grammar
from grammask.grammar.json_schema.strings import string_dfa
from grammask.limits import Limits

SMALL = {"chunk_strings_above": 8, "string_chunk": 4}      # K = 4: boundaries every 4 chars
BYTES = gm.TokenizerInfo([bytes([b]) for b in range(256)] + [None], eos_token_ids=[256])
POOLS = ["abc", "é中", "😀\U0010ffff", '\n"\\/', "\x00\x1f"]


def accepts(compiled, data: bytes) -> bool:
    m = gm.Matcher(compiled)
    return all(m.accept_token(b) for b in data) and m.can_terminate()


def values(rng: random.Random, top: int, per_length: int = 4) -> list[str]:
    return ["".join(rng.choice(rng.choice(POOLS)) for _ in range(n))
            for n in range(top + 1) for _ in range(per_length)]


def texts(s: str, rng: random.Random) -> list[str]:
    """JSON spellings of `s`: ASCII-escaped (astral characters as surrogate pairs), raw, and
    each character raw or escaped at random (`\\uXXXX` in either case)."""
    return [json.dumps(s), json.dumps(s, ensure_ascii=False), random_encoding(s, rng)]


CASES = [
    ({"type": "string", "maxLength": 11}, lambda s: len(s) <= 11),
    ({"type": "string", "minLength": 9, "maxLength": 11}, lambda s: 9 <= len(s) <= 11),
    ({"type": "string", "minLength": 12, "maxLength": 12}, lambda s: len(s) == 12),
    ({"type": "string", "minLength": 9}, lambda s: len(s) >= 9),
    ({"type": "string", "pattern": "^[ab]*c?$", "minLength": 2, "maxLength": 10},
     lambda s: 2 <= len(s) <= 10 and re.fullmatch("[ab]*c?", s) is not None),
    ({"type": "string", "maxLength": 10, "not": {"const": "abcabc"}},
     lambda s: len(s) <= 10 and s != "abcabc"),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_chunked_lengths_are_exact(case: int) -> None:
    schema, ok = CASES[case]
    c = gm.compile_json_schema(schema, BYTES, cache=False, **SMALL)
    assert any(t.pattern == "string piece" for t in c.grammar.terminals.values())
    rng = random.Random(case)
    for s in values(rng, 15):
        for text in texts(s, rng):
            assert accepts(c, text.encode()) == ok(s), (text, len(s))
    for bad in ('"abc', 'abc"', '"\\x41"', '"\\ud800"', '"\\udc00\\ud800"', '"a\nb"',
                '"abcd\\u12"', '"abcdabcd"x'):
        assert not accepts(c, bad.encode()), bad


def test_surrogate_pairs_count_once_across_a_boundary() -> None:
    c = gm.compile_json_schema({"type": "string", "maxLength": 9}, BYTES, cache=False, **SMALL)
    for k in range(12):
        for text in ('"' + "a" * k + "\\ud83d\\ude00" * (9 - k) + '"',
                     '"' + "😀" * k + "\\uD83D\\uDE00" + '"'):
            n = len(json.loads(text))
            assert accepts(c, text.encode()) == (n <= 9), text


@pytest.mark.parametrize("schema, ok, wrap", [
    # a chunked string beside a pattern, a long enum literal and an object branch: the other
    # strings are split at the same boundaries, so a lexeme never outlives a cut
    ({"anyOf": [{"type": "string", "maxLength": 9}, {"type": "string", "pattern": "^a[bc]*$"}]},
     lambda s: len(s) <= 9 or re.fullmatch("a[bc]*", s) is not None, lambda t: t),
    ({"anyOf": [{"type": "string", "minLength": 10}, {"enum": ["abcabcabcab", "x", "abcabcab"]}]},
     lambda s: len(s) >= 10 or s in ("x", "abcabcab"), lambda t: t),
    ({"anyOf": [{"properties": {"a": {"type": "string", "maxLength": 9}}, "required": ["a"],
                 "additionalProperties": False, "type": "object"},
                {"properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
                 "required": ["a", "b"], "type": "object"}]},
     lambda s: len(s) <= 9, lambda t: '{"a":' + t + "}"),
    ({"type": "array", "items": {"type": "string", "maxLength": 9},
      "contains": {"pattern": "^ab*$"}},
     lambda s: len(s) <= 9 and re.fullmatch("ab*", s) is not None, lambda t: "[" + t + "]"),
])
def test_strings_that_meet_a_chunked_one_are_split_alike(schema, ok, wrap) -> None:
    c = gm.compile_json_schema(schema, BYTES, cache=False, **SMALL)
    rng = random.Random(7)
    words = values(rng, 13, 3) + ["abcabcab", "abcabcabc", "abcabcabcab", "abcabcabcabc",
                                  "a" + "b" * 12, "a" + "bc" * 7 + "x", "a" * 11]
    for s in words:
        for text in texts(s, rng):
            assert accepts(c, wrap(text).encode()) == ok(s), (text, len(s))


def test_masks_match_the_single_automaton() -> None:
    """Every mask of the chunked grammar equals the one the exact single automaton allows:
    a token is allowed iff the text so far plus the token can still be completed."""
    lo, hi = 3, 11
    ref = string_dfa(min_length=lo, max_length=hi)
    vocab = sorted({bytes([b]) for b in range(256)}
                   | {c.encode()[:k] for c in "é中😀" for k in range(2, len(c.encode()) + 1)}
                   | {c.encode()[k:] for c in "é中😀" for k in range(1, len(c.encode()) - 1)}
                   | {b"ab", b"abc", b"abcde", b"a" * 9, b"a" * 13, b'a"', b'abc"', b'"a',
                      b'"abcd', b"\\n", b"\\u00", b"e9", b"\\ud83d", b"\\ude00", b'\\"', b"\\",
                      "é\"".encode(), "😀😀".encode(), b'\\u00e9"'})
    tok = gm.TokenizerInfo(list(vocab) + [None], eos_token_ids=[len(vocab)])
    c = gm.compile_json_schema({"type": "string", "minLength": lo, "maxLength": hi}, tok,
                               cache=False, **SMALL)
    bm = gm.allocate_token_bitmask(1, tok.vocab_size)
    rng = random.Random(3)
    for s in values(rng, 14, 2):
        for text in texts(s, rng):
            data, m, state = text.encode(), gm.Matcher(c), ref.start
            while True:
                m.fill_next_token_bitmask(bm, 0)
                bits = np.unpackbits(bm[0].view(np.uint32).view(np.uint8), bitorder="little")
                for i, t in enumerate(vocab):
                    assert bits[i] == (ref.step(state, t) >= 0), (text, data, t)
                assert bits[len(vocab)] == (state >= 0 and ref.accepting[state])
                if not data or state < 0:
                    break
                t = max((t for t in vocab if data.startswith(t)), key=len)
                m.accept_token(vocab.index(t)) if bits[vocab.index(t)] else None
                if not bits[vocab.index(t)]:
                    break
                state, data = ref.step(state, t), data[len(t):]


def test_below_the_threshold_one_automaton() -> None:
    g = schema_to_grammar({"type": "string", "maxLength": 1024})
    assert [t.pattern for t in g.terminals.values() if t.dfa is not None
            and t.pattern.startswith("string")] == ["string"]


def test_large_bounds_compile_and_are_exact() -> None:
    tok = gm.TokenizerInfo([bytes([b]) for b in range(256)] + [b"a" * 100, b"a" * 1000, None],
                           eos_token_ids=[258])
    c = gm.compile_json_schema({"type": "object", "properties": {
        "bio": {"type": "string", "minLength": 50, "maxLength": 100_000}}}, tok, cache=False)
    for n, ok in ((0, False), (49, False), (50, True), (99_999, True), (100_000, True),
                  (100_001, False)):
        m = gm.Matcher(c)
        ids = [ord("{"), ord('"'), ord("b"), ord("i"), ord("o"), ord('"'), ord(":"), ord('"')]
        ids += [257] * (n // 1000) + [256] * (n % 1000 // 100) + [ord("a")] * (n % 100)
        ids += [ord('"'), ord("}")]
        assert (all(m.accept_token(t) for t in ids) and m.can_terminate()) == ok, n
    schema_to_grammar({"type": "string", "maxLength": 1_000_000})


def test_astronomical_min_length_is_refused_not_looped() -> None:
    """A fuzz finding: `minLength: 10**30` looped over 10**30 chunk boundaries (the cut
    states after k code points are periodic in k, `boundary_states` now jumps)."""
    for schema in ({"type": "string", "minLength": 10**30},
                   {"type": "string", "pattern": "^(ab|c)*$", "minLength": 10**30}):
        with pytest.raises(LimitExceededError):
            schema_to_grammar(schema)


def test_enum_values_checked_against_a_chunked_string() -> None:
    schema = {"type": "string", "maxLength": 2000, "enum": ["a", "x" * 3000, 5]}
    c = gm.compile_json_schema(schema, BYTES, cache=False)
    assert accepts(c, b'"a"') and not accepts(c, ('"' + "x" * 3000 + '"').encode())
    # the constraints only check the enum values: no automaton (or chunks) for the string
    email = {"type": "string", "format": "email", "maxLength": 5000, "enum": ["a@b.co", "x"]}
    c = gm.compile_json_schema(email, BYTES, cache=False)
    assert accepts(c, b'"a@b.co"') and not accepts(c, b'"x"')


def test_unsplittable_companions_raise_the_size_error() -> None:
    schema = {"anyOf": [{"type": "string", "maxLength": 5000},
                        {"type": "string", "format": "email"}]}
    strict = JsonSchemaOptions(max_length_at_run_time=False)
    with pytest.raises(LimitExceededError) as err:
        schema_to_grammar(schema, strict, Limits())
    assert "cannot be lexed in chunks" in str(err.value) and "maxLength=5000" in str(err.value)
    # by default the long string keeps one automaton and its maxLength is counted at run time
    assert any(name.startswith("MAXLEN_5000_") for name in schema_to_grammar(schema).terminals)
    # without anything to meet it, the same long string compiles
    schema_to_grammar({"type": "object", "properties": {
        "a": {"type": "string", "maxLength": 5000}, "b": {"type": "string", "format": "email"}}})
    with pytest.raises(LimitExceededError):
        schema_to_grammar({"type": "string", "maxLength": 5000}, JsonSchemaOptions(
            chunk_strings_above=10**9, max_length_at_run_time=False), Limits())


def test_chunking_beyond_the_rule_limit_names_both_limits() -> None:
    with pytest.raises(LimitExceededError) as err:
        schema_to_grammar({"type": "string", "maxLength": 100_000},
                          JsonSchemaOptions(max_length_at_run_time=False),
                          Limits(max_grammar_rules=500))
    assert "max_grammar_rules" in str(err.value) and "maxLength=100000" in str(err.value)
    # by default the bound is counted at run time instead
    grammar = schema_to_grammar({"type": "string", "maxLength": 100_000},
                                limits=Limits(max_grammar_rules=500))
    assert any(name.startswith("MAXLEN_100000_") for name in grammar.terminals)
