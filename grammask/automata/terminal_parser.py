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
"""
from __future__ import annotations

from dataclasses import dataclass

from .earley import DEAD, EarleyParser
from .interning import Interner
from .lexer import Emit


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
                 indent: IndentConfig | None = None) -> None:
        self.earley = earley
        self.emits = emits                      # shared with the lexer (grows)
        self.lexable = lexable                  # terminals with a pattern
        self.indent = indent
        self._memo: dict[tuple[int, int], int] = {}
        self._candidates: dict[frozenset[int], frozenset[int]] = {}
        # states with an indenter: interned (parser state, indent stack, bracket depth)
        self._ids: Interner[tuple[int, tuple[int, ...], int]] = Interner()
        self._triples = self._ids.keys
        self.initial = self._intern(earley.initial, (0,), 0) if indent else earley.initial

    # -- queries ----------------------------------------------------------------------------
    def candidates(self, state: int) -> frozenset[int]:
        """Terminals the lexer should consider at a lexeme start in `state`."""
        eid = self._triples[state][0] if self.indent else state
        allowed = self.earley.allowed(eid)
        found = self._candidates.get(allowed)      # allowed sets are shared objects: cheap key
        if found is None:
            found = allowed & self.lexable
            if self.indent:
                found = found | {self.indent.newline}
            self._candidates[allowed] = found
        return found

    def expected(self, state: int) -> frozenset[int]:
        """Terminals (lexable or not) the grammar accepts next, for error messages."""
        eid = self._triples[state][0] if self.indent else state
        return self.earley.allowed(eid)

    def can_end(self, state: int) -> bool:
        """True when the text may end here (after closing open indentation levels)."""
        if not self.indent:
            return self.earley.is_accepting(state)
        eid, stack, _ = self._triples[state]
        eid = self.earley.advance_many(eid, [frozenset({self.indent.dedent})] * (len(stack) - 1))
        return eid != DEAD and self.earley.is_accepting(eid)

    def with_stack(self, state: int, stack_state: int) -> int:
        """`state` with its underlying parser state replaced (same indentation and brackets)."""
        if not self.indent:
            return stack_state
        _, indents, parens = self._triples[state]
        return self._intern(stack_state, indents, parens)

    def stack_of(self, state: int) -> tuple[int, tuple[int, ...], int]:
        """(parser state of the underlying LALR/Earley parser, indent stack, bracket depth)."""
        return self._triples[state] if self.indent else (state, (), 0)

    @property
    def num_states(self) -> int:
        return len(self._triples) if self.indent else self.earley.num_states

    # -- transitions ---------------------------------------------------------------------------
    def advance(self, state: int, emit_id: int) -> int:
        """The state after one lexeme (`emit_id` indexes the lexer's emits), or DEAD."""
        key = (state, emit_id)
        found = self._memo.get(key)
        if found is not None:
            return found
        emit = self.emits[emit_id]
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
