"""Turn a small finite automaton over JSON members into grammar rules (objects and arrays
share this): explore it from its start state, keep the states from which an accepting one is
reachable (so every prefix the grammar allows can be completed), and write one rule per state:
the empty alternative where it accepts, and `[sep] member next-state` per move (`sep`, the
item separator, once a member has been written)."""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

from ...errors import SchemaError

if TYPE_CHECKING:
    from .builder import GrammarBuilder

Move = tuple[str | None, Hashable]          # (member symbol, or None for a silent skip; next)


def automaton_rules(b: GrammarBuilder, start: Hashable, moves: Callable[[Hashable], list[Move]],
                    accepts: Callable[[Hashable], bool], started: Callable[[Hashable], bool],
                    limit: int, what: str, sep: str | None = None) -> str | None:
    """The start rule's name; '' when only the empty body is allowed; None when nothing is.
    More than `limit` states raise `SchemaError` naming `what` (the option that bounds it).
    `sep`: the separator terminal (default: the item separator)."""
    graph: dict[Hashable, list[Move]] = {}
    todo = deque([start])
    while todo:
        s = todo.popleft()
        if s in graph:
            continue
        if len(graph) >= limit:
            raise SchemaError(f"the {what.split('_')[1]} automaton needs more than {limit} "
                              f"states ({what})", "#")
        graph[s] = moves(s)
        todo.extend(t for _, t in graph[s] if t not in graph)
    live = live_states(graph, accepts)
    if start not in live:
        return None
    if not any(graph[s] for s in live):
        return ""
    names = {s: b._new_rule() for s in live}
    sep = sep or b._punct[","]
    for s in live:
        alts: list[tuple[str, ...]] = [()] if accepts(s) else []
        for sym, t in graph[s]:
            if t not in live:
                continue
            if sym is None:
                alts.append((names[t],))
            else:
                alts.append(((sep, sym) if started(s) else (sym,)) + (names[t],))
        b.rules[names[s]] = alts
    return names[start]


def live_states(graph: dict[Hashable, list[Move]],
                accepts: Callable[[Hashable], bool]) -> set[Hashable]:
    """States from which an accepting state is reachable."""
    back: dict[Hashable, list[Hashable]] = {}
    for s, out in graph.items():
        for _, t in out:
            back.setdefault(t, []).append(s)
    live = {s for s in graph if accepts(s)}
    todo = list(live)
    while todo:
        for p in back.get(todo.pop(), []):
            if p not in live:
                live.add(p)
                todo.append(p)
    return live
