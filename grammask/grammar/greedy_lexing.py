"""Where a greedy lexer reads a character-level grammar exactly (GBNF's semantics).

GBNF is scannerless: llama.cpp matches the grammar character by character, so a lexeme may end
wherever the grammar lets the next piece begin. grammask lexes greedily (a lexeme grows while a
candidate terminal can extend it, no backtracking), which is exact only when growing never
takes a character the grammar wanted to start the next lexeme with. This module finds the
terminals that break that, so the GBNF front end can split them into smaller pieces (down to
single characters, where greediness has nothing to choose) until none is left.

The test, for terminals A and B (A == B included): some non-empty string s is a complete A and
s·c is a prefix of a B string, for a byte c that can start a terminal following A in the
grammar (FOLLOW(A)). Then the lexer, having read s with both alive, takes c into the lexeme
where a character-level reading could end A at s and start the next lexeme with c: B is
*overreaching* and gets split. When no pair is overreaching, every character-level reading's
lexemes are the greedy lexer's (each lexeme ends where its terminal does, since nothing alive
goes on with the next lexeme's first byte) and ties keep every kind (`Grammar.scannerless`), so
the languages agree.

Only pairs that can be candidates at one text position count. The lexer's candidates there
are the terminals the parser's readings of the text so far take next; those readings may be
different parses (ambiguity), but they all read the same lexemes (there is one lexer), so the
lexeme before the position is one text, of kinds K1 (in one reading) and K2 (in another) that
both match it. Hence the sound over-approximation used: A and B are candidates together when
both can begin the text, or A can follow some K1 and B some K2 that were candidates together
themselves and whose languages meet (K1 == K2 included; a least fixpoint). That keeps `"true" [a-z]` whole when nothing before "true" also comes before a
letter class, and a C statement's `x = ` whole beside a `for` condition's identifier.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..automata.dfa import ByteDFA
from ..limits import checkpoint
from .ir import Grammar

__all__ = ["follow_terminals", "overreaching_terminals"]

# Pairs of (A state, B state) explored per terminal pair, and in one whole analysis, before
# B is split without proof: bounds on the analysis's time, never on its soundness (a split
# terminal only costs the lexer more, smaller lexemes).
MAX_PAIR_STATES = 20_000
MAX_TOTAL_PAIR_STATES = 2_000_000
# Rounds of the candidates-together fixpoint (each two products of terminal-count matrices),
# and the most terminals it is computed for; past either, every pair counts as together.
MAX_TOGETHER_ROUNDS = 64
MAX_TOGETHER_TERMINALS = 1024


def follow_terminals(g: Grammar) -> dict[str, set[str]]:
    """FOLLOW(t) for every terminal t: the terminals that can come right after it in some
    sentential form (the end of input is not listed)."""
    nullable = g.nullable_rules()
    return _follow_sets(g, nullable, _first_sets(g, nullable))


def _follow_sets(g: Grammar, nullable: set[str], first: dict[str, set[str]]
                 ) -> dict[str, set[str]]:

    def first_of(sym: str) -> set[str]:
        return first.get(sym, {sym} if sym in g.terminals else set())

    follow: dict[str, set[str]] = {s: set() for s in (*g.rules, *g.terminals)}
    changed = True
    while changed:
        changed = False
        for name, rule in g.rules.items():
            for alt in rule.alternatives:
                trailer = set(follow[name])        # FOLLOW of what is after position i
                for sym in reversed(alt):
                    if sym not in follow:
                        continue
                    if not trailer <= follow[sym]:
                        follow[sym] |= trailer
                        changed = True
                    trailer = (trailer | first_of(sym)) if sym in nullable else set(first_of(sym))
    return {t: follow[t] for t in g.terminals}


def _first_sets(g: Grammar, nullable: set[str]) -> dict[str, set[str]]:
    first: dict[str, set[str]] = {n: set() for n in g.rules}
    changed = True
    while changed:
        changed = False
        for name, rule in g.rules.items():
            acc = first[name]
            before = len(acc)
            for alt in rule.alternatives:
                for sym in alt:
                    acc |= first.get(sym, {sym} if sym in g.terminals else set())
                    if sym not in nullable:
                        break
            changed |= len(acc) != before
    return first


def overreaching_terminals(g: Grammar, dfas: Mapping[str, ByteDFA],
                           cache: dict[int, tuple[ByteDFA, _Automaton]] | None = None
                           ) -> set[str]:
    """The terminals B the greedy lexer could grow past the end of some terminal A into the
    first byte of what follows A (see the module docstring); `dfas` holds every terminal's
    automaton. `cache` (the caller's, kept across calls on related grammars) holds the
    automata in the walkable form `_grows_into` uses."""
    cache = {} if cache is None else cache
    names = list(g.terminals)
    index = {t: i for i, t in enumerate(names)}
    autos = [_automaton(dfas[t], cache) for t in names]
    nullable = g.nullable_rules()
    first_sets = _first_sets(g, nullable)
    follow = _follow_sets(g, nullable, first_sets)
    starts = np.array([d.trans[d.start] >= 0 for d in (dfas[t] for t in names)]).reshape(-1, 256)
    # 0/1 matrices multiplied as float32 (BLAS; the counts stay exact far below 2**24)
    follows = np.zeros((len(names), len(names)), np.float32)
    for a, after in follow.items():
        follows[index[a], [index[t] for t in after]] = 1
    first = starts.astype(np.float32)
    after = (follows @ first) > 0                           # [A, byte]: can start what follows A
    budget = [MAX_TOTAL_PAIR_STATES]
    if len(names) <= MAX_TOGETHER_TERMINALS:
        shared = (first @ first.T) > 0                      # [K1, K2]: a first byte in common
        last = np.array([_last_bytes(dfas[t]) for t in names]).reshape(-1, 256)
        last32 = last.astype(np.float32)
        meet = _Meet(autos, shared & ((last32 @ last32.T) > 0), budget)
        begin = np.zeros(len(names), np.bool_)
        begin[[index[t] for t in first_sets[g.start]]] = True
        candidates = _together(begin, follows, meet) & shared & after.any(1)[:, None]
    else:                                                   # every pair that matters
        candidates = np.broadcast_to(after.any(1)[:, None], (len(names), len(names)))
    after_bits = [_bits(row) for row in after]
    literals = _Literals(g, names, autos, candidates, after)
    found = set()
    for b in range(len(names)):
        checkpoint("GBNF character-level analysis")
        if literals.overreached(b) if b in literals.text else \
                any(_grows_into(autos[a], autos[b], after_bits[a], budget)
                    for a in np.flatnonzero(candidates[:, b]).tolist()):
            found.add(names[b])
    return found


class _Literals:
    """The overreach test for a literal B (one string b), without pair walks: some proper
    prefix s of b is complete for a candidate A and b's next byte can start what follows A.
    Literal As are looked up by their text, the few regex As are stepped along b."""

    def __init__(self, g: Grammar, names: list[str], autos: list[_Automaton],
                 candidates: np.ndarray, after: np.ndarray) -> None:
        self.text = {i: g.terminals[n].literal.encode() for i, n in enumerate(names)
                     if g.terminals[n].literal}
        self.by_text: dict[bytes, list[int]] = {}
        for i, t in self.text.items():
            self.by_text.setdefault(t, []).append(i)
        self.regexes = [i for i in range(len(names)) if i not in self.text]
        self.autos, self.candidates, self.after = autos, candidates, after

    def overreached(self, b: int) -> bool:
        text = self.text[b]
        for k in range(1, len(text)):
            if any(self.candidates[a, b] and self.after[a, text[k]]
                   for a in self.by_text.get(text[:k], ())):
                return True
        for a in self.regexes:
            if self.candidates[a, b] and self._regex_ends_inside(a, text):
                return True
        return False

    def _regex_ends_inside(self, a: int, text: bytes) -> bool:
        auto, q = self.autos[a], 0
        for k in range(len(text) - 1):
            q = auto.trans[(q << 8) + text[k]]
            if q < 0:
                return False
            if auto.accepting[q] and self.after[a, text[k + 1]]:
                return True
        return False


@dataclass(frozen=True)
class _Automaton:
    """A DFA as a flat memoryview and 256-bit integers: the pair walk visits few states, and
    numpy per state cost more than the walk itself (the view copies nothing)."""
    trans: memoryview               # flat: trans[q * 256 + byte]
    live: list[int]                 # per state: the bytes with a transition, as a bit set
    accepting: list[bool]


def _automaton(d: ByteDFA, cache: dict[int, tuple[ByteDFA, _Automaton]]) -> _Automaton:
    hit = cache.get(id(d))
    if hit is not None and hit[0] is d:
        return hit[1]
    auto = _Automaton(memoryview(d.trans.reshape(-1)), [_bits(row >= 0) for row in d.trans],
                      d.accepting.tolist())
    cache[id(d)] = (d, auto)
    return auto


def _bits(flags: np.ndarray) -> int:
    return int.from_bytes(np.packbits(flags, bitorder="little").tobytes(), "little")


class _Meet:
    """[K1, K2]: the two terminals' languages share a string, decided by a pair walk only for
    the pairs asked about (`of`) that share a first and a last byte."""

    def __init__(self, autos: list[_Automaton], possible: np.ndarray, budget: list[int]) -> None:
        self.autos, self.possible, self.budget = autos, possible, budget
        self.known = np.zeros(possible.shape, np.bool_)
        self.meet = np.zeros(possible.shape, np.float32)

    def of(self, wanted: np.ndarray) -> np.ndarray:
        for i, j in np.argwhere(wanted & self.possible & ~self.known).tolist():
            self.meet[i, j] = _meets(self.autos[i], self.autos[j], self.budget)
            self.known[i, j] = True
        return self.meet


def _together(begin: np.ndarray, follows: np.ndarray, meet: _Meet) -> np.ndarray:
    """[A, B]: A and B may be candidates at one position. The least fixpoint of: both begin
    the text, or A follows K1 and B follows K2 where K1 and K2 were candidates together and
    meet (the lexeme before the position is one text of both kinds). Past
    `MAX_TOGETHER_ROUNDS` rounds, every pair counts as together (sound, and rare)."""
    together = begin[:, None] & begin[None, :]
    for _ in range(MAX_TOGETHER_ROUNDS):
        checkpoint("GBNF character-level analysis")
        step = together * meet.of(together)
        grown = together | ((follows.T @ step @ follows) > 0)
        if np.array_equal(grown, together):
            return together
        together = grown
    return np.ones_like(together)


def _last_bytes(d: ByteDFA) -> np.ndarray:
    """The bytes that can end a string of `d` (a transition into an accepting state)."""
    live = d.trans >= 0
    return (live & d.accepting[np.where(live, d.trans, 0)]).any(axis=0)


def _meets(a: _Automaton, b: _Automaton, budget: list[int]) -> bool:
    """Whether the two automata accept a common string (True, unproven, past the budgets)."""
    return _walk_pairs(a, b, budget, lambda qa, qb: a.accepting[qa] and b.accepting[qb])


def _grows_into(a: _Automaton, b: _Automaton, after: int, budget: list[int]) -> bool:
    """Whether some non-empty complete `a` string is a prefix of a `b` string that goes on
    with a byte in `after` (a bit set)."""
    return _walk_pairs(a, b, budget, lambda qa, qb: a.accepting[qa] and b.live[qb] & after)


def _walk_pairs(a: _Automaton, b: _Automaton, budget: list[int],
                goal: Callable[[int, int], Any]) -> bool:
    """Whether some state pair (qa, qb) reached by one string from both start states meets
    `goal`, by a walk over the reachable pairs; True (unproven) past MAX_PAIR_STATES pairs or
    once `budget[0]` pairs (shared by a whole analysis) are spent."""
    if budget[0] <= 0:
        return True
    seen = {(0, 0)}
    stack = [(0, 0)]
    while stack:
        qa, qb = stack.pop()
        if goal(qa, qb):
            return True
        common = a.live[qa] & b.live[qb]
        base_a, base_b = qa << 8, qb << 8
        while common:
            low = common & -common
            c = low.bit_length() - 1
            common ^= low
            pair = (a.trans[base_a + c], b.trans[base_b + c])
            if pair not in seen:
                if len(seen) >= MAX_PAIR_STATES:
                    return True             # unproven: split, which is always exact
                budget[0] -= 1
                seen.add(pair)
                stack.append(pair)
    return False
