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
states; the result is trimmed and minimised. A lookahead's automaton is built when a thread
first takes it, once per (start of the input or not, states of the monitors its body reads):
a lookbehind inside a lookahead looks back past where the lookahead began. Every automaton of
one pattern is over the same partition of the code points (all its character sets), so
obligations and monitors step with the threads' own classes.

The language is the set of strings some path matches, which is what backtracking engines
(ECMA-262, Python `re`) decide for patterns without backreferences: the tests compare with
Python `re` exhaustively on short strings.

Limits: NFA states (`Limits.max_nfa_states`) and DFA states (`Limits.max_dfa_states`, per
automaton) raise LimitExceededError; a lookbehind whose body holds a lookahead or `$` raises
GrammarError at its position.
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
_END_ID = 0         # its variant id


def lookaround_dfa(node: Node, pattern: str, limits: Limits = DEFAULT_LIMITS,
                   at_input_start: bool = True) -> CpAutomaton | None:
    """The DFA of the strings `node` matches whole (wrap it in any-loops for search
    semantics); None when it matches nothing. `at_input_start`: `^` may pass before the
    first character (False for a lookahead body spawned later in the input)."""
    with recursion_headroom(limits.max_nesting):     # the NFA is built by recursion
        return _Builder(node, pattern, limits).automaton(node, at_input_start, ())


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
    """Thompson NFA: `chars[s]` = (joint classes, target), `eps[s]` = (target, assertion);
    an assertion is () for none, ("start",), ("end",), ("ahead", lookahead id) or ("behind",
    monitor id, negative). `monitors`: those whose states it needs (its own lookbehinds' and those
    read inside its lookaheads)."""

    def __init__(self, builder: _Builder) -> None:
        self.builder = builder
        self.chars: list[list[tuple[list[int], int]]] = []
        self.eps: list[list[tuple[int, tuple]]] = []
        self.monitors: set[int] = set()
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
                self.chars[s].append((self.builder.class_ids[node.ranges], t))
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
            return self.edge(s, ("end",))
        if isinstance(node, Look):
            a = self.builder.assertion(node)
            self.monitors.update(self.builder.reads_of(a))
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


class _Table(NamedTuple):
    """An automaton over the joint classes: `step[q][c]` (-1 dead), `accepting`,
    `universal[q]` (every continuation accepted), `start` (-1: the empty language)."""
    step: list[list[int]]
    accepting: list[bool]
    universal: list[bool]
    start: int


class _Builder:
    """One pattern's automata over one partition of the code points (every character set of
    the pattern, and "any"). Lookahead bodies are registered as the NFA meets them and built
    per variant on first use (`obligation`); lookbehind monitors once each."""

    def __init__(self, root: Node, pattern: str, limits: Limits) -> None:
        self.pattern, self.limits = pattern, limits
        charsets = sorted({n.ranges for n in _walk(root) if isinstance(n, CharSet) and n.ranges}
                          | {ANY})
        alphabet = _Alphabet(charsets)
        self.k = alphabet.num_classes
        self.classes: list[Ranges] = [tuple(r) for r in alphabet.class_ranges]
        self.class_ids = dict(zip(charsets, alphabet.charset_classes))
        # obligation automata by variant id (0: "the rest is empty"), and their signs
        self.tables: list[_Table] = [_table(_END, self.k)]
        self.negative: list[bool] = [False]
        self._variant_ids: dict[tuple[int, bool, tuple[tuple[int, int], ...]], int] = {}
        self.looks: list[tuple[Node, bool, tuple[int, ...]]] = []  # body, negative, monitors
        self._look_ids: dict[Look, int] = {}
        self.monitors: list[_Table | None] = []
        self._monitor_ids: dict[Node, int] = {}

    def automaton(self, node: Node, at_input_start: bool,
                  init: tuple[tuple[int, int], ...]) -> CpAutomaton | None:
        """The DFA of `node` (full match); `init`: (monitor, state) where its input begins."""
        nfa = _Nfa(self)
        final = nfa.frag(node, nfa.start)
        return _Subsets(self, nfa, final, at_input_start, dict(init)).run()

    def assertion(self, node: Look) -> tuple:
        if node.ahead:
            lid = self._look_ids.get(node)
            if lid is None:
                reads = tuple(sorted({self.monitor(b) for b in _lookbehinds(node.child)}))
                lid = self._look_ids[node] = len(self.looks)
                self.looks.append((Concat((node.child, _ANY_LOOP), node.pos), node.negative,
                                   reads))
            return ("ahead", lid)
        return ("behind", self.monitor(node), node.negative)

    def reads_of(self, a: tuple) -> tuple[int, ...]:
        """The monitors whose states the assertion needs where it stands."""
        if a[0] == "behind":
            return (a[1],)
        return self.looks[a[1]][2] if a[0] == "ahead" else ()

    def monitor(self, node: Look) -> int:
        """The id of the monitor of lookbehind `node`'s body (built on first use)."""
        _check_behind(node.child, self.pattern)
        mid = self._monitor_ids.get(node.child)
        if mid is None:
            mid = self._monitor_ids[node.child] = len(self.monitors)
            self.monitors.append(None)      # its id is taken before nested builds
            built = self.automaton(Concat((_ANY_LOOP, node.child), node.pos), True, ())
            self.monitors[mid] = _table(built, self.k)
        return mid

    def obligation(self, lid: int, at_start: bool, init: tuple[tuple[int, int], ...]) -> int:
        """The variant id of lookahead `lid`'s automaton spawned at the input's start or not,
        with the monitors its body reads in states `init`."""
        key = (lid, at_start, init)
        vid = self._variant_ids.get(key)
        if vid is None:
            body, negative, _ = self.looks[lid]
            table = _table(self.automaton(body, at_start, init), self.k)
            vid = self._variant_ids[key] = len(self.tables)
            self.tables.append(table)
            self.negative.append(negative)
        return vid


def _walk(node: Node):
    yield node
    for child in _children(node):
        yield from _walk(child)


def _lookbehinds(node: Node):
    """The lookbehinds in `node`, inside its lookaheads too (not inside other lookbehinds:
    those run within their own monitor)."""
    if isinstance(node, Look) and not node.ahead:
        yield node
        return
    for child in _children(node):
        yield from _lookbehinds(child)


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


Thread = tuple[int, frozenset]      # (NFA state, obligations {(variant id, state)})


class _Subsets:
    """The subset construction over threads and monitor states (see the module docstring)."""

    def __init__(self, builder: _Builder, nfa: _Nfa, final: int, at_input_start: bool,
                 init: dict[int, int]) -> None:
        self.builder, self.nfa, self.final = builder, nfa, final
        self.at_input_start, self.init = at_input_start, init
        self.k = builder.k
        self.mon_ids = sorted(nfa.monitors)
        self.mon_index = {m: j for j, m in enumerate(self.mon_ids)}
        self.monitors = [builder.monitors[m] for m in self.mon_ids]
        self.moves: list[dict[int, list[int]]] = []
        for row in nfa.chars:
            moves: dict[int, list[int]] = {}
            for classes, t in row:
                for c in classes:
                    moves.setdefault(c, []).append(t)
            self.moves.append(moves)
        self.useful = [bool(row) or s == final for s, row in enumerate(nfa.chars)]
        self._closures: dict[tuple[Thread, tuple[int, ...], bool], frozenset] = {}
        self.reads = _monitor_reads(nfa, self.mon_index, builder)
        self._stepped_memo: dict[tuple[frozenset, int], frozenset | None] = {}

    def status(self, vid: int, q: int) -> int:
        """_FAIL, _DONE or _PENDING for obligation `vid` in state q."""
        holds = q >= 0 and self.builder.tables[vid].universal[q]
        if self.builder.negative[vid]:
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
        if a[0] == "end":
            vid = _END_ID
        else:
            init = tuple((m, mons[self.mon_index[m]]) for m in self.builder.looks[a[1]][2])
            vid = self.builder.obligation(a[1], at_start, init)
        q = self.builder.tables[vid].start
        st = self.status(vid, q)
        if st == _FAIL:
            return None
        return (t, ob) if st == _DONE else (t, ob | {(vid, q)})

    def accepting(self, threads: frozenset) -> bool:
        tables, negative = self.builder.tables, self.builder.negative
        for s, ob in threads:
            if s == self.final and all(
                    (q >= 0 and tables[vid].accepting[q]) != negative[vid] for vid, q in ob):
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
        for vid, q in ob:
            q2 = self.builder.tables[vid].step[q][c]
            st = self.status(vid, q2)
            if st == _FAIL:
                return None
            if st == _PENDING:
                kept.append((vid, q2))
        return frozenset(kept)

    def run(self) -> CpAutomaton | None:
        mons = tuple(self.init.get(m, t.start) if t is not None else -1
                     for m, t in zip(self.mon_ids, self.monitors))
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
        return CpAutomaton(rows, accepting, self.builder.classes)


def _monitor_reads(nfa: _Nfa, index: dict[int, int], builder: _Builder) -> list[int]:
    """Per NFA state, a bit set of the monitors (local indices) whose state some path from it
    reads (at a lookbehind, or where a lookahead whose body reads them begins)."""
    preds: list[list[int]] = [[] for _ in nfa.chars]
    reads = [0] * len(nfa.chars)
    for s in range(len(nfa.chars)):
        for _, t in nfa.chars[s]:
            preds[t].append(s)
        for t, a in nfa.eps[s]:
            preds[t].append(s)
            if a and a[0] != "start":
                for m in builder.reads_of(a):
                    reads[s] |= 1 << index[m]
    for j in range(len(index)):
        bit = 1 << j
        stack = [s for s in range(len(reads)) if reads[s] & bit]
        while stack:
            for p in preds[stack.pop()]:
                if not reads[p] & bit:
                    reads[p] |= bit
                    stack.append(p)
    return reads


def _table(a: CpAutomaton | None, k: int) -> _Table:
    """`a` (over the builder's classes) as a stepping table."""
    if a is None:
        return _Table([], [], [], -1)
    step = []
    for row in a.rows:
        out = [-1] * k
        for c, t in row:
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
    return _Table(step, list(a.accepting), universal, 0)
