"""The engine interface shared by checks made at run time around a compiled grammar.

`unique_items.UniqueItemsCFG` and `max_length.MaxLengthCFG` each wrap an engine whose
grammar is a superset of the language (it cannot say "no two items are equal", or it leaves a
maxLength out) and follow the text in a `track` of their own. A state is the pair (inner
state, track); a text is taken when the inner engine takes it and the check keeps a track."""
from __future__ import annotations

import threading
from typing import Any, NamedTuple

import numpy as np

from .compiled_grammar import DEAD, EngineBase
from .mask_cache.mask_store import KIND_ALLOW, KIND_DENSE, StoredMask

__all__ = ["CheckedState", "RunTimeChecked", "allowed_among"]

_MAX_MEMO = 1 << 16         # entries a check's memo keeps (emptied past this)


class CheckedState(NamedTuple):
    inner: Any
    track: Any


class RunTimeChecked(EngineBase):
    """An engine around `inner`; subclasses give `_checked` and the initial `_track()`, and
    set `base` (the `CompiledCFG` underneath) and `_lock`. Everything but the engine
    interface is the inner engine's."""

    inner: Any
    base: Any
    _lock: threading.Lock

    def __getattr__(self, name: str) -> Any:      # stats, warnings, grammar, ...
        if name in ("inner", "base"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _track(self) -> Any:
        raise NotImplementedError

    def _checked(self, state: CheckedState, nxt: Any, data: bytes) -> Any | None:
        """The track after `data` from `state`, whose inner state becomes `nxt` (None: the
        check refuses `data`)."""
        raise NotImplementedError

    def initial_state(self) -> CheckedState:
        return CheckedState(self.inner.initial_state(), self._track())

    def advance(self, state: CheckedState, data: bytes) -> CheckedState | int:
        nxt = self.inner.advance(state.inner, data)
        if nxt == DEAD:
            return DEAD
        track = self._checked(state, nxt, data)
        return DEAD if track is None else CheckedState(nxt, track)

    def is_accepting(self, state: CheckedState) -> bool:
        return bool(self.inner.is_accepting(state.inner))

    def forced_bytes(self, state: CheckedState, limit: int = 4096) -> bytes:
        return self.inner.forced_bytes(state.inner, limit)

    def expected_terminals(self, state: CheckedState) -> list[str]:
        return self.inner.expected_terminals(state.inner)

    def _kept(self, memo: dict[Any, Any], key: Any, make: Any) -> Any:
        """`memo[key]`, `make()`d on a miss. The memo is emptied past `_MAX_MEMO` entries:
        states carry what the check follows (items seen, code points), so an endless
        generation would grow it forever."""
        found = memo.get(key)
        if found is None:
            found = make()
            with self._lock:
                if len(memo) >= _MAX_MEMO:
                    memo.clear()
                memo[key] = found
        return found

    def _lx(self, cfg_state: int) -> int:
        """The lexer state of a state of `base`."""
        return int(self.base._configs[cfg_state][1])

    def _without_failing(self, state: CheckedState, base: StoredMask, candidates: np.ndarray,
                         interner: Any, token_bytes: list[bytes | None]) -> StoredMask:
        """`base` (the inner mask at `state`) minus those of `candidates` (token ids, maybe
        repeated) that it allows and the check refuses."""
        bad = [t for t in np.unique(allowed_among(base, candidates)).tolist()
               if self.advance(state, token_bytes[t]) == DEAD]
        if not bad:
            return base
        words = interner.densify(base)
        for t in bad:
            words[t >> 5] &= ~np.uint32(1 << (t & 31))
        return interner.intern(words)


def allowed_among(mask: StoredMask, ids: np.ndarray) -> np.ndarray:
    """The ids of `ids` that `mask` allows."""
    if ids.size == 0:
        return ids
    if mask.kind == KIND_DENSE:
        return ids[((mask.data[ids >> 5] >> (ids & 31).astype(np.uint32)) & 1).astype(bool)]
    listed = np.isin(ids, mask.data)
    return ids[listed] if mask.kind == KIND_ALLOW else ids[~listed]
