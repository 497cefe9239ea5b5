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


@dataclass(frozen=True)
class Productions:
    """The grammar as integer productions. Symbols < num_terminals are terminals; production
    0 is the augmented start `S' -> start`."""

    num_terminals: int
    lhs: tuple[int, ...]
    rhs: tuple[tuple[int, ...], ...]
    num_symbols: int


def advance_lexemes(parser: EarleyParser | LalrParser, state: int,
                    lexemes: Sequence[frozenset[int]]) -> int:
    """`parser.advance` over several lexemes (DEAD as soon as one is rejected); shared by the
    Earley and LALR parsers as their `advance_many`."""
    for terms in lexemes:
        if state == DEAD:
            return DEAD
        state = parser.advance(state, terms)
    return state


class _Predicted:
    """The static closure of a set of predicted nonterminals: items (production, dot), packed
    as `prod << dot_bits | dot`, with the predicting set as origin, indexed by the symbol
    after the dot."""

    __slots__ = ("accepts_start", "by_next", "terminals")

    def __init__(self, items: Iterable[tuple[int, int]], prods: Productions,
                 dot_bits: int) -> None:
        by_next: dict[int, list[int]] = {}
        start_done = False
        for prod, dot in items:
            rhs = prods.rhs[prod]
            if dot < len(rhs):
                by_next.setdefault(rhs[dot], []).append(prod << dot_bits | dot)
            elif prod == 0:
                start_done = True
        self.by_next = {k: tuple(v) for k, v in by_next.items()}
        self.terminals = frozenset(s for s in self.by_next if s < prods.num_terminals)
        self.accepts_start = start_done


class _State:
    """One canonical Earley set."""

    __slots__ = ("accepting", "allowed", "kernel_by_next", "predicted", "size", "trans")

    def __init__(self, kernel_by_next: dict[int, tuple[int, ...]], predicted: _Predicted,
                 accepting: bool, num_terminals: int, size: int) -> None:
        self.kernel_by_next = kernel_by_next
        self.predicted = predicted
        kernel_terms = {s for s in kernel_by_next if s < num_terminals}
        self.allowed = predicted.terminals | kernel_terms
        self.accepting = accepting
        self.trans: dict[frozenset[int], int] = {}
        self.size = size


class EarleyParser:
    """Hash-consed Earley states over `Productions`. Thread-safe: states are append-only.

    An item (production, dot, origin state) is packed into one int, `origin << origin_shift
    | prod << dot_bits | dot`: kernels are sets of small ints, which hash and compare several
    times faster than tuples, and moving the dot is `item + 1`."""

    def __init__(self, prods: Productions, *, max_parser_items: int = 100_000,
                 max_parser_states: int = 2_000_000) -> None:
        self.prods = prods
        self.max_parser_items = max_parser_items
        self.max_parser_states = max_parser_states
        self.nullable = _nullable(prods)
        self._by_lhs: dict[int, list[int]] = {}
        for i, a in enumerate(prods.lhs):
            self._by_lhs.setdefault(a, []).append(i)
        self._dot_bits = max((len(r) for r in prods.rhs), default=0).bit_length()
        self._origin_shift = self._dot_bits + max(len(prods.rhs), 1).bit_length()
        self._pd_mask = (1 << self._origin_shift) - 1     # an item's packed (prod, dot)
        # per packed (prod, dot): the symbol after the dot, or -1 when the item is complete
        self._next_sym: dict[int, int] = {}
        for prod, rhs in enumerate(prods.rhs):
            for dot in range(len(rhs) + 1):
                self._next_sym[prod << self._dot_bits | dot] = rhs[dot] if dot < len(rhs) else -1
        self._closure_cache: dict[int, frozenset[tuple[int, int]]] = {}
        self._predicted_cache: dict[frozenset[int], _Predicted] = {}
        self._ids: dict[frozenset[int], int] = {}
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
        seeds: list[int] = []
        kernel_next, predicted_next = st.kernel_by_next, st.predicted.by_next
        base = state << self._origin_shift
        for t in terminals:         # items with t after the dot, kernel and predicted
            for item in kernel_next.get(t, ()):
                seeds.append(item + 1)
            for pd in predicted_next.get(t, ()):
                seeds.append(base | pd + 1)
        nxt = self._intern(self._close(seeds)) if seeds else DEAD
        st.trans[terminals] = nxt
        return nxt

    advance_many = advance_lexemes

    # -- construction ----------------------------------------------------------------------
    def _close(self, seeds: list[int]) -> frozenset[int]:
        """Kernel closure: completions (looking into earlier states) and nullable steps.
        Returns the kernel's *key*: completed items are dropped (their completions are
        already in the kernel and nothing later reads them, so keeping them would only split
        states with equal futures, e.g. "after the first pair" vs "after a later pair"); the
        one that matters — the augmented start completed from the initial state — is kept
        as the acceptance mark."""
        kernel: set[int] = set()
        key: list[int] = []
        stack = seeds
        lhs_of, nullable, next_sym = self.prods.lhs, self.nullable, self._next_sym
        states, limit = self._states, self.max_parser_items
        shift, pd_mask, dot_bits = self._origin_shift, self._pd_mask, self._dot_bits
        while stack:
            item = stack.pop()
            if item in kernel:
                continue
            kernel.add(item)
            if len(kernel) > limit:
                raise LimitExceededError("max_parser_items", len(kernel), self.max_parser_items,
                                         "an Earley set grew past the item limit (a highly "
                                         "ambiguous grammar?)")
            pd = item & pd_mask
            sym = next_sym[pd]
            if sym < 0:                 # complete: advance the origin's items over the lhs
                origin = item >> shift
                if pd >> dot_bits == 0 and origin == 0:
                    key.append(item)
                st, lhs = states[origin], lhs_of[pd >> dot_bits]
                for it2 in st.kernel_by_next.get(lhs, ()):
                    stack.append(it2 + 1)
                base = origin << shift
                for pd2 in st.predicted.by_next.get(lhs, ()):
                    stack.append(base | pd2 + 1)
            else:
                key.append(item)
                if sym in nullable:
                    stack.append(item + 1)
        return frozenset(key)

    def _intern(self, kernel: frozenset[int], initial: bool = False) -> int:
        with self._lock:
            found = self._ids.get(kernel) if not initial else None
            if found is not None:
                return found
            if len(self._states) >= self.max_parser_states:
                raise LimitExceededError("max_parser_states", len(self._states) + 1,
                                         self.max_parser_states, "too many distinct parser states")
            nts = self.prods.num_terminals
            by_next: dict[int, list[int]] = {}
            predicted_nts: set[int] = {self.prods.lhs[0]} if initial else set()
            accepting = False
            pd_mask, next_sym = self._pd_mask, self._next_sym
            for item in kernel:
                sym = next_sym[item & pd_mask]
                if sym >= 0:
                    by_next.setdefault(sym, []).append(item)
                    if sym >= nts:
                        predicted_nts.add(sym)
                else:                   # the kept completed item: S' -> start. from state 0
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
            found = _Predicted(items, self.prods, self._dot_bits)
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
