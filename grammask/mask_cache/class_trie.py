"""The vocabulary trie folded by one automaton's byte classes.

Bytes the automaton never distinguishes (every letter inside a JSON string, say) form one
class; tokens whose bytes fall in the same classes in the same order follow the same path
through the automaton from every state. Folding them onto one trie path turns a walk over
~270k byte-trie nodes (Llama-3) into a walk over a few thousand class-trie nodes, so even
the first mask of a permissive state costs tens of microseconds."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..kernels import _kernels, bitmask_words
from .token_trie import TokenTrie


@dataclass(frozen=True)
class ClassTrie:
    """Pre-order class trie plus the automaton's transitions over classes."""

    trans_c: np.ndarray     # int32 (states x classes)
    byte_class: np.ndarray  # uint8 (256,)
    node_class: np.ndarray
    node_depth: np.ndarray
    node_end: np.ndarray
    tok_start: np.ndarray
    tok_ids: np.ndarray
    node_dense: np.ndarray  # int32 per node: row of dense_rows, or -1
    dense_rows: np.ndarray  # uint32 (big nodes x words)
    max_depth: int

    @property
    def num_nodes(self) -> int:
        return int(self.node_class.shape[0])

    @property
    def num_classes(self) -> int:
        return int(self.trans_c.shape[1])

    def walk_mask(self, state: int, out: np.ndarray) -> None:
        """OR into `out` (uint32 words) every token leading from `state` to a live state."""
        _kernels.class_trie_walk_mask(self.trans_c, state, self.node_class, self.node_depth,
                                      self.node_end, self.tok_start, self.tok_ids,
                                      self.node_dense, self.dense_rows, out, self.max_depth)

    def memory_bytes(self) -> int:
        return sum(a.nbytes for a in (self.trans_c, self.byte_class, self.node_class,
                                      self.node_depth, self.node_end, self.tok_start,
                                      self.tok_ids, self.node_dense, self.dense_rows))


def byte_classes(trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(byte -> class id, states x classes table): bytes with identical columns share a class."""
    columns = np.ascontiguousarray(trans.T)
    first_byte: dict[bytes, int] = {}
    byte_class = np.empty(256, dtype=np.uint8)
    representatives: list[int] = []
    for b in range(256):
        cls = first_byte.setdefault(columns[b].tobytes(), len(first_byte))
        if cls == len(representatives):
            representatives.append(b)
        byte_class[b] = cls
    return byte_class, np.ascontiguousarray(trans[:, representatives], dtype=np.int32)


def build_class_trie(trans: np.ndarray, vocab: TokenTrie) -> ClassTrie:
    """Fold `vocab` by the byte classes of the transition table `trans` (states x 256)."""
    byte_class, trans_c = byte_classes(trans)
    node_class, node_depth, node_end, tok_start, tok_ids = _kernels.build_class_trie(
        vocab.concat, vocab.offsets, vocab.token_ids, byte_class)
    node_dense, dense_rows = _dense_rows(tok_start, tok_ids, vocab.vocab_size)
    return ClassTrie(trans_c, byte_class, node_class, node_depth, node_end, tok_start, tok_ids,
                     node_dense, dense_rows, vocab.max_depth)


def _dense_rows(tok_start: np.ndarray, tok_ids: np.ndarray,
                vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense bit rows for nodes ending at least half a row's worth of tokens: OR-ing one
    vectorised row beats setting that many scattered bits."""
    words = bitmask_words(vocab_size)
    counts = np.diff(tok_start)
    big = np.flatnonzero(counts >= max(words // 2, 64))
    node_dense = np.full(counts.shape[0], -1, dtype=np.int32)
    node_dense[big] = np.arange(big.shape[0], dtype=np.int32)
    rows = np.zeros((big.shape[0], words), dtype=np.uint32)
    for r, node in enumerate(big):
        _kernels.ids_to_mask(tok_ids[tok_start[node]:tok_start[node + 1]], rows[r])
    return node_dense, rows
