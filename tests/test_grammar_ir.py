"""Grammar IR checks: references, empty language, unreachable rules and unused terminals."""
from __future__ import annotations

import pytest

from grammask import GrammarError
from grammask.grammar import Grammar, Rule, SourcePos, Terminal


def _g(rules: dict[str, tuple[tuple[str, ...], ...]], terminals: dict[str, str],
       start: str = "s", ignore: tuple[str, ...] = ()) -> Grammar:
    return Grammar(start, {n: Rule(n, a, SourcePos(i + 1, 1, "g.lark")) for i, (n, a) in enumerate(rules.items())},
                   {n: Terminal(n, p) for n, p in terminals.items()}, ignore, name="g.lark")


def test_valid_grammar_with_warnings() -> None:
    g = _g({"s": (("A", "s"), ()), "dead": (("B",),)}, {"A": "a", "B": "b", "C": "c"})
    warnings = [str(w) for w in g.check()]
    assert any("'dead' is unreachable" in w and w.startswith("g.lark:2:1") for w in warnings)
    assert any("'C' is never used" in w for w in warnings)
    assert g.stats() == {"rules": 2, "terminals": 3, "alternatives": 3, "symbols": 3}


@pytest.mark.parametrize("rules,terminals,start,ignore,match", [
    ({"s": (("x",),)}, {}, "s", (), "undefined symbol 'x'"),
    ({"s": (("A", "s"),)}, {"A": "a"}, "s", (), "empty language"),
    ({"s": (("A",),)}, {"A": "a"}, "t", (), "start rule 't' is not defined"),
    ({"s": (("A",),), "A": ((),)}, {"A": "a"}, "s", (), "both a rule and a terminal"),
    ({"s": (("A",),)}, {"A": "a"}, "s", ("WS",), "ignored terminal 'WS'"),
])
def test_errors(rules, terminals, start, ignore, match) -> None:
    with pytest.raises(GrammarError, match=match):
        _g(rules, terminals, start, ignore).check()


def test_error_names_the_location() -> None:
    with pytest.raises(GrammarError) as e:
        _g({"s": (("A",),), "t": (("zz",),)}, {"A": "a"}).check()
    assert "g.lark:2:1" in str(e.value)
