"""GBNF front end: structure of the IR, language equivalence (through a small character-level
Earley recogniser written here, a random generator, and independent oracles: Python `re`,
`json.loads`, `compile`), the shared llama.cpp grammars, and error positions."""
from __future__ import annotations

import ast
import json
import os
import random
import re
import string
from functools import cache
from pathlib import Path

import pytest
import regex as regex_module
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from tokenizers_fixture import shared_dir

from grammask import GrammarError, LimitExceededError, Limits
from grammask.automata import compile_regex_dfa
from grammask.grammar import Grammar
from grammask.grammar.gbnf_frontend import load_gbnf, load_gbnf_file


# ----------------------------------------------------------------------------- test helpers
class Recogniser:
    """Earley over UTF-8 bytes where a terminal may span any substring its DFA accepts: the
    character-level (scannerless) reading of the IR, obviously faithful to GBNF semantics.
    Nullable rules use the Aycock-Horspool prediction fix."""

    def __init__(self, g: Grammar) -> None:
        self.g = g
        self.dfas = {}
        for name, t in g.terminals.items():
            dfa = compile_regex_dfa(t.pattern)
            assert not dfa.accepting[0], f"terminal {name} matches the empty string"
            self.dfas[name] = (dfa.trans.tolist(), dfa.accepting.tolist())
        self.nullable = nullable_rules(g)

    def ends(self, term: str, data: bytes, i: int) -> list[int]:
        trans, acc = self.dfas[term]
        out, state = [], 0
        for j in range(i, len(data)):
            state = trans[state][data[j]]
            if state < 0:
                break
            if acc[state]:
                out.append(j + 1)
        return out

    def accepts(self, text: str) -> bool:
        data = text.encode()
        n = len(data)
        items: list[list[tuple]] = [[] for _ in range(n + 1)]
        seen: list[set] = [set() for _ in range(n + 1)]
        waiting: list[dict[str, list[tuple]]] = [{} for _ in range(n + 1)]
        rules = self.g.rules

        def add(i: int, item: tuple) -> None:
            if item not in seen[i]:
                seen[i].add(item)
                items[i].append(item)

        for a in range(len(rules[self.g.start].alternatives)):
            add(0, (self.g.start, a, 0, 0))
        for i in range(n + 1):
            k = 0
            while k < len(items[i]):
                rule, a, dot, org = item = items[i][k]
                k += 1
                alt = rules[rule].alternatives[a]
                if dot == len(alt):
                    for r2, a2, d2, o2 in list(waiting[org].get(rule, ())):
                        add(i, (r2, a2, d2 + 1, o2))
                    continue
                sym = alt[dot]
                if sym in rules:
                    waiting[i].setdefault(sym, []).append(item)
                    for a2 in range(len(rules[sym].alternatives)):
                        add(i, (sym, a2, 0, i))
                    if sym in self.nullable:
                        add(i, (rule, a, dot + 1, org))
                else:
                    for j in self.ends(sym, data, i):
                        add(j, (rule, a, dot + 1, org))
        start_alts = rules[self.g.start].alternatives
        return any(r == self.g.start and d == len(start_alts[a]) and o == 0
                   for r, a, d, o in items[n])


def nullable_rules(g: Grammar) -> set[str]:
    out: set[str] = set()
    changed = True
    while changed:
        changed = False
        for r in g.rules.values():
            if r.name not in out and any(all(s in out for s in alt) for alt in r.alternatives):
                out.add(r.name)
                changed = True
    return out


SAMPLE_CHARS = (string.printable + "éßü€ぁァ、一😀\x00\x1f\x7f\x85\u2028")


class Generator:
    """Random strings of the IR's language (plain, uncollapsed grammars: every terminal is a
    literal or matches one character). Past `budget` nesting it takes the alternative of least
    derivation height, so it always terminates."""

    def __init__(self, g: Grammar, seed: int, budget: int = 14) -> None:
        self.g, self.rng, self.budget = g, random.Random(seed), budget
        self.height = self.heights()
        self.chars: dict[str, list[str]] = {}

    def heights(self) -> dict[str, int]:
        h = {t: 0 for t in self.g.terminals}
        changed = True
        while changed:
            changed = False
            for r in self.g.rules.values():
                options = [1 + max((h[s] for s in alt), default=0) for alt in r.alternatives
                           if all(s in h for s in alt)]
                if options and min(options) < h.get(r.name, 1 << 30):
                    h[r.name] = min(options)
                    changed = True
        return h

    def terminal(self, name: str) -> str:
        t = self.g.terminals[name]
        if t.literal is not None:
            return t.literal
        if name not in self.chars:
            dfa = compile_regex_dfa(t.pattern)
            self.chars[name] = [c for c in SAMPLE_CHARS if dfa.matches(c.encode())]
            assert self.chars[name], f"no sample character for {t.pattern}"
        return self.rng.choice(self.chars[name])

    def generate(self, start: str | None = None) -> str:
        out: list[str] = []
        self.emit(start or self.g.start, 0, out)
        return "".join(out)

    def emit(self, sym: str, depth: int, out: list[str]) -> None:
        if sym in self.g.terminals:
            out.append(self.terminal(sym))
            return
        alts = [a for a in self.g.rules[sym].alternatives if all(s in self.height for s in a)]
        if depth >= self.budget:
            alt = min(alts, key=lambda a: max((self.height[s] for s in a), default=0))
        else:
            alt = self.rng.choice(alts)
        for s in alt:
            self.emit(s, depth + 1, out)


def mutate(text: str, rng: random.Random, alphabet: str) -> str:
    if not text or rng.random() < 0.3:
        i = rng.randrange(len(text) + 1)
        return text[:i] + rng.choice(alphabet) + text[i:]
    i = rng.randrange(len(text))
    if rng.random() < 0.5:
        return text[:i] + text[i + 1:]
    return text[:i] + rng.choice(alphabet) + text[i + 1:]


def show(g: Grammar) -> str:
    lines = [f"{r.name} ::= " + " | ".join(" ".join(a) or "ε" for a in r.alternatives)
             for r in g.rules.values()]
    return "\n".join(lines + [f"{t.name} = /{t.pattern}/" for t in g.terminals.values()])


def rule(g: Grammar, name: str) -> tuple[tuple[str, ...], ...]:
    return g.rules[name].alternatives


def llama_dir() -> Path:
    root = shared_dir()
    if root is None or not (root / "data" / "grammars" / "llama.cpp").is_dir():
        pytest.skip("../shared/data/grammars/llama.cpp is missing (set GRAMMASK_SHARED)")
    return root / "data" / "grammars" / "llama.cpp"


@cache
def shared_grammar(name: str, collapse: bool) -> Grammar:
    return load_gbnf_file(llama_dir() / name, collapse_regular=collapse)


# ----------------------------------------------------------------------------- structure
def test_literal_escapes_and_utf8() -> None:
    g = load_gbnf(r'root ::= "a\n\t\\\"\x41\u00e9\U0001F600é\[\]\-" "é" "\u00e9"')
    (alt,) = rule(g, "root")
    assert len(alt) == 3 and alt[1] == alt[2]        # "é" and "\u00e9" are one terminal
    first = g.terminals[alt[0]]
    assert first.literal == 'a\n\t\\"Aé😀é[]-'
    dfa = compile_regex_dfa(first.pattern)
    assert dfa.matches(first.literal.encode())
    assert not dfa.matches(first.literal[:-1].encode())
    assert g.terminals[alt[1]].literal == "é"
    assert g.ignore == () and g.start == "root"


def test_terminal_names_and_dedup() -> None:
    # (ordered so that no literal needs splitting for GBNF's character-level reading)
    g = load_gbnf('root ::= "{" "{" "true" [a-z] [a-z] [^a-z] . "é" "1. "\n')
    (alt,) = rule(g, "root")
    assert alt[0] == alt[1] == "LIT_LBRACE"
    assert alt[2] == "LIT_true" and alt[3] == alt[4] and alt[3].startswith("CLASS_")
    assert alt[5].startswith("CLASS_") and alt[5] != alt[3]
    assert alt[6] == "ANY_CHAR" and alt[8] == "LIT_1_DOT_SPACE" and alt[7].startswith("LIT_")
    assert len(g.terminals) == 7
    assert g.terminals["LIT_true"].literal == "true"
    assert g.terminals[alt[3]].literal is None


def test_single_char_class_is_the_literal_and_zero_repeats_leave_nothing() -> None:
    g = load_gbnf('root ::= [a] "a" ("x" | "y"){0} [\\\\]\n')
    assert rule(g, "root") == (("LIT_a", "LIT_a", "LIT_BACKSLASH"),)
    assert set(g.rules) == {"root"} and not g.warnings
    assert g.terminals["LIT_a"].literal == "a"


@pytest.mark.parametrize("cls, yes, no", [
    ("[a-c]", "abc", "d-A"),
    ("[^a-c\\n]", "dZ é😀\t", "abc\n"),
    ("[\\]\\[\\-x]", "[]-x", "a\\"),
    ("[a-]", "a-", "b"),
    ("[-a]", "a-", "b"),
    ("[[]", "[", "]"),
    ("[\\x41-\\x43\\u00e9\\U0001F600]", "ABCé😀", "Dè"),
    ("[ぁ-ゟ]", "ぁゟ", "ァa"),
    (".", "a\n\x00é😀", ""),
    ("[!\"#$%&'()*+,-./:;<=>?@[\\\\\\]^_`{|}~]", "!\"#,-./[]\\^_`{|}~", "a 0"),
])
def test_character_classes(cls: str, yes: str, no: str) -> None:
    g = load_gbnf(f"root ::= {cls}\n")
    (alt,) = rule(g, "root")
    dfa = compile_regex_dfa(g.terminals[alt[0]].pattern)
    assert all(dfa.matches(c.encode()) for c in yes), g.terminals[alt[0]].pattern
    assert not any(dfa.matches(c.encode()) for c in no), g.terminals[alt[0]].pattern


def test_repetition_structure() -> None:
    g = load_gbnf('root ::= "a"* "b"+ "c"? "d"{2} "e"{1,3} "f"{2,} "g"{,2} "h"{0}\n')
    a, b, c, d, e, f, gg = (f"LIT_{x}" for x in "abcdefg")
    (alt,) = rule(g, "root")
    assert rule(g, alt[0]) == ((a, alt[0]), ())                      # x*  -> h ::= x h | ε
    assert alt[1] == b and rule(g, alt[2]) == ((b, alt[2]), ())      # x+  -> x h*
    assert rule(g, alt[3]) == ((c,), ())                             # x?  -> h ::= x | ε
    assert alt[4:6] == (d, d)                                        # {2}
    assert alt[6] == e
    opt2 = rule(g, alt[7])                                           # {1,3}: e (e (e)?)?
    assert opt2[1] == () and opt2[0][0] == e and rule(g, opt2[0][1]) == ((e,), ())
    assert alt[8:10] == (f, f) and rule(g, alt[10]) == ((f, alt[10]), ())
    outer = rule(g, alt[11])                                         # {,2}
    assert outer[0][0] == gg and rule(g, outer[0][1]) == ((gg,), ())
    assert len(alt) == 12                                            # {0} is ε
    assert all("__" in n for n in g.rules if n != "root")
    assert all(n.startswith("root__") for n in g.rules if n != "root")


def test_stacked_quantifiers_and_nested_groups() -> None:
    g = load_gbnf('root ::= ("a" ("b" | "c")*)+? "x"+*\n')
    r = Recogniser(g)
    for s, ok in [("", True), ("a", True), ("abcb", True), ("aab", True), ("b", False),
                  ("axx", True), ("x", True), ("ax", True), ("xa", False)]:
        assert r.accepts(s) is ok, s


def test_comments_and_multiline_rules() -> None:
    text = ('# leading comment\n'
            'root ::= item (\n'
            '    # a comment inside parentheses\n'
            '    "," item   # trailing comment\n'
            '  )* |\n'
            '  "none"\n'
            '\n'
            'item ::=\n'
            '  [0-9]+ # digits\n')
    g = load_gbnf(text)
    assert len(rule(g, "root")) == 2 and rule(g, "root")[1] == ("LIT_none",)
    assert g.rules["item"].origin.line == 8 and g.rules["root"].origin.line == 2
    r = Recogniser(g)
    assert r.accepts("1,22,3") and r.accepts("none") and not r.accepts("1,")
    crlf = load_gbnf(text.replace("\n", "\r\n"))
    assert show(crlf) == show(g)


def test_left_recursive_stars() -> None:
    g = load_gbnf('root ::= "a"* ("b" "c")+\n', star_recursion="left")
    star_a, b, star_bc = rule(g, "root")[0]
    assert rule(g, star_a) == ((star_a, "LIT_a"), ())
    assert b == "root__rep_1" and rule(g, star_bc) == ((star_bc, b), ())
    assert not g.warnings                                 # our own left recursion is fine
    r = Recogniser(g)
    assert r.accepts("aabcbc") and r.accepts("bc") and not r.accepts("aab")
    for stars in ("right", "left"):                      # llama.cpp rejects this one
        assert any("left recursion" in str(w)
                   for w in load_gbnf('root ::= ("a"?)*\n', star_recursion=stars).warnings)
    with pytest.raises(ValueError):
        load_gbnf('root ::= "a"', star_recursion="middle")


def test_left_and_right_recursion() -> None:
    left = load_gbnf('root ::= expr\nexpr ::= expr "+" num | num\nnum ::= [0-9]\n')
    assert rule(left, "expr")[0][0] == "expr"
    assert any("left recursion" in str(w) and "'expr'" in str(w) for w in left.warnings)
    right = load_gbnf('root ::= expr\nexpr ::= num "+" expr | num\nnum ::= [0-9]\n')
    assert not any("left recursion" in str(w) for w in right.warnings)
    for g in (left, right):
        r = Recogniser(g)
        assert r.accepts("1+2+3") and r.accepts("7") and not r.accepts("1+") \
            and not r.accepts("+1")


def test_duplicate_rule_later_definition_wins() -> None:
    text = 'root ::= a\na ::= "x"\na ::= "y"\n'
    g = load_gbnf(text)
    assert rule(g, "a") == (("LIT_y",),)
    assert g.rules["a"].origin.line == 3
    assert any("redefined" in w.message and w.origin.line == 3 for w in g.warnings)
    with pytest.raises(GrammarError) as e:
        load_gbnf(text, duplicate_rules="error")
    assert (e.value.line, e.value.column) == (3, 1)


def test_warnings_and_start_symbol() -> None:
    g = load_gbnf('root ::= "a"\nunused ::= "b"\n')
    assert any("unreachable" in str(w) and "unused" in str(w) for w in g.warnings)
    g2 = load_gbnf('top ::= "a"\n', start="top", name="mine")
    assert g2.start == "top" and g2.name == "mine"


def test_source_positions_name_the_file(tmp_path: Path) -> None:
    p = tmp_path / "g.gbnf"
    p.write_text('root ::= x\nx ::= "a" y\n', encoding="utf-8")
    with pytest.raises(GrammarError) as e:
        load_gbnf_file(p)
    assert (e.value.line, e.value.column) == (2, 11) and str(p) in str(e.value)
    p.write_text('root ::= "a"\n', encoding="utf-8")
    g = load_gbnf_file(p)
    assert g.rules["root"].origin.file == str(p) and g.name == str(p)


# ----------------------------------------------------------------------------- languages
@pytest.mark.parametrize("quant, lo, hi", [
    ("*", 0, None), ("+", 1, None), ("?", 0, 1), ("{3}", 3, 3), ("{2,4}", 2, 4),
    ("{2,}", 2, None), ("{,2}", 0, 2), ("{0,0}", 0, 0), ("{ 1 , 2 }", 1, 2)])
def test_repetition_languages(quant: str, lo: int, hi: int | None) -> None:
    for collapse in (False, True):
        r = Recogniser(load_gbnf(f'root ::= "<" "ab"{quant} ">"\n', collapse_regular=collapse))
        for k in range(7):
            expected = k >= lo and (hi is None or k <= hi)
            assert r.accepts("<" + "ab" * k + ">") is expected, (quant, k, collapse)
        assert not r.accepts("<" + "ab" * lo + "a>")


def test_json_strings_are_json() -> None:
    left = load_gbnf_file(llama_dir() / "json.gbnf", star_recursion="left")
    for g in (shared_grammar("json.gbnf", False), shared_grammar("json.gbnf", True), left):
        gen, r = Generator(shared_grammar("json.gbnf", False), seed=1), Recogniser(g)
        for _ in range(60):
            s = gen.generate()
            assert isinstance(json.loads(s), dict), s
            assert r.accepts(s), s
    r = Recogniser(shared_grammar("json.gbnf", False))
    assert r.accepts('{"a": [1, 2.5e3, "x\\n\\u00e9", true, null, {}]}')
    assert not r.accepts('{"a": 01}') and not r.accepts("[1]") and not r.accepts('{"a" 1}')


def test_json_mutants_accepted_only_if_json() -> None:
    """Soundness against an independent oracle: whatever the IR accepts is JSON."""
    g = shared_grammar("json.gbnf", False)
    gen, r, rc = Generator(g, seed=2, budget=10), Recogniser(g), \
        Recogniser(shared_grammar("json.gbnf", True))
    rl = Recogniser(load_gbnf_file(llama_dir() / "json.gbnf", star_recursion="left"))
    rng = random.Random(3)
    accepted = 0
    for _ in range(150):
        s = mutate(gen.generate(), rng, '{}[],:"\\ 0123456789.eE+-tfnul\n\tx')
        ok = r.accepts(s)
        assert ok == rc.accepts(s) == rl.accepts(s), s
        if ok:
            accepted += 1
            json.loads(s)
    assert accepted > 5


ARITH_TOKEN = re.compile(r"[a-z0-9_]+")


def arithmetic_expr_ok(s: str) -> bool:
    """Python parses it as nothing but binary + - * / over operands once identifiers and
    numbers are replaced by 1 (leading zeros and keywords aside); the parentheses around it let
    GBNF's newlines through."""
    if not set(s) <= set("abcdefghijklmnopqrstuvwxyz0123456789_+-*/() \t\n"):
        return False
    if any(t[0] == "_" for t in ARITH_TOKEN.findall(s)):
        return False
    try:
        tree = ast.parse("(" + ARITH_TOKEN.sub("1", s) + ")", mode="eval")
    except SyntaxError:
        return False
    allowed = (ast.Expression, ast.BinOp, ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.Div)
    return all(isinstance(n, allowed) for n in ast.walk(tree))


def arithmetic_ok(s: str) -> bool:
    """`(expr "=" ws term "\\n")+`: split at '='; each middle piece is `term \\n expr` for some
    newline, the last one `term \\n`."""
    parts = s.split("=")
    if len(parts) < 2 or not s.endswith("\n") or not arithmetic_expr_ok(parts[0]):
        return False
    for mid in parts[1:-1]:
        if not any(arithmetic_expr_ok(mid[:i]) and arithmetic_expr_ok(mid[i + 1:])
                   for i, c in enumerate(mid) if c == "\n"):
            return False
    return arithmetic_expr_ok(parts[-1][:-1])


def test_arithmetic_strings_parse_as_python() -> None:
    g = shared_grammar("arithmetic.gbnf", False)
    gen, r = Generator(g, seed=4), Recogniser(g)
    rc = Recogniser(shared_grammar("arithmetic.gbnf", True))
    rl = Recogniser(load_gbnf_file(llama_dir() / "arithmetic.gbnf", star_recursion="left"))
    for _ in range(80):
        s = gen.generate()
        assert arithmetic_ok(s), repr(s)
        assert r.accepts(s) and rc.accepts(s), repr(s)
    for expr in gen.generate("expr"), "a+(b1*7)/x ", "((1))":
        assert arithmetic_expr_ok(expr)
    rng = random.Random(5)
    for _ in range(200):
        s = mutate(gen.generate(), rng, "ab1_+-*/()= \n")
        ok = r.accepts(s)
        assert ok == rc.accepts(s) == rl.accepts(s), repr(s)
        if ok:
            assert arithmetic_ok(s), repr(s)


CHESS_MOVE = (r"(?:(?:[a-h]x)?[a-h][1-8](?:=[NBKQR])?|[NBKQR][a-h]?[1-8]?x?[a-h][1-8]|O-O(?:-O)?)"
              r"[+#]?")
REGULAR_ORACLES = {
    "list.gbnf": r"(?:- [^\r\n\x0b\x0c\x85\u2028\u2029]+\n)+",
    "english.gbnf": r"[!-~]+(?:[ \t\n][!-~]+)*",
    "japanese.gbnf": r"[ぁ-ゟァ-ヿ、-〾一-鿿]+(?:[ \t\n][ぁ-ゟァ-ヿ、-〾一-鿿]+)*",
    "chess.gbnf": rf"1\. {CHESS_MOVE} {CHESS_MOVE}\n(?:[1-9][0-9]?\. {CHESS_MOVE} {CHESS_MOVE}\n)+",
}


@pytest.mark.parametrize("name", sorted(REGULAR_ORACLES))
def test_regular_grammars_match_python_re(name: str) -> None:
    """Exact equivalence with a hand translation to Python `re` on generated strings and
    their mutants, for the plain IR and the collapsed one."""
    oracle = re.compile(REGULAR_ORACLES[name])
    plain, collapsed = shared_grammar(name, False), shared_grammar(name, True)
    assert len(collapsed.rules) == 1 and len(collapsed.terminals) == 1   # fully regular
    gen, r, rc = Generator(plain, seed=6, budget=8), Recogniser(plain), Recogniser(collapsed)
    rng = random.Random(7)
    alphabet = "- a\n\r\x0b\x85é.1x#+=ONa8ぁ、"
    for i in range(120):
        s = gen.generate()
        if i % 2:
            s = mutate(s, rng, alphabet)
        expected = oracle.fullmatch(s) is not None
        assert r.accepts(s) is expected and rc.accepts(s) is expected, (name, s)
        assert compile_regex_dfa(next(iter(collapsed.terminals.values())).pattern) \
            .matches(s.encode()) is expected


def test_c_grammar_collapsed_equivalent() -> None:
    plain = shared_grammar("c.gbnf", False)
    gen, r, rc = Generator(plain, seed=8, budget=9), Recogniser(plain), \
        Recogniser(shared_grammar("c.gbnf", True))
    rng = random.Random(9)
    for i in range(40):
        s = gen.generate()
        assert r.accepts(s) and rc.accepts(s), s
        m = mutate(s, rng, "int x=(){};+ \n/*")
        assert r.accepts(m) == rc.accepts(m), m


# random regular grammars: GBNF text and an independent Python regex from the same tree
ALPHA = "ab\né"


@st.composite
def gbnf_node(draw: st.DrawFn, depth: int, refs: list[str]) -> tuple[str, str]:
    """(GBNF text, Python regex) of one random element."""
    kinds = ["lit", "class", "any"] + (["group", "rep"] if depth < 3 else []) + \
        (["ref"] if refs else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "lit":
        text = draw(st.text(alphabet=ALPHA, max_size=2))
        gbnf = '"' + text.replace("\n", "\\n") + '"'
        return (gbnf if text else '("")'), f"(?:{re.escape(text)})"
    if kind == "class":
        chars = draw(st.sets(st.sampled_from(ALPHA), min_size=1, max_size=3))
        neg = draw(st.booleans())
        body = "".join(sorted(chars)).replace("\n", "\\n")
        return f"[{'^' if neg else ''}{body}]", f"[{'^' if neg else ''}{body}]"
    if kind == "any":
        return ".", r"[\s\S]"
    if kind == "ref":
        name = draw(st.sampled_from(refs))
        return name, f"(?:{{{name}}})"
    if kind == "group":
        alts = draw(st.lists(gbnf_seq(depth + 1, refs), min_size=1, max_size=3))
        return "(" + " | ".join(a for a, _ in alts) + ")", \
            "(?:" + "|".join(p for _, p in alts) + ")"
    child, pat = draw(gbnf_node(depth + 1, refs))
    q = draw(st.sampled_from(["*", "+", "?", "{2}", "{0,2}", "{1,}", "{,3}", "{1,2}"]))
    return f"{child}{q}", f"(?:{pat}){q.replace('{,', '{0,')}"


@st.composite
def gbnf_seq(draw: st.DrawFn, depth: int, refs: list[str]) -> tuple[str, str]:
    items = draw(st.lists(gbnf_node(depth, refs), min_size=0, max_size=3))
    return " ".join(g for g, _ in items), "".join(p for _, p in items)


@st.composite
def regular_grammar(draw: st.DrawFn) -> tuple[str, str]:
    """Rules r2, r1, root; each may reference the later-defined ones (no recursion)."""
    names = ["r2", "r1", "root"]
    texts, regexes = [], {}
    for i, name in enumerate(names):
        alts = draw(st.lists(gbnf_seq(0, names[:i]), min_size=1, max_size=3))
        texts.append(f"{name} ::= " + " | ".join(a or '""' for a, _ in alts))
        regexes[name] = "|".join(p for _, p in alts)
    regex = regexes["root"]
    for name in ("r1", "r2"):
        regex = regex.replace(f"{{{name}}}", regexes[name].replace("{r2}", regexes["r2"]))
    return "\n".join(texts) + "\n", regex


@settings(max_examples=int(os.environ.get("GRAMMASK_FUZZ_EXAMPLES", "200")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(regular_grammar(), st.lists(st.text(alphabet=ALPHA, max_size=5), max_size=12),
       st.integers(0, 1000), st.sampled_from(["right", "left"]))
def test_random_regular_grammars_match_python_re(grammar: tuple[str, str], samples: list[str],
                                                 seed: int, stars: str) -> None:
    text, pattern = grammar
    oracle = regex_module.compile(pattern)
    plain = load_gbnf(text, star_recursion=stars)
    collapsed = load_gbnf(text, collapse_regular=True)
    r, rc = Recogniser(plain), Recogniser(collapsed)
    gen = Generator(plain, seed=seed, budget=6)
    for s in samples + [gen.generate() for _ in range(4)]:
        try:  # a backtracking oracle can go exponential on nested stars: skip such examples
            expected = oracle.fullmatch(s, timeout=2.0) is not None
        except TimeoutError:
            reject()
        assert r.accepts(s) is expected, (text, pattern, s, show(plain))
        assert rc.accepts(s) is expected, (text, pattern, s, show(collapsed))


@st.composite
def recursive_grammar(draw: st.DrawFn) -> str:
    """Like `regular_grammar` but any rule may reference any rule: recursion of all kinds."""
    names = ["r2", "r1", "root"]
    rules = [f"{n} ::= " + " | ".join(a or '""' for a, _ in
                                      draw(st.lists(gbnf_seq(1, names), min_size=1, max_size=3)))
             for n in names]
    return "\n".join(rules) + "\n"


@settings(max_examples=int(os.environ.get("GRAMMASK_FUZZ_EXAMPLES", "200")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(recursive_grammar(), st.lists(st.text(alphabet=ALPHA, max_size=6), max_size=10),
       st.integers(0, 1000))
def test_random_recursive_grammars_variants_agree(text: str, samples: list[str], seed: int) -> None:
    """Plain, collapsed and left-star lowerings of one grammar accept the same strings."""
    try:
        plain = load_gbnf(text)
    except GrammarError as e:                             # empty language: all variants agree
        assert "empty language" in str(e)
        with pytest.raises(GrammarError):
            load_gbnf(text, collapse_regular=True)
        return
    variants = [Recogniser(g) for g in (plain, load_gbnf(text, collapse_regular=True),
                                        load_gbnf(text, star_recursion="left"))]
    gen = Generator(plain, seed=seed, budget=6)
    for s in samples + [gen.generate() for _ in range(3)]:
        verdicts = {r.accepts(s) for r in variants}
        assert len(verdicts) == 1, (text, s)


def test_collapse_keeps_recursive_structure() -> None:
    text = ('root ::= "[" ws (value ("," ws value)*)? "]"\n'
            'value ::= root | num\n'
            'num ::= "-"? [0-9]+ ws\n'
            'ws ::= | " " ws\n'
            'lonely ::= "z"\n')
    g = load_gbnf(text, collapse_regular=True)
    (num,) = rule(g, "num")                               # ws is recursive: kept as a rule
    assert num[1] == "ws" and g.terminals[num[0]].pattern == r"\-?[0-9]+"
    assert "lonely" not in g.rules                        # collapsing keeps what is reachable
    assert any("lonely" in str(w) and "unreachable" in str(w) for w in g.warnings)
    plain = load_gbnf(text)
    r, rc = Recogniser(plain), Recogniser(g)
    gen, rng = Generator(plain, seed=10, budget=8), random.Random(11)
    for _ in range(60):
        s = gen.generate()
        assert r.accepts(s) and rc.accepts(s), s
        m = mutate(s, rng, "[], -0")
        assert r.accepts(m) == rc.accepts(m), m


def test_collapse_falls_back_when_the_dfa_would_be_big() -> None:
    text = 'root ::= "<" [a-z]{0,300} ">"\n'
    g = load_gbnf(text, collapse_regular=True, limits=Limits(max_dfa_states=100))
    assert len(g.rules) > 300                             # stayed a CFG (DFA cap)
    r = Recogniser(g)
    assert r.accepts("<" + "q" * 300 + ">") and not r.accepts("<" + "q" * 301 + ">")
    assert len(load_gbnf(text, collapse_regular=True).rules) == 1


# ----------------------------------------------------------------------------- shared files
def test_shared_gbnf_files_load_or_fail_cleanly() -> None:
    root = shared_dir()
    if root is None or not (root / "data" / "grammars").is_dir():
        pytest.skip("../shared/data/grammars is missing (set GRAMMASK_SHARED)")
    files = sorted((root / "data" / "grammars").rglob("*.gbnf"))
    assert files, "no .gbnf files under shared/data/grammars"
    summary = []
    for f in files:
        rel = f.relative_to(root / "data" / "grammars")
        try:
            g = load_gbnf_file(f)
            gc = load_gbnf_file(f, collapse_regular=True)
        except GrammarError as e:
            assert e.line is not None or e.position is None
            summary.append(f"  {rel}: GrammarError {e}")
            continue
        for t in list(g.terminals.values()) + list(gc.terminals.values()):
            compile_regex_dfa(t.pattern)
        st_, sc = g.stats(), gc.stats()
        summary.append(f"  {rel}: loaded {st_['rules']} rules / {st_['terminals']} terminals"
                       f" (collapsed: {sc['rules']} / {sc['terminals']}), "
                       f"{len(g.warnings)} warnings")
    print("\nGBNF files under shared/data/grammars:\n" + "\n".join(summary))
    llama = [s for s in summary if "llama.cpp/" in s]
    assert llama and all(": loaded" in s for s in llama)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("text, line, column, fragment", [
    ('root ::= a\na ::= "x" bar\n', 2, 11, "undefined rule 'bar'"),
    ('root ::= "a"\nfoo = "b"\n', 2, 5, "::="),
    ('root ::= "a"\nfoo\n::= "b"\n', 2, 4, "::="),
    ('root ::= "a\n', 1, 10, "unterminated string"),
    ('root ::= [abc\n', 1, 10, "unterminated character class"),
    ('root ::= "a\\qb"', 1, 12, "unknown escape"),
    ('root ::= [\\b]', 1, 11, "unknown escape"),
    ('root ::= "\\x4"', 1, 11, "2 hex digits"),
    ('root ::= "\\u12G4"', 1, 11, "4 hex digits"),
    ('root ::= "\\U00110000"', 1, 11, "above U+10FFFF"),
    ('root ::= "\\uD800"', 1, 11, "surrogate"),
    ('root ::=\n  [0-9] [z-a]', 2, 10, "bad character range"),
    ('root ::= "a"{3,1}', 1, 13, "minimum exceeds the maximum"),
    ('root ::= "a" @', 1, 14, "unexpected character '@'"),
    ('root ::= "a")', 1, 13, "unexpected ')'"),
    ('root ::= ("a" "b"\n', 1, 10, "unclosed '('"),
    ('root ::= ("a" @ )', 1, 15, "unexpected character '@'"),
    ('root ::= "a"\n  "b"\n', 2, 3, "continues on the next line"),
    ('root ::= "a"\n| "b"\n', 2, 1, "expecting a rule name"),
    ('root ::= "a" b ::= "c"\n', 1, 16, "new line"),
    ('root ::= <[12]>', 1, 10, "token"),
    ('root ::= !<think>', 1, 10, "token"),
    ('my_rule ::= "a"', 1, 3, "'_'"),
    ('root ::= my_rule', 1, 12, "'_'"),
    ('root ::= * "a"', 1, 10, "must follow an element"),
    ('root ::= "a" | +', 1, 16, "must follow an element"),
    ('root ::= ""*', 1, 12, "must follow an element"),
    ('root ::= "a"{x}', 1, 14, "expecting an integer"),
    ('root ::= "a"{2;}', 1, 15, "expecting ',' or '}'"),
    ('root ::= "a"{2,3', 1, 17, "expecting '}'"),
    ('root ::= []', 1, 10, "empty character class"),
    ('root ::= [^\\x00-\\U0010FFFF]', 1, 10, "matches no character"),
    ('\n\n  root ::= "a"\n  x ::= "b" "c" ]', 4, 17, "unexpected character ']'"),
])
def test_error_positions(text: str, line: int, column: int, fragment: str) -> None:
    with pytest.raises(GrammarError) as e:
        load_gbnf(text)
    assert fragment in e.value.message, e.value.message
    assert (e.value.line, e.value.column) == (line, column), str(e.value)
    assert type(e.value) is GrammarError


def test_missing_root_and_empty_language() -> None:
    with pytest.raises(GrammarError, match="no 'root' rule"):
        load_gbnf('foo ::= "a"\n')
    with pytest.raises(GrammarError, match="no 'root' rule"):
        load_gbnf("# only a comment\n")
    with pytest.raises(GrammarError, match="empty language"):
        load_gbnf('root ::= root "a"\n')


def test_limits() -> None:
    with pytest.raises(LimitExceededError) as e:
        load_gbnf('root ::= "a"{20000}')
    assert e.value.limit == "max_repeat" and (e.value.line, e.value.column) == (1, 13)
    with pytest.raises(LimitExceededError):
        load_gbnf('root ::= "a"{1,50}', limits=Limits(max_repeat=10))
    with pytest.raises(LimitExceededError) as e:
        load_gbnf("root ::= " + "(" * 300 + '"a"' + ")" * 300)
    assert e.value.limit == "max_nesting"
    with pytest.raises(LimitExceededError) as e:
        load_gbnf('root ::= "a"' + "?" * 201)            # stacked quantifiers nest too
    assert e.value.limit == "max_nesting"
    for collapse in (False, True):                        # deep but legal: no RecursionError
        deep_groups = load_gbnf("root ::= " + "(" * 99 + '"a" | "b"' + ")*" * 99,
                                collapse_regular=collapse)
        assert Recogniser(deep_groups).accepts("abba")
    g = load_gbnf('root ::= "a"{2000}')                # linear, not exponential
    assert len(rule(g, "root")[0]) == 2000
    deep = load_gbnf('root ::= ("a"{10}){10}')
    assert sum(len(a) for r in deep.rules.values() for a in r.alternatives) < 40


# ----------------------------------------------------------------------------- load_grammar
def test_load_grammar_gbnf(tmp_path: Path) -> None:
    from grammask.grammar import load_grammar
    text = 'root ::= "a" digits\ndigits ::= [0-9]+\n'
    g = load_grammar(text)                                   # `::=` lines: GBNF
    assert g.start == "root" and g.stats() == load_gbnf(text, collapse_regular=True).stats()
    assert len(g.rules) == 1                                 # collapsed into one regex terminal
    f = tmp_path / "g.txt"
    f.write_text(text)
    assert load_grammar(f).stats() == g.stats()              # content decides for odd suffixes
    assert load_grammar(str(f), syntax="gbnf", start="digits").start == "digits"
    with pytest.raises(GrammarError, match="no 'root' rule"):
        load_grammar('x ::= "a"\n')
    for path in sorted(llama_dir().glob("*.gbnf")):
        for source in (path, str(path)):
            g = load_grammar(source)
            assert g.start == "root" and g.name == str(path)
            for t in g.terminals.values():
                assert t.pattern is not None
                d = compile_regex_dfa(t.pattern)
                assert not d.accepting[d.start], (path.name, t.name)
