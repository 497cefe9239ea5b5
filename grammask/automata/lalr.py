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

Dependency tracking (what makes masks reusable across contexts): every stack node has a
height, and every read of a node's LR state lowers `low`, the smallest height read since the
caller's `begin()`. Memoised answers remember the `low` of their computation and replay it on
a hit. A caller that computed something while `low` stayed within the top K nodes of a stack
knows the result holds for every stack with the same top K LR states (`window(node, K)`).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import numpy as np
from lark import logger as lark_logger
from lark.common import ParserConf
from lark.exceptions import GrammarError as LarkGrammarError
from lark.grammar import NonTerminal, Rule, Terminal
from lark.parsers.lalr_analysis import LALR_Analyzer, Shift

from ..errors import LimitExceededError
from .earley import DEAD, Productions, advance_lexemes
from .interning import Interner

_END = "$END"
_SENTINEL = 1
NO_LOW = 1 << 62
WINDOW = 6      # top-of-stack LR states a parser answer may be shared on
_ROOT = "$grammask_root"     # the augmented start (production 0); cannot clash with user rules


class DeepRead(Exception):
    """A computation on a window stack needed a node below the window (see virtual_state)."""


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
        self.conflicts: list[str] = table.conflicts     # shift/reduce, resolved as shift
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
        # node 0: the real bottom; node 1: the sentinel under window stacks (LR state -1: any
        # read of it raises DeepRead; popping past it stays on it)
        self._lock = threading.RLock()
        self._node_ids: Interner[tuple[int, int]] = Interner(self._lock)   # (parent, LR state)
        self._node_ids.id_of((-1, self._start_lr))
        self._node_ids.id_of((_SENTINEL, -1))
        self._nodes = self._node_ids.keys
        # the same nodes as arrays (parent, LR state) for the C walker (`c_tables`)
        self._node_parent = np.full(1024, _SENTINEL, np.int32)
        self._node_lr = np.full(1024, -1, np.int32)
        self._node_parent[0], self._node_lr[0] = -1, self._start_lr
        self._c_tables: tuple[np.ndarray, ...] | None = None
        self._height: list[int] = [0, 0]
        self._win: list[tuple[int, ...]] = [(self._start_lr,), (-1,)]   # top-WINDOW LR states
        self._virtual_by_top: dict[tuple[int, ...], int] = {}     # `virtual_state` per top
        self.low = NO_LOW
        self._set_ids: Interner[frozenset[int]] = Interner(self._lock)
        self._sets = self._set_ids.keys
        self._step_memo: dict[tuple[int, int], tuple[int, int]] = {}
        self._trans: list[dict[frozenset[int], tuple[int, int]]] = []
        self._allowed: dict[int, tuple[frozenset[int], int]] = {}
        self._node_allowed_memo: dict[tuple, tuple[frozenset[int], int]] = {}
        self._allowed_by_window: dict[tuple, frozenset[int]] = {}
        self._step_by_window: dict[tuple, tuple[int, tuple[int, ...]] | None] = {}
        self._split = [_split_actions(row, prods.num_terminals) for row in self._actions]
        self.initial = self._intern_set(frozenset({0}))

    # -- interface -----------------------------------------------------------------------------
    @property
    def num_states(self) -> int:
        return len(self._sets)

    # -- dependency tracking ----------------------------------------------------------------
    def begin(self) -> int:
        """Start tracking a computation; pass the result to `end`."""
        saved, self.low = self.low, NO_LOW
        return saved

    def end(self, saved: int) -> int:
        """The lowest height read since `begin` (also folded into the enclosing computation)."""
        inner = self.low
        if saved < inner:
            self.low = saved
        return inner

    def _replay(self, low: int) -> None:
        if low < self.low:
            self.low = low

    def _lr(self, node: int) -> int:
        h = self._height[node]
        if h < self.low:
            self.low = h
        lr = self._nodes[node][1]
        if lr < 0:
            raise DeepRead
        return lr

    def virtual_state(self, state: int, k: int) -> int:
        """A state whose stack has the same top `k` LR states as `state`'s, on the sentinel:
        what is computed from it without DeepRead holds for every stack with that top. -1 for
        states with several stacks."""
        nodes = self._sets[state]
        if len(nodes) != 1:
            return -1
        top = self.window(next(iter(nodes)), k)
        found = self._virtual_by_top.get(top)     # every stack with that top
        if found is None:
            found = self._virtual_by_top[top] = self.path_state(top[::-1])
        return found

    def window_paths(self, k: int, limit: int) -> list[tuple[int, ...]] | None:
        """Every top of stack `virtual_state(_, k)` can give, bottom first: the paths of k LR
        states along shift and goto edges (every state is reachable from the start, so each
        path tops some real stack), and the whole stacks shorter than k, which start at the
        start state. None when there are more than `limit` (enumerated breadth-first, so the
        count is checked before it grows past the limit by more than one level)."""
        succ = self.successors()
        short: list[tuple[int, ...]] = []
        level: list[tuple[int, ...]] = [(self._start_lr,)]
        paths: list[tuple[int, ...]] = [(s,) for s in range(len(self._actions))]
        for _ in range(k - 1):
            short.extend(level)
            if len(paths) + len(short) + len(level) > limit:
                return None
            level = [p + (s,) for p in level for s in succ[p[-1]]]
            paths = [p + (s,) for p in paths for s in succ[p[-1]]]
        out = sorted(set(paths) | set(short))
        return out if len(out) <= limit else None

    def successors(self) -> list[list[int]]:
        """The LR states each state shifts or goes to (sorted)."""
        return [sorted({arg for shift, arg in row.values() if shift}) for row in self._actions]

    def predecessors(self) -> list[list[int]]:
        """The LR states that shift or go to each state (sorted)."""
        pred: list[set[int]] = [set() for _ in self._actions]
        for lr, nexts in enumerate(self.successors()):
            for s in nexts:
                pred[s].add(lr)
        return [sorted(p) for p in pred]

    def path_state(self, path: Sequence[int]) -> int:
        """The window state whose stack is the LR states `path` (bottom first) on the
        sentinel: `virtual_state` of every stack with that top."""
        cur = _SENTINEL
        for lr in path:
            cur = self._push(cur, lr)
        return self._intern_set(frozenset({cur}))

    @property
    def start_lr(self) -> int:
        """The LR state at the bottom of every stack."""
        return self._start_lr

    def single_node(self, state: int) -> int:
        """The stack of `state` when it has exactly one, else -1."""
        nodes = self._sets[state]
        return next(iter(nodes)) if len(nodes) == 1 else -1

    def c_tables(self) -> tuple[np.ndarray, ...]:
        """(action [LR state, terminal]: shift s as s + 1, reduce r as -(r + 1), error 0;
        goto [LR state, symbol] or -1; rule lhs; rule length; node parents; node LR states)
        for `_kernels.LalrSim`. The node arrays are the live ones at their capacity (entries
        past the node count unused): a node created within it is seen at once; one that
        reallocates them makes new arrays, to be read again)."""
        if self._c_tables is None:
            nt, n = self.prods.num_terminals, len(self._actions)
            action = np.zeros((n, nt), np.int32)
            goto_ = np.full((n, self.prods.num_symbols), -1, np.int32)
            for lr, row in enumerate(self._actions):
                for sym, (shift, arg) in row.items():
                    if 0 <= sym < nt:
                        action[lr, sym] = arg + 1 if shift else -(arg + 1)
                    elif sym >= nt and shift:
                        goto_[lr, sym] = arg
            lhs = np.array([a for a, _ in self._reduce], np.int32)
            size = np.array([k for _, k in self._reduce], np.int32)
            self._c_tables = (action, goto_, lhs, size)
        return self._c_tables + (self._node_parent, self._node_lr)

    @property
    def node_parents(self) -> np.ndarray:
        """The node parent array `c_tables` hands out (a new object once it reallocates)."""
        return self._node_parent

    def height(self, node: int) -> int:
        return self._height[node]

    def window(self, node: int, k: int) -> tuple[int, ...]:
        """LR states of the top `k` nodes of a stack (all of them for a shorter stack; a
        window stack ends with the sentinel's -1). Kept per node for k <= WINDOW."""
        if k <= WINDOW:
            return self._win[node][:k]
        out: list[int] = []         # not memoised: callers keep what they derive from it
        while len(out) < k:
            parent, lr = self._nodes[node]
            out.append(lr)
            if parent < 0 or lr < 0:
                break
            node = parent
        return tuple(out)

    # -- queries -------------------------------------------------------------------------------
    def allowed(self, state: int) -> frozenset[int]:
        found = self._allowed.get(state)
        if found is not None:
            self._replay(found[1])
            return found[0]
        saved = self.begin()
        result = frozenset().union(*(self._node_allowed(n) for n in self._sets[state]))
        self._allowed[state] = (result, self.end(saved))
        return result

    def _node_allowed(self, node: int, wanted: frozenset[int] | None = None) -> frozenset[int]:
        """Terminals (among `wanted`, None: all) that eventually shift from stack `node`: the
        top state's shifts, plus, for each rule it reduces, the reduced stack's answer for
        that rule's lookaheads — restricted, so a reduction chain is only followed as deep as
        the terminals that need it (a `,` after a value looks one container up, not to the
        root)."""
        key = (node, wanted)
        found = self._node_allowed_memo.get(key)
        if found is not None:
            self._replay(found[1])
            return found[0]
        h = self._height[node]
        wkey = (self._win[node], wanted)
        shared = self._allowed_by_window.get(wkey)
        if shared is not None:                  # same top-of-stack, computed elsewhere
            low = max(h - WINDOW + 1, 0)
            self._replay(low)
            self._node_allowed_memo[key] = (shared, low)
            return shared
        saved = self.begin()
        shifts, reduces = self._split[self._lr(node)]
        out = set(shifts if wanted is None else shifts & wanted)
        for rule, lookaheads in reduces:
            need = lookaheads if wanted is None else lookaheads & wanted
            if not need:
                continue
            reduced = self._reduce_node(node, rule)
            if reduced >= 0:
                out |= self._node_allowed(reduced, need)
        result = frozenset(out)
        low = self.end(saved)
        self._node_allowed_memo[key] = (result, low)
        if low > h - WINDOW:
            self._allowed_by_window[wkey] = result
        return result

    def _reduce_node(self, node: int, rule: int) -> int:
        lhs, size = self._reduce[rule]
        cur = node
        for _ in range(size):
            cur = self._nodes[cur][0]
        goto = self._actions[self._lr(cur)].get(lhs)
        return -1 if goto is None else self._push(cur, goto[1])

    def is_accepting(self, state: int) -> bool:
        return any(self._step(node, -1) >= 0 for node in self._sets[state])

    def advance(self, state: int, terminals: frozenset[int]) -> int:
        trans = self._trans[state]
        found = trans.get(terminals)
        if found is not None:
            self._replay(found[1])
            return found[0]
        saved = self.begin()
        nodes = {n for node in self._sets[state] for t in terminals
                 if (n := self._step(node, t)) >= 0}
        result = self._intern_set(frozenset(nodes)) if nodes else DEAD
        trans[terminals] = (result, self.end(saved))
        return result

    advance_many = advance_lexemes

    # -- stacks --------------------------------------------------------------------------------
    def _step(self, node: int, t: int) -> int:
        """The stack after shifting terminal t (-1: $END, returns the node itself when the
        input can end) or -1 when t is an error here."""
        key = (node, t)
        found = self._step_memo.get(key)
        if found is not None:
            self._replay(found[1])
            return found[0]
        h = self._height[node]
        wkey = (self._win[node], t)
        rel = self._step_by_window.get(wkey)
        if rel is not None:                     # replay the same pops and pushes
            low = max(h - WINDOW + 1, 0)
            self._replay(low)
            result = self._apply(node, rel)
            self._step_memo[key] = (result, low)
            return result
        saved = self.begin()
        result = self._simulate(node, t)
        low = self.end(saved)
        self._step_memo[key] = (result, low)
        if low > h - WINDOW:
            self._step_by_window[wkey] = self._relative(node, result)
        return result

    def _apply(self, node: int, rel: tuple[int, tuple[int, ...]] | None) -> int:
        if rel is None:
            return -1
        pops, pushes = rel
        if pops < 0:                            # $END accepted: the stack itself
            return node
        cur = node
        for _ in range(pops):
            cur = self._nodes[cur][0]
        for lr in pushes:
            cur = self._push(cur, lr)
        return cur

    def _relative(self, node: int, result: int) -> tuple[int, tuple[int, ...]] | None:
        """`result` as (nodes popped from `node`, LR states pushed after)."""
        if result < 0:
            return None
        if result == node:
            return (-1, ())
        pushed = []
        a, b = node, result
        pops = 0
        while self._height[b] > self._height[a]:
            pushed.append(self._nodes[b][1])
            b = self._nodes[b][0]
        while self._height[a] > self._height[b]:
            a = self._nodes[a][0]
            pops += 1
        while a != b:
            pushed.append(self._nodes[b][1])
            b = self._nodes[b][0]
            a = self._nodes[a][0]
            pops += 1
        return pops, tuple(reversed(pushed))

    def _simulate(self, node: int, t: int) -> int:
        """The stack after terminal t: its reductions, then the shift. The LR states that
        reductions push stay in a local list (`above`) and only the final stack is
        interned: an expression grammar's chain of unit reductions would otherwise intern a
        node per passing goto. (Reading them never lowers `low`: they lie above nodes read.)"""
        cur = node
        above: list[int] = []
        while True:
            lr = above[-1] if above else self._lr(cur)
            if t == -1 and lr == self._end_lr:
                return node
            act = self._actions[lr].get(t)
            if act is None:
                return -1
            shift, arg = act
            if shift:
                for s in above:
                    cur = self._push(cur, s)
                return self._push(cur, arg)
            lhs, size = self._reduce[arg]
            if size <= len(above):
                del above[len(above) - size:]
            else:
                for _ in range(size - len(above)):
                    cur = self._nodes[cur][0]
                above.clear()
            goto = self._actions[above[-1] if above else self._lr(cur)].get(lhs)
            if goto is None:
                return -1
            above.append(goto[1])

    def _push(self, parent: int, lr: int) -> int:
        return self._node_ids.id_of((parent, lr), self._new_node)

    def _new_node(self, key: tuple[int, int]) -> None:
        parent, lr = key
        n = len(self._nodes)
        if n == self._node_parent.shape[0]:
            self._node_parent = np.concatenate([self._node_parent, self._node_parent])
            self._node_lr = np.concatenate([self._node_lr, self._node_lr])
        self._node_parent[n], self._node_lr[n] = parent, lr
        self._height.append(self._height[parent] + 1)
        self._win.append(((lr,) + self._win[parent])[:WINDOW])

    def _intern_set(self, nodes: frozenset[int]) -> int:
        return self._set_ids.id_of(nodes, self._new_set)

    def _new_set(self, nodes: frozenset[int]) -> None:
        if len(self._sets) >= self.max_parser_states:
            raise LimitExceededError("max_parser_states", len(self._sets) + 1,
                                     self.max_parser_states, "too many distinct parser states")
        self._trans.append({})


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
    from ..limits import interruptible      # max_compile_seconds inside Lark's analysis
    with interruptible("Lark's LALR analysis"):
        analyzer = LALR_Analyzer(conf, debug=True, strict=False)
    conflicts = _ConflictLog()
    level, propagate, handlers = lark_logger.level, lark_logger.propagate, lark_logger.handlers
    lark_logger.handlers = [conflicts]
    lark_logger.setLevel(logging.DEBUG)
    lark_logger.propagate = False           # collected here, not printed
    try:
        with interruptible("Lark's LALR analysis"):
            analyzer.compute_lalr()
    except LarkGrammarError as exc:
        raise LalrUnavailable(str(exc).splitlines()[0]) from exc
    finally:
        lark_logger.handlers = handlers
        lark_logger.setLevel(level)
        lark_logger.propagate = propagate
    table = analyzer.parse_table
    table.rules = rules
    table.conflicts = conflicts.terminals
    return table


class _ConflictLog(logging.Handler):
    """Collects the terminals of shift/reduce conflicts Lark resolves (it logs them)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.terminals: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("Shift/Reduce conflict for terminal"):
            self.terminals.append(msg.split("terminal", 1)[1].split(":")[0].strip())
