"""A contextual, greedy (longest-match, no backtracking) lexer as one lazily grown byte DFA.

A lexer state is the set of (terminal, terminal-DFA state) pairs still alive in the current
lexeme. Start states are keyed by the *candidate set* (the terminals the parser accepts next,
plus `%ignore` terminals), so the lexer is contextual the way Lark's contextual lexer is: a
keyword the parser cannot take next does not steal an identifier.

Semantics (the README documents them for users):
* a lexeme grows while some candidate still matching it can extend it by the next byte; it
  ends exactly when the next byte extends no candidate (no backtracking to a shorter match);
* its kinds are the candidates that fully match it, filtered: highest `priority`; then literal
  terminals (from string literals) over regex terminals, as Lark's lexer does for keywords;
  then grammar terminals over `%ignore` terminals. A lexeme left with only ignore terminals is
  skipped. Several remaining kinds are all passed to the parser. (Terminals of a scannerless
  grammar, GBNF, are built with `literal=False`, so their ties keep every kind.)
Terminals may carry an *aux* counter (Python's newline terminal counts the indentation of its
last line); the emitted lexeme then includes the counter's value.

States are materialised eagerly per start state (a breadth-first closure), so the transition
table the Cython walkers read is always complete for the states they can reach.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from ..errors import LimitExceededError
from ..kernels import _kernels
from .interning import Interner

DEAD = -1


@dataclass(frozen=True)
class LexTerminal:
    """One terminal as the lexer sees it (parser terminal id `tid`)."""

    tid: int
    name: str
    trans: np.ndarray                 # int32 [n, 256], -1 dead; start state 0, non-accepting
    accepting: np.ndarray             # bool [n]
    priority: int = 0
    literal: bool = False
    ignore: bool = False
    aux: np.ndarray | None = None     # int32 [n]: counter value per state (indentation)


@dataclass(frozen=True)
class Emit:
    """What a finished lexeme hands to the parser."""

    terminals: frozenset[int]         # parser terminal ids (empty for an ignored lexeme)
    ignored: bool
    aux: int = -1


@dataclass
class _Table:
    trans: np.ndarray = field(default_factory=lambda: np.full((64, 256), DEAD, np.int32))
    emit: np.ndarray = field(default_factory=lambda: np.full(64, DEAD, np.int32))
    is_start: np.ndarray = field(default_factory=lambda: np.zeros(64, np.bool_))
    size: int = 0

    def grow(self, need: int = 0) -> None:
        """Double the capacity. Rows past `size` are left uninitialised (`np.empty` of a large
        table only reserves memory, so a grow costs one copy of the used rows): new states'
        rows are written whole by `Lexer._materialise`, and no live row points past `size`."""
        cap = max(self.trans.shape[0] * 2, need)
        trans = np.empty((cap, 256), np.int32)
        trans[: self.size] = self.trans[: self.size]
        emit = np.full(cap, DEAD, np.int32)
        emit[: self.size] = self.emit[: self.size]
        is_start = np.zeros(cap, np.bool_)
        is_start[: self.size] = self.is_start[: self.size]
        self.trans, self.emit, self.is_start = trans, emit, is_start


class Lexer:
    """The combined lexer over `terminals`; state ids are stable, tables only grow."""

    def __init__(self, terminals: list[LexTerminal], *, max_lexer_states: int = 200_000) -> None:
        self.terminals = {t.tid: t for t in terminals}
        self.ignore = frozenset(t.tid for t in terminals if t.ignore)
        self.max_lexer_states = max_lexer_states
        self._ids: dict[tuple, int] = {}
        self._members: list[tuple[int, ...]] = []    # global member ids, states from _base on
        self._final_emits: dict[tuple[int, ...], int] = {}
        self._starts: dict[frozenset[int], int] = {}
        self._emit_ids: Interner[Emit] = Interner()
        self.emits = self._emit_ids.keys           # emit id -> Emit (shared with the parser)
        self._lock = threading.RLock()
        # States 0.._base-1 are the terminals' own DFAs, terminal after terminal (a state
        # with a single member *is* that terminal's state: no per-grammar import); combined
        # states (several members, and every start state) come after.
        self._offset, self._table, self._tid_of = _global_table(self.terminals)
        self._base = self._table.size
        self._tid_list: list[int] = self._tid_of.tolist()     # global state -> terminal id
        if self._base > max_lexer_states:
            raise LimitExceededError("max_lexer_states", self._base, max_lexer_states,
                                     "the terminals' automata alone are too large")
        self._accepting = np.zeros(self._base, np.uint8)   # per global terminal state
        for t, term in self.terminals.items():
            self._accepting[self._offset[t]:self._offset[t] + term.trans.shape[0]] = \
                term.accepting
            for q in np.flatnonzero(term.accepting).tolist():
                self._table.emit[self._offset[t] + q] = self._emit_of(((t, q),))

    # -- tables the walkers read (re-read after any call that can add states) -------------------
    @property
    def trans(self) -> np.ndarray:
        return self._table.trans

    @property
    def emit(self) -> np.ndarray:
        return self._table.emit

    @property
    def is_start(self) -> np.ndarray:
        return self._table.is_start

    @property
    def num_states(self) -> int:
        return self._table.size

    def members(self, state: int) -> tuple[tuple[int, int], ...]:
        if state < self._base:
            t = int(self._tid_of[state])
            return ((t, state - self._offset[t]),)
        return self._pairs(self._members[state - self._base])

    def terminal_state(self, tid: int, q: int) -> int:
        """The lexer state whose lone member is terminal `tid`'s DFA state q."""
        return self._offset[tid] + q

    def member_ids(self, state: int) -> tuple[int, ...]:
        """The members of `state` as global terminal-DFA state ids (rows of `trans`)."""
        return (state,) if state < self._base else self._members[state - self._base]

    def lexeme_states(self, start: int) -> list[int]:
        """`start` and every state a lexeme begun there passes through (the states reachable
        by live bytes; all materialised, since a start state's closure is built eagerly)."""
        trans = self.trans
        seen = {start}
        frontier = [start]
        while frontier:
            nxt = np.unique(trans[frontier])
            frontier = [int(s) for s in nxt if s >= 0 and int(s) not in seen]
            seen.update(frontier)
        return sorted(seen)

    def alive_terminals(self, state: int) -> frozenset[int]:
        return frozenset(t for t, _ in self.members(state))

    # -- construction ------------------------------------------------------------------------
    def start(self, candidates: frozenset[int]) -> int:
        """The start state for lexemes drawn from `candidates` (ignore terminals added)."""
        found = self._starts.get(candidates)
        if found is not None:
            return found
        with self._lock:
            found = self._starts.get(candidates)
            if found is not None:
                return found
            members = tuple(sorted((t, 0) for t in candidates | self.ignore
                                   if t in self.terminals))
            sid = self._materialise(("start", members), members, True)
            self._starts[candidates] = sid
            return sid

    def _materialise(self, key: tuple, members: tuple[tuple[int, int], ...], start: bool) -> int:
        """Add the state `members` and every combined state reachable from it to the table, in
        one Cython closure (`_kernels.lexer_closure`). A successor with a single member is
        that terminal's own DFA state, already in the table's first rows."""
        sid = self._ids.get(key)
        if sid is not None:
            return sid
        tab = self._table
        gids = tuple(self._offset[t] + q for t, q in members)
        if tab.size >= self.max_lexer_states:
            raise self._too_large()
        emit = self._emit_of_final(tuple(g for g in gids if self._accepting[g]))
        if len(gids) == 1:          # a lone member's successors are its own states: no closure
            sid = self._new_state(key, gids, start, emit)
            tab.trans[sid] = tab.trans[gids[0]]
            return sid
        out = _kernels.lexer_closure(tab.trans, self._accepting, gids, self._ids, tab.size + 1,
                                     self.max_lexer_states - tab.size - 1)
        if out is None:
            raise self._too_large()
        rows, keys, finals = out
        if tab.size + rows.shape[0] > tab.trans.shape[0]:
            tab.grow(tab.size + rows.shape[0])
        sid = self._new_state(key, gids, start, emit)
        self._new_states(keys, [self._emit_of_final(fin) for fin in finals])
        tab.trans[sid:sid + rows.shape[0]] = rows
        return sid

    def _too_large(self) -> LimitExceededError:
        return LimitExceededError("max_lexer_states", self.max_lexer_states + 1,
                                  self.max_lexer_states,
                                  "the combined lexer automaton grew too large")

    def _pairs(self, gids: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        tid_of, offset = self._tid_list, self._offset
        return tuple((tid_of[g], g - offset[tid_of[g]]) for g in gids)

    def _new_state(self, key: tuple, gids: tuple[int, ...], start: bool, emit: int) -> int:
        tab = self._table
        if tab.size == tab.trans.shape[0]:
            tab.grow()
        sid = tab.size
        tab.size += 1
        self._ids[key] = sid
        self._members.append(gids)
        tab.is_start[sid] = start
        tab.emit[sid] = emit
        return sid

    def _new_states(self, keys: list[tuple[int, ...]], emits: list[int]) -> None:
        """`_new_state` for a closure's non-start states at once (the table has room): a
        long string's start state adds a thousand of them."""
        tab = self._table
        n, first = len(keys), tab.size
        self._ids.update(zip(keys, range(first, first + n)))
        self._members.extend(keys)
        tab.is_start[first:first + n] = False
        tab.emit[first:first + n] = emits
        tab.size += n

    def _emit_of_final(self, final: tuple[int, ...]) -> int:
        """The emit id of a state whose accepting members are the global states `final`
        (memoised: most combined states share a handful of accepting subsets)."""
        if not final:
            return DEAD
        found = self._final_emits.get(final)
        if found is None:
            found = self._final_emits[final] = self._emit_of(self._pairs(final))
        return found

    def _emit_of(self, members: tuple[tuple[int, int], ...]) -> int:
        done = [(t, q) for t, q in members if self.terminals[t].accepting[q]]
        if not done:
            return DEAD
        terms = [self.terminals[t] for t, _ in done]
        top = max(t.priority for t in terms)
        terms = [t for t in terms if t.priority == top]
        if any(t.literal for t in terms):
            terms = [t for t in terms if t.literal]
        grammar_terms = [t for t in terms if not t.ignore]
        aux = -1
        for t, q in done:
            if self.terminals[t].aux is not None and t in {x.tid for x in grammar_terms}:
                aux = int(self.terminals[t].aux[q])
        if grammar_terms:
            emit = Emit(frozenset(t.tid for t in grammar_terms), False, aux)
        else:
            emit = Emit(frozenset(), True)
        return self._emit_ids.id_of(emit)

    def memory_bytes(self) -> int:
        tab = self._table
        return tab.size * (tab.trans.shape[1] * tab.trans.itemsize + tab.emit.itemsize + 1)


def _global_table(terminals: dict[int, LexTerminal]) -> tuple[dict[int, int], _Table, np.ndarray]:
    """A table whose first rows are all terminal DFAs with global state ids (terminal by
    terminal, in tid order, so a state's members sorted by terminal are sorted by global id
    too), with room for combined states after them; and each row's terminal."""
    offset: dict[int, int] = {}
    base = 0
    for t in sorted(terminals):
        offset[t] = base
        base += terminals[t].trans.shape[0]
    # room for combined states without a grow (a grow copies every terminal's rows, several
    # MB for long counted strings, and would land in one mask's latency); the spare rows are
    # reserved, not touched, until states use them
    cap = base + max(1024, base // 2)
    trans_rows = np.empty((cap, 256), np.int32)
    trans_rows[:base] = DEAD
    table = _Table(trans_rows, np.full(cap, DEAD, np.int32), np.zeros(cap, np.bool_), base)
    owners = np.zeros(max(base, 1), np.int32)
    for t in sorted(terminals):
        trans, o = terminals[t].trans, offset[t]
        n = trans.shape[0]
        np.add(trans, o, out=table.trans[o:o + n], where=trans >= 0)
        owners[o:o + n] = t
    return offset, table, owners
