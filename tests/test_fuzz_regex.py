"""Short fuzz of the regex front end: any input compiles or raises GrammarError, quickly."""
from __future__ import annotations

import os
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grammask import GrammarError, Limits, Matcher, TokenizerInfo, compile_regex

ALPHABET = list("ab()[]{}|*+?^$.\\-,:=!<>#0129dDwWsSbBuxNpPk'\"é中😀\n") + ["(?", "(?:", "(?P<", "\\u", "{2,", "[^"]
TOK = TokenizerInfo([b"a", b"b", b"ab", b"0", b"\xc3", b"\xa9", "é".encode(), "中".encode(), None],
                    eos_token_ids=[8])
LIMITS = Limits(max_repeat=200, max_dfa_states=5_000, max_nfa_states=50_000)


@settings(max_examples=int(os.environ.get("GRAMMASK_FUZZ_EXAMPLES", "400")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(ALPHABET), max_size=25).map("".join))
def test_any_pattern_compiles_or_raises_grammar_error(pattern: str) -> None:
    t0 = time.perf_counter()
    try:
        cg = compile_regex(pattern, TOK, limits=LIMITS)
    except GrammarError as e:
        assert e.position is None or 0 <= e.position <= len(pattern)
    else:
        m = Matcher(cg)
        for tid in m.allowed_token_ids()[:3]:
            if tid != 8:
                assert m.accept_token(int(tid))
                break
    assert time.perf_counter() - t0 < 30.0, f"hang guard: slow pattern {pattern!r}"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_arbitrary_text_patterns(pattern: str) -> None:
    try:
        compile_regex(pattern, TOK, limits=LIMITS)
    except GrammarError:
        pass
