"""Masks of regex grammars equal a brute-force reference at every step of random walks."""
from __future__ import annotations

import itertools
import random
import re

import numpy as np
import pytest

import grammask
from grammask import Matcher, TokenizerInfo, compile_regex

from bruteforce import PrefixOracle, RandomRegex, random_regex


def small_vocabulary() -> list[bytes]:
    """A few hundred tokens: ASCII, words, multi-byte chars, and tokens that split chars."""
    toks: list[bytes] = [bytes([b]) for b in range(32, 127)] + [b"\n", b"\t"]
    words = ["ab", "abc", "ba", "cab", "xx", "x1", "01", "19", "-1", "1.", ".5", " a", "  ",
             "a ", "éa", "aé", "中文", "文a", "😀", "😀😀", "ßa", "\"a", "a\"", "\\\"", "\\\\"]
    toks += [w.encode() for w in words]
    chars = "éàÿßñ中文一龥😀😃\u00a0"
    toks += [c.encode() for c in chars]
    for c in "é中😀😃":
        e = c.encode()
        toks += [e[:k] for k in range(1, len(e))] + [e[k:] for k in range(1, len(e))]
    toks += [b"\xc3", b"\xa9", b"\xe4", b"\xb8", b"\xad", b"\xf0\x9f", b"\x98", b"\x80",
             b"a\xc3", b"\xa9a", b"\xff", b"\xc0\x80", b"\xed\xa0\x80"]
    seen, out = set(), []
    for t in toks:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


@pytest.fixture(scope="module")
def vocab() -> TokenizerInfo:
    toks: list[bytes | None] = list(small_vocabulary())
    toks.append(None)  # EOS
    return TokenizerInfo(toks, eos_token_ids=[len(toks) - 1], vocab_size=len(toks) + 7)


def reference_mask(oracle: PrefixOracle, info: TokenizerInfo, prefix: bytes) -> np.ndarray:
    allowed = np.zeros(info.vocab_size, dtype=bool)
    for i, tb in enumerate(info.token_bytes):
        if tb is not None:
            allowed[i] = oracle.is_live(prefix + tb)
    if oracle.matches(prefix):
        allowed[list(info.eos_token_ids)] = True
    return allowed


def engine_mask(matcher: Matcher, vocab_size: int) -> np.ndarray:
    bm = grammask.allocate_token_bitmask(1, vocab_size)
    matcher.fill_next_token_bitmask(bm)
    return np.unpackbits(bm.view(np.uint8), bitorder="little")[:vocab_size].astype(bool)


def check_walks(rx: RandomRegex, info: TokenizerInfo, rng: random.Random, walks: int,
                steps: int) -> int:
    oracle = PrefixOracle(rx)
    compiled = compile_regex(rx.pattern, info)
    checked = 0
    for _ in range(walks):
        m = Matcher(compiled)
        prefix = b""
        for _ in range(steps):
            got, want = engine_mask(m, info.vocab_size), reference_mask(oracle, info, prefix)
            diff = np.flatnonzero(got != want)
            assert diff.size == 0, (
                f"pattern {rx.pattern!r} prefix {prefix!r}: mask differs on "
                f"{[(int(i), info.token_bytes[i], bool(want[i])) for i in diff[:5]]}")
            checked += 1
            choices = [i for i in np.flatnonzero(want) if info.token_bytes[i] is not None]
            if not choices:
                break
            tid = rng.choice(choices)
            assert m.accept_token(tid)
            prefix += info.token_bytes[tid]
    return checked


def test_random_regexes_match_reference(vocab: TokenizerInfo) -> None:
    rng = random.Random(1234)
    total = 0
    for _ in range(60):
        total += check_walks(random_regex(rng), vocab, rng, walks=3, steps=12)
    assert total > 500


@pytest.mark.parametrize("pattern", [
    r'"([^"\\]|\\.)*"', r"[^\"]{0,5}", r"\d{4}-\d{2}-\d{2}", r"(中|文)+😀?", r"[à-ÿ]{1,3}x",
    r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?", r".{2,3}", r"(ab|abc|cab)*",
])
def test_fixed_patterns_match_reference(vocab: TokenizerInfo, pattern: str) -> None:
    points = {0x22, 0x5C, 0x0A, 0x30, 0x39, 0xE0, 0xFF, 0x4E2D, 0x6587, 0x1F600}
    check_walks(RandomRegex(pattern, points), vocab, random.Random(7), walks=4, steps=15)


@pytest.mark.parametrize("pattern", [
    r"(?!ab)[abc]{1,4}", r"((?!é)[a-zé])*x", r"[a-c]+(?<!b)", r"\d+\b.?", r"(?<!a)(c|é)+",
])
def test_lookaround_patterns_match_reference(vocab: TokenizerInfo, pattern: str) -> None:
    """The regex dialect takes lookaround; masks against the `regex` module's partial
    matching (which is no oracle for a lookahead that reaches the end of the text: it calls
    any prefix partial there, so those patterns are checked below by language instead)."""
    points = {0x61, 0x63, 0x78, 0x7A, 0x30, 0x39, 0xE9}
    check_walks(RandomRegex(pattern, points), vocab, random.Random(3), walks=4, steps=10)


@pytest.mark.parametrize("pattern", [
    r"(?=.{2,4}$)[a-zé]+", r"(?=[^x]*$)[a-z]{0,6}", r"a(?!b)", r"(é|a)(?<=^é)b*", r"^\B$",
    r"(^é|b)x*(a$|b)*",
])
def test_lookaround_regex_languages(pattern: str) -> None:
    """Full match over every text of up to 5 characters of {a, b, x, é}, against Python's
    `re.fullmatch` (`$` as `\\Z`); the byte DFA is trimmed, so its masks follow. Anchors
    may stand anywhere then (`^` before the first character, `$` after the last)."""
    dfa = grammask.automata.compile_regex_dfa(pattern, lookaround=True)
    ref = re.compile(pattern.replace("$", r"\Z"), re.ASCII)
    for n in range(6):
        for chars in itertools.product("abxé", repeat=n):
            text = "".join(chars)
            want = ref.fullmatch(text) is not None or (text == "" and pattern == r"^\B$")
            assert dfa.matches(text.encode()) == want, text


def test_regex_refusals_keep_positions(vocab: TokenizerInfo) -> None:
    with pytest.raises(grammask.GrammarError) as err:
        compile_regex(r"([a-c](?!\1))*", vocab)
    assert "backreference" in str(err.value) and err.value.position == 9
    with pytest.raises(grammask.GrammarError) as err:
        compile_regex(r"b(?<=a$)a", vocab)
    assert "lookbehind cannot hold" in str(err.value) and err.value.position == 6   # the $
    with pytest.raises(grammask.GrammarError, match="matches no string"):
        compile_regex(r"a^b", vocab)


@pytest.mark.parametrize("pattern", [r"[^\"]{0,40}", r"(ab|é){3,30}x?", r".{5,25}", r"(a{3}|b{2}){0,12}"])
def test_shared_masks_equal_direct_walks(vocab: TokenizerInfo, pattern: str) -> None:
    """States merged by the bounded partition really have the masks a direct walk gives."""
    cg = compile_regex(pattern, vocab, precompute=False)
    store = cg.mask_store
    assert store.num_blocks < cg.dfa.num_states  # the partition did merge something
    for state in range(cg.dfa.num_states):
        assert np.array_equal(store.dense(state), store._compute_dense(state)), state
