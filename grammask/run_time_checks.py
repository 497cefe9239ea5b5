"""The engine interface shared by checks made at run time around a compiled grammar.

`unique_items.UniqueItemsCFG` and `max_length.MaxLengthCFG` each wrap an engine whose
grammar is a superset of the language (it cannot say "no two items are equal", or it leaves a
maxLength out) and follow the text in a `track` of their own. A state is the pair (inner
state, track); a text is taken when the inner engine takes it and the check keeps a track."""
from __future__ import annotations

from typing import Any, NamedTuple

from .compiled_grammar import DEAD, EngineBase

__all__ = ["CheckedState", "RunTimeChecked"]


class CheckedState(NamedTuple):
    inner: Any
    track: Any


class RunTimeChecked(EngineBase):
    """An engine around `inner`; subclasses give `_checked` and the initial `_track()`.
    Everything but the engine interface is the inner engine's."""

    inner: Any

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
