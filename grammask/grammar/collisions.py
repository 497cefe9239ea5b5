"""Warnings for terminals whose languages overlap, found with `interegular` (the library Lark
uses for the same check). Overlaps between a literal and a regex (a keyword and NAME) are
normal — the lexer's tie rules settle them — so only regex/regex pairs of equal priority,
where only the lexer's tie rule decides, are reported. A scannerless grammar (GBNF) has none:
its ties keep every kind, so no tie rule decides anything there."""
from __future__ import annotations

import logging

from .ir import Grammar, GrammarWarning

MAX_TERMINALS = 400  # pairwise comparison is quadratic; larger grammars are not checked


def terminal_collisions(grammar: Grammar) -> list[GrammarWarning]:
    """One warning per pair of same-priority regex terminals that can match the same text."""
    import interegular

    if grammar.scannerless:
        return []
    logging.getLogger("interegular").setLevel(logging.ERROR)
    regexes = {}
    for name, t in grammar.terminals.items():
        if t.pattern is None or t.literal is not None:
            continue
        try:
            interegular.parse_pattern(t.pattern)
        except Exception:  # noqa: BLE001 - syntax interegular lacks: skip, the DFA is still exact
            continue
        regexes[name] = t.pattern
    if not 1 < len(regexes) <= MAX_TERMINALS:
        return []
    comparator = interegular.Comparator.from_regexes(regexes)
    out = []
    for a, b in comparator.check():
        ta, tb = grammar.terminals[a], grammar.terminals[b]
        if ta.priority != tb.priority:
            continue
        example = comparator.get_example_overlap(a, b).main_text
        out.append(GrammarWarning(f"terminals {a!r} and {b!r} collide (both match {example!r}); "
                                  f"give one a priority if the tie matters", ta.origin))
    return out
