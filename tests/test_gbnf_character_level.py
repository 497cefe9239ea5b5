"""GBNF is read character by character (llama.cpp's semantics), although the engine lexes
greedily: the front end splits every terminal the greedy lexer could grow into the next lexeme
(`grammar.greedy_lexing`), and ties between literals and classes keep both kinds.

Checked against the scannerless reference (`cfg_oracle.PrefixOracle(lexing="scannerless")`,
every terminal match at every length) on hand-written grammars where greedy lexing used to lose
strings, and on random GBNF grammars full of overlapping literals, classes and repetitions:
`accept_string` / `can_terminate` on random texts, and the mask at every step of random walks.
"""
from __future__ import annotations

import random

import numpy as np
import pytest
from cfg_oracle import PrefixOracle, reference_allowed

import grammask
from grammask import TokenizerInfo
from grammask.automata import compile_regex_dfa
from grammask.grammar import load_gbnf, load_grammar
from grammask.grammar.greedy_lexing import follow_terminals, overreaching_terminals

# grammars where the greedy reading of the collapsed rules loses strings, with such strings
LOST_BY_GREEDY = [
    ('root ::= "a" root | [a-z]', [b"a", b"aa", b"ab", b"aaz"]),
    ('root ::= x "ing"\nx ::= [a-z] | [a-z] x', [b"sing", b"singing", b"inging", b"xing"]),
    # llama.cpp's arithmetic.gbnf: `num`'s trailing whitespace would swallow the "\n"
    (('root ::= (expr "=" ws term "\\n")+\nexpr ::= term ([-+*/] term)*\n'
      'term ::= ident | num | "(" ws expr ")" ws\nident ::= [a-z] [a-z0-9_]* ws\n'
      'num ::= [0-9]+ ws\nws ::= [ \\t\\n]*'), [b"1+2= 3\n", b"x*x= y\n1= 2\n", b"(a)= b \n"]),
    ('root ::= "ab" "c" | "a" "bcd"', [b"abc", b"abcd"]),
    ('root ::= [a-c]+ "cab"', [b"acab", b"ccab", b"cabcab"]),
]


def _matcher_verdict(cg, text: bytes) -> tuple[bool, bool]:
    m = grammask.Matcher(cg)
    ok = m.accept_string(text)
    return ok, ok and m.can_terminate()


def _tokenizer(alphabet: bytes, rng: random.Random, size: int = 60) -> TokenizerInfo:
    toks: list[bytes | None] = [bytes([c]) for c in alphabet]
    while len(toks) < size:
        t = bytes(rng.choice(alphabet) for _ in range(rng.randint(2, 4)))
        if t not in toks:
            toks.append(t)
    return TokenizerInfo(toks + [None], eos_token_ids=[len(toks)])


@pytest.mark.parametrize("src, texts", LOST_BY_GREEDY)
def test_texts_greedy_lexing_lost_are_accepted(src: str, texts: list[bytes]) -> None:
    ref = PrefixOracle(load_gbnf(src), lexing="scannerless")
    info = TokenizerInfo([b"a", None], eos_token_ids=[1])
    for parser in ("auto", "earley"):
        cg = grammask.compile_grammar(src, info, syntax="gbnf", parser=parser, cache=False)
        for t in texts:
            want = (ref.viable(t), ref.complete(t))
            assert want[1], (src, t)                     # the cases are in the language
            assert _matcher_verdict(cg, t) == want, (src, parser, t)


def test_no_terminal_of_a_loaded_gbnf_grammar_overreaches() -> None:
    for src, _ in LOST_BY_GREEDY:
        g = load_grammar(src, syntax="gbnf")
        dfas = {n: compile_regex_dfa(t.pattern) for n, t in g.terminals.items()}
        assert not overreaching_terminals(g, dfas), src
        assert g.scannerless


def test_overreach_and_follow_sets() -> None:
    g = load_gbnf('root ::= x "ing"\nx ::= [a-z] | [a-z] x', collapse_regular=True)
    follow = follow_terminals(g)
    cls = next(n for n, t in g.terminals.items() if t.literal is None)
    assert {g.terminals[t].pattern for t in follow[cls]} >= {"[a-z]", "i"}
    # kept whole when nothing that can follow it starts with a byte that extends it
    g = load_gbnf('root ::= num "," root | num\nnum ::= [0-9]+', collapse_regular=True)
    assert "[0-9]+" in [t.pattern for t in g.terminals.values()]
    # split (into its parts) when something that follows can start with such a byte
    g = load_gbnf('root ::= num "1" root | num\nnum ::= [0-9]+', collapse_regular=True)
    assert "[0-9]+" not in [t.pattern for t in g.terminals.values()]


def test_lark_keeps_literal_over_regex_ties() -> None:
    """Lark grammars keep Lark's greedy semantics: a keyword literal beats a NAME regex."""
    src = 'start: "if" | NAME "!"\nNAME: /[a-z]+/\n'
    info = TokenizerInfo([b"a", None], eos_token_ids=[1])
    cg = grammask.compile_grammar(src, info, syntax="lark", cache=False)
    assert not cg.grammar.scannerless if hasattr(cg, "grammar") else True
    assert _matcher_verdict(cg, b"if") == (True, True)
    assert _matcher_verdict(cg, b"if!") == (False, False)      # "if" lexes as the keyword
    assert _matcher_verdict(cg, b"iff!") == (True, True)


def test_auto_takes_earley_on_shift_reduce_conflicts() -> None:
    """A GBNF grammar's language is its own, so "auto" does not take an LALR table that
    resolves shift/reduce conflicts as shift (which would lose strings here)."""
    src = 'root ::= head? items\nitems ::= name "," items | ""\nhead ::= "#" name?\nname ::= [a-z]+'
    info = TokenizerInfo([b"a", None], eos_token_ids=[1])
    cg = grammask.compile_grammar(src, info, syntax="gbnf", cache=False)
    assert cg.parser_kind == "earley"
    for t in (b"#a,", b"#ab,c,", b"#", b"a,b,", b"#a"):
        assert _matcher_verdict(cg, t) == (True, True), t
    lalr = grammask.compile_grammar(src, info, syntax="gbnf", parser="lalr", cache=False)
    assert _matcher_verdict(lalr, b"#a,") == (False, False)     # asked for: Lark's language


# ----------------------------------------------------------------------------- random grammars
LITERALS = ["a", "ab", "abc", "b", "ba", "c", "ca", "aa"]
CLASSES = ["[a-c]", "[ab]", "[bc]", "[a]", "[^b]"]


def random_gbnf(rng: random.Random) -> str:
    """A small random GBNF grammar over a, b, c: overlapping literals and classes, groups,
    quantifiers, references (recursion included) and empty alternatives."""
    names = ["root"] + [f"r{i}" for i in range(rng.randint(1, 3))]

    def element(depth: int) -> str:
        roll = rng.random()
        if roll < 0.35:
            item = f'"{rng.choice(LITERALS)}"'
        elif roll < 0.6:
            item = rng.choice(CLASSES)
        elif roll < 0.8 or depth > 1:
            item = rng.choice(names[1:] or names)
        else:
            item = "(" + alternatives(depth + 1) + ")"
        return item + rng.choice(["", "", "", "*", "+", "?", "{1,2}"])

    def alternatives(depth: int) -> str:
        alts = []
        for _ in range(rng.randint(1, 3)):
            alts.append(" ".join(element(depth) for _ in range(rng.choice([0, 1, 2, 2, 3]))))
        return " | ".join(a or '""' for a in alts)

    rules = []
    for n in names:
        body = alternatives(0)
        ground = f'"{rng.choice(LITERALS)}"' if rng.random() < 0.5 else rng.choice(CLASSES)
        rules.append(f"{n} ::= {body} | {ground}")      # every rule derives something finite
    return "\n".join(rules)


def _random_texts(rng: random.Random, n: int) -> list[bytes]:
    return [bytes(rng.choice(b"abc") for _ in range(rng.randint(0, 6))) for _ in range(n)]


@pytest.mark.parametrize("seed", range(4))
def test_random_gbnf_grammars_read_character_level(seed: int) -> None:
    rng = random.Random(seed)
    info = _tokenizer(b"abc", rng)
    eos = set(info.eos_token_ids)
    checked = 0
    for k in range(15):
        src = random_gbnf(rng)
        try:
            raw = load_gbnf(src)
        except grammask.GrammarError:
            continue                                        # e.g. an empty language
        ref = PrefixOracle(raw, lexing="scannerless")
        parser = "auto" if k % 2 else "earley"
        cg = grammask.compile_grammar(src, info, syntax="gbnf", parser=parser, cache=False)
        for t in _random_texts(rng, 25):
            assert _matcher_verdict(cg, t) == (ref.viable(t), ref.complete(t)), (src, t)
        for _ in range(2):
            m, prefix = grammask.Matcher(cg), b""
            for _ in range(8):
                want = reference_allowed(ref, info.token_bytes, eos, prefix)
                got = set(m.allowed_token_ids().tolist())
                assert got == want, (src, parser, prefix,
                                     [info.token_bytes[i] for i in sorted(got ^ want)])
                text = sorted(i for i in want if info.token_bytes[i] is not None)
                if not text:
                    break
                tid = rng.choice(text)
                assert m.accept_token(tid)
                prefix += info.token_bytes[tid]
        checked += 1
    assert checked >= 10


def test_analysis_budget_splits_without_losing_exactness(monkeypatch) -> None:
    """Past its budget the analysis calls every terminal overreaching: the grammar comes out
    split to single characters, slower to lex but with the same language."""
    from grammask.grammar import greedy_lexing
    monkeypatch.setattr(greedy_lexing, "MAX_TOTAL_PAIR_STATES", 0)
    info = TokenizerInfo([b"a", b"1", b"+", b"= ", None], eos_token_ids=[4])
    for src, texts in LOST_BY_GREEDY:
        g = load_grammar(src, syntax="gbnf")
        if "ws" in src:         # (a terminal nothing follows is never checked, so kept whole)
            assert all(len(t.literal or "x") == 1 and not n.startswith("RE")
                       for n, t in g.terminals.items()), src
        cg = grammask.compile_grammar(src, info, syntax="gbnf", cache=False)
        for t in texts:
            assert _matcher_verdict(cg, t) == (True, True), (src, t)


@pytest.mark.parametrize("seed", range(3))
def test_literal_shortcut_agrees_with_pair_walks(seed: int, monkeypatch) -> None:
    """Literal terminals are tested by their prefixes, not by pair walks: both ways find the
    same overreaching terminals (and, past MAX_TOGETHER_TERMINALS, the all-pairs relation
    finds a superset)."""
    from grammask.grammar import greedy_lexing
    rng = random.Random(seed)
    for _ in range(20):
        try:
            g = load_gbnf(random_gbnf(rng), collapse_regular=True)
        except grammask.GrammarError:
            continue
        dfas = {n: compile_regex_dfa(t.pattern) for n, t in g.terminals.items()}
        fast = overreaching_terminals(g, dfas)
        with monkeypatch.context() as m:
            m.setattr(greedy_lexing._Literals, "overreached", lambda self, b: any(
                greedy_lexing._grows_into(self.autos[a], self.autos[b],
                                          greedy_lexing._bits(self.after[a]), [10**9])
                for a in np.flatnonzero(self.candidates[:, b]).tolist()))
            assert overreaching_terminals(g, dfas) == fast
            m.setattr(greedy_lexing, "MAX_TOGETHER_TERMINALS", 0)
            assert overreaching_terminals(g, dfas) >= fast


def test_many_literals_load_and_read_exactly() -> None:
    """Past MAX_TOGETHER_TERMINALS (here 1,200 literals, not collapsed) the analysis
    takes every pair as candidates together; a literal that is a prefix of another stays whole
    when nothing that follows it starts with the other's next byte."""
    words = sorted({f"{a}{b}{c}" for a in "abcdefghij" for b in "abcdefghij" for c in "abcdefghijkl"})
    src = 'root ::= "(" root ")" root | item\nitem ::= ' + " | ".join(
        f'"{w}"' for w in words + ["ab", "abcd"]) + "\n"
    g = load_gbnf(src)                         # not collapsed: one terminal per literal
    assert len(g.terminals) > 1024
    assert {t.literal for t in g.terminals.values()} >= {"ab", "abc", "abcd"}
    info = TokenizerInfo([b"a", None], eos_token_ids=[1])
    cg = grammask.compile_grammar(g, info, cache=False)
    for text, ok in [(b"ab", True), (b"abcd", True), (b"(abc)jjl", True), (b"abce", False)]:
        assert _matcher_verdict(cg, text) == (ok, ok), text
