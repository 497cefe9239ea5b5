"""Limits with clear errors: pathological regexes, huge repetitions, exponential grammars and
schemas, deep nesting (never a RecursionError), the compile deadline, the memory bound, and
bounded whitespace (`Limits.max_whitespace`) with masks checked against an oracle.

Every test that could hang if a limit failed runs under a SIGALRM guard."""
from __future__ import annotations

import json
import random
import signal
import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest

import grammask as gm
from cfg_oracle import PrefixOracle
from grammask import GrammaskError, LimitExceededError, Limits, SchemaError
from grammask.grammar import load_grammar

BYTES = gm.TokenizerInfo([bytes([b]) for b in range(256)] + [None], eos_token_ids=[256])


@contextmanager
def at_most(seconds: float):
    """Fail instead of hanging. A hang guard only, with 4x headroom over the block's expected
    time: timings are measured in benchmarks/, never asserted (a loaded CI machine is slow)."""
    main = threading.current_thread() is threading.main_thread()
    if main:
        def on_alarm(signum, frame):
            raise AssertionError(f"still running after {int(4 * seconds) + 1} s")
        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(int(4 * seconds) + 1)
    try:
        yield
    finally:
        if main:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)


def raises_limit(name: str, fn, seconds: float = 10.0) -> LimitExceededError:
    with at_most(seconds), pytest.raises(LimitExceededError) as info:
        fn()
    assert info.value.limit == name, str(info.value)
    assert f"Limits({name}=" in str(info.value)          # the message says what to raise
    return info.value


# ----------------------------------------------------------------------------- Limits itself
def test_limits_defaults_and_validation() -> None:
    d = gm.DEFAULT_LIMITS
    assert d.max_compile_seconds == 120.0 and d.max_memory_bytes == 2 << 30
    assert d.max_whitespace is None
    for bad in ({"max_dfa_states": -1}, {"max_whitespace": 0}, {"max_compile_seconds": 0},
                {"max_memory_bytes": -5}, {"max_repeat": 1.5}, {"max_nesting": True}):
        with pytest.raises(ValueError):
            Limits(**bad)
    with pytest.raises(GrammaskError, match="limits must be"):
        gm.compile_regex("a", BYTES, limits={"max_dfa_states": 3})


# ----------------------------------------------------------------------------- regexes
def test_pathological_regexes_raise_named_limits() -> None:
    tight = Limits(max_nfa_states=2_000, max_dfa_states=2_000)
    raises_limit("max_nfa_states", lambda: gm.compile_regex("((a|aa)*){1000}", BYTES,
                                                            limits=tight))
    raises_limit("max_nfa_states", lambda: gm.compile_regex("(a|aa)*" * 1000, BYTES,
                                                            limits=tight))
    raises_limit("max_repeat", lambda: gm.compile_regex("a{1,1000000}", BYTES))
    raises_limit("max_repeat", lambda: gm.compile_regex("x{99999}", BYTES))
    raises_limit("max_nfa_states", lambda: gm.compile_regex("(a{1,9999}){1,9999}", BYTES))
    raises_limit("max_dfa_states", lambda: gm.compile_regex("(a|b)*a(a|b){20}", BYTES,
                                                            limits=tight))
    raises_limit("max_regex_length", lambda: gm.compile_regex("a" * 100_001, BYTES))
    # the blow-up that is *not* one: (a|aa)* repeated is a*, compiled quickly
    with at_most(10):
        cg = gm.compile_regex("((a|aa)*){300}", BYTES)
    assert cg.dfa.num_states == 1


def test_memory_bound_stops_big_automata_before_building_them() -> None:
    small = Limits(max_memory_bytes=1 << 20)          # 1 MiB: ~1000 DFA states
    err = raises_limit("max_memory_bytes", lambda: gm.compile_regex('[^"]{0,3000}', BYTES,
                                                                     limits=small))
    assert err.value > 1 << 20 and "automaton tables" in str(err)
    assert gm.compile_regex('[a-z]{0,300}', BYTES, limits=small).dfa.num_states > 300
    big_terminal = 'start: S\nS: /[a-z]{0,2000}x/\n'
    raises_limit("max_memory_bytes", lambda: gm.compile_grammar(big_terminal, BYTES,
                                                                 cache=False, limits=small))
    schema = {"type": "string", "maxLength": 3000}
    raises_limit("max_memory_bytes", lambda: gm.compile_json_schema(schema, BYTES,
                                                                     cache=False, limits=small))


# ----------------------------------------------------------------------------- deadline
def test_tiny_compile_deadline_names_max_compile_seconds() -> None:
    instant = Limits(max_compile_seconds=1e-9)
    raises_limit("max_compile_seconds", lambda: gm.compile_regex(r"\d+", BYTES, limits=instant))
    raises_limit("max_compile_seconds",
                 lambda: gm.compile_grammar('start: "a"+\n', BYTES, cache=False, limits=instant))
    raises_limit("max_compile_seconds",
                 lambda: gm.compile_json_schema({"type": "integer"}, BYTES, cache=False,
                                                limits=instant))
    # a bound that is met changes nothing
    ok = gm.compile_regex(r"\d+", BYTES, limits=Limits(max_compile_seconds=60))
    assert gm.Matcher(ok).accept_string("123")


# A generated grammar whose 1,074 productions make Lark's LALR(1) analysis run for minutes:
# third-party code without checkpoints, stopped by the deadline watchdog.
SLOW_LALR = r"""
%import common.WORD
r4: (r2 WORD* start+ (WS T0+)~2 | T0~1..3 start T2)+ "ab"i r3~1..3 ","* | r2* T2+ (("e" | T3 T0+ ("ab"i r4 T3? T0+) | /(a|b)+?c/)~2 r3*) r5*
_sep{x, sep}: x (sep x)*
r_t: _sep{r4, ","}
%import common.CNAME
r1.3: T3~1..3 r4+ | /[a-z]+/?
T2.0: "a"
T0.0: /"[^"]*"/ | ","
T3: "if" | /[0-9]+/
!r2: r3? T3~2 r1 r5
r5: "e" | "é"~1..3 (("a"~2 ("a"? r2* T2~1..3 "z"~2)? T2~1..3 r1* | T3~1..3 | (T2+ "if" | r5 /a*/* | T0 T2 r5~1..3)~2 r1+ T2*)? r1~2 | "e" | WORD* r3+ ","~1..3) r5+ CNAME*
start: ","~2 /a*/? "x".."z" T1 | r1+ r5
r3: "e"
T1: /"[^"]*"/
%import common.WS
"""


def test_deadline_interrupts_lark_lalr_analysis() -> None:
    limits = Limits(max_compile_seconds=1.0)
    err = raises_limit("max_compile_seconds",
                       lambda: gm.compile_grammar(SLOW_LALR, BYTES, cache=False, limits=limits),
                       seconds=15)
    assert "LALR" in str(err)
    # the interrupted thread is fine afterwards, and so is the next compile
    assert gm.Matcher(gm.compile_grammar('start: "a"+\n', BYTES, cache=False)).accept_string("aa")


def test_deadline_interrupts_stay_inside_their_compile() -> None:
    """Several threads past their deadline inside Lark at once: each gets its own
    LimitExceededError, and no interrupt leaks into what the thread does afterwards."""
    errors: list[str] = []

    def run(k: int) -> None:
        try:
            try:
                gm.compile_grammar(SLOW_LALR, BYTES, cache=False,
                                   limits=Limits(max_compile_seconds=0.2 + 0.1 * k))
                errors.append(f"thread {k}: compiled")
            except LimitExceededError as exc:
                if exc.limit != "max_compile_seconds":
                    errors.append(f"thread {k}: {exc}")
            t0, x = time.perf_counter(), 0
            while time.perf_counter() - t0 < 0.6:       # plain work after the compile
                x += sum(range(50))
        except BaseException as exc:                     # noqa: BLE001 - a leaked interrupt
            errors.append(f"thread {k}: {type(exc).__name__} {exc}")

    with at_most(30):
        threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors


# ----------------------------------------------------------------------------- grammars
def test_lark_optional_items_cannot_expand_exponentially() -> None:
    grammar = "start: " + " ".join(f'"a{i}"?' for i in range(40)) + "\n"
    err = raises_limit("max_grammar_rules",
                       lambda: gm.compile_grammar(grammar, BYTES, cache=False), seconds=5)
    assert err.line == 1
    grammar = "start: " + " ".join(f'("x{i}" | "y{i}")' for i in range(30)) + "\n"
    raises_limit("max_grammar_rules", lambda: gm.compile_grammar(grammar, BYTES, cache=False),
                 seconds=5)
    raises_limit("max_repeat", lambda: gm.compile_grammar('start: "a"~1..100000\n', BYTES,
                                                          cache=False), seconds=5)


@pytest.mark.parametrize("depth", [300, 5000])
def test_deep_nesting_is_a_limit_error_never_a_recursion_error(depth: int) -> None:
    cases = {
        "regex": lambda: gm.compile_regex("(" * depth + "a" + ")" * depth, BYTES),
        "lark": lambda: gm.compile_grammar("start: " + "(" * depth + '"a"' + ")" * depth + "\n",
                                           BYTES, cache=False),
        "lark rule chain": lambda: gm.compile_grammar(
            "".join(f'r{i}: r{i + 1} | "a"\n' for i in range(depth)).replace("r0", "start", 1)
            + f'r{depth}: "b"\n', BYTES, cache=False, limits=Limits(max_compile_seconds=2)),
        "gbnf": lambda: gm.compile_grammar("root ::= " + "(" * depth + '"a"' + ")" * depth,
                                           BYTES, cache=False),
        "schema text": lambda: gm.compile_json_schema("[" * depth * 20 + "]" * depth * 20,
                                                      BYTES, cache=False),
    }
    nested: object = {"type": "string"}
    for _ in range(depth):
        nested = {"anyOf": [nested]}
    cases["schema anyOf"] = lambda: gm.compile_json_schema(nested, BYTES, cache=False)
    props: object = {"type": "string"}
    for _ in range(depth):
        props = {"type": "object", "properties": {"a": props}, "required": ["a"]}
    cases["schema properties"] = lambda: gm.compile_json_schema(props, BYTES, cache=False)
    for name, fn in cases.items():
        with at_most(30):
            try:
                fn()                     # a chain of rules may simply compile: that is fine
            except GrammaskError as exc:
                assert str(exc), name
            except RecursionError:       # pragma: no cover - the failure this test is about
                pytest.fail(f"{name}: RecursionError escaped")


def test_exponential_schemas_are_refused_quickly() -> None:
    s: object = {"type": "integer"}
    for i in range(16):
        s = {"anyOf": [s, {"type": "string", "maxLength": i}, {"not": s}]}
    with at_most(10), pytest.raises(SchemaError, match="max_branches"):
        gm.compile_json_schema(s, BYTES, cache=False)
    s = {"type": "integer"}
    for _ in range(24):
        s = {"oneOf": [s, {"type": "number"}, {"type": "integer", "minimum": 0}]}
    with at_most(10), pytest.raises(SchemaError, match="max_branches"):
        gm.compile_json_schema(s, BYTES, cache=False)
    # 24 nested oneOf [s, number]: the exact form's contradicted branches drop out before
    # they count (integers alternate between valid and not, level by level), so it compiles
    s = {"type": "integer"}
    for _ in range(24):
        s = {"oneOf": [s, {"type": "number"}]}
    with at_most(10):
        c = gm.compile_json_schema(s, BYTES, cache=False)
    for text, valid in (("1", True), ("-3", True), ("1.5", False), ('"a"', False)):
        m = gm.Matcher(c)
        assert (m.accept_string(text) and m.can_terminate()) == valid, text
    # allOf of many anyOfs distributes multiplicatively
    s = {"allOf": [{"anyOf": [{"minimum": i}, {"maximum": -i}]} for i in range(30)]}
    with at_most(20):
        try:
            gm.compile_json_schema(s, BYTES, cache=False)
        except GrammaskError:
            pass


def test_four_megabyte_schema_is_bounded_by_the_deadline() -> None:
    props = {f"property_{i:06d}": {"type": "string", "description": "x" * 40, "maxLength": 20}
             for i in range(40_000)}
    schema = {"type": "object", "properties": props, "required": list(props)[:100]}
    assert len(json.dumps(schema)) > 4_000_000
    limits = Limits(max_compile_seconds=2.0)
    for doc in (schema, json.dumps(schema)):
        with at_most(15):
            try:
                gm.compile_json_schema(doc, BYTES, cache=False, limits=limits)
            except LimitExceededError as exc:
                assert exc.limit in ("max_compile_seconds", "max_grammar_rules")


def test_schema_must_be_json_data() -> None:
    for bad, what in [({"const": "a\udcffb"}, "lone surrogate"),
                      ({"enum": ["x", "\ud800"]}, "lone surrogate"),
                      ({"properties": {"\udfff": {}}}, "lone surrogate"),
                      ({"minimum": float("nan")}, "not a JSON number"),
                      ({"maximum": float("inf")}, "not a JSON number"),
                      ({1: {"type": "string"}}, "keys must be strings"),
                      ({"enum": [{1, 2}]}, "not JSON data")]:
        with pytest.raises(SchemaError, match=what):
            gm.compile_json_schema(bad, BYTES, cache=False)
    m = gm.Matcher(gm.compile_json_schema('{"const": "\\u00e9"}', BYTES, cache=False))
    assert m.accept_string('"é"') and m.can_terminate()


def test_rules_that_derive_nothing_do_not_open_dead_ends() -> None:
    """`r1 ::= "a" r1` derives no finite string: its alternatives are dropped, so the mask
    never allows a prefix that cannot be completed (found by the fuzzer: the matcher accepted
    'a' and the forced continuation was 'aaaa...' forever)."""
    for text in ('root ::= "b" | "a" r1\nr1 ::= "a" r1\n',
                 'start: "b" | "a" r1\nr1: "a" r1\n'):
        cg = gm.compile_grammar(text, BYTES, cache=False)
        m = gm.Matcher(cg)
        assert set(m.allowed_token_ids().tolist()) == {ord("b")}
        assert m.accept_token(ord("b")) and m.can_terminate()
    g = load_grammar('root ::= "b" | "a" r1\nr1 ::= "a" r1\n').pruned()
    assert "r1" not in g.rules and any("derives no finite string" in str(w) for w in g.warnings)


# ----------------------------------------------------------------------------- whitespace
LIST = r"""
start: "[" [item ("," item)*] "]"
item: NUM | NAME
NUM: /[0-9]+/
NAME: /[a-z]+/
%ignore /[ \t]+/
%ignore /\n/
%ignore /#[a-z]*/
"""
WS = b" \t\n"


def _ws_runs_ok(data: bytes, bound: int) -> bool:
    run = 0
    for b in data:
        run = run + 1 if b in WS else 0
        if run > bound:
            return False
    return True


def _vocab() -> gm.TokenizerInfo:
    toks = [bytes([b]) for b in b"[],0123abc#xyz \t\n"] + \
        [b"  ", b"   ", b"\n  ", b" \n", b"\t\t", b", ", b" ,", b"1 ", b" a", b"#a\n", b"[ ",
         b"    ", b"] ", b"\n\n"]
    return gm.TokenizerInfo(toks + [None], eos_token_ids=[len(toks)])


@pytest.mark.parametrize("bound", [1, 2, 3, 5])
def test_max_whitespace_masks_are_exact(bound: int) -> None:
    """Every mask equals the oracle's: the original grammar's viable prefixes whose runs of
    ignored whitespace are at most `bound` bytes -- walked with many whitespace tokens."""
    tok = _vocab()
    cg = gm.compile_grammar(LIST, tok, cache=False, limits=Limits(max_whitespace=bound))
    oracle = PrefixOracle(load_grammar(LIST))
    tb = tok.token_bytes
    rng = random.Random(bound)
    checked = 0
    for walk in range(12):
        m = gm.Matcher(cg)
        prefix = b""
        for _step in range(14):
            got = set(m.allowed_token_ids().tolist())
            want = {i for i, t in enumerate(tb) if t is not None and _ws_runs_ok(prefix + t, bound)
                    and oracle.viable(prefix + t)}
            if oracle.complete(prefix):
                want.add(tok.eos_token_ids[0])
            assert got == want, (bound, prefix, sorted(got ^ want))
            checked += 1
            choices = [i for i in got if tb[i] is not None]
            if not choices:
                break
            ws_first = [i for i in choices if tb[i][0] in WS]
            t = rng.choice(ws_first if ws_first and rng.random() < 0.6 else choices)
            assert m.accept_token(t)
            prefix += tb[t]
    assert checked > 100


def test_max_whitespace_semantics() -> None:
    tok = _vocab()
    bounded = gm.compile_grammar(LIST, tok, cache=False, limits=Limits(max_whitespace=4))
    free = gm.compile_grammar(LIST, tok, cache=False)

    def accepts(cg, text: str) -> bool:
        m = gm.Matcher(cg)
        return m.accept_string(text) and m.can_terminate()

    for text, ok in [("[1,2]", True), ("[ 1 , 2 ]", True), ("[    1]", True),
                     ("[     1]", False), ("[ \n \t1]", True), ("[ \n \t 1]", False),
                     ("[  #abc\n  1]", True), ("[1]    ", True), ("[1]     ", False),
                     ("[  \n\n  ]", False), ("[1 #a #b  2]", False)]:
        assert accepts(bounded, text) == ok, text
        if not ok and "#a #b" not in text:
            assert accepts(free, text), text            # the bound is what refuses it
    # generation cannot loop: after max_whitespace bytes only non-whitespace is allowed
    m = gm.Matcher(bounded)
    assert m.accept_string("[1,    ")
    allowed = [tok.token_bytes[i] for i in m.allowed_token_ids()]
    assert allowed and all(t[0] not in WS for t in allowed if t)


def test_max_whitespace_caps_json_schema_flexible_whitespace() -> None:
    raises_limit("max_whitespace", lambda: gm.compile_json_schema(
        {"type": "object"}, BYTES, cache=False, whitespace="flexible", max_whitespace=8,
        limits=Limits(max_whitespace=4)))
    cg = gm.compile_json_schema({"type": "array"}, BYTES, cache=False, whitespace="flexible",
                                max_whitespace=2, limits=Limits(max_whitespace=4))
    assert gm.Matcher(cg).accept_string("[ 1,  2 ]")


def test_max_whitespace_on_a_shared_json_grammar_keeps_json_valid() -> None:
    json_lark = r"""
?start: value
?value: object | array | ESCAPED_STRING | SIGNED_NUMBER | "true" | "false" | "null"
array: "[" [value ("," value)*] "]"
object: "{" [pair ("," pair)*] "}"
pair: ESCAPED_STRING ":" value
%import common.ESCAPED_STRING
%import common.SIGNED_NUMBER
%import common.WS
%ignore WS
"""
    cg = gm.compile_grammar(json_lark, BYTES, cache=False, limits=Limits(max_whitespace=7))
    doc = json.dumps({"a": [1, 2, {"b": "x   y"}], "c": None}, indent=2)   # runs <= 7 bytes
    m = gm.Matcher(cg)
    assert m.accept_string(doc) and m.can_terminate()
    m = gm.Matcher(cg)
    assert not m.accept_string('{"a":        1}')        # 8 spaces between two lexemes
    m = gm.Matcher(cg)
    assert m.accept_string('{"a": "       "}') and m.can_terminate()   # inside a string: data
    mask = np.zeros((1, 9), np.int32)
    m = gm.Matcher(cg)
    assert m.accept_string("[1," + " " * 7)
    m.fill_next_token_bitmask(mask)
    bits = np.unpackbits(mask.view(np.uint8), bitorder="little")[:257]
    assert not any(bits[b] for b in b" \t\n\r") and bits[ord("2")]


# ----------------------------------------------------------------------------- wrong types
WRONG = ["x", -1, 1.5, [], {}, None, True, [1], [{}], {"a": 1}]


@pytest.mark.parametrize("context", ["plain", "not", "anyOf", "not not", "if/else"])
def test_every_keyword_with_a_wrongly_typed_value_is_a_schema_error(context: str) -> None:
    """Found by the fuzzer (`{"not": {"maxLength": "x"}}` was a TypeError in the complement
    builder, `dependentRequired: {"a": [{}]}` an unhashable dict): every keyword grammask
    reads, with values of the wrong type, in several contexts -- refused with a
    `GrammaskError` or compiled, never another exception."""
    import fuzz_inputs as fz
    for kw in fz._KEYWORDS + ["additionalItems", "title", "default"]:
        for v in WRONG:
            s = {kw: v}
            doc = {"plain": s, "not": {"not": s}, "anyOf": {"anyOf": [s, {"type": "null"}]},
                   "not not": {"not": {"not": s}},
                   "if/else": {"if": s, "then": {"type": "string"}, "else": {"not": s}}}[context]
            try:
                fz.exercise(gm.compile_json_schema(doc, BYTES, cache=False), 0, 4)
            except GrammaskError:
                pass


def test_a_swallowed_deadline_interrupt_is_not_reported_as_unraisable() -> None:
    """An interrupt landing in a weakref callback or `__del__` inside a region is swallowed
    there (the watchdog fires again); the unraisable-exception report it would make is
    filtered out, every other report still reaches the previous hook."""
    import sys
    import types
    from grammask.limits import _DeadlineInterrupt, _quiet_swallowed_interrupts
    seen: list[object] = []
    previous = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        _quiet_swallowed_interrupts()
        _quiet_swallowed_interrupts()                 # idempotent: wraps once
        ours = types.SimpleNamespace(exc_type=_DeadlineInterrupt,
                                     exc_value=_DeadlineInterrupt())
        other = types.SimpleNamespace(exc_type=ValueError, exc_value=ValueError("x"))
        sys.unraisablehook(ours)
        sys.unraisablehook(other)
        assert seen == [other]
    finally:
        sys.unraisablehook = previous
