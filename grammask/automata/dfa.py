"""Regex AST -> minimal, trimmed, byte-level DFA (`ByteDFA`).

Pipeline, and why each step looks the way it does:

1. **Position automaton** (Glushkov: the epsilon-free form of Thompson's construction). Each
   occurrence of a character set after expanding counted repetitions is one NFA state
   ("position", counted against `max_nfa_states`); `follow[p]` is the set of positions that may
   come next. There are no epsilon edges: the epsilon closures are folded into `follow` while
   it is built. Counted repetitions `x{m,n}` are expanded as `x^m (x (x ...)?)?` so DFA states
   stay small. Position sets are big-int bitsets stored relative to their lowest element.
2. **Alphabet compression.** The code-point space is cut into equivalence classes: intervals
   that belong to exactly the same character sets. Subset construction works per class; for
   dense candidate sets the positions reachable on class `c` are one big-int AND.
3. **Subset construction** over code-point classes, counting states as it goes so
   `(a|b)*a(a|b){25}` fails fast with `LimitExceededError` instead of exhausting memory.
4. **Trim** (drop states that cannot reach acceptance) and **minimise**, still over code-point
   classes: Hopcroft (Valmari's variant for partial DFAs), or linear-time hash-consing when the
   automaton is acyclic (enums, dates, fixed formats).
5. **UTF-8 expansion.** Each code-point transition becomes a small byte trie from
   `utf8.ranges_to_utf8`. Intermediate (mid-character) states are hash-consed on their canonical
   transition list. This keeps the result minimal: a mid-character state's language is fixed by
   how many continuation bytes remain and which (pairwise inequivalent) state each byte string
   leads to, so equal canonical transition lists <=> equal languages, and a mid-character state
   never equals a character-boundary state (only the former starts with a continuation byte).
   Determinising at the code-point level rather than on a byte NFA is what keeps compile times
   in the low milliseconds: `[^"]{0,200}` is 201 states over 2 symbols instead of ~1600 states
   over ~15 byte classes to determinise and minimise.

The resulting `ByteDFA` only accepts valid UTF-8 and every transition that is not -1 can still
reach an accepting state, so `state != -1` means "this prefix can still be completed".
"""
from __future__ import annotations

from bisect import bisect_left
from itertools import chain
from typing import Iterator

import numpy as np

from ..errors import GrammarError, LimitExceededError
from ..limits import (DEFAULT_LIMITS, STATE_ROW_BYTES, Limits, charge_table, checkpoint,
                      current_budget, table_states_left)
from .regex_parser import (Alt, CharSet, Concat, Node, Ranges, Repeat, anchors_at_ends,
                           has_look, parse_regex, recursion_headroom)
from .utf8 import ranges_to_utf8

Rows = list[list[tuple[int, int]]]   # per state: (symbol, target) pairs, sorted by symbol


# ----------------------------------------------------------------------------- ByteDFA
class ByteDFA:
    """A deterministic automaton over bytes: minimal, trimmed, start state 0.

    `trans[s, b]` is the next state or -1 (dead: no completion exists); `accepting[s]` marks
    states where the bytes read so far form a complete match."""

    __slots__ = ("trans", "accepting", "start", "_flat")

    def __init__(self, trans: np.ndarray, accepting: np.ndarray) -> None:
        self.trans = np.ascontiguousarray(trans, dtype=np.int32)
        self.accepting = np.ascontiguousarray(accepting, dtype=bool)
        if self.trans.ndim != 2 or self.trans.shape[1] != 256 or \
                self.accepting.shape != (self.trans.shape[0],) or self.trans.shape[0] == 0:
            raise ValueError("ByteDFA needs trans of shape (n, 256) and accepting of shape (n,)")
        self.start = 0
        self._flat: memoryview | None = None
        charge_table(self.trans.nbytes + self.accepting.nbytes, "a byte DFA")

    @property
    def num_states(self) -> int:
        return int(self.trans.shape[0])

    def _table(self) -> memoryview:
        """Flat int view: indexing a memoryview is ~5x faster than numpy scalar indexing."""
        if self._flat is None:
            self._flat = memoryview(self.trans.reshape(-1))
        return self._flat

    def step(self, state: int, data: bytes) -> int:
        """State after reading `data` from `state`; -1 once dead (and stays -1)."""
        table = self._table()
        for b in data:
            if state < 0:
                return -1
            state = table[(state << 8) | b]
        return state

    def matches(self, data: bytes) -> bool:
        """Whether `data` as a whole is in the language."""
        state = self.step(self.start, data)
        return state >= 0 and bool(self.accepting[state])

    def is_live_prefix(self, data: bytes) -> bool:
        """Whether some extension of `data` (possibly empty) is in the language."""
        return self.step(self.start, data) >= 0

    def memory_bytes(self) -> int:
        return int(self.trans.nbytes + self.accepting.nbytes)

    def __getstate__(self) -> tuple[np.ndarray, np.ndarray]:
        return self.trans, self.accepting

    def __setstate__(self, state: tuple[np.ndarray, np.ndarray]) -> None:
        self.trans, self.accepting = state
        self.start = 0
        self._flat = None

    def __repr__(self) -> str:
        return f"ByteDFA(num_states={self.num_states}, accepting={int(self.accepting.sum())})"


def literal_dfa(text: bytes) -> ByteDFA:
    """The minimal DFA of exactly `text` (non-empty): a chain, built directly (~100x cheaper
    than compiling the escaped pattern, which grammars with thousands of literals feel)."""
    if not text:
        raise ValueError("literal_dfa needs a non-empty text")
    trans = np.full((len(text) + 1, 256), -1, np.int32)
    trans[np.arange(len(text)), np.frombuffer(text, np.uint8)] = np.arange(1, len(text) + 1)
    accepting = np.zeros(len(text) + 1, np.bool_)
    accepting[-1] = True
    return ByteDFA(trans, accepting)


def compile_regex_dfa(pattern: str, limits: Limits = DEFAULT_LIMITS, *,
                      lookaround: bool = False) -> ByteDFA:
    """Compile `pattern` (full-match semantics over UTF-8 bytes) to a minimal `ByteDFA`.
    `lookaround`: lookaround assertions and `\\b`/`\\B` are allowed, and anchors anywhere
    (the regex dialect of `compile_regex`; a grammar's terminals keep refusing them, since
    there a lookahead would look past the terminal). Such patterns are built by
    `automata.lookaround`, the others by the position automaton here."""
    node = parse_regex(pattern, limits, lookaround=lookaround, anchors_anywhere=lookaround)
    if lookaround and (has_look(node) or not anchors_at_ends(node, pattern)):
        # imported here: the lookaround builder builds on this module
        from .lookaround import lookaround_byte_dfa
        return lookaround_byte_dfa(node, pattern, limits)
    return dfa_from_ast(node, pattern, limits)


def expand_utf8(rows: Rows, accepting: list[bool], alphabet: _Alphabet, pattern: str,
                limits: Limits = DEFAULT_LIMITS) -> ByteDFA:
    """The byte DFA of a code-point DFA over `alphabet`'s classes."""
    return _Utf8Expander(alphabet, limits, pattern).expand(rows, accepting)


def dfa_from_ast(node: Node, pattern: str, limits: Limits = DEFAULT_LIMITS) -> ByteDFA:
    """Build the byte DFA for an already-parsed AST; `pattern` is only used in errors."""
    rows, accepting, alphabet = code_point_dfa(node, pattern, limits)
    return _Utf8Expander(alphabet, limits, pattern).expand(rows, accepting)


def code_point_dfa(node: Node, pattern: str,
                   limits: Limits = DEFAULT_LIMITS) -> tuple[Rows, list[bool], "_Alphabet"]:
    """The minimal, trimmed DFA over code-point classes (every stage before UTF-8 expansion),
    for callers that transform the language at the code-point level first."""
    with recursion_headroom(limits.max_nesting):
        _count_positions(node, limits, pattern)
        positions = _Positions()
        positions.build(node)
    alphabet = _Alphabet(positions.charsets)
    rows, accepting = _determinize(positions, alphabet, limits, pattern)
    trimmed = _trim(rows, accepting)
    if trimmed is None:
        raise GrammarError("pattern matches no string", pattern, 0)
    rows, accepting = _minimize(*trimmed, alphabet.num_classes)
    return rows, accepting, alphabet


def _memory_error(states: int, where: str) -> None:
    """`max_memory_bytes` would be passed by a table of `states` more rows."""
    budget = current_budget()
    assert budget is not None
    budget.memory_error(budget.used_bytes + states * STATE_ROW_BYTES, where)


# ----------------------------------------------------------------------------- position sets
PosSet = tuple[int, int]
"""Positions as (offset, bits): bit i of `bits` is position offset + i; normalised so bit 0 is
set, (0, 0) being the empty set, hence canonical and hashable. Relative rather than absolute
bitsets so a set costs memory for its span, not for its largest element: with absolute ints
the follow sets of a long chain like `(a{1000}){1000}` would need O(n^2) bits."""
EMPTY: PosSet = (0, 0)


def _bits(mask: int) -> Iterator[int]:
    """Indices of set bits, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def _union(a: PosSet, b: PosSet) -> PosSet:
    if not a[1]:
        return b
    if not b[1]:
        return a
    if a[0] <= b[0]:
        return a[0], a[1] | (b[1] << (b[0] - a[0]))
    return b[0], b[1] | (a[1] << (a[0] - b[0]))


def _union_all(sets: list[PosSet]) -> PosSet:
    """Union of many sets: one shared base for a few, else pairwise (tree) unions, which cost
    O(span log n) instead of the O(span n) of a left fold."""
    sets = [x for x in sets if x[1]]
    if len(sets) <= 16:
        if not sets:
            return EMPTY
        base = min(x[0] for x in sets)
        acc = 0
        for o, b in sets:
            acc |= b << (o - base)
        return base, acc
    while len(sets) > 1:
        odd = sets[-1:] if len(sets) & 1 else []
        sets = [_union(a, b) for a, b in zip(sets[::2], sets[1::2])] + odd
    return sets[0]


def _intersects(a: PosSet, b: PosSet) -> bool:
    if a[0] > b[0]:
        a, b = b, a
    return bool((a[1] >> (b[0] - a[0])) & b[1])


def _normalized(offset: int, bits: int) -> PosSet:
    low = (bits & -bits).bit_length() - 1
    return offset + low, bits >> low


def _from_sorted(positions: list[int]) -> PosSet:
    off = positions[0]
    bits = 0
    for q in positions:
        bits |= 1 << (q - off)
    return off, bits


# ----------------------------------------------------------------------------- positions
def _count_positions(node: Node, limits: Limits, pattern: str) -> int:
    """Positions the expansion will create; checked before building anything."""
    if isinstance(node, CharSet):
        count = 1 if node.ranges else 0
    elif isinstance(node, Concat):
        count = sum(_count_positions(x, limits, pattern) for x in node.items)
    elif isinstance(node, Alt):
        count = sum(_count_positions(x, limits, pattern) for x in node.options)
    elif isinstance(node, Repeat):
        copies = node.max if node.max is not None else max(node.min, 1)
        count = _count_positions(node.child, limits, pattern) * copies
    else:
        count = 0
    if count > limits.max_nfa_states:
        raise LimitExceededError("max_nfa_states", count, limits.max_nfa_states,
                                 "regex expands to too many NFA states", pattern, node.pos)
    return count


Frag = tuple[bool, PosSet, PosSet]   # (nullable, first, last) of a sub-expression


class _Positions:
    """Glushkov automaton: position 0 is the start, `follow[p]` the set of successors."""

    def __init__(self) -> None:
        self.charset_of: list[int] = [-1]
        self.follow: list[PosSet] = [EMPTY]
        self.charsets: list[Ranges] = []
        self._charset_ids: dict[Ranges, int] = {}
        self.final: PosSet = EMPTY

    def build(self, node: Node) -> None:
        nullable, first, last = self.visit(node)
        self.follow[0] = first
        self.final = _union(last, (0, 1)) if nullable else last

    def link(self, last: PosSet, first: PosSet) -> None:
        """Every position in `last` may be followed by every position in `first`."""
        if not first[1] or not last[1]:
            return
        follow = self.follow
        off, bits = last
        if bits == 1:                     # one position: the common case
            follow[off] = _union(follow[off], first)
        else:
            for i in _bits(bits):
                follow[off + i] = _union(follow[off + i], first)

    def concat(self, a: Frag, b: Frag) -> Frag:
        self.link(a[2], b[1])
        return (a[0] and b[0], _union(a[1], b[1]) if a[0] else a[1],
                _union(b[2], a[2]) if b[0] else b[2])

    def visit(self, node: Node) -> Frag:
        """(nullable, first, last) of `node`, allocating its positions."""
        if isinstance(node, CharSet):
            return self.charset(node.ranges)
        if isinstance(node, Concat):
            acc: Frag = (True, EMPTY, EMPTY)
            for item in node.items:
                acc = self.concat(acc, self.visit(item))
            return acc
        if isinstance(node, Alt):
            nullable, first, last = False, EMPTY, EMPTY
            for option in node.options:
                n, f, lst = self.visit(option)
                nullable, first, last = nullable or n, _union(first, f), _union(last, lst)
            return nullable, first, last
        if isinstance(node, Repeat):
            return self.repeat(node)
        return True, EMPTY, EMPTY   # Empty, Anchor

    def charset(self, ranges: Ranges) -> Frag:
        if not ranges:
            return False, EMPTY, EMPTY
        cs = self._charset_ids.setdefault(ranges, len(self.charsets))
        if cs == len(self.charsets):
            self.charsets.append(ranges)
        single = (len(self.charset_of), 1)
        if not single[0] & 4095:
            checkpoint("regex positions")
        self.charset_of.append(cs)
        self.follow.append(EMPTY)
        return False, single, single

    def repeat(self, node: Repeat) -> Frag:
        """x{m,n} = x^m (x (x ...)?)? ; x{m,} = x^(m-1) x+ ; x* = (x+)?"""
        acc: Frag = (True, EMPTY, EMPTY)
        mandatory = node.min if node.max is not None or node.min == 0 else node.min - 1
        for _ in range(mandatory):
            acc = self.concat(acc, self.visit(node.child))
        if node.max is None:
            nullable, first, last = self.visit(node.child)
            self.link(last, first)
            return self.concat(acc, (nullable or node.min == 0, first, last))
        tail: Frag = (True, EMPTY, EMPTY)
        for _ in range(node.max - node.min):
            copy = self.concat(self.visit(node.child), tail)
            tail = (True, copy[1], copy[2])
        return self.concat(acc, tail)


# ----------------------------------------------------------------------------- alphabet
class _Alphabet:
    """Partition of the code points into classes that no character set distinguishes."""

    def __init__(self, charsets: list[Ranges]) -> None:
        bounds = sorted({0, 0x110000}.union(*({lo, hi + 1} for cs in charsets for lo, hi in cs)))
        members: list[list[int]] = [[] for _ in range(len(bounds) - 1)]
        for cs_id, ranges in enumerate(charsets):
            for lo, hi in ranges:
                for j in range(bisect_left(bounds, lo), bisect_left(bounds, hi + 1)):
                    members[j].append(cs_id)
        class_ids: dict[tuple[int, ...], int] = {}
        self.class_ranges: list[list[tuple[int, int]]] = []
        self.charset_classes: list[list[int]] = [[] for _ in charsets]
        for j, sig in enumerate(members):
            if not sig:
                continue
            key = tuple(sig)
            c = class_ids.get(key)
            if c is None:
                c = class_ids[key] = len(self.class_ranges)
                self.class_ranges.append([])
                for cs_id in sig:
                    self.charset_classes[cs_id].append(c)
            self.class_ranges[c].append((bounds[j], bounds[j + 1] - 1))
        self.num_classes = len(self.class_ranges)

    def ranges_of(self, classes: tuple[int, ...]) -> Ranges:
        """Merged code-point ranges of a union of classes."""
        pieces = sorted(r for c in classes for r in self.class_ranges[c])
        merged: list[tuple[int, int]] = []
        for lo, hi in pieces:
            if merged and lo == merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))
        return tuple(merged)


# ----------------------------------------------------------------------------- subset construction
class _FollowUnion:
    """Union of `follow[p]` over a position set, with 8-bit chunk tables for dense sets."""

    def __init__(self, follow: list[PosSet]) -> None:
        self.follow = follow
        self.memo: dict[int, PosSet] = {}

    def __call__(self, state: PosSet) -> PosSet:
        off, bits = state
        follow = self.follow
        if bits == 1:
            return follow[off]
        if bits.bit_count() <= 8:
            return _union_all([follow[off + i] for i in _bits(bits)])
        shift, base = off & 7, off >> 3   # chunks aligned to absolute positions: reusable
        aligned = bits << shift
        memo = self.memo
        pieces = []
        for i, v in enumerate(aligned.to_bytes((aligned.bit_length() + 7) >> 3, "little")):
            if v:
                key = ((base + i) << 8) | v
                u = memo.get(key)
                if u is None:
                    u = EMPTY
                    for p in _bits(v):
                        u = _union(u, follow[((base + i) << 3) + p])
                    memo[key] = u
                pieces.append(u)
        return _union_all(pieces)


class _ClassMasks:
    """Absolute bitset of the positions accepting each symbol, built lazily with numpy
    (only dense candidate sets use them; building with Python ints would be quadratic)."""

    def __init__(self, pa: _Positions, alphabet: _Alphabet) -> None:
        self.charset_of = np.array(pa.charset_of[1:], dtype=np.int64)
        self.num_charsets = len(alphabet.charset_classes)
        self.charsets_of_class: list[list[int]] = [[] for _ in range(alphabet.num_classes)]
        for cs, classes in enumerate(alphabet.charset_classes):
            for c in classes:
                self.charsets_of_class[c].append(cs)
        self.masks: dict[int, int] = {}

    def __getitem__(self, c: int) -> int:
        mask = self.masks.get(c)
        if mask is None:
            member = np.zeros(self.num_charsets, dtype=bool)
            member[self.charsets_of_class[c]] = True
            hits = np.concatenate(([False], member[self.charset_of]))
            mask = self.masks[c] = int.from_bytes(
                np.packbits(hits, bitorder="little").tobytes(), "little")
        return mask


def _step_sets(cand: PosSet, pos_classes: list[list[int]], masks: _ClassMasks,
               k: int) -> list[tuple[int, PosSet]]:
    """(symbol, next position set) for each symbol some candidate position accepts."""
    off, bits = cand
    if bits.bit_count() <= 4:            # sparse: walk the few positions
        groups: dict[int, list[int]] = {}
        for i in _bits(bits):
            for c in pos_classes[off + i]:
                groups.setdefault(c, []).append(off + i)
        return [(c, _from_sorted(groups[c])) for c in sorted(groups)]
    out = []
    for c in range(k):                   # dense: one AND per symbol
        hit = (masks[c] >> off) & bits
        if hit:
            out.append((c, _normalized(off, hit)))
    return out


def _determinize(pa: _Positions, alphabet: _Alphabet, limits: Limits,
                 pattern: str) -> tuple[Rows, list[bool]]:
    """Subset construction over code-point classes; DFA states are position sets."""
    pos_classes = [[]] + [alphabet.charset_classes[cs] for cs in pa.charset_of[1:]]
    masks = _ClassMasks(pa, alphabet)
    union = _FollowUnion(pa.follow)
    max_states = limits.max_dfa_states
    room = table_states_left()          # rows the memory budget still allows (None: any)
    start: PosSet = (0, 1)
    ids: dict[PosSet, int] = {start: 0}
    order = [start]
    rows: Rows = []
    for state in order:   # `order` grows while we iterate
        if not len(rows) & 63:
            checkpoint("regex determinisation")
        row: list[tuple[int, int]] = []
        cand = union(state)
        if cand[1]:
            for c, nxt in _step_sets(cand, pos_classes, masks, alphabet.num_classes):
                t = ids.get(nxt)
                if t is None:
                    t = ids[nxt] = len(order)
                    if t >= max_states:
                        raise LimitExceededError(
                            "max_dfa_states", t + 1, max_states,
                            "the regex determinises to too many states", pattern, None)
                    if room is not None and t >= room:
                        _memory_error(t + 1, "regex determinisation")
                    order.append(nxt)
                row.append((c, t))
        rows.append(row)
    final = pa.final
    return rows, [bool(final[1]) and _intersects(s, final) for s in order]


# ----------------------------------------------------------------------------- trim + minimise
def _trim(rows: Rows, accepting: list[bool]) -> tuple[Rows, list[bool]] | None:
    """Keep states that can reach acceptance (all are reachable); None if the start cannot."""
    n = len(rows)
    preds: list[list[int]] = [[] for _ in range(n)]
    for s, row in enumerate(rows):
        for _, t in row:
            preds[t].append(s)
    live = accepting[:]
    stack = [s for s in range(n) if live[s]]
    while stack:
        for s in preds[stack.pop()]:
            if not live[s]:
                live[s] = True
                stack.append(s)
    if not live[0]:
        return None
    if all(live):
        return rows, accepting
    new_id = [-1] * n
    kept = [s for s in range(n) if live[s]]
    for i, s in enumerate(kept):
        new_id[s] = i
    new_rows = [[(c, new_id[t]) for c, t in rows[s] if live[t]] for s in kept]
    return new_rows, [accepting[s] for s in kept]


def _minimize(rows: Rows, accepting: list[bool], k: int) -> tuple[Rows, list[bool]]:
    """Merge equivalent states; the start state's block becomes state 0.

    Acyclic automata (enums, dates, fixed formats: very common) are minimised in linear time
    by hash-consing (Revuz); the rest by Hopcroft/Valmari partition refinement."""
    block_of = _acyclic_classes(rows, accepting)
    if block_of is None:
        block_of = _refine(rows, accepting, k)
    new_id: dict[int, int] = {}
    reps: list[int] = []
    for s in range(len(rows)):           # number blocks by first member: start -> 0
        if block_of[s] not in new_id:
            new_id[block_of[s]] = len(reps)
            reps.append(s)
    if len(reps) == len(rows):
        return rows, accepting
    new_rows = [[(c, new_id[block_of[t]]) for c, t in rows[s]] for s in reps]
    return new_rows, [accepting[s] for s in reps]


def _acyclic_classes(rows: Rows, accepting: list[bool]) -> list[int] | None:
    """Equivalence classes of an acyclic DFA, children before parents; None if cyclic."""
    n = len(rows)
    color = [0] * n                      # 0 unseen, 1 on the DFS stack, 2 done
    cls = [0] * n
    sigs: dict[tuple[bool, tuple[tuple[int, int], ...]], int] = {}
    color[0] = 1
    stack = [(0, iter(rows[0]))]
    while stack:
        s, it = stack[-1]
        for _, t in it:
            if color[t] == 1:
                return None
            if color[t] == 0:
                color[t] = 1
                stack.append((t, iter(rows[t])))
                break
        else:
            stack.pop()
            color[s] = 2
            sig = (accepting[s], tuple([(c, cls[t]) for c, t in rows[s]]))
            cls[s] = sigs.setdefault(sig, len(sigs))
    return cls


def _refine(rows: Rows, accepting: list[bool], k: int) -> list[int]:
    """Coarsest partition compatible with acceptance and transitions (partial DFA).

    All initial blocks start as splitters; after a split the smaller half becomes a splitter
    for every symbol entering it, the larger keeps the pending symbols of the old block."""
    n = len(rows)
    inv: list[dict[int, list[int]]] = [{} for _ in range(k)]
    incoming: list[set[int]] = [set() for _ in range(n)]
    for s, row in enumerate(rows):
        for c, t in row:
            inv[c].setdefault(t, []).append(s)
            incoming[t].add(c)
    blocks: list[set[int]] = []
    block_of = [0] * n
    pending: list[set[int]] = []
    for members in ([s for s in range(n) if accepting[s]], [s for s in range(n) if not accepting[s]]):
        if members:
            for s in members:
                block_of[s] = len(blocks)
            blocks.append(set(members))
            pending.append(set().union(*(incoming[s] for s in members)))
    stack = list(range(len(blocks)))
    rounds = 0
    while stack:
        b = stack.pop()
        rounds += 1
        if not rounds & 63:
            checkpoint("DFA minimisation")
        while pending[b]:
            c = pending[b].pop()
            inv_c = inv[c]
            block = blocks[b]
            if len(inv_c) < len(block):   # scan whichever side is smaller
                targets = [t for t in inv_c if block_of[t] == b]
            else:
                targets = [t for t in block if t in inv_c]
            touched: dict[int, list[int]] = {}
            for t in targets:
                for s in inv_c[t]:
                    touched.setdefault(block_of[s], []).append(s)
            for bb, part in touched.items():
                if len(part) < len(blocks[bb]):
                    _split(bb, part, blocks, block_of, pending, incoming, stack)
    return block_of


def _split(bb: int, part: list[int], blocks: list[set[int]], block_of: list[int],
           pending: list[set[int]], incoming: list[set[int]], stack: list[int]) -> None:
    """Move the smaller of `part` / rest-of-block into a new block that becomes a splitter."""
    block = blocks[bb]
    small = part if 2 * len(part) <= len(block) else list(block.difference(part))
    block.difference_update(small)
    nb = len(blocks)
    blocks.append(set(small))
    for s in small:
        block_of[s] = nb
    pending.append(set().union(*(incoming[s] for s in small)))
    stack.append(nb)


# ----------------------------------------------------------------------------- UTF-8 expansion
Template = list[tuple[tuple[int, int, int], ...]]   # nodes bottom-up, root last


class _Utf8Expander:
    """Turns a code-point DFA into the byte DFA (see module docstring, step 5)."""

    def __init__(self, alphabet: _Alphabet, limits: Limits, pattern: str) -> None:
        self.alphabet = alphabet
        self.limits = limits
        self.pattern = pattern
        self.templates: dict[tuple[Ranges, ...], Template] = {}
        self.ranges_cache: dict[tuple[int, ...], Ranges] = {}

    def expand(self, rows: Rows, accepting: list[bool]) -> ByteDFA:
        n = len(rows)
        interned: dict[tuple[tuple[int, int, int], ...], int] = {}
        edges: list[tuple[tuple[int, int, int], ...]] = []
        room = table_states_left()
        for row in rows:
            if not len(edges) & 63:
                checkpoint("UTF-8 expansion")
                if room is not None and len(edges) + len(interned) > room:
                    _memory_error(len(edges) + len(interned), "UTF-8 expansion")
            shape, targets = self.shape(row)
            edges.append(self.instantiate(self.template(shape), targets, n, interned))
        edges.extend(interned)   # dicts keep insertion order = intermediate state ids
        acc = np.zeros(len(edges), dtype=bool)
        acc[:n] = accepting
        return ByteDFA(_fill_table(edges), acc)

    def shape(self, row: list[tuple[int, int]]) -> tuple[tuple[Ranges, ...], list[int]]:
        """Group a state's transitions by target: (code-point sets, their targets)."""
        by_target: dict[int, list[int]] = {}
        for c, t in row:
            by_target.setdefault(t, []).append(c)
        groups = []
        for t, classes in by_target.items():
            key = tuple(classes)
            ranges = self.ranges_cache.get(key)
            if ranges is None:
                ranges = self.ranges_cache[key] = self.alphabet.ranges_of(key)
            groups.append((ranges, t))
        groups.sort()
        return tuple(g[0] for g in groups), [g[1] for g in groups]

    def template(self, shape: tuple[Ranges, ...]) -> Template:
        """Byte trie shared by every state whose transitions have this shape. Refs index a
        lookup list: slot i (the i-th target) is i, template node j is len(shape) + j."""
        tpl = self.templates.get(shape)
        if tpl is None:
            items = [(seq, slot) for slot, ranges in enumerate(shape)
                     for seq in ranges_to_utf8(ranges)]
            tpl = []
            _build_trie(items, tpl, {}, len(shape))
            self.templates[shape] = tpl
        return tpl

    def instantiate(self, tpl: Template, targets: list[int], n: int,
                    interned: dict[tuple[tuple[int, int, int], ...], int]) -> tuple[tuple[int, int, int], ...]:
        """Resolve template refs to state ids, hash-consing the mid-character nodes."""
        lookup = targets[:]
        for node in tpl[:-1]:
            sig = tuple([(lo, hi, lookup[r]) for lo, hi, r in node])
            sid = interned.get(sig)
            if sid is None:
                sid = interned[sig] = n + len(interned)
                if sid >= self.limits.max_dfa_states:
                    raise LimitExceededError("max_dfa_states", sid + 1, self.limits.max_dfa_states,
                                             "the byte-level DFA has too many states",
                                             self.pattern, None)
            lookup.append(sid)
        return tuple([(lo, hi, lookup[r]) for lo, hi, r in tpl[-1]])


def _build_trie(items: list[tuple[tuple[tuple[int, int], ...], int]], nodes: Template,
                memo: dict[tuple[tuple[int, int, int], ...], int],
                base: int) -> tuple[tuple[int, int, int], ...]:
    """Deterministic byte trie for (byte-range sequence, slot) items; appends canonical
    (adjacent equal targets merged, shared) nodes to `nodes` bottom-up. Returns the root's
    edge list, which is also appended last."""
    bounds = sorted({b for seq, _ in items for b in (seq[0][0], seq[0][1] + 1)})
    edges: list[tuple[int, int, int]] = []
    for lo, nxt in zip(bounds, bounds[1:]):
        covering = [(seq, ref) for seq, ref in items if seq[0][0] <= lo <= seq[0][1]]
        if not covering:
            continue
        if len(covering[0][0]) == 1:       # UTF-8 is prefix-free: a leaf covers alone
            ref = covering[0][1]
        else:
            child = _build_trie([(seq[1:], r) for seq, r in covering], nodes, memo, base)
            ref = memo.get(child, -1)
            if ref == -1:
                ref = memo[child] = base + len(nodes) - 1
            else:
                nodes.pop()
        if edges and edges[-1][2] == ref and edges[-1][1] == lo - 1:
            edges[-1] = (edges[-1][0], nxt - 1, ref)
        else:
            edges.append((lo, nxt - 1, ref))
    root = tuple(edges)
    nodes.append(root)
    return root


def _fill_table(edges: list[tuple[tuple[int, int, int], ...]]) -> np.ndarray:
    """(lo, hi, target) byte ranges per state -> dense int32 table, vectorised.

    Ranges are first filled into a compact (states x byte-classes) table, byte classes being
    the intervals between all range boundaries, then gathered out to 256 columns."""
    n = len(edges)
    counts = [len(row) for row in edges]
    total = sum(counts)
    if not total:
        return np.full((n, 256), -1, dtype=np.int32)
    flat = np.fromiter(chain.from_iterable(chain.from_iterable(edges)), dtype=np.int64,
                       count=3 * total).reshape(-1, 3)
    lo, hi, tgt = flat[:, 0], flat[:, 1], flat[:, 2]
    cuts = np.zeros(257, dtype=bool)
    cuts[0] = True
    cuts[lo] = True
    cuts[hi + 1] = True
    byte_class = np.cumsum(cuts[:256]) - 1
    c_lo = byte_class[lo]
    lengths = byte_class[hi] - c_lo + 1
    src = np.repeat(np.repeat(np.arange(n), counts), lengths)
    offsets = np.cumsum(lengths) - lengths
    cols = np.arange(len(src)) + np.repeat(c_lo - offsets, lengths)
    compact = np.full((n, int(byte_class[-1]) + 1), -1, dtype=np.int32)
    compact[src, cols] = np.repeat(tgt, lengths)
    return np.ascontiguousarray(np.take(compact, byte_class, axis=1))
