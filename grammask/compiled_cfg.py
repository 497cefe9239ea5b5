"""`CompiledCFG`: a context-free grammar compiled against a tokenizer.

An engine state is an interned configuration (parser state, lexer state): the parser is the
hash-consed Earley parser of `automata.earley` (behind Python's indenter where the grammar
declares one), the lexer is the contextual greedy lexer of `automata.lexer`, and masks come
from `mask_cache.cfg_masks`. It implements the same small engine interface as
`CompiledGrammar`, so `Matcher` (rollback, fork, jump-forward, batch bitmasks) works unchanged.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from .automata import compile_regex_dfa
from .automata.earley import DEAD, EarleyParser, Productions
from .automata.interning import Interner
from .automata.lalr import DeepRead, LalrParser, LalrUnavailable
from .automata.lexer import Lexer, LexTerminal
from .automata.terminal_parser import IndentConfig, TerminalParser
from .compiled_grammar import TERMINATED, EngineBase
from .errors import GrammarError, LimitExceededError
from .grammar.ir import Grammar
from .kernels import _kernels, bitmask_words
from .limits import DEFAULT_LIMITS, Limits, checkpoint
from .mask_cache import TokenTrie
from .mask_cache.cfg_masks import (
    SHARED_SHAPE_STATES,
    LexStateMasks,
    scan_lexer_state,
    scan_over_base,
    shared_scan,
)
from .mask_cache.mask_store import MaskInterner, StoredMask
from .mask_cache.plain_runs import (
    CHARSET_MIN,
    UNBOUNDED,
    canonical_charset,
    charset_run,
    plain_closed,
    plain_run,
    terminal_plain_closed,
)
from .mask_cache.token_trie import CHARSET_BUCKET
from .tokenizer_info import TokenizerInfo

__all__ = ["DEAD", "TERMINATED", "CompiledCFG"]

_NEWLINE_NAMES = ("_NEWLINE", "_NL")
# A straddler group this small is walked token by token rather than by computing the whole
# mask of the configuration after its lexeme (which could recurse through every nesting level).
_WALK_GROUP = 256
_SPLIT_GROUP = 64             # a linked group walked again splits off its lexer-only part past this
_MAX_NESTED_MASKS = 2
_SUCCESSOR_BYTES = 64          # `_successor_scan`'s base: the successor on at least this many bytes
_START_BASES = 64             # scanned start states `_start_base_scan` compares a new one with
_START_BASE_SHARE = 0.25      # share of the vocabulary a start state's base must take over
_INDENT_WIDTHS = 32           # a newline's indentation widths scanned at compile (indenter)
_EMIT_SPAN = 1 << 20          # boundary memo key: parser state * _EMIT_SPAN + emit id
_MAX_DEEP = 1024              # deep token groups a window mask may leave to per-stack rechecks
_MAX_GROUPED = 4096          # deep tokens a window may group (beyond: the exact mask)
_SIM_NODES = 1 << 20          # local stack nodes a kept LALR C walker may intern
_START_DEPTH = 4              # LR states below a window `_window_starts` may look
_START_PATHS = 4096           # deeper stacks it tries per level
_DEEPER = 4                   # LR states a window whose lexeme end reads below it is extended by
_DEEPER_LEVELS = 3            # times it may be extended (while the deeper window still defers)
_MISSING = object()


class _TooDeep(Exception):
    """A window configuration whose mask would leave most tokens to per-stack rechecks."""


class _DeepWalk(NamedTuple):
    """What rechecking a window's deep tokens walks (`CompiledCFG._deep_walk`)."""

    ids: np.ndarray              # the deep tokens but stop tokens (int32), grouped
    starts: np.ndarray           # their spans in the trie's concatenation (int64)
    ends: np.ndarray
    points: np.ndarray | None    # each one's boundary position (-1: walked whole); None: all
    group_off: np.ndarray        # group g = entries group_off[g]:group_off[g + 1] (int64)
    with_eos: bool               # stop tokens are among the deep ones


_OPEN = {"(": True, "[": True, "{": True}
_CLOSE = {")": True, "]": True, "}": True}


class CompiledCFG(EngineBase):
    """A grammar compiled for one vocabulary; immutable to users, memoising inside (safe to
    share between threads and matchers)."""

    kind = "cfg"

    def __init__(self, grammar: Grammar, tokenizer_info: TokenizerInfo, trie: TokenTrie, *,
                 limits: Limits = DEFAULT_LIMITS, source: str = "", parser: str = "auto") -> None:
        t0 = time.perf_counter()
        self.grammar = grammar
        self.source = source
        self.tokenizer_info = tokenizer_info
        self.trie = trie
        self.limits = limits
        self._token_bytes = tokenizer_info.token_bytes
        self._eos = np.asarray(tokenizer_info.eos_token_ids, dtype=np.int64)
        self._words = bitmask_words(tokenizer_info.vocab_size)
        self.terminal_names, prods = _productions(grammar, limits)
        self._tid = {n: i for i, n in enumerate(self.terminal_names)}
        self.earley, self.parser_kind = _parser(parser, prods, self.terminal_names,
                                                list(grammar.rules), limits,
                                                exact=grammar.scannerless)
        self.warnings: list[str] = []
        conflicts = getattr(self.earley, "conflicts", [])
        if conflicts:
            self.warnings.append(
                f"LALR(1): {len(conflicts)} shift/reduce conflict(s) resolved as shift (on "
                f"{', '.join(sorted(set(conflicts))[:5])}): the language is Lark's lalr one; "
                f"parser='earley' gives the grammar's full language")
        indent = _indent_config(grammar, self._tid)
        self.lexer = Lexer(_lex_terminals(grammar, self._tid, indent, limits),
                           max_lexer_states=limits.max_lexer_states)
        lexable = frozenset(self._tid[n] for n, t in grammar.terminals.items()
                            if t.pattern is not None)
        self.parser = TerminalParser(self.earley, self.lexer.emits, lexable, indent,
                                     TerminalParser.whitespace_of(grammar, self._tid))
        self._lex_start: dict[int, int] = {}
        self._same_rows: dict[tuple[int, int], bool] = {}     # see `_canonical_lex`
        self._config_ids: Interner[tuple[int, int]] = Interner()    # (parser, lexer) states
        self._configs = self._config_ids.keys
        self._lex_masks: dict[int, LexStateMasks] = {}
        self._plain_closed: dict[int, bool] = {}     # lexer state -> plain_runs.plain_closed
        self._plain_runs: dict[tuple[int, int], tuple[int, bool]] = {}   # plain_runs.plain_run
        self._plain_limits: dict[int, tuple[int, bool, bytes | None]] = {}
        self._plain_everywhere_memo: dict[tuple[int, bool], bool] = {}
        self._scanning: set[int] = set()       # lexer states whose scan is being made
        self._scanned_starts: list[int] = []   # start states scanned, the latest last
        self._charset_runs: dict[tuple[int, int], tuple[bytes | None, int, bool]] = {}
        self._masks: dict[int, StoredMask] = {}
        self._boundary_memo: dict[int, int] = {}
        self._pairs: dict[int, tuple[StoredMask, np.ndarray]] = {}
        self._virtual: dict[int, int] = {}
        self._with_deep: dict[tuple[int, bytes], StoredMask] = {}
        self._deep_walks: dict[int, _DeepWalk] = {}     # window -> `_deep_walk`
        # windows whose pair leaves out the tokens that end the current lexeme at their first
        # byte (that lexeme's end reads below the window): see `_deferred_f0`
        self._f0_deferred: set[int] = set()
        self._deeper_levels = 0     # deferred windows have precomputed deeper ones, this many deep
        self.windows_precomputed = 0
        self._eos_flags = np.zeros(tokenizer_info.vocab_size, dtype=bool)
        self._eos_flags[self._eos] = True
        self.deep_rechecks = 0
        self.masks_forgotten = 0
        self.window_misses = 0
        # (lexer state, group, fresh lexer state, linked?) -> (live token ids, or mask words
        # when they are many; pending entries[; their kinds, `_kernels._Kinds`, which the LALR
        # compose kernel adds]): `_walk_group`, the compose kernels
        self._suffix_walks: dict[tuple[int, int, int, bool], tuple[Any, ...]] = {}
        self._suffix_read: dict[int, np.ndarray] = {}       # `_suffix_sources`
        # (lexer state, linked group, fresh lexer state after its lexeme) -> `_live_ranges`
        self._link_ranges: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}
        # linked groups walked whole once (`_linked`): walked with `_walk_group` from then on
        self._walked_before: set[tuple[int, int, int, bool]] = set()
        self._interner = MaskInterner(tokenizer_info.vocab_size)
        # LALR walks in C (`_kernels.LalrSim`, Python's indenter included): possible without
        # bounded whitespace (its lexemes are not plain LR steps) and with at most 256
        # terminals (allowed-terminal sets are 256-bit keys)
        self._sim_ok = (self.parser_kind == "lalr" and not self.parser.whitespace
                        and len(self.terminal_names) <= 256)
        self._starts_by_bits: dict[int, int] = {}
        self._emit_tables: tuple[np.ndarray, ...] = ()
        self._sim: Any = None
        self._sim_seen: tuple[Any, ...] = ()     # node parents and lexer rows `_sim` views
        self._lex_tables: Any = None    # the Cython walkers' views of the lexer tables
        self._lock = threading.RLock()
        self._initial = self._config(self.parser.initial, self.lex_start(self.parser.initial))
        self.mask(self._initial)          # time to first mask is part of compile
        self.precompute_masks()
        self.indent_scans = self._precompute_indent_scans()
        self.compile_seconds = time.perf_counter() - t0

    # -- engine interface ----------------------------------------------------------------------
    def initial_state(self) -> int:
        return self._initial

    def advance(self, state: int, data: bytes) -> int:
        p, lx = self._configs[state]
        out = self._walk(p, lx, data)
        return DEAD if out is None else self._config(out[0], self._canonical_lex(*out))

    def _canonical_lex(self, p: int, lx: int) -> int:
        """The lexer state a real configuration is kept in: inside an ignored lexeme
        (whitespace) that the parser skips, the fresh start state `lex_start(p)` when every
        byte that continues the lexeme leads where it leads from there. Both configurations
        then take the same continuations (a byte that ends the lexeme restarts at that very
        start state), so they are one configuration: masks computed once, and its window
        sits at a lexeme's start, where a skipped lexeme leads back to a known state."""
        e = int(self.lexer.emit[lx])
        if e < 0 or self.lexer.is_start[lx] or not self.lexer.emits[e].ignored:
            return lx
        if self.parser.advance(p, e) != p:
            return lx
        lx0 = self.lex_start(p)
        key = (lx, lx0)
        same = self._same_rows.get(key)
        if same is None:
            row, row0 = self.lexer.trans[lx], self.lexer.trans[lx0]
            same = self._same_rows[key] = bool(np.all((row < 0) | (row == row0)))
        return lx0 if same else lx

    def is_accepting(self, state: int) -> bool:
        p, lx = self._configs[state]
        return self._can_end(p, lx)

    def mask(self, state: int) -> StoredMask:
        found = self._masks.get(state)
        if found is None:
            with self._lock:
                found = self._masks.get(state)
                if found is None:
                    if len(self._masks) >= self.limits.max_cached_masks:
                        self._forget_masks()
                    found = self._exact_mask(state)
                    self._masks[state] = found
        return found

    def _forget_masks(self) -> None:
        """Bound memory on endless generation: drop the memoised per-configuration masks
        (they are recomputed on demand; parser and lexer states stay, matchers hold them)."""
        self._masks.clear()
        self._pairs.clear()
        self._virtual.clear()
        self._with_deep.clear()
        self._deep_walks.clear()
        self._f0_deferred.clear()
        if self._sim is not None:
            self._sim.group_memo.clear()
        self.masks_forgotten += 1

    def _exact_mask(self, state: int) -> StoredMask:
        """The mask of a real configuration. With LALR it comes from the configuration's
        *window* (the same top `mask_window` LR states on a sentinel bottom, shared by every
        configuration with that top of stack): its sure tokens as they are, its deep tokens —
        those whose fate read below the window — rechecked here against the real stack. The
        result is the window's stored mask itself when no deep token survives, and otherwise
        memoised per (window, surviving deep tokens): no dense copy or re-interning of a mask
        another configuration already produced."""
        virtual = self._virtual_config(state)
        if virtual is None:
            return self._pair(state, set())[0]
        window = self._window(virtual)
        if window is None:
            self.window_misses += 1                     # the window says too little
            self._pairs.setdefault(virtual, None)
            return self._pair(state, set(), real=True)[0]
        sure, deep_ids, walk = window
        deferred = virtual in self._f0_deferred
        if walk is None and not deferred:
            return sure
        self.deep_rechecks += int(deep_ids.shape[0])
        p, lx = self._configs[state]
        hits = np.zeros(self._words, dtype=np.uint32)
        if walk is not None:
            self._recheck(p, lx, walk, hits, virtual)
        after = self._deferred_f0(p, lx, hits) if deferred else ()
        # the walk sets bits of deep tokens only: read them there, not over the vocabulary
        survivors = deep_ids[_kernels.bits_at(hits, deep_ids)]
        if not survivors.shape[0] and not after:
            return sure
        key = (virtual, survivors.tobytes(), *after)    # sure | survivors | deferred part
        found = self._with_deep.get(key)
        if found is None:
            if after:
                words = self._interner.densify(sure)
                words |= hits
                found = self._interner.intern(words)
            else:
                found = self._interner.with_ids(sure, survivors)
            self._with_deep[key] = found
        return found

    def _window(self, virtual: int) -> tuple[StoredMask, np.ndarray, _DeepWalk | None] | None:
        """A window configuration's sure mask, deep token ids and their recheck walk (None
        without deep tokens); None when the window says too little (its pair would leave
        most tokens deep, or its deep tokens fall into too many groups)."""
        try:
            sure, deep_ids = self._pair(virtual, set())
        except _TooDeep:
            return None
        if not deep_ids.shape[0]:
            return sure, deep_ids, None
        if deep_ids.shape[0] > _MAX_GROUPED:
            return None
        walk = self._deep_walks.get(virtual)
        if walk is None:
            walk = self._deep_walks[virtual] = self._deep_walk(virtual, deep_ids)
        return (sure, deep_ids, walk) if walk.group_off.shape[0] <= _MAX_DEEP else None

    def _recheck(self, p: int, lx: int, walk: _DeepWalk, hits: np.ndarray, virtual: int) -> None:
        """Set in `hits` the bits of a window's deep tokens (`_deep_walk`) that live on the
        real configuration (p, lx) under `virtual`, its window."""
        ids, starts, ends = walk.ids, walk.starts, walk.ends
        node = self._sim_stack(p)[0] if walk.points is not None else -1
        if node >= 0:
            left = _kernels.lalr_recheck_groups(self._lalr_sim(), self.trie.concat, starts,
                                                ends, walk.points, ids, walk.group_off, node,
                                                lx, hits, virtual)
            if left:
                left = np.array(left, np.int64)
                self._walk_entries(p, lx, starts, ends, ids, (left, left + 1), hits, hits)
        elif ids.shape[0]:
            self._walk_entries(p, lx, starts, ends, ids, _one_range(ids.shape[0]), hits, hits)
        if walk.with_eos and self._can_end(p, lx):
            self._set_eos(hits)

    def _deferred_f0(self, p: int, lx: int, hits: np.ndarray) -> tuple[Any, ...]:
        """For a window whose lexeme end reads below it (`_f0_deferred`): OR into `hits` the
        tokens that end the lexeme at their first byte (`f0`), as the real stack's next
        configuration allows them. That configuration starts a fresh lexeme, so its window
        never defers: f0 takes the window's sure tokens and those of its deep tokens that
        live on the real stack, without composing, interning and keeping that
        configuration's own mask (which the text never visits: a token boundary there is
        still inside the lexeme). Returns what the OR-ed part depends on beyond this window:
        (next window, its live deep f0 tokens), or (next configuration,) when its window says
        too little and its own mask is used; () when the parser refuses the lexeme."""
        after = self._after(p, int(self.lexer.emit[lx]))
        if after is None or after is True:
            return ()
        info = self.lex_masks(lx)
        va = self._virtual_config(after[2])
        window = None if va is None else self._window(va)
        if window is None or va in self._f0_deferred:
            hits |= self._f0_through(info, after[2])
            return (after[2],)
        sure, deep_ids, walk = window
        hits |= info.f0 & self._interner.densify(sure)
        if walk is None:
            return (va, b"")
        live = np.zeros(self._words, dtype=np.uint32)
        self._recheck(after[0], after[1], walk, live, va)
        live &= info.f0
        hits |= live
        return (va, deep_ids[_kernels.bits_at(live, deep_ids)].tobytes())

    def _f0_through(self, info: LexStateMasks, after: int) -> np.ndarray:
        """The tokens that end the current lexeme at their first byte (`info.f0`), as the
        real configuration `after` that lexeme leads to allows them: its mask comes through
        its own window (it starts a fresh lexeme)."""
        return info.f0 & self._interner.densify(self.mask(after))

    def _deep_walk(self, virtual: int, deep_ids: np.ndarray) -> _DeepWalk:
        """What rechecking a window's deep tokens against a real stack walks (kept per window:
        every configuration with that top of stack walks the same tokens): the non-stop
        tokens with their trie spans, their boundary positions and group offsets (below),
        and whether stop tokens are among the deep ones. With the C walker, tokens whose walk
        first reads below the window at the same boundary (stack, lexer state) are grouped
        (`_kernels.lalr_deep_points`): a real stack reaches that boundary once per group and
        each member walks only its bytes after it — a window's deep `",` `"}` `">`... cost one
        boundary and a byte each. Without it (Earley, indenter) every token is its own group
        (points None) and walked whole."""
        is_eos = self._eos_flags[deep_ids]
        ids = deep_ids[~is_eos]
        starts, ends = self._token_spans(ids)
        points, group_off = None, np.arange(ids.shape[0] + 1, dtype=np.int64)
        vp, vlx = self._configs[virtual]
        node = self._sim_stack(vp)[0]
        if ids.shape[0] and node >= 0 and self.parser.indent is None:
            keys, pos = _kernels.lalr_deep_points(self._lalr_sim(), self.trie.concat, starts,
                                                  ends, node, vlx)
            alone = keys < 0                # never reads the sentinel: a group of its own
            keys[alone] = -1 - np.flatnonzero(alone)
            pos[alone] = -1
            order = np.argsort(keys, kind="stable")
            keys, ids, starts, ends, points = (a[order] for a in (keys, ids, starts, ends, pos))
            first = np.ones(keys.shape[0] + 1, dtype=bool)      # a group starts (or all end)
            np.not_equal(keys[1:], keys[:-1], out=first[1:-1])
            group_off = np.flatnonzero(first).astype(np.int64)
        return _DeepWalk(ids, starts, ends, points, group_off, bool(is_eos.any()))

    def _virtual_config(self, state: int) -> int | None:
        """The window configuration of `state` (None without LALR windows)."""
        k = self.limits.mask_window
        if self.parser_kind != "lalr" or k <= 0:
            return None
        found = self._virtual.get(state)
        if found is None:
            p, lx = self._configs[state]
            found = self._window_config(p, lx, k)
            if found is None:
                return None
            level = 0
            while level < self._deeper_levels and found in self._f0_deferred:
                level += 1                          # precomputed with the rest
                found = self._window_config(p, lx, k + level * _DEEPER)
            self._virtual[state] = found
        return found

    def _window_config(self, p: int, lx: int, k: int) -> int | None:
        """The configuration (p, lx) with its stack cut to the top k LR states on the
        sentinel (None for a parser state of several stacks)."""
        vsid = self.earley.virtual_state(self.parser.stack_of(p)[0], k)
        return None if vsid < 0 else self._config(self.parser.with_stack(p, vsid), lx)

    def _token_spans(self, toks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        start, end = self.trie.spans_by_id()
        return start[toks], end[toks]

    def _set_eos(self, words: np.ndarray) -> None:
        for e in self._eos:
            words[e >> 5] |= np.uint32(1 << int(e & 31))

    def forced_bytes(self, state: int, limit: int = 4096) -> bytes:
        """Bytes every continuation must start with: followed while exactly one byte keeps
        the configuration alive and the text cannot end (cheap: one lexer row per byte,
        the parser consulted only at lexeme boundaries)."""
        out = bytearray()
        while len(out) < limit and not self.is_accepting(state):
            p, lx = self._configs[state]
            only = self._only_byte(p, lx)
            if only < 0:
                break
            out.append(only)
            state = self.advance(state, bytes((only,)))
        return bytes(out)

    def _only_byte(self, p: int, lx: int) -> int:
        """The one byte that keeps (p, lx) alive, or -1 (none, or several). Inside a lexeme
        that cannot end yet only the lexer row's live bytes can continue, so a long forced
        literal costs one walk per byte, not 256; the scan stops at the second live byte."""
        row = self.lexer.trans[lx]
        cands = range(256) if self.lexer.emit[lx] >= 0 else np.flatnonzero(row >= 0).tolist()
        found = -1
        for b in cands:
            if self._walk(p, lx, bytes((b,))) is not None:
                if found >= 0:
                    return -1
                found = b
        return found

    # -- configurations ------------------------------------------------------------------------
    def _config(self, p: int, lx: int) -> int:
        return self._config_ids.id_of((p, lx))

    def lex_start(self, p: int) -> int:
        """The lexer start state of a fresh lexeme in parser state p. With the C walker the
        terminals that shift are simulated there (a few µs, against tens in the Python
        parser); DeepRead when that depends on nodes below a window's sentinel."""
        found = self._lex_start.get(p)
        if found is None:
            node = self._sim_stack(p)[0]
            if node >= 0:
                with self._lock:        # the C walker is not reentrant (advance runs unlocked)
                    found = self._lalr_sim().lexer_start(node)
                if found < 0:
                    raise DeepRead
            else:
                found = self.lexer.start(self.parser.candidates(p))
            self._lex_start[p] = found
        return found

    def _walk(self, p: int, lx: int, data: bytes, pos: int = 0) -> tuple[int, int] | None:
        """(parser, lexer) after `data[pos:]` from (p, lx), or None when it dies."""
        if type(data) is not bytes:     # the kernel reads bytes in place
            data = bytes(data)
        packed = _kernels.cfg_walk(self, data, pos, len(data), p, lx)
        return None if packed < 0 else (packed >> 32, packed & 0xFFFFFFFF)

    def _boundary_deep(self, p: int, emit: int) -> int:
        """`_boundary` for the Cython walkers: -2 when the answer lies below a window's
        sentinel (the token is then *deep*: rechecked against each real stack)."""
        try:
            return self._boundary(p, emit)
        except DeepRead:
            self._boundary_memo[p * _EMIT_SPAN + emit] = -2
            return -2

    def _boundary(self, p: int, emit: int) -> int:
        """Fill the boundary memo the Cython walkers read: the packed configuration after a
        lexeme of kind `emit` from parser state p (parser, fresh lexer state), or -1."""
        p2 = self.parser.advance(p, emit)
        packed = -1 if p2 == DEAD else (p2 << 32) | self.lex_start(p2)
        self._boundary_memo[p * _EMIT_SPAN + emit] = packed
        return packed

    def _can_end(self, p: int, lx: int) -> bool:
        if self.lexer.is_start[lx]:
            return self.parser.can_end(p)
        e = int(self.lexer.emit[lx])
        if e < 0:
            return False
        p2 = self.parser.advance(p, e)
        return p2 != DEAD and self.parser.can_end(p2)

    # -- masks -----------------------------------------------------------------------------
    def lex_masks(self, lx: int) -> LexStateMasks:
        found = self._lex_masks.get(lx)
        if found is None:
            def scan() -> LexStateMasks:
                return self._successor_scan(lx) or scan_lexer_state(
                    self.trie, self._token_bytes, self.lexer.trans, self.lexer.emit, lx,
                    self.tokenizer_info.vocab_size, *self._plain_limit(lx))
            shape = _kernels.lexer_shape(self.lexer.trans, self.lexer.emit, lx,
                                         SHARED_SHAPE_STATES)
            self._scanning.add(lx)
            try:
                if shape is None:
                    found = scan()
                else:
                    key = (self.tokenizer_info.fingerprint, shape[0])
                    found = shared_scan(key, shape[1], scan)
            finally:
                self._scanning.discard(lx)
            self._lex_masks[lx] = found
            if self.lexer.is_start[lx]:
                self._scanned_starts.append(lx)
                del self._scanned_starts[:-_START_BASES]
        return found

    def _successor_scan(self, lx: int) -> LexStateMasks | None:
        """The scan of lexer state `lx` through a state that moves like it on most first
        bytes (`scan_over_base`), or None. A property name's state, say, where the names of
        undeclared properties sit beside a few declared ones, goes on every byte that starts
        no declared name to the same state as any string's inside does: that state's scan is
        shared across grammars, and only the non-plain tokens starting with the other bytes
        are walked from `lx`. Both states must accept all plain text."""
        base, count = _kernels.row_mode(self.lexer.trans, lx)
        if count < _SUCCESSOR_BYTES or base == lx or base in self._scanning \
                or not self._plain_everywhere(base, shared=True) or not self._plain_everywhere(lx):
            # (a base being scanned: states that go to each other); a start state may still
            # share the scan of another start state
            return self._start_base_scan(lx) if self.lexer.is_start[lx] else None
        masks = self.lex_masks(base)
        trans = self.lexer.trans
        return scan_over_base(self.trie, trans, self.lexer.emit, lx, masks,
                              (trans[lx] == trans[base]).view(np.uint8))

    def _start_base_scan(self, lx: int) -> LexStateMasks | None:
        """The scan of start state `lx` through the scanned start state that goes where it
        goes on the live first bytes of the most tokens (`scan_over_base` without the
        plain-text shortcut), or None when none takes over `_START_BASE_SHARE` of the
        vocabulary (a JSON value's start, where most first bytes are dead, scans faster
        alone). Start states of one grammar differ in their candidates (Python's: which
        keywords and operators the stack takes), mostly on a few first bytes: on every byte
        where two of them go to the same state they classify every token alike, and a
        Python start state's full scan (~60k straddlers) cost ~4 ms."""
        trans, counts = self.lexer.trans, self.trie.first_byte_counts()
        least = _START_BASE_SHARE * self.trie.num_tokens
        if not self._scanned_starts or counts[trans[lx] >= 0].sum() < least:
            return None
        same = trans[self._scanned_starts] == trans[lx]
        # the tokens the base saves a walk of: those starting with a covered byte that
        # lives (a dead one is skipped whole by a walk anyway); below a quarter of the
        # vocabulary the base's merge and clearing cost more than they save
        taken = (same & (trans[lx] >= 0)).astype(np.int64) @ counts
        best = int(np.argmax(taken))
        if taken[best] < least:
            return None
        base = self._lex_masks[self._scanned_starts[best]]
        return scan_over_base(self.trie, trans, self.lexer.emit, lx, base,
                              same[best].view(np.uint8), plain=False)

    def _plain_everywhere(self, lx: int, shared: bool = False) -> bool:
        """Whether lexer state `lx` keeps every plain text inside its lexeme (memoised);
        `shared`: and its scan is cheap (made already, or shared across grammars)."""
        key = (lx, shared)
        found = self._plain_everywhere_memo.get(key)
        if found is None:
            limit, _, charset = self._plain_limit(lx)     # a charset's run is not plain text
            found = limit >= UNBOUNDED and charset is None and (
                not shared or lx in self._lex_masks or _kernels.lexer_shape(
                    self.lexer.trans, self.lexer.emit, lx, SHARED_SHAPE_STATES) is not None)
            self._plain_everywhere_memo[key] = found
        return found

    def _plain_limit(self, lx: int) -> tuple[int, bool, bytes | None]:
        """How many plain characters some member of lexer state `lx` certainly takes, and
        whether every longer plain token is certainly refused (a lone member whose ladder
        ends dead): then the scan walks only the non-plain tokens. Where no plain character
        is certain, the same for the charset of a member (`_charset_limit`), whose bits come
        third (None for plain text). Memoised per state."""
        found = self._plain_limits.get(lx)
        if found is None:
            found = self._plain_limits[lx] = self._compute_plain_limit(lx)
        return found

    def _compute_plain_limit(self, lx: int) -> tuple[int, bool, bytes | None]:
        best, exact = 0, False
        members = self.lexer.members(lx)
        for tid, q in members:
            found = self._plain_runs.get((tid, q))
            if found is None:
                term = self.lexer.terminals[tid]
                found = self._plain_runs[(tid, q)] = (0, False) if term.aux is not None else \
                    plain_run(term.trans, term.accepting, q)
            best = max(best, found[0])
            exact = len(members) == 1 and found[1]
        # the ladder needs every plain character to move to one common state; a state whose
        # plain successors differ (a property-name pattern that tracks declared names, a
        # literal beside the string of all other names) may still never die on plain text
        if best < UNBOUNDED and not exact and self._plain_closed_state(lx):
            best = UNBOUNDED
        if best == 0:
            return self._charset_limit(members)
        return best, exact, None

    def _charset_limit(self, members: tuple[tuple[int, int], ...]) -> tuple[int, bool, bytes | None]:
        """The longest certain run over a member's own charset (`plain_runs.charset_run`):
        a pattern-restricted string accepts only part of the plain set, and without this its
        every position walked each token starting with an allowed byte. Exact only for a lone
        member. (0, False, None) when no run is long enough to pay for its tables."""
        best: tuple[int, bool, bytes | None] = (0, False, None)
        for tid, q in members:
            found = self._charset_runs.get((tid, q))
            if found is None:
                found = self._charset_runs[(tid, q)] = self._charset_of(tid, q)
            key, run, exact = found
            if key is not None and run > best[0]:
                best = (run, len(members) == 1 and exact, key)
        run, exact, _ = best
        if run >= UNBOUNDED or exact or run >= CHARSET_BUCKET:
            return best
        return 0, False, None

    def _charset_of(self, tid: int, q: int) -> tuple[bytes | None, int, bool]:
        """(canonical charset key or None, run, exact) of terminal `tid`'s state `q`."""
        term = self.lexer.terminals[tid]
        if term.aux is not None or _kernels.live_ascii(term.trans, q) < CHARSET_MIN:
            return None, 0, False   # too few bytes for a charset: skip the automaton's analysis
        bits, run, exact = charset_run(term.trans, term.accepting, q)
        return (canonical_charset(bits) if bits is not None else None), run, exact

    def _plain_closed_state(self, lx: int) -> bool:
        """`plain_closed` for a lexer state. A combined state lives while any member lives,
        so a member that never dies on plain text settles it; members are terminal states,
        whose closures are explored on the terminal's own automaton, once per process
        (`terminal_plain_closed`), and shared by every combined state that holds them (a
        property-name pattern sits in each key position's state)."""
        trans = self.lexer.trans
        if trans[lx, 0x7E] < 0:
            return False
        members = self.lexer.members(lx)
        if any(self.lexer.terminals[t].trans[q, 0x7E] >= 0
               and terminal_plain_closed(self.lexer.terminals[t].trans, q) for t, q in members):
            return True
        return len(members) > 1 and plain_closed(trans, lx, self._plain_closed)

    # A configuration's mask is computed as a pair (sure, deep): `deep` holds tokens whose
    # fate depends on stack nodes below a window configuration's sentinel (always empty for real
    # configurations). Pairs are memoised per configuration; sure as a shared StoredMask, deep
    # as token ids (few).
    def _pair(self, state: int, busy: set[int],
              real: bool = False) -> tuple[StoredMask, np.ndarray]:
        found = self._pairs.get(state, _MISSING)
        if found is None or (busy and state in self._f0_deferred):
            raise _TooDeep      # a window known to leave most tokens deep, or not whole
        if found is _MISSING:
            busy.add(state)
            try:
                sure, deep = self._compute_pair(state, busy, real)
            finally:
                busy.discard(state)
            # deep is empty but for LALR windows: no vocabulary-wide listing then
            found = (self._interner.intern(sure),
                     self._ids_of(deep) if _kernels.any_bits(deep) else _NO_IDS)
            self._pairs[state] = found
        return found

    def _ids_of(self, words: np.ndarray) -> np.ndarray:
        """Set bits of a mask as int32 token ids (the kernels' id type)."""
        return _kernels.mask_to_ids(words, self.tokenizer_info.vocab_size, True).view(np.int32)

    def _dense_pair(self, state: int, busy: set[int]) -> tuple[np.ndarray, np.ndarray]:
        sure, deep_ids = self._pair(state, busy)
        deep = np.zeros(self._words, dtype=np.uint32)
        if deep_ids.shape[0]:
            _kernels.ids_to_mask(deep_ids, deep)
        return self._interner.densify(sure), deep

    def _after(self, p: int, emit: int, began: int = -1) -> tuple[int, int, int] | None | bool:
        """(parser, fresh lexer state, configuration) after a lexeme, None if the parser
        rejects it, True if that depends on stack nodes below a window's sentinel. `began`:
        the lexer start state the lexeme began in, when known. A lexeme the parser skips
        (ignored whitespace) then leads back to that same start state: a window whose
        allowed terminals read below its sentinel still knows it, since its configuration
        holds the real stack's start state."""
        try:
            p2 = self.parser.advance(p, emit)
            if p2 == DEAD:
                return None
            if p2 == p and began >= 0 and self.lexer.emits[emit].ignored:
                return p, began, self._config(p, began)
            lx2 = self.lex_start(p2)
        except DeepRead:
            return True
        return p2, lx2, self._config(p2, lx2)

    def _compute_pair(self, state: int, busy: set[int],
                      real: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """A configuration's (sure, deep) masks, composed from its lexer state's scan and
        the pairs of the configurations after each lexeme. `real`: a real stack whose window
        said too little; the configuration after its lexeme is then itself a real one, whose
        mask comes through its own window (shared by every stack with that top) instead of
        being composed again from scratch (it starts a fresh lexeme: never this one again)."""
        p, lx = self._configs[state]
        info = self.lex_masks(lx)
        sure = info.acc.copy()
        deep = np.zeros(self._words, dtype=np.uint32)
        if info.f0 is not None:
            after = self._after(p, int(self.lexer.emit[lx]))
            if after is True:       # the lexeme's end reads below the window: every such
                if len(busy) > 1:   # token would be deep; a nested pair must be whole
                    raise _TooDeep
                # a window asked for itself: leave those tokens out; each real stack adds
                # them from its own next configuration (`_deferred_f0`)
                self._f0_deferred.add(state)
            elif after is not None:
                if real:
                    sure |= self._f0_through(info, after[2])
                elif after[2] in busy or len(busy) >= _MAX_NESTED_MASKS:
                    ids = self._ids_of(info.f0)
                    self._walk_ids(after[0], after[1], ids, sure, deep)
                else:
                    sub_sure, sub_deep = self._dense_pair(after[2], busy)
                    sure |= info.f0 & sub_sure
                    deep |= info.f0 & sub_deep
        own = self._linked(state, p, lx, info, sure, deep, busy)
        if len(busy) == 1 and not real and _kernels.popcount_words(deep) > _MAX_GROUPED:
            raise _TooDeep      # a window this deep already: `_window` would refuse it
        self._unlinked(p, lx, info, sure, deep)
        if own:     # straddlers whose suffix starts this same configuration again (after an
            # ignored lexeme): gather from this pair until nothing changes — suffixes are
            # shorter than their tokens, so the fixpoint is reached. Another pass is needed
            # only when a bit some suffix reads was set (in practice: never, one pass)
            starts = np.concatenate([a for a, _ in own])
            ends = np.concatenate([b for _, b in own])
            read = self._suffix_sources(lx, info)
            deep_too = _kernels.any_bits(deep)     # (no deep bit: none to gather, ever)
            while (_kernels.gather_bits_ranges(sure, info.link_suffix, info.link_tokens,
                                               starts, ends, sure, read)
                   + (deep_too and _kernels.gather_bits_ranges(
                       deep, info.link_suffix, info.link_tokens, starts, ends, deep, read))):
                pass
        try:
            if self._can_end(p, lx):
                self._set_eos(sure)
        except DeepRead:
            self._set_eos(deep)
        return sure, deep

    def _suffix_sources(self, lx: int, info: LexStateMasks) -> np.ndarray:
        """Mask words of the tokens that spell some linked straddler's suffix in lexer state
        lx's scan (the bits its gathers read), memoised per state."""
        found = self._suffix_read.get(lx)
        if found is None:
            found = self._suffix_read[lx] = np.zeros(self._words, dtype=np.uint32)
            _kernels.ids_to_mask(info.link_suffix, found)
        return found

    def _live_ranges(self, table: np.ndarray, k: int, lx2: int) -> tuple[np.ndarray, np.ndarray]:
        """Index ranges of row `k` of a per-first-byte offsets table whose first byte can
        start a lexeme in lexer state `lx2` (other entries are dead at their first byte)."""
        return _kernels.live_ranges(table[k], self.lexer.trans[lx2])

    def _groups_after(self, p: int, lx: int, emits: np.ndarray, table: np.ndarray,
                      tokens: np.ndarray, deep: np.ndarray, groups: list[int] | None = None
                      ) -> Iterator[tuple[int, tuple[int, int, int]]]:
        """(k, configuration after the lexeme) for each straddler group k of lexer state
        lx's scan (or of `groups`) whose lexeme the parser takes; a group whose fate lies
        below a window's sentinel is marked deep whole instead (`table[k]` delimits the
        group's entries of `tokens`)."""
        began = lx if self.lexer.is_start[lx] else -1
        kinds = emits.tolist()
        for k in range(len(kinds)) if groups is None else groups:
            after = self._after(p, kinds[k], began)
            if after is True:
                row = table[k]
                _kernels.ids_to_mask(tokens[row[0]:row[256]], deep)
            elif after is not None:
                yield k, after

    def _linked(self, state: int, p: int, lx: int, info: LexStateMasks, sure: np.ndarray,
                deep: np.ndarray, busy: set[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Straddlers whose suffix is a token: one gather from the next configuration's pair.
        When that configuration is this one (an ignored lexeme such as whitespace) the ranges
        are returned for the caller's final fixpoint. Small groups and configurations already
        being computed are walked instead; so are large groups under the C walker, and groups
        of over `_SPLIT_GROUP` tokens walked before, with their lexer-only part cached
        (`_walk_group`)."""
        own: list[tuple[np.ndarray, np.ndarray]] = []
        groups = self._compose_in_c(p, lx, info, True, sure, deep)
        if groups is not None and not groups:
            return own
        for k, after in self._groups_after(p, lx, info.link_emits, info.link_offsets,
                                           info.link_tokens, deep, groups):
            key = (lx, k, after[1])
            ranges = self._link_ranges.get(key)
            if ranges is None:
                ranges = self._link_ranges[key] = \
                    self._live_ranges(info.link_offsets, k, after[1])
            starts, ends = ranges
            if not starts.shape[0]:
                continue
            if after[2] == state:
                own.append((starts, ends))
                continue
            count = int((ends - starts).sum())
            walked = (lx, k, after[1], True) if count > _SPLIT_GROUP else None
            if after[2] not in self._pairs:
                if walked is not None and (walked in self._walked_before or (
                        count > _WALK_GROUP and self._sim_stack(after[0])[0] >= 0)):
                    # walked again from this fresh lexer state, or a large group under the
                    # C walker: its lexer-only part cached (cheaper than composing the next
                    # configuration's whole mask)
                    self._walk_group(walked, after, info.link_start, info.link_end,
                                     info.link_tokens, ranges, sure, deep)
                    continue
                if after[2] in busy or count <= _WALK_GROUP or len(busy) >= _MAX_NESTED_MASKS:
                    self._walk_entries(after[0], after[1], info.link_start, info.link_end,
                                       info.link_tokens, ranges, sure, deep)
                    if walked is not None:
                        self._walked_before.add(walked)
                    continue
            sub_sure, sub_deep = self._dense_pair(after[2], busy)
            _kernels.gather_bits_ranges(sub_sure, info.link_suffix, info.link_tokens,
                                        starts, ends, sure)
            _kernels.gather_bits_ranges(sub_deep, info.link_suffix, info.link_tokens,
                                        starts, ends, deep)
        return own

    def _unlinked(self, p: int, lx: int, info: LexStateMasks, sure: np.ndarray,
                  deep: np.ndarray) -> None:
        """Straddlers whose suffix is no token: their suffixes walked (`_walk_group`)."""
        groups = self._compose_in_c(p, lx, info, False, sure, deep)
        if groups is not None and not groups:
            return
        for k, after in self._groups_after(p, lx, info.walk_emits, info.walk_ranges,
                                           info.walk_tokens, deep, groups):
            key = (lx, k, after[1], False)
            ranges = None if key in self._suffix_walks else \
                self._live_ranges(info.walk_ranges, k, after[1])
            self._walk_group(key, after, info.walk_start, info.walk_end, info.walk_tokens,
                             ranges, sure, deep)

    def _compose_in_c(self, p: int, lx: int, info: LexStateMasks, linked: bool,
                      sure: np.ndarray, deep: np.ndarray) -> list[int] | None:
        """Compose the linked (or unlinked) straddler groups of (p, lx) in C: under the
        LALR walker with `_kernels.lalr_compose_groups` (each group's lexeme handed over on
        the C stack), with any other parser with `_kernels.cfg_compose_groups` (through the
        boundary memo); entries are walked, with the lexer-only parts cached as
        `_walk_group` caches them. A Python round per group cost ~40 µs (the parser's
        advance, interning, lexer start) against a few µs of walking; a configuration of
        Python code has dozens of groups, a new JSON Schema object's a few. Returns the
        groups left to the Python path, or None when neither walker takes p. The C path
        walks where the Python one would gather from the next configuration's pair (when
        that pair exists): both are exact, so the bits are the same."""
        node, indents, parens = self._sim_stack(p)
        if node < 0 and self.parser_kind == "lalr":
            return None         # (several stacks: windows' lexemes need `_after`'s `began`)
        emits = info.link_emits if linked else info.walk_emits
        if not emits.shape[0]:
            return []
        if linked:
            arrays = (info.link_offsets, info.link_start, info.link_end, info.link_tokens)
        else:
            arrays = (info.walk_ranges, info.walk_start, info.walk_end, info.walk_tokens)
        if node < 0:            # Earley: lexemes handed over through the boundary memo
            return _kernels.cfg_compose_groups(
                self, self.trie.concat, emits, *arrays, p, lx, sure, deep, linked,
                self._suffix_walks, self._walked_before, _SPLIT_GROUP, _WALK_GROUP)
        with self._lock:        # the C walker is not reentrant
            return _kernels.lalr_compose_groups(
                self._lalr_sim(), self.trie.concat, emits, *arrays, node, lx, sure, deep,
                np.array(indents, np.int32) if indents else None, parens, linked,
                self._suffix_walks, self._walked_before, _SPLIT_GROUP, _WALK_GROUP)

    def _walk_group(self, key: tuple[int, int, int, bool], after: tuple[int, int, int],
                    spos: np.ndarray, epos: np.ndarray, tokens: np.ndarray,
                    ranges: tuple[np.ndarray, np.ndarray] | None, sure: np.ndarray,
                    deep: np.ndarray) -> None:
        """Walk a straddler group's suffixes (entries `ranges` of spos/epos/tokens) from the
        configuration `after` its lexeme. Walking a suffix from the fresh lexer state does
        not involve the parser until it ends another lexeme, so that walk is cached per `key`
        (lexer state, group, fresh lexer state, linked?): its live tokens are OR-ed in and
        only the entries that reach a further boundary are walked with the parser (in
        Cython). `ranges` may be None when the walk is cached."""
        cached = self._suffix_walks.get(key)
        if cached is None:
            assert ranges is not None
            cached = self._suffix_walks[key] = _kernels.walk_suffix_ranges(
                self.lexer.trans, self.lexer.emit, self.trie.concat, spos, epos, tokens,
                ranges[0], ranges[1], after[1])
        live, pending = cached[0], cached[1]    # (a third item: the LALR kernel's `_Kinds`)
        if live.dtype == np.uint32:         # many live tokens: kept as mask words
            sure |= live
        elif live.shape[0]:
            _kernels.ids_to_mask(live, sure)
        if pending.shape[0]:
            self._walk_entries(after[0], after[1], spos, epos, tokens, (pending, pending + 1),
                               sure, deep)

    def _walk_ids(self, p: int, lx: int, ids: np.ndarray, sure: np.ndarray,
                  deep: np.ndarray) -> None:
        """Walk whole tokens from configuration (p, lx): a real stack's deep tokens, or the
        tokens after a lexeme when that configuration's mask cannot be used (a cycle of
        configurations, recursion too deep)."""
        if ids.shape[0]:
            starts, ends = self._token_spans(ids)
            self._walk_entries(p, lx, starts, ends, ids, _one_range(ids.shape[0]), sure, deep)

    def _walk_entries(self, p: int, lx: int, spos: np.ndarray, epos: np.ndarray,
                      tokens: np.ndarray, ranges: tuple[np.ndarray, np.ndarray],
                      sure: np.ndarray, deep: np.ndarray) -> None:
        """Walk entries i in the index `ranges` (concat[spos[i]:epos[i]], token tokens[i])
        from (p, lx): alive ones into `sure`, those reading below a window into `deep`. LALR
        stacks are simulated in C (`_kernels.LalrSim`); other parsers, and entries with a
        lexeme of several kinds, call the parser in Python at each new boundary."""
        node, indents, parens = self._sim_stack(p)
        if node >= 0:
            undecided = _kernels.lalr_walk_tokens(
                self._lalr_sim(), self.trie.concat, spos, epos, tokens, ranges[0], ranges[1],
                node, lx, sure, deep, np.array(indents, np.int32) if indents else None, parens)
            if not undecided:
                return
            left = np.array(undecided, np.int64)
            ranges = (left, left + 1)
        _kernels.cfg_walk_ranges(self, self.trie.concat, spos, epos, tokens, ranges[0],
                                 ranges[1], p, lx, sure, deep)

    def _sim_stack(self, p: int) -> tuple[int, tuple[int, ...], int]:
        """(LR stack node, indentation stack, bracket depth) of parser state p for the C
        walker; node -1 when it cannot take p (no LALR walker, or several stacks)."""
        if not self._sim_ok:
            return -1, (), 0
        sid, indents, parens = self.parser.stack_of(p)
        return self.earley.single_node(sid), indents, parens

    def _lalr_sim(self) -> Any:
        """The C walker over the current LALR tables, nodes and lexeme kinds. It is kept
        between masks (its memo of steps and lexer starts stays true as the parser grows)
        and renewed when its own stacks pass `_SIM_NODES`. Its array views are renewed only
        when an array was reallocated or a lexeme kind added: growth within an array's
        capacity is seen through the views it holds."""
        sim = self._sim
        kinds_stale = (not self._emit_tables
                       or self._emit_tables[0].shape[0] != len(self.lexer.emits))
        if (sim is not None and sim.local_nodes <= _SIM_NODES and not kinds_stale
                and self._sim_seen[0] is self.earley.node_parents
                and self._sim_seen[1] is self.lexer.trans):
            return sim          # nothing reallocated or added since the last call
        if kinds_stale:
            self._emit_tables = self._lexeme_kinds()
        tables = self.earley.c_tables()
        if sim is None or sim.local_nodes > _SIM_NODES:
            cfg = self.parser.indent
            sim = self._sim = _kernels.LalrSim(
                self, *tables, self._emit_tables, self._starts_by_bits,
                None if cfg is None else (cfg.newline, cfg.indent, cfg.dedent))
        else:
            sim.update(tables[4], tables[5], self._emit_tables)
        self._sim_seen = (tables[4], self.lexer.trans)
        return sim

    def _lexeme_kinds(self) -> tuple[np.ndarray, ...]:
        """`LalrSim`'s tables of the lexer's emits: terminal (-1 ignored, -3 several, listed
        in the last two arrays, -4 the Python walker's: a newline among several kinds), a
        newline's indentation width, and 1/2 for a lexeme that opens/closes a bracket."""
        cfg = self.parser.indent
        term, aux, bracket, off, several = [], [], [], [0], []
        for e in self.lexer.emits:
            ts = e.terminals
            if e.ignored:
                term.append(-1)
            elif len(ts) == 1:
                term.append(next(iter(ts)))
            elif cfg is not None and cfg.newline in ts:
                term.append(-4)
            else:
                term.append(-3)
                several.extend(sorted(ts))
            off.append(len(several))
            aux.append(e.aux)
            bracket.append(0 if cfg is None else 1 if ts & cfg.open_brackets
                           else 2 if ts & cfg.close_brackets else 0)
        return tuple(np.array(a, np.int32) for a in (term, aux, bracket, off, several))

    def _lex_start_bits(self, bits: int) -> int:
        """The lexer start state where the terminals of `bits` can shift (for `LalrSim`)."""
        allowed = frozenset(t for t in range(len(self.terminal_names)) if bits >> t & 1)
        found = self._starts_by_bits[bits] = \
            self.lexer.start(self.parser.candidates_for(allowed))
        return found

    # -- reporting -------------------------------------------------------------------------
    def expected_terminals(self, state: int) -> list[str]:
        """Names of the terminals the grammar accepts next from `state` (for error messages)."""
        p, lx = self._configs[state]
        if not self.lexer.is_start[lx]:
            alive = self.lexer.alive_terminals(lx)
            return sorted(self.terminal_names[t] for t in alive)
        return sorted(self.terminal_names[t] for t in self.parser.expected(p))

    def memory_bytes(self) -> int:
        lex = sum(m.memory_bytes() for m in list(self._lex_masks.values()))
        return lex + self._interner.nbytes + self.lexer.memory_bytes()

    def stats(self) -> dict[str, Any]:
        g = self.grammar.stats()
        return {
            "kind": self.kind,
            "rules": g.get("rules"),
            "terminals": len(self.terminal_names),
            "compile_ms": round(self.compile_seconds * 1e3, 3),
            "vocab_size": self.vocab_size,
            "parser": self.parser_kind,
            "warnings": list(self.warnings),
            "parser_states": self.parser.num_states,
            "stack_states": self.earley.num_states,
            "lexer_states": self.lexer.num_states,
            "lexer_states_scanned": len(self._lex_masks),
            "configurations": len(self._configs),
            "masks_computed": len(self._masks),
            "window_masks": len(self._pairs),
            "deep_rechecks": self.deep_rechecks,
            "window_misses": self.window_misses,
            "windows_precomputed": self.windows_precomputed,
            "indent_scans": self.indent_scans,
            "unique_masks": self._interner.count,
            "memory_bytes": self.memory_bytes(),
        }

    def precompute_masks(self, limit: int | None = None) -> int:
        """Compute every window configuration's mask now (LALR grammars without an indenter
        or bounded whitespace): each top of stack the grammar allows
        (`LalrParser.window_paths`) with each lexer state a lexeme can be in there. A real
        configuration's first mask is then a lookup and a recheck of its deep tokens instead
        of a composition of hundreds of µs. A window whose lexeme end reads below it also
        gets the windows `_DEEPER` LR states deeper that `_virtual_config` maps its stacks
        to (Lark's JSON grammar: 2,062 + 2,220 windows in ~0.6 s).
        Returns how many window configurations were computed: 0 when the grammar has no
        windows or more than `limit` (default `Limits.precompute_windows`); masks are then
        computed on first use, as always for Earley and indented grammars."""
        limit = self.limits.precompute_windows if limit is None else limit
        with self._lock:
            if not self._has_windows(limit):
                return 0
            pred = self.earley.predecessors()
            windows = self._window_configs(limit, pred)
            if not windows:
                return 0
            for c in windows:
                self._precompute_window(c)
            count = len(windows) + self._precompute_deeper(windows, pred, limit - len(windows))
        self.windows_precomputed += count
        return count

    def _precompute_indent_scans(self) -> int:
        """Scan now the lexer states of a newline followed by 0 to `_INDENT_WIDTHS` spaces
        (grammars behind Python's indenter). Each is a lone state of the newline terminal,
        one per width, and its scan holds every space-led token as a straddler (~60k): 2–4
        ms, which used to land in the first mask that ended a token inside an indentation
        of that width, among a Python text's slowest. Returns how many were scanned."""
        cfg = self.parser.indent
        term = None if cfg is None else self.lexer.terminals.get(cfg.newline)
        if term is None:
            return 0
        count, q = 0, int(term.trans[0, ord("\n")])
        with self._lock:
            while q >= 0 and count <= _INDENT_WIDTHS:
                self.lex_masks(self.lexer.terminal_state(cfg.newline, q))
                count += 1
                q = int(term.trans[q, ord(" ")])
        return count

    def _precompute_deeper(self, windows: dict[int, tuple[int, ...]], pred: list[list[int]],
                           limit: int) -> int:
        """Windows whose lexeme end reads below them: their windows `_DEEPER` LR states
        deeper (`_virtual_config`), level by level (`_DEEPER_LEVELS`) while such windows
        remain and the limit allows each level whole. Returns how many were computed."""
        count = 0
        for level in range(1, _DEEPER_LEVELS + 1):
            deeper: list[tuple[tuple[int, ...], int]] = []     # (LR path, lexer state)
            for c, path in windows.items():
                if c in self._f0_deferred:
                    deeper.extend((q, self._configs[c][1])
                                  for q in self._deeper_paths(path, pred, limit))
                    if count + len(deeper) > limit:
                        return count
            if not deeper:
                break
            windows = {}
            for q, lx in deeper:
                c = self._config(self._path_state(q), lx)
                self._precompute_window(c)
                windows[c] = q
            count += len(deeper)
            self._deeper_levels = level
        return count

    def _precompute_window(self, c: int) -> None:
        checkpoint("precomputing window masks")
        if self._window(c) is None:
            self._pairs.setdefault(c, None)     # refused, as `_exact_mask` records it

    def _has_windows(self, limit: int) -> bool:
        """Can `precompute_masks` enumerate this grammar's windows (LALR under the C walker,
        no indenter, windows on, a limit above 0)?"""
        return (self._sim_ok and self.parser.indent is None and self.limits.mask_window > 0
                and limit > 0)

    def _window_configs(self, limit: int,
                        pred: list[list[int]]) -> dict[int, tuple[int, ...]]:
        """The window configurations `precompute_masks` computes, with their LR paths (none
        past `limit`); `pred`: the LR automaton's predecessors."""
        paths = self.earley.window_paths(self.limits.mask_window, limit)
        if paths is None:
            return {}
        out: dict[int, tuple[int, ...]] = {}
        for path in paths:
            checkpoint("enumerating window configurations")
            p = self._path_state(path)
            for lx0 in self._window_starts(path, pred):
                out.update((self._config(p, lx), path) for lx in self.lexer.lexeme_states(lx0))
            if len(out) > limit:
                return {}
        return out

    def _deeper_paths(self, path: tuple[int, ...], pred: list[list[int]],
                      limit: int) -> list[tuple[int, ...]]:
        """The tops of 2 * `mask_window` LR states of the stacks topped by `path`, and the
        whole stacks below that height (they start at the start state); [] past `limit`."""
        start = self.earley.start_lr
        level: list[tuple[int, ...]] = [path]
        whole: list[tuple[int, ...]] = []
        for _ in range(_DEEPER):
            nxt: list[tuple[int, ...]] = []
            for q in level:
                if q[0] == start:
                    whole.append(q)
                nxt.extend((s,) + q for s in pred[q[0]])
            level = nxt
            if len(level) + len(whole) > limit:
                return []
        return whole + level

    def _path_state(self, path: tuple[int, ...]) -> int:
        return self.parser.with_stack(self.parser.initial, self.earley.path_state(path))

    def _window_starts(self, path: tuple[int, ...], pred: list[list[int]]) -> set[int]:
        """The lexer start states of the real stacks topped by `path`: the window's own when
        its allowed terminals are read within it, else those of the windows one, two, ...
        (`_START_DEPTH`) LR states deeper. A start found only deeper still leaves that
        window to be computed on first use."""
        starts: set[int] = set()
        level = [path]
        for _ in range(_START_DEPTH + 1):
            deeper: list[tuple[int, ...]] = []
            for q in level:
                try:
                    starts.add(self.lex_start(self._path_state(q)))
                except DeepRead:
                    deeper.extend((s,) + q for s in pred[q[0]])
            level = deeper[:_START_PATHS]
            if not level:
                break
        return starts


# ---------------------------------------------------------------------------------------------
_NO_IDS = np.zeros(0, np.int32)


def _one_range(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The index range [0, n) in the (starts, ends) form the walkers take."""
    return np.zeros(1, np.int64), np.array([n], np.int64)


def _productions(g: Grammar, limits: Limits) -> tuple[list[str], Productions]:
    """Integer productions: terminals first (every IR terminal), then rules; production 0 is
    the augmented start."""
    if len(g.rules) > limits.max_grammar_rules:
        raise LimitExceededError("max_grammar_rules", len(g.rules), limits.max_grammar_rules,
                                 "the grammar has too many rules")
    terms = list(g.terminals)
    tid = {n: i for i, n in enumerate(terms)}
    nts = {n: len(terms) + 1 + i for i, n in enumerate(g.rules)}
    aug = len(terms)
    lhs, rhs = [aug], [(nts[g.start],)]
    for name, rule in g.rules.items():
        for alt in rule.alternatives:
            lhs.append(nts[name])
            rhs.append(tuple(tid[s] if s in tid else nts[s] for s in alt))
    return terms, Productions(len(terms), tuple(lhs), tuple(rhs), len(terms) + 1 + len(nts))


def _parser(kind: str, prods: Productions, terminals: list[str], rules: list[str],
            limits: Limits, exact: bool = False) -> tuple[EarleyParser | LalrParser, str]:
    """"lalr": Lark's LALR(1) table (error if the grammar has reduce/reduce conflicts);
    "earley": any CFG; "auto": LALR when the table builds, else Earley. With `exact` (a
    scannerless grammar: GBNF, whose language is the grammar's own, not Lark's lalr one)
    "auto" also takes Earley when the table resolves shift/reduce conflicts."""
    if kind not in ("auto", "lalr", "earley"):
        raise GrammarError(f"parser must be 'auto', 'lalr' or 'earley', got {kind!r}")
    if kind != "earley":
        try:
            lalr = LalrParser(prods, terminals, rules, max_parser_states=limits.max_parser_states)
            if not (exact and kind == "auto" and lalr.conflicts):
                return lalr, "lalr"
        except LalrUnavailable as exc:
            if kind == "lalr":
                raise GrammarError(f"the grammar is not LALR(1): {exc}") from exc
    return EarleyParser(prods, max_parser_items=limits.max_parser_items,
                        max_parser_states=limits.max_parser_states), "earley"


def _indent_config(g: Grammar, tid: dict[str, int]) -> IndentConfig | None:
    declared = {n for n, t in g.terminals.items() if t.pattern is None}
    newline = next((n for n in _NEWLINE_NAMES if n in g.terminals
                    and g.terminals[n].pattern is not None), None)
    if newline is None or not {"_INDENT", "_DEDENT"} <= declared:
        return None
    opens = frozenset(tid[n] for n, t in g.terminals.items() if t.literal in _OPEN)
    closes = frozenset(tid[n] for n, t in g.terminals.items() if t.literal in _CLOSE)
    return IndentConfig(tid[newline], tid["_INDENT"], tid["_DEDENT"], opens, closes)


def _lex_terminals(g: Grammar, tid: dict[str, int], indent: IndentConfig | None,
                   limits: Limits) -> list[LexTerminal]:
    out = []
    ignore = set(g.ignore)
    for name, t in g.terminals.items():
        if t.pattern is None:
            continue
        try:
            dfa = t.dfa if t.dfa is not None else compile_regex_dfa(t.pattern, limits)
        except GrammarError as exc:
            raise GrammarError(f"terminal {name}: {exc.message}",
                               name=str(t.origin or name)) from exc
        if dfa.accepting[dfa.start]:
            raise GrammarError(f"terminal {name} matches the empty string; make its uses "
                               f"optional instead", name=str(t.origin or name))
        trans, acc, aux = dfa.trans, dfa.accepting, None
        if indent is not None and tid[name] == indent.newline:
            trans, acc, aux = _counting_dfa(trans, acc, indent.tab_len, limits.max_indent)
        literal = t.literal is not None and not g.scannerless    # GBNF: ties keep all kinds
        out.append(LexTerminal(tid[name], name, trans, acc, t.priority, literal,
                               name in ignore, aux))
    return out


def _counting_dfa(trans: np.ndarray, accepting: np.ndarray, tab_len: int,
                  max_indent: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The product of a newline terminal's DFA with Lark's indentation count of the lexeme's
    last line (spaces + tab_len per tab after the last newline), capped at `max_indent`. A
    lexeme without a line break (a lone comment at the end of the text) is not a newline —
    Lark's indenter cannot take one either — so such states do not accept (count -1)."""
    ids = {(0, -1): 0}
    todo = [(0, -1)]
    rows: list[list[int]] = []
    while todo:
        q, c = todo.pop(0)
        row = [-1] * 256
        for b in range(256):
            q2 = int(trans[q, b])
            if q2 < 0:
                continue
            c2 = 0 if b == 10 else c if c < 0 else c + 1 if b == 32 else c + tab_len if b == 9 else c
            if c2 > max_indent:
                continue
            key = (q2, c2)
            if key not in ids:
                ids[key] = len(ids)
                todo.append(key)
            row[b] = ids[key]
        rows.append(row)
    keys = sorted(ids, key=ids.get)
    acc = np.array([bool(accepting[q]) and c >= 0 for q, c in keys], dtype=np.bool_)
    aux = np.array([c for _, c in keys], dtype=np.int32)
    return np.array(rows, dtype=np.int32), acc, aux
