"""An incremental Earley parser over terminals whose states are hash-consed integers.

Why this shape: a constrained decoder asks the same questions (which terminals may come next,
where does terminal T lead) from the same parser configurations over and over — every array
element, every statement of a function body. Here a parser state is the *kernel* of an Earley
set (its non-predicted items) whose origins are themselves canonical state ids, so two sets
with equal kernels have identical futures and get the same id (a bisimulation by induction on
origins). Every question is then memoised per id: `advance(state, terminals)` is one dict
lookup after the first time, `fork` and `rollback` are free (a state is an int), and masks
can be memoised per parser state by the engine above.

Earley handles every context-free grammar: left recursion, empty rules (the Aycock–Horspool
prediction fix: predicting a nullable nonterminal also steps over it) and ambiguity (a lexeme
with several kinds scans all of them). Predicted items are not stored: they are a static
closure per set of predicted nonterminals, shared by all states.

Limits: `max_parser_items` bounds one kernel (ambiguous grammars can grow kernels with the
input length) and `max_parser_states` bounds the memo; both raise `LimitExceededError`.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import LimitExceededError

if TYPE_CHECKING:
    from .lalr import LalrParser

DEAD = -1

Item = tuple[int, int, int]          # (production, dot, origin state id)


@dataclass(frozen=True)
class Productions:
    """The grammar as integer productions. Symbols < num_terminals are terminals; production
    0 is the augmented start `S' -> start`."""

    num_terminals: int
    lhs: tuple[int, ...]
    rhs: tuple[tuple[int, ...], ...]
    num_symbols: int


def advance_lexemes(parser: "EarleyParser | LalrParser", state: int,
                    lexemes: Sequence[frozenset[int]]) -> int:
    """`parser.advance` over several lexemes (DEAD as soon as one is rejected); shared by the
    Earley and LALR parsers as their `advance_many`."""
    for terms in lexemes:
        if state == DEAD:
            return DEAD
        state = parser.advance(state, terms)
    return state


class _Predicted:
    """The static closure of a set of predicted nonterminals: items (production, dot) with the
    predicting set as origin, indexed by the symbol after the dot."""

    __slots__ = ("by_next", "terminals", "accepts_start")

    def __init__(self, items: Iterable[tuple[int, int]], prods: Productions) -> None:
        by_next: dict[int, list[tuple[int, int]]] = {}
        start_done = False
        for prod, dot in items:
            rhs = prods.rhs[prod]
            if dot < len(rhs):
                by_next.setdefault(rhs[dot], []).append((prod, dot))
            elif prod == 0:
                start_done = True
        self.by_next = {k: tuple(v) for k, v in by_next.items()}
        self.terminals = frozenset(s for s in self.by_next if s < prods.num_terminals)
        self.accepts_start = start_done


class _State:
    """One canonical Earley set."""

    __slots__ = ("kernel_by_next", "predicted", "allowed", "accepting", "trans", "size")

    def __init__(self, kernel_by_next: dict[int, tuple[Item, ...]], predicted: _Predicted,
                 accepting: bool, num_terminals: int, size: int) -> None:
        self.kernel_by_next = kernel_by_next
        self.predicted = predicted
        kernel_terms = {s for s in kernel_by_next if s < num_terminals}
        self.allowed = predicted.terminals | kernel_terms
        self.accepting = accepting
        self.trans: dict[frozenset[int], int] = {}
        self.size = size


class EarleyParser:
    """Hash-consed Earley states over `Productions`. Thread-safe: states are append-only."""

    def __init__(self, prods: Productions, *, max_parser_items: int = 100_000,
                 max_parser_states: int = 2_000_000) -> None:
        self.prods = prods
        self.max_parser_items = max_parser_items
        self.max_parser_states = max_parser_states
        self.nullable = _nullable(prods)
        self._by_lhs: dict[int, list[int]] = {}
        for i, a in enumerate(prods.lhs):
            self._by_lhs.setdefault(a, []).append(i)
        self._closure_cache: dict[int, frozenset[tuple[int, int]]] = {}
        self._predicted_cache: dict[frozenset[int], _Predicted] = {}
        self._ids: dict[frozenset[Item], int] = {}
        self._states: list[_State] = []
        self._lock = threading.RLock()
        self.initial = self._intern(frozenset(), initial=True)

    # -- queries ---------------------------------------------------------------------------
    def allowed(self, state: int) -> frozenset[int]:
        """Terminals that can be scanned next from `state`."""
        return self._states[state].allowed

    def is_accepting(self, state: int) -> bool:
        """True when the input so far is a complete sentence."""
        return self._states[state].accepting

    @property
    def num_states(self) -> int:
        return len(self._states)

    def advance(self, state: int, terminals: frozenset[int]) -> int:
        """The state after scanning one lexeme whose kinds are `terminals` (any of them may
        be the one the grammar uses), or DEAD."""
        st = self._states[state]
        found = st.trans.get(terminals)
        if found is not None:
            return found
        seeds: list[Item] = []
        kernel_next, predicted_next = st.kernel_by_next, st.predicted.by_next
        for t in terminals:         # items with t after the dot, kernel and predicted
            for p, d, o in kernel_next.get(t, ()):
                seeds.append((p, d + 1, o))
            for p, d in predicted_next.get(t, ()):
                seeds.append((p, d + 1, state))
        nxt = self._intern(self._kernel_key(self._close(seeds))) if seeds else DEAD
        st.trans[terminals] = nxt
        return nxt

    advance_many = advance_lexemes

    # -- construction ----------------------------------------------------------------------
    def _close(self, seeds: list[Item]) -> frozenset[Item]:
        """Kernel closure: completions (looking into earlier states) and nullable steps."""
        kernel: set[Item] = set()
        stack = seeds
        rhs_of, lhs_of, nullable = self.prods.rhs, self.prods.lhs, self.nullable
        states, limit = self._states, self.max_parser_items
        while stack:
            item = stack.pop()
            if item in kernel:
                continue
            kernel.add(item)
            if len(kernel) > limit:
                raise LimitExceededError("max_parser_items", len(kernel), self.max_parser_items,
                                         "an Earley set grew past the item limit (a highly "
                                         "ambiguous grammar?)")
            prod, dot, origin = item
            rhs = rhs_of[prod]
            if dot == len(rhs):         # complete: advance the origin's items over the lhs
                st, lhs = states[origin], lhs_of[prod]
                for p2, d2, o2 in st.kernel_by_next.get(lhs, ()):
                    stack.append((p2, d2 + 1, o2))
                for p2, d2 in st.predicted.by_next.get(lhs, ()):
                    stack.append((p2, d2 + 1, origin))
            elif rhs[dot] in nullable:
                stack.append((prod, dot + 1, origin))
        return frozenset(kernel)

    def _kernel_key(self, kernel: frozenset[Item]) -> frozenset[Item]:
        """Drop completed items: their completions are already in the kernel and nothing
        later reads them, so keeping them would only split states with equal futures (e.g.
        "after the first pair" vs "after a later pair"). The one that matters — the
        augmented start completed from the initial state — is kept as the acceptance mark."""
        rhs = self.prods.rhs
        return frozenset(it for it in kernel
                         if it[1] < len(rhs[it[0]]) or (it[0] == 0 and it[2] == 0))

    def _intern(self, kernel: frozenset[Item], initial: bool = False) -> int:
        with self._lock:
            found = self._ids.get(kernel) if not initial else None
            if found is not None:
                return found
            if len(self._states) >= self.max_parser_states:
                raise LimitExceededError("max_parser_states", len(self._states) + 1,
                                         self.max_parser_states, "too many distinct parser states")
            nts = self.prods.num_terminals
            by_next: dict[int, list[Item]] = {}
            predicted_nts: set[int] = {self.prods.lhs[0]} if initial else set()
            accepting = False
            for item in kernel:
                prod, dot, origin = item
                rhs = self.prods.rhs[prod]
                if dot < len(rhs):
                    by_next.setdefault(rhs[dot], []).append(item)
                    if rhs[dot] >= nts:
                        predicted_nts.add(rhs[dot])
                elif prod == 0 and origin == 0:   # the initial state is always id 0
                    accepting = True
            predicted = self._predicted(frozenset(predicted_nts), initial)
            state = _State({k: tuple(v) for k, v in by_next.items()}, predicted,
                           accepting or (initial and predicted.accepts_start), nts, len(kernel))
            sid = len(self._states)
            self._states.append(state)
            if not initial:
                self._ids[kernel] = sid
            return sid

    def _predicted(self, nts: frozenset[int], initial: bool) -> _Predicted:
        found = self._predicted_cache.get(nts)
        if found is None:
            items: set[tuple[int, int]] = set()
            if initial:
                items |= self._closure_of_production(0)
            for a in nts:
                items |= self._closure(a)
            found = _Predicted(items, self.prods)
            self._predicted_cache[nts] = found
        return found

    def _closure_of_production(self, prod: int) -> set[tuple[int, int]]:
        out: set[tuple[int, int]] = set()
        rhs = self.prods.rhs[prod]
        for d in range(len(rhs) + 1):
            out.add((prod, d))
            if d == len(rhs):
                break
            if rhs[d] >= self.prods.num_terminals:
                out |= self._closure(rhs[d])
            if rhs[d] not in self.nullable:
                break
        return out

    def _closure(self, nt: int) -> frozenset[tuple[int, int]]:
        """Items predicted by nonterminal `nt` (transitively), with nullable steps taken."""
        found = self._closure_cache.get(nt)
        if found is not None:
            return found
        items: set[tuple[int, int]] = set()
        seen = {nt}
        todo = [nt]
        nts = self.prods.num_terminals
        while todo:
            a = todo.pop()
            for prod in self._by_lhs.get(a, ()):
                rhs = self.prods.rhs[prod]
                for d in range(len(rhs) + 1):
                    items.add((prod, d))
                    if d == len(rhs):
                        break
                    sym = rhs[d]
                    if sym >= nts and sym not in seen:
                        seen.add(sym)
                        todo.append(sym)
                    if sym not in self.nullable:
                        break
        result = frozenset(items)
        self._closure_cache[nt] = result
        return result


def _nullable(prods: Productions) -> frozenset[int]:
    nullable: set[int] = set()
    changed = True
    while changed:
        changed = False
        for a, rhs in zip(prods.lhs, prods.rhs):
            if a not in nullable and all(s in nullable for s in rhs):
                nullable.add(a)
                changed = True
    return frozenset(nullable)
