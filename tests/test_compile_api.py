"""compile_regex: argument checking, limits passed through, statistics, precompute modes."""
from __future__ import annotations

import pytest

from grammask import (GrammarError, LimitExceededError, Limits, Matcher, TokenizerError,
                      TokenizerInfo, compile_regex)


@pytest.fixture(scope="module")
def tok() -> TokenizerInfo:
    return TokenizerInfo([b"a", b"b", b"ab", None], eos_token_ids=[3])


def test_errors_name_the_position(tok: TokenizerInfo) -> None:
    with pytest.raises(GrammarError) as e:
        compile_regex("ab\\1", tok)
    assert e.value.position == 2 and e.value.column == 3
    with pytest.raises(GrammarError, match="must be a str"):
        compile_regex(b"ab", tok)  # type: ignore[arg-type]


def test_limits_are_parameters(tok: TokenizerInfo) -> None:
    with pytest.raises(LimitExceededError, match="max_repeat"):
        compile_regex("a{50}", tok, limits=Limits(max_repeat=10))
    with pytest.raises(LimitExceededError, match="max_dfa_states"):
        compile_regex("(a|b)*a(a|b){12}", tok, limits=Limits(max_dfa_states=500))
    assert compile_regex("a{50}", tok).dfa.num_states == 51


@pytest.mark.parametrize("precompute", [None, True, False])
def test_precompute_modes_give_same_masks(tok: TokenizerInfo, precompute: bool | None) -> None:
    cg = compile_regex("(ab){0,100}", tok, precompute=precompute)
    stats = cg.stats()
    assert stats["dfa_states"] == cg.dfa.num_states and stats["compile_ms"] >= 0
    if precompute:
        assert stats["masks_computed"] == cg.dfa.num_states
    m = Matcher(cg)
    assert sorted(m.allowed_token_ids().tolist()) == [0, 2, 3]
    assert m.accept_token(0)
    assert sorted(m.allowed_token_ids().tolist()) == [1]


def test_tokenizer_accepted_in_any_form() -> None:
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import models
    tk = tokenizers.Tokenizer(models.WordLevel({"a": 0, "b": 1, "</s>": 2}, unk_token="</s>"))
    with pytest.raises(TokenizerError, match="eos"):
        compile_regex("a+", tk)  # a bare tokenizer has no config to name its stop token
    info = TokenizerInfo.from_tokenizers(tk, eos_token_ids=[2])
    cg = compile_regex("a+", info)
    assert cg.vocab_size == 3 and sorted(Matcher(cg).allowed_token_ids().tolist()) == [0]
