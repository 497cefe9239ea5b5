"""The parser the lexer talks to: Earley over terminals, optionally behind Python's indenter.

States are ints in both cases. Without an indenter a state *is* the Earley state id. With one
(grammars that `%declare _INDENT _DEDENT` and have a `_NEWLINE`/`_NL` terminal, as Lark's and
SynCode's Python grammars do), a state is an interned (Earley state, indent stack, bracket
depth) triple and newline lexemes are turned into NEWLINE + INDENT/DEDENT exactly as Lark's
`PythonIndenter` post-lexer does:

* inside brackets (`(`, `[`, `{` open; `)`, `]`, `}` close) newline lexemes are dropped;
* otherwise NEWLINE is scanned, then one INDENT if the indentation of the lexeme's last line
  (spaces + 8 per tab, counted by the lexer as the lexeme's aux value) is deeper than the top
  of the stack, else DEDENTs while it is shallower — a mismatch is a dead state;
* at the end of the text every open level is closed with a DEDENT before acceptance.
The newline terminal is a lexing candidate everywhere (Lark's `always_accept`).

Bounded whitespace (`Limits.max_whitespace`, see `grammask.grammar.whitespace`): the grammar's
ignored whitespace arrives as two *soft-ignored* terminals, SHORT and FULL. The parser offers
them as lexing candidates itself, skips their lexemes like ignored ones, and after a FULL
lexeme (one after which another whitespace lexeme could begin) enters a *flagged* twin of its
state -- the same state plus `_FLAG` -- that offers neither, until any other lexeme comes.
"""
from __future__ import annotations

from dataclasses import dataclass

from .earley import DEAD, EarleyParser
from .interning import Interner
from .lexer import Emit

_FLAG = 1 << 30      # flagged twin of a state: no whitespace lexeme may come next
_MASK = _FLAG - 1


@dataclass(frozen=True)
class IndentConfig:
    """Terminal ids the indenter works with."""

    newline: int
    indent: int
    dedent: int
    open_brackets: frozenset[int]
    close_brackets: frozenset[int]
    tab_len: int = 8


class TerminalParser:
    """Earley (+ optional indenter) with memoised transitions on lexer emits."""

    def __init__(self, earley: EarleyParser, emits: list[Emit], lexable: frozenset[int],
                 indent: IndentConfig | None = None,
                 whitespace: tuple[frozenset[int], frozenset[int]] | None = None) -> None:
        self.earley = earley
        self.emits = emits                      # shared with the lexer (grows)
        self.lexable = lexable                  # terminals with a pattern
        self.indent = indent
        # soft-ignored whitespace: (all its terminal ids, those that set the flag)
        self.whitespace = whitespace
        self._ws_all = whitespace[0] if whitespace else frozenset()
        self._ws_full = whitespace[1] if whitespace else frozenset()
        self._memo: dict[tuple[int, int], int] = {}
        self._candidates: dict[frozenset[int], frozenset[int]] = {}
        self._flagged_candidates: dict[frozenset[int], frozenset[int]] = {}
        # states with an indenter: interned (parser state, indent stack, bracket depth)
        self._ids: Interner[tuple[int, tuple[int, ...], int]] = Interner()
        self._triples = self._ids.keys
        self.initial = self._intern(earley.initial, (0,), 0) if indent else earley.initial

    # -- queries ----------------------------------------------------------------------------
    def candidates(self, state: int) -> frozenset[int]:
        """Terminals the lexer should consider at a lexeme start in `state`."""
        flagged = state & _FLAG
        if flagged:
            state &= _MASK
        eid = self._triples[state][0] if self.indent else state
        return self.candidates_for(self.earley.allowed(eid), bool(flagged))

    def candidates_for(self, allowed: frozenset[int], flagged: bool = False) -> frozenset[int]:
        """`candidates` of a state whose parser accepts the terminals `allowed` next (the C
        walker knows a stack's allowed terminals, not a state id)."""
        memo = self._flagged_candidates if flagged else self._candidates
        found = memo.get(allowed)      # allowed sets are shared objects: cheap key
        if found is None:
            found = allowed & self.lexable
            if self.indent:
                found = found | {self.indent.newline}
            if self._ws_all and not flagged:
                found = found | self._ws_all
            memo[allowed] = found
        return found

    def expected(self, state: int) -> frozenset[int]:
        """Terminals (lexable or not) the grammar accepts next, for error messages."""
        state &= _MASK
        eid = self._triples[state][0] if self.indent else state
        return self.earley.allowed(eid) - self._ws_all

    def can_end(self, state: int) -> bool:
        """True when the text may end here (after closing open indentation levels)."""
        state &= _MASK
        if not self.indent:
            return self.earley.is_accepting(state)
        eid, stack, _ = self._triples[state]
        eid = self.earley.advance_many(eid, [frozenset({self.indent.dedent})] * (len(stack) - 1))
        return eid != DEAD and self.earley.is_accepting(eid)

    def with_stack(self, state: int, stack_state: int) -> int:
        """`state` with its underlying parser state replaced (same indentation and brackets)."""
        flag = state & _FLAG
        if not self.indent:
            return stack_state | flag
        _, indents, parens = self._triples[state & _MASK]
        return self._intern(stack_state, indents, parens) | flag

    def stack_of(self, state: int) -> tuple[int, tuple[int, ...], int]:
        """(parser state of the underlying LALR/Earley parser, indent stack, bracket depth)."""
        state &= _MASK
        return self._triples[state] if self.indent else (state, (), 0)

    @property
    def num_states(self) -> int:
        return len(self._triples) if self.indent else self.earley.num_states

    @staticmethod
    def whitespace_of(grammar: object, tid: dict[str, int]
                      ) -> tuple[frozenset[int], frozenset[int]] | None:
        """The `whitespace=` argument for a grammar bounded by
        `grammask.grammar.whitespace.bound_whitespace` (None for any other grammar)."""
        from ..grammar.whitespace import WS_FULL, WS_SHORT
        full = frozenset(tid[n] for n in (WS_FULL,) if n in tid)
        both = full | frozenset(tid[n] for n in (WS_SHORT,) if n in tid)
        return (both, full) if both else None

    # -- transitions ---------------------------------------------------------------------------
    def advance(self, state: int, emit_id: int) -> int:
        """The state after one lexeme (`emit_id` indexes the lexer's emits), or DEAD."""
        key = (state, emit_id)
        found = self._memo.get(key)
        if found is not None:
            return found
        emit = self.emits[emit_id]
        if self._ws_all and emit.terminals & self._ws_all:
            others = emit.terminals - self._ws_all
            if not others:                  # a whitespace lexeme: skipped (maybe flagged)
                nxt = state | _FLAG if emit.terminals & self._ws_full else state
                self._memo[key] = nxt
                return nxt
            emit = Emit(others, False, emit.aux)     # grammar terminals beat ignored ones
        state &= _MASK
        if emit.ignored:
            nxt = state
        elif self.indent is None:
            nxt = self.earley.advance(state, emit.terminals)
        else:
            nxt = self._advance_indented(state, emit)
        self._memo[key] = nxt
        return nxt

    def _advance_indented(self, state: int, emit: Emit) -> int:
        cfg = self.indent
        assert cfg is not None
        eid, stack, parens = self._triples[state]
        if cfg.newline in emit.terminals:
            if parens > 0:
                return state
            eid = self.earley.advance(eid, frozenset({cfg.newline}))
            if eid == DEAD:
                return DEAD
            width = max(emit.aux, 0)
            if width > stack[-1]:
                stack = stack + (width,)
                eid = self.earley.advance(eid, frozenset({cfg.indent}))
            else:
                while width < stack[-1] and eid != DEAD:
                    stack = stack[:-1]
                    eid = self.earley.advance(eid, frozenset({cfg.dedent}))
                if width != stack[-1]:
                    return DEAD
            return DEAD if eid == DEAD else self._intern(eid, stack, parens)
        eid = self.earley.advance(eid, emit.terminals)
        if eid == DEAD:
            return DEAD
        if emit.terminals & cfg.open_brackets:
            parens += 1
        elif emit.terminals & cfg.close_brackets:
            parens = max(parens - 1, 0)
        return self._intern(eid, stack, parens)

    def _intern(self, eid: int, stack: tuple[int, ...], parens: int) -> int:
        return self._ids.id_of((eid, stack, parens))
