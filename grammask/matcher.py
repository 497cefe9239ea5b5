"""`Matcher`: the per-sequence state of constrained decoding over a `CompiledGrammar`.

One matcher per generated sequence; the compiled grammar it reads is shared and immutable.
The matcher keeps the state after every accepted token, so `rollback` (speculative decoding,
jump-forward retokenisation) is O(n) and `fork` (beam search, SMC particles) is one list copy."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .compiled_grammar import DEAD, TERMINATED, EngineBase
from .errors import InvalidTokenError, MatcherError
from .kernels import _kernels, as_uint32_rows, bitmask_words
from .mask_cache.mask_store import KIND_ALLOW, StoredMask


class Matcher:
    """Tracks one sequence against a compiled grammar.

    max_rollback_tokens: how many accepted tokens `rollback` can undo (None: all). Older
    history is dropped to bound memory on very long generations."""

    def __init__(self, compiled: EngineBase, *, max_rollback_tokens: int | None = None) -> None:
        if not isinstance(compiled, EngineBase):
            raise MatcherError(f"Matcher needs a CompiledGrammar, got {type(compiled).__name__}")
        if max_rollback_tokens is not None and max_rollback_tokens < 0:
            raise MatcherError("max_rollback_tokens must be >= 0 or None")
        self.compiled = compiled
        self.max_rollback_tokens = max_rollback_tokens
        info = compiled.tokenizer_info
        self._token_bytes = info.token_bytes
        self._eos = frozenset(info.eos_token_ids)
        self._vocab_size = info.vocab_size
        self._history: list[int] = [compiled.initial_state()]

    # -- state ---------------------------------------------------------------------------------
    @property
    def state(self) -> int:
        return self._history[-1]

    def is_terminated(self) -> bool:
        """True once a stop token was accepted (the sequence is complete)."""
        return self._history[-1] == TERMINATED

    def can_terminate(self) -> bool:
        """True when the text so far is a complete string of the language (EOS allowed)."""
        s = self._history[-1]
        return s == TERMINATED or self.compiled.is_accepting(s)

    def reset(self) -> None:
        """Back to the start of a new sequence."""
        self._history = [self.compiled.initial_state()]

    def fork(self) -> Matcher:
        """An independent copy at the same position (shares the compiled grammar)."""
        other = Matcher.__new__(Matcher)
        other.__dict__.update(self.__dict__)
        other._history = list(self._history)
        return other

    # -- advancing -----------------------------------------------------------------------------
    def _check_id(self, token_id: Any) -> int:
        if isinstance(token_id, (bool, np.bool_)) or not isinstance(token_id, (int, np.integer)):
            raise InvalidTokenError(f"token id must be an int, got {type(token_id).__name__}")
        tid = int(token_id)
        if not 0 <= tid < self._vocab_size:
            raise InvalidTokenError(f"token id {tid} out of range [0, {self._vocab_size})")
        return tid

    def _next_state(self, state: int, tid: int) -> int:
        """State after token `tid` from `state` (TERMINATED for an allowed stop token)."""
        if state == TERMINATED:
            return DEAD
        if tid in self._eos:
            return TERMINATED if self.compiled.is_accepting(state) else DEAD
        data = self._token_bytes[tid]
        if data is None:
            return DEAD
        return self.compiled.advance(state, data)

    def _push(self, state: int) -> None:
        self._history.append(state)
        limit = self.max_rollback_tokens
        if limit is not None and len(self._history) > limit + 1:
            del self._history[: len(self._history) - limit - 1]

    def accept_token(self, token_id: int) -> bool:
        """Advance by one token if the grammar allows it; False leaves the state unchanged.
        Raises `InvalidTokenError` for ids outside [0, vocab_size) and `MatcherError` after
        termination."""
        tid = self._check_id(token_id)
        if self.is_terminated():
            raise MatcherError("matcher is terminated (a stop token was accepted); call "
                               "reset() or rollback() before accepting more tokens")
        nxt = self._next_state(self._history[-1], tid)
        if nxt == DEAD:
            return False
        self._push(nxt)
        return True

    def accept_string(self, text: str | bytes) -> bool:
        """Advance by raw text (e.g. a jump-forward string) as one rollback step."""
        if isinstance(text, str):
            try:
                data = text.encode("utf-8")
            except UnicodeEncodeError as exc:       # a lone surrogate: no UTF-8 spells it
                raise MatcherError(f"accept_string: text is not valid Unicode ({exc.reason}, "
                                   f"index {exc.start})") from None
        elif isinstance(text, (bytes, bytearray)):
            data = bytes(text)
        else:
            raise MatcherError(f"accept_string takes str or bytes, got {type(text).__name__}")
        if self.is_terminated():
            raise MatcherError("matcher is terminated; call reset() or rollback() first")
        nxt = self.compiled.advance(self._history[-1], data)
        if nxt == DEAD:
            return False
        self._push(nxt)
        return True

    def validate_tokens(self, token_ids: Iterable[int]) -> int:
        """How many leading tokens of `token_ids` the grammar accepts in sequence, without
        changing the matcher (for speculative-decoding drafts)."""
        state = self._history[-1]
        count = 0
        for token_id in token_ids:
            state = self._next_state(state, self._check_id(token_id))
            if state == DEAD:
                break
            count += 1
        return count

    def rollback(self, num_tokens: int = 1) -> None:
        """Undo the last `num_tokens` accepted tokens/strings."""
        if num_tokens < 0 or num_tokens >= len(self._history):
            raise MatcherError(f"cannot roll back {num_tokens} tokens: {len(self._history) - 1} "
                               f"can be undone")
        if num_tokens:
            del self._history[-num_tokens:]

    @property
    def num_accepted(self) -> int:
        """Accepted steps still available to `rollback`."""
        return len(self._history) - 1

    # -- masks ---------------------------------------------------------------------------------
    def stored_mask(self) -> StoredMask:
        """The compact mask of the current state (terminated: only stop tokens)."""
        s = self._history[-1]
        if s == TERMINATED:
            ids = np.asarray(sorted(self._eos), dtype=np.uint32)
            return StoredMask(KIND_ALLOW, ids, len(ids))
        return self.compiled.mask(s)

    def fill_next_token_bitmask(self, bitmask: Any, index: int = 0) -> bool:
        """Write the allowed next tokens into row `index` of an int32 `[batch, ceil(V/32)]`
        bitmask (numpy or CPU torch). Returns False when every token is allowed (nothing to
        apply). A terminated matcher allows only its stop tokens."""
        m = self.stored_mask()
        if not _kernels.fill_row_fast(m.kind, m.data, bitmask, index, self._vocab_size):
            rows = as_uint32_rows(bitmask, self._vocab_size)    # checked, or a clear error
            if not 0 <= index < rows.shape[0]:
                raise MatcherError(f"bitmask row {index} out of range for {rows.shape[0]} rows")
            _kernels.fill_row(m.kind, m.data, rows, index, self._vocab_size)
        return m.allowed < self._vocab_size

    def allowed_token_ids(self) -> np.ndarray:
        """Sorted ids of the allowed next tokens (convenience; slower than a bitmask)."""
        rows = np.zeros((1, bitmask_words(self._vocab_size)), dtype=np.int32)
        self.fill_next_token_bitmask(rows)
        bits = np.unpackbits(rows.view(np.uint8), bitorder="little")[: self._vocab_size]
        return np.flatnonzero(bits)

    # -- jump-forward --------------------------------------------------------------------------
    def find_forced_bytes(self) -> bytes:
        """Bytes that every valid continuation starts with (may end inside a UTF-8 char)."""
        s = self._history[-1]
        return b"" if s == TERMINATED else self.compiled.forced_bytes(s)

    def find_jump_forward_string(self) -> str:
        """The forced continuation as text, cut to whole UTF-8 characters."""
        data = self.find_forced_bytes()
        for cut in range(len(data), max(len(data) - 4, -1), -1):
            try:
                return data[:cut].decode("utf-8")
            except UnicodeDecodeError:
                continue
        return ""

    def forced_tokens(self) -> list[int]:
        """Tokens that spell a prefix of the forced bytes, longest token first at each step.
        They are valid to append without sampling; their tokenisation need not be canonical."""
        data, out = self.find_forced_bytes(), []
        trie = self.compiled.trie
        while data:
            tid, n = trie.longest_token_prefix(data)
            if tid < 0:
                break
            out.append(tid)
            data = data[n:]
        return out


def fill_next_token_bitmask_batch(matchers: Sequence[Matcher], bitmask: Any,
                                  indices: Sequence[int] | None = None) -> None:
    """Fill one bitmask row per matcher (row `indices[i]`, default `i`). Masks not yet
    memoised are computed first; the copy into the bitmask runs in one call without the GIL."""
    if not matchers:
        return
    vocab = matchers[0]._vocab_size
    if any(m._vocab_size != vocab for m in matchers):
        raise MatcherError("all matchers in a batch must share one vocabulary size")
    rows = as_uint32_rows(bitmask, vocab)
    idx = np.arange(len(matchers), dtype=np.int64) if indices is None \
        else np.asarray(list(indices), dtype=np.int64)
    if idx.shape != (len(matchers),):
        raise MatcherError(f"indices must have one entry per matcher ({len(matchers)})")
    if idx.min() < 0 or idx.max() >= rows.shape[0]:
        raise MatcherError(f"indices {idx.tolist()} out of range for {rows.shape[0]} bitmask rows")
    stored = [m.stored_mask() for m in matchers]
    _kernels.fill_rows(np.fromiter((s.kind for s in stored), np.int64, len(stored)),
                       np.fromiter((s.address for s in stored), np.int64, len(stored)),
                       np.fromiter((s.data.shape[0] for s in stored), np.int64, len(stored)),
                       idx, rows, vocab)
