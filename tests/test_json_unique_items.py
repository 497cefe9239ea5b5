"""uniqueItems checked at run time (`grammask.unique_items`).

The reference: the same schema without uniqueItems compiles to a grammar whose (finite, for
these schemas) language is enumerated byte by byte; the valid texts are those whose items are
pairwise different as JSON values. A prefix's reference mask is every token that keeps it a
prefix of a valid text (EOS when it is one). Random walks compare it with the matcher's mask,
and accept_token with the mask, at every step."""
from __future__ import annotations

import json
import random

import jsonschema
import numpy as np
import pytest

import grammask as gm
from grammask.compiled_grammar import DEAD
from grammask.errors import SchemaError
from grammask.tokenizer_info import TokenizerInfo
from grammask.unique_items import UniqueItemsCFG, decoded

TOKENIZER = "llama3"
TOKENS = [b"[", b"]", b",", b'"', b'""', b"a", b"b", b"ab", b'"a', b'a"', b'",', b'","',
          b'"]', b'"a","a"', b'"",""', b'["a', b'["a","a"]', b"\\", b"u", b"00", b"6", b"1",
          b"\\u0061", b"\\u00", b"61", b"ba", b'b"', b'["', b' ', b'", "', b"\\/", b"/",
          b"1", b"2", b"12", b"0", b"1,", b"1,1", b"[1", b"true", b"null", b"tr", b"ue", b"1.5",
          b".5", b"1.0", b"e", b"1]", b",1"]


@pytest.fixture(scope="module")
def llama3_info(load_tokenizer_info):
    return load_tokenizer_info(TOKENIZER)


# tabs and newlines add nothing a space does not (raw in strings they are invalid JSON), and
# would multiply the flexible-whitespace languages
ALPHABET = [b for b in range(256) if b not in b"\t\n\r"]


def vocab() -> TokenizerInfo:
    return TokenizerInfo(TOKENS + [None], eos_token_ids=[len(TOKENS)])


def language(schema: dict, info: TokenizerInfo, **options: object) -> set[bytes]:
    """Every text of `schema` without uniqueItems (a finite language), byte by byte."""
    plain = json.loads(json.dumps(schema).replace('"uniqueItems": true', '"uniqueItems": false'))
    engine = gm.compile_json_schema(plain, info, cache=False, **options)
    out, todo = set(), [(engine.initial_state(), b"")]
    while todo:
        state, text = todo.pop()
        assert len(text) < 64, "the reference language must be finite"
        if engine.is_accepting(state):
            out.add(text)
        for b in ALPHABET:
            nxt = engine.advance(state, bytes((b,)))
            if nxt != DEAD:
                todo.append((nxt, text + bytes((b,))))
    return out


def unique(text: bytes) -> bool:
    items = json.loads(text)
    return len({json.dumps(x, sort_keys=True) for x in items}) == len(items)


def reference_mask(valid: set[bytes], prefixes: set[bytes], text: bytes) -> set[int]:
    allowed = {i for i, tok in enumerate(TOKENS) if text + tok in prefixes}
    if text in valid:
        allowed.add(len(TOKENS))
    return allowed


SCHEMAS = {
    "enum": {"type": "array", "items": {"enum": ["a", "b", "ab"]}, "uniqueItems": True,
             "maxItems": 3},
    "enum_min": {"type": "array", "items": {"enum": ["a", "b"]}, "uniqueItems": True,
                 "minItems": 2, "maxItems": 2},
    "pattern": {"type": "array", "items": {"type": "string", "pattern": "^[ab/]*$",
                                           "maxLength": 2}, "uniqueItems": True, "maxItems": 2},
    "integers": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 12},
                 "uniqueItems": True, "maxItems": 3, "minItems": 1},
    "small_integers": {"type": "array", "items": {"type": "integer", "minimum": 1,
                                                  "maximum": 12},
                       "uniqueItems": True, "maxItems": 2},
    "scalars": {"type": "array", "items": {"enum": ["a", True, None, "b"]},
                "uniqueItems": True, "maxItems": 3},
    "pattern_min": {"type": "array", "items": {"type": "string", "pattern": "^[ab]*$",
                                               "maxLength": 2},
                    "uniqueItems": True, "minItems": 3, "maxItems": 3},
    "two_arrays": {"anyOf": [
        {"type": "array", "items": {"enum": ["a", "b"]}, "uniqueItems": True, "minItems": 2,
         "maxItems": 3},
        {"type": "array", "items": {"type": "string", "pattern": "^b*$", "maxLength": 2},
         "uniqueItems": True, "maxItems": 3}]},
    "nested": {"type": "object", "properties": {"x": {
        "type": "array", "items": {"enum": ["a", "", "b"]}, "uniqueItems": True,
        "maxItems": 3}}, "required": ["x"],
               "additionalProperties": False},
}


SPACED = {"whitespace": "flexible", "max_whitespace": 1}


@pytest.mark.parametrize("name, options", [(n, {}) for n in sorted(SCHEMAS)] +
                         [("enum_min", SPACED), ("small_integers", SPACED)])
def test_masks_equal_the_reference_on_random_walks(name: str, options: dict) -> None:
    info = vocab()
    schema = SCHEMAS[name]
    compiled = gm.compile_json_schema(schema, info, cache=False, **options)
    assert isinstance(compiled, UniqueItemsCFG)
    valid = {t for t in language(schema, info, **options) if
             unique(t if name != "nested" else json.dumps(json.loads(t)["x"]).encode())}
    assert valid, "the schema must allow some text"
    prefixes = {t[:n] for t in valid for n in range(len(t) + 1)}
    rng = random.Random(7)
    for _ in range(150):
        m, text = gm.Matcher(compiled), b""
        for _ in range(30):
            got = set(m.allowed_token_ids().tolist())
            assert got == reference_mask(valid, prefixes, text), (name, text)
            if not got:
                break
            tid = rng.choice(sorted(got))
            if tid == len(TOKENS):
                assert m.accept_token(tid)
                break
            for other in set(range(len(TOKENS))) - got:
                assert m.fork().accept_token(other) is False, (text, TOKENS[other])
            assert m.accept_token(tid)
            text += TOKENS[tid]


def test_duplicates_are_refused_on_a_real_tokenizer(llama3_info) -> None:
    schema = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    compiled = gm.compile_json_schema(schema, llama3_info, cache=False)
    for text, ok in [('["a","b"]', True), ('["a","a"]', False), ('["ab","a"]', True),
                     ('["\\u0061","a"]', False), ('["x","y","x"]', False), ("[]", True),
                     ('["a\\/","a/"]', False)]:
        m = gm.Matcher(compiled)
        assert m.accept_string(text) and m.can_terminate() if ok else \
            not (m.accept_string(text) and m.can_terminate()), text


def test_numbers_and_literals_compare_by_value(llama3_info) -> None:
    schema = {"type": "array", "items": {"type": ["number", "boolean", "null"]},
              "uniqueItems": True}
    compiled = gm.compile_json_schema(schema, llama3_info, cache=False)
    for text, ok in [("[1,10]", True), ("[1,1.0]", False), ("[1.5,15e-1]", False),
                     ("[0,-0]", False), ("[true,1]", True), ("[null,false,null]", False),
                     ("[12,12]", False), ("[2,20,200]", True),
                     # exponents past Decimal's range (a fuzz finding: they raised)
                     ("[0e9999999999999999999,0]", False), ("[1e99999999999999999999,1]", True),
                     ("[1e99999999999999999999,10e99999999999999999998]", False)]:
        m = gm.Matcher(compiled)
        assert (m.accept_string(text) and m.can_terminate()) is ok, text
        bitmask = gm.allocate_token_bitmask(1, llama3_info.vocab_size)
        m.fill_next_token_bitmask(bitmask, 0)       # the mask is computed, no exception


def test_whitespace_ending_a_repeated_number_is_masked(llama3_info) -> None:
    schema = {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}
    compiled = gm.compile_json_schema(schema, llama3_info, cache=False, whitespace="flexible")
    m = gm.Matcher(compiled)
    assert m.accept_string("[1, 1")
    allowed = set(m.allowed_token_ids().tolist())
    for tid in range(llama3_info.vocab_size):
        data = llama3_info.token_bytes[tid]
        if data and data[:1] in (b" ", b"\n", b",", b"]"):
            assert (tid in allowed) is m.fork().accept_token(tid), data
    assert not m.fork().accept_string(" ") and m.fork().accept_string("0 ")


def test_a_separator_with_a_space(llama3_info) -> None:
    """item_separator=", ": tokens that begin the next item with the space are checked."""
    schema = {"type": "array", "items": {"type": ["boolean", "string"]}, "uniqueItems": True}
    compiled = gm.compile_json_schema(schema, llama3_info, cache=False, item_separator=", ")
    m = gm.Matcher(compiled)
    assert m.accept_string('["", true,')                # ' ""' and ' true' are tokens
    allowed = set(m.allowed_token_ids().tolist())
    for tid in range(llama3_info.vocab_size):
        data = llama3_info.token_bytes[tid]
        if data and data[:1] == b" ":
            assert (tid in allowed) is m.fork().accept_token(tid), data
    assert llama3_info.token_bytes.index(b" true") not in allowed
    assert not m.fork().accept_string(' ""') and m.fork().accept_string(' false]')


def test_a_reading_with_unique_items_keeps_the_check(llama3_info) -> None:
    """Beside a reading without uniqueItems (anyOf), repeats stay refused: the rest of the
    text could keep only the uniqueItems reading ({"b": 1} below), so allowing them would be
    unsound. Text valid only through the other reading with a repeat is refused (documented)."""
    arrays = [{"type": "array", "items": {"type": "string"}, "uniqueItems": True},
              {"type": "array", "items": {"enum": ["a", "b"]}}]
    schema = {"anyOf": [{"type": "object", "properties": {"x": arrays[0], "b": {
        "type": "integer"}}, "required": ["x", "b"], "additionalProperties": False},
                        {"type": "object", "properties": {"x": arrays[1], "b": {
                            "type": "string"}}, "required": ["x", "b"],
                         "additionalProperties": False}]}
    compiled = gm.compile_json_schema(schema, llama3_info, cache=False)
    for text, ok in [('{"x":["a","a"],"b":1}', False), ('{"x":["a","b"],"b":1}', True),
                     ('{"x":["c","d"],"b":1}', True), ('{"x":["a","b"],"b":"s"}', True),
                     ('{"x":["c","c"],"b":1}', False)]:
        m = gm.Matcher(compiled)
        assert (m.accept_string(text) and m.can_terminate()) is ok, text
    compiled = gm.compile_json_schema({"anyOf": arrays}, llama3_info, cache=False)
    for text, ok in [('["a","a"]', False), ('["c","c"]', False), ('["c","a","c"]', False),
                     ('["a","b"]', True), ('["c","d"]', True)]:
        m = gm.Matcher(compiled)
        assert (m.accept_string(text) and m.can_terminate()) is ok, text


def test_chunked_string_items_are_refused_with_the_schema_path(llama3_info) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "array", "uniqueItems": True,
                                                     "items": {"type": "string",
                                                               "maxLength": 5000}}}}
    with pytest.raises(SchemaError, match="#/properties/n/uniqueItems"):
        gm.compile_json_schema(schema, llama3_info, cache=False)


CTOKENS = [b"[", b"]", b",", b"{", b"}", b'{"a":', b'"a":', b'"a"', b":", b"1", b"2", b"1}",
           b"},{", b"}]", b"],[", b"[[", b"]]", b"[]", b"{}", b'"b"', b'["a"', b'"a",', b"a",
           b'"', b'{"a":1}', b'[{"a":1},{"a":1}]', b' ', b'"b"]', b'["b"]', b'{"a":2}',
           b'[["a"],["a"]]', b"\\u0061", b"1,", b"1]", b'{"x":',
           b'{"x":[{"a":1},']
CONTAINERS = {
    "objects": {"type": "array", "uniqueItems": True, "maxItems": 3, "items": {
        "type": "object", "properties": {"a": {"enum": [1, 2]}}, "required": ["a"],
        "additionalProperties": False}},
    "optional": {"type": "array", "uniqueItems": True, "maxItems": 3, "items": {
        "type": "object", "properties": {"a": {"enum": [1]}, "b": {"enum": [2]}},
        "additionalProperties": False}},
    "arrays": {"type": "array", "uniqueItems": True, "maxItems": 3, "items": {
        "type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2}},
    "nested_unique": {"type": "array", "uniqueItems": True, "maxItems": 2, "items": {
        "type": "array", "items": {"enum": ["a", "b"]}, "uniqueItems": True, "maxItems": 2}},
    "mixed": {"type": "array", "uniqueItems": True, "maxItems": 3, "items": {"anyOf": [
        {"enum": ["a", 1]}, {"type": "array", "items": {"enum": [1]}, "maxItems": 1}]}},
    "inside_object": {"type": "object", "required": ["x"], "additionalProperties": False,
                      "properties": {"x": {"type": "array", "uniqueItems": True, "maxItems": 2,
                                           "items": {"type": "object", "required": ["a"],
                                                     "properties": {"a": {"enum": [1, 2]}},
                                                     "additionalProperties": False}}}},
}


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_container_items_on_random_walks(name: str) -> None:
    """Object and array items: a repeat is refused where the item closes, and the check is
    sound and complete — every token the reference allows is allowed, EOS exactly when the
    text is valid. (Dead ends are not searched inside container items, so a token the
    reference refuses may be allowed when every completion of the item repeats.)"""
    info = TokenizerInfo(CTOKENS + [None], eos_token_ids=[len(CTOKENS)])
    schema = CONTAINERS[name]
    compiled = gm.compile_json_schema(schema, info, cache=False)
    assert isinstance(compiled, UniqueItemsCFG)

    distinct = jsonschema.Draft202012Validator(schema).is_valid

    plain = json.loads(json.dumps(schema).replace('"uniqueItems": true', '"uniqueItems": false'))
    grammar = gm.compile_json_schema(plain, info, cache=False)
    rng = random.Random(5)
    seen_refusal = False
    for _ in range(300):
        m, g, text = gm.Matcher(compiled), gm.Matcher(grammar), b""
        for _ in range(30):
            got = set(m.allowed_token_ids().tolist())
            full = set(g.allowed_token_ids().tolist())
            assert got <= full, (name, text)
            assert (len(CTOKENS) in got) == (len(CTOKENS) in full and
                                             distinct(json.loads(text))), (name, text)
            for t in got - {len(CTOKENS)}:                   # the mask agrees with accept_token
                assert m.fork().accept_token(t), (name, text, CTOKENS[t])
            for t in full - got:
                seen_refusal = True
                assert not distinct(json.loads(text + CTOKENS[t])) if _complete(
                    text + CTOKENS[t]) else True, (name, text, CTOKENS[t])
            if not got:
                break
            tid = rng.choice(sorted(got))
            if tid == len(CTOKENS):
                break
            assert m.accept_token(tid) and g.accept_token(tid)
            text += CTOKENS[tid]
    assert seen_refusal, "the walks should meet a repeat"


def _complete(text: bytes) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("raw, value", [(b"a", b"a"), (b"\\u0061", b"a"), (b"\\u00", None),
                                        (b"\\", None), (b"\\ud83d\\ude00", "😀".encode()),
                                        (b"\\ud83d", None), (b"\\n\\/", b"\n/")])
def test_decoded(raw: bytes, value: bytes | None) -> None:
    assert decoded(raw) == value


def test_a_dead_end_is_masked(llama3_info) -> None:
    """Both values used: after the second item only the bracket may follow."""
    schema = {"type": "array", "items": {"enum": ["red", "green"]}, "uniqueItems": True}
    compiled = gm.compile_json_schema(schema, llama3_info, cache=False)
    m = gm.Matcher(compiled)
    assert m.accept_string('["red","green"')
    ids = m.allowed_token_ids()
    assert [llama3_info.token_bytes[i] for i in ids] == [b"]"]
    m = gm.Matcher(compiled)
    assert m.accept_string('["red",')
    assert all(b"red" not in llama3_info.token_bytes[i] for i in m.allowed_token_ids())
    assert np.all(ids >= 0)


def test_validate_text_points_at_the_repeat(llama3_info) -> None:
    from grammask.validate import validate_text
    schema = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    compiled = gm.compile_json_schema(schema, llama3_info, cache=False)
    assert validate_text(compiled, b'["a","b"]').ok
    bad = validate_text(compiled, b'["a","b","a"]')
    assert not bad.ok and bad.offset == len(b'["a","b","a')       # its closing quote
    assert bad.reason.endswith("the item repeats an earlier one of a uniqueItems array")
    other = validate_text(compiled, b'["a","b",3]')                # the grammar's own refusal
    assert not other.ok and "uniqueItems" not in other.reason
    two = gm.compile_json_schema({"type": "array", "items": {"enum": ["a", "b"]},
                                  "uniqueItems": True}, llama3_info, cache=False)
    end = validate_text(two, b'["a","b","')                     # no third value is left
    assert end.offset == len(b'["a","b"') and end.reason.endswith(
        "every way on repeats an earlier item of a uniqueItems array")


def test_any_items(llama3_info) -> None:
    """`{"uniqueItems": true}` alone: items of every kind, compared as JSON values."""
    compiled = gm.compile_json_schema({"type": "array", "uniqueItems": True}, llama3_info,
                                      cache=False)
    for text, ok in [('[1,"1",[1],{"a":1},true,null]', True), ('[{"a":1},{"a":1}]', False),
                     ('[{"a":1,"b":[2]},{"b":[2.0],"a":1}]', False), ('[[1,[2]],[1,[2]]]', False),
                     ('[[1,[2]],[1,[3]]]', True), ('[{"a":[1,1]},{"a":[1]}]', True),
                     ('[true,1]', True), ('[[true],[1]]', True), ('[{"a":"\\u0062"},{"a":"b"}]', False),
                     ('[[0e9999999999999999999],[0]]', False), ('[[1e-99999999999999999999],[0]]', True)]:
        m = gm.Matcher(compiled)
        assert (m.accept_string(text) and m.can_terminate()) is ok, text
