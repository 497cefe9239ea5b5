"""Matcher API behaviour: accept/reject, rollback, fork, termination, jump-forward, batch."""
from __future__ import annotations

import numpy as np
import pytest

import grammask
from grammask import (BitmaskError, InvalidTokenError, Matcher, MatcherError, TokenizerInfo,
                      compile_regex, fill_next_token_bitmask_batch)

WORDS = [b"a", b"b", b"c", b"ab", b"abc", b"-", b"0", b"1", b"12", b"2024", b"-0", b"\xc3",
         b"\xa9", b"\xc3\xa9", b"x", b"{", b'"', b'{"', b'":', b" "]
EOS = len(WORDS)
SPECIAL = EOS + 1


@pytest.fixture(scope="module")
def tok() -> TokenizerInfo:
    toks: list[bytes | None] = list(WORDS) + [None, None]
    return TokenizerInfo(toks, eos_token_ids=[EOS], special_token_ids=[SPECIAL], vocab_size=40)


def ids(tok: TokenizerInfo, *pieces: bytes) -> list[int]:
    return [tok.token_bytes.index(p) for p in pieces]


def allowed(m: Matcher) -> set[int]:
    return set(int(i) for i in m.allowed_token_ids())


def test_accept_reject_and_eos(tok: TokenizerInfo) -> None:
    m = Matcher(compile_regex(r"(ab)+c", tok))
    assert allowed(m) == set(ids(tok, b"a", b"ab", b"abc"))
    assert not m.accept_token(ids(tok, b"c")[0])   # rejected: state unchanged
    assert m.accept_token(ids(tok, b"ab")[0])
    assert EOS not in allowed(m)
    assert m.accept_token(ids(tok, b"c")[0])
    assert allowed(m) == {EOS}
    assert m.can_terminate() and not m.is_terminated()
    assert m.accept_token(EOS)
    assert m.is_terminated()
    assert allowed(m) == {EOS}  # a finished row keeps allowing only stop tokens
    with pytest.raises(MatcherError, match="terminated"):
        m.accept_token(0)


def test_special_and_padding_never_allowed(tok: TokenizerInfo) -> None:
    m = Matcher(compile_regex(r"[\s\S]*", tok))
    a = allowed(m)
    assert SPECIAL not in a and not any(i in a for i in range(SPECIAL + 1, 40))
    assert not m.accept_token(SPECIAL) and not m.accept_token(39)


def test_multibyte_split_tokens(tok: TokenizerInfo) -> None:
    m = Matcher(compile_regex(r"é+", tok))
    assert allowed(m) == set(ids(tok, b"\xc3", b"\xc3\xa9"))
    assert m.accept_token(ids(tok, b"\xc3")[0])
    assert allowed(m) == set(ids(tok, b"\xa9"))
    assert m.accept_token(ids(tok, b"\xa9")[0])
    assert EOS in allowed(m)


def test_rollback_fork_reset_validate(tok: TokenizerInfo) -> None:
    cg = compile_regex(r"\d{4}-\d\d", tok)
    m = Matcher(cg)
    seq = ids(tok, b"2024", b"-0", b"1")
    assert m.validate_tokens(seq + [EOS, 0]) == 4
    assert m.num_accepted == 0  # validate does not move the matcher
    for t in seq:
        assert m.accept_token(t)
    f = m.fork()
    m.rollback(2)
    assert allowed(m) == set(ids(tok, b"-", b"-0"))
    assert f.can_terminate() and not m.can_terminate()
    with pytest.raises(MatcherError):
        m.rollback(5)
    m.reset()
    assert m.num_accepted == 0 and m.accept_token(ids(tok, b"12")[0])


def test_max_rollback_tokens(tok: TokenizerInfo) -> None:
    m = Matcher(compile_regex(r"a*", tok), max_rollback_tokens=2)
    for _ in range(5):
        assert m.accept_token(0)
    assert m.num_accepted == 2
    m.rollback(2)
    with pytest.raises(MatcherError):
        m.rollback(1)


def test_accept_string_and_jump_forward(tok: TokenizerInfo) -> None:
    m = Matcher(compile_regex(r'\{"name": "[a-z]+"\}', tok))
    assert m.find_jump_forward_string() == '{"name": "'
    forced = m.forced_tokens()
    assert b"".join(tok.token_bytes[t] for t in forced) == b'{"'
    assert m.accept_string('{"name": ')
    assert m.find_jump_forward_string() == '"'
    assert not m.accept_string("x")
    assert m.accept_string(b'"abc"}')
    assert m.can_terminate() and m.find_jump_forward_string() == ""


def test_bad_input(tok: TokenizerInfo) -> None:
    m = Matcher(compile_regex(r"a+", tok))
    for bad in (-1, 40, 10**9):
        with pytest.raises(InvalidTokenError, match="out of range"):
            m.accept_token(bad)
    with pytest.raises(InvalidTokenError):
        m.accept_token("a")  # type: ignore[arg-type]
    with pytest.raises(InvalidTokenError):
        m.validate_tokens([0, 99])
    with pytest.raises(BitmaskError, match="shape"):
        m.fill_next_token_bitmask(np.zeros((1, 3), np.int32))
    with pytest.raises(BitmaskError, match="dtype"):
        m.fill_next_token_bitmask(np.zeros((1, 2), np.int64))
    with pytest.raises(MatcherError, match="row"):
        m.fill_next_token_bitmask(np.zeros((2, 2), np.int32), index=2)
    with pytest.raises(MatcherError):
        m.accept_string(3)  # type: ignore[arg-type]
    with pytest.raises(MatcherError):
        Matcher("a+")  # type: ignore[arg-type]


def test_batch_fill_equals_single(tok: TokenizerInfo) -> None:
    cgs = [compile_regex(p, tok) for p in (r"a+", r"\d+", r"(ab|c)*", r"é")]
    matchers = [Matcher(cg) for cg in cgs]
    matchers[0].accept_token(0)
    batch = grammask.allocate_token_bitmask(6, tok.vocab_size)
    fill_next_token_bitmask_batch(matchers, batch, indices=[5, 0, 2, 3])
    for row, m in zip([5, 0, 2, 3], matchers):
        single = grammask.allocate_token_bitmask(1, tok.vocab_size)
        m.fill_next_token_bitmask(single)
        assert np.array_equal(batch[row], single[0])
    assert (batch[1] == -1).all() and (batch[4] == -1).all()  # untouched rows
    with pytest.raises(MatcherError, match="out of range"):
        fill_next_token_bitmask_batch(matchers, batch, indices=[0, 1, 2, 6])
    with pytest.raises(MatcherError, match="one entry per matcher"):
        fill_next_token_bitmask_batch(matchers, batch, indices=[0, 1])


def test_fill_into_torch_tensor(tok: TokenizerInfo) -> None:
    torch = pytest.importorskip("torch")
    m = Matcher(compile_regex(r"ab", tok))
    bm = torch.full((2, 2), -1, dtype=torch.int32)
    assert m.fill_next_token_bitmask(bm, 1)
    expect = grammask.allocate_token_bitmask(1, tok.vocab_size)
    m.fill_next_token_bitmask(expect)
    assert bm[1].numpy().tolist() == expect[0].tolist()


def test_thread_shared_compiled_grammar(tok: TokenizerInfo) -> None:
    import threading
    cg = compile_regex(r"[a-c0-2]{0,30}", tok, precompute=False)
    walks = [[0, 1, 2, 3, 4] * 3, [6, 7, 8] * 4, [3, 8, 4] * 5]
    expected = []
    for w in walks:
        m = Matcher(cg)
        seq = []
        for t in w:
            seq.append(m.allowed_token_ids().tolist())
            m.accept_token(t)
        expected.append(seq)
    cg2 = compile_regex(r"[a-c0-2]{0,30}", tok, precompute=False)
    errors: list[str] = []

    def run(k: int) -> None:
        for _ in range(20):
            m = Matcher(cg2)
            for step, t in enumerate(walks[k % 3]):
                if m.allowed_token_ids().tolist() != expected[k % 3][step]:
                    errors.append(f"thread {k} step {step}")
                m.accept_token(t)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
