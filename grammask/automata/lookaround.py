r"""Code-point DFAs of patterns with lookaround assertions (`(?=` `(?!` `(?<=` `(?<!`, `\b`,
`\B`) and anchors wherever they stand, exact.

Why: schemas in the wild guard names with `^(?!reserved)`, forbid substrings with tempered
dots `((?!--).)*` and bound lengths with `(?=.{1,255}$)`. Lookaround keeps a language
regular, so such patterns can be enforced exactly instead of refused.

How: a Thompson NFA over code points whose ε-edges may carry an assertion. A thread (an NFA
state) carries the lookaheads it still owes as *obligations* (automaton, state): "the rest of
the input is (negative: is not) in L", L being the lookahead's body followed by anything (`$`
in the body: the end of the input). Each character steps every obligation of a thread; the
thread dies when one fails for sure (positive: L's state is dead; negative: every rest is in
L from there) and drops one that holds for sure; at the end of the input an obligation holds
when its state accepts (negative: does not). `$` is the obligation "the rest is empty", `^`
passes only before the first character. Lookbehinds are deterministic *monitors* run over
the whole input (the language "anything, then the body"), read where the assertion stands.
The subset construction runs over sets of (NFA state, obligations) threads plus the monitors'
states; the result is trimmed and minimised.

The language is the set of strings some path matches, which is what backtracking engines
(ECMA-262, Python `re`) decide for patterns without backreferences: the tests compare with
Python `re` exhaustively on short strings.

Limits: NFA states (`Limits.max_nfa_states`) and DFA states (`Limits.max_dfa_states`) raise
LimitExceededError; a lookbehind whose body holds a lookahead or `$`, and a lookbehind (or
`\b`) inside a lookahead, raise GrammarError at their position.
"""
from __future__ import annotations

from typing import NamedTuple

from ..errors import GrammarError, LimitExceededError
from ..limits import DEFAULT_LIMITS, Limits, checkpoint
from .dfa import ByteDFA, _Alphabet, _minimize, _trim, expand_utf8
from .regex_parser import (ANY, Alt, Anchor, CharSet, Concat, Empty, Look, Node, Ranges, Repeat,
                           recursion_headroom)

__all__ = ["CpAutomaton", "lookaround_byte_dfa", "lookaround_dfa"]

Rows = list[list[tuple[int, int]]]
_ANY_LOOP = Repeat(CharSet(ANY, 0), 0, None, 0)
_FAIL, _DONE, _PENDING = 0, 1, 2


class CpAutomaton(NamedTuple):
    """A trimmed, minimal DFA over code-point classes: `rows[s]` = sorted (class, target),
    `classes[c]` the code points of class c, start state 0."""
    rows: Rows
    accepting: list[bool]
    classes: list[Ranges]


# The obligation "the rest is empty" (`$`): accepts the empty string only.
_END = CpAutomaton([[]], [True], [])


def lookaround_dfa(node: Node, pattern: str, limits: Limits = DEFAULT_LIMITS,
                   at_input_start: bool = True) -> CpAutomaton | None:
    """The DFA of the strings `node` matches whole (wrap it in any-loops for search
    semantics); None when it matches nothing. `at_input_start`: `^` may pass before the
    first character (False for a lookahead body spawned later in the input)."""
    with recursion_headroom(limits.max_nesting):     # the NFA is built by recursion
        return _Builder(pattern, limits).automaton(node, at_input_start)


def lookaround_byte_dfa(node: Node, pattern: str, limits: Limits = DEFAULT_LIMITS) -> ByteDFA:
    """The byte DFA of the texts `node` matches whole (the regex dialect's full match);
    GrammarError when it matches nothing, as `dfa.code_point_dfa` says it."""
    found = lookaround_dfa(node, pattern, limits)
    if found is None:
        raise GrammarError("pattern matches no string", pattern, 0)
    alphabet = _Alphabet(found.classes)       # disjoint classes: one alphabet class each
    own = [members[0] for members in alphabet.charset_classes]
    rows = [[(own[c], t) for c, t in row] for row in found.rows]
    return expand_utf8([sorted(r) for r in rows], found.accepting, alphabet, pattern, limits)


class _Nfa:
    """Thompson NFA: `chars[s]` = (charset id, target), `eps[s]` = (target, assertion);
    an assertion is () for none, ("start",), ("ahead", id at input start, id elsewhere) or
    ("behind", monitor id, negative)."""

    def __init__(self, builder: _Builder) -> None:
        self.builder = builder
        self.chars: list[list[tuple[int, int]]] = []
        self.eps: list[list[tuple[int, tuple]]] = []
        self.charsets: list[Ranges] = []
        self._charset_ids: dict[Ranges, int] = {}
        self.subs: set[int] = {0}          # the builder's obligation automata it refers to
        self.monitors: set[int] = set()     # and monitors
        self.start = self.state()

    def state(self) -> int:
        n = len(self.chars)
        limit = self.builder.limits.max_nfa_states
        if n >= limit:
            raise LimitExceededError("max_nfa_states", n + 1, limit,
                                     "pattern expands to too many NFA states",
                                     self.builder.pattern, None)
        if not n & 4095:
            checkpoint("a lookaround pattern's NFA")
        self.chars.append([])
        self.eps.append([])
        return n

    def edge(self, s: int, assertion: tuple = ()) -> int:
        t = self.state()
        self.eps[s].append((t, assertion))
        return t

    def frag(self, node: Node, s: int) -> int:
        """Add `node`'s fragment starting at state `s`; returns its end state."""
        if isinstance(node, CharSet):
            t = self.state()
            if node.ranges:
                cs = self._charset_ids.setdefault(node.ranges, len(self.charsets))
                if cs == len(self.charsets):
                    self.charsets.append(node.ranges)
                self.chars[s].append((cs, t))
            return t
        if isinstance(node, Concat):
            for item in node.items:
                s = self.frag(item, s)
            return s
        if isinstance(node, Alt):
            end = self.state()
            for option in node.options:
                self.eps[self.frag(option, self.edge(s))].append((end, ()))
            return end
        if isinstance(node, Repeat):
            return self.repeat(node, s)
        if isinstance(node, Anchor):
            if node.kind == "start":
                return self.edge(s, ("start",))
            return self.edge(s, ("ahead", 0, 0))
        if isinstance(node, Look):
            a = self.builder.assertion(node)
            if a[0] == "ahead":
                self.subs.update(a[1:])
            else:
                self.monitors.add(a[1])
            return self.edge(s, a)
        assert isinstance(node, Empty)
        return s

    def repeat(self, node: Repeat, s: int) -> int:
        """x{m,n} = x^m (x (x ...)?)? ; x{m,} = x^m x* (a loop state)."""
        for _ in range(node.min):
            s = self.frag(node.child, s)
        if node.max is None:
            loop = self.edge(s)
            self.eps[self.frag(node.child, loop)].append((loop, ()))
            return loop
        end = self.state()
        for _ in range(node.max - node.min):
            self.eps[s].append((end, ()))
            s = self.frag(node.child, s)
        self.eps[s].append((end, ()))
        return end


class _Builder:
    """Builds one pattern's automata; lookahead bodies and lookbehind monitors are built
    once each (memoised by node) and shared by every place they stand."""

    def __init__(self, pattern: str, limits: Limits) -> None:
        self.pattern, self.limits = pattern, limits
        self.subs: list[tuple[CpAutomaton | None, bool]] = [(_END, False)]
        self.monitors: list[CpAutomaton | None] = []
        self._memo: dict[tuple[Node, bool], CpAutomaton | None] = {}
        self._ids: dict[tuple[Node, bool, bool], int] = {}
        self.in_lookahead = False

    def automaton(self, node: Node, at_input_start: bool) -> CpAutomaton | None:
        nfa = _Nfa(self)
        final = nfa.frag(node, nfa.start)
        return _Subsets(self, nfa, final, at_input_start).run()

    def assertion(self, node: Look) -> tuple:
        if node.ahead:
            body = Concat((node.child, _ANY_LOOP), node.pos)
            return ("ahead", self._sub(body, node.negative, True),
                    self._sub(body, node.negative, False))
        if self.in_lookahead:
            raise GrammarError("a lookbehind (or \\b) inside a lookahead is not supported",
                               self.pattern, node.pos)
        _check_behind(node.child, self.pattern)
        key = (Concat((_ANY_LOOP, node.child), node.pos), True, False)
        mid = self._ids.get(key)
        if mid is None:
            mid = self._ids[key] = len(self.monitors)
            self.monitors.append(None)             # its id is taken before nested builds
            self.monitors[mid] = self._built(key[0], True)
        return ("behind", mid, node.negative)

    def _sub(self, body: Node, negative: bool, at_input_start: bool) -> int:
        key = (body, negative, at_input_start)
        sid = self._ids.get(key)
        if sid is None:
            sid = self._ids[key] = len(self.subs)
            self.subs.append((None, negative))     # its id is taken before nested builds
            saved, self.in_lookahead = self.in_lookahead, True
            try:
                self.subs[sid] = (self._built(body, at_input_start), negative)
            finally:
                self.in_lookahead = saved
        return sid

    def _built(self, node: Node, at_input_start: bool) -> CpAutomaton | None:
        key = (node, at_input_start)
        if key not in self._memo:
            self._memo[key] = self.automaton(node, at_input_start)
        return self._memo[key]


def _check_behind(node: Node, pattern: str) -> None:
    """A monitor runs up to where the lookbehind stands: its body cannot look past it."""
    if isinstance(node, Look) and node.ahead or isinstance(node, Anchor) and node.kind == "end":
        raise GrammarError("a lookbehind cannot hold a lookahead or `$`", pattern, node.pos)
    for child in _children(node):
        _check_behind(child, pattern)


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Concat):
        return node.items
    if isinstance(node, Alt):
        return node.options
    if isinstance(node, (Repeat, Look)):
        return (node.child,)
    return ()


class _Table(NamedTuple):
    """An automaton over the joint classes: `step[q][c]` (-1 dead), `accepting`, and
    `universal[q]` (every continuation accepted)."""
    step: list[list[int]]
    accepting: list[bool]
    universal: list[bool]


Thread = tuple[int, frozenset]      # (NFA state, obligations {(sub id, state)})


class _Subsets:
    """The subset construction over threads and monitor states (see the module docstring)."""

    def __init__(self, builder: _Builder, nfa: _Nfa, final: int, at_input_start: bool) -> None:
        self.builder, self.nfa, self.final = builder, nfa, final
        self.at_input_start = at_input_start
        charsets = list(nfa.charsets)
        sub_ids, self.mon_ids = sorted(nfa.subs), sorted(nfa.monitors)
        autos = [builder.subs[i][0] for i in sub_ids] + [builder.monitors[i] for i in self.mon_ids]
        firsts = []
        for a in autos:
            firsts.append(len(charsets))
            charsets.extend(a.classes if a is not None else [])
        self.alphabet = _Alphabet(charsets)
        k = self.k = self.alphabet.num_classes
        members = self.alphabet.charset_classes
        tables = [_table(a, members[f:f + len(a.classes)] if a else [], k)
                  for a, f in zip(autos, firsts)]
        self.subs = dict(zip(sub_ids, tables))
        self.negative = {i: builder.subs[i][1] for i in sub_ids}
        self.monitors = tables[len(sub_ids):]
        self.mon_index = {m: j for j, m in enumerate(self.mon_ids)}
        self.moves: list[dict[int, list[int]]] = []
        for row in nfa.chars:
            moves: dict[int, list[int]] = {}
            for cs, t in row:
                for c in members[cs]:
                    moves.setdefault(c, []).append(t)
            self.moves.append(moves)
        self.useful = [bool(row) or s == final for s, row in enumerate(nfa.chars)]
        self._closures: dict[tuple[Thread, tuple[int, ...], bool], frozenset] = {}
        self.reads = _monitor_reads(nfa, self.mon_index)
        self._stepped_memo: dict[tuple[frozenset, int], frozenset | None] = {}

    def status(self, sid: int, q: int) -> int:
        """_FAIL, _DONE or _PENDING for obligation `sid` in state q."""
        table = self.subs[sid]
        holds = q >= 0 and table.universal[q]
        if self.negative[sid]:
            return _FAIL if holds else _DONE if q < 0 else _PENDING
        return _DONE if holds else _FAIL if q < 0 else _PENDING

    def closure(self, seed: Thread, mons: tuple[int, ...], at_start: bool) -> frozenset:
        """The useful threads ε-reachable from `seed` (memoised: DFA states share them)."""
        key = (seed, mons, at_start)
        found = self._closures.get(key)
        if found is not None:
            return found
        seen = {seed}
        stack = [seed]
        while stack:
            s, ob = stack.pop()
            for t, a in self.nfa.eps[s]:
                nxt = self._follow(t, ob, a, mons, at_start)
                if nxt is not None and nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        found = self._closures[key] = frozenset(x for x in seen if self.useful[x[0]])
        return found

    def _follow(self, t: int, ob: frozenset, a: tuple, mons: tuple[int, ...],
                at_start: bool) -> Thread | None:
        if not a:
            return t, ob
        if a[0] == "start":
            return (t, ob) if at_start else None
        if a[0] == "behind":
            j = self.mon_index[a[1]]
            q = mons[j]
            holds = q >= 0 and self.monitors[j].accepting[q]
            return (t, ob) if holds != a[2] else None
        sid = a[1] if at_start else a[2]
        q = 0 if self.builder.subs[sid][0] is not None else -1
        st = self.status(sid, q)
        if st == _FAIL:
            return None
        return (t, ob) if st == _DONE else (t, ob | {(sid, q)})

    def accepting(self, threads: frozenset) -> bool:
        for s, ob in threads:
            if s == self.final and all(
                    (q >= 0 and self.subs[sid].accepting[q]) != self.negative[sid]
                    for sid, q in ob):
                return True
        return False

    def successors(self, threads: frozenset, mons: tuple[int, ...]
                   ) -> dict[int, tuple[frozenset, tuple[int, ...]]]:
        """The DFA state after each class with a live thread: threads stepped (obligations
        too), monitors stepped, ε-closure."""
        seeds: dict[int, set[Thread]] = {}
        for s, ob in threads:
            for c, targets in self.moves[s].items():
                ob2 = self._stepped(ob, c) if ob else ob
                if ob2 is not None:
                    seeds.setdefault(c, set()).update((t, ob2) for t in targets)
        out = {}
        for c, seed in seeds.items():
            mons2 = tuple(m.step[q][c] if q >= 0 else q for m, q in zip(self.monitors, mons))
            closed = frozenset().union(*(self.closure(x, mons2, False) for x in seed))
            if closed:
                out[c] = (closed, self._relevant(closed, mons2))
        return out

    def _relevant(self, threads: frozenset, mons: tuple[int, ...]) -> tuple[int, ...]:
        """Monitor states no thread can read any more become -2 (so states differing only
        there are one): threads only move forward, so such a monitor is never read again."""
        if not mons:
            return mons
        read = 0
        for s, _ in threads:
            read |= self.reads[s]
        return tuple(q if read >> j & 1 else -2 for j, q in enumerate(mons))

    def _stepped(self, ob: frozenset, c: int) -> frozenset | None:
        """Obligations after class c: None when one fails, those that hold dropped
        (memoised: the threads of a state mostly owe the same)."""
        key = (ob, c)
        if key in self._stepped_memo:
            return self._stepped_memo[key]
        found = self._stepped_memo[key] = self._step_obligations(ob, c)
        return found

    def _step_obligations(self, ob: frozenset, c: int) -> frozenset | None:
        kept = []
        for sid, q in ob:
            q2 = self.subs[sid].step[q][c]
            st = self.status(sid, q2)
            if st == _FAIL:
                return None
            if st == _PENDING:
                kept.append((sid, q2))
        return frozenset(kept)

    def run(self) -> CpAutomaton | None:
        mons = tuple(0 if self.builder.monitors[m] is not None else -1 for m in self.mon_ids)
        closed = self.closure((self.nfa.start, frozenset()), mons, self.at_input_start)
        first = (closed, self._relevant(closed, mons))
        ids = {first: 0}
        order = [first]
        rows: Rows = []
        limit = self.builder.limits.max_dfa_states
        for threads, mons in order:
            row = []
            for c, nxt in sorted(self.successors(threads, mons).items()):
                t = ids.setdefault(nxt, len(order))
                if t == len(order):
                    if t >= limit:
                        raise LimitExceededError(
                            "max_dfa_states", t + 1, limit,
                            "the pattern's lookaround automaton has too many states",
                            self.builder.pattern, None)
                    if not t & 255:
                        checkpoint("a lookaround automaton")
                    order.append(nxt)
                row.append((c, t))
            rows.append(row)
        accepting = [self.accepting(threads) for threads, _ in order]
        trimmed = _trim(rows, accepting)
        if trimmed is None:
            return None
        rows, accepting = _minimize(*trimmed, self.k)
        return CpAutomaton(rows, accepting, [tuple(r) for r in self.alphabet.class_ranges])


def _monitor_reads(nfa: _Nfa, index: dict[int, int]) -> list[int]:
    """Per NFA state, a bit set of the monitors (local indices) whose lookbehind some path
    from it passes."""
    preds: list[list[int]] = [[] for _ in nfa.chars]
    reads = [0] * len(nfa.chars)
    for s in range(len(nfa.chars)):
        for _, t in nfa.chars[s]:
            preds[t].append(s)
        for t, a in nfa.eps[s]:
            preds[t].append(s)
            if a and a[0] == "behind":
                reads[s] |= 1 << index[a[1]]
    for j in range(len(index)):
        bit = 1 << j
        stack = [s for s in range(len(reads)) if reads[s] & bit]
        while stack:
            for p in preds[stack.pop()]:
                if not reads[p] & bit:
                    reads[p] |= bit
                    stack.append(p)
    return reads


def _table(a: CpAutomaton | None, class_members: list[list[int]], k: int) -> _Table:
    """`a` over the joint classes (`class_members[j]`: the joint classes inside a's class j)."""
    if a is None:
        return _Table([], [], [])
    step = []
    for row in a.rows:
        out = [-1] * k
        for j, t in row:
            for c in class_members[j]:
                out[c] = t
        step.append(out)
    universal = list(a.accepting)
    changed = True
    while changed:
        changed = False
        for q, out in enumerate(step):
            if universal[q] and any(t < 0 or not universal[t] for t in out):
                universal[q] = False
                changed = True
    return _Table(step, list(a.accepting), universal)
