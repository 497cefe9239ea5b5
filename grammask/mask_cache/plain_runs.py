"""Plain-text runs: a shortcut for lexer states inside free text (JSON strings, comments).

Most of a vocabulary is *plain* text: valid UTF-8 without `"`, `\\`, control characters or
the line separators U+2028/U+2029 (95% of Llama-3's tokens; the separators are left out because
an ECMA-262 `.` does not match them, and without them a pattern like `^x.+-y$` never dies on
plain text, so its states take the shortcut too). Inside a JSON string, every plain character moves the string
automaton the same way — back to the same state when the length is unbounded, one rung up a
ladder when `maxLength` counts characters. For such a state the fate of a plain token is
known without walking it: it stays in the lexeme when its character count fits the ladder.

`plain_run(trans, accepting, state)` computes, for a state of a byte DFA, how many plain
characters are certainly accepted from it (each moving every plain character to one common,
live next state; `UNBOUNDED` for a state that loops on all of them), and whether every longer
plain run dies. `token_plain_chars(trie)` gives each token's character count in trie order
(-1 for tokens that are not plain). The vocabulary scan (`_kernels.lexer_scan`) then only
walks the tokens the shortcut does not decide.

Patterns and formats often allow only part of the plain set (`[\\w-]{1,64}`, a URI, an
e-mail's local part). `charset_run` is the same shortcut over a state's own set of ASCII
bytes, rounded down to one of `CANONICAL_CHARSETS` whose token tables
(`TokenTrie.charset_view`) a process builds once."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..automata.regex_parser import MAX_CP
from ..automata.utf8 import utf8_sequences
from ..kernels import _kernels
from ..memo import ArrayMemo

UNBOUNDED = 1 << 30
_ASCII = np.array([b for b in range(0x20, 0x80) if b not in (0x22, 0x5C)], np.int64)
# The multi-byte UTF-8 characters (RFC 3629, surrogates excluded) as byte-range sequences:
# the lead bytes, then the allowed range of each continuation byte.
_LINE_SEPARATORS = ("\u2028", "\u2029")
_SEQUENCES = utf8_sequences(0x80, 0x2027) + utf8_sequences(0x202A, MAX_CP)
# The same for the kernel: int32 [shapes, 4, 2], unused rows (-1, -1).
_SHAPE_TABLE = np.full((len(_SEQUENCES), 4, 2), -1, np.int32)
for _k, _seq in enumerate(_SEQUENCES):
    _SHAPE_TABLE[_k, :len(_seq)] = _seq
# memos per automaton *array* (the JSON Schema compiler hands every grammar the same arrays for
# the same constraints)
_plain_runs: ArrayMemo = ArrayMemo()
_closed: ArrayMemo = ArrayMemo()
_charsets: ArrayMemo = ArrayMemo()
CHARSET_MIN = 10        # bytes a charset needs (the digits) to get its own token tables


def _bits(chars: bytes) -> bytes:
    """The 16-byte key (bit b for byte b) of a set of ASCII bytes."""
    flags = np.zeros(128, np.uint8)
    flags[list(chars)] = 1
    return np.packbits(flags, bitorder="little").tobytes()


_DIGITS, _LOWER, _UPPER = b"0123456789", bytes(range(0x61, 0x7B)), bytes(range(0x41, 0x5B))
# The sets a charset run uses, largest first: a state's own set is rounded down to the largest
# of these inside it (a subset's run is as certain), so a process builds at most 19 token
# tables (`TokenTrie.charset_view`), not one per pattern; tokens starting with bytes of the
# state's set outside the chosen one are walked as before. With a space (text, names) the
# words of a BPE vocabulary (" the") are in the set; URIs (RFC 3986's characters) and
# space-free text have their own.
CANONICAL_CHARSETS = [_bits(c) for c in sorted((
    bytes(b for b in range(0x20, 0x7F) if b not in (0x22, 0x5C)),
    bytes(b for b in range(0x21, 0x7F) if b not in (0x22, 0x5C)),
    _DIGITS + _LOWER + _UPPER + b"-._~:/?#[]@!$&'()*+,;=%",
    b" " + _DIGITS + _LOWER + _UPPER + b"_-", b" " + _DIGITS + _LOWER + _UPPER, b" " + _LOWER + _UPPER,
    _DIGITS + _LOWER + _UPPER + b"_-", _DIGITS + _LOWER + _UPPER + b"_",
    _DIGITS + _LOWER + _UPPER, _LOWER + _UPPER, _DIGITS + _LOWER + b"-", _DIGITS + _LOWER,
    _DIGITS + _UPPER, _LOWER, _UPPER, _DIGITS + b"abcdefABCDEF", _DIGITS + b"abcdef",
    _DIGITS + b"ABCDEF", _DIGITS), key=len, reverse=True)]
_CANONICAL_WORDS = np.frombuffer(b"".join(CANONICAL_CHARSETS), np.uint64).reshape(-1, 2)


_canonical: dict[bytes, bytes | None] = {}


def canonical_charset(bits: bytes) -> bytes | None:
    """The largest of `CANONICAL_CHARSETS` inside the set `bits` (16 bytes), or None."""
    found = _canonical.get(bits, False)
    if found is False:
        words = np.frombuffer(bits, np.uint64)
        hit = np.flatnonzero(((_CANONICAL_WORDS & ~words) == 0).all(axis=1))
        found = CANONICAL_CHARSETS[int(hit[0])] if hit.shape[0] else None
        if len(_canonical) < 4096:
            _canonical[bits] = found
    return found  # type: ignore[return-value]


def plain_run(trans: np.ndarray, accepting: np.ndarray, state: int) -> tuple[int, bool]:
    """For one state of a byte DFA: how many plain characters are certainly accepted in a
    row (see the module docstring), and whether the run ends *dead*: after that many plain
    characters every plain character dies and the lexeme cannot end there (a `maxLength`
    string's last rung), so a longer plain token is refused without a walk. Analysed
    lazily, on the states the run passes (`_kernels.plain_run`), memoised per automaton
    array: a 6k-state `maxLength` string's whole ladder cost ~0.5-4 ms on its first mask."""
    if trans[state, 0x7E] < 0:
        # a state with a plain run is live on every plain byte, '~' included; most states
        # of small automata (literals, numbers, keys) have none: skip the analysis
        return 0, False
    memo = _plain_runs.get((trans, accepting), lambda: _RunMemo.for_automaton(trans, accepting))
    return memo.answer(state, lambda m: _kernels.plain_run(  # type: ignore[no-any-return]
        m.trans, m.accepting, state, _ASCII, _SHAPE_TABLE, UNBOUNDED, m.steps, m.runs, m.ends,
        m.known))


def charset_run(trans: np.ndarray, accepting: np.ndarray, state: int
                ) -> tuple[bytes | None, int, bool]:
    """For one state: its charset (16-byte key, None without one), the run of that set's
    characters certainly accepted, and whether the run ends dead (`_kernels.charset_run`).
    The plain ladder's generalisation for patterns and formats that allow only part of the
    plain set (`[\\w+-]{5,96}`, an e-mail's local part): the same shortcut with the state's
    own set. Sets under `CHARSET_MIN` bytes are not worth their tables. Analysed lazily, on
    the states a run passes, memoised per automaton array."""
    def compute(m: _RunMemo) -> tuple[bytes | None, int, bool]:
        run, exact = _kernels.charset_run(m.trans, m.accepting, state, CHARSET_MIN, UNBOUNDED,
                                          m.sets, m.steps, m.runs, m.ends, m.known)
        return (m.sets[state].tobytes() if run else None), run, exact

    memo = _charsets.get((trans, accepting),
                         lambda: _RunMemo.for_automaton(trans, accepting, charsets=True))
    return memo.answer(state, compute)  # type: ignore[no-any-return]


@dataclass
class _RunMemo:
    """`plain_run`'s and `charset_run`'s per-state memo for one automaton (the kernels'
    arrays, see `_kernels.plain_run` and `_kernels.charset_run`, and the answers)."""

    trans: np.ndarray
    accepting: np.ndarray
    sets: np.ndarray
    steps: np.ndarray
    runs: np.ndarray
    ends: np.ndarray
    known: np.ndarray
    lock: threading.Lock = field(default_factory=threading.Lock)
    results: dict[int, Any] = field(default_factory=dict)

    def answer(self, state: int, compute: Callable[[_RunMemo], Any]) -> Any:
        """The memoised answer for `state`, computed (under the lock: the kernels write the
        shared arrays) on the first request."""
        found = self.results.get(state)
        if found is None:
            with self.lock:
                found = self.results[state] = compute(self)
        return found

    @classmethod
    def for_automaton(cls, trans: np.ndarray, accepting: np.ndarray,
                      charsets: bool = False) -> _RunMemo:
        """Empty memo arrays for `trans` (13 bytes a state; charsets add 16)."""
        n = trans.shape[0]
        return cls(np.ascontiguousarray(trans, np.int32), np.ascontiguousarray(accepting, np.uint8),
                   np.zeros((n if charsets else 0, 2), np.uint64), np.zeros(n, np.int32),
                   np.zeros(n, np.int32), np.zeros(n, np.int32), np.zeros(n, np.uint8))


def token_plain_chars(token_bytes_sorted: list[bytes]) -> np.ndarray:
    """Character count of each plain token (in the given order), -1 for the others."""
    out = np.full(len(token_bytes_sorted), -1, np.int32)
    for i, b in enumerate(token_bytes_sorted):
        if not b or any(x < 0x20 or x in (0x22, 0x5C) for x in b):
            continue
        try:
            text = b.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if not any(sep in text for sep in _LINE_SEPARATORS):
            out[i] = len(text)
    return out


def plain_closed(trans: np.ndarray, state: int, known: dict[int, bool], cap: int = 4096) -> bool:
    """Whether every plain text keeps a (combined-lexer) DFA alive from `state`: the states
    reachable by plain characters form a closed set without a dead plain transition. This
    catches states the per-terminal `ladder` cannot, such as a property-name literal beside
    the string of all other names (together they continue every string). `known` memoises
    verdicts per state; exploring more than `cap` states gives up (False)."""
    if state in known:
        return known[state]
    seen = _kernels.plain_closure(trans, state, _ASCII, _SHAPE_TABLE, cap)
    if seen is None:
        known[state] = False
        return False
    for s in seen.tolist():
        known[s] = True
    return True


def terminal_plain_closed(trans: np.ndarray, state: int) -> bool:
    """`plain_closed` on a terminal's own automaton, with verdicts memoised per automaton
    array across grammars, so a pattern's closure is explored once per process, not once
    per grammar."""
    return plain_closed(trans, state, _closed.get((trans,), dict))


def plain_masks(trie) -> list[np.ndarray]:
    """masks[L]: bitmask words of the plain tokens with at most L characters, for L up to the
    longest plain token (longer limits use the last mask)."""
    return length_masks(trie.plain_chars(), trie.token_ids, trie.vocab_size)


def length_masks(chars: np.ndarray, token_ids: np.ndarray, vocab_size: int) -> list[np.ndarray]:
    """masks[L]: bitmask words of the tokens (`token_ids`, aligned with `chars`) whose count
    `chars` is between 0 and L, for L up to the largest count."""
    from ..kernels import bitmask_words
    rows = _kernels.length_masks(np.ascontiguousarray(chars, np.int32),
                                 np.ascontiguousarray(token_ids, np.int32),
                                 bitmask_words(vocab_size))
    return list(rows)
