"""Short fuzz of every front end (the long campaign is `benchmarks/fuzz_long.py`).

Property (`fuzz_inputs.check_case`): an input either compiles -- and then a Matcher fills
masks and walks a few random allowed tokens, each accepted -- or raises a `GrammaskError`;
never another exception, never a hang. Inputs: generated regexes, Lark and GBNF grammars and
JSON Schemas, and mutations of real ones (../shared/data grammars and JSONSchemaBench schemas
when ../shared is there, built-in seeds otherwise). Each case runs under a SIGALRM guard so a
hang fails the test instead of stalling the suite.

Deterministic: hypothesis draws case seeds with the suite's `derandomize=True` profile
(`GRAMMASK_FUZZ_RANDOM=1` explores); `GRAMMASK_FUZZ_EXAMPLES` scales the example count.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_inputs as fz
from grammask import GrammaskError

EXAMPLES = int(os.environ.get("GRAMMASK_FUZZ_EXAMPLES", "60"))
# A compile past its deadline inside Lark's code is interrupted by an asynchronous exception
# (grammask.limits.interruptible); when it lands in a gc callback (hypothesis installs one)
# Python reports it as unraisable and the watchdog interrupts again 50 ms later.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
HANG_SECONDS = 60         # the limits below stop a compile after 1.5 s; this is the backstop
# The long campaign's limits with a shorter compile deadline: keeps the suite fast; what a
# case exercises up to the deadline is the same.
LIMITS = dataclasses.replace(fz.FUZZ_LIMITS, max_compile_seconds=1.5)


class Hang(Exception):
    pass


@contextmanager
def hang_guard(seconds: int):
    """Fail (instead of stalling the suite) when the block runs past `seconds`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise Hang(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_case(kind: str, seed: int) -> str:
    front, payload = fz.make_case(kind, seed)
    with hang_guard(HANG_SECONDS):
        try:
            return fz.check_case(front, payload, seed, LIMITS)
        except Hang:
            pytest.fail(f"hang: {kind}:{seed} {fz.describe(front, payload)}")
        except GrammaskError:
            raise
        except Exception as exc:
            raise AssertionError(f"{kind}:{seed} raised {type(exc).__name__}: {exc}\n"
                                 f"{fz.describe(front, payload)}") from exc


FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SEEDS = st.integers(min_value=0, max_value=2**31 - 1)


@pytest.mark.parametrize("kind", fz.KINDS)
def test_front_end_compiles_or_raises_documented_error(kind: str) -> None:
    if kind.endswith("_mutated") and kind != "regex_mutated" and fz.shared_data() is None:
        pass            # built-in seeds still get mutated; ../shared only widens the corpus

    @FUZZ
    @given(SEEDS)
    def check(seed: int) -> None:
        run_case(kind, seed)

    check()


def test_shared_corpus_is_used_when_present() -> None:
    if fz.shared_data() is None:
        pytest.skip("../shared/data is missing (set GRAMMASK_SHARED): mutating built-in seeds "
                    "only")
    assert len(fz.corpus("lark")) > 20 and len(fz.corpus("gbnf")) > 8
    assert len(fz.corpus("json_schema")) > 100 and len(fz.corpus("regex")) > 20


# ------------------------------------------------------------------ hypothesis-native schemas
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=6))
_keywords = st.sampled_from(fz._KEYWORDS)


def _schema_dicts(children):
    values = st.one_of(_scalars, children, st.lists(children, max_size=3),
                       st.dictionaries(st.text(max_size=4), children, max_size=3),
                       st.sampled_from(["string", "integer", "object", "array", "number",
                                        "#", "#/$defs/a", "^[a-z]+$", "date-time"]))
    return st.dictionaries(_keywords, values, max_size=4)


SCHEMAS = st.recursive(st.one_of(st.booleans(), st.just({}),
                                 st.sampled_from([{"type": t} for t in
                                                  ("string", "integer", "number", "null",
                                                   "boolean", "array", "object")])),
                       _schema_dicts, max_leaves=12)


@FUZZ
@given(SCHEMAS)
def test_random_keyword_soup_schemas(schema) -> None:
    with hang_guard(HANG_SECONDS):
        try:
            fz.check_case("json_schema", schema, 0, LIMITS)
        except Hang:
            pytest.fail(f"hang: {json.dumps(schema)[:500]}")


GRAMMAR_CHARS = st.sampled_from(list('ab"()[]{}|*+?~.:;=/\\\n %_-0129AZ') +
                                ["::=", "start:", "root ::=", "%ignore", "%import common.",
                                 "->", "..", "/[a-z]+/", '"x"', "é"])


@FUZZ
@given(st.lists(GRAMMAR_CHARS, max_size=30).map("".join), st.sampled_from(["lark", "gbnf"]))
def test_random_grammar_text(text: str, syntax: str) -> None:
    with hang_guard(HANG_SECONDS):
        try:
            fz.check_case(syntax, text, 0, LIMITS)
        except Hang:
            pytest.fail(f"hang: {syntax} {text!r}")
