"""`maxLength` at run time, for JSON strings whose exact automaton would be too large.

A string schema's exact automaton is its value automaton (pattern, format, ...) times a
code-point counter: `{"format": "email", "maxLength": 1024}` needs ~300 value states times
1,024 counts, past `Limits.max_dfa_states`, and word-counting patterns
(`^(?:\\S+\\s+){0,49}\\S+$` with `maxLength: 500`) are no better. Such a string is built
without its upper bound (its `minLength` stays in the automaton, whose counter then stops at
minLength) as a terminal named `MAXLEN_<hi>_...` (`MAX_LENGTH_PREFIX`), and `MaxLengthCFG`
wraps the compiled grammar to enforce the bound.

* A state is the inner engine's state plus a `Track` of the text: whether it is inside a
  string, the escape / UTF-8 decoder's state, and, inside a string that a bounded terminal
  may be lexing, the code points read so far and each such terminal's automaton state.
* Which strings are bounded is read from the lexer at each opening quote: the terminals
  alive in the lexer's state just after it. All of them are followed (anyOf branches that
  both read the string); whichever may still be lexing the string must keep its bound.
* A byte is refused when, after it, some bounded terminal still alive can no longer finish
  within its bound: code points read + the fewest code points to its closing quote
  (`_Bound.fewest`, over the pair (automaton state, decoder state)) > maxLength. So every
  state reached keeps a completion, and a closing quote past maxLength is refused.
* Exact where one bounded terminal reads a string (every other terminal is unaffected). Where
  a bounded terminal and another string terminal both still read one string, text over the
  bound is refused even if the other reading would take it: sound, not complete.
* Masks: the inner mask, minus the tokens that fail the check. A token of n bytes adds at
  most n code points, so only tokens longer than `maxLength - count - fewest_max` are
  checked (none at all while every bounded string is short), each by the same scan as
  `advance`.

Code points are counted as JSON Schema counts them: an escape is one, a surrogate pair
written as two `\\u` escapes is one, a multi-byte UTF-8 character is one."""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, NamedTuple

import numpy as np

from .compiled_grammar import DEAD
from .grammar.json_schema.builder import MAX_LENGTH_PREFIX
from .mask_cache.mask_store import StoredMask
from .run_time_checks import CheckedState, RunTimeChecked

__all__ = ["MAX_LENGTH_PREFIX", "MaxLengthCFG", "bound_of"]

QUOTE, BACKSLASH = 0x22, 0x5C

# the decoder: where a string's text stands between code points
N, H, E, EL = 0, 1, 2, 3            # plain; after a high-surrogate escape; after \ (low: EL)
U4, U3, U3D, U2, U2H, U1, U1H = 4, 5, 6, 7, 8, 9, 10       # \u hex digits left (D: d..., H: high)
U4L, U3L, U2L, U1L = 11, 12, 13, 14                         # the low half's digits
C1, C2, C3 = 15, 16, 17                                     # UTF-8 continuation bytes left
_STATES = 18


def _decoder() -> tuple[np.ndarray, np.ndarray]:
    """(next decoder state, code points begun) per (decoder state, byte) inside a string; a
    code point counts at its first byte (a surrogate pair at its first escape). The closing
    quote (an unescaped `"` in N or H) is handled by the caller."""
    nxt = np.zeros((_STATES, 256), np.int8)
    add = np.zeros((_STATES, 256), np.int8)
    for d in (N, H):
        for x in range(256):
            nxt[d, x], add[d, x] = (E, 1) if x == BACKSLASH else (
                (C1, 1) if 0xC0 <= x <= 0xDF else (C2, 1) if 0xE0 <= x <= 0xEF else
                (C3, 1) if 0xF0 <= x <= 0xF7 else (N, 1))
    nxt[H, BACKSLASH], add[H, BACKSLASH] = EL, 0
    nxt[E, :] = N
    nxt[E, ord("u")] = U4
    nxt[EL, :] = N
    nxt[EL, ord("u")] = U4L
    nxt[U4, :] = U3
    nxt[U4, list(b"dD")] = U3D
    nxt[U3, :] = U2
    nxt[U3D, :] = U2
    nxt[U3D, list(b"89abAB")] = U2H
    nxt[U2, :], nxt[U2H, :], nxt[U1, :], nxt[U1H, :] = U1, U1H, N, H
    nxt[U4L, :], nxt[U3L, :], nxt[U2L, :], nxt[U1L, :] = U3L, U2L, U1L, N
    nxt[C3, :], nxt[C2, :], nxt[C1, :] = C2, C1, N
    return nxt, add


_NEXT_L, _ADD_L = (table.tolist() for table in _decoder())


def bound_of(name: str) -> int | None:
    """The maxLength a terminal name carries (None: not a bounded string)."""
    if not name.startswith(MAX_LENGTH_PREFIX):
        return None
    return int(name[len(MAX_LENGTH_PREFIX):].split("_", 1)[0])


class _Bound:
    """One bounded string terminal: its automaton (the JSON string with quotes, without the
    upper bound), the bound, and the fewest code points from each (automaton state, decoder
    state) to its closing quote (absent: none)."""

    def __init__(self, trans: np.ndarray, accepting: np.ndarray, hi: int) -> None:
        self.rows = trans.tolist()
        self.hi = hi
        self.opened = int(trans[0, QUOTE])
        self.fewest = _fewest(trans, accepting, self.opened)
        self.slack = hi - max(self.fewest.values(), default=0)


def _fewest(trans: np.ndarray, accepting: np.ndarray, opened: int) -> dict[tuple[int, int], int]:
    """A 0-1 BFS over the pairs (automaton state, decoder state) reachable after the opening
    quote, backwards from the closing quote."""
    if opened < 0:
        return {}
    edges: dict[tuple[int, int], list[tuple[tuple[int, int], int]]] = {}
    closes: list[tuple[int, int]] = []
    todo = [(opened, N)]
    edges[(opened, N)] = []
    while todo:
        b, d = p = todo.pop()
        row = trans[b]
        for x in np.flatnonzero(row >= 0).tolist():
            b2 = int(row[x])
            if x == QUOTE and d in (N, H):
                if accepting[b2]:
                    closes.append(p)
                continue
            q = (b2, _NEXT_L[d][x])
            edges[p].append((q, _ADD_L[d][x]))
            if q not in edges:
                edges[q] = []
                todo.append(q)
    back: dict[tuple[int, int], list[tuple[tuple[int, int], int]]] = {}
    for p, out in edges.items():
        for q, w in set(out):
            back.setdefault(q, []).append((p, w))
    dist = {p: 0 for p in closes}
    queue = deque(closes)
    while queue:
        q = queue.popleft()
        for p, w in back.get(q, ()):
            nd = dist[q] + w
            if nd < dist.get(p, 1 << 62):
                dist[p] = nd
                if w:
                    queue.append(p)
                else:
                    queue.appendleft(p)
    return dist


def _by_length(token_bytes: list[bytes | None]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids by byte length, longest first, and their negated lengths (kept per
    vocabulary: `_filtered` takes the tokens longer than a limit by one search)."""
    lengths = np.fromiter((len(t) if t else 0 for t in token_bytes), np.int64, len(token_bytes))
    order = np.argsort(-lengths, kind="stable")
    return order, -lengths[order]


class Track(NamedTuple):
    """Where the text stands: in a string or not, the decoder, and for a string that bounded
    terminals may be reading, the code points so far and (bound index, automaton state) for
    each of them still alive."""

    in_str: bool = False
    dec: int = N
    count: int = 0
    live: tuple[tuple[int, int], ...] = ()


State = CheckedState        # (the inner engine's state, Track)


class MaxLengthCFG(RunTimeChecked):
    """A compiled JSON-Schema grammar (a `CompiledCFG`, or a `UniqueItemsCFG` around one)
    whose `MAXLEN_` string terminals have their maxLength checked at run time (see the module
    docstring). Everything but the engine interface is the inner engine's."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.base = getattr(inner, "inner", inner)          # the CompiledCFG
        lexer = self.base.lexer
        self._bounds: list[_Bound] = []
        self._index: dict[int, int] = {}                      # terminal id -> bound index
        for tid, name in enumerate(self.base.terminal_names):
            hi = bound_of(name)
            if hi is not None and tid in lexer.terminals:
                term = lexer.terminals[tid]
                self._index[tid] = len(self._bounds)
                self._bounds.append(_Bound(term.trans, term.accepting, hi))
        self._slack = min((b.slack for b in self._bounds), default=1 << 62)
        self._token_bytes = self.base.tokenizer_info.token_bytes
        # ids longest first, and their negated lengths (ascending, for searchsorted)
        self._by_length, self._lengths_desc = self.base.trie._derived(
            "max_length", lambda _: _by_length(self._token_bytes))
        self._longest = -int(self._lengths_desc[0]) if self._lengths_desc.size else 0
        self._masks: dict[State, StoredMask] = {}
        self._lock = threading.Lock()

    # -- the engine interface (the rest is `RunTimeChecked`'s) ---------------------------------
    def _track(self) -> Track:
        return Track()

    def _checked(self, state: State, nxt: Any, data: bytes) -> Track | None:
        return self._scan(state.inner, state.track, data)

    def refusal_reason(self, state: State, data: bytes) -> str | None:
        """Why `data` is refused at `state` when the grammar alone would take it (None
        otherwise): `validate_text` adds it to its message."""
        inner_reason = getattr(self.inner, "refusal_reason", None)
        if self.inner.advance(state.inner, data) == DEAD:
            return None
        if self._scan(state.inner, state.track, data) is None:
            return "the string would pass its maxLength (counted at run time)"
        return inner_reason(state.inner, data) if inner_reason else None

    def mask(self, state: State) -> StoredMask:
        limit = self._limit(state.track)
        if limit >= self._longest:                  # no token can pass a bound from here
            return self.inner.mask(state.inner)
        found = self._masks.get(state)
        return found if found is not None else \
            self._kept(self._masks, state, lambda: self._filtered(state, limit))

    # -- masks -------------------------------------------------------------------------------
    def _limit(self, track: Track) -> int:
        """Tokens of at most this many bytes pass every check from `track`: each byte adds at
        most one code point, and every state reached is at most `fewest` from a close."""
        if not track.live:
            return self._slack              # a string opened inside the token starts at 0
        return min(self._slack, min(self._bounds[i].slack for i, _ in track.live) - track.count)

    def _filtered(self, state: State, limit: int) -> StoredMask:
        base = self.inner.mask(state.inner)
        k = int(np.searchsorted(self._lengths_desc, -limit, side="left"))
        return self._without_failing(state, base, self._by_length[:k], self.base._interner,
                                     self._token_bytes)

    # -- the text ----------------------------------------------------------------------------
    def _scan(self, before: Any, track: Track, data: bytes) -> Track | None:
        """`track` after `data` (None: a bounded string can no longer keep its bound).
        `before` is the inner engine's state before `data` (advanced again to each opening
        quote, to read which bounded terminals start there)."""
        in_str, dec, count, live = track
        for i, x in enumerate(data):
            if not in_str:
                if x == QUOTE:
                    in_str, dec, count = True, N, 0
                    live = self._opened(before, data[:i + 1])
                    if any(self._bounds[j].fewest.get((b, N), self._bounds[j].hi + 1)
                           > self._bounds[j].hi for j, b in live):
                        return None
                continue
            if x == QUOTE and (dec == N or dec == H):
                # the string closes; its count is within every live bound, since each step
                # kept count + fewest <= maxLength
                in_str, dec, count, live = False, N, 0, ()
                continue
            d2 = _NEXT_L[dec][x]
            if live:
                count += _ADD_L[dec][x]
                kept = []
                for j, b in live:
                    bound = self._bounds[j]
                    b2 = bound.rows[b][x]
                    if b2 < 0:
                        continue
                    need = bound.fewest.get((b2, d2))
                    if need is None or count + need > bound.hi:
                        return None
                    kept.append((j, b2))
                live = tuple(kept)
                if not live:
                    count = 0
            dec = d2
        return Track(in_str, dec, count, live)

    def _opened(self, before: Any, data: bytes) -> tuple[tuple[int, int], ...]:
        """The bounded terminals alive just after the opening quote ending `data`, with their
        automaton states."""
        st = self.inner.advance(before, data)
        if st == DEAD:
            return ()
        lx = self._lx(st.inner if isinstance(st, tuple) else st)
        return tuple(sorted((self._index[t], q) for t, q in self.base.lexer.members(lx)
                            if t in self._index))
