"""Lark EBNF -> IR: structure, terminal languages vs Python `re` (what Lark lexes with),
language equivalence with Lark's Earley parser, errors with locations, and the shared
corpus of `.lark` grammars (`pytest -s` prints its table)."""
from __future__ import annotations

import itertools
import random
import re
from collections import deque
from functools import cache
from pathlib import Path

import lark
import pytest
from tokenizers_fixture import shared_dir

from grammask.automata import ByteDFA, compile_regex_dfa
from grammask.errors import GrammarError
from grammask.grammar import Grammar
from grammask.grammar.lark_frontend import _has_lazy, load_lark, load_lark_file

SAMPLE_CHARS = list("aAbBzZ09_-+.eE \t\n\"'\\/*#()") + ["é", "٣", "\u2003", "\x1c", "中", "😀"]


# ============================================================================= helpers
@cache
def dfa(pattern: str) -> ByteDFA:
    return compile_regex_dfa(pattern)


def lark_lexes(regexp: str, text: str) -> bool:
    """Does Lark's terminal regex produce `text` as one lexeme? Lark lexes with `re.match`,
    so a lazy pattern yields its first (shortest) match; otherwise this is a full match."""
    if _has_lazy(regexp):
        m = re.match(regexp, text)
        return m is not None and m.end() == len(text)
    return re.fullmatch(regexp, text) is not None


def dist_to_accept(d: ByteDFA) -> list[int]:
    """Bytes still needed from each state to reach acceptance (BFS on reversed edges)."""
    n = d.num_states
    preds: list[list[int]] = [[] for _ in range(n)]
    for s in range(n):
        for t in set(d.trans[s].tolist()) - {-1}:
            preds[t].append(s)
    dist = [10**9] * n
    queue = deque(s for s in range(n) if d.accepting[s])
    for s in queue:
        dist[s] = 0
    while queue:
        s = queue.popleft()
        for p in preds[s]:
            if dist[p] > dist[s] + 1:
                dist[p] = dist[s] + 1
                queue.append(p)
    return dist


def random_member(pattern: str, rng: random.Random, budget: int = 12) -> str:
    """A random string of the pattern's language: a walk on its byte DFA that heads for
    acceptance once `budget` bytes are spent."""
    d = dfa(pattern)
    dist = _dist(pattern)
    state, out = d.start, bytearray()
    while True:
        moves = [b for b in range(256) if d.trans[state, b] != -1]
        if d.accepting[state] and (not moves or len(out) >= budget or rng.random() < 0.25):
            return out.decode("utf-8")
        if len(out) >= budget:
            best = min(dist[d.trans[state, b]] for b in moves)
            moves = [b for b in moves if dist[d.trans[state, b]] == best]
        b = rng.choice(moves)
        out.append(b)
        state = int(d.trans[state, b])


@cache
def _dist(pattern: str) -> list[int]:
    return dist_to_accept(dfa(pattern))


def sample_strings(pattern: str, rng: random.Random, n: int = 60) -> list[str]:
    """Members of the IR pattern, their mutations and concatenations, random strings."""
    members = [random_member(pattern, rng) for _ in range(n)]
    out = list(members)
    for s in members:
        i = rng.randrange(len(s) + 1)
        c = rng.choice(SAMPLE_CHARS)
        out += [s[:i] + c + s[i:], s[:i] + s[i + 1:], s[:i] + c + s[i + 1:],
                s + rng.choice(members), s + c]
    out += ["".join(rng.choices(SAMPLE_CHARS, k=rng.randrange(6))) for _ in range(n)]
    return out


def assert_terminals_like_lark(text: str, grammar: Grammar, seed: int = 0) -> None:
    """Each IR terminal accepts exactly the samples Lark's own regex lexes as one lexeme."""
    rng = random.Random(seed)
    lark_terms = {t.name: t for t in lark.Lark(text, parser="earley").terminals}
    for name, term in grammar.terminals.items():
        if term.pattern is None:
            continue
        regexp = lark_terms[name].pattern.to_regexp()
        for s in sample_strings(term.pattern, rng):
            ours = dfa(term.pattern).matches(s.encode("utf-8"))
            assert ours == lark_lexes(regexp, s), (name, term.pattern, regexp, s)


def terminal_strings(pattern: str, alphabet: str, max_len: int) -> set[str]:
    return {w for n in range(max_len + 1) for w in map("".join, itertools.product(alphabet, repeat=n))
            if dfa(pattern).matches(w.encode("utf-8"))}


def bounded_language(grammar: Grammar, alphabet: str, max_len: int) -> set[str]:
    """Every string of length <= max_len over `alphabet` the IR derives (fixpoint; left
    recursion is fine)."""
    lang: dict[str, set[str]] = {t: terminal_strings(term.pattern, alphabet, max_len)
                                 for t, term in grammar.terminals.items()}
    lang.update({r: set() for r in grammar.rules})
    changed = True
    while changed:
        changed = False
        for name, rule in grammar.rules.items():
            for alt in rule.alternatives:
                acc = {""}
                for sym in alt:
                    acc = {a + b for a in acc for b in lang[sym] if len(a) + len(b) <= max_len}
                if not acc <= lang[name]:
                    lang[name] |= acc
                    changed = True
    return lang[grammar.start]


def random_derivation(grammar: Grammar, rng: random.Random, max_depth: int = 8) -> str:
    """A random string of the IR's language (no %ignore): random alternatives until
    `max_depth`, then the alternative of least height."""
    height = _heights(grammar)

    def expand(sym: str, depth: int) -> str:
        if sym in grammar.terminals:
            return random_member(grammar.terminals[sym].pattern, rng, budget=6)
        alts = grammar.rules[sym].alternatives
        if depth >= max_depth:
            alts = [min(alts, key=lambda a: max((height[s] for s in a), default=0))]
        return "".join(expand(s, depth + 1) for s in rng.choice(alts))

    return expand(grammar.start, 0)


def _heights(grammar: Grammar) -> dict[str, int]:
    h = {t: 0 for t in grammar.terminals}
    changed = True
    while changed:
        changed = False
        for name, rule in grammar.rules.items():
            best = min((1 + max((h.get(s, 10**9) for s in alt), default=0)
                        for alt in rule.alternatives), default=10**9)
            if best < h.get(name, 10**9):
                h[name] = best
                changed = True
    return h


def lark_parses(parser: lark.Lark, text: str) -> bool:
    try:
        parser.parse(text)
        return True
    except lark.exceptions.LarkError:
        return False


# ============================================================================= structure
ARITH = r"""
?start: sum
?sum: product | sum "+" product | sum "-" product
?product: atom | product "*" atom | product "/" atom
?atom: NUMBER | "-" atom | "(" sum ")" | NAME
NAME: /[a-z_]\w*/
%import common.NUMBER
"""


def test_arithmetic_left_recursion() -> None:
    g = load_lark(ARITH)
    assert set(g.rules) == {"start", "sum", "product", "atom"}
    assert ("sum", "PLUS", "product") in g.rules["sum"].alternatives
    assert ("product", "STAR", "atom") in g.rules["product"].alternatives
    assert g.rules["atom"].alternatives[0] == ("NUMBER",)
    assert g.terminals["PLUS"].literal == "+" and g.terminals["PLUS"].pattern == r"\+"
    assert g.terminals["NAME"].literal is None
    assert g.rules["sum"].origin is not None and g.rules["sum"].origin.line == 3
    assert g.terminals["NAME"].origin.line == 6
    assert g.terminals["NUMBER"].origin.line == 7        # at its %import
    assert g.warnings == []
    assert_terminals_like_lark(ARITH, g)


def test_repetition_operators_language() -> None:
    text = r"""
    start: "a"* x+ y? [z] "d"~2 "e"~0..2
    x: "b"
    y: "c"
    z: "z"
    """
    g = load_lark(text)
    assert any(n.startswith("__start_star") for n in g.rules), list(g.rules)
    assert any(n.startswith("__start_plus") for n in g.rules), list(g.rules)
    expected = re.compile(r"a*b+c?z?dde{0,2}")
    lang = bounded_language(g, "abcdez", 6)
    words = {w for n in range(7) for w in map("".join, itertools.product("abcdez", repeat=n))}
    assert lang == {w for w in words if expected.fullmatch(w)}


def test_large_bounded_repetition() -> None:
    g = load_lark('start: "a"~3..30\n')
    lang = bounded_language(g, "a", 32)
    assert lang == {"a" * n for n in range(3, 31)}


def test_templates_and_rule_modifiers() -> None:
    text = r"""
    start: _sep{item, ","} ";" pair{"<", ">"}
    _sep{x, delim}: x (delim x)*
    pair{l, r}: l item r
    !item: "a" | "b"
    """
    g = load_lark(text)
    assert "_sep{item,COMMA}" in g.rules
    assert any(n.startswith("pair{") for n in g.rules)
    lang = bounded_language(g, "ab,;<>", 7)
    assert {"a;<a>", "a,b;<b>", "b,a;<a>"} <= lang
    assert "a,;<a>" not in lang and "a;<ab>" not in lang
    assert all(re.fullmatch(r"[ab](,[ab])*;<[ab]>", w) for w in lang)


def test_common_imports_and_ignore() -> None:
    text = r"""
    start: (NUMBER | ESCAPED_STRING | CNAME | SIGNED_NUMBER | C_COMMENT)+
    %import common (NUMBER, ESCAPED_STRING, CNAME, SIGNED_NUMBER, C_COMMENT, WS)
    %ignore WS
    %ignore /#[^\n]*/
    """
    g = load_lark(text)
    assert g.ignore == ("WS", "__IGNORE_1")
    assert g.terminals["__IGNORE_1"].pattern == "#[^\n]*"   # Lark unescapes \n
    assert g.terminals["__IGNORE_1"].origin.line == 5
    # Lark's ESCAPED_STRING has a lookbehind and a lazy quantifier: rewritten, same lexemes.
    assert g.terminals["ESCAPED_STRING"].pattern == r'\"(?:[^\x0a\"\\]|\\[^\x0a])*\"'
    esc = dfa(g.terminals["ESCAPED_STRING"].pattern)
    for s, ok in [('""', True), (r'"a\"b"', True), ('"a\\\\"', True), ('"a"b"', False),
                  ('"a\\"', False), ('"\n"', False)]:
        assert esc.matches(s.encode()) is ok, s
    assert_terminals_like_lark(text, g)


def test_lazy_comment_is_shortest_match() -> None:
    text = 'start: C_COMMENT "x" STR\nSTR: /`.*?`/s\n%import common.C_COMMENT\n'
    g = load_lark(text)
    comment = dfa(g.terminals["C_COMMENT"].pattern)
    assert comment.matches(b"/* a * b \n */") and not comment.matches(b"/* a */ b */")
    assert not dfa(g.terminals["STR"].pattern).matches(b"`a`b`")
    assert_terminals_like_lark(text, g, seed=1)


def test_flags() -> None:
    text = r"""
    start: SELECT WORD HEX ANY
    SELECT: "select"i
    WORD: /\w+/
    HEX: /0x[0-9a-f]+/i
    ANY: /<.+>/s
    """
    g = load_lark(text)
    assert g.terminals["SELECT"].pattern == "(?i:select)"
    assert g.terminals["SELECT"].literal is None          # not an exact text any more
    for s in ("select", "SeLeCt"):
        assert dfa(g.terminals["SELECT"].pattern).matches(s.encode())
    assert dfa(g.terminals["WORD"].pattern).matches("é٣x".encode())   # Python's Unicode \w
    assert dfa(g.terminals["ANY"].pattern).matches(b"<a\nb>")
    assert_terminals_like_lark(text, g, seed=2)


def test_priorities_declare_override_extend() -> None:
    text = r"""
    start: a | b _INDENT
    a.3: A
    b: "b"
    A.2: "x"
    %declare _INDENT
    %override b: "c"
    %extend b: "d"
    """
    g = load_lark(text)
    assert g.terminals["A"].priority == 2
    assert g.terminals["_INDENT"].pattern is None
    assert [s for alt in g.rules["b"].alternatives for s in alt] == ["D", "C"]
    assert any("priority 3" in w.message for w in g.warnings)
    assert any("declared" in w.message for w in g.warnings)


def test_unreachable_rules_pruned() -> None:
    g = load_lark('start: "a"\nx: y\ny: x | "b"\n')
    assert set(g.rules) == {"start"}


def test_relative_import_from_file(tmp_path: Path) -> None:
    (tmp_path / "lib.lark").write_text('item: "i" NUM\nNUM: /[0-9]+/\n')
    main = tmp_path / "main.lark"
    main.write_text("start: item+\n%import .lib.item\n")
    g = load_lark_file(main)
    assert g.terminals["lib__NUM"].pattern == "[0-9]+"       # Lark's mangled import name
    assert bounded_language(g, "i1", 4) == {"i1", "i11", "i1i1", "i111"}


def test_syntax_error_in_imported_file(tmp_path: Path) -> None:
    (tmp_path / "lib.lark").write_text('item: "i"\nbad: $\n')
    main = tmp_path / "main.lark"
    main.write_text("start: item+\n%import .lib.item\n")
    with pytest.raises(GrammarError) as info:
        load_lark_file(main)
    e = info.value
    assert e.name == str(tmp_path / "lib.lark") and (e.line, e.column) == (2, 6)
    assert "'$'" in e.message


def test_import_paths(tmp_path: Path) -> None:
    (tmp_path / "mylib.lark").write_text("WORD2: /[a-z]+/\n")
    g = load_lark("start: WORD2\n%import mylib.WORD2\n", import_paths=[str(tmp_path)])
    assert g.terminals["WORD2"].pattern == "[a-z]+"


def test_lazy_quantifier_detection() -> None:
    assert _has_lazy(r'".*?"') and _has_lazy(r"a{2,3}?") and _has_lazy(r"(?:ab)??")
    for greedy in (r"(?:a)?", r"a*\?", r"[*?]", r"\{3}?", r"a{}?", r"(?i:a+)"):
        assert not _has_lazy(greedy), greedy


def test_shortest_match_equals_python_match() -> None:
    """For lazy delimiter patterns, the IR terminal is exactly what `re.match` lexes."""
    rng = random.Random(7)
    atoms = ["a", "b", "ab", "[ab]", ".", "(?:a|bb)", "c"]
    words = ["".join(w) for n in range(7) for w in itertools.product("abc", repeat=n)]
    for _ in range(60):
        pattern = (rng.choice(["a", "ab", "", "c"]) + rng.choice(atoms)
                   + rng.choice(["*?", "+?", "??", "{1,3}?"]) + rng.choice(["a", "b", "ba", "bc"]))
        g = load_lark(f"start: T\nT: /{pattern}/\n")
        ours = dfa(g.terminals["T"].pattern)
        for w in words:
            assert ours.matches(w.encode()) == lark_lexes(pattern, w), (pattern, w)


# ============================================================================= languages vs Lark
EQUIV_GRAMMARS = {
    "arith": ARITH.replace("?start", "start"),
    "json": r"""
        ?start: value
        ?value: object | array | ESCAPED_STRING | SIGNED_NUMBER | "true" | "false" | "null"
        array: "[" [value ("," value)*] "]"
        object: "{" [pair ("," pair)*] "}"
        pair: ESCAPED_STRING ":" value
        %import common (ESCAPED_STRING, SIGNED_NUMBER)
    """,
    "repeat": r"""
        start: item~2..4 ("," item)* ["!" tail]
        item: "x" | "y" ID ";"
        tail: ID? "." | "(" start ")"
        ID: /[a-z]{1,3}/
    """,
    "templates": r"""
        start: list{num} "|" list{word}
        list{x}: "[" [x ("," x)*] "]"
        num: INT
        !word: /[a-z]+/i
        %import common.INT
    """,
    "balanced": r"""
        start: s
        s: "(" s ")" s | "[" s "]" s |
    """,
    "keywords": r"""
        start: stmt+
        stmt: "if"i cond "then"i stmt "end"i | "print"i STR ";"
        cond: "<" NUM ">"
        STR: /'[^']*'/
        NUM: /\d+/
    """,
}


@pytest.mark.parametrize("name", sorted(EQUIV_GRAMMARS))
def test_random_derivations_parse_with_lark(name: str) -> None:
    text = EQUIV_GRAMMARS[name]
    g = load_lark(text)
    parser = lark.Lark(text, parser="earley", lexer="dynamic_complete")
    rng = random.Random(name)
    for _ in range(150):
        s = random_derivation(g, rng)
        assert lark_parses(parser, s), (name, s)
    assert_terminals_like_lark(text, g, seed=3)


BOUNDED = {
    "balanced": ("()[]", 7),
    "repeat": ("xy,!;a.", 5),
    "arith": ("1+-*(a", 5),
}


@pytest.mark.parametrize("name", sorted(BOUNDED))
def test_bounded_language_equals_lark(name: str) -> None:
    """Every string up to a length: in the IR's language <=> Lark's Earley parser accepts."""
    alphabet, max_len = BOUNDED[name]
    text = EQUIV_GRAMMARS[name]
    ours = bounded_language(load_lark(text), alphabet, max_len)
    parser = lark.Lark(text, parser="earley", lexer="dynamic_complete")
    words = (w for n in range(max_len + 1) for w in map("".join, itertools.product(alphabet, repeat=n)))
    theirs = {w for w in words if lark_parses(parser, w)}
    assert ours == theirs


# ============================================================================= errors
def _err(text: str, **kw: object) -> GrammarError:
    with pytest.raises(GrammarError) as info:
        load_lark(text, name="g.lark", **kw)
    return info.value


def test_undefined_rule_has_location() -> None:
    e = _err('start: a b\na: "x"\n')
    assert "'b' used but not defined" in e.message and (e.line, e.column) == (1, 10)
    assert e.name == "g.lark"


def test_syntax_errors_have_location() -> None:
    e = _err('start: "a"\nb: ( "x"\n')
    assert e.line == 2 and e.column is not None
    e = _err('start: "a"\nb: $\n')
    assert (e.line, e.column) == (2, 4)


def test_duplicate_and_import_errors() -> None:
    e = _err('start: A\nA: "a"\nA: "b"\n')
    assert "defined more than once" in e.message and e.line == 3
    e = _err("start: A\n%import nosuch.A\n")
    assert "nosuch" in e.message and e.line == 2
    e = _err("start: NOSUCH\n%import common.NOSUCH\n")
    assert e.line == 2


def test_unsupported_terminal_regexes() -> None:
    e = _err('start: A\n\nA: /a(?=b)/\n')
    assert e.message.startswith("terminal A (g.lark:3:1)") and "lookaround" in e.message
    assert e.line == 3
    e = _err("start: A\nA: /a b/x\n")
    assert "terminal A" in e.message and e.line == 2
    e = _err("start: A\nA: /a(/\n")
    assert "Python's re" in e.message


def test_declared_rule_is_an_error() -> None:
    e = _err("start: a\n%declare a\n")
    assert "declared" in e.message and e.line == 2


def test_start_rule_errors() -> None:
    assert "not defined" in _err('start: "a"', start="nope").message
    assert "template" in _err('t{x}: x\nstart: t{"a"}', start="t").message


def test_no_lark_exception_escapes() -> None:
    for text in ["start: a\n%declare a\n", "start: _a\n_a: \"x\" -> foo\n", "%%%", "",
                 'start: "a"\n%ignore WS\n', 'start: A\nA: ""\n', "start: A\nA: \"x\" A\n"]:
        try:
            load_lark(text)
        except GrammarError:
            pass


# ============================================================================= shared corpus
START_OVERRIDES = {"python.lark": "file_input", "python2.lark": "file_input"}
DEFINITION = re.compile(r"^[ \t]*[?!]?([a-z_][a-z_0-9]*)\b[ \t]*(?:\.[ \t]*-?\d+[ \t]*)?(\{[^}\n]*\})?[ \t]*:",
                        re.MULTILINE)


def choose_start(path: Path) -> str | None:
    """'start' if defined; the file's known entry rule; else its first non-template rule."""
    if path.name in START_OVERRIDES:
        return START_OVERRIDES[path.name]
    rules = [(m.group(1), m.group(2)) for m in DEFINITION.finditer(path.read_text())]
    names = [n for n, template in rules if not template]
    if "start" in names:
        return "start"
    return names[0] if names else None


def assert_corpus_terminals_like_lark(path: Path, start: str, grammar: Grammar) -> None:
    """Every terminal of a loaded corpus grammar lexes like Lark's (on sampled strings)."""
    rng = random.Random(path.name)
    theirs = {t.name: t for t in lark.Lark.open(str(path), parser="earley", start=start).terminals}
    for name, term in grammar.terminals.items():
        if term.pattern is None:
            continue
        regexp = theirs[name].pattern.to_regexp()
        for s in sample_strings(term.pattern, rng, n=30):
            assert dfa(term.pattern).matches(s.encode("utf-8")) == lark_lexes(regexp, s), \
                (path.name, name, s, regexp)


def test_shared_corpus() -> None:
    shared = shared_dir()
    if shared is None:
        pytest.skip("../shared is missing (set GRAMMASK_SHARED to its path)")
    root = shared / "data" / "grammars"
    files = sorted(root.glob("**/*.lark"))
    if not files:
        pytest.skip(f"no .lark grammars under {root}")
    rows = []
    for path in files:
        start = choose_start(path)
        try:
            g = load_lark_file(path, start=start or "start")
            result = (f"loaded: {len(g.rules)} rules, {len(g.terminals)} terminals, "
                      f"{len(g.warnings)} warnings")
            assert_corpus_terminals_like_lark(path, start or "start", g)
        except GrammarError as exc:
            assert exc.name or exc.line, f"{path}: error without a location: {exc}"
            result = "GrammarError: " + exc.message.replace(f"{path.parent}/", "")[:150]
        rows.append((str(path.relative_to(root)), start or "-", result))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'grammar':{width}}  {'start':12}  result")
    for file, start, result in rows:
        print(f"{file:{width}}  {start:12}  {result}")
    loaded = sum(r[2].startswith("loaded") for r in rows)
    print(f"{loaded}/{len(rows)} loaded")
    assert loaded >= len(rows) // 2
