"""Arrays: an automaton over (items so far, items matching `contains` so far), both
saturating, so `prefixItems`, `items`, `minItems`/`maxItems` and `contains` with
`minContains`/`maxContains` are exact. `uniqueItems: true` is not context-free and is refused
(naming the schema path) unless at most one item is allowed."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import SchemaError
from .automaton_rules import automaton_rules
from .constraints import Constraints, Sub

if TYPE_CHECKING:
    from .builder import GrammarBuilder

State = tuple[int, int]              # (items so far, capped; contains matches so far, capped)


def array_alternatives(b: GrammarBuilder, c: Constraints) -> list[tuple[str, ...]]:
    unique, where = c.unique_items
    if unique and (c.max_items is None or c.max_items > 1):
        raise SchemaError("uniqueItems: true cannot be enforced by a grammar (grammask refuses "
                          "it rather than ignore it)", where)
    body = _ArrayAutomaton(b, c).rules()
    if body is None:
        return []
    p = b._punct
    return [(p["["], body, p["]"])] if body else [(p["["], p["]"])]


class _ArrayAutomaton:
    def __init__(self, b: GrammarBuilder, c: Constraints) -> None:
        self.b, self.c = b, c
        self.k = len(c.prefix_items)
        self.closed = any(s is False for s, _ in c.items)          # no items after the prefix
        self.min_c = 0
        self.max_c: int | None = None
        if c.contains:
            self.min_c = 1 if c.min_contains is None else c.min_contains
            self.max_c = c.max_contains
        self.cap = max(1, self.k, c.min_items, (c.max_items + 1) if c.max_items is not None else 0)
        self.ccap = (self.max_c + 1) if self.max_c is not None else self.min_c
        self._elements: dict[tuple[int, bool | None], str | None] = {}

    def _subs(self, j: int) -> list[Sub]:
        """The schemas of the item at position j (capped at the prefix length): prefixItems,
        items, and each unevaluatedItems whose scope leaves position j unevaluated (an item
        one of its scope's `contains` matches is evaluated, hence the choice `either`)."""
        subs = list(self.c.prefix_items[j]) if j < self.k else []
        if j >= self.c.items_after:
            subs += self.c.items
        for u in self.c.unevaluated_items:
            if not u.everything and j >= u.prefix:
                subs.append(self.b.collector.either(u.contains, u.sub) if u.contains
                            else u.sub)
        return subs

    def _element(self, j: int, counted: bool | None) -> str | None:
        """The element rule at position j (capped): plain (counted None), matching `contains`
        (True) or, when maxContains is set, not matching it (False)."""
        key = (min(j, self.k), counted)
        if key not in self._elements:
            subs = self._subs(min(j, self.k))
            if any(s is False for s, _ in subs):
                self._elements[key] = None
            else:
                if counted is True:
                    subs = subs + list(self.c.contains)
                elif counted is False:
                    schema, where = self.c.contains[0]
                    negated = {"not": schema}
                    self.b.collector.keep.append(negated)
                    subs = subs + [(negated, where)]
                self._elements[key] = self.b.value(subs or [(True, "#")])
        return self._elements[key]

    def _moves(self, s: State) -> list[tuple[str, State]]:
        n, cc = s
        if self.c.max_items is not None and n >= self.c.max_items:
            return []
        if n >= self.k and self.closed:
            return []
        nxt = min(n + 1, self.cap)
        out = []
        if self.c.contains and (self.max_c is None or cc < self.ccap):
            e = self._element(n, True)
            if e is not None:
                out.append((e, (nxt, min(cc + 1, self.ccap))))
        counted = False if self.max_c is not None else None
        e = self._element(n, counted)
        if e is not None:
            out.append((e, (nxt, cc)))
        self.b.long_strings.note_group(m for m, _ in out)     # an item may match either
        return [(e, t) for e, t in out if self.max_c is None or t[1] <= self.max_c]

    def _accepts(self, s: State) -> bool:
        n, cc = s
        return n >= self.c.min_items and cc >= self.min_c

    def rules(self) -> str | None:
        return automaton_rules(self.b, (0, 0), self._moves, self._accepts, lambda s: s[0] > 0,
                               self.b.options.max_array_states, "max_array_states")
