"""Token masks for the CFG engine: context-independent parts per lexer state, composed per
parser configuration at run time and memoised.

For a configuration (parser state p, lexer state l) the mask is

    ACC(l)  ∪  (F0(l) ∩ mask(p', start(p')))  ∪  {straddlers of l that walk on from p'}  ∪ EOS?

* ACC(l): tokens whose bytes all stay inside the current lexeme — valid whatever the parser
  stack holds (the lexer only offers candidates the parser accepts); one vocabulary scan per
  lexer state, shared by every parser state.
* F0(l): tokens whose *first* byte ends the lexeme l (when l can end). After that lexeme the
  parser is in p' and the token is exactly as valid as it is from (p', fresh lexeme), so it
  costs one AND with that configuration's (memoised) mask instead of a walk.
* straddlers: tokens that stay in the lexeme for d ≥ 1 bytes and then end it. Only these are
  walked at run time (in Cython, with parser transitions memoised); identical suffixes after
  the same lexeme kinds are walked once.
Masks are memoised per configuration id (parser states are hash-consed, so configurations
recur: every element of an array, every statement of a block)."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..kernels import _kernels, bitmask_words
from .plain_runs import UNBOUNDED
from .token_trie import CHARSET_BUCKET, TokenTrie


class LexStateMasks(NamedTuple):
    """The context-independent classification of the vocabulary from one lexer state (a
    named tuple: a shared scan's hit builds one per lexer state, and a frozen dataclass's
    constructor cost more than the rest of the hit).

    Straddlers come in two kinds: *linked* ones, whose suffix after the lexeme is itself a
    token (the usual case in BPE vocabularies: `" the"`, `"",`): their bit is that token's bit
    in the mask of the configuration after the lexeme, a gather; and the rest, whose distinct
    suffixes are walked."""

    acc: np.ndarray                   # uint32 words
    f0: np.ndarray | None             # uint32 words, None when empty
    link_emits: np.ndarray            # int32 [k]: distinct lexeme kinds of linked straddlers
    link_offsets: np.ndarray          # int64 [k, 257]: per emit and suffix first byte, ranges
    link_tokens: np.ndarray           # int32: straddler ids (by emit, suffix's first byte)
    link_suffix: np.ndarray           # int32: id of the token spelling each one's suffix
    link_start: np.ndarray            # int64: where each one's suffix starts in trie.concat
    link_end: np.ndarray              # int64: where it ends
    walk_emits: np.ndarray            # int32 [k]: distinct lexeme kinds of walked suffixes
    walk_ranges: np.ndarray           # int64 [k, 257]: per emit and first byte, entry ranges
    walk_tokens: np.ndarray           # int32: unlinked straddler ids (by emit, first byte)
    walk_start: np.ndarray            # int64: where each one's suffix starts in trie.concat
    walk_end: np.ndarray              # int64: where it ends

    @property
    def num_straddlers(self) -> int:
        return int(self.walk_tokens.shape[0] + self.link_tokens.shape[0])

    def memory_bytes(self) -> int:
        f0 = self.f0.nbytes if self.f0 is not None else 0
        arrays = (self.acc, self.link_emits, self.link_offsets, self.link_tokens,
                  self.link_suffix, self.link_start, self.link_end,
                  self.walk_emits, self.walk_ranges,
                  self.walk_tokens, self.walk_start, self.walk_end)
        return f0 + sum(a.nbytes for a in arrays)


def scan_lexer_state(trie: TokenTrie, token_bytes: list, trans: np.ndarray, emit: np.ndarray,
                     state: int, vocab_size: int, plain_limit: int = 0,
                     plain_exact: bool = False, charset: bytes | None = None) -> LexStateMasks:
    """Run the vocabulary scan from lexer state `state` and organise the straddlers.
    `plain_limit` > 0: plain tokens of at most that many characters stay in the lexeme
    (`plain_runs`), so only the other tokens are walked. `plain_exact`: longer plain tokens
    are certainly refused, so only the non-plain tokens are walked at all. With `charset`
    (`plain_runs.charset_run`'s bits) the same holds for the tokens spelled with that set
    of bytes instead of the plain ones."""
    if charset is not None and not (plain_exact or plain_limit >= CHARSET_BUCKET):
        charset, plain_limit = None, 0      # too short a run for its sub-tries: walk all
    parts, acc, depth = _plain_walk(trie, plain_limit, plain_exact, vocab_size) \
        if charset is None else _charset_walk(trie, charset, plain_limit, plain_exact)
    f0_bytes, *straddlers = _kernels.lexer_scan(parts, trans, emit, state, depth, trie.concat, acc)
    return LexStateMasks(acc, _first_byte_union(trie, f0_bytes), *straddlers)


def scan_over_base(trie: TokenTrie, trans: np.ndarray, emit: np.ndarray, state: int,
                   base: LexStateMasks, covered: np.ndarray, plain: bool = True
                   ) -> LexStateMasks:
    """The scan from lexer state `state`, taken from `base` for the tokens starting with a
    byte `covered` flags: `base` is the scan of a state that goes to the same state as
    `state` on each such byte. `plain`: both states keep every plain token inside the
    lexeme, so only the non-plain tokens starting with another byte are walked; a property
    name's state then walks the non-plain tokens starting with the declared names' next
    letters instead of every non-plain token (`CompiledCFG._successor_scan`). Without it
    every token starting with another byte is walked (two start states of Python code
    whose candidates differ by a few keywords: the tokens starting with a space, a digit
    or a bracket are the base's)."""
    sub, pos = trie.non_plain() if plain else (trie, None)
    acc = base.acc.copy()
    part = _part(sub, sub.plain_chars(), 0, pos, skip_first=covered)
    base_arrays = (base.link_emits, base.link_offsets, base.link_tokens, base.link_suffix,
                   base.link_start, base.link_end, base.walk_emits, base.walk_ranges,
                   base.walk_tokens, base.walk_start, base.walk_end, covered,
                   trie.first_bytes())
    f0_bytes, *straddlers = _kernels.lexer_scan([part], trans, emit, state,
                                                max(sub.max_depth, 1), trie.concat, acc,
                                                base_arrays)
    return LexStateMasks(acc, _first_byte_union(trie, f0_bytes), *straddlers)


def _plain_walk(trie: TokenTrie, limit: int, exact: bool, vocab_size: int
                ) -> tuple[list[tuple], np.ndarray, int]:
    """(scan parts, accepted tokens decided unwalked, deepest token) of a plain-run scan."""
    walked, pos = trie, None
    if limit >= UNBOUNDED or exact:
        walked, pos = trie.non_plain()         # every plain token stays: walk only the rest
    elif limit > 0:
        walked, pos = trie.plain_above(limit)
    acc = trie.plain_mask(limit).copy() if limit > 0 else \
        np.zeros(bitmask_words(vocab_size), dtype=np.uint32)
    parts = [_part(walked, walked.plain_chars(), min(limit, UNBOUNDED), pos)]
    return parts, acc, max(walked.max_depth, 1)


def _charset_walk(trie: TokenTrie, charset: bytes, limit: int, exact: bool
                  ) -> tuple[list[tuple], np.ndarray, int]:
    """The same for a charset run: the full trie with the set's first bytes jumped, then
    the view's sub-trie of the tokens starting in the set that must be walked."""
    view = trie.charset_view(charset)
    sub, pos, chars = view.part(0 if limit >= UNBOUNDED or exact else CHARSET_BUCKET)
    parts = [_part(trie, trie.plain_chars(), 0, skip_first=view.table),
             _part(sub, chars, min(limit, UNBOUNDED), pos)]
    return parts, view.mask(limit).copy(), max(trie.max_depth, 1)


_NO_I64 = np.zeros(0, dtype=np.int64)
_NO_U8 = np.zeros(0, dtype=np.uint8)


def _part(t: TokenTrie, chars: np.ndarray, limit: int, pos: np.ndarray | None = None,
          skip_first: np.ndarray | None = None) -> tuple:
    """One part of `_kernels.lexer_scan`: the (sub-)trie `t` with `chars` per token (tokens
    with 0 <= chars <= `limit` are taken unwalked), `pos` its concat positions in the full
    trie (None: it is the full trie) and `skip_first` the first bytes another part covers."""
    return (t.concat, t.offsets, t.token_ids, t.lcps(), t.subtree_skip(), t.suffix_links(),
            chars, limit, _NO_I64 if pos is None else pos,
            _NO_U8 if skip_first is None else skip_first,
            _NO_I64 if skip_first is None else t.first_byte_end())


def _first_byte_union(trie: TokenTrie, flags: np.ndarray) -> np.ndarray | None:
    """The mask of `trie`'s tokens whose first byte is flagged (None when empty): an OR of
    the flagged rows, or the complement of the unflagged ones when that is fewer rows. The
    full trie serves every scan: a flagged first byte is dead from the scan's state, and the
    tokens a sub-trie leaves out start with bytes that live."""
    rows, every = trie.first_byte_masks()
    return _kernels.first_byte_union(flags, rows, every)  # type: ignore[no-any-return]


# -- scans shared between lexer states and grammars -------------------------------------------------
# A scan reads only the lexer automaton reachable from its state (`_kernels.lexer_shape`): two
# states of one shape classify every token alike, up to the names of their lexeme kinds. They
# recur a lot: every string-valued property of a JSON Schema has its own string terminal, so
# its "inside a string" state is a new combined state of the very same shape, in this grammar
# and in the next. Scans are kept per process, keyed by (vocabulary, shape) with kinds
# renamed to their order of appearance, and bounded in memory (least recently used first out).
SHARED_SCAN_BYTES = 256 << 20
SHARED_SHAPE_STATES = 64        # larger reachable automata (rarely shared) are scanned directly
_shared: OrderedDict[tuple, LexStateMasks] = OrderedDict()
_shared_bytes = 0
_shared_lock = threading.Lock()


def shared_scan(key: tuple[str, bytes], emits: np.ndarray,
                compute: Callable[[], LexStateMasks]) -> LexStateMasks:
    """The scan of a lexer state whose (vocabulary fingerprint, `lexer_shape`) is `key` and
    whose lexeme kinds, in the shape's order, are `emits`: from the memo with kinds renamed,
    or `compute()`d and memoised."""
    global _shared_bytes
    with _shared_lock:
        hit = _shared.get(key)
        if hit is not None:
            _shared.move_to_end(key)
    if hit is not None:
        return _renamed(hit, emits)
    masks = compute()
    stored = masks
    if emits.shape[0]:
        to_local = np.full(int(emits.max()) + 1, -1, np.int32)
        to_local[emits] = np.arange(emits.shape[0], dtype=np.int32)
        stored = _renamed(masks, to_local)
    size = stored.memory_bytes() + len(key[1])
    with _shared_lock:
        if key not in _shared:
            _shared[key] = stored
            _shared_bytes += size
            while _shared_bytes > SHARED_SCAN_BYTES and len(_shared) > 1:
                old_key, old = _shared.popitem(last=False)
                _shared_bytes -= old.memory_bytes() + len(old_key[1])
    return masks


def _renamed(masks: LexStateMasks, table: np.ndarray) -> LexStateMasks:
    """`masks` with each lexeme kind e of its straddler groups renamed to table[e]."""
    if not masks.link_emits.shape[0] and not masks.walk_emits.shape[0]:
        return masks
    m = masks
    return LexStateMasks(m.acc, m.f0, table[m.link_emits], *m[3:8], table[m.walk_emits], *m[9:])
