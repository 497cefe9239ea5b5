"""Arrays: an automaton over (items so far, items matching each `contains` so far), all
saturating, so `prefixItems`, `items`, `minItems`/`maxItems` and every `contains` of the
conjunction with its `minContains`/`maxContains` are exact. An item's element says, per
`contains`, whether it counts for it (the item matches it), must not match it (one with a
maxContains: an item that matches is always counted), or leaves it open; one item may count
for several (`allOf [{contains: A}, {contains: B}]` takes `[x]` when x is both).

`uniqueItems: true` is not context-free: such an array is written with its own separator
terminal (`UNIQUE_SEPARATOR`: the same text as the other), and `grammask.unique_items` checks at
run time that no two items are equal; the lexer passes both kinds where a text may be read
either way, so the check knows whether a uniqueItems reading is alive. Items must be scalars
(each one lexeme), and no `contains` may stand beside it (the run-time check takes the array's
automaton state after an item to be the same whatever the item); other cases are refused,
naming the schema path (`GrammarBuilder.check_unique_items`)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import SchemaError
from .automaton_rules import automaton_rules
from .constraints import Constraints, Contains, Sub

if TYPE_CHECKING:
    from .builder import GrammarBuilder

# (items so far, capped; per `contains`, its matches so far, capped)
State = tuple[int, tuple[int, ...]]
# per `contains`: counted (the item matches it), False (it must not), None (either)
Choice = tuple[bool | None, ...]


def array_alternatives(b: GrammarBuilder, c: Constraints) -> list[tuple[str, ...]]:
    unique, where = c.unique_items
    unique = unique and (c.max_items is None or c.max_items > 1)
    if unique and c.contains:
        raise SchemaError("uniqueItems beside contains is not supported (grammask refuses it "
                          "rather than ignore it)", where)
    auto = _ArrayAutomaton(b, c)
    body = auto.rules(b.unique_separator() if unique else None)
    if body is None:
        return []
    p = b._punct
    if not body:
        return [(p["["], p["]"])]
    if unique:
        b.unique_elements.append(([e for e in auto._elements.values() if e is not None], where))
    return [(p["["], body, p["]"])]


class _ArrayAutomaton:
    def __init__(self, b: GrammarBuilder, c: Constraints) -> None:
        self.b, self.c = b, c
        self.k = len(c.prefix_items)
        self.closed = any(s is False for s, _ in c.items)          # no items after the prefix
        self.cap = max(1, self.k, c.min_items, (c.max_items + 1) if c.max_items is not None else 0)
        # a count saturates at its minimum (more matches change nothing) unless bounded above,
        # where it stops at the maximum (moves past it are not offered)
        self.ccaps = tuple(x.least if x.most is None else x.most for x in c.contains)
        self._elements: dict[tuple[int, Choice], str | None] = {}

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

    def _element(self, j: int, choice: Choice) -> str | None:
        """The element rule at position j (capped) for a choice per `contains`: the item
        matches it (True), does not (False) or either (None)."""
        key = (min(j, self.k), choice)
        if key not in self._elements:
            subs = self._subs(min(j, self.k))
            if any(s is False for s, _ in subs):
                self._elements[key] = None
            else:
                for x, counted in zip(self.c.contains, choice):
                    if counted is True:
                        subs.append(x.sub)
                    elif counted is False:
                        subs.append(self._negated(x))
                self._elements[key] = self.b.value(subs or [(True, "#")])
        return self._elements[key]

    def _negated(self, x: Contains) -> Sub:
        schema, where = x.sub
        return self.b.collector.negated_schema(schema), where

    def _choices(self, counts: tuple[int, ...]) -> list[tuple[Choice, tuple[int, ...]]]:
        """Each way an item may stand to the `contains` (with the counts it leads to): one
        with a maxContains is counted (while below it) or must not match; one without is
        counted (until saturated) or left open."""
        options: list[list[tuple[bool | None, int]]] = []
        for x, n, cap in zip(self.c.contains, counts, self.ccaps):
            if x.most is None:
                options.append([(None, n)] + ([(True, n + 1)] if n < cap else []))
            else:
                options.append([(False, n)] + ([(True, n + 1)] if n < cap else []))
        out: list[tuple[Choice, tuple[int, ...]]] = [((), ())]
        for opts in options:
            out = [(ch + (o,), ns + (n,)) for ch, ns in out for o, n in opts]
        return out

    def _moves(self, s: State) -> list[tuple[str, State]]:
        n, counts = s
        if self.c.max_items is not None and n >= self.c.max_items:
            return []
        if n >= self.k and self.closed:
            return []
        nxt = min(n + 1, self.cap)
        out = []
        for choice, after in self._choices(counts):
            e = self._element(n, choice)
            if e is not None:
                out.append((e, (nxt, after)))
        self.b.long_strings.note_group(m for m, _ in out)     # an item may match several
        return out

    def _accepts(self, s: State) -> bool:
        n, counts = s
        return n >= self.c.min_items and all(m >= x.least
                                             for m, x in zip(counts, self.c.contains))

    def rules(self, sep: str | None = None) -> str | None:
        start = (0, tuple(0 for _ in self.c.contains))
        return automaton_rules(self.b, start, self._moves, self._accepts, lambda s: s[0] > 0,
                               self.b.options.max_array_states, "max_array_states", sep)
