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

Only pairs that can be candidates at one text position count. The contextual lexer's
candidates there are the terminals some reading of the text so far takes next, and those
readings may be different parses (ambiguity), so the exact relation is out of reach; a sound
over-approximation is that both can begin the text, or both can follow terminals that end
with one same byte (the byte before the position). That keeps `"true" [a-z]` whole when
nothing before "true" can end the way something before a letter class can.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..automata.dfa import ByteDFA
from .ir import Grammar, derivable

__all__ = ["follow_terminals", "overreaching_terminals"]

# Pairs of (A state, B state) explored per terminal pair before B is split without proof: a
# bound on the analysis's time, never on its soundness.
MAX_PAIR_STATES = 20_000


def follow_terminals(g: Grammar) -> dict[str, set[str]]:
    """FOLLOW(t) for every terminal t: the terminals that can come right after it in some
    sentential form (the end of input is not listed)."""
    nullable = derivable({n: r.alternatives for n, r in g.rules.items()}, set())
    first = _first_sets(g, nullable)

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


def overreaching_terminals(g: Grammar, dfas: Mapping[str, ByteDFA]) -> set[str]:
    """The terminals B the greedy lexer could grow past the end of some terminal A into the
    first byte of what follows A (see the module docstring); `dfas` holds every terminal's
    automaton."""
    follow = follow_terminals(g)
    starts = {t: dfas[t].trans[dfas[t].start] >= 0 for t in g.terminals}
    names = list(g.terminals)
    context = _contexts(g, dfas, follow)
    found: set[str] = set()
    for a in names:
        after = np.zeros(256, np.bool_)
        for t in follow[a]:
            after |= starts[t]
        if not after.any():
            continue
        for b in names:
            if b not in found and (context[a] & context[b]).any() \
                    and (starts[a] & starts[b]).any() and _grows_into(dfas[a], dfas[b], after):
                found.add(b)
    return found


def _contexts(g: Grammar, dfas: Mapping[str, ByteDFA],
              follow: Mapping[str, set[str]]) -> dict[str, np.ndarray]:
    """Per terminal, the bytes a terminal right before it can end with, plus a 257th flag:
    it can begin the text. Two terminals are candidates at one position only if these meet."""
    last = {t: _last_bytes(d) for t, d in dfas.items()}
    context = {t: np.zeros(257, np.bool_) for t in g.terminals}
    for p, after in follow.items():
        for t in after:
            context[t][:256] |= last[p]
    for t in _first_terminals(g):
        context[t][256] = True
    return context


def _last_bytes(d: ByteDFA) -> np.ndarray:
    """The bytes that can end a string of `d` (a transition into an accepting state)."""
    live = d.trans >= 0
    return (live & d.accepting[np.where(live, d.trans, 0)]).any(axis=0)


def _first_terminals(g: Grammar) -> set[str]:
    nullable = derivable({n: r.alternatives for n, r in g.rules.items()}, set())
    return _first_sets(g, nullable)[g.start]


def _grows_into(a: ByteDFA, b: ByteDFA, after: np.ndarray) -> bool:
    """Whether some non-empty complete `a` string is a prefix of a `b` string that goes on
    with a byte in `after` (breadth-first over the reachable state pairs)."""
    seen = {(a.start, b.start)}
    queue = [(a.start, b.start)]
    while queue:
        qa, qb = queue.pop()
        row_a, row_b = a.trans[qa], b.trans[qb]
        if a.accepting[qa] and (after & (row_b >= 0)).any():
            return True
        for c in np.flatnonzero((row_a >= 0) & (row_b >= 0)):
            pair = (int(row_a[c]), int(row_b[c]))
            if pair not in seen:
                if len(seen) >= MAX_PAIR_STATES:
                    return True
                seen.add(pair)
                queue.append(pair)
    return False
