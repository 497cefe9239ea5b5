"""An LALR(1) parser over terminals with hash-consed stacks, for grammars LALR can take.

Why: most grammars people write for code (Lark's and SynCode's Python, SQL, Go grammars) are
written for Lark's LALR parser. There a parser step is a few table lookups instead of an
Earley closure, and a state is a stack — which makes masks cheap and memoisable. The table is
built by Lark's own analyser (`lark.parsers.lalr_analysis`), so the language is exactly the
one `Lark(grammar, parser="lalr")` accepts: shift/reduce conflicts are resolved as shift, as
Lark does (reduce/reduce conflicts raise and the caller falls back to Earley).

A state is an interned *set* of stack nodes (usually one): a lexeme with several kinds can
be followed by each of them, which keeps ambiguous lexing exact. Stack nodes are interned
(parent, LR state) pairs, so a state is an int and fork/rollback are free. `allowed` simulates
each candidate terminal through its reductions (LALR's merged lookaheads can reduce and then
fail), so the lexer is only offered terminals that really shift.

Same interface as `EarleyParser`: initial, advance, advance_many, allowed, is_accepting.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence

from lark.common import ParserConf
from lark.exceptions import GrammarError as LarkGrammarError
from lark.grammar import NonTerminal, Rule, Terminal
from lark.parsers.lalr_analysis import LALR_Analyzer, Shift

from ..errors import LimitExceededError
from .earley import DEAD, Productions

_END = "$END"
_ROOT = "$grammask_root"     # the augmented start (production 0); cannot clash with user rules


class LalrUnavailable(Exception):
    """The grammar is not LALR(1) (reduce/reduce conflict or similar)."""


class LalrParser:
    """Hash-consed LALR(1) stacks over `Productions` (terminal ids < num_terminals)."""

    def __init__(self, prods: Productions, terminal_names: Sequence[str],
                 rule_names: Sequence[str], *, max_parser_states: int = 2_000_000) -> None:
        self.prods = prods
        self.max_parser_states = max_parser_states
        self._names = list(terminal_names) + ["$aug"] + list(rule_names)
        table = _build_table(prods, self._names)
        self._actions: list[dict[int, tuple[bool, int]]] = []
        ids: dict[object, int] = {}
        for st in table.states:
            ids[st] = len(ids)
        sym = {n: i for i, n in enumerate(self._names)}
        sym[_ROOT] = prods.lhs[0]
        sym[_END] = -1
        rule_index = {id(r): k for k, r in enumerate(table.rules)}
        for st, acts in table.states.items():
            row: dict[int, tuple[bool, int]] = {}
            for name, (action, arg) in acts.items():
                if action is Shift:
                    row[sym[name]] = (True, ids[arg])
                else:
                    row[sym[name]] = (False, rule_index[id(arg)])
            self._actions.append(row)
        self._reduce = [(sym[r.origin.name], len(r.expansion)) for r in table.rules]
        self._start_lr = ids[table.start_states[_ROOT]]
        self._end_lr = ids[table.end_states[_ROOT]]
        self._nodes: list[tuple[int, int]] = [(-1, self._start_lr)]     # (parent, LR state)
        self._node_ids: dict[tuple[int, int], int] = {(-1, self._start_lr): 0}
        self._sets: list[frozenset[int]] = []
        self._set_ids: dict[frozenset[int], int] = {}
        self._step_memo: dict[tuple[int, int], int] = {}
        self._trans: list[dict[frozenset[int], int]] = []
        self._allowed: dict[int, frozenset[int]] = {}
        self._node_allowed_memo: dict[int, frozenset[int]] = {}
        self._split = [_split_actions(row, prods.num_terminals) for row in self._actions]
        self._lock = threading.RLock()
        self.initial = self._intern_set(frozenset({0}))

    # -- interface -----------------------------------------------------------------------------
    @property
    def num_states(self) -> int:
        return len(self._sets)

    def allowed(self, state: int) -> frozenset[int]:
        found = self._allowed.get(state)
        if found is None:
            found = frozenset().union(*(self._node_allowed(n) for n in self._sets[state]))
            self._allowed[state] = found
        return found

    def _node_allowed(self, node: int) -> frozenset[int]:
        """Terminals that eventually shift from stack `node`: the top state's shifts, plus,
        for each rule it reduces, the reduced stack's allowed terminals among that rule's
        lookaheads here (one reduction per rule, not one simulation per terminal)."""
        found = self._node_allowed_memo.get(node)
        if found is not None:
            return found
        lr = self._nodes[node][1]
        shifts, reduces = self._split[lr]
        out = set(shifts)
        for rule, lookaheads in reduces:
            reduced = self._reduce_node(node, rule)
            if reduced >= 0:
                out |= lookaheads & self._node_allowed(reduced)
        found = frozenset(out)
        self._node_allowed_memo[node] = found
        return found

    def _reduce_node(self, node: int, rule: int) -> int:
        lhs, size = self._reduce[rule]
        cur = node
        for _ in range(size):
            cur = self._nodes[cur][0]
        goto = self._actions[self._nodes[cur][1]].get(lhs)
        return -1 if goto is None else self._push(cur, goto[1])

    def is_accepting(self, state: int) -> bool:
        return any(self._step(node, -1) >= 0 for node in self._sets[state])

    def advance(self, state: int, terminals: frozenset[int]) -> int:
        trans = self._trans[state]
        found = trans.get(terminals)
        if found is not None:
            return found
        nodes = {n for node in self._sets[state] for t in terminals
                 if (n := self._step(node, t)) >= 0}
        found = self._intern_set(frozenset(nodes)) if nodes else DEAD
        trans[terminals] = found
        return found

    def advance_many(self, state: int, lexemes: Sequence[frozenset[int]]) -> int:
        for terms in lexemes:
            if state == DEAD:
                return DEAD
            state = self.advance(state, terms)
        return state

    # -- stacks --------------------------------------------------------------------------------
    def _step(self, node: int, t: int) -> int:
        """The stack after shifting terminal t (-1: $END, returns the node itself when the
        input can end) or -1 when t is an error here."""
        key = (node, t)
        found = self._step_memo.get(key)
        if found is not None:
            return found
        cur = node
        result = -1
        while True:
            lr = self._nodes[cur][1]
            if t == -1 and lr == self._end_lr:
                result = node
                break
            act = self._actions[lr].get(t)
            if act is None:
                break
            shift, arg = act
            if shift:
                result = self._push(cur, arg)
                break
            lhs, size = self._reduce[arg]
            for _ in range(size):
                cur = self._nodes[cur][0]
            goto = self._actions[self._nodes[cur][1]].get(lhs)
            if goto is None:
                break
            cur = self._push(cur, goto[1])
        self._step_memo[key] = result
        return result

    def _push(self, parent: int, lr: int) -> int:
        key = (parent, lr)
        found = self._node_ids.get(key)
        if found is None:
            with self._lock:
                found = self._node_ids.get(key)
                if found is None:
                    found = len(self._nodes)
                    self._nodes.append(key)
                    self._node_ids[key] = found
        return found

    def _intern_set(self, nodes: frozenset[int]) -> int:
        found = self._set_ids.get(nodes)
        if found is None:
            with self._lock:
                found = self._set_ids.get(nodes)
                if found is None:
                    if len(self._sets) >= self.max_parser_states:
                        raise LimitExceededError("max_parser_states", len(self._sets) + 1,
                                                 self.max_parser_states,
                                                 "too many distinct parser states")
                    found = len(self._sets)
                    self._sets.append(nodes)
                    self._trans.append({})
                    self._set_ids[nodes] = found
        return found


def _split_actions(row: dict[int, tuple[bool, int]], num_terminals: int
                   ) -> tuple[frozenset[int], list[tuple[int, frozenset[int]]]]:
    """(terminals shifted here, [(rule, its lookahead terminals)]) of one LR state."""
    shifts = frozenset(t for t, (sh, _) in row.items() if sh and 0 <= t < num_terminals)
    by_rule: dict[int, set[int]] = {}
    for t, (sh, arg) in row.items():
        if not sh and 0 <= t < num_terminals:
            by_rule.setdefault(arg, set()).add(t)
    return shifts, [(r, frozenset(ts)) for r, ts in by_rule.items()]


def _build_table(prods: Productions, names: list[str]):
    """Lark's LALR(1) analysis of the productions (production 0, the augmented start, is
    Lark's own `$root_start`). Raises LalrUnavailable on reduce/reduce conflicts."""
    nt = prods.num_terminals

    def symbol(s: int):
        return Terminal(names[s]) if s < nt else NonTerminal(names[s])

    rules = [Rule(NonTerminal(_ROOT), [NonTerminal(names[prods.rhs[0][0]])], order=0)]
    for k in range(1, len(prods.lhs)):
        rules.append(Rule(NonTerminal(names[prods.lhs[k]]), [symbol(s) for s in prods.rhs[k]],
                          order=k))
    conf = ParserConf(rules, {}, [_ROOT])
    analyzer = LALR_Analyzer(conf, debug=True, strict=False)
    try:
        analyzer.compute_lalr()
    except LarkGrammarError as exc:
        raise LalrUnavailable(str(exc).splitlines()[0]) from exc
    table = analyzer.parse_table
    table.rules = rules
    return table
