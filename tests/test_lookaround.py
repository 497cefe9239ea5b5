"""Lookaround in JSON Schema patterns (`automata.lookaround`): exact against Python `re` on
every short value, through the whole string-literal pipeline (JSON encodings included), plus
the refusals and limits."""
from __future__ import annotations

import itertools
import json
import random
import re

import pytest
from test_dfa_ops import check_trimmed_minimal

from grammask.automata.lookaround import lookaround_dfa
from grammask.automata.regex_parser import ANY, CharSet, Concat, Repeat, parse_regex
from grammask.errors import GrammarError, LimitExceededError, SchemaError
from grammask.grammar.json_schema.strings import string_dfa
from grammask.limits import Limits

# Patterns of the kinds schemas use (reserved prefixes, tempered dots, length guards, word
# boundaries) and corner cases: quantified and nested lookarounds, anchors inside them,
# lookbehind inside lookbehind, alternatives that pass different assertions.
PATTERNS = [
    r"^(?!ab)", r"^((?!ab).)*$", r"a(?=b)", r"(?<=a)b", r"(?<!a)b", r"^(?=.{2,3}$)a.*",
    r"\bab\b", r"a\B", r"^(?!a|b$)", r"(?=a)*b", r"x(?=(a|b)$)", r"^(?:(?!xa)[abx])*$",
    r"(?<=^a)b", r"(?!^a)b", r"^(?=a(?!b))", r"(a(?=x)|b)+$", r"(?<=(?<!a)b)x", r"a^b",
    r"(^|x)(?!a)", r"^(?!.*ba)(?=.*x)", r"((?<=a)|b)x", r"(?<!x)a{2}(?!b)", r"\Bx\b",
    r"^(?=(ab)*$)(?!.*bb).+$", r"(?<=a|b)(?=x)", r"^(?!(a|b)*$)",
    # lookbehinds inside lookaheads look back past where the lookahead began
    r"(?=a(?<=b))", r"^(?!.*\bx)", r"x(?=.*(?<=a)b)", r"(?=(?<!^)a)", r"a(?!(?<=aa)b)",
    r"(?=(?<=x)a|b)\w",
]


def reference(pattern: str) -> re.Pattern:
    """Python `re` reading the pattern as ECMA does (`$` is the end, `\\w` ASCII)."""
    return re.compile(pattern.replace("$", r"\Z"), re.ASCII)


def values(alphabet: str = "abx", longest: int = 5):
    for n in range(longest + 1):
        for chars in itertools.product(alphabet, repeat=n):
            yield "".join(chars)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_patterns_exhaustively(pattern: str) -> None:
    """Every value of up to 5 characters over {a, b, x}: accepted exactly when Python's
    `re.search` finds a match. (Python before 3.14 never matches `\\B` in an empty string,
    ECMA does, as here: no pattern of the list can match the empty string through it.)"""
    ref = reference(pattern)
    dfa = string_dfa(pattern=pattern)
    for value in values():
        want = bool(ref.search(value))
        assert dfa.matches(json.dumps(value).encode()) == want, value
    check_trimmed_minimal(dfa)


def _random_pattern(rng: random.Random, depth: int = 0) -> str:
    r = rng.random()
    if depth > 3 or r < 0.3:
        return rng.choice(["a", "b", "x", ".", "^", "$"])
    if r < 0.5:
        return _random_pattern(rng, depth + 1) + _random_pattern(rng, depth + 1)
    if r < 0.6:
        return f"({_random_pattern(rng, depth + 1)}|{_random_pattern(rng, depth + 1)})"
    if r < 0.75:
        return f"(?{rng.choice('=!')}{_random_pattern(rng, depth + 1)})"
    if r < 0.85:      # fixed width, as Python's lookbehind needs (inside lookaheads too)
        return f"(?<{rng.choice('=!')}{rng.choice(['a', 'b', '[ax]', 'ab', '^a', '.'])})"
    q = rng.choice(["*", "+", "?", "{2}", "{0,2}", "{1,3}"])
    return f"({_random_pattern(rng, depth + 1)}){q}"


def _automaton(pattern: str):
    loop = Repeat(CharSet(ANY, 0), 0, None, 0)
    node = parse_regex(pattern, anchors_anywhere=True, lookaround=True)
    return lookaround_dfa(Concat((loop, node, loop), 0), pattern)


def _member(a, text: str) -> bool:
    q = 0
    for ch in text:
        cls = [c for c, rs in enumerate(a.classes) if any(lo <= ord(ch) <= hi for lo, hi in rs)]
        q = dict(a.rows[q]).get(cls[0], -1) if cls else -1
        if q < 0:
            return False
    return a.accepting[q]


def test_random_patterns_against_python() -> None:
    """Seeded random patterns mixing anchors, quantifiers and lookarounds of both signs, the
    code-point automaton against `re.search` on every value of up to 4 characters."""
    rng = random.Random(7)
    checked = 0
    while checked < 120:
        pattern = _random_pattern(rng)
        try:
            ref = reference(pattern)
            a = _automaton(pattern)
        except (re.error, GrammarError):
            continue        # refused alike (a quantified anchor) or by Python
        checked += 1
        for value in values(longest=4):
            want = bool(ref.search(value))
            assert (a is not None and _member(a, value)) == want, (pattern, value)


def test_ecma_dot_and_escapes() -> None:
    """`.` inside a lookaround is ECMA's (no line terminators); values are decoded before
    matching, so an escaped character counts as itself."""
    dfa = string_dfa(pattern=r"^((?!ab).)*$")
    for value, ok in [("xa\nb", False), ("a\rb", False), ("a\u2028", False), ("ba", True),
                      ("aab", False)]:
        assert dfa.matches(json.dumps(value).encode()) == ok, value
    assert not dfa.matches(b'"\\u0061b"') and dfa.matches(b'"\\u0062a"')
    assert string_dfa(pattern=r"^\B$").matches(b'""')      # ECMA: no word character on either side
    dfa = string_dfa(pattern=r"^(?!org\.bukkit\.)([a-z]+\.)*[a-z]+$")
    assert dfa.matches(b'"org.example.x"') and not dfa.matches(b'"org.bukkit.x"')


def test_combines_with_other_constraints() -> None:
    dfa = string_dfa(pattern=r"^(?!tmp)", not_patterns=[r"(?<=x)y"], max_length=4)
    ok = {v for v in values("tmpxy", 5) if not v.startswith("tmp") and "xy" not in v
          and len(v) <= 4}
    for v in values("tmpxy", 5):
        assert dfa.matches(json.dumps(v).encode()) == (v in ok), v


@pytest.mark.parametrize("pattern, message", [
    (r"(?<=a$)b", "lookbehind cannot hold a lookahead or `$`"),
    (r"(?<=a(?=b))b", "lookbehind cannot hold a lookahead or `$`"),
])
def test_refusals_name_the_pattern(pattern: str, message: str) -> None:
    with pytest.raises(SchemaError) as err:
        string_dfa(pattern=pattern, path="#/properties/x")
    assert message in str(err.value) and err.value.path == "#/properties/x/pattern"


def test_limits() -> None:
    with pytest.raises(LimitExceededError) as err:
        string_dfa(pattern=r"^(?!a)(.{1,40}\.){1,40}$", limits=Limits(max_dfa_states=500))
    assert err.value.limit == "max_dfa_states"
    with pytest.raises(LimitExceededError) as err:
        string_dfa(pattern=r"^(?!a)(x{1,50}){1,50}$", limits=Limits(max_nfa_states=1000))
    assert err.value.limit == "max_nfa_states"


def test_malformed_patterns_fail_cleanly() -> None:
    """Seeded soup of regex syntax (lookarounds, `\\b`, anchors, classes, quantifiers):
    every pattern compiles or raises GrammarError, under small limits, never another error
    (this found `(?` at the end and `[\\B]` reading past their text)."""
    from grammask.automata import compile_regex_dfa

    rng = random.Random(11)
    pieces = list("ab.^$|()*+?{}[]\\-,0") + ["(?=", "(?!", "(?<=", "(?<!", "\\b", "\\B",
                                              "(?:", "{1,3}", "é", "(?"]
    limits = Limits(max_dfa_states=2000, max_nfa_states=20000)
    compiled = 0
    for _ in range(3000):
        pattern = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        try:
            compile_regex_dfa(pattern, limits, lookaround=True)
            compiled += 1
        except GrammarError:
            pass
    assert compiled > 200


def test_deep_nesting_is_built() -> None:
    """Groups and lookaheads nested as deep as the parser allows build without running out
    of Python's stack (the NFA and the nested automata are built by recursion)."""
    dfa = string_dfa(pattern="(" * 190 + "(?!a)b" + ")" * 190)
    assert dfa.matches(b'"b"') and dfa.matches(b'"ab"') and not dfa.matches(b'"a"')
    dfa = string_dfa(pattern="^" + "(?=" * 150 + "b" + ")" * 150)
    assert dfa.matches(b'"bc"') and not dfa.matches(b'"cb"')
