# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Hot loops of grammask, compiled. Every loop that touches the vocabulary lives here and runs
without the GIL, so a server thread can fill masks while another runs the model's forward pass."""

from libc.stdint cimport int32_t, uint32_t, uint8_t, int64_t, uint64_t
from libc.string cimport memcmp, memcpy, memset
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_WRITABLE
from cpython.bytes cimport PyBytes_FromStringAndSize


cimport numpy as cnp

cdef extern from *:
    int __builtin_ctz(unsigned int x) nogil

import numpy as np

cnp.import_array()


cdef int _array(object a, int t1, int t2, bint writable, str what, char** ptr,
                Py_ssize_t* n) except -1:
    """The data pointer and element count of `a`, a C-contiguous numpy array of type number
    t1 or t2: the checks a typed memoryview makes, without numpy's buffer export behind it
    (~1,300 instructions an argument, more than a hit's own work)."""
    if not cnp.PyArray_Check(a):
        raise TypeError(f"{what}: numpy array expected, got {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef int t = cnp.PyArray_TYPE(arr)
    if t != t1 and t != t2:
        raise TypeError(f"{what}: unexpected dtype {arr.dtype}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr):
        raise ValueError(f"{what}: C-contiguous array expected")
    if writable and not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"{what}: writable array expected")
    ptr[0] = <char*>cnp.PyArray_DATA(arr)
    n[0] = cnp.PyArray_SIZE(arr)
    return 0


cdef inline int _i64(object a, str what, const int64_t** ptr, Py_ssize_t* n) except -1:
    return _array(a, cnp.NPY_INT64, cnp.NPY_LONGLONG, False, what, <char**>ptr, n)


cdef inline int _i32(object a, str what, const int32_t** ptr, Py_ssize_t* n) except -1:
    return _array(a, cnp.NPY_INT32, cnp.NPY_INT32, False, what, <char**>ptr, n)


cdef inline int _u32(object a, str what, const uint32_t** ptr, Py_ssize_t* n) except -1:
    return _array(a, cnp.NPY_UINT32, cnp.NPY_UINT32, False, what, <char**>ptr, n)


cdef inline int _u32_out(object a, str what, uint32_t** ptr, Py_ssize_t* n) except -1:
    return _array(a, cnp.NPY_UINT32, cnp.NPY_INT32, True, what, <char**>ptr, n)


cdef inline int _u8(object a, str what, const uint8_t** ptr, Py_ssize_t* n) except -1:
    return _array(a, cnp.NPY_UINT8, cnp.NPY_UINT8, False, what, <char**>ptr, n)


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
cdef inline uint32_t _last_word_mask(int32_t vocab_size, Py_ssize_t words) noexcept nogil:
    """The bits of a mask's last word that hold token ids (the rest lie past the vocabulary)."""
    cdef int32_t rem = vocab_size - <int32_t>(words - 1) * 32
    return 0xFFFFFFFF if rem >= 32 else ((<uint32_t>1) << rem) - 1


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
    cdef uint32_t last = _last_word_mask(vocab_size, words)
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
from libc.stdlib cimport calloc, malloc, realloc, free


cdef struct ChildTable:
    # open addressing: key = parent * 256 + class (+1, so 0 means empty), value = child node
    int64_t* keys
    int32_t* values
    Py_ssize_t size      # a power of two
    Py_ssize_t used


cdef inline Py_ssize_t _slot(ChildTable* t, int64_t key) noexcept nogil:
    cdef uint64_t h = (<uint64_t>key) * 0x9E3779B97F4A7C15ULL
    cdef Py_ssize_t i = <Py_ssize_t>(h >> 20) & (t.size - 1)
    while t.keys[i] != 0 and t.keys[i] != key:
        i = (i + 1) & (t.size - 1)
    return i


cdef int _table_init(ChildTable* t, Py_ssize_t size) noexcept nogil:
    t.keys = <int64_t*>calloc(size, sizeof(int64_t))
    t.values = <int32_t*>malloc(size * sizeof(int32_t))
    t.size = size
    t.used = 0
    return 0 if (t.keys != NULL and t.values != NULL) else -1


cdef int _table_grow(ChildTable* t) noexcept nogil:
    cdef ChildTable bigger
    cdef Py_ssize_t i, j
    if _table_init(&bigger, t.size * 2) != 0:
        free(bigger.keys)
        free(bigger.values)
        return -1
    for i in range(t.size):
        if t.keys[i] != 0:
            j = _slot(&bigger, t.keys[i])
            bigger.keys[j] = t.keys[i]
            bigger.values[j] = t.values[i]
    bigger.used = t.used
    free(t.keys)
    free(t.values)
    t[0] = bigger
    return 0


def build_class_trie(const uint8_t[::1] concat, const int64_t[::1] offsets,
                     const int32_t[::1] token_ids, const uint8_t[::1] byte_class):
    """Trie of the tokens' *class strings* (each byte replaced by its automaton byte class).

    Tokens whose bytes the automaton cannot tell apart share one path, so a permissive state
    (inside a string) walks a few thousand nodes instead of every byte of the vocabulary.
    Children are found through a hash table, so memory stays proportional to the nodes
    whatever the number of classes. Returns pre-order (node_class, node_depth, node_end,
    tok_start, tok_ids); the tokens ending at node i are tok_ids[tok_start[i]:tok_start[i+1]]."""
    cdef Py_ssize_t n_tok = token_ids.shape[0], total = concat.shape[0]
    cdef Py_ssize_t n_nodes = 1, k, j, slot
    cdef int64_t node, key
    cdef ChildTable table
    parent_a = np.empty(total + 1, dtype=np.int32)
    klass_a = np.empty(total + 1, dtype=np.int32)
    token_node_a = np.empty(n_tok, dtype=np.int64)
    cdef int32_t[::1] parent = parent_a, klass = klass_a
    cdef int64_t[::1] token_node = token_node_a
    if _table_init(&table, 1 << 12) != 0:
        raise MemoryError()
    try:
        with nogil:
            parent[0] = -1
            klass[0] = -1
            for k in range(n_tok):
                node = 0
                for j in range(offsets[k], offsets[k + 1]):
                    key = node * 256 + byte_class[concat[j]] + 1
                    slot = _slot(&table, key)
                    if table.keys[slot] == 0:
                        if 2 * (table.used + 1) > table.size:
                            if _table_grow(&table) != 0:
                                with gil:
                                    raise MemoryError()
                            slot = _slot(&table, key)
                        table.keys[slot] = key
                        table.values[slot] = <int32_t>n_nodes
                        table.used += 1
                        parent[n_nodes] = <int32_t>node
                        klass[n_nodes] = byte_class[concat[j]]
                        n_nodes += 1
                    node = table.values[slot]
                token_node[k] = node
    finally:
        free(table.keys)
        free(table.values)
    return _emit_preorder(parent_a[:n_nodes], klass_a[:n_nodes], token_node_a, token_ids)


cdef tuple _emit_preorder(int32_t[::1] parent, int32_t[::1] klass, int64_t[::1] token_node,
                          const int32_t[::1] token_ids):
    """Number the trie's nodes depth-first (root excluded) and group tokens per node."""
    cdef Py_ssize_t n_nodes = parent.shape[0], m = max(n_nodes - 1, 0)
    # children of each node as CSR (creation order), by counting sort on the parent
    child_start_a = np.zeros(n_nodes + 1, dtype=np.int64)
    child_list_a = np.empty(m, dtype=np.int32)
    cdef int64_t[::1] child_start = child_start_a
    cdef int32_t[::1] child_list = child_list_a
    fill_a = np.zeros(n_nodes, dtype=np.int64)
    cdef int64_t[::1] fill = fill_a
    order_a = np.full(n_nodes, -1, dtype=np.int64)       # old node -> new index (root: -1)
    node_class_a = np.empty(m, dtype=np.int32)
    node_depth_a = np.empty(m, dtype=np.int32)
    node_end_a = np.empty(m, dtype=np.int32)
    cdef int64_t[::1] order = order_a
    cdef int32_t[::1] node_class = node_class_a, node_depth = node_depth_a, node_end = node_end_a
    stack_node_a = np.empty(n_nodes + 1, dtype=np.int64)
    stack_next_a = np.empty(n_nodes + 1, dtype=np.int64)
    cdef int64_t[::1] stack_node = stack_node_a, stack_next = stack_next_a
    cdef Py_ssize_t v, top = 0, emitted = 0, node, c, ch
    with nogil:
        for v in range(1, n_nodes):
            child_start[parent[v] + 1] += 1
        for v in range(n_nodes):
            child_start[v + 1] += child_start[v]
        for v in range(1, n_nodes):
            child_list[child_start[parent[v]] + fill[parent[v]]] = <int32_t>v
            fill[parent[v]] += 1
        stack_node[0] = 0
        stack_next[0] = child_start[0]
        while top >= 0:
            node = stack_node[top]
            c = stack_next[top]
            if c == child_start[node + 1]:
                if node != 0:
                    node_end[order[node]] = <int32_t>emitted
                top -= 1
                continue
            stack_next[top] = c + 1
            ch = child_list[c]
            order[ch] = emitted
            node_class[emitted] = klass[ch]
            node_depth[emitted] = <int32_t>(top + 1)
            emitted += 1
            top += 1
            stack_node[top] = ch
            stack_next[top] = child_start[ch]
    # group tokens by their (new) end node with a counting sort; empty tokens end at the
    # root (order -1) and are never allowed
    tok_start_a = np.zeros(m + 1, dtype=np.int32)
    tok_ids_a = np.empty(token_node.shape[0], dtype=np.int32)
    cdef int32_t[::1] tok_start = tok_start_a, tok_ids = tok_ids_a
    cdef Py_ssize_t t, dst
    with nogil:
        for t in range(token_node.shape[0]):
            dst = order[token_node[t]]
            if dst >= 0:
                tok_start[dst + 1] += 1
        for v in range(m):
            tok_start[v + 1] += tok_start[v]
        for v in range(m):
            fill[v] = tok_start[v]
        for t in range(token_node.shape[0]):
            dst = order[token_node[t]]
            if dst >= 0:
                tok_ids[fill[dst]] = token_ids[t]
                fill[dst] += 1
    tok_ids_a = tok_ids_a[:tok_start[m]]
    return node_class_a, node_depth_a, node_end_a, tok_start_a, tok_ids_a


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


def ids_to_mask(object ids, object mask):
    """Set the bits of `ids` (int32) in `mask` (uint32 words)."""
    cdef const int32_t* t
    cdef uint32_t* out
    cdef Py_ssize_t j, n, words
    _i32(ids, "ids_to_mask ids", &t, &n)
    _u32_out(mask, "ids_to_mask mask", &out, &words)
    with nogil:
        for j in range(n):
            _set_bit(out, t[j])


def mask_hash(const uint32_t[::1] words):
    """A fast 64-bit hash of a mask's uint32 words (equal masks are still compared in full on
    a hit). Four independent multiply chains over 64-bit loads: a single chain over 32-bit
    words waits on each multiply (~7 µs for Llama-3's 4,009 words, paid by every interning)."""
    cdef uint64_t a = 0x9E3779B97F4A7C15ULL, b = 0xC2B2AE3D27D4EB4FULL
    cdef uint64_t c = 0x165667B19E3779F9ULL, d = 0x27D4EB2F165667C5ULL
    cdef uint64_t x0, x1, x2, x3
    cdef Py_ssize_t n = words.shape[0], i = 0, pairs
    cdef const char* p
    if n == 0:
        return 0
    p = <const char*>&words[0]
    pairs = n >> 1
    with nogil:
        while i + 4 <= pairs:
            memcpy(&x0, p + 8 * i, 8)
            memcpy(&x1, p + 8 * i + 8, 8)
            memcpy(&x2, p + 8 * i + 16, 8)
            memcpy(&x3, p + 8 * i + 24, 8)
            a = _rotl31(a ^ x0) * 0x9E3779B97F4A7C15ULL
            b = _rotl31(b ^ x1) * 0x9E3779B97F4A7C15ULL
            c = _rotl31(c ^ x2) * 0x9E3779B97F4A7C15ULL
            d = _rotl31(d ^ x3) * 0x9E3779B97F4A7C15ULL
            i += 4
        while i < pairs:
            memcpy(&x0, p + 8 * i, 8)
            a = _rotl31(a ^ x0) * 0x9E3779B97F4A7C15ULL
            i += 1
        if n & 1:
            b = _rotl31(b ^ words[n - 1]) * 0x9E3779B97F4A7C15ULL
        a ^= _rotl31(b) * 0xC2B2AE3D27D4EB4FULL
        a ^= _rotl31(c) * 0x165667B19E3779F9ULL
        a ^= _rotl31(d) * 0x27D4EB2F165667C5ULL
        a ^= a >> 29
        a *= 0xBF58476D1CE4E5B9ULL
        a ^= a >> 32
    return a


cdef inline uint64_t _rotl31(uint64_t x) noexcept nogil:
    return (x << 31) | (x >> 33)


cdef inline int _popcount32(uint32_t x) noexcept nogil:
    """SWAR population count: portable and branch-free (no -mpopcnt needed)."""
    x = x - ((x >> 1) & 0x55555555)
    x = (x & 0x33333333) + ((x >> 2) & 0x33333333)
    return <int>((((x + (x >> 4)) & 0x0F0F0F0F) * 0x01010101) >> 24)


cdef inline int _popcount64(uint64_t x) noexcept nogil:
    """`_popcount32` on 64 bits: half the operations per bit."""
    x = x - ((x >> 1) & 0x5555555555555555ULL)
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL)
    return <int>((((x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL) * 0x0101010101010101ULL) >> 56)


cdef int64_t _popcount_span(const uint32_t* w, Py_ssize_t n) noexcept nogil:
    """Set bits in n words, read two at a time (memcpy: the words need not be 8-aligned)."""
    cdef Py_ssize_t i
    cdef int64_t total = 0
    cdef uint64_t pair
    for i in range(0, n - 1, 2):
        memcpy(&pair, &w[i], 8)
        total += _popcount64(pair)
    if n & 1:
        total += _popcount32(w[n - 1])
    return total


def any_bits(object mask):
    """Whether any bit of the uint32 words `mask` is set: an OR over 64-bit reads, without
    an early exit so the compiler vectorises it (a CFG configuration's deep part is empty
    but for LALR windows, and numpy's count_nonzero compares word by word)."""
    cdef const uint32_t* w
    cdef Py_ssize_t n, i
    cdef uint64_t acc = 0, pair
    _u32(mask, "any_bits mask", &w, &n)
    with nogil:
        for i in range(0, n - 1, 2):
            memcpy(&pair, &w[i], 8)
            acc |= pair
        if n & 1:
            acc |= w[n - 1]
    return acc != 0


def popcount_words(const uint32_t[::1] mask):
    """Number of set bits."""
    cdef int64_t total = 0
    if mask.shape[0]:
        with nogil:
            total = _popcount_span(&mask[0], mask.shape[0])
    return total


def mask_to_ids(const uint32_t[::1] mask, int32_t vocab_size, bint allowed):
    """Sorted ids whose bit is set (allowed=True) or clear (allowed=False), below vocab_size.
    Counts first so the result is allocated at its exact size (no large temporary)."""
    cdef Py_ssize_t i, n = 0, total = 0, words = mask.shape[0]
    cdef uint32_t w
    cdef int32_t t
    with nogil:
        for i in range(words):
            w = mask[i] if allowed else ~mask[i]
            if w:
                total += _popcount32(w)
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


def bits_at(object mask, object ids):
    """Per id of `ids` (int32): whether its bit is set in `mask` (uint32 words; bool). Reading
    a few known ids is much cheaper than listing every set bit of a vocabulary-wide mask."""
    cdef const uint32_t* m
    cdef const int32_t* t
    cdef Py_ssize_t i, n, words
    _u32(mask, "bits_at mask", &m, &words)
    _i32(ids, "bits_at ids", &t, &n)
    out_a = np.zeros(n, dtype=np.bool_)
    cdef uint8_t* out = <uint8_t*>cnp.PyArray_DATA(<cnp.ndarray>out_a)
    with nogil:
        for i in range(n):
            if 0 <= t[i] < words * 32:
                out[i] = (m[t[i] >> 5] >> (t[i] & 31)) & 1
    return out_a


def fill_row(int32_t kind, object data, object bitmask, Py_ssize_t row, int32_t vocab_size):
    """Write one stored mask (uint32 `data`) into bitmask[row] (a C-contiguous uint32 or int32
    `[batch, words]` array)."""
    cdef const uint32_t* src
    cdef uint32_t* dst
    cdef Py_ssize_t length, total
    _u32(data, "fill_row data", &src, &length)
    _u32_out(bitmask, "fill_row bitmask", &dst, &total)
    if cnp.PyArray_NDIM(<cnp.ndarray>bitmask) != 2:
        raise ValueError("fill_row: bitmask must be 2-D")
    cdef Py_ssize_t words = cnp.PyArray_DIM(<cnp.ndarray>bitmask, 1)
    cdef Py_ssize_t rows = cnp.PyArray_DIM(<cnp.ndarray>bitmask, 0)
    if row < 0 or row >= rows:
        raise IndexError(f"bitmask row {row} out of range for {rows} rows")
    if words < (vocab_size + 31) // 32 or (kind == KIND_DENSE and length != words):
        raise ValueError(f"fill_row: {length} words of mask data for bitmask rows of {words}")
    cdef uint32_t last = _last_word_mask(vocab_size, words)
    with nogil:
        _fill_one(kind, src, length, dst + row * words, words, last)


def fill_row_fast(int32_t kind, object data, object bitmask, Py_ssize_t row,
                  int32_t vocab_size):
    """`fill_row` into a user's bitmask when it is exactly what inference engines pass (a
    numpy int32 `[batch, ceil(V/32)]`, C-contiguous and writable, `row` in range); False,
    writing nothing, for anything else, which the caller then checks and reports slowly."""
    if not cnp.PyArray_Check(bitmask):
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>bitmask
    cdef Py_ssize_t words = (vocab_size + 31) // 32
    if (cnp.PyArray_NDIM(arr) != 2 or cnp.PyArray_TYPE(arr) != cnp.NPY_INT32
            or cnp.PyArray_DIM(arr, 1) != words or not cnp.PyArray_IS_C_CONTIGUOUS(arr)
            or not cnp.PyArray_ISWRITEABLE(arr) or row < 0 or row >= cnp.PyArray_DIM(arr, 0)):
        return False
    cdef const uint32_t* src
    cdef Py_ssize_t length
    _u32(data, "fill_row_fast data", &src, &length)
    if kind == KIND_DENSE and length != words:
        raise ValueError(f"fill_row_fast: a dense mask of {length} words for {words}")
    cdef uint32_t* dst = <uint32_t*>cnp.PyArray_DATA(arr) + row * words
    cdef uint32_t last = _last_word_mask(vocab_size, words)
    with nogil:
        _fill_one(kind, src, length, dst, words, last)
    return True


def bounded_partition(const int32_t[:, ::1] trans_c, int32_t rounds):
    """Moore refinement for `rounds` rounds, starting from one block: afterwards two states
    share a block iff no string of at most `rounds` symbols is live from one and dead from the
    other. With rounds = the longest token, states in one block have identical token masks
    (up to EOS, which depends on acceptance alone) — e.g. every position of `[^"]{0,500}`
    more than a token's length from the end. Stops early once the partition is stable.
    Returns (block of each state as int32, number of blocks)."""
    cdef Py_ssize_t n = trans_c.shape[0], k = trans_c.shape[1]
    cdef Py_ssize_t s, c, r, size = 1, slot, rep
    cdef int32_t n_blocks = 1, new_blocks, t, a, b
    cdef uint64_t h
    cdef bint same
    while size < 2 * n + 2:
        size *= 2
    block_a = np.zeros(n, dtype=np.int32)
    new_a = np.empty(n, dtype=np.int32)
    table_a = np.empty(size, dtype=np.int64)      # slot -> representative state, -1 empty
    cdef int32_t[::1] block = block_a, new = new_a
    cdef int64_t[::1] table = table_a
    for r in range(rounds):
        table[:] = -1
        new_blocks = 0
        with nogil:
            for s in range(n):
                h = <uint64_t>block[s] * 0x9E3779B97F4A7C15ULL
                for c in range(k):
                    t = trans_c[s, c]
                    h = (h ^ <uint64_t>(block[t] if t >= 0 else -1)) * 0x100000001B3ULL
                    h ^= h >> 31
                slot = <Py_ssize_t>(h & <uint64_t>(size - 1))
                while True:
                    rep = table[slot]
                    if rep < 0:
                        table[slot] = s
                        new[s] = new_blocks
                        new_blocks += 1
                        break
                    same = block[rep] == block[s]
                    c = 0
                    while same and c < k:
                        a = trans_c[rep, c]
                        b = trans_c[s, c]
                        same = (a < 0 and b < 0) or (a >= 0 and b >= 0 and block[a] == block[b])
                        c += 1
                    if same:
                        new[s] = new[rep]
                        break
                    slot = (slot + 1) & (size - 1)
        block_a, new_a = new_a, block_a
        block, new = block_a, new_a
        if new_blocks == n_blocks:
            break
        n_blocks = new_blocks
    return block_a, n_blocks


# ---------------------------------------------------------------------------------------------
# CFG engine: the context-independent scan of the vocabulary from one lexer state.
def lcp_with_previous(const uint8_t[::1] concat, const int64_t[::1] offsets):
    """For each sorted token, the length of the prefix it shares with the previous one."""
    cdef Py_ssize_t n = offsets.shape[0] - 1, k, pa, a, m, pl, L, lcp
    out_np = np.zeros(max(n, 1), dtype=np.int32)
    cdef int32_t[::1] out = out_np
    with nogil:
        for k in range(1, n):
            pa = offsets[k - 1]
            a = offsets[k]
            pl = a - pa
            L = offsets[k + 1] - a
            m = pl if pl < L else L
            lcp = 0
            while lcp < m and concat[pa + lcp] == concat[a + lcp]:
                lcp += 1
            out[k] = <int32_t>lcp
    return out_np


def subtree_skip(const uint8_t[::1] concat, const int64_t[::1] offsets,
                 const int32_t[::1] lcps):
    """int32 aligned with `concat`: at byte d of sorted token k, the index of the first token
    after k that does not share bytes 0..d with it (the end of that trie node's subtree), so a
    scan whose walk dies at byte d skips every token below it at once."""
    cdef Py_ssize_t n = offsets.shape[0] - 1, k, d, a, L
    out_np = np.zeros(max(offsets[n] if n >= 0 else 0, 1), dtype=np.int32)
    cdef int32_t[::1] out = out_np
    with nogil:
        k = n - 1
        while k >= 0:
            a = offsets[k]
            L = offsets[k + 1] - a
            for d in range(L):
                if k + 1 == n or lcps[k + 1] <= d:
                    out[a + d] = <int32_t>(k + 1)
                else:
                    out[a + d] = out[offsets[k + 1] + d]
            k -= 1
    return out_np


cdef struct _Part:
    # one sorted (sub-)vocabulary a scan walks (see `lexer_scan`)
    const uint8_t* concat
    const int64_t* offsets
    const int32_t* token_ids
    const int32_t* lcps
    const int32_t* skip
    const int32_t* suffix_ids
    const int32_t* chars
    const int64_t* remap            # NULL: positions are the full trie's
    const uint8_t* skip_first       # NULL: every first byte is walked
    const int64_t* first_end
    Py_ssize_t n, n_concat
    int32_t limit


cdef int _part(object spec, _Part* p) except -1:
    """Unpack one `lexer_scan` part: (concat, offsets, token_ids, lcps, skip, suffix_ids,
    chars, limit, remap, skip_first, first_end), with lengths checked against each other."""
    cdef Py_ssize_t n_off, n_ids, n_lcp, n_skip, n_suf, n_chars, n_remap, n_sf, n_fe
    (concat, offsets, ids, lcps, skip, suffix, chars, limit, remap, skip_first,
     first_end) = spec
    _u8(concat, "lexer_scan concat", &p.concat, &p.n_concat)
    _i64(offsets, "lexer_scan offsets", &p.offsets, &n_off)
    _i32(ids, "lexer_scan token_ids", &p.token_ids, &n_ids)
    _i32(lcps, "lexer_scan lcps", &p.lcps, &n_lcp)
    _i32(skip, "lexer_scan skip", &p.skip, &n_skip)
    _i32(suffix, "lexer_scan suffix_ids", &p.suffix_ids, &n_suf)
    _i32(chars, "lexer_scan chars", &p.chars, &n_chars)
    _i64(remap, "lexer_scan remap", &p.remap, &n_remap)
    _u8(skip_first, "lexer_scan skip_first", &p.skip_first, &n_sf)
    _i64(first_end, "lexer_scan first_end", &p.first_end, &n_fe)
    p.n = n_ids
    p.limit = limit
    if (n_off != n_ids + 1 or n_lcp < n_ids or n_chars < n_ids
            or n_skip < p.n_concat or n_suf < p.n_concat
            or (n_remap and n_remap != p.n_concat) or (n_sf and (n_sf != 256 or n_fe != 256))):
        raise ValueError(
            f"lexer_scan: part arrays of inconsistent lengths (concat {p.n_concat}, offsets "
            f"{n_off}, ids {n_ids}, lcps {n_lcp}, skip {n_skip}, suffix {n_suf}, chars "
            f"{n_chars}, remap {n_remap}, skip_first {n_sf}, first_end {n_fe})")
    if n_ids and p.offsets[n_ids] > p.n_concat:
        raise ValueError("lexer_scan: offsets past concat")
    if not n_remap:
        p.remap = NULL
    if not n_sf:
        p.skip_first = NULL
    return 0


def lexer_scan(parts, const int32_t[:, ::1] trans, const int32_t[::1] emit, int32_t start,
               int32_t max_depth, const uint8_t[::1] concat, object acc_words,
               object base=None):
    """Classify every token walked from lexer state `start`:
    * accepted: all bytes stay inside the current lexeme;
    * boundary at 0: the first byte extends no candidate but `start` ends a lexeme (the
      token's fate is the mask of the parser state after that lexeme);
    * boundary at d > 0 (straddler): d bytes stay in the lexeme, then it ends with emit e;
    * rejected: otherwise.
    The tokens come in `parts` (see `_part`), each a sorted (sub-)vocabulary walked in turn:
    the full trie, a sub-trie whose `remap` maps its concat positions to the full trie's
    `concat`, or the full trie with `skip_first` flagging first bytes whose tokens another
    part covers (their range, up to `first_end[byte]`, is jumped). A token with `0 <=
    chars[k] <= limit` is accepted without a walk and left out (the caller ORs in the
    precomputed mask of such tokens, and guarantees some member of `start` takes that many
    such characters in a row: `mask_cache.plain_runs`). Accepted tokens are set in
    `acc_words` (uint32 bitmask words, OR-ed in). Returns (a uint8 [256] flag per first byte
    whose tokens are all boundary-0 tokens) followed by the straddlers as
    `cfg_masks.LexStateMasks` stores them (see `_organise`): linked ones (the token spelling
    the suffix, from `suffix_ids`, aligned with concat) and walked ones, each ordered by
    (emit, suffix's first byte), positions in `concat`. Boundary-0 tokens are decided by
    their first byte alone, so they come back as first bytes (the caller ORs per-first-byte
    masks) instead of a list as long as the vocabulary. Tokens sharing a prefix reuse the
    walk (sorted order); a token sharing the prefix up to and including a previous token's
    stopping byte has the same outcome, and a rejected prefix skips its whole subtree
    (`skip`, from `subtree_skip`), so the cost is the live part of the trie, not the
    vocabulary.

    `base` (optional) decides the tokens whose first byte it *covers* from another scan:
    (its 11 straddler arrays as `cfg_masks.LexStateMasks` orders them, covered uint8 [256],
    first byte per token id uint8 [vocab]). Its straddlers with a covered first byte are
    taken as they are, a covered first byte that is dead from `start` is flagged when
    `start` ends a lexeme, and the one part must skip covered first bytes (`skip_first`).
    The caller vouches that the other scan's state goes to the same state as `start` on
    every covered byte (`CompiledCFG._successor_scan`) and hands in that scan's accepted
    tokens as `acc_words`: the part's tokens with an uncovered first byte are cleared there
    before the walk decides them."""
    cdef uint32_t* acc
    cdef Py_ssize_t acc_n, i, n_parts = len(parts)
    _u32_out(acc_words, "lexer_scan acc_words", &acc, &acc_n)
    cdef _Part* ps = <_Part*>calloc(max(n_parts, 1), sizeof(_Part))
    if ps == NULL:
        raise MemoryError("lexer_scan: out of memory")
    f0_np = np.zeros(256, dtype=np.uint8)
    states_np = np.empty(max_depth + 2, dtype=np.int32)
    cdef uint8_t[::1] f0 = f0_np
    cdef int32_t[::1] states = states_np
    # outputs grow in C (doubling from a few KB): vocabulary-sized numpy scratch arrays cost
    # an mmap/munmap pair each (~10-20 us apiece) on every scan, for lists that are short
    cdef _ScanOut out
    memset(&out, 0, sizeof(_ScanOut))
    cdef int rc = 0
    cdef int32_t bad_id = 0
    try:
        for i in range(n_parts):
            _part(parts[i], &ps[i])
        if base is not None:
            if n_parts != 1 or ps[0].skip_first == NULL:
                raise ValueError("lexer_scan: a base needs one part that skips covered bytes")
            _base_prepare(base[11], &ps[0], trans, emit, start, &f0[0], acc, acc_n)
        with nogil:
            for i in range(n_parts):
                rc = _scan_part(&ps[i], &trans[0, 0], trans.shape[1], &emit[0], start,
                                max_depth, &states[0], &f0[0], acc, acc_n, &out, &bad_id)
                if rc < 0:
                    break
        if rc == -2:
            raise IndexError(f"lexer_scan: token id {bad_id} outside acc_words ({acc_n} words)")
        if rc == -3:
            raise ValueError(f"lexer_scan: a token longer than max_depth {max_depth}")
        if rc < 0:
            raise MemoryError("lexer_scan: out of memory growing its result lists")
        for i in range(out.ns):             # remapped positions must lie in `concat`
            if out.soff[i] < 0 or out.send[i] > concat.shape[0] or out.soff[i] >= out.send[i]:
                raise ValueError(f"lexer_scan: a straddler's suffix [{out.soff[i]}, "
                                 f"{out.send[i]}) lies outside concat ({concat.shape[0]} bytes)")
        if base is None:
            return (f0_np,) + _organise(&out, &concat[0])
        return (f0_np,) + _merge_base(base, _organise(&out, &concat[0]))
    finally:
        free(ps)
        _free_scan_out(&out)


cdef int _base_prepare(object covered_a, const _Part* p, const int32_t[:, ::1] trans,
                       const int32_t[::1] emit, int32_t start, uint8_t* f0, uint32_t* acc,
                       Py_ssize_t acc_n) except -1:
    """`lexer_scan`'s `base` before the walk: the part's tokens starting with a byte the base
    does not cover leave `acc` (the base's verdicts; the walk sets them anew), and a covered
    first byte dead from `start` ends the lexeme there when `start` can end one."""
    cdef const uint8_t* covered
    cdef Py_ssize_t n_cov, b, k, lo = 0
    cdef int32_t t
    _u8(covered_a, "lexer_scan base covered", &covered, &n_cov)
    if n_cov != 256:
        raise ValueError(f"lexer_scan: base covered has {n_cov} entries, not 256")
    for b in range(256):
        if covered[b]:
            if emit[start] >= 0 and trans[start, b] < 0:
                f0[b] = 1
        else:
            for k in range(lo, p.first_end[b]):
                t = p.token_ids[k]
                if t < 0 or t >= acc_n * 32:
                    raise IndexError(f"lexer_scan: token id {t} outside acc_words")
                acc[t >> 5] &= ~(<uint32_t>1 << (t & 31))
        lo = p.first_end[b]
    return 0


cdef tuple _merge_base(tuple base, tuple patch):
    """`lexer_scan`'s result with `base`: the base's straddlers whose token starts with a
    covered byte, merged into the scan's own (`patch`, organised), both parts in
    `_organise`'s layout. The base's entries are already grouped, so they are copied bucket
    by bucket (a second counting sort of a thousand straddlers cost more than the walk)."""
    cdef const uint8_t* covered
    cdef const uint8_t* first
    cdef Py_ssize_t n_cov, n_first
    _u8(base[11], "lexer_scan base covered", &covered, &n_cov)
    _u8(base[12], "lexer_scan base first bytes", &first, &n_first)
    return (_merge_groups(base[0:6], patch[0:6], covered, first, n_first)
            + _merge_groups(base[6:11], patch[6:11], covered, first, n_first))


cdef struct _Groups:
    # one part of a scan's straddlers in `_organise`'s layout (link NULL: the walked part)
    const int32_t* emits
    const int64_t* table
    const int32_t* ids
    const int32_t* link
    const int64_t* pos
    const int64_t* end
    Py_ssize_t k, n


cdef int _groups(tuple arrays, _Groups* g) except -1:
    """Unpack (emits, table [k, 257], ids[, suffix ids], starts, ends), lengths checked."""
    cdef Py_ssize_t n_table, n_link, n_pos, n_end
    cdef bint linked = len(arrays) == 6
    _i32(arrays[0], "lexer_scan straddler emits", &g.emits, &g.k)
    _i64(arrays[1], "lexer_scan straddler table", &g.table, &n_table)
    _i32(arrays[2], "lexer_scan straddler ids", &g.ids, &g.n)
    g.link = NULL
    if linked:
        _i32(arrays[3], "lexer_scan straddler suffix ids", &g.link, &n_link)
    _i64(arrays[4 if linked else 3], "lexer_scan straddler starts", &g.pos, &n_pos)
    _i64(arrays[5 if linked else 4], "lexer_scan straddler ends", &g.end, &n_end)
    if (n_table != g.k * 257 or n_pos != g.n or n_end != g.n or (linked and n_link != g.n)
            or (g.k and (g.table[0] != 0 or g.table[g.k * 257 - 1] != g.n))):
        raise ValueError("lexer_scan: straddler arrays of inconsistent lengths")
    return 0


cdef tuple _merge_groups(tuple base_a, tuple patch_a, const uint8_t* covered,
                         const uint8_t* first, Py_ssize_t n_first):
    """`_merge_base` for one part: rows are the base's emits, then the patch's new ones. One
    pass in output order: per row and suffix first byte, the base's kept entries (their
    order kept), then the patch's (a contiguous run, copied whole). A start state's base
    holds ~70k straddlers; a counting pass before the copy was a third of the merge."""
    cdef _Groups bg, pg
    _groups(base_a, &bg)
    _groups(patch_a, &pg)
    cdef bint linked = len(base_a) == 6
    cdef Py_ssize_t r, q, i, k = bg.k, n_max = bg.n + pg.n, at = 0
    cdef int32_t t
    for i in range(bg.n):
        t = bg.ids[i]
        if t < 0 or t >= n_first:
            raise IndexError(f"lexer_scan: base token id {t} outside the first-byte table")
    cdef Py_ssize_t* patch_of = <Py_ssize_t*>malloc((bg.k + pg.k + 1) * sizeof(Py_ssize_t))
    if patch_of == NULL:
        raise MemoryError("lexer_scan: out of memory merging straddlers")
    try:
        for r in range(bg.k + pg.k):    # output row -> the patch's row, or -1
            patch_of[r] = -1
        for q in range(pg.k):
            for r in range(bg.k):
                if bg.emits[r] == pg.emits[q]:
                    patch_of[r] = q
                    break
            else:
                patch_of[k] = q
                k += 1
        emits_np = np.empty(k, dtype=np.int32)
        table_np = np.empty((k, 257), dtype=np.int64)
        ids_np = np.empty(n_max, dtype=np.int32)
        link_np = np.empty(n_max if linked else 0, dtype=np.int32)
        pos_np = np.empty(n_max, dtype=np.int64)
        end_np = np.empty(n_max, dtype=np.int64)
        if k:
            at = _merge_fill(&bg, &pg, covered, first, patch_of, k,
                             <int32_t*>_ptr(emits_np), <int64_t*>_ptr(table_np),
                             <int32_t*>_ptr(ids_np) if n_max else NULL,
                             <int32_t*>_ptr(link_np) if linked and n_max else NULL,
                             <int64_t*>_ptr(pos_np) if n_max else NULL,
                             <int64_t*>_ptr(end_np) if n_max else NULL)
            keep = table_np[:, 256] > table_np[:, 0]
            if not keep.all():      # a base's kind none of whose entries was kept (a start
                # state's base reaches lexemes this state cannot): dropped, as a scan of
                # this state would not list it (shared scans rename only the kinds it has)
                emits_np = emits_np[keep]
                table_np = np.ascontiguousarray(table_np[keep])
        if at < n_max:              # (the base's dropped entries: slices, not copies)
            ids_np, pos_np, end_np = ids_np[:at], pos_np[:at], end_np[:at]
            if linked:
                link_np = link_np[:at]
        if linked:
            return emits_np, table_np, ids_np, link_np, pos_np, end_np
        return emits_np, table_np, ids_np, pos_np, end_np
    finally:
        free(patch_of)


cdef Py_ssize_t _merge_fill(const _Groups* bg, const _Groups* pg, const uint8_t* covered,
                            const uint8_t* first, const Py_ssize_t* patch_of, Py_ssize_t k,
                            int32_t* emits, int64_t* table, int32_t* ids, int32_t* link,
                            int64_t* pos, int64_t* end) noexcept nogil:
    """`_merge_groups`' copy, in output order; returns the entries written."""
    cdef Py_ssize_t r, q, b, i, lo, n, at = 0
    cdef const int32_t* b_ids = bg.ids
    cdef const int32_t* b_link = bg.link
    cdef const int64_t* b_pos = bg.pos
    cdef const int64_t* b_end = bg.end
    cdef const int64_t* b_table = bg.table
    cdef int32_t t
    for r in range(k):
        q = patch_of[r]
        emits[r] = bg.emits[r] if r < bg.k else pg.emits[q]
        for b in range(256):
            table[r * 257 + b] = at
            if r < bg.k:
                if link != NULL:
                    for i in range(b_table[r * 257 + b], b_table[r * 257 + b + 1]):
                        t = b_ids[i]
                        if covered[first[t]]:
                            ids[at], link[at], pos[at], end[at] = t, b_link[i], b_pos[i], b_end[i]
                            at += 1
                else:
                    for i in range(b_table[r * 257 + b], b_table[r * 257 + b + 1]):
                        t = b_ids[i]
                        if covered[first[t]]:
                            ids[at], pos[at], end[at] = t, b_pos[i], b_end[i]
                            at += 1
            if q >= 0:
                lo = pg.table[q * 257 + b]
                n = pg.table[q * 257 + b + 1] - lo
                if n:
                    memcpy(&ids[at], &pg.ids[lo], n * sizeof(int32_t))
                    if link != NULL:
                        memcpy(&link[at], &pg.link[lo], n * sizeof(int32_t))
                    memcpy(&pos[at], &pg.pos[lo], n * sizeof(int64_t))
                    memcpy(&end[at], &pg.end[lo], n * sizeof(int64_t))
                    at += n
        table[r * 257 + 256] = at
    return at


cdef int _scan_part(const _Part* p, const int32_t* trans, Py_ssize_t width,
                    const int32_t* emit, int32_t start, int32_t max_depth, int32_t* states,
                    uint8_t* f0, uint32_t* acc, Py_ssize_t acc_n, _ScanOut* out,
                    int32_t* bad_id) noexcept nogil:
    """`lexer_scan`'s walk of one part: 0, or -1 out of memory, -2 a token id outside
    `acc` (in `bad_id`), -3 a token longer than `max_depth`."""
    cdef Py_ssize_t k = 0, a, L, lcp, d, stop_at
    cdef Py_ssize_t valid = 0, prev_stop = 0
    cdef int prev_kind = -1, kind          # 0 acc, 1 f0, 2 straddle, 3 reject
    cdef int32_t prev_emit = -1, s, nxt, e = -1
    cdef const uint8_t* concat = p.concat
    states[0] = start
    while k < p.n:
        a = p.offsets[k]
        L = p.offsets[k + 1] - a
        lcp = p.lcps[k]
        if L > max_depth:
            return -3
        if lcp == 0 and p.skip_first != NULL and p.skip_first[concat[a]]:
            # another part holds every token with this first byte
            stop_at = p.first_end[concat[a]]
            k = stop_at if stop_at > k else k + 1
            valid = 0
            prev_kind = 0
            continue
        if p.limit > 0 and 0 <= p.chars[k] <= p.limit:
            # accepted, and not listed: the caller adds the precomputed mask
            if lcp < valid:
                valid = lcp          # the walked states still shared with the next token
            prev_kind = 0
            k += 1
            continue
        if k > 0 and prev_kind != 0 and lcp > prev_stop:
            kind = prev_kind
            d = prev_stop
            e = prev_emit
        else:
            d = lcp if lcp < valid else valid
            while d < L:
                nxt = trans[states[d] * width + concat[a + d]]
                if nxt < 0:
                    break
                d += 1
                states[d] = nxt
            valid = d
            if d == L:
                kind = 0
            else:
                s = states[d]
                e = emit[s]
                if e < 0:
                    kind = 3
                elif d == 0:
                    kind = 1
                else:
                    kind = 2
        if kind == 1 or kind == 3:
            # the prefix up to the stopping byte decides for its whole subtree (sorted
            # vocabulary): a boundary at 0 flags its first byte, a rejection skips
            if kind == 1:
                f0[concat[a]] = 1
            stop_at = p.skip[a + d]
            prev_kind = kind
            prev_stop = d
            prev_emit = e
            if valid > d:
                valid = d
            k = stop_at
            continue
        if kind == 0:
            if p.token_ids[k] >= acc_n * 32 or p.token_ids[k] < 0:
                bad_id[0] = p.token_ids[k]
                return -2
            _set_bit(acc, p.token_ids[k])
        elif kind == 2:
            if out.ns == out.cap and _grow_straddlers(out) < 0:
                return -1
            out.sid[out.ns] = p.token_ids[k]
            out.sem[out.ns] = e
            out.slink[out.ns] = p.suffix_ids[a + d]
            if p.remap != NULL:
                out.soff[out.ns] = p.remap[a + d]
                out.send[out.ns] = p.remap[a + L - 1] + 1
            else:
                out.soff[out.ns] = a + d
                out.send[out.ns] = a + L
            out.ns += 1
        prev_kind = kind
        prev_stop = d
        prev_emit = e
        k += 1
    return 0


cdef struct _IntList:
    int32_t* data
    Py_ssize_t n, cap


cdef int _push(_IntList* a, int32_t v) noexcept nogil:
    cdef Py_ssize_t cap
    cdef int32_t* bigger
    if a.n == a.cap:
        cap = a.cap * 2 if a.cap else 1024
        bigger = <int32_t*>realloc(a.data, cap * sizeof(int32_t))
        if bigger == NULL:
            return -1
        a.data, a.cap = bigger, cap
    a.data[a.n] = v
    a.n += 1
    return 0


cdef struct _ScanOut:
    int32_t* sid
    int64_t* soff
    int32_t* sem
    int32_t* slink
    int64_t* send
    Py_ssize_t ns, cap


cdef void* _regrow(void* ptr, Py_ssize_t cap, Py_ssize_t item, bint* ok) noexcept nogil:
    """`realloc` to `cap` items, keeping `ptr` (and clearing `ok`) when that fails."""
    cdef void* bigger = realloc(ptr, cap * item)
    if bigger == NULL:
        ok[0] = False
        return ptr
    return bigger


cdef int _grow_straddlers(_ScanOut* o) noexcept nogil:
    cdef Py_ssize_t cap = o.cap * 2 if o.cap else 256
    cdef bint ok = True
    o.sid = <int32_t*>_regrow(o.sid, cap, sizeof(int32_t), &ok)
    o.soff = <int64_t*>_regrow(o.soff, cap, sizeof(int64_t), &ok)
    o.sem = <int32_t*>_regrow(o.sem, cap, sizeof(int32_t), &ok)
    o.slink = <int32_t*>_regrow(o.slink, cap, sizeof(int32_t), &ok)
    o.send = <int64_t*>_regrow(o.send, cap, sizeof(int64_t), &ok)
    if not ok:
        return -1
    o.cap = cap
    return 0


cdef void _free_scan_out(_ScanOut* o) noexcept nogil:
    free(o.sid)
    free(o.soff)
    free(o.sem)
    free(o.slink)
    free(o.send)


cdef object _np_copy(const void* src, Py_ssize_t n, object dtype):
    """A new 1-d array of `dtype` holding the n items at `src`."""
    arr = np.empty(n, dtype=dtype)
    if n:
        memcpy(_ptr(arr), src, n * arr.itemsize)
    return arr


cdef void* _ptr(object arr):
    """The data pointer of a fresh, non-empty, C-contiguous numpy array (it owns its data and
    is never resized, so the pointer outlives the buffer request)."""
    cdef Py_buffer buf
    PyObject_GetBuffer(arr, &buf, PyBUF_WRITABLE)
    cdef void* p = buf.buf
    PyBuffer_Release(&buf)
    return p


cdef tuple _organise(const _ScanOut* o, const uint8_t* concat):
    """A scan's straddlers split into linked ones (their suffix is a token) and the rest,
    each ordered by (emit, first byte of the suffix) with a stable counting sort: (linked
    emits, linked offsets [k, 257], ids, suffix token ids, suffix starts, ends, walked
    emits, walked offsets, ids, suffix starts, ends). Written straight from the scan's C
    lists into the final arrays: a scan is paid once per lexer state, and numpy calls and
    buffer requests, not the sort, were most of its cost."""
    cdef int32_t top = -1
    cdef Py_ssize_t i
    for i in range(o.ns):
        if o.sem[i] > top:
            top = o.sem[i]
    return (_organise_part(o, concat, top + 1, True)
            + _organise_part(o, concat, top + 1, False))


cdef tuple _organise_part(const _ScanOut* o, const uint8_t* concat, int32_t n_values,
                         bint linked):
    """`_organise` for one part: (emits, offsets, ids[, suffix token ids], starts, ends)."""
    cdef Py_ssize_t i, m = 0, k = 0
    cdef int32_t e
    cdef int32_t* row_of = <int32_t*>calloc(n_values + 1, sizeof(int32_t))   # emit -> row + 1
    cdef int64_t* cursor = NULL
    if row_of == NULL:
        raise MemoryError("lexer_scan: out of memory organising straddlers")
    try:
        for i in range(o.ns):
            if (o.slink[i] >= 0) == linked:
                m += 1
                row_of[o.sem[i]] = 1
        for e in range(n_values):
            if row_of[e]:
                k += 1
                row_of[e] = <int32_t>k
        emits_np = np.empty(k, dtype=np.int32)
        table_np = np.empty((k, 257), dtype=np.int64)
        ids_np = np.empty(m, dtype=np.int32)
        link_np = np.empty(m if linked else 0, dtype=np.int32)
        pos_np = np.empty(m, dtype=np.int64)
        end_np = np.empty(m, dtype=np.int64)
        if k:
            cursor = <int64_t*>calloc(k * 256, sizeof(int64_t))
            if cursor == NULL:
                raise MemoryError("lexer_scan: out of memory organising straddlers")
            _organise_fill(o, concat, n_values, linked, row_of, cursor, k,
                           <int32_t*>_ptr(emits_np), <int64_t*>_ptr(table_np),
                           <int32_t*>_ptr(ids_np),
                           <int32_t*>_ptr(link_np) if linked else NULL,
                           <int64_t*>_ptr(pos_np), <int64_t*>_ptr(end_np))
        if linked:
            return emits_np, table_np, ids_np, link_np, pos_np, end_np
        return emits_np, table_np, ids_np, pos_np, end_np
    finally:
        free(row_of)
        free(cursor)


cdef void _bucket_offsets(int64_t* counts, Py_ssize_t k, int64_t* table) noexcept nogil:
    """The [k, 257] offsets table of straddlers grouped by (row, suffix's first byte) from
    their `counts` [k, 256]: row r's bucket b starts at table[r, b] and the row ends at
    table[r, 256]. Each count becomes its bucket's start, the fills' cursor."""
    cdef Py_ssize_t r, b
    cdef int64_t total = 0, c
    for r in range(k):
        for b in range(256):
            c = counts[r * 256 + b]
            table[r * 257 + b] = total
            counts[r * 256 + b] = total
            total += c
        table[r * 257 + 256] = total


cdef void _organise_fill(const _ScanOut* o, const uint8_t* concat, int32_t n_values,
                         bint linked, const int32_t* row_of,
                         int64_t* cursor, Py_ssize_t k, int32_t* emits, int64_t* table,
                         int32_t* ids, int32_t* link, int64_t* pos,
                         int64_t* end) noexcept nogil:
    """The counting sort of `_organise_part` (k >= 1 rows, `cursor` zeroed [k, 256];
    `link` NULL for the walked part)."""
    cdef Py_ssize_t i, at, slot
    cdef int32_t e
    for e in range(n_values):
        if row_of[e]:
            emits[row_of[e] - 1] = e
    for i in range(o.ns):
        if (o.slink[i] >= 0) == linked:
            cursor[(row_of[o.sem[i]] - 1) * 256 + concat[o.soff[i]]] += 1
    _bucket_offsets(cursor, k, table)
    for i in range(o.ns):
        if (o.slink[i] >= 0) != linked:
            continue
        slot = (row_of[o.sem[i]] - 1) * 256 + concat[o.soff[i]]
        at = cursor[slot]
        cursor[slot] = at + 1
        ids[at] = o.sid[i]
        if link != NULL:
            link[at] = o.slink[i]
        pos[at] = o.soff[i]
        end[at] = o.send[i]


def gather_bits(const uint32_t[::1] src, const int32_t[::1] src_ids,
                const int32_t[::1] dst_ids, uint32_t[::1] dst):
    """For each i: if bit src_ids[i] of `src` is set, set bit dst_ids[i] of `dst`."""
    cdef Py_ssize_t i
    cdef int32_t s
    with nogil:
        for i in range(src_ids.shape[0]):
            s = src_ids[i]
            if (src[s >> 5] >> (s & 31)) & 1:
                _set_bit(&dst[0], dst_ids[i])


def suffix_links(const uint8_t[::1] concat, const int64_t[::1] offsets,
                 const int32_t[::1] token_ids):
    """For every byte position of the sorted vocabulary, the id of the token spelling the rest
    of that token from there (-1 if none): binary search over the sorted token bytes."""
    cdef Py_ssize_t n = token_ids.shape[0], k, d, L, lo, hi, mid, j, la, lb, m
    cdef int cmp
    out_np = np.full(concat.shape[0] + 1, -1, dtype=np.int32)
    cdef int32_t[::1] out = out_np
    with nogil:
        for k in range(n):
            L = offsets[k + 1] - offsets[k]
            for d in range(1, L):
                lo = 0
                hi = n
                la = L - d
                while lo < hi:
                    mid = (lo + hi) >> 1
                    lb = offsets[mid + 1] - offsets[mid]
                    m = la if la < lb else lb
                    cmp = 0
                    j = 0
                    while j < m:
                        if concat[offsets[mid] + j] != concat[offsets[k] + d + j]:
                            cmp = -1 if concat[offsets[mid] + j] < concat[offsets[k] + d + j] else 1
                            break
                        j += 1
                    if cmp == 0:
                        cmp = -1 if lb < la else (1 if lb > la else 0)
                    if cmp == 0:
                        out[offsets[k] + d] = token_ids[mid]
                        break
                    if cmp < 0:
                        lo = mid + 1
                    else:
                        hi = mid
    return out_np


def gather_bits_ranges(object src, object src_ids, object dst_ids, object starts, object ends,
                       object dst, object sources=None):
    """`gather_bits` over the index ranges [starts[r], ends[r]); returns how many bits of `dst`
    went from 0 to 1 (src may be dst: callers iterate to a fixpoint), counting only those set
    in `sources` when given (mask words of every token some entry reads: a bit no entry
    reads changes nothing on another pass). Arrays: src / dst / sources uint32 words,
    src_ids / dst_ids int32, starts / ends int64."""
    cdef const uint32_t* sw
    cdef const uint32_t* rw = NULL
    cdef uint32_t* dw
    cdef const int32_t *si, *di
    cdef const int64_t *st, *en
    cdef Py_ssize_t r, i, n, nr, nd, changed = 0
    cdef int32_t s, d
    cdef uint32_t bit
    _u32(src, "gather_bits_ranges src", &sw, &n)
    _i32(src_ids, "gather_bits_ranges src_ids", &si, &n)
    _i32(dst_ids, "gather_bits_ranges dst_ids", &di, &n)
    _i64(starts, "gather_bits_ranges starts", &st, &nr)
    _i64(ends, "gather_bits_ranges ends", &en, &n)
    if n != nr:
        raise ValueError("gather_bits_ranges: starts and ends differ in length")
    _u32_out(dst, "gather_bits_ranges dst", &dw, &nd)
    if sources is not None:
        _u32(sources, "gather_bits_ranges sources", &rw, &n)
        if n != nd:
            raise ValueError("gather_bits_ranges: sources and dst differ in length")
    with nogil:
        for r in range(nr):
            for i in range(st[r], en[r]):
                s = si[i]
                if (sw[s >> 5] >> (s & 31)) & 1:
                    d = di[i]
                    bit = (<uint32_t>1) << (d & 31)
                    if not (dw[d >> 5] & bit):
                        dw[d >> 5] |= bit
                        if rw == NULL or rw[d >> 5] & bit:
                            changed += 1
    return changed


def walk_suffix_ranges(const int32_t[:, ::1] trans, const int32_t[::1] emit,
                       object concat_a, object spos_a, object epos_a, object tokens_a,
                       object starts_a, object ends_a, int32_t state):
    """Walk each entry's suffix concat[spos[i]:epos[i]] (i in the index ranges
    [starts[r], ends[r])) from lexer state `state` alone (no parser). Returns (token ids of
    the entries that stay inside the lexeme, int32; entries that end a lexeme, int64: the
    parser must decide those); entries that die are dropped. The result depends only on the
    lexer, so callers cache it per (lexer state, group, start state) (`_lexer_part`)."""
    cdef const uint8_t* concat
    cdef const int64_t *spos, *epos, *rs, *re
    cdef const int32_t* tokens
    cdef Py_ssize_t n, ne, nr, r
    _u8(concat_a, "walk_suffix_ranges concat", &concat, &n)
    _i64(spos_a, "walk_suffix_ranges spos", &spos, &ne)
    _i64(epos_a, "walk_suffix_ranges epos", &epos, &n)
    _i32(tokens_a, "walk_suffix_ranges tokens", &tokens, &r)
    if n != ne or r != ne:
        raise ValueError("walk_suffix_ranges: spos, epos and tokens differ in length")
    _i64(starts_a, "walk_suffix_ranges starts", &rs, &nr)
    _i64(ends_a, "walk_suffix_ranges ends", &re, &n)
    if n != nr:
        raise ValueError("walk_suffix_ranges: starts and ends differ in length")
    for r in range(nr):
        if rs[r] < 0 or rs[r] > re[r] or re[r] > ne:
            raise ValueError("walk_suffix_ranges: a range points past the entries")
    return _lexer_part(trans, emit, concat, spos, epos, tokens, rs, re, nr, state)


cdef enum:
    _BOUNDARY_CACHE_BITS = 12


cdef class _LexTables:
    """The lexer tables a CFG walk reads, kept per engine (`_tables`) and re-viewed only when
    the lexer reallocated them (a parser callback can add lexer states): acquiring a typed
    view costs ~1,300 instructions, more than most walks. Also a direct-mapped C cache in
    front of the engine's boundary memo (a dict lookup with its int boxing costs ~400
    instructions; the memo's entries never change once set, so a cached one stays true)."""
    cdef const int32_t[:, ::1] trans
    cdef const int32_t[::1] emit
    cdef object trans_obj
    cdef object emit_obj
    cdef object table
    cdef object engine
    cdef dict memo
    cdef int64_t cache_keys[1 << _BOUNDARY_CACHE_BITS]
    cdef int64_t cache_values[1 << _BOUNDARY_CACHE_BITS]

    def __init__(self, engine):
        self.engine = engine
        self.table = engine.lexer._table
        self.memo = engine._boundary_memo
        memset(self.cache_keys, 0xFF, sizeof(self.cache_keys))     # -1: empty (keys are >= 0)
        self.refresh()

    cdef int64_t boundary(self, int64_t p, int32_t e) except? -3:
        """The memo's packed configuration after a lexeme of kind e from parser state p
        (see `_cfg_walk`), filling it through the engine on a miss."""
        cdef int64_t key = p * 1048576 + e
        cdef Py_ssize_t slot = <Py_ssize_t>((<uint64_t>key * <uint64_t>0x9E3779B97F4A7C15ULL)
                                            >> (64 - _BOUNDARY_CACHE_BITS))
        if self.cache_keys[slot] == key:
            return self.cache_values[slot]
        found = self.memo.get(key)
        if found is None:
            found = self.engine._boundary_deep(p, e)
            self.refresh()
        cdef int64_t packed = found
        self.cache_keys[slot] = key
        self.cache_values[slot] = packed
        return packed

    cdef int refresh(self) except -1:
        t = self.table.trans
        if t is not self.trans_obj:
            self.trans = t
            self.trans_obj = t
        e = self.table.emit
        if e is not self.emit_obj:
            self.emit = e
            self.emit_obj = e
        return 0


cdef _LexTables _tables(object engine):
    """The engine's walk tables (made on first use, kept as `engine._lex_tables`)."""
    cdef _LexTables tabs = engine._lex_tables
    if tabs is None:
        tabs = _LexTables(engine)
        engine._lex_tables = tabs
    else:
        tabs.refresh()
    return tabs


def cfg_walk(object engine, bytes data, Py_ssize_t start, Py_ssize_t end,
             int64_t p, int32_t lx):
    """Walk data[start:end] from configuration (parser p, lexer lx) of a CompiledCFG; see
    `_cfg_walk`. Returns p * 2**32 + lx, or -1 when the text dies."""
    if start < 0 or end > len(data) or start > end:
        raise IndexError("cfg_walk: range outside the data")
    return _cfg_walk(_tables(engine), <const uint8_t*>(<const char*>data), start, end, p, lx)


cdef int64_t _cfg_walk(_LexTables tabs, const uint8_t* data, Py_ssize_t start,
                       Py_ssize_t end, int64_t p, int32_t lx) except? -2:
    """Lexeme boundaries consult the engine's `_boundary_memo` ({p * 2**20 + emit:
    p2 * 2**32 + lx2, -1 when the parser rejects, -2 when the answer lies below a window
    stack's sentinel}); misses call `engine._boundary_deep(p, emit)`, which fills it. Returns
    the packed configuration, -1 (dead) or -2 (deep)."""
    cdef Py_ssize_t i
    cdef int32_t nxt, e
    cdef int64_t packed
    for i in range(start, end):
        nxt = tabs.trans[lx, data[i]]
        if nxt < 0:
            e = tabs.emit[lx]
            if e < 0:
                return -1
            packed = tabs.boundary(p, e)
            if packed < 0:
                return packed
            p = packed >> 32
            lx = <int32_t>(packed & <int64_t>0xFFFFFFFF)
            nxt = tabs.trans[lx, data[i]]
            if nxt < 0:
                return -1
        lx = nxt
    return (<int64_t>p << 32) | lx


cdef struct _Entries:
    const uint8_t* concat
    const int64_t* spos
    const int64_t* epos
    const int32_t* tokens
    const int64_t* starts
    const int64_t* ends
    Py_ssize_t nranges
    uint32_t* words
    uint32_t* deep


cdef int _entries(str what, object concat, object spos, object epos, object tokens,
                  object starts, object ends, object words, object deep,
                  _Entries* out) except -1:
    """The checked arrays of a token walk over index ranges (`cfg_walk_ranges`,
    `lalr_walk_tokens`): concat uint8, spos / epos / starts / ends int64, tokens int32,
    words / deep writable uint32 words."""
    cdef Py_ssize_t n
    _u8(concat, what + " concat", &out.concat, &n)
    _i64(spos, what + " spos", &out.spos, &n)
    _i64(epos, what + " epos", &out.epos, &n)
    _i32(tokens, what + " tokens", &out.tokens, &n)
    _i64(starts, what + " starts", &out.starts, &out.nranges)
    _i64(ends, what + " ends", &out.ends, &n)
    if n != out.nranges:
        raise ValueError(f"{what}: starts and ends differ in length")
    _u32_out(words, what + " words", &out.words, &n)
    _u32_out(deep, what + " deep", &out.deep, &n)
    return 0


def cfg_walk_ranges(object engine, object concat, object spos, object epos, object tokens,
                    object starts, object ends, int64_t p, int32_t lx, object words,
                    object deep):
    """For the entries i of the index ranges [starts[r], ends[r]) (a straddler group's live
    first bytes): set the bit of tokens[i] in `words` when concat[spos[i]:epos[i]] walks alive
    from (p, lx), in `deep` when its fate lies below a window's sentinel (see cfg_walk).
    Arrays as `_entries` checks them."""
    cdef _Entries a
    cdef Py_ssize_t r, i
    cdef int64_t out
    _entries("cfg_walk_ranges", concat, spos, epos, tokens, starts, ends, words, deep, &a)
    cdef _LexTables tabs = _tables(engine)
    for r in range(a.nranges):
        for i in range(a.starts[r], a.ends[r]):
            out = _cfg_walk(tabs, a.concat, a.spos[i], a.epos[i], p, lx)
            if out >= 0:
                _set_bit(a.words, a.tokens[i])
            elif out == -2:
                _set_bit(a.deep, a.tokens[i])


def live_ranges(object row, object trans_row):
    """The non-empty index ranges [row[b], row[b + 1]) of a per-first-byte offsets row (int64,
    257 long) whose byte b is live in a lexer state (`trans_row[b]` >= 0, int32, 256 long):
    (starts, ends)."""
    cdef const int64_t* r
    cdef const int32_t* tr
    cdef Py_ssize_t n, nr, nt, count
    _i64(row, "live_ranges row", &r, &nr)
    _i32(trans_row, "live_ranges trans_row", &tr, &nt)
    if nr < 257 or nt < 256:
        raise ValueError("live_ranges: a 257-entry offsets row and a 256-entry lexer row expected")
    starts_np = np.empty(256, dtype=np.int64)
    ends_np = np.empty(256, dtype=np.int64)
    cdef int64_t* st = <int64_t*>cnp.PyArray_DATA(<cnp.ndarray>starts_np)
    cdef int64_t* en = <int64_t*>cnp.PyArray_DATA(<cnp.ndarray>ends_np)
    with nogil:
        n = _live_buckets(tr, r, st, en, &count)
    return starts_np[:n], ends_np[:n]


cdef Py_ssize_t _live_buckets(const int32_t* trans_row, const int64_t* row, int64_t* rs,
                              int64_t* re, Py_ssize_t* count) noexcept nogil:
    """The non-empty buckets of an offsets row (257 offsets) whose first byte is live in a
    lexer state (its row of `trans`) into rs / re; returns how many, `count` the entries
    they hold (`live_ranges`, and the compose kernels per group)."""
    cdef Py_ssize_t b, nr = 0
    count[0] = 0
    for b in range(256):
        if trans_row[b] >= 0 and row[b + 1] > row[b]:
            rs[nr], re[nr] = row[b], row[b + 1]
            count[0] += row[b + 1] - row[b]
            nr += 1
    return nr


# ---------------------------------------------------------------------------------------------
# Lexer subset construction: one combined-lexer state's successors.
cdef int32_t _successor_groups(const int32_t[:, ::1] big, const int32_t[::1] members,
                               Py_ssize_t m, int32_t[:, ::1] nxt, int32_t* counts,
                               uint64_t* hashes, int32_t* rep, int32_t* group) noexcept nogil:
    """Successors of a combined-lexer state whose members are the global terminal-DFA states
    `members[:m]` (sorted; at most one per terminal, so successor lists stay sorted):
    nxt[:counts[b], b] is byte b's successor list (member-major: each member's pass writes
    one row of `nxt` in order). Bytes with equal lists (compared exactly: hash, then
    element-wise) share a group, rep[g] is a group's first byte, group[b] its
    group or -1 when every member dies on b; hashes[b] is the list's FNV-1a hash (the
    caller's index of lists reuses it). Returns the number of groups. Groups are found
    through a small open-addressing table on the lists' hashes: a state whose bytes lead to
    a hundred different places (a literal trie's root) costs no quadratic search."""
    cdef Py_ssize_t b, i, alive
    cdef int32_t[512] slots
    cdef uint64_t h
    cdef int32_t s, g, j, slot, ngroups = 0
    cdef bint same
    cdef const int32_t* row
    for i in range(512):
        slots[i] = -1
    for b in range(256):
        counts[b] = 0
        hashes[b] = 1469598103934665603ULL
    for i in range(m):          # member rows read in order: contiguous, not strided
        row = &big[members[i], 0]
        for b in range(256):
            s = row[b]
            if s >= 0:
                nxt[counts[b], b] = s
                counts[b] += 1
                hashes[b] = (hashes[b] ^ <uint64_t>(s + 1)) * 1099511628211ULL
    for b in range(256):
        h = hashes[b]
        alive = counts[b]
        group[b] = -1
        if alive == 0:
            continue
        g = -1
        slot = <int32_t>((h ^ (h >> 29)) & 511)
        while slots[slot] >= 0:
            j = slots[slot]
            if hashes[rep[j]] == h and counts[rep[j]] == alive:
                same = True
                for i in range(alive):
                    if nxt[i, rep[j]] != nxt[i, b]:
                        same = False
                        break
                if same:
                    g = j
                    break
            slot = (slot + 1) & 511
        if g < 0:
            rep[ngroups] = <int32_t>b
            g = ngroups
            slots[slot] = g
            ngroups += 1
        group[b] = g
    return ngroups


cdef struct _ListIndex:
    # member lists seen in one closure -> state id, found by a 64-bit hash and confirmed
    # element by element (a hash shared by two lists just leaves the second to Python)
    ChildTable table            # key: hash | 1, value: entry number
    _IntList flat               # the entries' lists, one after another
    _IntList start              # per entry: where its list starts in `flat`
    _IntList length
    _IntList ids


cdef int32_t _index_find(_ListIndex* ix, const int32_t* xs, Py_ssize_t n, uint64_t h,
                         bint* clash) noexcept nogil:
    """The id of list `xs` in the index, or -1; `clash`: another list holds its hash."""
    cdef Py_ssize_t slot = _slot(&ix.table, <int64_t>h), i
    cdef int32_t e
    clash[0] = False
    if ix.table.keys[slot] == 0:
        return -1
    e = ix.table.values[slot]
    if ix.length.data[e] == n:
        for i in range(n):
            if ix.flat.data[ix.start.data[e] + i] != xs[i]:
                break
        else:
            return ix.ids.data[e]
    clash[0] = True
    return -1


cdef int _index_add(_ListIndex* ix, const int32_t* xs, Py_ssize_t n, uint64_t h,
                    int32_t sid) noexcept nogil:
    cdef Py_ssize_t slot, i
    if ix.table.used * 2 >= ix.table.size and _table_grow(&ix.table) != 0:
        return -1
    slot = _slot(&ix.table, <int64_t>h)
    if ix.table.keys[slot] != 0:
        return 0                                # a clash: the first list keeps the slot
    if (_push(&ix.start, <int32_t>ix.flat.n) != 0 or _push(&ix.length, <int32_t>n) != 0
            or _push(&ix.ids, sid) != 0):
        return -1
    for i in range(n):
        if _push(&ix.flat, xs[i]) != 0:
            return -1
    ix.table.keys[slot] = <int64_t>h
    ix.table.values[slot] = <int32_t>(ix.ids.n - 1)
    ix.table.used += 1
    return 0


cdef void _index_free(_ListIndex* ix) noexcept nogil:
    free(ix.table.keys)
    free(ix.table.values)
    free(ix.flat.data)
    free(ix.start.data)
    free(ix.length.data)
    free(ix.ids.data)


def lexer_closure(const int32_t[:, ::1] big, const uint8_t[::1] accepting,
                  tuple start_members, dict known, int32_t next_id,
                  Py_ssize_t max_new):
    """The combined-lexer states reachable from a start state whose members are the global
    terminal-DFA states `start_members` (sorted, at most one per terminal): one breadth-first
    closure, so a start state costs one call instead of a Python round per state.

    Successors are read from the members' own rows of `big` (terminal rows, never written
    here). A successor with one member is that terminal state itself; one with several is a
    combined state, looked up in `known` (member tuple -> id) or numbered from `next_id` on.
    Each distinct successor list goes through Python (a tuple, the dict lookups) once per
    call: later edges to it are found in a C index, which matters inside long counted
    strings (every position ~20 combined states with ~15 edges each).
    Returns (rows, keys, finals): rows int32 [1 + n, 256], the start state's row then each new
    state's, in id order; keys, the n new member tuples; finals, per new state the tuple of
    its accepting members (for its emit). None when more than `max_new` states are needed
    (nothing is added to `known` then: the caller inserts `keys`)."""
    cdef Py_ssize_t m, b, i, g, col, alive, head = 0, cap = 64
    cdef int32_t[256] counts
    cdef uint64_t[256] hashes              # per byte: its successor list's hash
    cdef int32_t[256] rep
    cdef int32_t[256] group                # per byte: its group
    cdef int32_t[256] target               # per group: the successor state's id
    cdef int32_t ngroups, tgt
    cdef int32_t* out
    cdef int32_t* rows = NULL              # [head, 256], grown by realloc
    cdef int32_t* bigger
    cdef uint64_t h
    cdef bint clash
    cdef _ListIndex ix
    memset(&ix, 0, sizeof(_ListIndex))
    rows = <int32_t*>malloc(cap * 256 * sizeof(int32_t))
    if rows == NULL or _table_init(&ix.table, 256) != 0:
        free(rows)
        _index_free(&ix)
        raise MemoryError("lexer_closure: no memory for its tables")
    nxt_np = np.empty((64, 256), dtype=np.int32)
    cdef int32_t[:, ::1] nxt = nxt_np
    mem_np = np.empty(64, dtype=np.int32)
    cdef int32_t[::1] mem = mem_np
    lst_np = np.empty(64, dtype=np.int32)      # one group's successor list, contiguous
    cdef int32_t[::1] lst = lst_np
    local = {}                                 # lists the index could not hold (a clash)
    keys = []
    finals = []
    queue = [start_members]
    cdef tuple cur, grp
    try:
        while head < len(queue):
            cur = <tuple>queue[head]
            m = len(cur)
            if m > mem.shape[0]:
                mem_np = np.empty(2 * m, dtype=np.int32)
                mem = mem_np
                lst_np = np.empty(2 * m, dtype=np.int32)
                lst = lst_np
                nxt_np = np.empty((2 * m, 256), dtype=np.int32)
                nxt = nxt_np
            for i in range(m):
                mem[i] = <int32_t>cur[i]
            with nogil:
                ngroups = _successor_groups(big, mem, m, nxt, &counts[0], &hashes[0], &rep[0],
                                            &group[0])
            for g in range(ngroups):
                col = rep[g]                # the group's first byte: a column of nxt
                alive = counts[col]
                if alive == 1:
                    target[g] = nxt[0, col]
                    continue
                for i in range(alive):
                    lst[i] = nxt[i, col]
                h = hashes[col] | 1         # nonzero: the index's empty key is 0
                tgt = _index_find(&ix, &lst[0], alive, h, &clash)
                if tgt < 0:
                    # new to this call: a state of an earlier closure, or a new one (the
                    # index holds every list this call numbered, but for clashes)
                    grp = tuple([lst[i] for i in range(alive)])
                    found = known.get(grp)
                    if found is None and clash:
                        found = local.get(grp)
                    if found is None:
                        if len(keys) >= max_new:
                            return None
                        found = next_id + len(keys)
                        if clash:
                            local[grp] = found
                        keys.append(grp)
                        finals.append(tuple([x for x in grp if accepting[x]]))
                        queue.append(grp)
                    tgt = <int32_t>found
                    if not clash and _index_add(&ix, &lst[0], alive, h, tgt) != 0:
                        raise MemoryError("lexer_closure: no memory for its index")
                target[g] = tgt
            if head >= cap:
                bigger = <int32_t*>realloc(rows, 2 * cap * 256 * sizeof(int32_t))
                if bigger == NULL:
                    raise MemoryError("lexer_closure: no memory for its rows")
                rows, cap = bigger, 2 * cap
            out = rows + head * 256
            for b in range(256):
                out[b] = target[group[b]] if group[b] >= 0 else -1
            head += 1
        rows_np = np.empty((head, 256), dtype=np.int32)
        if head:
            memcpy(cnp.PyArray_DATA(rows_np), rows, head * 256 * sizeof(int32_t))
    finally:
        free(rows)
        _index_free(&ix)
    return rows_np, keys, finals


def stored_equals(int32_t kind, const uint32_t[::1] data, const uint32_t[::1] words,
                  int32_t vocab_size):
    """Whether a stored mask (`mask_store.StoredMask` kind and data) equals the dense
    `words`, compared in place: interning a mask that already exists costs no dense copy."""
    cdef const uint32_t* src = &data[0] if data.shape[0] > 0 else NULL
    cdef bint same
    with nogil:
        same = _stored_equals(kind, src, data.shape[0], &words[0], words.shape[0], vocab_size)
    return same


cdef bint _stored_equals(int32_t kind, const uint32_t* data, Py_ssize_t length,
                         const uint32_t* words, Py_ssize_t n, int32_t vocab_size) noexcept nogil:
    cdef Py_ssize_t i
    cdef int64_t count = 0
    cdef uint32_t t, last = _last_word_mask(vocab_size, n)
    if kind == KIND_DENSE:
        return length == n and memcmp(data, words, n * sizeof(uint32_t)) == 0
    count = _popcount_span(words, n)
    if kind == KIND_ALLOW:
        if count != length:
            return False
        for i in range(length):
            t = data[i]
            if not (words[t >> 5] >> (t & 31)) & 1:
                return False
        return True
    # reject list: every id below vocab_size set except the listed ones, nothing above
    if words[n - 1] & ~last or count != vocab_size - length:
        return False
    for i in range(length):
        t = data[i]
        if (words[t >> 5] >> (t & 31)) & 1:
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Plain-text runs (mask_cache.plain_runs): the ladder's step and the closure of combined states.
cdef int _plain_next(const int32_t[:, ::1] trans, int32_t s, const int64_t[::1] ascii,
                     const int32_t[:, :, ::1] shapes, int32_t* out, int cap) noexcept nogil:
    """The distinct states one plain character leads to from `s` into `out` (their count),
    or -1 as soon as one plain character dies (or more than `cap` distinct states). Plain
    characters are the bytes `ascii` and the multi-byte UTF-8 sequences `shapes[k]` (per
    shape, the (lo, hi) range of each byte; unused rows lo = -1), as `mask_cache.plain_runs`
    defines them."""
    cdef int32_t b, t, c, k, j, i, lvl
    cdef int32_t[256] cur
    cdef int32_t[256] nxt
    cdef int32_t ncur, nnxt
    cdef int n = 0
    for i in range(ascii.shape[0]):
        t = trans[s, ascii[i]]
        if t < 0:
            return -1
        for j in range(n):
            if out[j] == t:
                break
        else:
            if n == cap:
                return -1
            out[n] = t
            n += 1
    for k in range(shapes.shape[0]):
        ncur = 0
        for b in range(shapes[k, 0, 0], shapes[k, 0, 1] + 1):
            t = trans[s, b]
            if t < 0:
                return -1
            for i in range(ncur):
                if cur[i] == t:
                    break
            else:
                cur[ncur] = t
                ncur += 1
        for lvl in range(1, shapes.shape[1]):
            if shapes[k, lvl, 0] < 0:
                break
            nnxt = 0
            for i in range(ncur):
                for c in range(shapes[k, lvl, 0], shapes[k, lvl, 1] + 1):
                    t = trans[cur[i], c]
                    if t < 0:
                        return -1
                    for j in range(nnxt):
                        if nxt[j] == t:
                            break
                    else:
                        if nnxt == 256:
                            return -1
                        nxt[nnxt] = t
                        nnxt += 1
            for i in range(nnxt):
                cur[i] = nxt[i]
            ncur = nnxt
        for i in range(ncur):
            for j in range(n):
                if out[j] == cur[i]:
                    break
            else:
                if n == cap:
                    return -1
                out[n] = cur[i]
                n += 1
    return n


cdef uint8_t _plain_dead(const int32_t[:, ::1] trans, const uint8_t[::1] accepting,
                         Py_ssize_t s, const int64_t[::1] ascii) noexcept nogil:
    """Whether state `s` is dead on plain text: not accepting, and no plain byte (ASCII or a
    UTF-8 lead byte) continues it."""
    cdef Py_ssize_t i
    if accepting[s]:
        return 0
    for i in range(ascii.shape[0]):
        if trans[s, ascii[i]] >= 0:
            return 0
    for i in range(0xC2, 0xF5):
        if trans[s, i] >= 0:
            return 0
    return 1


cdef void _settle_path(const int32_t* path, Py_ssize_t top, int32_t last, int32_t unbounded,
                       int32_t[::1] runs, int32_t[::1] ends, uint8_t[::1] known) noexcept nogil:
    """`plain_run` and `charset_run`: give the `top` states of a followed run (`path`, in
    order) their runs, last first, each one more than the state after it. `last` is where
    the run stopped: a state on the path (`known` 2: a cycle, unbounded) or one whose run is
    known (3), whose end state all of them share."""
    cdef int32_t t, base, stop
    if known[last] == 2:
        base, stop = unbounded, -1
    else:
        base, stop = runs[last], ends[last]
    while top > 0:
        top -= 1
        t = path[top]
        base = unbounded if base >= unbounded else base + 1
        runs[t], ends[t], known[t] = base, stop, 3


def plain_run(const int32_t[:, ::1] trans, const uint8_t[::1] accepting, int32_t state,
              const int64_t[::1] ascii, const int32_t[:, :, ::1] shapes, int32_t unbounded,
              int32_t[::1] steps, int32_t[::1] runs, int32_t[::1] ends, uint8_t[::1] known):
    """`mask_cache.plain_runs.plain_run` for one state, computed on the states its run
    passes and memoised in the caller's arrays (one entry per state; `known` 0 for states
    not yet seen): the run of plain characters along the step function (each state's one
    live successor on every plain character, when there is one) until a state without such
    a successor (`unbounded` for runs that reach a cycle). Returns (run, exact): exact when
    the state the run ends in is dead on plain text. Only the states on the run are
    analysed (a `_plain_next` each): a long string's automaton has thousands of states, of
    which a text visits a few."""
    cdef Py_ssize_t n = trans.shape[0], top = 0
    cdef int32_t s = state
    cdef int32_t* path
    cdef int32_t[1] only
    if state < 0 or state >= n:
        raise IndexError(f"plain_run: state {state} outside a table of {n} rows")
    if accepting.shape[0] < n or steps.shape[0] < n or runs.shape[0] < n \
            or ends.shape[0] < n or known.shape[0] < n:
        raise ValueError("plain_run: memo arrays shorter than the automaton")
    path = <int32_t*>malloc(max(n, 1) * sizeof(int32_t))
    if path == NULL:
        raise MemoryError("plain_run: out of memory")
    with nogil:
        # known: 0 unseen, 1 stepped, 2 on the path being followed, 3 run known
        while known[s] != 3 and known[s] != 2:
            if known[s] == 0:
                steps[s] = only[0] if _plain_next(trans, s, ascii, shapes, &only[0], 1) == 1 else -1
                known[s] = 1
            if steps[s] < 0 or steps[s] >= n:
                runs[s], ends[s], known[s] = 0, s, 3
                break
            known[s] = 2
            path[top] = s
            top += 1
            s = steps[s]
        _settle_path(path, top, s, unbounded, runs, ends, known)
    free(path)
    if runs[state] >= unbounded:
        return int(unbounded), False
    return int(runs[state]), bool(_plain_dead(trans, accepting, ends[state], ascii))


cdef int32_t _charset_group(const int32_t[:, ::1] trans, Py_ssize_t q, int32_t min_size,
                            uint64_t* bits) noexcept nogil:
    """The charset of state `q` (the largest group of ASCII bytes moving it to one live
    state; ties: the group holding the lowest byte) into `bits` [2], and that state, or -1
    (bits zero) when the group has under `min_size` bytes."""
    cdef int32_t[128] targets
    cdef int32_t[128] counts
    cdef int32_t nt = 0, b, t, j, best = -1, best_n = 0
    cdef Py_ssize_t n = trans.shape[0]
    bits[0] = 0
    bits[1] = 0
    for b in range(128):
        t = trans[q, b]
        if t < 0 or t >= n:
            continue
        for j in range(nt):
            if targets[j] == t:
                counts[j] += 1
                break
        else:
            targets[nt] = t
            counts[nt] = 1
            j = nt
            nt += 1
        if counts[j] > best_n:
            best, best_n = t, counts[j]
    if best_n < min_size or best_n == 0:
        return -1
    for b in range(128):
        if trans[q, b] == best:
            bits[b >> 6] |= (<uint64_t>1) << (b & 63)
    return best


cdef inline void _group_once(const int32_t[:, ::1] trans, Py_ssize_t q, int32_t min_size,
                             uint64_t[:, ::1] sets, int32_t[::1] steps,
                             uint8_t[::1] known) noexcept nogil:
    """`charset_run`: state `q`'s charset and step into the memo, unless already there."""
    cdef uint64_t[2] bits
    if known[q] == 0:
        steps[q] = _charset_group(trans, q, min_size, bits)
        sets[q, 0], sets[q, 1] = bits[0], bits[1]
        known[q] = 1


def charset_run(const int32_t[:, ::1] trans, const uint8_t[::1] accepting, int32_t state,
                int32_t min_size, int32_t unbounded, uint64_t[:, ::1] sets, int32_t[::1] steps,
                int32_t[::1] runs, int32_t[::1] ends, uint8_t[::1] known):
    """`mask_cache.plain_runs.charset_run` for one state, computed on the states its run
    passes and memoised in the caller's arrays (one entry per state; `known` 0 for states
    not yet seen): per state, its *charset* (`_charset_group`), and how many characters of
    that set are certainly accepted in a row -- the run follows each state's charset step
    while the next state's charset contains the current one (every character of the first
    set keeps moving all alike: a lower bound; `unbounded` on a cycle). Returns (run,
    exact): exact when, after the run, every byte of the set dies in a state that does not
    accept. Only the states on the run are analysed: a long string's automaton has tens of
    thousands of states, of which a text visits a few."""
    cdef Py_ssize_t n = trans.shape[0], top = 0
    cdef int32_t s = state, t
    cdef int32_t* path
    if state < 0 or state >= n:
        raise IndexError(f"charset_run: state {state} outside a table of {n} rows")
    if trans.shape[1] < 128 or accepting.shape[0] < n or sets.shape[0] < n or steps.shape[0] < n \
            or runs.shape[0] < n or ends.shape[0] < n or known.shape[0] < n:
        raise ValueError("charset_run: memo arrays shorter than the automaton")
    path = <int32_t*>malloc(max(n, 1) * sizeof(int32_t))
    if path == NULL:
        raise MemoryError("charset_run: out of memory")
    with nogil:
        # known: 0 unseen, 1 grouped, 2 on the path being followed, 3 run known
        while known[s] != 3 and known[s] != 2:
            _group_once(trans, s, min_size, sets, steps, known)
            if steps[s] < 0:            # no charset (only `state` itself): no run
                runs[s], ends[s], known[s] = 0, s, 3
                break
            known[s] = 2
            path[top] = s
            top += 1
            t = steps[s]
            _group_once(trans, t, min_size, sets, steps, known)
            if not _contains(sets, t, s):
                # the run stops one step on: this state's run is 1, ending there
                top -= 1
                runs[s], ends[s], known[s] = 1, t, 3
                break
            s = t
        _settle_path(path, top, s, unbounded, runs, ends, known)
    free(path)
    s = state
    if runs[s] <= 0 or runs[s] >= unbounded:
        return int(min(runs[s], unbounded)), False
    return int(runs[s]), bool(_set_dead(trans, accepting, ends[s], sets, s))


cdef inline bint _contains(const uint64_t[:, ::1] sets, int64_t outer, int64_t inner) noexcept nogil:
    """Whether state `outer`'s charset holds state `inner`'s (an empty one holds nothing)."""
    return ((sets[outer, 0] | sets[outer, 1]) != 0
            and (sets[inner, 0] & ~sets[outer, 0]) == 0
            and (sets[inner, 1] & ~sets[outer, 1]) == 0)


cdef uint8_t _set_dead(const int32_t[:, ::1] trans, const uint8_t[::1] accepting, int64_t s,
                       const uint64_t[:, ::1] sets, Py_ssize_t q) noexcept nogil:
    """Whether every byte of state `q`'s charset dies in state `s`, which does not accept."""
    cdef int32_t b
    if accepting[s]:
        return 0
    for b in range(128):
        if (sets[q, b >> 6] >> (b & 63)) & 1 and trans[s, b] >= 0:
            return 0
    return 1


def live_ascii(object trans, Py_ssize_t state):
    """How many ASCII bytes do not die from `state` of `trans` (int32 [n, >= 128], C order):
    a charset needs `CHARSET_MIN` of them."""
    cdef const int32_t* t
    cdef Py_ssize_t size, width
    cdef int32_t b, n = 0
    _i32(trans, "live_ascii trans", &t, &size)
    if cnp.PyArray_NDIM(<cnp.ndarray>trans) != 2:
        raise ValueError("live_ascii: a 2-d transition table expected")
    width = cnp.PyArray_DIM(<cnp.ndarray>trans, 1)
    if width < 128 or state < 0 or state >= size // width:
        raise IndexError(f"live_ascii: state {state} outside a table of {size // max(width, 1)} rows")
    t += state * width
    for b in range(128):
        n += t[b] >= 0
    return n


def charset_chars(const uint8_t[::1] concat, const int64_t[::1] offsets,
                  const int64_t[::1] first_end, const uint8_t[::1] table, int32_t longest):
    """int32 per token of a sorted trie (`offsets` delimits them in `concat`, `first_end[b]`
    is where the tokens starting with byte b end): its length when every byte is flagged in
    `table` (uint8 [256]) and it has at most `longest` bytes, -1 when it starts with a
    flagged byte but leaves the set (or is longer), -2 when its first byte is not flagged.
    The first kind a charset run decides unwalked, the second its sub-trie walks."""
    cdef Py_ssize_t n = offsets.shape[0] - 1, k, start = 0, stop
    cdef int64_t i
    cdef int b
    if table.shape[0] != 256 or first_end.shape[0] != 256:
        raise ValueError("charset_chars: table and first_end must have 256 entries")
    if n < 0 or first_end[255] != n:
        raise ValueError("charset_chars: first_end does not end at the token count")
    out_np = np.empty(n, dtype=np.int32)
    cdef int32_t[::1] out = out_np
    with nogil:
        for b in range(256):
            stop = first_end[b]
            if stop < start or stop > n:
                break
            for k in range(start, stop):
                if not table[b]:
                    out[k] = -2
                    continue
                out[k] = <int32_t>(offsets[k + 1] - offsets[k])
                if out[k] > longest:
                    out[k] = -1
                    continue
                for i in range(offsets[k] + 1, offsets[k + 1]):
                    if not table[concat[i]]:
                        out[k] = -1
                        break
            start = stop
    if start != n:
        raise ValueError("charset_chars: first_end is not increasing")
    return out_np


def length_masks(const int32_t[::1] chars, const int32_t[::1] token_ids, Py_ssize_t words):
    """uint32 [top + 1, words] (top: the largest count): row L holds the tokens whose count
    `chars[k]` (aligned with `token_ids`) is between 0 and L."""
    cdef Py_ssize_t n = chars.shape[0], k, w
    cdef int32_t top = 0, t, L
    if token_ids.shape[0] != n:
        raise ValueError("length_masks: chars and token_ids differ in length")
    for k in range(n):
        if chars[k] > top:
            top = chars[k]
        t = token_ids[k]
        if chars[k] >= 0 and (t < 0 or t >= words * 32):
            raise IndexError(f"length_masks: token id {t} outside {words} words")
    out_np = np.zeros((top + 1, words), dtype=np.uint32)
    cdef uint32_t[:, ::1] out = out_np
    with nogil:
        for k in range(n):
            if chars[k] >= 0:
                _set_bit(&out[chars[k], 0], token_ids[k])
        for L in range(1, top + 1):
            for w in range(words):
                out[L, w] |= out[L - 1, w]
    return out_np


def plain_closure(const int32_t[:, ::1] trans, int32_t state, const int64_t[::1] ascii,
                  const int32_t[:, :, ::1] shapes, int32_t cap):
    """The states plain text reaches from `state` (int32, `state` first) when none of them
    dies on a plain character, else None; also None past `cap` states (`plain_runs`).

    A probe first follows one plain byte from `state` until it dies (None at once) or comes
    back to a state it passed: inside a counted string (`maxLength`, a chunk of a long
    string) every position is asked once, and without the probe each asking explored every
    position after it, a cost quadratic in the count."""
    seen_np = np.empty(cap + 1, dtype=np.int32)
    cdef int32_t[::1] seen = seen_np
    marks_np = np.zeros(trans.shape[0], dtype=np.uint8)
    cdef uint8_t[::1] marks = marks_np
    cdef int32_t[256] step
    cdef Py_ssize_t nseen = 1, head = 0, i
    cdef int n
    cdef int32_t s = state
    cdef Py_ssize_t n_states = trans.shape[0]
    cdef bint ok = True, bad = False
    if state < 0 or state >= n_states:
        raise IndexError(f"plain_closure: state {state} out of range ({n_states} states)")
    if ascii.shape[0] == 0:
        raise ValueError("plain_closure: no plain bytes given")
    with nogil:
        while not marks[s] & 2:         # the probe: one plain byte again and again
            marks[s] |= 2
            s = trans[s, ascii[0]]
            if s < 0:
                ok = False
                break
            if s >= n_states:
                bad = True
                break
    if bad:
        raise ValueError(f"plain_closure: a transition leads to state {s} of {n_states}")
    if not ok:
        return None
    seen[0] = state
    marks[state] |= 1
    with nogil:
        while ok and head < nseen:
            n = _plain_next(trans, seen[head], ascii, shapes, &step[0], 256)
            head += 1
            if n < 0:
                ok = False
                break
            for i in range(n):
                if step[i] >= n_states:
                    bad = True
                    break
                if marks[step[i]] & 1:
                    continue
                if nseen > cap:
                    ok = False
                    break
                marks[step[i]] |= 1
                seen[nseen] = step[i]
                nseen += 1
            if bad:
                break
    if bad:
        raise ValueError(f"plain_closure: a transition leads past the {n_states} states")
    if not ok:
        return None
    return seen_np[:nseen].copy()


# ---------------------------------------------------------------------------------------------
# CFG engine: the shape of a lexer state, so equal shapes share one vocabulary scan.
cdef int32_t _local_id(ChildTable* t, _IntList* order, int64_t key, bint* failed) noexcept nogil:
    """The number of `key` (a state or emit id) in order of first appearance, adding it to
    `order` when new; `failed` is set when memory runs out."""
    cdef Py_ssize_t i
    if t.used * 2 >= t.size and _table_grow(t) != 0:
        failed[0] = True
        return 0
    i = _slot(t, key + 1)
    if t.keys[i] == 0:
        if _push(order, <int32_t>key) != 0:
            failed[0] = True
            return 0
        t.keys[i] = key + 1
        t.values[i] = <int32_t>(order.n - 1)
        t.used += 1
    return t.values[i]


def first_byte_union(object flags, object rows, object every):
    """The OR of the rows [256, words] of the flagged bytes (uint8 [256]), or `every` minus
    the rows of the unflagged bytes when those are fewer; None when no byte is flagged. A
    scan's tokens whose first byte ends the lexeme (`cfg_masks._first_byte_union`): a
    number's state flags all but a dozen bytes, and numpy's fancy-indexed reduce of those
    rows cost more than the scan's walk."""
    cdef const uint8_t* f
    cdef const uint32_t* r
    cdef const uint32_t* e
    cdef Py_ssize_t n_f, n_r, n_e, b, w, on = 0
    _u8(flags, "first_byte_union flags", &f, &n_f)
    _u32(rows, "first_byte_union rows", &r, &n_r)
    _u32(every, "first_byte_union every", &e, &n_e)
    if n_f != 256 or n_r != 256 * n_e:
        raise ValueError(f"first_byte_union: {n_f} flags, {n_r} row words for {n_e} words")
    for b in range(256):
        on += f[b] != 0
    if not on:
        return None
    out_np = np.zeros(n_e, dtype=np.uint32)
    cdef uint32_t* out = <uint32_t*>_ptr(out_np)
    cdef bint invert = on > 128
    with nogil:
        for b in range(256):
            if (f[b] != 0) != invert:
                for w in range(n_e):
                    out[w] |= r[b * n_e + w]
        if invert:
            for w in range(n_e):
                out[w] = e[w] & ~out[w]
    return out_np


def row_mode(const int32_t[:, ::1] trans, Py_ssize_t state):
    """(the successor `state` goes to on the most bytes, how many), (-1, 0) for a dead row:
    the base state of `cfg_masks.scan_over_base`."""
    if state < 0 or state >= trans.shape[0] or trans.shape[1] != 256:
        raise IndexError(f"row_mode: state {state} outside the table")
    cdef int32_t keys[512]
    cdef int32_t counts[512]
    cdef int32_t v, best = -1, most = 0
    cdef Py_ssize_t b, h
    for h in range(512):
        keys[h] = -1
        counts[h] = 0
    for b in range(256):
        v = trans[state, b]
        if v < 0:
            continue
        h = (<uint32_t>v * <uint32_t>2654435761) >> 23      # 9 bits
        while keys[h] != -1 and keys[h] != v:
            h = (h + 1) & 511
        keys[h] = v
        counts[h] += 1
        if counts[h] > most:
            best, most = v, counts[h]
    return best, most


def lexer_shape(const int32_t[:, ::1] trans, const int32_t[::1] emit, int32_t start,
                Py_ssize_t max_states):
    """The lexer automaton reachable from `start`, up to renaming: (shape, emits) or None when
    more than `max_states` states are reachable. States are numbered breadth-first and emits
    by first appearance; the shape lists per state its emit's number (-1: none) and its live
    bytes as runs (first byte | last byte << 8, successor's number), closed by -1. A vocabulary
    scan reads nothing else, so two lexer states of equal shape classify every token alike
    (lexeme kinds renamed through `emits`), whatever grammar they come from."""
    cdef ChildTable states, emits
    cdef _IntList order, shape, emit_order
    memset(&order, 0, sizeof(_IntList))
    memset(&shape, 0, sizeof(_IntList))
    memset(&emit_order, 0, sizeof(_IntList))
    memset(&states, 0, sizeof(ChildTable))
    memset(&emits, 0, sizeof(ChildTable))
    cdef bint failed = _table_init(&states, 64) != 0 or _table_init(&emits, 16) != 0
    cdef bint too_big = False
    cdef Py_ssize_t head = 0
    cdef int b, first
    cdef int32_t s, target, e, label
    cdef const int32_t* row
    with nogil:
        if not failed:
            _local_id(&states, &order, start, &failed)
        while not failed and head < order.n:
            if order.n > max_states:
                too_big = True
                break
            s = order.data[head]
            head += 1
            e = emit[s]
            label = _local_id(&emits, &emit_order, e, &failed) if e >= 0 else -1
            failed = failed or _push(&shape, label) != 0
            row = &trans[s, 0]
            b = 0
            while b < 256 and not failed:
                target = row[b]
                if target < 0:
                    b += 1
                    continue
                first = b
                while b + 1 < 256 and row[b + 1] == target:
                    b += 1
                label = _local_id(&states, &order, target, &failed)
                failed = failed or _push(&shape, first | (b << 8)) != 0 \
                    or _push(&shape, label) != 0
                b += 1
            failed = failed or _push(&shape, -1) != 0
    try:
        if failed:
            raise MemoryError("lexer_shape: out of memory")
        if too_big:
            return None
        return (b"" if shape.n == 0 else (<char*>shape.data)[:shape.n * sizeof(int32_t)],
                _np_copy(emit_order.data, emit_order.n, np.int32))
    finally:
        free(states.keys)
        free(states.values)
        free(emits.keys)
        free(emits.values)
        free(order.data)
        free(shape.data)
        free(emit_order.data)


# ---------------------------------------------------------------------------------------------
# CFG engine, LALR grammars: token walks that simulate the LR stack in C.
# A walk from a real (or window) configuration needs the parser only at lexeme boundaries, and
# there an LR step is a few table reads. Calling back into Python for each new (stack, lexeme)
# pair was most of a first visit's cost (deep rechecks, exact masks of new configurations). Here
# the stack above the configuration's node is a hash-consed tree of local nodes, kept with its
# memoised steps and lexer starts per grammar (`CompiledCFG._lalr_sim`), so tokens share their
# boundary steps and lexer starts as the Python memo would.
# Node ids: real nodes >= 0 (the parser's, read through `node_parent`/`node_lr`), local node i is
# -(i + 3); -1 is a dead end, -2 a read of the window sentinel (the token is *deep*).
cdef enum:
    _SIM_DEAD = -1
    _SIM_DEEP = -2
    _SIM_UNKNOWN = -3
    _EMIT_SEVERAL = -3      # emit_term: a lexeme of several kinds (stepped each, see step_emit)
    _EMIT_PYTHON = -4       # emit_term: a lexeme only the Python walker takes
    _SHIFTING_DEPTH = 256   # reductions `LalrSim.shifting` follows together (deeper: singly)
    _MAX_INDENTS = 512      # indentation levels a walk can hold (deeper: the Python walker)
    _NODE_UNKNOWN = -2147483647 - 1     # a step's "no single stack": never a local node id
    _READ_ALL = 1 << 30     # `shifting` read: the answer may depend on the whole stack


# 2**31 as a C constant: a bare 2147483648 literal in an expression makes Cython compute the
# whole key with Python integers (about 1,000 instructions a step instead of a few)
cdef int64_t _NODE_BIAS = 2147483648


cdef inline bint _halted(int32_t node) noexcept nogil:
    """A step's result that ends a walk: a dead end or a read of the window sentinel (local
    nodes are <= -3, _NODE_UNKNOWN is the caller's to handle)."""
    return node == _SIM_DEAD or node == _SIM_DEEP


cdef class LalrSim:
    """A grammar's LR tables, local stack nodes and memoised steps and lexer starts (kept
    between walks: the parser's nodes and the lexer's states only grow, see `update`)."""
    cdef const int32_t[:, ::1] action      # [lr, terminal]: shift s -> s + 1, reduce r -> -(r + 1)
    cdef const int32_t[:, ::1] goto_       # [lr, symbol] -> lr, -1
    cdef const int32_t[::1] rule_lhs
    cdef const int32_t[::1] rule_size
    cdef const int32_t[::1] node_parent
    cdef const int32_t[::1] node_lr
    cdef const int32_t[::1] emit_term      # per emit id: its terminal, -1 ignored, -3 several,
                                           # -4 Python only
    cdef const int32_t[::1] emit_aux       # per emit id: a newline lexeme's indentation width
    cdef const int32_t[::1] emit_bracket   # per emit id: 1 opens a bracket, 2 closes one
    cdef const int32_t[::1] several_off    # emit e of several kinds: its terminals are
    cdef const int32_t[::1] several_terms  # several_terms[several_off[e]:several_off[e + 1]]
    cdef bint indented                     # Python's indenter (see TerminalParser)
    cdef int32_t nl_term, indent_term, dedent_term
    cdef Py_ssize_t nterm
    cdef object engine
    cdef dict starts                        # allowed-terminal bits -> lexer start state
    cdef const int32_t[:, ::1] trans
    cdef const int32_t[::1] emit
    cdef const uint8_t[::1] is_start
    cdef int32_t* lparent
    cdef int32_t* llr
    cdef Py_ssize_t ln, lcap
    cdef ChildTable nodes, steps, lexstarts
    # `lex_start` by the LR states it read (top first, int32 bytes) -> lexer start state, and
    # per top LR state the depths such keys have (a new stack often repeats an old one's top)
    cdef readonly dict start_by_top
    cdef dict top_depths
    # (window key, group, stack, lexer state) -> live members' token ids, see
    # `lalr_recheck_groups`; keyed by this walker's own stack ids, so it lives and dies with it
    cdef public dict group_memo

    def __cinit__(self):
        memset(&self.nodes, 0, sizeof(ChildTable))
        memset(&self.steps, 0, sizeof(ChildTable))
        memset(&self.lexstarts, 0, sizeof(ChildTable))
        self.lparent = NULL
        self.llr = NULL

    def __init__(self, engine, action, goto_, rule_lhs, rule_size, node_parent, node_lr,
                 tuple emits, dict starts, tuple indent=None):
        """`emits`: the lexeme-kind tables of `update`; `indent`: None, or the (newline,
        INDENT, DEDENT) terminal ids of a grammar behind Python's indenter."""
        self.engine = engine
        self.group_memo = {}
        self.start_by_top, self.top_depths = {}, {}
        self.action, self.goto_ = action, goto_
        self.rule_lhs, self.rule_size = rule_lhs, rule_size
        self.nterm = self.action.shape[1]
        if self.nterm > 256:
            raise ValueError("LalrSim: at most 256 terminals")
        self.starts = starts
        self.indented = indent is not None
        if self.indented:
            self.nl_term, self.indent_term, self.dedent_term = indent
        self.update(node_parent, node_lr, emits)
        if (_table_init(&self.nodes, 256) != 0 or _table_init(&self.steps, 256) != 0
                or _table_init(&self.lexstarts, 64) != 0):
            raise MemoryError("LalrSim: out of memory")

    def __dealloc__(self):
        free(self.nodes.keys)
        free(self.nodes.values)
        free(self.steps.keys)
        free(self.steps.values)
        free(self.lexstarts.keys)
        free(self.lexstarts.values)
        free(self.lparent)
        free(self.llr)

    cdef void refresh(self):
        self.trans = self.engine.lexer.trans
        self.emit = self.engine.lexer.emit
        self.is_start = self.engine.lexer.is_start.view(np.uint8)

    def update(self, node_parent, node_lr, tuple emits):
        """Take the parser's current node arrays and lexeme kinds (both only grow; every
        memoised answer stays true). `emits` = (emit_term, emit_aux, emit_bracket,
        several_off, several_terms), see the fields."""
        self.node_parent, self.node_lr = node_parent, node_lr
        (self.emit_term, self.emit_aux, self.emit_bracket, self.several_off,
         self.several_terms) = emits
        self.refresh()

    @property
    def local_nodes(self) -> int:
        return self.ln

    @property
    def lex_starts(self) -> int:
        """How many stacks' lexer start states are memoised (`lex_start`)."""
        return self.lexstarts.used

    cdef inline int32_t lr_of(self, int32_t node) noexcept:
        return self.node_lr[node] if node >= 0 else self.llr[-node - 3]

    cdef inline int32_t parent_of(self, int32_t node) noexcept:
        return self.node_parent[node] if node >= 0 else self.lparent[-node - 3]

    cdef int32_t push(self, int32_t parent, int32_t lr) except? -4:
        """The local node (parent, lr), interned."""
        cdef int64_t key = ((<int64_t>parent + _NODE_BIAS) << 21) | (lr + 1)
        cdef Py_ssize_t i
        cdef int32_t* bigger
        if self.nodes.used * 2 >= self.nodes.size and _table_grow(&self.nodes) != 0:
            raise MemoryError("LalrSim: out of memory")
        i = _slot(&self.nodes, key)
        if self.nodes.keys[i] != 0:
            return self.nodes.values[i]
        if self.ln == self.lcap:
            self.lcap = self.lcap * 2 if self.lcap else 256
            bigger = <int32_t*>realloc(self.lparent, self.lcap * sizeof(int32_t))
            if bigger == NULL:
                raise MemoryError("LalrSim: out of memory")
            self.lparent = bigger
            bigger = <int32_t*>realloc(self.llr, self.lcap * sizeof(int32_t))
            if bigger == NULL:
                raise MemoryError("LalrSim: out of memory")
            self.llr = bigger
        self.lparent[self.ln] = parent
        self.llr[self.ln] = lr
        self.nodes.keys[i] = key
        self.nodes.values[i] = <int32_t>(-self.ln - 3)
        self.nodes.used += 1
        self.ln += 1
        return <int32_t>(-self.ln - 2)

    cdef int32_t reductions(self, int32_t* cur, int32_t t, int32_t* above,
                            int32_t* nabove) except? -4:
        """Follow terminal t's reductions on the stack `cur[0]` + above[:nabove] (LR states not
        yet interned, 64 at most: past that they are spilled into nodes) until t shifts:
        returns the LR state it shifts to, _SIM_DEAD on an error, _SIM_DEEP on reading the
        sentinel (as `LalrParser._simulate`)."""
        cdef int32_t lr, act, r
        while True:
            lr = above[nabove[0] - 1] if nabove[0] else self.lr_of(cur[0])
            if lr < 0:
                return _SIM_DEEP
            act = self.action[lr, t]
            if act >= 0:
                return act - 1 if act else _SIM_DEAD
            r = self.reduce_by(-act - 1, cur, above, nabove)
            if r < 0:
                return r

    cdef inline int32_t reduce_by(self, int32_t rule, int32_t* cur, int32_t* above,
                                  int32_t* nabove, int32_t* depth=NULL) except? -4:
        """Reduce by `rule` on the stack `cur[0]` + above[:nabove], in place: pop its right
        side, push the goto on its left side (spilling a full `above` into nodes first).
        Returns the LR state pushed, _SIM_DEAD without a goto, _SIM_DEEP when the state
        uncovered is the sentinel. (`reductions` for one terminal, `shifting` for a group.)
        `depth` (when given): [how far `cur` lies below the stack the caller began on, the
        deepest such position whose LR state was read], both kept up to date."""
        cdef int32_t size = self.rule_size[rule], n = nabove[0], k, lr
        if size <= n:
            n -= size
        else:
            for k in range(size - n):
                cur[0] = self.parent_of(cur[0])
            if depth != NULL:
                depth[0] += size - n
            n = 0
        nabove[0] = n
        if n == 0 and depth != NULL and depth[0] > depth[1]:
            depth[1] = depth[0]
        lr = above[n - 1] if n else self.lr_of(cur[0])
        if lr < 0:
            return _SIM_DEEP
        lr = self.goto_[lr, self.rule_lhs[rule]]
        if lr < 0:
            return _SIM_DEAD
        if n == 64:
            cur[0] = self.spill(cur[0], above, n)
            if depth != NULL:
                depth[0] -= 64
            n = 0
        above[n] = lr
        nabove[0] = n + 1
        return lr

    cdef int32_t spill(self, int32_t node, int32_t* above, int32_t n) except? -4:
        """`node` with the LR states above[:n] pushed (interned)."""
        cdef int32_t k
        for k in range(n):
            node = self.push(node, above[k])
        return node

    cdef int32_t simulate(self, int32_t node, int32_t t) except? -4:
        """The stack after shifting terminal t onto `node`: reductions, then the shift;
        _SIM_DEAD on an error, _SIM_DEEP on reading the sentinel. Only the stack that
        remains is interned, not the reductions' passing gotos."""
        cdef int32_t above[64]
        cdef int32_t nabove = 0
        cdef int32_t s = self.reductions(&node, t, above, &nabove)
        if s < 0:
            return s
        return self.push(self.spill(node, above, nabove), s)

    cdef int32_t shifts(self, int32_t node, int32_t t) except? -4:
        """1 when terminal t eventually shifts on stack `node`, else _SIM_DEAD or _SIM_DEEP:
        `simulate` without interning a node."""
        cdef int32_t above[64]
        cdef int32_t nabove = 0
        cdef int32_t s = self.reductions(&node, t, above, &nabove)
        return 1 if s >= 0 else s

    cdef int32_t step(self, int32_t node, int32_t t) except? -4:
        """`simulate`, memoised."""
        cdef int64_t key = ((<int64_t>node + _NODE_BIAS) << 21) | (t + 1)
        cdef Py_ssize_t i
        cdef int32_t out
        if self.steps.used * 2 >= self.steps.size and _table_grow(&self.steps) != 0:
            raise MemoryError("LalrSim: out of memory")
        i = _slot(&self.steps, key)
        if self.steps.keys[i] != 0:
            return self.steps.values[i]
        out = self.simulate(node, t)         # (grows the node table, never this one)
        self.steps.keys[i] = key
        self.steps.values[i] = out
        self.steps.used += 1
        return out

    cdef int32_t shifting(self, int32_t node, const int32_t* above, int32_t n,
                          int32_t* terms, Py_ssize_t nt, uint64_t* words,
                          int32_t depth, int32_t* read) except? -4:
        """Set in `words` the bits of the terminals terms[:nt] that eventually shift on the
        stack `node` + above[:n] (`shifts` for each, 0 returned), or return _SIM_DEEP when one
        of them reads the sentinel. The terminals are followed together: those the top state
        reduces by the same rule share that reduction (one pop and goto for the group, then
        the group alone further down), so a long chain of unit reductions, as expression
        grammars have, is walked once per stack rather than once per terminal. terms[:nt]
        is reordered (grouped by action). `read`: as `reduce_by`'s `depth` (`node` lies
        read[0] below the stack the outermost call began on; read[1], the deepest position
        read), read[1] = _READ_ALL when the answer may depend on the whole stack."""
        cdef int32_t lr, act, t, lr2, cur, m, k
        cdef Py_ssize_t i, j, g
        cdef int32_t below[64]
        cdef int32_t at[2]
        if n == 0 and read[0] > read[1]:
            read[1] = read[0]
        lr = above[n - 1] if n else self.lr_of(node)
        if lr < 0:
            return _SIM_DEEP
        if depth >= _SHIFTING_DEPTH:            # (deeper: one terminal at a time)
            read[1] = _READ_ALL
            cur = self.spill(node, above, n)
            for i in range(nt):
                act = self.shifts(cur, terms[i])
                if act == _SIM_DEEP:
                    return act
                if act != _SIM_DEAD:
                    words[terms[i] >> 6] |= (<uint64_t>1) << (terms[i] & 63)
            return 0
        m = 0                                   # reducing terminals first, sorted by action
        for i in range(nt):
            t = terms[i]
            act = self.action[lr, t]
            if act > 0:
                words[t >> 6] |= (<uint64_t>1) << (t & 63)
            elif act < 0:
                j = m
                while j > 0 and self.action[lr, terms[j - 1]] > act:
                    terms[j] = terms[j - 1]
                    j -= 1
                terms[j] = t
                m += 1
        g = 0
        while g < m:
            act = self.action[lr, terms[g]]
            j = g + 1
            while j < m and self.action[lr, terms[j]] == act:
                j += 1
            cur, k = node, n                    # the group's stack: a copy of this one
            memcpy(below, above, n * sizeof(int32_t))
            at[0], at[1] = read[0], read[1]
            lr2 = self.reduce_by(-act - 1, &cur, below, &k, at)
            if lr2 >= 0:
                lr2 = self.shifting(cur, below, k, &terms[g], j - g, words, depth + 1, at)
            read[1] = at[1]
            if lr2 == _SIM_DEEP:
                return _SIM_DEEP
            g = j
        return 0

    cdef int32_t lex_start(self, int32_t node) except? -4:
        """The lexer's start state on stack `node`: keyed by the terminals that eventually
        shift there (each simulated; the lexer is contextual), _SIM_DEEP when that reads the
        sentinel. Memoised per node, and by the top LR states the simulation read: a walk
        meets new stacks all the time, but their tops repeat (`start_by_top`)."""
        cdef int64_t key = <int64_t>node + _NODE_BIAS + 1
        cdef Py_ssize_t i
        cdef int32_t lx
        if self.lexstarts.used * 2 >= self.lexstarts.size and _table_grow(&self.lexstarts) != 0:
            raise MemoryError("LalrSim: out of memory")
        i = _slot(&self.lexstarts, key)
        if self.lexstarts.keys[i] != 0:
            return self.lexstarts.values[i]
        lx = self.start_of_top(node)
        self.lexstarts.keys[i] = key
        self.lexstarts.values[i] = lx
        self.lexstarts.used += 1
        return lx

    cdef bytes top_key(self, int32_t node, int32_t depth):
        """The LR states of stack `node` from the top down to `depth` (int32 bytes), or None
        when the stack is shallower."""
        cdef int32_t lrs[_SHIFTING_DEPTH]
        cdef int32_t d
        if depth >= _SHIFTING_DEPTH:
            return None
        for d in range(depth + 1):
            if node == -1:
                return None
            lrs[d] = self.lr_of(node)
            if d < depth:
                node = self.parent_of(node)
        return PyBytes_FromStringAndSize(<char*>lrs, (depth + 1) * sizeof(int32_t))

    cdef int32_t start_of_top(self, int32_t node) except? -4:
        """`lex_start` without the per-node memo: looked up by the top LR states of the
        depths earlier answers read, else simulated (`shifting`, which says how deep it
        read) and kept under its own."""
        cdef int32_t t, lx = 0
        cdef uint64_t words[4]
        cdef int32_t terms[256]
        cdef int32_t above[64]
        cdef int32_t read[2]
        lr = self.lr_of(node)
        depths = self.top_depths.get(lr)
        if depths is not None:
            for d in <list>depths:
                key = self.top_key(node, d)
                if key is not None:
                    found = self.start_by_top.get(key)
                    if found is not None:
                        return found
        memset(words, 0, sizeof(words))
        for t in range(self.nterm):
            terms[t] = t
        read[0], read[1] = 0, -1
        if self.shifting(node, above, 0, terms, self.nterm, words, 0, read) == _SIM_DEEP:
            lx = _SIM_DEEP
        if lx != _SIM_DEEP:
            bits = words[0]                 # (a Python int: past 64 terminals, wider)
            for t in range(1, (self.nterm + 63) >> 6):
                bits |= (<object>words[t]) << (64 * t)
            found = self.starts.get(bits)
            if found is None:
                found = self.engine._lex_start_bits(bits)
                self.refresh()
            lx = found
        key = self.top_key(node, read[1])
        if key is not None:
            self.start_by_top[key] = lx
            if depths is None:
                self.top_depths[lr] = [read[1]]
            elif read[1] not in depths:
                depths.append(read[1])
        return lx

    def lexer_start(self, int32_t node) -> int:
        """`lex_start` for Python: the lexer start state on stack `node` (a parser node),
        or -2 when the terminals that shift there depend on nodes below a window's
        sentinel."""
        return self.lex_start(node)

    cdef int32_t step_emit(self, int32_t node, int32_t e) except? -4:
        """The stack after a lexeme of several kinds: each kind stepped; _NODE_UNKNOWN when
        several survive (a set of stacks: the Python walker's)."""
        cdef Py_ssize_t j
        cdef int32_t r, found = _SIM_DEAD
        for j in range(self.several_off[e], self.several_off[e + 1]):
            r = self.step(node, self.several_terms[j])
            if r == _SIM_DEEP:
                return r
            if r != _SIM_DEAD:
                if found != _SIM_DEAD:
                    return _NODE_UNKNOWN
                found = r
        return found

    cdef int32_t newline(self, int32_t node, int32_t width, int32_t* ind,
                         Py_ssize_t* nind) except? -4:
        """Python's indenter on a newline lexeme outside brackets (as
        `TerminalParser._advance_indented`): NEWLINE, then one INDENT when `width` is deeper
        than the top of the indentation stack `ind`, else DEDENTs down to a level equal to it
        (none: dead)."""
        node = self.step(node, self.nl_term)
        if _halted(node):
            return node
        if width > ind[nind[0] - 1]:
            if nind[0] == _MAX_INDENTS:
                return _NODE_UNKNOWN
            ind[nind[0]] = width
            nind[0] += 1
            return self.step(node, self.indent_term)
        while width < ind[nind[0] - 1]:
            nind[0] -= 1
            node = self.step(node, self.dedent_term)
            if _halted(node):
                return node
        return node if width == ind[nind[0] - 1] else _SIM_DEAD

    cdef int32_t boundary(self, int32_t node, int32_t e) except? -4:
        """The stack after handing a lexeme of kind `e` over (no indenter): unchanged for an
        ignored one; _SIM_DEAD, _SIM_DEEP or _NODE_UNKNOWN (the Python walker's) else."""
        cdef int32_t t = self.emit_term[e]
        if t == _EMIT_PYTHON:
            return _NODE_UNKNOWN
        if t == -1:
            return node
        return self.step(node, t) if t >= 0 else self.step_emit(node, e)

    cdef inline int32_t hand_over(self, int32_t node, int32_t e, int32_t* ind,
                                  Py_ssize_t* nind, int32_t* parens) except? -4:
        """The stack after handing a finished lexeme of kind `e` (a valid emit id) to the
        parser: with the indenter, a newline outside brackets goes through `newline` (the
        indentation stack ind[:nind] updated) and one inside them is dropped, and the
        bracket depth follows the lexeme; else `boundary`."""
        cdef int32_t b
        if self.indented and self.emit_term[e] == self.nl_term:
            if parens[0] == 0:
                return self.newline(node, max(self.emit_aux[e], 0), ind, nind)
            return node
        node = self.boundary(node, e)
        b = self.emit_bracket[e]            # (0 for every lexeme without an indenter)
        if b == 1:
            parens[0] += 1
        elif b == 2 and parens[0] > 0:
            parens[0] -= 1
        return node

    cdef int32_t walk(self, const uint8_t* data, Py_ssize_t start, Py_ssize_t end,
                      int32_t node, int32_t lx, int32_t* ind, Py_ssize_t nind,
                      int32_t parens, int64_t* at=NULL, int32_t* final=NULL,
                      int32_t began=-2) except? -4:
        """1 when data[start:end] walks alive from (stack `node`, lexer `lx`, indentation
        stack ind[:nind] and bracket depth `parens` when indented; `ind` is scratch), else
        _SIM_DEAD, _SIM_DEEP, or _SIM_UNKNOWN (a lexeme the Python walker must take). On
        _SIM_DEEP, `at` (when given) receives the boundary that read the sentinel: (stack,
        lexer state, position) before its lexeme was handed over; on 1, `final` the
        (stack, lexer state) reached. `began`: the start state the current lexeme began in
        (-1 unknown; -2: `lx` itself when it is a start state). A skipped lexeme leads back
        to it, with the stack unchanged: a window whose start state reads below its sentinel
        still knows it (its configuration holds the real stack's)."""
        cdef Py_ssize_t i
        cdef int32_t nxt, e, t
        if began == -2:
            began = lx if self.is_start[lx] else -1
        for i in range(start, end):
            nxt = self.trans[lx, data[i]]
            if nxt < 0:
                e = self.emit[lx]
                if e < 0:
                    return _SIM_DEAD
                if at != NULL:
                    at[0], at[1], at[2] = node, lx, i
                if e >= self.emit_term.shape[0]:
                    return _SIM_UNKNOWN     # a kind added since the tables were taken
                t = self.emit_term[e]
                node = self.hand_over(node, e, ind, &nind, &parens)
                if _halted(node):
                    return node
                if node == _NODE_UNKNOWN:
                    return _SIM_UNKNOWN
                if t == -1 and began >= 0:
                    lx = began
                else:
                    lx = self.lex_start(node)
                    if lx < 0:
                        return lx
                    began = lx
                nxt = self.trans[lx, data[i]]
                if nxt < 0:
                    return _SIM_DEAD
            lx = nxt
        if final != NULL:
            final[0], final[1] = node, lx
        return 1


def lalr_walk_tokens(LalrSim sim, object concat, object spos, object epos,
                     object tokens, object starts, object ends, int32_t node,
                     int32_t lx, object words, object deep,
                     const int32_t[::1] indents=None, int32_t parens=0):
    """For the entries i of the index ranges [starts[r], ends[r]): set tokens[i]'s bit in
    `words` when concat[spos[i]:epos[i]] walks alive from (LR stack `node`, lexer state `lx`,
    and for an indented grammar its indentation stack and bracket depth), in `deep` when its
    fate reads below a window's sentinel. Returns the entries this walk cannot decide (a
    lexeme with several surviving kinds, indentation past _MAX_INDENTS), for the Python
    walker. Arrays as `_entries` checks them."""
    cdef _Entries a
    cdef Py_ssize_t r, i
    cdef Py_ssize_t nind = 0 if indents is None else indents.shape[0]
    cdef int32_t out
    cdef int32_t ind[_MAX_INDENTS]
    _entries("lalr_walk_tokens", concat, spos, epos, tokens, starts, ends, words, deep, &a)
    undecided = []
    if nind > _MAX_INDENTS or (sim.indented and nind == 0):
        for r in range(a.nranges):
            undecided.extend(range(a.starts[r], a.ends[r]))
        return undecided
    for r in range(a.nranges):
        for i in range(a.starts[r], a.ends[r]):
            if nind:
                memcpy(ind, &indents[0], nind * sizeof(int32_t))
            out = sim.walk(a.concat, a.spos[i], a.epos[i], node, lx, ind, nind, parens)
            if out == 1:
                _set_bit(a.words, a.tokens[i])
            elif out == _SIM_DEEP:
                _set_bit(a.deep, a.tokens[i])
            elif out == _SIM_UNKNOWN:
                undecided.append(i)
    return undecided


cdef struct _GroupArrays:
    # a scan's straddler groups as the compose kernels read them (`_group_arrays`)
    const uint8_t* concat
    const int32_t* emits
    const int64_t* off           # [nk, 257]: per group and suffix first byte, entry ranges
    const int64_t* spos
    const int64_t* epos
    const int32_t* tokens
    Py_ssize_t nk
    uint32_t* words
    uint32_t* deep
    Py_ssize_t nwords


cdef int _group_arrays(str what, object concat, object emits, object offsets, object spos,
                       object epos, object tokens, object words, object deep,
                       _GroupArrays* g) except -1:
    """The checked arrays of `lalr_compose_groups` / `cfg_compose_groups` (`what`): offsets
    [len(emits), 257] within the entries, spos / epos / tokens of one length. The arrays'
    own checks name them without the kernel (no string is built on a call that passes)."""
    cdef Py_ssize_t n, ne, nt, k
    _u8(concat, "compose groups concat", &g.concat, &n)
    _i32(emits, "compose groups emits", &g.emits, &g.nk)
    _i64(offsets, "compose groups offsets", &g.off, &n)
    if n != g.nk * 257:
        raise ValueError(f"{what}: offsets must be [len(emits), 257]")
    _i64(spos, "compose groups spos", &g.spos, &ne)
    _i64(epos, "compose groups epos", &g.epos, &n)
    _i32(tokens, "compose groups tokens", &g.tokens, &nt)
    if n != ne or nt != ne:
        raise ValueError(f"{what}: spos, epos and tokens differ in length")
    for k in range(g.nk):
        if g.off[k * 257] < 0 or g.off[k * 257 + 256] > ne:
            raise ValueError(f"{what}: an offsets row points past the entries")
    _u32_out(words, "compose groups words", &g.words, &g.nwords)
    _u32_out(deep, "compose groups deep", &g.deep, &n)
    if n != g.nwords:
        raise ValueError(f"{what}: words and deep differ in length")
    return 0


cdef int _or_live(object live_a, const _GroupArrays* g) except -1:
    """OR a part's live tokens into g.words: token ids (int32), or mask words (uint32)."""
    cdef const int32_t* live
    cdef const uint32_t* dense
    cdef Py_ssize_t n, m
    if cnp.PyArray_TYPE(<cnp.ndarray>live_a) == cnp.NPY_UINT32:
        _u32(live_a, "suffix walk live words", &dense, &n)
        if n != g.nwords:
            raise ValueError("suffix walk live words: not the mask's length")
        for m in range(n):
            g.words[m] |= dense[m]
    else:
        _i32(live_a, "suffix walk live tokens", &live, &n)
        for m in range(n):
            _set_bit(g.words, live[m])
    return 0


cdef tuple _cached_part(dict suffix_walks, tuple key, const int32_t[:, ::1] trans,
                        const int32_t[::1] emit, const _GroupArrays* g, const int64_t* rs,
                        const int64_t* re, Py_ssize_t nr, int32_t lx2):
    """A group's lexer-only part from fresh lexer state lx2 (`_lexer_part`, kept in
    `suffix_walks` under `key` as `_walk_group` keeps it): its live tokens' bits are set in
    g.words; returns the kept tuple, whose pending entries (item 1) the parser must walk.
    A part of many live tokens is kept as mask words (`_lexer_part`): OR-ed word by word."""
    found = suffix_walks.get(key)
    if found is None:
        found = suffix_walks[key] = _lexer_part(trans, emit, g.concat, g.spos, g.epos,
                                                g.tokens, rs, re, nr, lx2, g.nwords)
    _or_live(found[0], g)
    return <tuple>found


cdef class _Kinds:
    """Pending entries of a lexer-only part grouped by the kind of the lexeme they end,
    with where it ends (`_kinds_of`), and the parts of each kind's rest from the next start
    state, made as walks meet them (`children`, key kind << 32 | start state). Kept with
    the part they refine (`_compose_pending`)."""
    cdef object ints                # int64 [pending, boundary, offsets]; keeps them alive
    cdef object kinds_np            # int32 [kinds]
    cdef object live                # this rest's live tokens (None for a group's own part)
    cdef const int64_t* pend        # entry indices, grouped by kind
    cdef const int64_t* at          # where each one's lexeme ends
    cdef const int64_t* off         # kind q holds [off[q], off[q + 1])
    cdef const int32_t* kinds
    cdef Py_ssize_t nk
    cdef readonly dict children


cdef _Kinds _kinds_of(const int32_t[:, ::1] trans, const int32_t[::1] emit,
                      const _GroupArrays* g, const int64_t* idx, const int64_t* start,
                      Py_ssize_t n, int32_t state, bint with_live):
    """Walk entry idx[j]'s bytes from start[j] (NULL: its suffix's start) to its end, j < n,
    from lexer state `state`
    alone: those that end a lexeme grouped by its kind (a counting sort), with the live
    ones' tokens when `with_live` (ids, or mask words past g.nwords of them, as
    `_lexer_part`). Entries dead at their first byte, or where no lexeme ends, drop out."""
    cdef Py_ssize_t j, e, i, nb = 0, nl = 0, q, nk = 0, top = 0
    cdef int32_t s, nxt, kind
    cdef int64_t* raw = <int64_t*>malloc(max(n, 1) * 3 * sizeof(int64_t))
    if raw == NULL:
        raise MemoryError("suffix walk: out of memory")
    cdef int32_t* live = <int32_t*>malloc(max(n, 1) * sizeof(int32_t))
    if live == NULL:
        free(raw)
        raise MemoryError("suffix walk: out of memory")
    cdef _Kinds out = _Kinds.__new__(_Kinds)
    cdef int64_t* count = NULL
    cdef int64_t* ints
    cdef int32_t* kinds
    try:
        for j in range(n):                  # raw: (entry, boundary, kind) triples
            i, e = (start[j] if start != NULL else g.spos[idx[j]]), g.epos[idx[j]]
            s = trans[state, g.concat[i]] if i < e else state
            if s < 0:
                continue
            i += 1
            while i < e:
                nxt = trans[s, g.concat[i]]
                if nxt < 0:
                    break
                s = nxt
                i += 1
            if i >= e:
                live[nl] = g.tokens[idx[j]]
                nl += 1
            elif emit[s] >= 0:
                raw[3 * nb], raw[3 * nb + 1], raw[3 * nb + 2] = idx[j], i, emit[s]
                top = max(top, emit[s] + 1)
                nb += 1
        count = <int64_t*>calloc(top + 1, sizeof(int64_t))
        if count == NULL:
            raise MemoryError("suffix walk: out of memory")
        for j in range(nb):
            count[raw[3 * j + 2] + 1] += 1
        for kind in range(top):
            nk += count[kind + 1] > 0
            count[kind + 1] += count[kind]
        out.ints = np.empty(2 * nb + nk + 1, dtype=np.int64)
        out.kinds_np = np.empty(nk, dtype=np.int32)
        ints = <int64_t*>cnp.PyArray_DATA(<cnp.ndarray>out.ints)
        kinds = <int32_t*>cnp.PyArray_DATA(<cnp.ndarray>out.kinds_np)
        q = 0
        for kind in range(top):
            if count[kind + 1] > count[kind]:
                kinds[q], ints[2 * nb + q] = kind, count[kind]
                q += 1
        ints[2 * nb + nk] = nb
        for j in range(nb):                 # stable: entries keep their order per kind
            i = count[raw[3 * j + 2]]
            count[raw[3 * j + 2]] += 1
            ints[i], ints[nb + i] = raw[3 * j], raw[3 * j + 1]
        out.pend, out.at, out.off, out.kinds, out.nk = ints, ints + nb, ints + 2 * nb, kinds, nk
        out.children = {}
        out.live = None
        if with_live:
            if 0 < g.nwords < nl:
                out.live = np.zeros(g.nwords, dtype=np.uint32)
                for j in range(nl):
                    if live[j] < 0 or live[j] >= g.nwords * 32:
                        raise IndexError(f"suffix walk: token id {live[j]} outside the mask")
                    _set_bit(<uint32_t*>cnp.PyArray_DATA(<cnp.ndarray>out.live), live[j])
            else:
                out.live = np.empty(nl, dtype=np.int32)
                if nl:
                    memcpy(cnp.PyArray_DATA(<cnp.ndarray>out.live), live, nl * sizeof(int32_t))
        return out
    finally:
        free(raw)
        free(live)
        free(count)


cdef enum:
    _KIND_WALK = 16         # a kind's pending entries walked one by one up to this many
    _KIND_DEPTH = 3         # lexemes deep (past that, walked one by one)


cdef int _compose_pending(LalrSim sim, _Kinds part, const _GroupArrays* g, int32_t node,
                          int32_t lx, const int32_t* ind, Py_ssize_t nind, int32_t parens,
                          int32_t depth) except -1:
    """A part's pending entries (`_Kinds`) walked on from the stack `node`, lexer state
    `lx` (the start state their lexeme began in), indentation ind[:nind] and bracket depth
    `parens`, as `LalrSim.walk` would walk each whole: per kind, the lexeme is handed over
    once for all its entries, then their rest is the child part from the next start state,
    whose live tokens are OR-ed in and whose pending entries go one level down. Small kinds,
    and past _KIND_DEPTH lexemes, each entry is walked on its own. Entries reading the
    sentinel go to g.deep. Returns 1 when some entry was left undecided (a lexeme the C
    walker cannot take), else 0."""
    cdef Py_ssize_t j, m, a, b, nind3
    cdef int32_t e, node3, lx3, parens3, out
    cdef int32_t ind3[_MAX_INDENTS]
    cdef int32_t scratch[_MAX_INDENTS]
    cdef int undecided = 0
    cdef _Kinds child
    for j in range(part.nk):
        a, b, e = part.off[j], part.off[j + 1], part.kinds[j]
        if e >= sim.emit_term.shape[0]:
            undecided = 1               # a kind added since the tables were taken
            continue
        if nind:
            memcpy(ind3, ind, nind * sizeof(int32_t))
        nind3, parens3 = nind, parens
        node3 = sim.hand_over(node, e, ind3, &nind3, &parens3)
        if node3 == _SIM_DEAD:
            continue
        if node3 == _NODE_UNKNOWN:
            undecided = 1
            continue
        lx3 = _SIM_DEEP
        if node3 != _SIM_DEEP:
            lx3 = lx if sim.emit_term[e] == -1 else sim.lex_start(node3)
        if lx3 == _SIM_DEEP:
            for m in range(a, b):
                _set_bit(g.deep, g.tokens[part.pend[m]])
            continue
        if b - a <= _KIND_WALK or depth >= _KIND_DEPTH:
            for m in range(a, b):
                if nind3:
                    memcpy(scratch, ind3, nind3 * sizeof(int32_t))
                out = sim.walk(g.concat, part.at[m], g.epos[part.pend[m]], node3, lx3,
                               scratch, nind3, parens3)
                if out == 1:
                    _set_bit(g.words, g.tokens[part.pend[m]])
                elif out == _SIM_DEEP:
                    _set_bit(g.deep, g.tokens[part.pend[m]])
                elif out == _SIM_UNKNOWN:
                    undecided = 1
            continue
        key = (<int64_t>e << 32) | lx3
        found = part.children.get(key)
        if found is None:
            found = part.children[key] = _kinds_of(sim.trans, sim.emit, g, &part.pend[a],
                                                   &part.at[a], b - a, lx3, True)
        child = <_Kinds>found
        _or_live(child.live, g)
        if child.nk and _compose_pending(sim, child, g, node3, lx3, ind3, nind3, parens3,
                                         depth + 1):
            undecided = 1
    return undecided


cdef bint _walk_range(LalrSim sim, const uint8_t* concat, const int64_t* spos,
                      const int64_t* epos, const int32_t* tokens, const int64_t* idx,
                      Py_ssize_t a, Py_ssize_t b, int32_t node, int32_t lx,
                      const int32_t* ind0, Py_ssize_t nind, int32_t parens, uint32_t* words,
                      uint32_t* deep) except -1:
    """Walk the entries i (idx[j] for j in [a, b), or j itself when idx is NULL) from (stack
    `node`, lexer state `lx`, indentation ind0[:nind], bracket depth `parens`), as
    `lalr_walk_tokens` does: live tokens into `words`, those reading the sentinel into
    `deep`. Returns whether some entry was left undecided (the Python walker's)."""
    cdef Py_ssize_t j, i
    cdef int32_t out
    cdef int32_t ind[_MAX_INDENTS]
    cdef bint undecided = False
    for j in range(a, b):
        i = idx[j] if idx != NULL else j
        if nind:
            memcpy(ind, ind0, nind * sizeof(int32_t))
        out = sim.walk(concat, spos[i], epos[i], node, lx, ind, nind, parens)
        if out == 1:
            _set_bit(words, tokens[i])
        elif out == _SIM_DEEP:
            _set_bit(deep, tokens[i])
        elif out == _SIM_UNKNOWN:
            undecided = True
    return undecided


cdef tuple _lexer_part(const int32_t[:, ::1] trans, const int32_t[::1] emit,
                       const uint8_t* concat, const int64_t* spos, const int64_t* epos,
                       const int32_t* tokens, const int64_t* rs, const int64_t* re,
                       Py_ssize_t nr, int32_t state, Py_ssize_t nwords=0):
    """`walk_suffix_ranges` for the ranges rs[:nr] / re[:nr], with the live entries' token
    ids: (tokens that stay inside the lexeme, int32; entries that end one, int64). With
    `nwords` > 0 live tokens more than that come as a mask of nwords uint32 words instead
    (smaller than the ids, and OR-ed a word at a time)."""
    cdef Py_ssize_t r, g, i, nl = 0, nb = 0, total = 0
    cdef int32_t s, nxt
    for r in range(nr):
        total += re[r] - rs[r]
    live_np = np.empty(max(total, 1), dtype=np.int32)
    pend_np = np.empty(max(total, 1), dtype=np.int64)
    cdef int32_t* live = <int32_t*>cnp.PyArray_DATA(<cnp.ndarray>live_np)
    cdef int64_t* pend = <int64_t*>cnp.PyArray_DATA(<cnp.ndarray>pend_np)
    for r in range(nr):
        for g in range(rs[r], re[r]):
            s = state
            i = spos[g]
            while i < epos[g]:
                nxt = trans[s, concat[i]]
                if nxt < 0:
                    break
                s = nxt
                i += 1
            if i == epos[g]:
                live[nl] = tokens[g]
                nl += 1
            elif emit[s] >= 0:
                pend[nb] = g
                nb += 1
    if 0 < nwords < nl:
        dense_np = np.zeros(nwords, dtype=np.uint32)
        for g in range(nl):
            if live[g] < 0 or live[g] >= nwords * 32:
                raise IndexError(f"suffix walk: token id {live[g]} outside the mask")
            _set_bit(<uint32_t*>cnp.PyArray_DATA(<cnp.ndarray>dense_np), live[g])
        return dense_np, pend_np[:nb].copy()
    return live_np[:nl].copy(), pend_np[:nb].copy()


def lalr_compose_groups(LalrSim sim, object concat_a, object emits_a, object offsets_a,
                        object spos_a, object epos_a, object tokens_a, int32_t node,
                        int32_t lx, object words_a, object deep_a,
                        const int32_t[::1] indents, int32_t parens, bint linked,
                        dict suffix_walks, set walked_before, Py_ssize_t split_group,
                        Py_ssize_t walk_group):
    """A lexer state's straddler groups composed on one stack in C (`CompiledCFG._linked` /
    `_unlinked` under the LALR walker, without a Python round per group). Group k holds
    the entries whose first lexeme ends with kind emits[k], offsets[k] (int64 [k, 257]) their
    ranges by the suffix's first byte. Per group: the lexeme handed over on (stack `node`,
    lexer state `lx`, indentation `indents`, bracket depth `parens`) as `walk` does; a group
    the parser refuses is dropped, one whose fate reads below a window's sentinel is set in
    `deep` whole; the entries whose suffix can start the fresh lexeme are then walked from
    there. As in `_linked`, a linked group of over `split_group` entries that was walked
    before, or of over `walk_group`, and every unlinked group, walk their suffixes' lexer-only
    part once per (lx, k, fresh lexer state, linked) (`suffix_walks`, shared with
    `_walk_group`) and only the entries that reach a further boundary with the parser.

    Returns the groups left to the Python path: a lexeme or walk this walker cannot take
    (several surviving kinds, deep indentation), and linked groups whose lexeme leads back
    to this same configuration (the caller's fixpoint). Bits this call set for those stay
    set: the Python path finds the same ones."""
    cdef _GroupArrays g
    cdef const int64_t *row, *pend
    cdef Py_ssize_t n, k, b, nr, count, nind0, nind2, m
    cdef int32_t e, node2, lx2, parens2, began
    cdef int32_t ind2[_MAX_INDENTS]
    cdef int64_t rs[256]
    cdef int64_t re[256]
    cdef bint cached_part, undecided
    _group_arrays("lalr_compose_groups", concat_a, emits_a, offsets_a, spos_a, epos_a,
                  tokens_a, words_a, deep_a, &g)
    cdef const uint8_t* concat = g.concat
    cdef const int64_t *spos = g.spos, *epos = g.epos
    cdef const int32_t* tokens = g.tokens
    cdef uint32_t *words = g.words, *deep = g.deep
    cdef Py_ssize_t nk = g.nk
    nind0 = 0 if indents is None else indents.shape[0]
    if nind0 > _MAX_INDENTS or (sim.indented and nind0 == 0):
        return list(range(nk))
    left = []
    began = lx if sim.is_start[lx] else -1
    for k in range(nk):
        e = g.emits[k]
        row = g.off + k * 257
        if e < 0 or e >= sim.emit_term.shape[0]:
            left.append(k)
            continue
        if nind0:
            memcpy(ind2, &indents[0], nind0 * sizeof(int32_t))
        nind2, parens2 = nind0, parens
        node2 = sim.hand_over(node, e, ind2, &nind2, &parens2)
        if node2 == _SIM_DEAD:
            continue
        if node2 == _NODE_UNKNOWN:
            left.append(k)
            continue
        lx2 = _SIM_DEEP
        if node2 != _SIM_DEEP:
            lx2 = began if sim.emit_term[e] == -1 and began >= 0 else sim.lex_start(node2)
        if lx2 == _SIM_DEEP:        # the whole group's fate lies below the sentinel
            for m in range(row[0], row[256]):
                _set_bit(deep, tokens[m])
            continue
        if (linked and node2 == node and lx2 == lx and parens2 == parens and nind2 == nind0
                and (nind0 == 0 or memcmp(ind2, &indents[0], nind0 * sizeof(int32_t)) == 0)):
            left.append(k)          # back to this configuration: the caller's fixpoint
            continue
        nr = _live_buckets(&sim.trans[lx2, 0], row, rs, re, &count)
        if nr == 0:
            continue
        cached_part = not linked
        if linked and count > split_group:
            key = (lx, k, lx2, True)
            cached_part = count > walk_group or key in walked_before
            if not cached_part:
                walked_before.add(key)
        if not cached_part:
            undecided = False
            for b in range(nr):
                undecided |= _walk_range(sim, concat, spos, epos, tokens, NULL, rs[b], re[b],
                                         node2, lx2, ind2, nind2, parens2, words, deep)
            if undecided:
                left.append(k)
            continue
        key = (lx, k, lx2, linked)
        part = _cached_part(suffix_walks, key, sim.trans, sim.emit, &g, rs, re, nr, lx2)
        _i64(part[1], "lalr_compose_groups pending", &pend, &n)
        if not n:
            continue
        if len(part) == 2:          # its pending entries by kind, made on first use
            part = suffix_walks[key] = part + (_kinds_of(
                sim.trans, sim.emit, &g, pend, NULL, n, lx2, False),)
        if _compose_pending(sim, <_Kinds>part[2], &g, node2, lx2, ind2, nind2, parens2, 1):
            left.append(k)
    return left


cdef int _cfg_walk_range(_LexTables tabs, const uint8_t* concat, const int64_t* spos,
                         const int64_t* epos, const int32_t* tokens, const int64_t* idx,
                         Py_ssize_t a, Py_ssize_t b, int64_t p, int32_t lx, uint32_t* words,
                         uint32_t* deep) except -1:
    """`cfg_walk_ranges` over entries idx[j] (or j when idx is NULL), j in [a, b)."""
    cdef Py_ssize_t j, i
    cdef int64_t out
    for j in range(a, b):
        i = idx[j] if idx != NULL else j
        out = _cfg_walk(tabs, concat, spos[i], epos[i], p, lx)
        if out >= 0:
            _set_bit(words, tokens[i])
        elif out == -2:
            _set_bit(deep, tokens[i])
    return 0


def cfg_compose_groups(object engine, object concat_a, object emits_a, object offsets_a,
                       object spos_a, object epos_a, object tokens_a, int64_t p, int32_t lx,
                       object words_a, object deep_a, bint linked, dict suffix_walks,
                       set walked_before, Py_ssize_t split_group, Py_ssize_t walk_group):
    """`lalr_compose_groups` for every other parser (Earley): each group's lexeme handed
    over through the engine's boundary memo (`_LexTables.boundary`, the Python parser only on
    a miss) and its entries walked with `_cfg_walk`, without a Python round per group. A
    linked group of over `walk_group` entries not walked before is left to the Python path,
    which composes the next configuration's mask once and gathers from it; so is a group
    whose lexeme leads back to this configuration (the caller's fixpoint). Returns those
    groups."""
    cdef _GroupArrays g
    cdef const int64_t *row, *pend
    cdef Py_ssize_t n, k, b, nr, count, m
    cdef int64_t packed, p2
    cdef int32_t e, lx2
    cdef int64_t rs[256]
    cdef int64_t re[256]
    _group_arrays("cfg_compose_groups", concat_a, emits_a, offsets_a, spos_a, epos_a,
                  tokens_a, words_a, deep_a, &g)
    cdef const uint8_t* concat = g.concat
    cdef const int64_t *spos = g.spos, *epos = g.epos
    cdef const int32_t* tokens = g.tokens
    cdef uint32_t *words = g.words, *deep = g.deep
    cdef _LexTables tabs = _tables(engine)
    left = []
    for k in range(g.nk):
        e = g.emits[k]
        row = g.off + k * 257
        if e < 0:
            left.append(k)
            continue
        packed = tabs.boundary(p, e)
        if packed == -1:
            continue
        if packed == -2:            # the whole group's fate lies below the sentinel
            for m in range(row[0], row[256]):
                _set_bit(deep, tokens[m])
            continue
        p2 = packed >> 32
        lx2 = <int32_t>(packed & <int64_t>0xFFFFFFFF)
        if linked and p2 == p and lx2 == lx:
            left.append(k)          # back to this configuration: the caller's fixpoint
            continue
        nr = _live_buckets(&tabs.trans[lx2, 0], row, rs, re, &count)
        if nr == 0:
            continue
        if linked:
            key = (lx, k, lx2, True)
            if count <= split_group or key not in walked_before:
                if count > walk_group:
                    left.append(k)  # composed once and gathered from, in Python
                    continue
                for b in range(nr):
                    _cfg_walk_range(tabs, concat, spos, epos, tokens, NULL, rs[b], re[b], p2,
                                    lx2, words, deep)
                if count > split_group:
                    walked_before.add(key)
                continue
        pend_np = _cached_part(suffix_walks, (lx, k, lx2, linked), tabs.trans, tabs.emit, &g,
                               rs, re, nr, lx2)[1]
        _i64(pend_np, "cfg_compose_groups pending", &pend, &n)
        _cfg_walk_range(tabs, concat, spos, epos, tokens, pend, 0, n, p2, lx2, words, deep)
    return left


def lalr_deep_points(LalrSim sim, object concat_a, object spos_a, object epos_a, int32_t node,
                     int32_t lx):
    """Where each entry's walk (concat[spos[i]:epos[i]]) from a window configuration (LR
    stack `node`, lexer state `lx`; no indenter) first reads the window's sentinel: int64
    arrays (boundary key: (stack + 2**31) * 2**31 + lexer state, -1 when the walk never
    reads it; position). Entries with one key reach one real configuration on every stack below the
    window, so `lalr_recheck_groups` finds it once per key."""
    cdef Py_ssize_t n, i, ne
    cdef int64_t at[3]
    cdef const uint8_t* concat
    cdef const int64_t *spos, *epos
    _u8(concat_a, "lalr_deep_points concat", &concat, &i)
    _i64(spos_a, "lalr_deep_points spos", &spos, &n)
    _i64(epos_a, "lalr_deep_points epos", &epos, &ne)
    if n != ne:
        raise ValueError("lalr_deep_points: spos and epos differ in length")
    key_np = np.full(n, -1, np.int64)
    pos_np = np.zeros(n, np.int64)
    cdef int64_t[::1] key = key_np
    cdef int64_t[::1] pos = pos_np
    if sim.indented:
        raise ValueError("lalr_deep_points: the indenter's boundaries are not keyed")
    for i in range(n):
        if sim.walk(concat, spos[i], epos[i], node, lx, NULL, 0, 0, at) == _SIM_DEEP:
            key[i] = (at[0] + _NODE_BIAS) * _NODE_BIAS + at[1]
            pos[i] = at[2]
    return key_np, pos_np


def lalr_recheck_groups(LalrSim sim, object concat_a, object spos_a, object epos_a,
                        object dpos_a, object tokens_a, object group_off_a, int32_t node,
                        int32_t lx, object words_a, object window):
    """Recheck a window's deep tokens on a real stack (LR stack `node`, lexer state `lx`):
    entries grouped by `lalr_deep_points` key (group g = entries group_off[g] to
    group_off[g + 1]; dpos[i] the entry's boundary, -1 for an entry of its own walked
    whole). A group's first entry is walked to its boundary and across it once; every member
    then needs only its own bytes after the boundary, and most die at the first one. Sets
    the bits of live tokens in `words`; returns the entries left to the Python walker.

    A group's live members are memoised per (`window`, a key naming the window's grouping;
    group; configuration reached at the boundary) in `sim.group_memo`: every real stack that
    closes a lexeme onto the same stack below (each key of one object closed by its `}`)
    takes the answer instead of walking the members again."""
    cdef Py_ssize_t g, a, b, m, n, ng, nhit
    cdef int32_t fin[2]
    cdef int32_t r, e, node2 = 0, lx2 = 0, nxt
    cdef bint whole
    cdef const int32_t* hit
    cdef dict memo = sim.group_memo
    cdef const uint8_t* concat
    cdef const int64_t *spos, *epos, *dpos, *group_off
    cdef const int32_t* tokens
    cdef uint32_t* words
    _u8(concat_a, "lalr_recheck_groups concat", &concat, &n)
    _i64(spos_a, "lalr_recheck_groups spos", &spos, &n)
    _i64(epos_a, "lalr_recheck_groups epos", &epos, &n)
    _i64(dpos_a, "lalr_recheck_groups dpos", &dpos, &n)
    _i32(tokens_a, "lalr_recheck_groups tokens", &tokens, &n)
    _i64(group_off_a, "lalr_recheck_groups group_off", &group_off, &ng)
    _u32_out(words_a, "lalr_recheck_groups words", &words, &n)
    undecided = []
    for g in range(ng - 1):
        a, b = group_off[g], group_off[g + 1]
        whole = True            # walk every member from the start (no shared boundary)
        if dpos[a] >= 0 and sim.walk(concat, spos[a], dpos[a], node, lx, NULL, 0, 0,
                                     NULL, fin) == 1:
            e = sim.emit[fin[1]]
            node2 = sim.boundary(fin[0], e) if e >= 0 else _SIM_DEAD
            if node2 == _SIM_DEAD:
                continue
            if node2 != _NODE_UNKNOWN and node2 != _SIM_DEEP:
                lx2 = sim.lex_start(node2)
                whole = lx2 < 0
        if not whole:
            key = (window, g, node2, lx2)
            found = memo.get(key)
            if found is not None:
                _i32(found, "lalr_recheck_groups memo", &hit, &nhit)
                for m in range(nhit):
                    _set_bit(words, hit[m])
                continue
        live = []
        n_undecided = len(undecided)
        for m in range(a, b):
            if whole:
                r = sim.walk(concat, spos[m], epos[m], node, lx, NULL, 0, 0)
            else:
                nxt = sim.trans[lx2, concat[dpos[m]]]
                if nxt < 0:
                    continue
                r = sim.walk(concat, dpos[m] + 1, epos[m], node2, nxt, NULL, 0, 0, NULL, NULL,
                             lx2)
            if r == 1:
                _set_bit(words, tokens[m])
                live.append(tokens[m])
            elif r == _SIM_UNKNOWN:
                undecided.append(m)
        if not whole and len(undecided) == n_undecided:
            memo[key] = np.array(live, np.int32)
    return undecided
