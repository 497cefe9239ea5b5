"""The combined lexer automaton and the plain-run analyses its scans lean on, against plain
definitions: every combined state's row is the union of its members' rows (`lexer_closure`),
and `plain_closure` says closed exactly when no plain text kills a state."""
from __future__ import annotations

import numpy as np
import pytest

from grammask.automata.lexer import Lexer, LexTerminal
from grammask.kernels import _kernels
from grammask.mask_cache.plain_runs import _ASCII, _SEQUENCES, _SHAPE_TABLE


def random_terminal(rng: np.random.Generator, tid: int, n: int, live: int) -> LexTerminal:
    """A terminal DFA over a small alphabet (`live` bytes from 'a'), start state 0 never
    accepting, so that several terminals share prefixes and their combined states branch."""
    trans = np.full((n, 256), -1, np.int32)
    for q in range(n):
        for b in range(97, 97 + live):
            if rng.random() < 0.7:
                trans[q, b] = rng.integers(1, n)
    accepting = rng.random(n) < 0.4
    accepting[0] = False
    return LexTerminal(tid, f"T{tid}", trans, accepting)


@pytest.mark.parametrize("seed", range(12))
def test_combined_rows_are_the_union_of_member_rows(seed: int) -> None:
    rng = np.random.default_rng(seed)
    terms = [random_terminal(rng, t, int(rng.integers(2, 9)), int(rng.integers(2, 6)))
             for t in range(int(rng.integers(2, 7)))]
    lexer = Lexer(terms)
    lexer.start(frozenset(t.tid for t in terms))
    lexer.start(frozenset(t.tid for t in terms[::2]))       # a second closure reuses states
    trans = lexer.trans
    ids = {lexer.member_ids(s): s for s in range(lexer._base, lexer.num_states)
           if not lexer.is_start[s]}
    for s in range(lexer._base, lexer.num_states):
        members = lexer.member_ids(s)
        for b in range(256):
            nxt = tuple(sorted(int(trans[g, b]) for g in members if trans[g, b] >= 0))
            want = -1 if not nxt else nxt[0] if len(nxt) == 1 else ids[nxt]
            assert trans[s, b] == want, (s, members, b)


def plain_next(trans: np.ndarray, s: int) -> set[int] | None:
    """The states one plain character leads to from `s`, None when one of them dies."""
    out: set[int] = set()
    for b in _ASCII.tolist():
        if trans[s, b] < 0:
            return None
        out.add(int(trans[s, b]))
    for seq in _SEQUENCES:
        frontier = {s}
        for lo, hi in seq:
            frontier = {int(trans[x, b]) for x in frontier for b in range(lo, hi + 1)}
            if min(frontier) < 0:
                return None
        out |= frontier
    return out


def plain_reach(trans: np.ndarray, state: int) -> set[int] | None:
    seen, todo = {state}, [state]
    while todo:
        nxt = plain_next(trans, todo.pop())
        if nxt is None:
            return None
        todo += [t for t in nxt - seen]
        seen |= nxt
    return seen


@pytest.mark.parametrize("seed", range(20))
def test_plain_closure_is_closed_exactly_when_no_plain_text_kills(seed: int) -> None:
    """Random automata where multi-byte characters loop in place and ASCII bytes move or
    die; counters (a chain that dies at its end) and loops both occur, so the probe meets
    deaths and cycles alike."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 12))
    trans = np.full((n, 256), -1, np.int32)
    trans[:, 0x80:] = np.arange(n, dtype=np.int32)[:, None]
    chain = rng.random() < 0.5
    for q in range(n):
        trans[q, _ASCII] = q + 1 if chain and q + 1 < n else rng.integers(0, n, _ASCII.shape[0])
        if rng.random() < 0.15:
            trans[q, rng.choice(_ASCII)] = -1
    if chain and rng.random() < 0.5:
        trans[n - 1, _ASCII] = n - 1                           # a counter that loops at its end
    for state in range(n):
        got = _kernels.plain_closure(trans, state, _ASCII, _SHAPE_TABLE, 4096)
        want = plain_reach(trans, state)
        assert (got is None) == (want is None), (state, trans[:, 0x20:0x7F].tolist())
        if got is not None:
            assert got[0] == state and set(got.tolist()) == want



@pytest.mark.parametrize("seed", range(20))
def test_plain_run_follows_the_unique_plain_step(seed: int) -> None:
    """`plain_run` against a plain definition: the run is the number of steps along the
    states' unique plain successor (unbounded on a cycle), exact when it ends in a state
    that does not accept and that no plain character continues; states asked in any order
    share the memo."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 12))
    trans = np.full((n, 256), -1, np.int32)
    for q in range(n):
        nxt = q + 1 if q + 1 < n else (q if rng.random() < 0.4 else -1)
        if nxt >= 0 and rng.random() < 0.85:
            trans[q, _ASCII] = nxt
            trans[q, 0x80:] = -1
            trans[q, 0xC2:0xF5] = nxt if rng.random() < 0.5 else -1
            trans[nxt if nxt >= 0 else q, 0x80:0xC0] = trans[nxt if nxt >= 0 else q, 0x80:0xC0]
        if rng.random() < 0.15:
            trans[q, rng.choice(_ASCII)] = rng.integers(0, n)
    accepting = (rng.random(n) < 0.3).astype(np.uint8)
    unbounded = 1 << 30
    memo = tuple(np.zeros(n, np.int32) for _ in range(3)) + (np.zeros(n, np.uint8),)
    for q in rng.permutation(n).tolist():
        run, exact = _kernels.plain_run(trans, accepting, q, _ASCII, _SHAPE_TABLE, unbounded, *memo)
        s, steps, seen = q, 0, set()
        while True:
            nxt = plain_next(trans, s)
            if nxt is None or len(nxt) != 1 or s in seen:
                break
            seen.add(s)
            s, steps = nxt.pop(), steps + 1
        if s in seen and run >= unbounded:
            continue                                 # a cycle of unique steps
        assert run == steps, (q, run, steps)
        dead = not accepting[s] and all(trans[s, b] < 0 for b in [*_ASCII.tolist(), *range(0xC2, 0xF5)])
        assert exact == dead


def test_plain_closure_refuses_bad_input() -> None:
    trans = np.zeros((2, 256), np.int32)
    with pytest.raises(IndexError, match="out of range"):
        _kernels.plain_closure(trans, 2, _ASCII, _SHAPE_TABLE, 4096)
    trans[0, _ASCII[0]] = 7                                    # a corrupt transition
    with pytest.raises(ValueError, match="leads"):
        _kernels.plain_closure(trans, 0, _ASCII, _SHAPE_TABLE, 4096)


def charset_of(trans: np.ndarray, q: int) -> tuple[frozenset[int], int]:
    """The reference charset of `q`: the largest group of ASCII bytes with one live target
    (ties: the group holding the lowest byte), and that target (-1 when there is none)."""
    groups: dict[int, list[int]] = {}
    for b in range(128):
        if trans[q, b] >= 0:
            groups.setdefault(int(trans[q, b]), []).append(b)
    if not groups:
        return frozenset(), -1
    target = max(groups, key=lambda t: (len(groups[t]), -groups[t][0]))
    return frozenset(groups[target]), target


def certain_run(trans: np.ndarray, q: int, cs: frozenset[int], cap: int) -> tuple[int, int]:
    """How many characters of `cs` all move the automaton alike from `q`, one step at a time
    (the longest such run, capped), and the state it ends in."""
    s, n = q, 0
    while n < cap:
        nxt = {int(trans[s, b]) for b in cs}
        if len(nxt) != 1 or min(nxt) < 0:
            break
        s, n = nxt.pop(), n + 1
    return n, s


@pytest.mark.parametrize("seed", range(20))
def test_charset_runs_are_certain_and_exact_ends_refuse(seed: int) -> None:
    """Random counters and loops over a 12-byte set, with bytes dropped or redirected here
    and there: every run the kernel claims is one the set's characters really take, the
    charset is the reference one, and an exact end refuses the next character of the set."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 14))
    cset = np.arange(0x61, 0x6D)
    trans = np.full((n, 256), -1, np.int32)
    for q in range(n):
        trans[q, cset] = q + 1 if q + 1 < n else (q if rng.random() < 0.5 else -1)
        if rng.random() < 0.2:
            trans[q, rng.choice(cset, size=int(rng.integers(1, 4)))] = -1
        if rng.random() < 0.2:
            trans[q, rng.choice(cset)] = rng.integers(0, n)
        trans[q, 0x22] = n - 1                       # a quote that ends the string
    accepting = np.zeros(n, np.uint8)
    accepting[n - 1] = rng.random() < 0.5
    unbounded = 1 << 30
    memo = (np.zeros((n, 2), np.uint64), np.zeros(n, np.int32), np.zeros(n, np.int32),
            np.zeros(n, np.int32), np.zeros(n, np.uint8))
    for q in rng.permutation(n).tolist():          # states asked in any order share the memo
        run, exact = _kernels.charset_run(trans, accepting, q, 3, unbounded, *memo)
        cs, _ = charset_of(trans, q)
        bits = np.unpackbits(memo[0][q].view(np.uint8), bitorder="little")
        if len(cs) < 3:
            assert run == 0 and not bits.any()
            continue
        assert set(np.flatnonzero(bits).tolist()) == cs
        want, _ = certain_run(trans, q, cs, 4 * n)
        if run >= unbounded:
            assert want == 4 * n                     # it loops: every length is taken
            continue
        assert 1 <= run <= want
        if exact:
            run_end = certain_run(trans, q, cs, run)[1]
            assert not accepting[run_end] and all(trans[run_end, b] < 0 for b in cs)


def test_charset_chars_counts_only_tokens_inside_the_set() -> None:
    toks = sorted([b"ab", b"a-b", b"zz", b"a\xc3\xa9", b"-a", b"abab"])
    offsets = np.cumsum([0] + [len(t) for t in toks]).astype(np.int64)
    concat = np.frombuffer(b"".join(toks), np.uint8).copy()
    first_end = np.searchsorted([t[0] for t in toks], np.arange(256), side="right").astype(np.int64)
    table = np.zeros(256, np.uint8)
    table[list(b"abz")] = 1
    got = _kernels.charset_chars(concat, offsets, first_end, table, 3)
    want = {b"ab": 2, b"a-b": -1, b"zz": 2, b"a\xc3\xa9": -1, b"-a": -2, b"abab": -1}
    assert got.tolist() == [want[t] for t in toks]
    with pytest.raises(ValueError, match="256"):
        _kernels.charset_chars(concat, offsets, first_end, table[:128], 3)
    with pytest.raises(ValueError, match="token count"):
        _kernels.charset_chars(concat, offsets, first_end - 1, table, 3)
