"""Bad input at the API: every misuse is a clear `GrammaskError` subclass (and, where the
value merely has the wrong type, `TypeError` -- never a silent mis-write or a crash).
Complements tests/test_matcher.py::test_bad_input."""
from __future__ import annotations

import numpy as np
import pytest

import grammask as gm
from grammask import (BitmaskError, GrammaskError, InvalidTokenError, Matcher, MatcherError,
                      TokenizerError)

V = 40
WORDS = [b"a", b"b", b"ab", b"\xc3", b"\xa9", "é".encode()]
EOS = len(WORDS)


@pytest.fixture(scope="module")
def tok() -> gm.TokenizerInfo:
    return gm.TokenizerInfo(WORDS + [None], eos_token_ids=[EOS], vocab_size=V)


@pytest.fixture(scope="module")
def cg(tok):
    return gm.compile_regex(r"(ab|é)+", tok)


@pytest.fixture(scope="module")
def cfg(tok):
    return gm.compile_grammar('start: ("ab" | "é")+\n', tok, cache=False)


@pytest.fixture(params=["regex", "cfg"])
def compiled(request, cg, cfg):
    return cg if request.param == "regex" else cfg


def test_token_ids_out_of_range_or_of_the_wrong_type(compiled) -> None:
    m = Matcher(compiled)
    for bad in (-1, V, V + 1, 10**30, np.int64(-1), np.int32(V), np.uint64(2**63)):
        with pytest.raises(InvalidTokenError, match="out of range"):
            m.accept_token(bad)
        with pytest.raises(InvalidTokenError):
            m.validate_tokens([0, bad])
    for bad in (True, False, np.bool_(True), 1.0, np.float32(0), "0", None, b"a"):
        with pytest.raises(InvalidTokenError, match="must be an int"):
            m.accept_token(bad)
    assert isinstance(InvalidTokenError("x"), (GrammaskError, IndexError, ValueError))
    assert m.num_accepted == 0                               # nothing moved
    for ok in (np.int64(2), np.int32(2), np.uint16(2)):       # numpy ints are fine
        f = m.fork()
        assert f.accept_token(ok)


def test_bitmask_dtype_shape_layout_and_device(compiled) -> None:
    m = Matcher(compiled)
    words = (V + 31) // 32
    bad = {
        "dtype": [np.zeros((1, words), np.int64), np.zeros((1, words), np.float32),
                  np.zeros((1, words), np.int16)],
        "shape": [np.zeros((1, words + 1), np.int32), np.zeros((1, 1, words), np.int32),
                  np.zeros((1, words - 1), np.int32)],
        "contiguous": [np.zeros((1, 2 * words), np.int32)[:, ::2],
                       np.frombuffer(bytes(4 * words), np.int32).reshape(1, words)],
        "numpy array or torch": [[[0] * words], None, "mask"],
    }
    for what, arrays in bad.items():
        for a in arrays:
            with pytest.raises(BitmaskError, match=what):
                m.fill_next_token_bitmask(a)
    with pytest.raises(MatcherError, match="row"):
        m.fill_next_token_bitmask(np.zeros((2, words), np.int32), index=-1)
    with pytest.raises(MatcherError, match="row"):
        m.fill_next_token_bitmask(np.zeros((2, words), np.int32), index=2)


def test_torch_bitmask_checks() -> None:
    torch = pytest.importorskip("torch")
    tok = gm.TokenizerInfo(WORDS + [None], eos_token_ids=[EOS], vocab_size=V)
    m = Matcher(gm.compile_regex("ab", tok))
    with pytest.raises(BitmaskError, match="dtype"):
        m.fill_next_token_bitmask(torch.zeros((1, 2), dtype=torch.int64))
    with pytest.raises(BitmaskError, match="CPU"):
        m.fill_next_token_bitmask(torch.zeros((1, 2), dtype=torch.int32, device="meta"))
    with pytest.raises(BitmaskError, match="contiguous"):
        m.fill_next_token_bitmask(torch.zeros((1, 4), dtype=torch.int32)[:, ::2])
    with pytest.raises(BitmaskError, match="float"):
        gm.apply_token_bitmask_inplace(torch.zeros((1, V), dtype=torch.int32),
                                       torch.zeros((1, 2), dtype=torch.int32))


def test_vocabulary_size_mismatches() -> None:
    """A bitmask sized for another vocabulary is refused when filled; logits of another width
    than the tokenizer are handled as documented (wider: the extra, padding columns masked;
    narrower: bits past the logits ignored); batch/rows mismatches are errors."""
    tok = gm.TokenizerInfo(WORDS + [None], eos_token_ids=[EOS], vocab_size=V)
    big = gm.TokenizerInfo(WORDS + [None], eos_token_ids=[EOS], vocab_size=100)
    m = Matcher(gm.compile_regex("(ab)+", tok))
    with pytest.raises(BitmaskError, match=f"vocab_size {V}"):
        m.fill_next_token_bitmask(gm.allocate_token_bitmask(1, 100))
    other = Matcher(gm.compile_regex("(ab)+", big))
    with pytest.raises(MatcherError, match="vocabulary size"):
        gm.fill_next_token_bitmask_batch([m, other], gm.allocate_token_bitmask(2, V))
    bm = gm.allocate_token_bitmask(1, V)
    m.fill_next_token_bitmask(bm)
    wide = np.zeros((1, 70), np.float32)                     # model vocab > tokenizer vocab
    gm.apply_token_bitmask_inplace(wide, bm)
    assert np.isneginf(wide[0, 64:]).all() and np.isfinite(wide[0, [0, 2]]).all()
    narrow = np.zeros((1, 20), np.float32)
    gm.apply_token_bitmask_inplace(narrow, bm)
    assert np.isfinite(narrow[0, [0, 2]]).all() and np.isneginf(narrow[0, 1])
    with pytest.raises(BitmaskError, match="rows"):
        gm.apply_token_bitmask_inplace(np.zeros((2, V), np.float32), bm)
    with pytest.raises(BitmaskError, match="out of range"):
        gm.apply_token_bitmask_inplace(np.zeros((2, V), np.float32),
                                       gm.allocate_token_bitmask(2, V), indices=[0, 5])
    for logits in (np.zeros((1, V), np.int32), np.zeros((1, V), np.float16), [[0.0] * V]):
        with pytest.raises(BitmaskError):
            gm.apply_token_bitmask_inplace(logits, bm)
    with pytest.raises(BitmaskError):
        gm.apply_token_bitmask_inplace(np.zeros((1, V), np.float32), bm.astype(np.int64))
    for b, v in ((0, V), (1, 0), (-3, V)):
        with pytest.raises(BitmaskError, match="positive"):
            gm.allocate_token_bitmask(b, v)


def test_tokenizer_parameters_are_checked() -> None:
    with pytest.raises(TokenizerError):
        gm.TokenizerInfo(WORDS, eos_token_ids=[99])            # EOS outside the vocabulary
    with pytest.raises(TokenizerError):
        gm.TokenizerInfo(WORDS, eos_token_ids=[0], vocab_size=2)   # fewer ids than tokens


def test_accept_string_with_invalid_text(compiled) -> None:
    m = Matcher(compiled)
    with pytest.raises(MatcherError, match="not valid Unicode"):
        m.accept_string("ab\udcff")                           # a lone surrogate
    for bad in (None, 3, ["ab"], memoryview(b"ab")):
        with pytest.raises(MatcherError, match="str or bytes"):
            m.accept_string(bad)
    # bytes that are not UTF-8 are never in a grammar's language: refused, state unchanged
    assert not m.accept_string(b"ab\xff") and not m.accept_string(b"\xed\xb3\xbf")
    assert m.num_accepted == 0
    # ...while a character split across calls is fine (tokens split characters too)
    assert m.accept_string(b"\xc3") and m.accept_string(b"\xa9") and m.can_terminate()


def test_calls_after_termination(compiled) -> None:
    m = Matcher(compiled)
    assert m.accept_string("ab") and m.accept_token(EOS) and m.is_terminated()
    with pytest.raises(MatcherError, match="terminated"):
        m.accept_token(0)
    with pytest.raises(MatcherError, match="terminated"):
        m.accept_token(EOS)
    with pytest.raises(MatcherError, match="terminated"):
        m.accept_string("ab")
    assert m.validate_tokens([0, 1]) == 0                    # nothing more is valid
    assert m.find_forced_bytes() == b"" and m.forced_tokens() == []
    assert set(m.allowed_token_ids().tolist()) == {EOS}      # finished rows allow only EOS
    f = m.fork()
    f.rollback(1)                                            # undoing the stop token revives
    assert not f.is_terminated() and f.accept_string("ab")
    m.reset()
    assert m.accept_token(2)


def test_rollback_beyond_history_and_bad_counts(compiled) -> None:
    m = Matcher(compiled, max_rollback_tokens=2)
    for _ in range(4):
        assert m.accept_token(2)
    for n in (3, 100, -1):
        with pytest.raises(MatcherError, match="roll back"):
            m.rollback(n)
    m.rollback(2)
    with pytest.raises(MatcherError, match="roll back"):
        m.rollback(1)
    with pytest.raises(MatcherError, match="max_rollback_tokens"):
        Matcher(compiled, max_rollback_tokens=-1)
    with pytest.raises(MatcherError, match="CompiledGrammar"):
        Matcher("(ab)+")


def test_compile_entry_points_reject_bad_arguments(tok) -> None:
    with pytest.raises(GrammaskError):
        gm.compile_regex(b"ab", tok)                          # bytes pattern
    with pytest.raises(GrammaskError):
        gm.compile_regex(None, tok)
    with pytest.raises(GrammaskError):
        gm.compile_grammar(12, tok, cache=False)
    with pytest.raises(GrammaskError):
        gm.compile_grammar('start: "a"\n', tok, syntax="yacc", cache=False)
    with pytest.raises(GrammaskError):
        gm.compile_grammar('start: "a"\n', tok, parser="glr", cache=False)
    with pytest.raises(GrammaskError):
        gm.compile_json_schema({"type": "string"}, tok, cache=False, no_such_option=1)
    with pytest.raises(GrammaskError):
        gm.compile_json_schema(42, tok, cache=False)
    with pytest.raises(GrammaskError):
        gm.compile_json_schema("{not json", tok, cache=False)
