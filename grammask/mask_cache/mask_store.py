"""Per-automaton-state token masks, computed lazily by a trie walk and memoised.

Masks are stored in whichever of three forms is smallest — the dense bit words, the list of
allowed ids, or the list of rejected ids — and identical masks are stored once. A restrictive
state (digits only) then costs a few hundred bytes and a permissive one (inside a string) a
few hundred bytes too, instead of vocab_size/8 each."""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..kernels import _kernels, bitmask_words
from ..tokenizer_info import TokenizerInfo
from .class_trie import build_class_trie
from .token_trie import TokenTrie

KIND_DENSE, KIND_ALLOW, KIND_REJECT = 0, 1, 2


@dataclass(frozen=True)
class StoredMask:
    """One mask in its compact form; `data` is uint32 (bit words or token ids)."""

    kind: int
    data: np.ndarray
    allowed: int

    @property
    def address(self) -> int:
        return int(self.data.ctypes.data)


class MaskStore:
    """Lazily computed, memoised masks for the states of one byte DFA over one vocabulary."""

    def __init__(self, trans: np.ndarray, accepting: np.ndarray, trie: TokenTrie,
                 tokenizer: TokenizerInfo) -> None:
        self.trans = trans
        self.accepting = accepting
        self.class_trie = build_class_trie(trans, trie)
        self.vocab_size = tokenizer.vocab_size
        self.words = bitmask_words(tokenizer.vocab_size)
        self.eos_ids = np.asarray(tokenizer.eos_token_ids, dtype=np.int64)
        # states whose token masks provably coincide (same behaviour for every string up to
        # the longest token) share one computation: long counted repetitions collapse
        self.state_block, self.num_blocks = _kernels.bounded_partition(
            self.class_trie.trans_c, max(trie.max_depth, 1))
        self._by_block: dict[tuple[int, bool], StoredMask] = {}
        self._by_state: dict[int, StoredMask] = {}
        self._interner = MaskInterner(tokenizer.vocab_size)
        self._lock = threading.Lock()

    def get(self, state: int) -> StoredMask:
        """The mask of `state` (tokens whose bytes keep the text completable, EOS if accepting)."""
        found = self._by_state.get(state)
        if found is not None:
            return found
        key = (int(self.state_block[state]), bool(self.accepting[state]))
        stored = self._by_block.get(key)
        if stored is None:
            stored = self._interner.intern(self._compute_dense(state))
            with self._lock:
                stored = self._by_block.setdefault(key, stored)
        with self._lock:
            return self._by_state.setdefault(state, stored)

    def dense(self, state: int) -> np.ndarray:
        """The mask of `state` as uint32 bit words (a fresh array)."""
        return self._interner.densify(self.get(state))

    def precompute(self, states: range | list[int] | None = None) -> None:
        """Compute the masks of `states` (all states by default) now instead of on first use."""
        for s in (range(self.trans.shape[0]) if states is None else states):
            self.get(s)

    @property
    def computed_states(self) -> int:
        return len(self._by_state)

    @property
    def unique_masks(self) -> int:
        return self._interner.count

    def memory_bytes(self) -> int:
        """Stored masks plus the class trie (both per grammar)."""
        return self._interner.nbytes + self.class_trie.memory_bytes()

    def _compute_dense(self, state: int) -> np.ndarray:
        words = np.zeros(self.words, dtype=np.uint32)
        self.class_trie.walk_mask(state, words)
        if self.accepting[state]:
            for e in self.eos_ids:
                words[e >> 5] |= np.uint32(1 << int(e & 31))
        return words


class MaskInterner:
    """Stores masks compressed (dense / allow-list / reject-list, whichever is smallest) and
    shares equal ones: a hash finds candidates, a full comparison decides."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size
        self.words = bitmask_words(vocab_size)
        self._unique: dict[int, list[StoredMask]] = {}
        self._lock = threading.Lock()
        self.count = 0
        self.nbytes = 0

    def intern(self, words: np.ndarray) -> StoredMask:
        key = int(_kernels.mask_hash(words))
        with self._lock:
            for stored in self._unique.get(key, ()):
                if _kernels.stored_equals(stored.kind, stored.data, words, self.vocab_size):
                    return stored
            stored = _compress(words, self.vocab_size)
            self._unique.setdefault(key, []).append(stored)
            self.count += 1
            self.nbytes += stored.data.nbytes
            return stored

    def with_ids(self, stored: StoredMask, ids: np.ndarray) -> StoredMask:
        """`stored` with the sorted token ids `ids` (none of them allowed there) allowed too,
        built straight from its compact form: no dense copy to hash and compare, which cost
        more than the rest of a configuration's recheck. Not shared: the caller memoises it
        by what it was made from."""
        if stored.kind == KIND_ALLOW:
            data = np.sort(np.concatenate((stored.data, ids.astype(np.uint32))))
        elif stored.kind == KIND_REJECT:
            data = np.delete(stored.data, np.searchsorted(stored.data, ids.astype(np.uint32)))
        else:
            data = stored.data.copy()
            _kernels.ids_to_mask(ids.astype(np.int32, copy=False), data)
        with self._lock:
            self.nbytes += data.nbytes
        return StoredMask(stored.kind, data, stored.allowed + int(ids.shape[0]))

    def densify(self, stored: StoredMask) -> np.ndarray:
        """The mask as a fresh array of uint32 words."""
        out = np.zeros((1, self.words), dtype=np.uint32)
        _kernels.fill_row(stored.kind, stored.data, out, 0, self.vocab_size)
        return out[0]


def _compress(words: np.ndarray, vocab_size: int) -> StoredMask:
    allowed = int(_kernels.popcount_words(words))
    small = vocab_size // 32
    if allowed <= small:
        return StoredMask(KIND_ALLOW, _kernels.mask_to_ids(words, vocab_size, True), allowed)
    if vocab_size - allowed <= small:
        return StoredMask(KIND_REJECT, _kernels.mask_to_ids(words, vocab_size, False), allowed)
    return StoredMask(KIND_DENSE, words, allowed)
