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
