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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import LimitExceededError
from ..kernels._earley import EarleyCore

if TYPE_CHECKING:
    from .lalr import LalrParser

DEAD = -1
_ITEMS_LIMIT = -3        # EarleyCore.advance: the item / state limit would be passed


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


class EarleyParser:
    """Hash-consed Earley states over `Productions`, kept by the C core
    (`kernels._earley.EarleyCore`: closures, interning, predicted sets and the advance memo).
    Thread-safe: states are append-only and created under one lock.

    An item (production, dot, origin state) is packed into one int, `origin << origin_shift
    | position`, positions (production, dot) numbered densely: moving the dot is `item + 1`.
    A state's key is its kernel without completed items (their completions are already in it
    and nothing later reads them, so keeping them would only split states with equal futures,
    e.g. "after the first pair" vs "after a later pair"); the one that matters — the
    augmented start completed from the initial state — is kept as the acceptance mark.
    Predicted items are not stored per state: they are a static closure per set of predicted
    nonterminals, shared by all states."""

    def __init__(self, prods: Productions, *, max_parser_items: int = 100_000,
                 max_parser_states: int = 2_000_000) -> None:
        self.prods = prods
        self.max_parser_items = max_parser_items
        self.max_parser_states = max_parser_states
        self.nullable = _nullable(prods)
        # item positions (prod, dot) numbered densely, production by production: moving the
        # dot is +1, and the tables stay as long as the grammar (not productions x longest)
        lengths = np.array([len(r) + 1 for r in prods.rhs], np.int64)
        first = np.zeros(len(prods.rhs) + 1, np.int64)
        np.cumsum(lengths, out=first[1:])
        next_sym = np.full(int(first[-1]), -1, np.int32)
        for prod, rhs in enumerate(prods.rhs):
            next_sym[first[prod]:first[prod] + len(rhs)] = rhs
        nullable = np.zeros(prods.num_symbols, np.uint8)
        nullable[list(self.nullable)] = 1
        lhs = np.array(prods.lhs, np.int64)
        order = np.argsort(lhs, kind="stable")     # productions grouped by left-hand side
        by_lhs_off = np.searchsorted(lhs[order], np.arange(prods.num_symbols + 1))
        self._core = EarleyCore(next_sym, np.repeat(lhs, lengths), nullable, by_lhs_off,
                                first[order], prods.num_terminals,
                                int(first[0]) + len(prods.rhs[0]),   # augmented start, done
                                max(int(first[-1]), 1).bit_length(), max_parser_items,
                                max_parser_states, threading.RLock())
        self.initial = self._core.start(prods.lhs[0])
        self._allowed: dict[int, frozenset[int]] = {}

    # -- queries ---------------------------------------------------------------------------
    def allowed(self, state: int) -> frozenset[int]:
        """Terminals that can be scanned next from `state`."""
        found = self._allowed.get(state)
        if found is None:
            found = self._allowed[state] = self._core.allowed(state)
        return found

    def is_accepting(self, state: int) -> bool:
        """True when the input so far is a complete sentence."""
        return self._core.is_accepting(state)

    @property
    def num_states(self) -> int:
        return self._core.num_states

    def advance(self, state: int, terminals: frozenset[int]) -> int:
        """The state after scanning one lexeme whose kinds are `terminals` (any of them may
        be the one the grammar uses), or DEAD."""
        nxt = self._core.advance(state, terminals)
        if nxt < DEAD:
            self._limit_hit(nxt)
        return nxt

    advance_many = advance_lexemes

    def _limit_hit(self, code: int) -> None:
        if code == _ITEMS_LIMIT:
            raise LimitExceededError("max_parser_items", self.max_parser_items + 1,
                                     self.max_parser_items, "an Earley set grew past the item "
                                     "limit (a highly ambiguous grammar?)")
        raise LimitExceededError("max_parser_states", self.num_states + 1,
                                 self.max_parser_states, "too many distinct parser states")


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
