# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Hot loops of grammask, compiled. Every loop that touches the vocabulary lives here and runs
without the GIL, so a server thread can fill masks while another runs the model's forward pass."""

from libc.stdint cimport int32_t, uint32_t, uint8_t, int64_t, uint64_t
from libc.string cimport memcpy, memset


cdef extern from *:
    int __builtin_ctz(unsigned int x) nogil

import numpy as np


cdef inline void _set_bit(uint32_t* mask, int32_t t) noexcept nogil:
    mask[t >> 5] |= (<uint32_t>1) << (t & 31)


def dfa_walk(const int32_t[:, ::1] trans, int32_t state, const uint8_t[::1] data):
    """The DFA state after reading `data` from `state`, or -1 as soon as it dies."""
    cdef Py_ssize_t i
    cdef Py_ssize_t n = data.shape[0]
    with nogil:
        for i in range(n):
            state = trans[state, data[i]]
            if state < 0:
                break
    return state


# ---------------------------------------------------------------------------------------------
# Stored mask representations (chosen per mask by size): 0 dense words, 1 allowed ids, 2 rejected ids.
cdef enum:
    KIND_DENSE = 0
    KIND_ALLOW = 1
    KIND_REJECT = 2

cdef void _fill_one(int32_t kind, const uint32_t* data, Py_ssize_t length, uint32_t* row,
                    Py_ssize_t words, uint32_t last_word_mask) noexcept nogil:
    cdef Py_ssize_t j
    cdef uint32_t t
    if kind == KIND_DENSE:
        memcpy(row, data, words * 4)
    elif kind == KIND_ALLOW:
        memset(row, 0, words * 4)
        for j in range(length):
            t = data[j]
            row[t >> 5] |= (<uint32_t>1) << (t & 31)
    else:
        memset(row, 0xFF, words * 4)
        row[words - 1] = last_word_mask
        for j in range(length):
            t = data[j]
            row[t >> 5] &= ~((<uint32_t>1) << (t & 31))


def fill_rows(const int64_t[::1] kinds, const int64_t[::1] ptrs, const int64_t[::1] lengths,
              const int64_t[::1] rows, uint32_t[:, ::1] bitmask, int32_t vocab_size):
    """Write stored masks into rows of `bitmask` without the GIL. `ptrs[i]` is the address of
    the i-th mask's uint32 data (kept alive by the caller), `rows[i]` the target row."""
    cdef Py_ssize_t i, n = kinds.shape[0]
    cdef Py_ssize_t words = bitmask.shape[1]
    cdef uint32_t last = 0xFFFFFFFF
    cdef int32_t rem = vocab_size - (words - 1) * 32
    if rem < 32:
        last = ((<uint32_t>1) << rem) - 1
    for i in range(n):
        if rows[i] < 0 or rows[i] >= bitmask.shape[0]:
            raise IndexError(f"bitmask row {rows[i]} out of range for {bitmask.shape[0]} rows")
    with nogil:
        for i in range(n):
            _fill_one(<int32_t>kinds[i], <const uint32_t*><Py_ssize_t>ptrs[i], lengths[i],
                      &bitmask[rows[i], 0], words, last)


ctypedef fused real_t:
    float
    double


def apply_bitmask(real_t[:, ::1] logits, const uint32_t[:, ::1] bitmask,
                  const int64_t[::1] rows, const int64_t[::1] mask_rows):
    """logits[rows[i], t] = -inf wherever bit t of bitmask[mask_rows[i]] is clear; columns past
    the bitmask's width are disallowed too (padding ids)."""
    cdef Py_ssize_t i, t, n = rows.shape[0], V = logits.shape[1]
    cdef Py_ssize_t covered = bitmask.shape[1] * 32
    cdef real_t neg_inf = -float("inf")
    cdef real_t* lrow
    cdef const uint32_t* brow
    cdef uint32_t w
    cdef Py_ssize_t base, b, lim
    cdef uint32_t all_ones = 0xFFFFFFFF
    with nogil:
        for i in range(n):
            lrow = &logits[rows[i], 0]
            brow = &bitmask[mask_rows[i], 0]
            lim = V if V < covered else covered
            base = 0
            while base + 32 <= lim:
                w = brow[base >> 5]
                if w == 0:
                    for b in range(32):
                        lrow[base + b] = neg_inf
                elif w != all_ones:
                    w = ~w
                    while w:
                        lrow[base + __builtin_ctz(w)] = neg_inf
                        w &= w - 1
                base += 32
            if base < lim:
                w = brow[base >> 5]
                for b in range(lim - base):
                    if not (w >> b) & 1:
                        lrow[base + b] = neg_inf
            for t in range(covered, V):
                lrow[t] = neg_inf


# ---------------------------------------------------------------------------------------------
# Class tries: the vocabulary trie quotiented by one automaton's byte classes.
from libc.stdlib cimport malloc, realloc, free


def build_class_trie(const uint8_t[::1] concat, const int64_t[::1] offsets,
                     const int32_t[::1] token_ids, const uint8_t[::1] byte_class,
                     int32_t n_classes):
    """Trie of the tokens' *class strings* (each byte replaced by its automaton byte class).

    Tokens whose bytes the automaton cannot tell apart share one path, so a permissive state
    (inside a string) walks a few thousand nodes instead of every byte of the vocabulary.
    Returns pre-order (node_class, node_depth, node_end, tok_start, tok_ids); the tokens ending
    at node i are tok_ids[tok_start[i]:tok_start[i + 1]]."""
    cdef Py_ssize_t n_tok = token_ids.shape[0]
    cdef Py_ssize_t cap = 4096, n_nodes = 1, k, j, node, nxt, c
    cdef int32_t* child = <int32_t*>malloc(cap * n_classes * sizeof(int32_t))
    if child == NULL:
        raise MemoryError()
    cdef int32_t* grown
    for j in range(cap * n_classes):
        child[j] = -1
    token_node_a = np.empty(n_tok, dtype=np.int64)
    cdef int64_t[::1] token_node = token_node_a
    try:
        with nogil:
            for k in range(n_tok):
                node = 0
                for j in range(offsets[k], offsets[k + 1]):
                    c = byte_class[concat[j]]
                    nxt = child[node * n_classes + c]
                    if nxt < 0:
                        if n_nodes == cap:
                            grown = <int32_t*>realloc(child, 2 * cap * n_classes * sizeof(int32_t))
                            if grown == NULL:
                                with gil:
                                    raise MemoryError()
                            child = grown
                            for nxt in range(cap * n_classes, 2 * cap * n_classes):
                                child[nxt] = -1
                            cap *= 2
                        nxt = n_nodes
                        n_nodes += 1
                        child[node * n_classes + c] = <int32_t>nxt
                    node = nxt
                token_node[k] = node
        return _emit_preorder(child, n_nodes, n_classes, token_node, token_ids)
    finally:
        free(child)


cdef tuple _emit_preorder(int32_t* child, Py_ssize_t n_nodes, int32_t n_classes,
                          int64_t[::1] token_node, const int32_t[::1] token_ids):
    """Number the trie's nodes depth-first (root excluded) and group tokens per node."""
    order_a = np.full(n_nodes, -1, dtype=np.int64)       # old node -> new index (root: -1)
    node_class_a = np.empty(max(n_nodes - 1, 0), dtype=np.int32)
    node_depth_a = np.empty(max(n_nodes - 1, 0), dtype=np.int32)
    node_end_a = np.empty(max(n_nodes - 1, 0), dtype=np.int32)
    cdef int64_t[::1] order = order_a
    cdef int32_t[::1] node_class = node_class_a, node_depth = node_depth_a, node_end = node_end_a
    # explicit DFS stack of (old node, next class to try); depth = stack height
    stack_node_a = np.empty(n_nodes + 1, dtype=np.int64)
    stack_next_a = np.empty(n_nodes + 1, dtype=np.int32)
    cdef int64_t[::1] stack_node = stack_node_a
    cdef int32_t[::1] stack_next = stack_next_a
    cdef Py_ssize_t top = 0, emitted = 0, node, c, ch
    stack_node[0] = 0
    stack_next[0] = 0
    with nogil:
        while top >= 0:
            node = stack_node[top]
            c = stack_next[top]
            while c < n_classes and child[node * n_classes + c] < 0:
                c += 1
            if c == n_classes:
                if node != 0:
                    node_end[order[node]] = <int32_t>emitted
                top -= 1
                continue
            stack_next[top] = <int32_t>(c + 1)
            ch = child[node * n_classes + c]
            order[ch] = emitted
            node_class[emitted] = <int32_t>c
            node_depth[emitted] = <int32_t>(top + 1)
            emitted += 1
            top += 1
            stack_node[top] = ch
            stack_next[top] = 0
    new_node = order_a[token_node]
    keep = new_node >= 0            # empty tokens end at the root: never allowed
    new_node = new_node[keep]
    ids = np.asarray(token_ids)[keep]
    perm = np.argsort(new_node, kind="stable")
    tok_ids = ids[perm].astype(np.int32)
    counts = np.bincount(new_node, minlength=max(n_nodes - 1, 0))
    tok_start = np.zeros(max(n_nodes - 1, 0) + 1, dtype=np.int32)
    np.cumsum(counts, out=tok_start[1:])
    return node_class_a, node_depth_a, node_end_a, tok_start, tok_ids


def class_trie_walk_mask(const int32_t[:, ::1] trans_c, int32_t start,
                         const int32_t[::1] node_class, const int32_t[::1] node_depth,
                         const int32_t[::1] node_end, const int32_t[::1] tok_start,
                         const int32_t[::1] tok_ids, const int32_t[::1] node_dense,
                         const uint32_t[:, ::1] dense_rows, uint32_t[::1] mask,
                         int32_t max_depth):
    """OR into `mask` every token whose class string leads from `start` to a live state.
    `trans_c` is the (states x classes) transition table, -1 meaning no completion. Nodes
    ending many tokens carry a precomputed dense row (`node_dense[i]` >= 0), OR-ed a word at a
    time instead of setting thousands of scattered bits."""
    cdef Py_ssize_t n = node_class.shape[0], i = 0, j, k
    cdef Py_ssize_t nc = trans_c.shape[1], words = mask.shape[0]
    if start < 0 or start >= trans_c.shape[0]:
        raise ValueError(f"state {start} out of range")
    if dense_rows.shape[0] > 0 and dense_rows.shape[1] != words:
        raise ValueError("dense rows and mask differ in width")
    stack_a = np.empty(max_depth + 2, dtype=np.int32)
    cdef int32_t[::1] stack = stack_a
    cdef int32_t q, d
    cdef const int32_t* tr = &trans_c[0, 0]
    cdef uint32_t* out = &mask[0]
    cdef const uint32_t* row
    if n == 0:
        return
    with nogil:
        stack[0] = start
        while i < n:
            q = tr[stack[node_depth[i] - 1] * nc + node_class[i]]
            if q < 0:
                i = node_end[i]
                continue
            stack[node_depth[i]] = q
            d = node_dense[i]
            if d >= 0:
                row = &dense_rows[d, 0]
                for k in range(words):
                    out[k] |= row[k]
            else:
                for j in range(tok_start[i], tok_start[i + 1]):
                    _set_bit(out, tok_ids[j])
            i += 1


def ids_to_mask(const int32_t[::1] ids, uint32_t[::1] mask):
    """Set the bits of `ids` in `mask`."""
    cdef Py_ssize_t j
    with nogil:
        for j in range(ids.shape[0]):
            _set_bit(&mask[0], ids[j])


def mask_hash(const uint64_t[::1] words):
    """A fast 64-bit hash of a mask (equal masks are still compared in full on a hit)."""
    cdef uint64_t h = 1469598103934665603ULL
    cdef Py_ssize_t i
    with nogil:
        for i in range(words.shape[0]):
            h = (h ^ words[i]) * 1099511628211ULL
            h ^= h >> 29
    return h


cdef inline int _popcount32(uint32_t x) noexcept nogil:
    """SWAR population count: portable and branch-free (no -mpopcnt needed)."""
    x = x - ((x >> 1) & 0x55555555)
    x = (x & 0x33333333) + ((x >> 2) & 0x33333333)
    return <int>((((x + (x >> 4)) & 0x0F0F0F0F) * 0x01010101) >> 24)


def popcount_words(const uint32_t[::1] mask):
    """Number of set bits."""
    cdef Py_ssize_t i
    cdef int64_t total = 0
    with nogil:
        for i in range(mask.shape[0]):
            total += _popcount32(mask[i])
    return total


def mask_to_ids(const uint32_t[::1] mask, int32_t vocab_size, bint allowed):
    """Sorted ids whose bit is set (allowed=True) or clear (allowed=False), below vocab_size.
    Counts first so the result is allocated at its exact size (no large temporary)."""
    cdef Py_ssize_t i, n = 0, total = 0, words = mask.shape[0]
    cdef uint32_t w
    cdef int32_t t
    with nogil:
        for i in range(words):
            total += _popcount32(mask[i] if allowed else ~mask[i])
    out_a = np.empty(total, dtype=np.uint32)
    cdef uint32_t[::1] out = out_a
    with nogil:
        for i in range(words):
            w = mask[i] if allowed else ~mask[i]
            while w:
                t = <int32_t>(i * 32 + __builtin_ctz(w))
                if t >= vocab_size:
                    break
                out[n] = <uint32_t>t
                n += 1
                w &= w - 1
    return out_a[:n]


def fill_row(int32_t kind, const uint32_t[::1] data, uint32_t[:, ::1] bitmask, Py_ssize_t row,
             int32_t vocab_size):
    """Write one stored mask into bitmask[row] (the single-matcher fast path)."""
    cdef Py_ssize_t words = bitmask.shape[1]
    cdef uint32_t last = 0xFFFFFFFF
    cdef int32_t rem = vocab_size - (words - 1) * 32
    if row < 0 or row >= bitmask.shape[0]:
        raise IndexError(f"bitmask row {row} out of range for {bitmask.shape[0]} rows")
    if rem < 32:
        last = ((<uint32_t>1) << rem) - 1
    cdef const uint32_t* src = &data[0] if data.shape[0] > 0 else NULL
    with nogil:
        _fill_one(kind, src, data.shape[0], &bitmask[row, 0], words, last)
