# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The hash-consed Earley core in C: kernel closures, state interning and predicted sets.

Why in C: a constrained decoder creates Earley states at every new lexeme boundary of a token
walk (a JSON Schema record creates ~130 of them in its first masks), and in Python each one
cost tens of µs of set and dict building (~10% of MaskBench's mask-phase instructions). Here
an item is the packed int64 `origin << origin_shift | position`, positions (production, dot)
numbered densely so that moving the dot is +1; a state's kernel *key* (its non-completed
items, plus the accept mark) is stored sorted by (symbol after the dot, item), which is both
a canonical form for interning and a grouping for the closure's "items of state s with X
after the dot" lookups (binary search per state).

`automata.earley.EarleyParser` owns this object; it passes the grammar tables (symbol after
each position, left-hand sides, nullable symbols, productions by left-hand side) and keeps
the Python-facing interface (limits as errors, `allowed` memoised)."""
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport free, qsort, realloc
from libc.string cimport memcpy, memset
from cpython.bytes cimport PyBytes_FromStringAndSize

import numpy as np

cdef int64_t DEAD = -1
cdef int64_t ITEMS_LIMIT = -3       # `advance` results that tell the owner a limit was hit
cdef int64_t STATES_LIMIT = -4


cdef struct I64Vec:
    int64_t* data
    Py_ssize_t n
    Py_ssize_t cap


cdef struct I32Vec:
    int32_t* data
    Py_ssize_t n
    Py_ssize_t cap


cdef struct KeyItem:      # one kernel item with the symbol after its dot (-1: completed)
    int32_t sym
    int64_t item


cdef int _grow(void** data, Py_ssize_t* cap, Py_ssize_t need, size_t size) except -1:
    cdef Py_ssize_t new_cap = cap[0] * 2 if cap[0] else 16
    while new_cap < need:
        new_cap *= 2
    cdef void* p = realloc(data[0], new_cap * size)
    if p == NULL:
        raise MemoryError("Earley core: out of memory")
    data[0] = p
    cap[0] = new_cap
    return 0


cdef inline int i64_push(I64Vec* v, int64_t x) except -1:
    if v.n == v.cap:
        _grow(<void**>&v.data, &v.cap, v.n + 1, sizeof(int64_t))
    v.data[v.n] = x
    v.n += 1
    return 0


cdef inline int i32_push(I32Vec* v, int32_t x) except -1:
    if v.n == v.cap:
        _grow(<void**>&v.data, &v.cap, v.n + 1, sizeof(int32_t))
    v.data[v.n] = x
    v.n += 1
    return 0


cdef int _cmp_key(const void* a, const void* b) noexcept nogil:
    cdef const KeyItem* x = <const KeyItem*>a
    cdef const KeyItem* y = <const KeyItem*>b
    if x.sym != y.sym:
        return -1 if x.sym < y.sym else 1
    if x.item != y.item:
        return -1 if x.item < y.item else 1
    return 0


cdef inline uint64_t _mix(uint64_t h, uint64_t x) noexcept nogil:
    h ^= x + <uint64_t>0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2)
    h ^= h >> 31
    h *= <uint64_t>0xBF58476D1CE4E5B9ULL
    return h


cdef inline uint64_t _hash_item(int64_t x) noexcept nogil:
    cdef uint64_t z = <uint64_t>x * <uint64_t>0x9E3779B97F4A7C15ULL
    return z ^ (z >> 29)


cdef class EarleyCore:
    """States, predicted sets and the advance memo of one grammar (see the module doc)."""

    cdef int32_t* next_sym          # per position (prod, dot): symbol after the dot, -1 complete
    cdef Py_ssize_t num_pd
    cdef int32_t* lhs               # per position: its production's left-hand side
    cdef int32_t start_done         # the position of the augmented start, completed
    cdef unsigned char* nullable    # per symbol
    cdef int num_terminals
    cdef int origin_shift
    cdef int64_t pd_mask
    cdef public Py_ssize_t max_items
    cdef public Py_ssize_t max_states
    # states: key items sorted by (symbol, item); groups of equal symbol (-1 excluded)
    cdef I64Vec items
    cdef I64Vec state_items       # state s: items[state_items[s]:state_items[s + 1]]
    cdef I64Vec state_groups      # state s: groups [state_groups[s], state_groups[s + 1])
    cdef I32Vec group_sym
    cdef I64Vec group_start       # into items
    cdef I32Vec state_pred
    cdef I32Vec state_acc
    cdef I64Vec state_hash
    # predicted sets: groups of packed (prod, dot) by symbol after the dot
    cdef I32Vec pred_groups       # set p: groups [pred_groups[p], pred_groups[p + 1])
    cdef I32Vec pgroup_sym
    cdef I32Vec pgroup_start      # into pds
    cdef I32Vec pds
    cdef I32Vec pred_accepts
    cdef list pred_terms          # per set: frozenset of its terminals
    cdef dict pred_ids            # sorted predicted nonterminals (bytes) -> set id
    cdef int32_t* by_lhs_off      # per symbol: its productions by_lhs[off[a]:off[a + 1]]
    cdef int32_t* by_lhs          # (as the positions of their first dot)
    cdef Py_ssize_t num_symbols
    cdef uint32_t* nt_stamp       # closure scratch: nonterminals seen (generation-stamped)
    cdef uint32_t nt_gen
    cdef I32Vec work
    cdef I32Vec pd_list
    # interning table of state keys (open addressing, -1 empty)
    cdef int32_t* table
    cdef Py_ssize_t table_cap
    # closure scratch: seen set (generation-stamped), work stack, key
    cdef int64_t* seen_key
    cdef uint32_t* seen_gen
    cdef Py_ssize_t seen_cap
    cdef Py_ssize_t seen_count
    cdef uint32_t gen
    cdef I64Vec stack
    cdef I64Vec visited
    cdef KeyItem* key
    cdef Py_ssize_t key_n
    cdef Py_ssize_t key_cap
    cdef uint32_t* pd_stamp
    cdef int32_t* nts             # scratch: a new state's predicted nonterminals
    cdef Py_ssize_t nts_cap
    cdef uint32_t pd_gen
    cdef public list trans        # per state: {terminals frozenset: next state}
    cdef public object lock

    def __cinit__(self):
        self.table = NULL
        self.seen_key = NULL
        self.seen_gen = NULL
        self.key = NULL
        self.pd_stamp = NULL
        self.nts = NULL
        self.next_sym = NULL
        self.lhs = NULL
        self.nullable = NULL
        self.by_lhs_off = NULL
        self.by_lhs = NULL
        self.nt_stamp = NULL

    def __init__(self, next_sym, lhs, nullable, by_lhs_off, by_lhs, int num_terminals,
                 int start_done, int origin_shift, Py_ssize_t max_items, Py_ssize_t max_states,
                 lock):
        cdef int32_t[::1] ns = np.ascontiguousarray(next_sym, np.int32)
        cdef int32_t[::1] lh = np.ascontiguousarray(lhs, np.int32)
        cdef unsigned char[::1] nl = np.ascontiguousarray(nullable, np.uint8)
        cdef int32_t[::1] bo = np.ascontiguousarray(by_lhs_off, np.int32)
        cdef int32_t[::1] bl = np.ascontiguousarray(by_lhs, np.int32)
        self.num_symbols = nl.shape[0]
        self.by_lhs_off = <int32_t*>_alloc_copy(&bo[0], bo.shape[0] * sizeof(int32_t))
        self.by_lhs = <int32_t*>_alloc_copy(&bl[0] if bl.shape[0] else NULL,
                                            bl.shape[0] * sizeof(int32_t))
        self.nt_stamp = <uint32_t*>_alloc_zero(nl.shape[0] * sizeof(uint32_t))
        self.num_pd = ns.shape[0]
        self.next_sym = <int32_t*>_alloc_copy(&ns[0] if ns.shape[0] else NULL,
                                              ns.shape[0] * sizeof(int32_t))
        self.lhs = <int32_t*>_alloc_copy(&lh[0] if lh.shape[0] else NULL,
                                         lh.shape[0] * sizeof(int32_t))
        self.nullable = <unsigned char*>_alloc_copy(&nl[0] if nl.shape[0] else NULL,
                                                    nl.shape[0])
        self.pd_stamp = <uint32_t*>_alloc_zero(ns.shape[0] * sizeof(uint32_t))
        self.num_terminals = num_terminals
        self.start_done = start_done
        self.origin_shift = origin_shift
        self.pd_mask = (<int64_t>1 << origin_shift) - 1
        self.max_items = max_items
        self.max_states = max_states
        self.pred_terms = []
        self.pred_ids = {}
        self.trans = []
        self.lock = lock
        i64_push(&self.state_items, 0)
        i64_push(&self.state_groups, 0)
        i32_push(&self.pred_groups, 0)
        self.table_cap = 0
        self._rehash(64)

    def __dealloc__(self):
        free(self.items.data)
        free(self.state_items.data)
        free(self.state_groups.data)
        free(self.group_sym.data)
        free(self.group_start.data)
        free(self.state_pred.data)
        free(self.state_acc.data)
        free(self.state_hash.data)
        free(self.pred_groups.data)
        free(self.pgroup_sym.data)
        free(self.pgroup_start.data)
        free(self.pds.data)
        free(self.pred_accepts.data)
        free(self.stack.data)
        free(self.visited.data)
        free(self.table)
        free(self.seen_key)
        free(self.seen_gen)
        free(self.key)
        free(self.pd_stamp)
        free(self.nts)
        free(self.next_sym)
        free(self.lhs)
        free(self.nullable)
        free(self.by_lhs_off)
        free(self.by_lhs)
        free(self.nt_stamp)
        free(self.work.data)
        free(self.pd_list.data)

    # -- queries -------------------------------------------------------------------------
    @property
    def num_states(self):
        return self.state_pred.n

    def is_accepting(self, Py_ssize_t state):
        self._check(state)
        return self.state_acc.data[state] != 0

    def allowed(self, Py_ssize_t state):
        """The terminals that can be scanned next from `state` (a new frozenset)."""
        cdef Py_ssize_t g
        self._check(state)
        cdef set out = set(<frozenset>self.pred_terms[self.state_pred.data[state]])
        for g in range(self.state_groups.data[state], self.state_groups.data[state + 1]):
            if self.group_sym.data[g] < self.num_terminals:
                out.add(self.group_sym.data[g])
        return frozenset(out)

    def kernel_size(self, Py_ssize_t state):
        self._check(state)
        return self.state_items.data[state + 1] - self.state_items.data[state]

    # -- advance ---------------------------------------------------------------------------
    def advance(self, Py_ssize_t state, frozenset terminals):
        """The state after a lexeme whose kinds are `terminals`; DEAD (-1), or -3 / -4 when
        the item / state limit would be passed (the owner raises)."""
        self._check(state)
        found = (<dict>self.trans[state]).get(terminals)
        if found is not None:
            return found
        with self.lock:
            found = (<dict>self.trans[state]).get(terminals)
            if found is not None:
                return found
            nxt = self._advance(state, terminals)
            if nxt >= 0 or nxt == DEAD:
                (<dict>self.trans[state])[terminals] = nxt
            return nxt

    cdef inline int _check(self, Py_ssize_t state) except -1:
        if state < 0 or state >= self.state_pred.n:
            raise IndexError(f"Earley state {state} out of range ({self.state_pred.n} states)")
        return 0

    cdef int64_t _advance(self, Py_ssize_t state, frozenset terminals) except -9:
        cdef int64_t base = <int64_t>state << self.origin_shift
        cdef Py_ssize_t g, i
        cdef int t
        self.stack.n = 0
        for obj in terminals:
            t = obj
            g = self._kernel_group(state, t)
            if g >= 0:
                for i in range(self.group_start.data[g], self._group_end(state, g)):
                    i64_push(&self.stack, self.items.data[i] + 1)
            g = self._pred_group(self.state_pred.data[state], t)
            if g >= 0:
                for i in range(self.pgroup_start.data[g], self._pgroup_end(g)):
                    i64_push(&self.stack, base | (self.pds.data[i] + 1))
        if self.stack.n == 0:
            return DEAD
        if not self._close():
            return ITEMS_LIMIT
        return self._intern_key(False)

    cdef inline Py_ssize_t _group_end(self, Py_ssize_t state, Py_ssize_t g) noexcept:
        if g + 1 < self.state_groups.data[state + 1]:
            return self.group_start.data[g + 1]
        return self.state_items.data[state + 1]

    cdef Py_ssize_t _kernel_group(self, Py_ssize_t state, int sym) noexcept:
        """The group of `state`'s key items with `sym` after the dot, or -1."""
        cdef Py_ssize_t lo = self.state_groups.data[state], hi = self.state_groups.data[state + 1]
        cdef Py_ssize_t mid
        while lo < hi:
            mid = (lo + hi) >> 1
            if self.group_sym.data[mid] < sym:
                lo = mid + 1
            else:
                hi = mid
        if lo < self.state_groups.data[state + 1] and self.group_sym.data[lo] == sym:
            return lo
        return -1

    cdef Py_ssize_t _pred_group(self, int p, int sym) noexcept:
        """The group of predicted set p's items with `sym` after the dot, or -1."""
        cdef Py_ssize_t lo = self.pred_groups.data[p], hi = self.pred_groups.data[p + 1]
        cdef Py_ssize_t end = hi, mid
        while lo < hi:
            mid = (lo + hi) >> 1
            if self.pgroup_sym.data[mid] < sym:
                lo = mid + 1
            else:
                hi = mid
        if lo < end and self.pgroup_sym.data[lo] == sym:
            return lo
        return -1

    # -- closure ---------------------------------------------------------------------------
    cdef bint _close(self) except -1:
        """The kernel closure of the seeds on `stack` (completions looking into earlier
        states, nullable steps) into `key`: items not completed, plus the augmented start
        completed from the initial state (the accept mark). False past `max_items`."""
        cdef int64_t item, origin, pd, base
        cdef int sym, lhs
        cdef Py_ssize_t g, i, p
        self.key_n = 0
        self.visited.n = 0
        self.gen += 1
        if self.gen == 0:           # stamps wrapped: clear them
            if self.seen_gen != NULL:
                memset(self.seen_gen, 0, self.seen_cap * sizeof(uint32_t))
            self.gen = 1
        self.seen_count = 0
        while self.stack.n:
            self.stack.n -= 1
            item = self.stack.data[self.stack.n]
            if not self._see(item):
                continue
            if self.visited.n > self.max_items:
                return False
            pd = item & self.pd_mask
            sym = self.next_sym[pd]
            if sym < 0:
                origin = item >> self.origin_shift
                if pd == self.start_done and origin == 0:
                    self._key_push(-1, item)
                lhs = self.lhs[pd]
                g = self._kernel_group(origin, lhs)
                if g >= 0:
                    for i in range(self.group_start.data[g], self._group_end(origin, g)):
                        i64_push(&self.stack, self.items.data[i] + 1)
                p = self._pred_group(self.state_pred.data[origin], lhs)
                if p >= 0:
                    base = origin << self.origin_shift
                    for i in range(self.pgroup_start.data[p], self._pgroup_end(p)):
                        i64_push(&self.stack, base | (self.pds.data[i] + 1))
            else:
                self._key_push(sym, item)
                if self.nullable[sym]:
                    i64_push(&self.stack, item + 1)
        return True

    cdef bint _see(self, int64_t item) except -1:
        """Add `item` to this closure's seen set; False when it was there."""
        if (self.seen_count + 1) * 2 > self.seen_cap:
            self._grow_seen()
        cdef Py_ssize_t mask = self.seen_cap - 1
        cdef Py_ssize_t h = <Py_ssize_t>(_hash_item(item) & <uint64_t>mask)
        while self.seen_gen[h] == self.gen:
            if self.seen_key[h] == item:
                return False
            h = (h + 1) & mask
        self.seen_gen[h] = self.gen
        self.seen_key[h] = item
        self.seen_count += 1
        i64_push(&self.visited, item)
        return True

    cdef int _grow_seen(self) except -1:
        cdef Py_ssize_t cap = self.seen_cap * 2 if self.seen_cap else 256
        cdef Py_ssize_t i, h, mask = cap - 1
        free(self.seen_key)
        free(self.seen_gen)
        self.seen_key = <int64_t*>_alloc_zero(cap * sizeof(int64_t))
        self.seen_gen = <uint32_t*>_alloc_zero(cap * sizeof(uint32_t))
        self.seen_cap = cap
        for i in range(self.visited.n):        # re-insert this closure's items
            h = <Py_ssize_t>(_hash_item(self.visited.data[i]) & <uint64_t>mask)
            while self.seen_gen[h] == self.gen:
                h = (h + 1) & mask
            self.seen_gen[h] = self.gen
            self.seen_key[h] = self.visited.data[i]
        return 0

    cdef int _key_push(self, int sym, int64_t item) except -1:
        if self.key_n == self.key_cap:
            _grow(<void**>&self.key, &self.key_cap, self.key_n + 1, sizeof(KeyItem))
        self.key[self.key_n].sym = sym
        self.key[self.key_n].item = item
        self.key_n += 1
        return 0

    # -- interning -------------------------------------------------------------------------
    cdef int64_t _intern_key(self, bint initial) except -9:
        """The id of the state whose key is `key` (sorted here), created when new."""
        cdef Py_ssize_t i, n = self.key_n, s, slot, mask
        cdef uint64_t h = <uint64_t>n
        if n > 1:
            qsort(self.key, n, sizeof(KeyItem), _cmp_key)
        for i in range(n):
            h = _mix(h, <uint64_t>self.key[i].item)
        if not initial:
            mask = self.table_cap - 1
            slot = <Py_ssize_t>(h & <uint64_t>mask)
            while self.table[slot] >= 0:
                s = self.table[slot]
                if <uint64_t>self.state_hash.data[s] == h and self._same_key(s):
                    return s
                slot = (slot + 1) & mask
        if self.state_pred.n >= self.max_states:
            return STATES_LIMIT
        return self._new_state(h, initial)

    cdef bint _same_key(self, Py_ssize_t s) noexcept:
        cdef Py_ssize_t i, lo = self.state_items.data[s]
        if self.state_items.data[s + 1] - lo != self.key_n:
            return False
        for i in range(self.key_n):
            if self.items.data[lo + i] != self.key[i].item:
                return False
        return True

    cdef int64_t _new_state(self, uint64_t h, bint initial) except -9:
        cdef Py_ssize_t i, sid = self.state_pred.n, n_nts = 0
        cdef int sym, last = -2
        cdef bint accepting = False
        if self.nts_cap < self.key_n:
            _grow(<void**>&self.nts, &self.nts_cap, self.key_n, sizeof(int32_t))
        for i in range(self.key_n):
            sym = self.key[i].sym
            i64_push(&self.items, self.key[i].item)
            if sym < 0:
                accepting = True            # the accept mark
                continue
            if sym != last:
                i32_push(&self.group_sym, sym)
                i64_push(&self.group_start, self.items.n - 1)
                if sym >= self.num_terminals:
                    self.nts[n_nts] = sym      # ascending, as the groups are
                    n_nts += 1
                last = sym
        i64_push(&self.state_items, self.items.n)
        i64_push(&self.state_groups, self.group_sym.n)
        cdef int p = self._predicted(n_nts, initial)
        i32_push(&self.state_pred, p)
        i32_push(&self.state_acc, accepting or (initial and self.pred_accepts.data[p] != 0))
        i64_push(&self.state_hash, <int64_t>h)
        self.trans.append({})
        if not initial:
            if (sid + 1) * 2 > self.table_cap:
                self._rehash(self.table_cap * 2)
            else:
                self._table_insert(sid)
        return sid

    cdef int _rehash(self, Py_ssize_t cap) except -1:
        free(self.table)
        self.table = <int32_t*>_alloc_zero(cap * sizeof(int32_t))
        memset(self.table, 0xFF, cap * sizeof(int32_t))
        self.table_cap = cap
        cdef Py_ssize_t s
        for s in range(1, self.state_pred.n):       # state 0 (initial) is never looked up
            self._table_insert(s)
        return 0

    cdef void _table_insert(self, Py_ssize_t s) noexcept:
        cdef Py_ssize_t mask = self.table_cap - 1
        cdef Py_ssize_t slot = <Py_ssize_t>(<uint64_t>self.state_hash.data[s] & <uint64_t>mask)
        while self.table[slot] >= 0:
            slot = (slot + 1) & mask
        self.table[slot] = <int32_t>s

    # -- predicted sets --------------------------------------------------------------------
    def start(self, int start_symbol):
        """Create the initial state: empty kernel, predicting the augmented start symbol.
        Returns its id (0)."""
        self.key_n = 0
        if self.nts_cap < 1:
            _grow(<void**>&self.nts, &self.nts_cap, 1, sizeof(int32_t))
        self.nts[0] = start_symbol
        self._closure(1)
        self._predicted_from(b"initial")
        return self._intern_key(True)

    cdef int _predicted(self, Py_ssize_t n_nts, bint initial) except -1:
        """The id of the predicted set of the nonterminals `nts[:n_nts]` (ascending), made
        on first use from their closure."""
        if initial:
            return self.pred_ids[b"initial"]
        key = PyBytes_FromStringAndSize(<char*>self.nts, n_nts * sizeof(int32_t))
        found = self.pred_ids.get(key)
        if found is not None:
            return found
        self._closure(n_nts)
        return self._predicted_from(key)

    cdef int _closure(self, Py_ssize_t n_nts) except -1:
        """Into `pd_list`: the items (prod, dot) that the nonterminals `nts[:n_nts]` predict,
        transitively, with nullable symbols stepped over (each production once)."""
        cdef Py_ssize_t i, k, top, d
        cdef int a, sym
        cdef int32_t pd
        self.nt_gen += 1
        if self.nt_gen == 0:
            memset(self.nt_stamp, 0, self.num_symbols * sizeof(uint32_t))
            self.nt_gen = 1
        self.pd_list.n = 0
        self.work.n = 0
        for i in range(n_nts):
            if self.nt_stamp[self.nts[i]] != self.nt_gen:
                self.nt_stamp[self.nts[i]] = self.nt_gen
                i32_push(&self.work, self.nts[i])
        while self.work.n:
            self.work.n -= 1
            a = self.work.data[self.work.n]
            for k in range(self.by_lhs_off[a], self.by_lhs_off[a + 1]):
                d = 0
                while True:
                    pd = self.by_lhs[k] + <int32_t>d
                    i32_push(&self.pd_list, pd)
                    sym = self.next_sym[pd]
                    if sym < 0:
                        break
                    if sym >= self.num_terminals and self.nt_stamp[sym] != self.nt_gen:
                        self.nt_stamp[sym] = self.nt_gen
                        i32_push(&self.work, sym)
                    if not self.nullable[sym]:
                        break
                    d += 1
        return 0

    cdef int _predicted_from(self, object key) except -1:
        """Register the predicted set of the packed items in `pd_list` (duplicates allowed)
        under `key`: deduplicated, grouped by the symbol after the dot."""
        cdef Py_ssize_t i, n = 0, pid = self.pred_terms.__len__()
        cdef int32_t pd
        cdef int sym, last = -2
        cdef bint accepts = False
        self.pd_gen += 1
        if self.pd_gen == 0:
            memset(self.pd_stamp, 0, self.num_pd * sizeof(uint32_t))
            self.pd_gen = 1
        self.key_n = 0          # reuse the key scratch: (symbol, pd) pairs
        for i in range(self.pd_list.n):
            pd = self.pd_list.data[i]
            if self.pd_stamp[pd] == self.pd_gen:
                continue
            self.pd_stamp[pd] = self.pd_gen
            sym = self.next_sym[pd]
            if sym < 0:
                if pd == self.start_done:
                    accepts = True
                continue
            self._key_push(sym, pd)
        if self.key_n > 1:
            qsort(self.key, self.key_n, sizeof(KeyItem), _cmp_key)
        terms = set()
        for i in range(self.key_n):
            sym = self.key[i].sym
            if sym != last:
                i32_push(&self.pgroup_sym, sym)
                i32_push(&self.pgroup_start, self.pds.n)
                if sym < self.num_terminals:
                    terms.add(sym)
                last = sym
            i32_push(&self.pds, <int32_t>self.key[i].item)
        i32_push(&self.pred_groups, self.pgroup_sym.n)
        i32_push(&self.pred_accepts, accepts)
        self.pred_terms.append(frozenset(terms))
        self.pred_ids[key] = pid
        self.key_n = 0
        return <int>pid

    cdef inline Py_ssize_t _pgroup_end(self, Py_ssize_t g) noexcept:
        # sets are appended whole: a group ends where the next one (of any set) starts
        if g + 1 < self.pgroup_sym.n:
            return self.pgroup_start.data[g + 1]
        return self.pds.n


cdef void* _alloc_zero(size_t size) except NULL:
    cdef void* p = realloc(NULL, size if size else 1)
    if p == NULL:
        raise MemoryError("Earley core: out of memory")
    memset(p, 0, size if size else 1)
    return p


cdef void* _alloc_copy(const void* src, size_t size) except NULL:
    cdef void* p = _alloc_zero(size)
    if size:
        memcpy(p, src, size)
    return p
