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
from dataclasses import dataclass

import numpy as np

from ..kernels import _kernels, bitmask_words
from .mask_store import StoredMask, _compress
from .token_trie import TokenTrie


@dataclass(frozen=True)
class LexStateMasks:
    """The context-independent classification of the vocabulary from one lexer state.

    Straddlers come in two kinds: *linked* ones, whose suffix after the lexeme is itself a
    token (the usual case in BPE vocabularies: `" the"`, `"",`): their bit is that token's bit
    in the mask of the configuration after the lexeme, a gather; and the rest, whose distinct
    suffixes are walked."""

    acc: np.ndarray                   # uint32 words
    f0: np.ndarray | None             # uint32 words, None when empty
    link_emits: np.ndarray            # int32 [k]: distinct lexeme kinds of linked straddlers
    link_offsets: np.ndarray          # int64 [k+1]: their ranges in link_tokens/link_suffix
    link_tokens: np.ndarray           # int32: straddler ids (by emit, then token length)
    link_suffix: np.ndarray           # int32: id of the token spelling each one's suffix
    link_lengths: np.ndarray          # int32: byte length of each straddler
    walk_emits: np.ndarray            # int32 [g]: lexeme kinds before each suffix group
    suffix_concat: np.ndarray         # uint8: unique unlinked suffixes concatenated
    suffix_offsets: np.ndarray        # int64 [g+1]
    group_tokens: np.ndarray          # int32: token ids, grouped by suffix
    group_offsets: np.ndarray         # int64 [g+1]

    @property
    def num_straddlers(self) -> int:
        return int(self.group_tokens.shape[0] + self.link_tokens.shape[0])

    def memory_bytes(self) -> int:
        f0 = self.f0.nbytes if self.f0 is not None else 0
        arrays = (self.acc, self.link_emits, self.link_offsets, self.link_tokens,
                  self.link_suffix, self.link_lengths, self.walk_emits, self.suffix_concat,
                  self.suffix_offsets, self.group_tokens, self.group_offsets)
        return f0 + sum(a.nbytes for a in arrays)


def _ranges(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values, start offsets + end) of a sorted key array."""
    if keys.shape[0] == 0:
        return np.zeros(0, np.int32), np.zeros(1, np.int64)
    change = np.flatnonzero(np.diff(keys)) + 1
    starts = np.concatenate(([0], change, [keys.shape[0]])).astype(np.int64)
    return keys[starts[:-1]].astype(np.int32), starts


def scan_lexer_state(trie: TokenTrie, token_bytes: list, trans: np.ndarray, emit: np.ndarray,
                     state: int, vocab_size: int) -> LexStateMasks:
    """Run the vocabulary scan from lexer state `state` and organise the straddlers."""
    words = bitmask_words(vocab_size)
    acc_ids, f0_ids, s_ids, s_off, s_emit, s_link = _kernels.lexer_scan(
        trie.concat, trie.offsets, trie.token_ids, trie.suffix_links(), trans, emit, state,
        max(trie.max_depth, 1))
    acc = np.zeros(words, dtype=np.uint32)
    _kernels.ids_to_mask(acc_ids, acc)
    f0 = None
    if f0_ids.shape[0]:
        f0 = np.zeros(words, dtype=np.uint32)
        _kernels.ids_to_mask(f0_ids, f0)
    linked = s_link >= 0
    l_ids, l_emit, l_link = s_ids[linked], s_emit[linked], s_link[linked]
    l_len = np.fromiter((len(token_bytes[t]) for t in l_ids.tolist()), dtype=np.int32,
                        count=l_ids.shape[0])
    order = np.lexsort((l_len, l_emit))
    link_emits, link_offsets = _ranges(l_emit[order])
    groups: dict[tuple[int, bytes], list[int]] = {}
    rest = ~linked
    for tid, off, e in zip(s_ids[rest].tolist(), s_off[rest].tolist(), s_emit[rest].tolist()):
        groups.setdefault((e, token_bytes[tid][off:]), []).append(tid)
    keys = sorted(groups)
    suffixes = [sfx for _, sfx in keys]
    soff = np.zeros(len(keys) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in suffixes], out=soff[1:])
    toks = [groups[k] for k in keys]
    goff = np.zeros(len(keys) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in toks], out=goff[1:])
    return LexStateMasks(
        acc, f0, link_emits, link_offsets, l_ids[order].copy(), l_link[order].copy(),
        l_len[order].copy(), np.fromiter((e for e, _ in keys), dtype=np.int32, count=len(keys)),
        np.frombuffer(b"".join(suffixes), dtype=np.uint8).copy(), soff,
        np.fromiter((t for ts in toks for t in ts), dtype=np.int32, count=int(goff[-1])), goff)


class MaskInterner:
    """Stores masks compressed (dense / allow-list / reject-list) and shares equal ones."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size
        self.words = bitmask_words(vocab_size)
        self._unique: dict[int, list[tuple[np.ndarray, StoredMask]]] = {}
        self._lock = threading.Lock()
        self.count = 0
        self.nbytes = 0

    def intern(self, words: np.ndarray) -> StoredMask:
        padded = words if words.shape[0] % 2 == 0 else np.append(words, np.uint32(0))
        key = int(_kernels.mask_hash(padded.view(np.uint64)))
        with self._lock:
            for dense, stored in self._unique.get(key, ()):
                if np.array_equal(dense, words):
                    return stored
            stored = _compress(words, self.vocab_size)
            self._unique.setdefault(key, []).append((words if stored.kind == 0 else
                                                     words.copy(), stored))
            self.count += 1
            self.nbytes += stored.data.nbytes
            return stored
