# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Hot loops of grammask, compiled. Every loop that touches the vocabulary lives here and runs
without the GIL, so a server thread can fill masks while another runs the model's forward pass."""

from libc.stdint cimport int32_t, uint32_t, uint8_t, int64_t
from libc.string cimport memcpy, memset

import numpy as np


def build_trie(list sorted_tokens, int32_t n_bytes_total):
    """Flatten the byte trie of `sorted_tokens` (a list of `(bytes, id)` sorted by bytes) in
    depth-first order. Returns (node_byte, node_depth, node_end, node_token, dup_src, dup_dst).

    Why flat: a walk over a pre-order array with a `node_end` skip pointer visits children
    without pointer chasing and drops a whole rejected subtree in one jump."""
    cdef Py_ssize_t cap = n_bytes_total + 1
    node_byte_a = np.zeros(cap, dtype=np.uint8)
    node_depth_a = np.zeros(cap, dtype=np.int32)
    node_end_a = np.zeros(cap, dtype=np.int32)
    node_token_a = np.full(cap, -1, dtype=np.int32)
    cdef uint8_t[::1] node_byte = node_byte_a
    cdef int32_t[::1] node_depth = node_depth_a
    cdef int32_t[::1] node_end = node_end_a
    cdef int32_t[::1] node_token = node_token_a
    # open[d] = index of the open node at depth d (1-based depths)
    open_a = np.full(4096 + 2, -1, dtype=np.int32)
    cdef int32_t[::1] open_nodes = open_a
    cdef int32_t n = 0, d, lcp, open_depth = 0, tid, k
    cdef bytes prev = b""
    cdef bytes cur
    cdef const uint8_t[:] cv
    cdef Py_ssize_t L, Lp
    dup_src = []
    dup_dst = []
    for cur, tid in sorted_tokens:
        L = len(cur)
        if L > 4096:
            raise ValueError(f"token {tid} is longer than 4096 bytes")
        Lp = len(prev)
        lcp = 0
        while lcp < L and lcp < Lp and cur[lcp] == prev[lcp]:
            lcp += 1
        if lcp == L and L == Lp and n > 0:
            # same bytes as the previous token: record a duplicate of the canonical id
            dup_src.append(node_token[open_nodes[L]])
            dup_dst.append(tid)
            continue
        # close nodes deeper than the common prefix
        while open_depth > lcp:
            node_end[open_nodes[open_depth]] = n
            open_depth -= 1
        for k in range(lcp, L):
            node_byte[n] = cur[k]
            node_depth[n] = k + 1
            open_depth = k + 1
            open_nodes[open_depth] = n
            n += 1
        node_token[open_nodes[L]] = tid
        prev = cur
    while open_depth > 0:
        node_end[open_nodes[open_depth]] = n
        open_depth -= 1
    return (node_byte_a[:n].copy(), node_depth_a[:n].copy(), node_end_a[:n].copy(),
            node_token_a[:n].copy(), np.asarray(dup_src, dtype=np.int32),
            np.asarray(dup_dst, dtype=np.int32))


cdef inline void _set_bit(uint32_t* mask, int32_t t) noexcept nogil:
    mask[t >> 5] |= (<uint32_t>1) << (t & 31)


cdef void _walk(const int32_t* trans, int32_t start, const uint8_t* node_byte,
                const int32_t* node_depth, const int32_t* node_end, const int32_t* node_token,
                Py_ssize_t n_nodes, uint32_t* mask, int32_t* stack) noexcept nogil:
    cdef Py_ssize_t i = 0
    cdef int32_t q, t
    stack[0] = start
    while i < n_nodes:
        q = trans[(<Py_ssize_t>stack[node_depth[i] - 1]) * 256 + node_byte[i]]
        if q < 0:
            i = node_end[i]
            continue
        stack[node_depth[i]] = q
        t = node_token[i]
        if t >= 0:
            _set_bit(mask, t)
        i += 1


def trie_walk_mask(const int32_t[:, ::1] trans, int32_t start,
                   const uint8_t[::1] node_byte, const int32_t[::1] node_depth,
                   const int32_t[::1] node_end, const int32_t[::1] node_token,
                   const int32_t[::1] dup_src, const int32_t[::1] dup_dst,
                   uint32_t[::1] mask, int32_t max_depth):
    """OR into `mask` every token whose bytes lead from DFA state `start` to a live state.
    `trans` is the (states x 256) table where -1 means no completion is possible."""
    cdef Py_ssize_t n = node_byte.shape[0]
    if trans.shape[1] != 256:
        raise ValueError("transition table must have 256 columns")
    if start < 0 or start >= trans.shape[0]:
        raise ValueError(f"state {start} out of range")
    stack_a = np.empty(max_depth + 2, dtype=np.int32)
    cdef int32_t[::1] stack = stack_a
    cdef Py_ssize_t j
    if n == 0:
        return
    with nogil:
        _walk(&trans[0, 0], start, &node_byte[0], &node_depth[0], &node_end[0], &node_token[0],
              n, &mask[0], &stack[0])
        for j in range(dup_src.shape[0]):
            if mask[dup_src[j] >> 5] & ((<uint32_t>1) << (dup_src[j] & 31)):
                _set_bit(&mask[0], dup_dst[j])


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


def popcount_words(const uint32_t[::1] mask):
    cdef Py_ssize_t i
    cdef int64_t total = 0
    cdef uint32_t w
    with nogil:
        for i in range(mask.shape[0]):
            w = mask[i]
            while w:
                w &= w - 1
                total += 1
    return total


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
            while base < lim:
                w = brow[base >> 5]
                if w != all_ones:
                    b = 0
                    while b < 32 and base + b < lim:
                        if not (w >> b) & 1:
                            lrow[base + b] = neg_inf
                        b += 1
                base += 32
            for t in range(covered, V):
                lrow[t] = neg_inf
