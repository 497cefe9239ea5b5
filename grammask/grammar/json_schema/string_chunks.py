"""Automata for JSON strings split into fixed-size lexemes ("chunks"), for long strings.

A string value allowed to be thousands of code points long cannot be one terminal: every
allowed position costs ~20 byte-level states (`strings` module docstring), so `maxLength:
32767` would need ~650,000 states. Instead the grammar spells such a string as several
lexemes cut at fixed code-point counts: the first `K` code points with the opening quote
(HEAD), further runs of exactly `K` code points (CHUNK), and a last run of fewer than `K`
code points with the closing quote (TAIL); a string shorter than `K` is one lexeme (SHORT).
The grammar (`long_strings`) counts the chunks, which makes the length bounds exact, and
tracks the state of the value automaton at each cut, which keeps patterns and formats exact.

Why the cuts are exact under grammask's greedy lexer (longest match, no backtracking): every
cut lies exactly `K` code points after the previous one, and a piece never contains an
unescaped quote, so all candidate pieces of all split strings reach a cut together and none
can extend past it; a string terminal that is not split has fewer than `K` code points and
ends at its closing quote before the first cut. The grammar builder splits *every* value
string that can reach `K` code points once one string is split, so no unsplit terminal can be
alive across a cut (`long_strings`).

This module builds the pieces from the code-point DFA of the value (`strings.string_value`),
reusing the JSON encoding of `strings._encode` without the missing quote(s)."""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from ...automata.dfa import ByteDFA
from ...automata.dfa_ops import empty_dfa
from ...limits import Limits
from ...memo import memo_by_bytes
from .strings import (
    Rows,
    _any_value,
    _check_states,
    _CpDFA,
    _encode,
    _finish,
    _literals_value,
    string_value,
)

__all__ = ["boundary_states", "longest_word", "piece_dfa", "value_automaton", "value_matches"]

# What the value automaton of a split string is: ("str", patterns, formats, not_patterns,
# excluded) as `string_value` takes them, or ("lit", text) for a const/enum string.
ValueKey = tuple


def value_automaton(vkey: ValueKey, limits: Limits) -> _CpDFA | None:
    """The code-point DFA of the values `vkey` describes (None: no value)."""
    if vkey[0] == "lit":
        return _literals_value((vkey[1],), limits)
    if vkey == ("str", (), (), (), ()):
        return _any_value()
    return string_value(*vkey[1:], limits)


def value_matches(v: _CpDFA, text: str) -> bool:
    """Whether the decoded value `text` is a word of `v` (for enum values checked against a
    split string's constraints without building its automaton)."""
    s = 0
    for ch in text:
        cp = ord(ch)
        nxt = -1
        for c, t in v.rows[s]:
            if any(lo <= cp <= hi for lo, hi in v.classes[c]):
                nxt = t
                break
        if nxt < 0:
            return False
        s = nxt
    return v.accepting[s]


def longest_word(v: _CpDFA) -> int | None:
    """Length of the longest word of a trimmed `v`; None when unbounded (a cycle)."""
    memo: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[int, int]] = [(0, 0)]
    while stack:
        s, i = stack.pop()
        if i == 0:
            if s in memo:
                continue
            on_path.add(s)
        row = v.rows[s]
        if i < len(row):
            stack.append((s, i + 1))
            t = row[i][1]
            if t in on_path:
                return None
            if t not in memo:
                stack.append((t, 0))
            continue
        on_path.discard(s)
        memo[s] = max((1 + memo[t] for _, t in row), default=0)
    return memo[0]


@lru_cache(maxsize=4096)
def boundary_states(vkey: ValueKey, start: int, k: int, limits: Limits) -> tuple[int, ...]:
    """The states of the value automaton reachable from `start` by exactly `k` code points
    (the sets repeat with a period after at most a few steps: `minLength` 10**30 is no loop
    of 10**30 steps)."""
    v = value_automaton(vkey, limits)
    assert v is not None
    cur = frozenset({start})
    seen: dict[frozenset[int], int] = {}
    sets: list[frozenset[int]] = []
    for step in range(k):
        if cur in seen:     # the sets repeat from here with a period: jump to step k's
            first = seen[cur]
            cur = sets[first + (k - first) % (step - first)]
            break
        seen[cur] = step
        sets.append(cur)
        cur = frozenset(t for s in cur for _, t in v.rows[s])
    return tuple(sorted(cur))


@memo_by_bytes(64 << 20, lambda d: d.memory_bytes())
def piece_dfa(vkey: ValueKey, start: int, lo: int, hi: int, targets: tuple[int, ...] | None,
              quotes: tuple[bool, bool], limits: Limits) -> ByteDFA:
    """Byte DFA of the JSON encodings of the words of `lo`..`hi` code points that lead the
    value automaton from `start` to one of `targets` (None: its accepting states), with the
    opening / closing quote as `quotes` says. `empty_dfa()` when there is no such word."""
    v = value_automaton(vkey, limits)
    assert v is not None
    layer = _layer(v, start, lo, hi, targets, limits)
    if layer is None:
        return empty_dfa()
    return _encode(layer, limits, *quotes)


def _layer(v: _CpDFA, start: int, lo: int, hi: int, targets: Iterable[int] | None,
           limits: Limits) -> _CpDFA | None:
    """Product of `v` (started at `start`) with a code-point counter up to `hi`, accepting
    counts from `lo` in `targets` (None: `v`'s accepting states)."""
    wanted = set(targets) if targets is not None else None
    ids = {(start, 0): 0}
    order = [(start, 0)]
    rows: Rows = []
    for s, k in order:
        row = []
        if k < hi:
            for c, t in v.rows[s]:
                nid = ids.setdefault((t, k + 1), len(order))
                if nid == len(order):
                    _check_states(nid, limits)
                    order.append((t, k + 1))
                row.append((c, nid))
        rows.append(row)
    accepting = [k >= lo and (v.accepting[s] if wanted is None else s in wanted)
                 for s, k in order]
    return _finish(rows, accepting, v.classes)
