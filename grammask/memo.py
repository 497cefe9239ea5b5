"""A memo bounded by the memory of what it holds, for caches of automata whose sizes range from
bytes to tens of megabytes (a `maxLength: 4000` string automaton), where a count-bounded
`functools.lru_cache` could hold gigabytes."""
from __future__ import annotations

import functools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def memo_by_bytes(max_bytes: int, size: Callable[[Any], int]) -> Callable[[F], F]:
    """Memoise a function of hashable arguments, least recently used out first once the
    values' `size` sum passes `max_bytes` (a value larger than the budget is not kept)."""
    def wrap(fn: F) -> F:
        entries: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        lock = threading.Lock()
        total = [0]

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            key = (args, tuple(sorted(kwargs.items())))
            with lock:
                hit = entries.get(key)
                if hit is not None:
                    entries.move_to_end(key)
                    return hit[0]
            value = fn(*args, **kwargs)
            n = size(value)
            if n <= max_bytes:
                with lock:
                    if key not in entries:
                        entries[key] = (value, n)
                        total[0] += n
                    while total[0] > max_bytes and entries:
                        _, (_, old) = entries.popitem(last=False)
                        total[0] -= old
            return value

        call.cache_clear = lambda: (entries.clear(), total.__setitem__(0, 0))  # type: ignore[attr-defined]
        return call  # type: ignore[return-value]
    return wrap


class ArrayMemo:
    """Values memoised by the *identity* of numpy arrays (weakly held, so a reused id of a
    freed array is not mistaken for it), the newest `size` entries kept. Identity, not
    content: hashing a long string's automaton costs milliseconds, and the JSON Schema
    compiler hands every grammar the same arrays for the same constraints."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[int, ...], tuple[tuple[weakref.ref, ...], Any]] = \
            OrderedDict()
        self._lock = threading.Lock()

    def get(self, arrays: tuple[Any, ...], make: Callable[[], T]) -> T:
        """The value for `arrays`, `make()`d on a miss."""
        key = tuple(id(a) for a in arrays)
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and all(r() is a for r, a in zip(hit[0], arrays)):
            return hit[1]  # type: ignore[no-any-return]
        value = make()
        with self._lock:
            self._entries[key] = (tuple(weakref.ref(a) for a in arrays), value)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value
