"""maxLength checked at run time (`grammask.max_length`).

A string whose exact automaton passes `Limits.max_dfa_states` is built without its maxLength
and the bound is counted at run time. Forcing that with a small `max_dfa_states`, the engine's
masks must equal those of the exact automaton (the same schema under default limits) at every
step of random walks over a small vocabulary with escapes, surrogate pairs, multi-byte
characters and tokens spanning several strings."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

import grammask as gm
from grammask.compiled_grammar import DEAD
from grammask.errors import LimitExceededError
from grammask.limits import Limits
from grammask.max_length import MaxLengthCFG
from grammask.tokenizer_info import TokenizerInfo
from grammask.unique_items import UniqueItemsCFG
from grammask.validate import validate_text

TOKENS = [b'"', b'""', b'","', b'["', b'"]', b'[', b']', b',', b'{"a":"', b'","b":"', b'"}',
          b'{"b":"', b"a", b"b", b"ab", b"abc", b"abcd", b"x.y", b"@", b"@b.c", b".", b"c",
          b"a@b.c", b"aaaa@bb", b" ", b"a b", b" b", b"\\", b"u", b"\\u0061", b"\\u00", b"61",
          b"\\ud83d", b"\\ude00", b"\\ud83d\\ude00", b"\\n", b"n", b"\xc3\xa9", b"\xc3",
          b"\xa9", b"\xf0\x9f\x98\x80", b"0", b"00", b'a"', b'b"', b'c"', b'"a', b'\\"', b"-", b"1", b"12"]
SMALL = Limits(max_dfa_states=2000)

EMAIL = {"type": "string", "format": "email", "maxLength": 24}
WORDS = {"type": "string", "pattern": "^(?:\\S+\\s+){0,2}\\S+$", "minLength": 2, "maxLength": 20}
SCHEMAS = {
    "email": EMAIL,
    "words": WORDS,
    "object": {"type": "object", "properties": {"a": EMAIL, "b": WORDS}, "required": ["a"],
               "additionalProperties": False},
    "array": {"type": "array", "items": WORDS, "maxItems": 3},
    "unique": {"type": "array", "items": WORDS, "maxItems": 3, "uniqueItems": True},
    "anyof_short": {"anyOf": [EMAIL, {"type": "string", "maxLength": 2}]},
}


def vocab() -> TokenizerInfo:
    return TokenizerInfo(TOKENS + [None], eos_token_ids=[len(TOKENS)])


def _mask(m: gm.Matcher, size: int) -> np.ndarray:
    bm = gm.allocate_token_bitmask(1, size)
    m.fill_next_token_bitmask(bm, 0)
    return bm


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_masks_equal_the_exact_automaton_on_random_walks(name: str) -> None:
    info = vocab()
    schema = SCHEMAS[name]
    exact = gm.compile_json_schema(schema, info, cache=False)
    counted = gm.compile_json_schema(schema, info, cache=False, limits=SMALL)
    assert isinstance(counted, MaxLengthCFG) and not isinstance(exact, MaxLengthCFG)
    rng = random.Random(3)
    size = len(TOKENS) + 1
    steps = 0
    for _ in range(60):
        me, mc = gm.Matcher(exact), gm.Matcher(counted)
        text = b""
        for _ in range(40):
            a, b = _mask(me, size), _mask(mc, size)
            assert np.array_equal(a, b), (name, text)
            allowed = [t for t in range(size) if (a[0, t >> 5] >> (t & 31)) & 1]
            if not allowed:         # the small vocabulary cannot finish (e.g. after "\\u1")
                break
            for other in rng.sample(range(len(TOKENS)), 4):   # accept_token agrees with the mask
                assert mc.fork().accept_token(other) == (other in allowed), (name, text, other)
            t = rng.choice(allowed)
            steps += 1
            if t == len(TOKENS):
                break
            assert me.accept_token(t) and mc.accept_token(t)
            text += TOKENS[t]
    assert steps > 200


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_advance_agrees_with_the_exact_automaton(name: str) -> None:
    """Byte by byte over every text of up to 4 tokens from the string's alphabet."""
    info = vocab()
    exact = gm.compile_json_schema(SCHEMAS[name], info, cache=False)
    counted = gm.compile_json_schema(SCHEMAS[name], info, cache=False, limits=SMALL)
    rng = random.Random(11)
    for _ in range(3000):
        text = b"".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 9)))
        se, sc = exact.initial_state(), counted.initial_state()
        for i in range(len(text)):
            se, sc = exact.advance(se, text[i:i + 1]), counted.advance(sc, text[i:i + 1])
            assert (se == DEAD) == (sc == DEAD), (name, text[:i + 1])
            if se == DEAD:
                break
        else:
            assert bool(exact.is_accepting(se)) == bool(counted.is_accepting(sc)), text


def test_long_email_on_a_real_tokenizer(load_tokenizer_info) -> None:
    info = load_tokenizer_info("llama3")
    schema = {"type": "object", "properties": {"email": {"type": "string", "format": "email",
                                                         "maxLength": 1024}}}
    engine = gm.compile_json_schema(schema, info, cache=False)
    assert isinstance(engine, MaxLengthCFG)
    local = "a" * 1019
    assert validate_text(engine, '{"email":"someone@example.com"}').ok
    assert validate_text(engine, '{"email":"' + local + '@b.co"}').ok          # 1,024
    assert not validate_text(engine, '{"email":"' + local + 'a@b.co"}').ok        # 1,025
    # a masked walk: near the bound only completions that fit are allowed
    m = gm.Matcher(engine)
    text = '{"email":"' + "a" * 1019 + "@b"
    for t in info.encode(text) if hasattr(info, "encode") else []:
        assert m.accept_token(t)


def test_refused_when_the_option_is_off_or_the_string_is_a_name(load_tokenizer_info) -> None:
    info = vocab()
    with pytest.raises(LimitExceededError, match="max_dfa_states"):
        gm.compile_json_schema(EMAIL, info, cache=False, limits=SMALL,
                               max_length_at_run_time=False)
    names = {"type": "object", "propertyNames": {"format": "email", "maxLength": 24}}
    with pytest.raises(LimitExceededError, match="max_dfa_states"):
        gm.compile_json_schema(names, info, cache=False, limits=SMALL)


def test_wraps_unique_items() -> None:
    engine = gm.compile_json_schema(SCHEMAS["unique"], vocab(), cache=False, limits=SMALL)
    assert isinstance(engine, MaxLengthCFG) and isinstance(engine.inner, UniqueItemsCFG)
    assert validate_text(engine, '["ab","a b"]').ok
    assert not validate_text(engine, '["ab","ab"]').ok
    assert not validate_text(engine, '["ab","a bcdefghijklmnopqrst"]').ok  # 21 code points


def test_code_points_as_json_schema_counts_them() -> None:
    """An escape is one code point, a surrogate pair one, a multi-byte character one."""
    schema = {"type": "string", "pattern": "^[^ ]+$", "maxLength": 3}
    engine = gm.compile_json_schema(schema, vocab(), cache=False, limits=Limits(max_dfa_states=60))
    assert isinstance(engine, MaxLengthCFG)
    for text, ok in [('"abc"', True), ('"abcd"', False), ('"\\u0061bc"', True),
                     ('"\\ud83d\\ude00ab"', True), ('"\\ud83d\\ude00abc"', False),
                     ('"\u00e9\u00e9\u00e9"', True), ('"\U0001F600\u00e9a"', True),
                     ('"\U0001F600\u00e9ab"', False), ('"\\n\\nn"', True), ('"\\n\\nnn"', False)]:
        assert validate_text(engine, text).ok == ok, text
    assert json.loads('"\\ud83d\\ude00ab"') == "\U0001F600ab"
