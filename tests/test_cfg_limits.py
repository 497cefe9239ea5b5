"""CFG engine options and limits: the mask memo bound, parser selection errors, empty
terminals, and the shift/reduce warning."""
from __future__ import annotations

import numpy as np
import pytest

import grammask
from grammask import GrammarError, Limits, Matcher, TokenizerInfo

ARITH = r"""
?start: sum
?sum: product | sum "+" product
?product: NUMBER | "(" sum ")" | product "*" NUMBER
NUMBER: /[0-9]+/
%ignore " "
"""
AMBIGUOUS = r"""
start: a | b
a: NUM "+"?
b: NUM "*"?
NUM: /[0-9]/
"""     # at the end of "1" LALR(1) cannot choose a or b: a reduce/reduce conflict


def vocab() -> TokenizerInfo:
    toks = [bytes([b]) for b in b"0123456789+*() "] + [b"1+", b"(2", b"3)", b" +", b")*"]
    return TokenizerInfo(toks + [None], eos_token_ids=[len(toks)])


def masks_along(compiled: grammask.CompiledCFG, text: bytes) -> list[np.ndarray]:
    info = compiled.tokenizer_info
    m = Matcher(compiled)
    out = [m.allowed_token_ids()]
    for b in text:
        assert m.accept_token(info.token_bytes.index(bytes([b])))
        out.append(m.allowed_token_ids())
    return out


def test_bounded_mask_memo_gives_the_same_masks() -> None:
    info = vocab()
    text = b"(1+2)*3 + 45*6"
    free = masks_along(grammask.compile_grammar(ARITH, info), text)
    tight = grammask.compile_grammar(ARITH, info, limits=Limits(max_cached_masks=2))
    bounded = masks_along(tight, text)
    assert all(np.array_equal(a, b) for a, b in zip(free, bounded))
    assert tight.masks_forgotten > 0


def test_parser_choice() -> None:
    info = vocab()
    assert grammask.compile_grammar(ARITH, info).parser_kind == "lalr"
    assert grammask.compile_grammar(ARITH, info, parser="earley").parser_kind == "earley"
    assert grammask.compile_grammar(AMBIGUOUS, info).parser_kind == "earley"
    with pytest.raises(GrammarError, match="not LALR"):
        grammask.compile_grammar(AMBIGUOUS, info, parser="lalr")
    with pytest.raises(GrammarError, match="parser must be"):
        grammask.compile_grammar(ARITH, info, parser="glr")


def test_earley_and_lalr_agree_where_both_apply() -> None:
    info = vocab()
    text = b"(1+2)*3 + 45*6"
    lalr = masks_along(grammask.compile_grammar(ARITH, info, parser="lalr"), text)
    earley = masks_along(grammask.compile_grammar(ARITH, info, parser="earley"), text)
    assert all(np.array_equal(a, b) for a, b in zip(lalr, earley))


def test_shift_reduce_conflicts_are_reported() -> None:
    grammar = r"""
start: head? item*
head: "#" NAME?
item: NAME ","
NAME: /[a-z]+/
"""
    info = TokenizerInfo([b"#", b"a", b",", None], eos_token_ids=[3])
    compiled = grammask.compile_grammar(grammar, info)
    assert compiled.parser_kind == "lalr"
    assert any("shift/reduce" in w for w in compiled.warnings)
    assert grammask.compile_grammar(grammar, info, parser="earley").warnings == []


def test_lexer_state_limit_is_a_named_error() -> None:
    """Keywords sharing prefixes with an identifier make one combined lexer state per prefix;
    a limit below that many states is refused by name, never a partial table."""
    words = " | ".join(f'"kw{i:02d}abc"' for i in range(30))
    grammar = f"start: (NAME | {words})+\nNAME: /[a-z0-9]+/\n%ignore \" \"\n"
    full = grammask.compile_grammar(grammar, vocab())
    needed = full.lexer.num_states
    assert needed > 60
    with pytest.raises(grammask.LimitExceededError) as err:
        grammask.compile_grammar(grammar, vocab(), limits=Limits(max_lexer_states=needed - 5))
    assert err.value.limit == "max_lexer_states"


# -- the Earley core: limits, and agreement with a naive recogniser ---------------------------
EXPONENTIAL = r"""
start: e
e: e e | "a"
"""     # every split of a run of a's is a parse: Earley sets grow with the input


def _letters() -> TokenizerInfo:
    return TokenizerInfo([b"a", b"b", b"c", None], eos_token_ids=[3])


def test_earley_item_limit_is_a_clear_error() -> None:
    from grammask.errors import LimitExceededError
    compiled = grammask.compile_grammar(EXPONENTIAL, _letters(), parser="earley",
                                        limits=Limits(max_parser_items=40))
    with pytest.raises(LimitExceededError, match="max_parser_items"):
        Matcher(compiled).accept_string("a" * 60)


def test_earley_state_limit_is_a_clear_error() -> None:
    from grammask.errors import LimitExceededError
    with pytest.raises(LimitExceededError, match="max_parser_states"):
        compiled = grammask.compile_grammar(EXPONENTIAL, _letters(), parser="earley",
                                            limits=Limits(max_parser_states=4))
        Matcher(compiled).accept_string("a" * 60)


def _naive_sets(prods, text: list[int]) -> list[set[tuple[int, int, int]]]:
    """Earley item sets (production, dot, origin) by fixpoint, one per position."""
    nts = prods.num_terminals
    sets: list[set[tuple[int, int, int]]] = []

    def close(items: set[tuple[int, int, int]], pos: int) -> set[tuple[int, int, int]]:
        changed = True
        while changed:
            changed = False
            for p, d, o in list(items):
                rhs = prods.rhs[p]
                new: list[tuple[int, int, int]] = []
                if d < len(rhs) and rhs[d] >= nts:          # predict
                    new += [(q, 0, pos) for q in range(len(prods.lhs)) if prods.lhs[q] == rhs[d]]
                elif d == len(rhs):                          # complete
                    src = sets[o] if o < pos else items
                    new += [(q, e + 1, o2) for q, e, o2 in list(src)
                            if e < len(prods.rhs[q]) and prods.rhs[q][e] == prods.lhs[p]]
                for it in new:
                    if it not in items:
                        items.add(it)
                        changed = True
        return items

    sets.append(close({(0, 0, 0)}, 0))
    for pos, t in enumerate(text, 1):
        seeds = {(p, d + 1, o) for p, d, o in sets[-1]
                 if d < len(prods.rhs[p]) and prods.rhs[p][d] == t}
        sets.append(close(seeds, pos))
    return sets


def test_earley_core_agrees_with_a_naive_recogniser() -> None:
    """Random small grammars (left recursion, empty rules, ambiguity arise at random) and
    random terminal strings: the hash-consed core is dead exactly when the naive item set is
    empty, accepts exactly when S' -> start . from 0 is in it, and allows exactly the
    terminals after its dots."""
    from grammask.automata.earley import DEAD, EarleyParser, Productions
    rng = np.random.default_rng(7)
    for _ in range(60):
        n_t, n_nt = 3, int(rng.integers(2, 5))
        lhs, rhs = [n_t], [(n_t + 1,)]
        for a in range(n_t + 1, n_t + 1 + n_nt):
            for _alt in range(int(rng.integers(1, 4))):
                lhs.append(a)
                rhs.append(tuple(int(s) for s in rng.integers(0, n_t + 1 + n_nt,
                                                              int(rng.integers(0, 4)))
                                 if s != n_t))
        prods = Productions(n_t, tuple(lhs), tuple(rhs), n_t + 1 + n_nt)
        parser = EarleyParser(prods)
        for _walk in range(5):
            text = [int(t) for t in rng.integers(0, n_t, int(rng.integers(0, 7)))]
            sets = _naive_sets(prods, text)
            state = parser.initial
            for i in range(len(text) + 1):
                if i:
                    state = parser.advance(state, frozenset({text[i - 1]}))
                    assert (state == DEAD) == (not sets[i]), (prods, text[:i])
                    if state == DEAD:
                        break
                items = sets[i]
                assert parser.is_accepting(state) == ((0, 1, 0) in items), (prods, text[:i])
                allowed = {prods.rhs[p][d] for p, d, _ in items
                           if d < len(prods.rhs[p]) and prods.rhs[p][d] < n_t}
                assert parser.allowed(state) == frozenset(allowed), (prods, text[:i])
