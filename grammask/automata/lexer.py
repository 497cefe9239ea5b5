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
  skipped. Several remaining kinds are all passed to the (Earley) parser.
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

    def grow(self) -> None:
        cap = self.trans.shape[0] * 2
        trans = np.full((cap, 256), DEAD, np.int32)
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
        self._table = _Table()
        self._ids: dict[tuple, int] = {}
        self._members: list[tuple[tuple[int, int], ...]] = []
        self._starts: dict[frozenset[int], int] = {}
        self._emit_ids: Interner[Emit] = Interner()
        self.emits = self._emit_ids.keys           # emit id -> Emit (shared with the parser)
        self._lock = threading.RLock()
        rng = np.random.default_rng(0x9E3779B9)
        self._weights = rng.integers(1, 2**62, size=max(len(terminals), 1), dtype=np.int64)

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
        return self._members[state]

    def alive_terminals(self, state: int) -> frozenset[int]:
        return frozenset(t for t, _ in self._members[state])

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
        """Add the state `members` (and everything reachable from it) to the table."""
        sid = self._ids.get(key)
        if sid is not None:
            return sid
        sid = self._new_state(key, members, start)
        todo = [sid]
        while todo:
            s = todo.pop()
            for byte_set, nxt in self._successors(self._members[s]):
                nkey = ("in", nxt)
                n = self._ids.get(nkey)
                if n is None:
                    n = self._new_state(nkey, nxt, False)
                    todo.append(n)
                self._table.trans[s, byte_set] = n
        return sid

    def _new_state(self, key: tuple, members: tuple[tuple[int, int], ...], start: bool) -> int:
        tab = self._table
        if tab.size >= self.max_lexer_states:
            raise LimitExceededError("max_lexer_states", tab.size + 1, self.max_lexer_states,
                                     "the combined lexer automaton grew too large")
        if tab.size == tab.trans.shape[0]:
            tab.grow()
        sid = tab.size
        tab.size += 1
        self._ids[key] = sid
        self._members.append(members)
        tab.is_start[sid] = start
        tab.emit[sid] = self._emit_of(members)
        return sid

    def _successors(self, members: tuple[tuple[int, int], ...]):
        """(bytes, next members) for every byte that keeps some member alive. Bytes are grouped
        by their column of next states: hashed, then compared exactly (a group whose columns
        differ — a hash collision — is split into single bytes)."""
        if not members:
            return []
        rows = np.stack([self.terminals[t].trans[q] for t, q in members])   # [m, 256]
        tids = np.fromiter((t for t, _ in members), dtype=np.int64, count=len(members))
        keys = (rows.astype(np.int64) + 1).T @ self._weights[: len(members)]
        out = []
        for key in np.unique(keys).tolist():
            byte_set = np.flatnonzero(keys == key)
            uniform = (rows[:, byte_set] == rows[:, byte_set[:1]]).all()
            for group in [byte_set] if uniform else np.split(byte_set, len(byte_set)):
                col = rows[:, group[0]]
                alive = col >= 0
                if alive.any():
                    out.append((group, tuple(zip(tids[alive].tolist(), col[alive].tolist()))))
        return out

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
        return tab.trans.nbytes + tab.emit.nbytes + tab.is_start.nbytes
