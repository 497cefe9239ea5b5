"""Bounded `%ignore` whitespace (`Limits.max_whitespace`): generation cannot loop on whitespace.

A grammar's `%ignore` terminals may be skipped between any two lexemes, so `%ignore WS` lets a
model emit whitespace forever -- and bounding the terminal's own repetition is not enough: a
greedy lexer that stops a bounded `WS` lexeme at N bytes simply starts another one. What this
module does, when `Limits.max_whitespace = N` is set (`bound_whitespace`, applied by
`compile_grammar` to the loaded IR):

1. The *whitespace part* of every `%ignore` terminal -- the strings of its language made only
   of the bytes `WHITESPACE` (space, \\t, \\n, \\r, \\v, \\f) -- is taken out of it; the rest (a
   comment, a line continuation) stays an ignored terminal with its own name. A terminal with
   nothing else left keeps its name with an empty language.
2. The whitespace parts are merged into one lexeme kind, W = (part_1 | ... | part_k)+ cut to
   at most N bytes, and W is split into two terminals, `WS_SHORT` (1..N-1 bytes) and
   `WS_FULL` (exactly N bytes). They are not `%ignore`d for the lexer (the lexer always
   offers ignored terminals); the parser (`automata.terminal_parser.TerminalParser`,
   `whitespace=`) offers them as candidates itself and skips their lexemes like ignored ones,
   except that after a `WS_FULL` lexeme it offers neither until another lexeme comes.

So a run of ignored whitespace between two other lexemes is at most N bytes, and exactly the
strings of at most N bytes that the grammar allowed (modulo the notes below) remain valid.
Every mask stays exact: a whitespace lexeme that would pass N bytes is simply not a candidate,
so no token can lead into a dead end. Notes, all only under `max_whitespace`:

* several ignored whitespace terminals become one lexeme kind (their concatenations are one
  lexeme), taking the highest of their priorities;
* W is a regex terminal: when a grammar terminal also matches a whole whitespace lexeme, the
  grammar terminal gets it (without the bound an ignored *string literal* such as
  `%ignore " "` would have won that tie).

Grammar terminals made of whitespace (a GBNF `ws ::= [ \\t\\n]*` rule, a Lark rule using `WS`)
are part of the grammar's own language and are left alone; JSON Schema whitespace is bounded by
construction (`JsonSchemaOptions.max_whitespace`, which `max_whitespace` caps).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..automata.dfa import ByteDFA, compile_regex_dfa
from ..automata.dfa_ops import difference, empty_dfa, intersect, is_empty, minimize, union
from ..errors import GrammarError, LimitExceededError
from ..limits import Limits, checkpoint
from .ir import Grammar, Terminal

__all__ = ["WHITESPACE", "WS_FULL", "WS_SHORT", "bound_whitespace"]

WHITESPACE = b" \t\n\r\x0b\x0c"
# Names no front end can produce (Lark and GBNF names have no '%'; JSON Schema's are words).
WS_SHORT = "%ignored-whitespace"
WS_FULL = "%ignored-whitespace-at-limit"


def _whitespace_star() -> ByteDFA:
    trans = np.full((1, 256), -1, dtype=np.int32)
    trans[0, list(WHITESPACE)] = 0
    return ByteDFA(trans, np.array([True]))


def bound_whitespace(grammar: Grammar, limits: Limits) -> Grammar:
    """`grammar` with its ignored whitespace bounded to `limits.max_whitespace` bytes (see
    the module docstring); the grammar itself when the limit is unset or nothing is ignored."""
    bound = limits.max_whitespace
    if bound is None or not grammar.ignore:
        return grammar
    if WS_SHORT in grammar.terminals or WS_FULL in grammar.terminals:
        return grammar                      # already bounded
    ws_star = _whitespace_star()
    terminals = dict(grammar.terminals)
    parts: list[ByteDFA] = []
    priority: int | None = None
    for name in grammar.ignore:
        t = grammar.terminals[name]
        if t.pattern is None and t.dfa is None:
            continue
        dfa = t.dfa if t.dfa is not None else _compile(t, limits)
        ws_part = intersect(dfa, ws_star, limits)
        if is_empty(ws_part):
            continue
        parts.append(ws_part)
        priority = t.priority if priority is None else max(priority, t.priority)
        rest = difference(dfa, ws_star, limits)
        terminals[name] = Terminal(name, t.pattern, t.priority, t.literal, t.origin,
                                   rest if not is_empty(rest) else empty_dfa())
    if not parts:
        return grammar
    merged = parts[0]
    for p in parts[1:]:
        merged = union(merged, p, limits)
    short, full = _bounded_plus(merged, bound, limits)
    assert priority is not None
    if short is not None:
        terminals[WS_SHORT] = Terminal(WS_SHORT, f"ignored whitespace (< {bound} bytes)",
                                       priority, None, None, short)
    if not is_empty(full):
        terminals[WS_FULL] = Terminal(WS_FULL, f"ignored whitespace (max_whitespace={bound})",
                                      priority, None, None, full)
    return replace(grammar, rules=dict(grammar.rules), terminals=terminals,
                   warnings=list(grammar.warnings))


def _compile(t: Terminal, limits: Limits) -> ByteDFA:
    try:
        return compile_regex_dfa(t.pattern or "", limits)
    except LimitExceededError:
        raise
    except GrammarError as exc:
        raise GrammarError(f"terminal {t.name}: {exc.message}",
                           name=str(t.origin or t.name)) from exc


def _bounded_plus(u: ByteDFA, bound: int, limits: Limits) -> tuple[ByteDFA | None, ByteDFA]:
    """Split L(u)+ cut to 1..bound bytes into (SHORT, FULL): FULL holds the strings after
    which a greedy lexer could start another whitespace lexeme right away -- those whose end
    state cannot take some byte that can begin one (always the strings of exactly `bound`
    bytes) -- SHORT the others (None when empty).

    Subset construction of the `u+` automaton (an accepting state may also restart from u's
    start), layered by length; `u` only reads whitespace bytes, so the table is tiny."""
    if bound > limits.max_repeat:
        raise LimitExceededError("max_repeat", bound, limits.max_repeat,
                                 "max_whitespace is a counted repetition of whitespace")
    acc_u = u.accepting
    cols = [b for b in WHITESPACE if (u.trans[:, b] >= 0).any()]
    ids: dict[tuple[frozenset[int], int], int] = {}
    order: list[tuple[frozenset[int], int]] = []
    rows: list[dict[int, int]] = []

    def state(key: tuple[frozenset[int], int]) -> int:
        sid = ids.get(key)
        if sid is None:
            sid = ids[key] = len(order)
            if sid >= limits.max_dfa_states:
                raise LimitExceededError("max_dfa_states", sid + 1, limits.max_dfa_states,
                                         "bounded whitespace automaton")
            order.append(key)
        return sid

    state((frozenset({0}), 0))
    i = 0
    while i < len(order):
        if not i & 63:
            checkpoint("bounded whitespace")
        members, length = order[i]
        row: dict[int, int] = {}
        if length < bound:
            for b in cols:
                nxt = set()
                for q in members:
                    t = int(u.trans[q, b])
                    if t >= 0:
                        nxt.add(t)
                    if acc_u[q] and length > 0:
                        t0 = int(u.trans[0, b])
                        if t0 >= 0:
                            nxt.add(t0)
                if nxt:
                    row[b] = state((frozenset(nxt), length + 1))
        rows.append(row)
        i += 1
    n = len(order)
    complete = [length > 0 and any(acc_u[q] for q in members) for members, length in order]
    live = complete[:]                       # states that can still complete a lexeme
    changed = True
    while changed:
        changed = False
        for s in range(n):
            if not live[s] and any(live[t] for t in rows[s].values()):
                live[s] = changed = True
    starts = list(rows[0])                   # bytes that can begin a whitespace lexeme
    safe = [all(b in rows[s] and live[rows[s][b]] for b in starts) for s in range(n)]
    trans = np.full((n, 256), -1, dtype=np.int32)
    for s, row in enumerate(rows):
        for b, t in row.items():
            if live[t]:
                trans[s, b] = t
    done = np.array(complete, dtype=bool)
    safe_np = np.array(safe, dtype=bool)
    full = minimize(ByteDFA(trans, done & ~safe_np))
    short = minimize(ByteDFA(trans, done & safe_np))
    return (None if is_empty(short) else short), full
