"""Dense integer ids for hashable keys — how parser states, stack nodes, configurations and
lexeme kinds become the ints the matcher and the Cython walkers pass around."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")


class Interner(Generic[K]):
    """Stable ids 0, 1, 2, … in order of first sight. `keys` is the id -> key list (safe to
    alias: it only grows). Lookups take no lock; adding does, so threads agree on ids."""

    __slots__ = ("keys", "_ids", "_lock")

    def __init__(self, lock: threading.Lock | threading.RLock | None = None) -> None:
        self.keys: list[K] = []
        self._ids: dict[K, int] = {}
        self._lock = lock if lock is not None else threading.Lock()

    def __len__(self) -> int:
        return len(self.keys)

    def get(self, key: K) -> int | None:
        return self._ids.get(key)

    def id_of(self, key: K, on_new: Callable[[K], None] | None = None) -> int:
        """The id of `key`, adding it if new; `on_new(key)` runs first (under the lock), to
        check a limit or extend arrays kept in parallel with the ids."""
        found = self._ids.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._ids.get(key)
            if found is None:
                if on_new is not None:
                    on_new(key)
                found = len(self.keys)
                self.keys.append(key)
                self._ids[key] = found
        return found
