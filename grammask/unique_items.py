"""`uniqueItems: true` at run time, over a compiled JSON-Schema grammar.

No context-free grammar says "no two items are equal", so the JSON Schema builder writes a
uniqueItems array with its own separator terminal (`UNIQUE_SEPARATOR`, the same text as the
other) and refuses such arrays unless every item is one scalar lexeme (a string, number,
boolean or null). `UniqueItemsCFG` wraps the compiled grammar: a state is the grammar's state
plus a `Track` of where the text stands and the items seen so far in the innermost array.

* Items are compared as JSON values: strings with escapes decoded (`"\\u0061"` equals
  `"a"`), numbers by value (`1` equals `1.0` and `10e-1`), `true` unlike `1`.
* Which arrays are uniqueItems ones is read from the lexer at each separator: if some reading
  of the text still takes it as `UNIQUE_SEPARATOR`, the array is UNIQUE; if none does, it is
  dropped from tracking. A reading without uniqueItems alive beside one with it (anyOf
  branches that both take the array) does not lift the check: which reading the rest of the
  text keeps is unknown, and a repeat allowed there could be accepted through the uniqueItems
  reading later. So such text with a repeat is refused, though valid: sound, not complete.
* In a UNIQUE array an item equal to an earlier one is refused where it ends (a string at its
  closing quote, a number or literal at the byte after it); a token is refused too when every
  completion of the current item, or of the next item after a separator, equals an earlier
  item (a dead end), found by a depth-first search over the item's lexeme automaton
  (`_fresh_item`, `_fresh_scalar`).
* Masks: the grammar's mask, minus the tokens whose check fails. Only tokens that can fail
  are checked (`_candidates`): those spelling a prefix of an earlier string item (found by
  bisecting the sorted vocabulary) or leaving it at an escape, those holding a quote or
  separator, and inside a number or literal with finitely many completions, all.

Limits, documented for users: dead ends are searched for the current item and the next one
only, taking the array's state after an item to be the same whatever the item (the builder
refuses `contains` beside uniqueItems for that reason), so a schema whose minItems exceeds the
distinct values its items allow (in one array, or in one anyOf branch the items select) can
still reach a state with no valid continuation — never an invalid text; a search gives up, allowing the token, after
`_SEARCH_NODES` automaton states (a number whose spelling can grow without its value
changing, `12.000...` for an enum member 12 already used, ends that way).
"""
from __future__ import annotations

import bisect
import json
import re
import threading
from collections import deque
from typing import Any, NamedTuple

import numpy as np

from .compiled_grammar import DEAD
from .mask_cache.mask_store import StoredMask
from .run_time_checks import CheckedState, RunTimeChecked, allowed_among

__all__ = ["UniqueItemsCFG", "decoded"]

QUOTE, BACKSLASH, COMMA, CLOSE = 0x22, 0x5C, 0x2C, 0x5D
OPEN_ARRAY, OPEN_OBJECT, CLOSE_OBJECT = 0x5B, 0x7B, 0x7D
_WS = frozenset(b" \t\n\r")
_SCALAR_FIRST = frozenset(b"-0123456789tfn")       # a number or literal item's first byte
_ITEM_FIRST = b'"-0123456789tfn'
_CONTAINER_FIRST = b"{["
UNKNOWN, UNIQUE = 0, 1                     # before / after the array's first separator
BEFORE, INSIDE, AFTER = 0, 1, 2            # where the array is: before/inside/after an item
_SEARCH_NODES = 4096                       # automaton states one dead-end search may visit
_SHORT = {ord('"'): b'"', ord("\\"): b"\\", ord("/"): b"/", ord("b"): b"\b", ord("f"): b"\f",
          ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t"}


class Items(NamedTuple):
    """The innermost array while its items are scalars (it may be a uniqueItems one)."""

    # items so far: strings as their decoded UTF-8 bytes (surrogates passed), numbers and
    # literals as `_scalar_key` tuples
    seen: frozenset[Any] = frozenset()
    mode: int = UNKNOWN
    where: int = BEFORE
    raw: bytes = b""        # the current item's text (a string's after its opening quote)


class Track(NamedTuple):
    """Where the text so far stands: the innermost container (`items`: an array followed
    for uniqueItems, or None), and, while some enclosing array is followed, the enclosing
    containers (`outer`, outermost first; an array whose item is an object or array being
    read is INSIDE it, with the item's text so far in `raw`)."""

    in_str: bool = False
    esc: int = 0                            # 5: after a backslash; 4..1: \\u hex digits left
    items: Items | None = None
    outer: tuple[Items | None, ...] = ()


State = CheckedState        # (the grammar's state, Track)


def decoded(raw: bytes) -> bytes | None:
    """The UTF-8 bytes of a JSON string's characters (escapes decoded, lone surrogates
    passed) from its text between the quotes; None when it ends inside an escape or between
    the halves of a surrogate pair."""
    if BACKSLASH not in raw:
        return raw
    out, i, n = bytearray(), 0, len(raw)
    while i < n:
        j = raw.find(b"\\", i)
        if j < 0:
            out += raw[i:]
            break
        out += raw[i:j]
        if j + 1 >= n:
            return None
        if raw[j + 1] != ord("u"):
            out += _SHORT[raw[j + 1]]
            i = j + 2
            continue
        if j + 6 > n:
            return None
        cp, i = int(raw[j + 2:j + 6], 16), j + 6
        if 0xD800 <= cp < 0xDC00:
            if n - i < 6 and raw[i:i + 2] == b"\\u"[:n - i]:
                return None                 # the low half may follow
            low = int(raw[i + 2:i + 6], 16) if raw[i:i + 2] == b"\\u" else -1
            if 0xDC00 <= low < 0xE000:
                cp, i = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00), i + 6
        out += chr(cp).encode("utf-8", "surrogatepass")
    return bytes(out)


def _spelled(value: bytes) -> bytes:
    """The plain JSON spelling of decoded string bytes (escaping only what must be)."""
    out = bytearray()
    for b in value:
        if b == QUOTE or b == BACKSLASH:
            out += b"\\" + bytes((b,))
        elif b < 0x20:
            out += b"\\u%04x" % b
        else:
            out.append(b)
    return bytes(out)


class UniqueItemsCFG(RunTimeChecked):
    """A `CompiledCFG` whose grammar has uniqueItems arrays, checked at run time (see the
    module docstring). Everything but the engine interface is the inner grammar's."""

    def __init__(self, inner: Any) -> None:
        self.inner = self.base = inner
        names = inner.terminal_names
        self._sep = names.index("UNIQUE_SEPARATOR") if "UNIQUE_SEPARATOR" in names else -1
        self._sep_text = self._shortest(self._sep)
        # whitespace may stand around items (JsonSchemaOptions(whitespace="flexible"), or a
        # separator such as ", "): only then can a token of spaces end a number or begin the
        # next item
        sep = inner.lexer.terminals[self._sep] if self._sep >= 0 else None
        self._spaced = sep is not None and bool(np.any(sep.trans[:, list(_WS)] >= 0))
        self._token_bytes = inner.tokenizer_info.token_bytes
        self._masks: dict[State, StoredMask] = {}
        self._fresh_memo: dict[frozenset[bytes], dict[Any, Any]] = {}
        self._live_bytes: dict[int, list[int]] = {}       # per lexer state
        self._finite_memo: dict[int, bool] = {}
        self._escape_memo: dict[int, list[tuple[bytes, int]]] = {}
        self._starts_memo: dict[int, list[tuple[int, int]]] = {}
        self._close_memo: dict[int, bool] = {}
        self._container_memo: dict[int, bool] = {}
        self._room_memo: dict[int, int] = {}
        self._ending: dict[int, bytes] = {}         # per lexer state (`_end_text`)
        # (lexer state, item text) whose completions were all enumerated: they hold for any
        # later set of seen items (a search that found nothing new found them all)
        self._exhausted: dict[tuple[int, bytes], frozenset[bytes]] = {}
        self._lock = threading.Lock()
        # built once per vocabulary and kept with its trie (`TokenTrie._derived`)
        self._vocab = inner.trie._derived("unique_items", lambda t: _Vocab(t, self._token_bytes))

    # -- the engine interface (the rest is `RunTimeChecked`'s) ---------------------------------
    def _track(self) -> Track:
        return Track()

    def _checked(self, state: State, nxt: int, data: bytes) -> Track | None:
        track = self._scan(state.inner, state.track, data)
        return track if track is not None and self._viable(nxt, track) else None

    def refusal_reason(self, state: State, data: bytes) -> str | None:
        """Why `data` is refused at `state` when the grammar alone would take it (None
        otherwise): `validate_text` adds it to its message."""
        nxt = self.inner.advance(state.inner, data)
        if nxt == DEAD:
            return None
        track = self._scan(state.inner, state.track, data)
        if track is None:
            return "the item repeats an earlier one of a uniqueItems array"
        if not self._viable(nxt, track):
            return "every way on repeats an earlier item of a uniqueItems array"
        return None

    def mask(self, state: State) -> StoredMask:
        found = self._masks.get(state)              # the hot path: no closure on a hit
        if found is not None:
            return found
        outer = state.track.outer
        if outer and not any(f is not None and f.mode == UNIQUE for f in outer):
            # enclosing arrays before their first separator: a token fails only where the
            # text would without them, or where an item of theirs ends and a separator
            # follows; the rest of the mask is shared by every such state
            base = self.mask(State(state.inner, state.track._replace(outer=())))
            allowed = allowed_among(base, self._vocab.closes_then_separates)
            cands = allowed[np.array([_separates_item(state.track, self._token_bytes[t])
                                      for t in allowed.tolist()], bool)]
            return self._kept(self._masks, state, lambda: self._without_failing(
                state, base, cands, self.inner._interner, self._token_bytes))
        return self._kept(self._masks, state, lambda: self._filtered(state))

    # -- the text's structure ----------------------------------------------------------------
    def _scan(self, before: int, track: Track, data: bytes) -> Track | None:
        """`track` after `data` (None: an item repeats in a UNIQUE array). `before` is the
        grammar's state before `data` (read again up to each separator)."""
        in_str, esc, items, outer = track
        for i, b in enumerate(data):
            if outer:                               # container items being read grow
                outer = _grown(outer, b)
            if in_str:
                if items is not None and items.where == INSIDE:
                    if b == QUOTE and not esc:
                        items = self._item_closed(items, decoded(items.raw))
                        if items is None:
                            return None
                        in_str = False
                        continue
                    items = items._replace(raw=items.raw + bytes((b,)))
                if esc:
                    esc = 4 if esc == 5 and b == ord("u") else (0 if esc == 5 else esc - 1)
                elif b == BACKSLASH:
                    esc = 5
                elif b == QUOTE:
                    in_str = False
                continue
            if items is not None and items.where == INSIDE:     # a number, true, false, null
                if b not in _WS and b != COMMA and b != CLOSE:
                    items = items._replace(raw=items.raw + bytes((b,)))
                    continue
                items = self._item_closed(items, _scalar_key(items.raw))
                if items is None:
                    return None
            if b in _WS:
                continue
            if b == QUOTE:
                in_str = True
                if items is not None and items.where == BEFORE:
                    items = items._replace(where=INSIDE, raw=b"")
                elif items is not None:
                    items = None                    # a key
            elif items is not None and items.where == BEFORE and b in _SCALAR_FIRST:
                items = items._replace(where=INSIDE, raw=bytes((b,)))
            elif b == OPEN_ARRAY or b == OPEN_OBJECT:
                if items is not None and items.where == BEFORE:     # an object or array item
                    outer += (items._replace(where=INSIDE, raw=bytes((b,))),)
                elif outer:
                    outer += (items,)
                items = Items() if b == OPEN_ARRAY else None
            elif b == CLOSE or b == CLOSE_OBJECT:
                items = None
                if outer:
                    items, outer = outer[-1], outer[:-1]
                    if items is not None and items.where == INSIDE:   # the item ends here
                        items = self._item_closed(items, _container_key(items.raw))
                        if items is None:
                            return None
            elif b == COMMA and items is not None:
                items = self._separated(before, data[:i + 1], items)
            elif items is not None:
                items = None
        return Track(in_str, esc, items, outer)

    def _item_closed(self, items: Items, value: Any) -> Items | None:
        """The array once its current item, whose value (`_scalar_key`) is `value`, ends."""
        if items.mode == UNIQUE and value in items.seen:
            return None
        return items._replace(seen=items.seen | {value}, where=AFTER, raw=b"")

    def _separated(self, before: int, data: bytes, items: Items) -> Items | None:
        """The array after the separator ending `data`: UNIQUE while some reading of the text
        reads it as `UNIQUE_SEPARATOR` (the terminals its lexeme may still be), else None
        (the array is not tracked any more)."""
        st = self.inner.advance(before, data)
        if st == DEAD or self._sep not in self.inner.lexer.alive_terminals(
                self._lx(st)):
            return None
        return items._replace(mode=UNIQUE, where=BEFORE, raw=b"")

    # -- dead ends ---------------------------------------------------------------------------
    def _viable(self, state: int, track: Track) -> bool:
        items = track.items
        if items is None or items.mode != UNIQUE:
            return True
        if items.where == INSIDE:
            if track.in_str:
                return self._fresh_item(state, items.raw, items.seen)
            return self._fresh_scalar(state, items.raw, items.seen)
        if items.where == BEFORE:
            return self._next_item(state, items.seen)
        return self._can_close(state) or \
            self._next_item(self.inner.advance(state, self._sep_text), items.seen)

    def _fresh_after_separator(self, state: int, seen: int) -> bool:
        """Closing the string item being read at `state` (whatever its text) and a separator
        leave room for a next item unlike any of `seen` + 1 items: more first characters
        can follow its opening quote than that. (The array's state after an item does not
        depend on the item, so the text closing now stands for every closing token.)"""
        def room() -> int:
            st = self._closed(state)
            st = st if st == DEAD else self.inner.advance(st, self._sep_text + b'"')
            return 0 if st == DEAD else \
                sum(1 for b in self._live(self._lx(st)) if b != QUOTE and b != BACKSLASH)

        return self._kept(self._room_memo, state, room) > seen + 1

    def _closed(self, state: int) -> int:
        """The grammar's state after the shortest text that ends the string item being read
        at `state` (a stand-in for every text that does: the array's state after an item
        does not depend on the item)."""
        text = self._end_text(self._lx(state))
        return self.inner.advance(state, text) if text else DEAD

    def _end_text(self, lx: int) -> bytes:
        """The shortest text that ends the lexeme being read in lexer state `lx` (b"" where
        it may end already, or none is being read)."""
        text = self._ending.get(lx)
        if text is None:
            lexer = self.inner.lexer
            text = b"" if lexer.is_start[lx] else \
                _shortest_text(lexer.trans, lx, lambda q: lexer.emit[q] >= 0) or b""
            self._ending[lx] = text
        return text

    def _can_close(self, state: int) -> bool:
        """The array may end at `state` (after an item), whatever its items."""
        return state != DEAD and self._kept(
            self._close_memo, state, lambda: self.inner.advance(state, b"]") != DEAD)

    def _next_item(self, state: int, seen: frozenset[Any]) -> bool:
        """Some item not in `seen` can follow from `state` (before an item)."""
        if state == DEAD:
            return False
        memo = self._memo(seen)
        found = memo.get(("next", state))
        if found is None:
            found = memo[("next", state)] = any(
                self._fresh_item(st, b"", seen) if b == QUOTE else
                self._fresh_scalar(st, bytes((b,)), seen) for b, st in self._item_starts(state)
            ) or self._container_starts(state)      # object and array items: not searched
        return found

    def _item_starts(self, state: int) -> list[tuple[int, int]]:
        """(first byte, grammar state after it) of each kind of item that can begin at
        `state` (memoised: it does not depend on the items seen)."""
        def starts() -> list[tuple[int, int]]:
            rest = self._end_text(self._lx(state))             # a separator's spaces
            return [(b, st) for b in _ITEM_FIRST
                    for st in (self.inner.advance(state, rest + bytes((b,))),) if st != DEAD]

        return self._kept(self._starts_memo, state, starts)

    def _container_starts(self, state: int) -> bool:
        """An object or array item can begin at `state` (tried last: it costs the grammar a
        step it may not have taken yet)."""
        def starts() -> bool:
            rest = self._end_text(self._lx(state))
            return any(self.inner.advance(state, rest + bytes((b,))) != DEAD
                       for b in _CONTAINER_FIRST)

        return self._kept(self._container_memo, state, starts)

    def _memo(self, seen: frozenset[Any]) -> dict[Any, Any]:
        """Searches already made against `seen` (the last 64 sets)."""
        memo = self._fresh_memo.get(seen)
        if memo is None:
            if len(self._fresh_memo) >= 64:
                self._fresh_memo.clear()
            memo = self._fresh_memo[seen] = {None: sorted(v for v in seen
                                                          if isinstance(v, bytes))}
        return memo

    def _fresh_scalar(self, state: int, raw: bytes, seen: frozenset[Any]) -> bool:
        """Some completion of the number or literal item `raw` is not in `seen`: a depth-
        first search over its lexeme's automaton, checking each place it may end."""
        lx = self._lx(state)
        memo = self._memo(seen)
        found = memo.get((lx, raw, False))
        if found is None:
            found = memo[(lx, raw, False)] = self._search_scalar(lx, raw, seen)
        return found

    def _search_scalar(self, lx: int, raw: bytes, seen: frozenset[Any]) -> bool:
        lexer = self.inner.lexer
        todo, nodes = [(lx, raw)], 0
        while todo:
            lx, raw = todo.pop()
            nodes += 1
            if nodes > _SEARCH_NODES or (lexer.emit[lx] >= 0 and _scalar_key(raw) not in seen):
                return True
            todo.extend((int(lexer.trans[lx, b]), raw + bytes((b,))) for b in self._live(lx))
        return False

    def _escapes(self, lx: int) -> list[tuple[bytes, int]]:
        """(character, lexer state after it) for each escape from `lx` (just after its
        backslash) that spells a character which cannot stand unescaped (`_spells_plain`)."""
        found = self._escape_memo.get(lx)
        if found is None:
            trans, found, todo = self.inner.lexer.trans, [], [(lx, b"\\")]
            while todo:
                q, pending = todo.pop()
                for b in self._live(q):
                    more = pending + bytes((b,))
                    if _spells_plain(more):
                        continue
                    char = decoded(more)
                    if char is None:
                        todo.append((int(trans[q, b]), more))
                    else:
                        found.append((char, int(trans[q, b])))
            self._escape_memo[lx] = found
        return found

    def _live(self, lx: int) -> list[int]:
        """The bytes that continue the lexeme in lexer state `lx`."""
        alive = self._live_bytes.get(lx)
        if alive is None:
            alive = self._live_bytes[lx] = np.flatnonzero(self.inner.lexer.trans[lx] >= 0).tolist()
        return alive

    def _finite(self, lx: int) -> bool:
        """The lexeme in lexer state `lx` has finitely many completions (no cycle ahead)."""
        found = self._finite_memo.get(lx)
        if found is None:
            trans, done, on_path = self.inner.lexer.trans, set(), set()
            found, todo = True, [(lx, iter(self._live(lx)))]
            on_path.add(lx)
            while todo and found:
                q, it = todo[-1]
                b = next(it, None)
                if b is None:
                    todo.pop()
                    on_path.discard(q)
                    done.add(q)
                    continue
                r = int(trans[q, b])
                if r in on_path:
                    found = False
                elif r not in done:
                    on_path.add(r)
                    todo.append((r, iter(self._live(r))))
            self._finite_memo[lx] = found
        return found

    def _fresh_item(self, state: int, raw: bytes, seen: frozenset[bytes]) -> bool:
        """Some completion of the string item begun with `raw` (its text after the opening
        quote; `state` is the grammar's there) differs from every item in `seen`. A depth-
        first search over the lexer automaton that stops as soon as the text leaves every
        seen item's prefixes (any completion then differs)."""
        lx = self._lx(state)
        memo = self._memo(seen)
        found = memo.get((lx, raw))
        if found is None:
            ends = self._exhausted.get((lx, raw))   # every completion, from an earlier search
            if ends is not None:
                found = not ends <= seen
            else:
                found, ends = self._search(lx, raw, seen, memo[None])
                if ends is not None:
                    self._kept(self._exhausted, (lx, raw), lambda: ends)
            memo[(lx, raw)] = found
        return found

    def _search(self, lx: int, raw: bytes, seen: frozenset[bytes],
                ordered: list[bytes]) -> tuple[bool, frozenset[bytes] | None]:
        """A node is (lexer state, decoded value, escape being read, whether the search began
        that escape); nodes are visited once, since the completions depend on nothing else.
        An escape the search would begin is followed only where it spells a character that
        cannot stand unescaped: a JSON string automaton leads the same way after either
        spelling of a character."""
        trans = self.inner.lexer.trans
        value, pending = _split_escape(raw)
        todo, visited, ends = [(lx, value, pending, False)], set(), set()
        while todo:
            node = todo.pop()
            if node in visited:
                continue
            visited.add(node)
            if len(visited) > _SEARCH_NODES:
                return True, None
            lx, value, pending, ours = node
            alive = self._live(lx)
            if pending:                             # inside an escape: follow it
                for b in alive:
                    more = pending + bytes((b,))
                    if ours and _spells_plain(more):
                        continue                    # the character's own bytes go there too
                    char = decoded(more)
                    todo.append((int(trans[lx, b]), value, more, ours) if char is None else
                                (int(trans[lx, b]), value + char, b"", False))
                continue
            cut = len(value)
            lo = bisect.bisect_left(ordered, value)
            hi = bisect.bisect_left(ordered, _after_prefix(value), lo) if value else len(ordered)
            ahead: dict[int, int] = {}              # next byte: seen items through it
            for v in ordered[lo:hi]:
                if len(v) > cut:
                    ahead[v[cut]] = ahead.get(v[cut], 0) + 1
            follow = []
            for b in alive:
                if b == QUOTE:
                    if value not in seen:           # the item closes, and differs
                        return True, None
                    ends.add(value)
                elif b == BACKSLASH:
                    for char, after in self._escapes(int(trans[lx, b])):
                        more = value + char
                        lo = bisect.bisect_left(ordered, more)
                        if lo == len(ordered) or not ordered[lo].startswith(more):
                            return True, None       # it leaves every seen item
                        todo.append((after, more, b"", False))
                elif b in ahead:
                    follow.append(b)
                else:
                    return True, None               # it leaves every seen item
            follow.sort(key=ahead.__getitem__, reverse=True)       # fewest seen first
            todo.extend((int(trans[lx, b]), value + bytes((b,)), b"", False) for b in follow)
        return False, frozenset(ends)           # every completion is one of `ends`

    # -- masks -------------------------------------------------------------------------------
    def _filtered(self, state: State) -> StoredMask:
        base = self.inner.mask(state.inner)
        return self._without_failing(state, base, self._candidates(state, base),
                                     self.inner._interner, self._token_bytes)

    def _candidates(self, state: State, base: StoredMask) -> np.ndarray:
        """Tokens whose check may fail from `state` (ids, unsorted, maybe repeated)."""
        track = state.track
        vocab = self._vocab
        items = track.items
        # an object or array item may open and close within a token: where it could repeat
        # one (in a uniqueItems array, or after a separator in the token)
        if items is not None and items.mode == UNIQUE:
            whole = vocab.quote_opens_closes if track.in_str else vocab.opens_then_closes
        else:
            whole = vocab.separates_opens_closes
        parts = [vocab.opens_then_separates, whole]
        if any(f is not None and f.mode == UNIQUE and f.where == INSIDE for f in track.outer):
            # an object or array item of a uniqueItems array may end (after the string, if
            # in one), repeating one
            parts.append(vocab.quote_then_closes if track.in_str else vocab.closes)
        elif track.outer:
            # an item ends first in its array, which can fail only after a separator
            parts.append(vocab.closes_then_separates)
        if items is None:
            return np.concatenate(parts)
        if not track.in_str:
            parts.append(vocab.separates)
        elif not (items.where == INSIDE and not track.esc and
                  self._fresh_after_separator(state.inner, len(items.seen))):
            parts.append(vocab.quote_then_separates)
        if items.mode == UNIQUE and items.where == INSIDE and not track.in_str:
            if self._spaced:
                parts.append(vocab.spaces)          # a number or literal ending
            if self._finite(self._lx(state.inner)):
                return self._all_allowed(base)
        elif items.mode == UNIQUE:
            # an item closing must leave the array closable or a fresh next item possible;
            # where the array may close after the item (whatever it is: the builder refuses
            # `contains` beside uniqueItems), only a repeat can fail, which `along` finds
            if not (track.in_str and not track.esc and items.where == INSIDE and
                    self._can_close(self._closed(state.inner))):
                parts.append(vocab.closing_quotes if track.in_str and not track.esc else
                             vocab.quotes)
            if items.where == INSIDE:
                value = decoded(items.raw)
                if value is None:
                    return self._all_allowed(base)
                lead = b""
            elif items.where == BEFORE:
                value, lead = b"", b'"'
                parts += [vocab.whitespace_first, vocab.scalar_first] if self._spaced else \
                    [vocab.scalar_first]
            else:
                return np.concatenate(parts)
            parts.append(vocab.along([lead + _spelled(v[len(value):]) + b'"' for v in items.seen
                                      if isinstance(v, bytes) and v.startswith(value)], base))
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _all_allowed(self, base: StoredMask) -> np.ndarray:
        return self.inner._ids_of(self.inner._interner.densify(base)).astype(np.int64)

    def _shortest(self, tid: int) -> bytes:
        """The shortest text of terminal `tid` (the separator a lookahead writes)."""
        if tid < 0:
            return b","
        term = self.inner.lexer.terminals[tid]
        return _shortest_text(term.trans, 0, lambda q: bool(term.accepting[q])) or b","


def _shortest_text(trans: np.ndarray, start: int, done: Any) -> bytes | None:
    """The shortest bytes leading from `start` to a state where `done` holds (breadth
    first over the live transitions of `trans`), None when none does."""
    todo, seen = deque([(start, b"")]), {start}
    while todo:
        q, text = todo.popleft()
        if done(q):
            return text
        for b in np.flatnonzero(trans[q] >= 0).tolist():
            r = int(trans[q, b])
            if r not in seen:
                seen.add(r)
                todo.append((r, text + bytes((b,))))
    return None


def _scalar_key(raw: bytes) -> tuple[Any, ...]:
    """A number, true, false or null as a set member (numbers by value: 1 == 1.0)."""
    if raw[0] in b"tfn":
        return (raw.decode(),)
    return _number_key(raw.decode())


_NUMBER = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?")


def _number_key(text: str) -> tuple[Any, ...]:
    """A JSON number by its exact value: (sign, significant digits, exponent of the last
    one), every zero alike (0 == -0.0, as JSON Schema compares). Exact at any exponent:
    `Decimal` refuses `0e9999999999999999999`, which a grammar for numbers accepts."""
    sign, whole, frac, exp = _NUMBER.fullmatch(text).groups()  # type: ignore[union-attr]
    frac = frac or ""
    digits = (whole + frac).lstrip("0")
    if not digits:
        return ("n", 0)
    kept = digits.rstrip("0")
    return ("n", sign, kept, int(exp or 0) - len(frac) + len(digits) - len(kept))


def _separates_item(track: Track, data: bytes) -> bool:
    """Whether `data`, read from `track`, closes containers back into an enclosing array
    whose object or array item it ends, and then meets a separator there (only then can the
    enclosing arrays, all before their first separator, make it fail). Brackets inside
    strings do not count."""
    in_str, esc, depth = track.in_str, track.esc != 0, 0
    outer = track.outer
    for b in data:
        if in_str:
            if esc:
                esc = False
            elif b == BACKSLASH:
                esc = True
            elif b == QUOTE:
                in_str = False
            continue
        if b == QUOTE:
            in_str = True
        elif b == OPEN_ARRAY or b == OPEN_OBJECT:
            depth += 1
        elif b == CLOSE or b == CLOSE_OBJECT:
            depth -= 1
        elif b == COMMA and depth < 0:
            k = len(outer) + depth            # the frame the closers came back to
            if k < 0 or (outer[k] is not None and outer[k].where == INSIDE):
                return True
    return False


def _grown(outer: tuple[Items | None, ...], b: int) -> tuple[Items | None, ...]:
    """`outer` with byte `b` added to the object or array items being read."""
    more = bytes((b,))
    return tuple(f._replace(raw=f.raw + more) if f is not None and f.where == INSIDE else f
                 for f in outer)


def _container_key(raw: bytes) -> tuple[Any, ...]:
    """An object or array item as a set member: equal JSON values, equal keys (numbers by
    value, `true` unlike `1`, object members in any order)."""
    def key(v: Any) -> Any:
        if isinstance(v, dict):
            return ("o", frozenset((k, key(x)) for k, x in v.items()))
        if isinstance(v, list):
            return ("l", tuple(key(x) for x in v))
        if v is True or v is False or v is None:
            return ("c", v)
        if isinstance(v, tuple):        # a number, already a key
            return v
        return ("s", v)

    value = json.loads(raw.decode("utf-8", "surrogatepass"), parse_float=_number_key,
                       parse_int=_number_key)
    return ("container", key(value))


def _closes_string(data: bytes) -> bool:
    """Read inside a string (after no backslash), `data` holds a quote that closes it."""
    escaped = False
    for c in data:
        if escaped:
            escaped = False
        elif c == BACKSLASH:
            escaped = True
        elif c == QUOTE:
            return True
    return False


def _item_then_separator(data: bytes) -> bool:
    """`data` may open an array and hold a whole scalar item and a separator after it (so a
    second item of that array could repeat the first within the token): a "[" followed by a
    "," with no bracket or brace between and something besides whitespace."""
    for k in range(len(data)):
        if data[k] == OPEN_ARRAY:
            rest = data[k + 1:]
            cut = rest.find(b",")
            if cut > 0 and not any(c in b"[]{}" for c in rest[:cut]) and rest[:cut].strip():
                return True
    return False


def _spells_plain(escape: bytes) -> bool:
    """The (partial) escape can only spell characters that may stand unescaped (a JSON string
    automaton leads the same way after either spelling, so the search skips the escape)."""
    if escape == b"\\/":
        return True
    h = escape[2:] if escape.startswith(b"\\u") else b""
    if not h:
        return False
    if h[0] not in b"0dD":
        return True                                 # U+1000 and up, no surrogate
    if h[0] != ord("0"):
        return False                                # surrogates: pairs and lone halves
    if len(h) > 1 and h[1] != ord("0"):
        return True                                 # U+0100..U+0FFF
    if len(h) > 2 and h[2] not in b"0125":
        return True                                 # U+0030..U+00FF but U+005x
    if len(h) > 3 and h[2] in b"25":
        return (h[2:4].lower() != b"22") if h[2] == ord("2") else h[2:4].lower() != b"5c"
    return False


def _split_escape(raw: bytes) -> tuple[bytes, bytes]:
    """(the decoded characters of `raw` before an escape it ends inside, that escape)."""
    for k in range(min(len(raw), 12) + 1):
        value = decoded(raw[:len(raw) - k])
        if value is not None:
            return value, raw[len(raw) - k:]
    raise AssertionError("an escape is at most 12 bytes")


def _after_prefix(prefix: bytes) -> bytes:
    """The least bytes above every bytes starting with `prefix` (b"" when there is none)."""
    stem = prefix.rstrip(b"\xff")
    return stem[:-1] + bytes((stem[-1] + 1,)) if stem else b""


class _Vocab:
    """Per tokenizer: the token lists `UniqueItemsCFG._candidates` draws from."""

    def __init__(self, trie: Any, token_bytes: list[bytes | None]) -> None:
        self.bytes_of = token_bytes
        ids = trie.token_ids.astype(np.int64)           # sorted by their bytes
        self.sorted_ids = ids
        self.sorted_bytes = [token_bytes[i] for i in ids.tolist()]
        self.first = trie.by_bytes                      # bytes -> the first id spelling them
        self.more: dict[bytes, list[int]] = {}          # -> the other ids spelling them
        for k in np.flatnonzero(np.diff(trie.offsets[1:] - trie.offsets[:-1]) == 0).tolist():
            if self.sorted_bytes[k] == self.sorted_bytes[k + 1]:
                self.more.setdefault(self.sorted_bytes[k], []).append(int(ids[k + 1]))
        concat, starts = trie.concat, trie.offsets[:-1]
        lengths = np.diff(trie.offsets)
        pos = np.arange(concat.shape[0]) - np.repeat(starts, lengths)
        far = np.int64(1 << 40)

        def holds(chars: bytes) -> np.ndarray:
            table = np.zeros(256, bool)
            table[list(chars)] = True
            return table[concat]

        def first_at(chars: bytes) -> np.ndarray:
            return np.minimum.reduceat(np.where(holds(chars), pos, far), starts)

        def last_at(chars: bytes) -> np.ndarray:
            return np.maximum.reduceat(np.where(holds(chars), pos, -1), starts)

        sep_last, quote, bracket = last_at(b",]}"), first_at(b'"'), first_at(b"[")
        close_last = last_at(b"]}")
        self.closes = ids[close_last >= 0]
        self.quote_then_closes = ids[quote < close_last]
        self.opens_then_closes = ids[first_at(b"[{") < close_last]
        self.closes_then_separates = ids[first_at(b"]}") < last_at(b",")]
        opener_last = last_at(b"[{")
        self.separates_opens_closes = ids[(first_at(b",") < opener_last) &
                                          (opener_last < close_last)]
        self.quote_opens_closes = ids[(quote < opener_last) & (opener_last < close_last)]
        lead = concat[starts]
        self.separates = ids[sep_last >= 0]
        self.quote_then_separates = ids[quote < sep_last]
        self.opens_then_separates = np.fromiter(
            (i for i in ids[bracket < sep_last].tolist() if _item_then_separator(token_bytes[i])),
            np.int64)
        self.quotes = ids[quote < far]
        # read from outside an escape, the token closes a string (a quote not escaped in it)
        self.closing_quotes = np.fromiter(
            (i for i in self.quotes.tolist() if _closes_string(token_bytes[i])), np.int64)
        self.backslashes = ids[first_at(b"\\") < far]
        self.spaces = ids[first_at(bytes(_WS)) < far]
        self.whitespace_first = ids[np.isin(lead, list(_WS))]
        self.scalar_first = ids[np.isin(lead, list(_SCALAR_FIRST))]

    def along(self, texts: list[bytes], base: StoredMask) -> np.ndarray:
        """The allowed tokens (of `base`) that are a prefix of one of `texts`, start with one,
        or leave one at a backslash."""
        if not texts:
            return np.empty(0, np.int64)
        heads = {t[:n] for t in texts for n in range(1, len(t))}
        out = [self._prefixed(t, exact=False) for t in texts]
        exact = [i for h in heads if h in self.first for i in (self.first[h], *self.more.get(h, ()))]
        out.append(np.asarray(exact, np.int64))
        escapes = allowed_among(base, self.backslashes).tolist()
        out.append(np.fromiter((t for t in escapes
                                if self.bytes_of[t][:self.bytes_of[t].index(b"\\")] in heads
                                or self.bytes_of[t][0] == BACKSLASH), np.int64))
        return np.concatenate(out) if out else np.empty(0, np.int64)

    def _prefixed(self, prefix: bytes, exact: bool) -> np.ndarray:
        """Ids of the tokens equal to `prefix` (exact) or starting with it."""
        lo = bisect.bisect_left(self.sorted_bytes, prefix)
        if exact:
            hi = bisect.bisect_right(self.sorted_bytes, prefix)
        else:
            end = _after_prefix(prefix)
            hi = bisect.bisect_left(self.sorted_bytes, end) if end else len(self.sorted_bytes)
        return self.sorted_ids[lo:hi]
