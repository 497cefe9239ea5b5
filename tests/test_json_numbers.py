"""JSON number automata under numeric constraints: brute force against a Fraction reference.

Each DFA is checked three ways: on a pool of texts (exhaustive short strings over a number-ish
alphabet, random valid numbers, and texts right at / next to each bound), on random words the
DFA itself generates (soundness: it must never accept a violating number), and on the trimmed
invariant (start not accepting, every state reachable and able to reach acceptance)."""
from __future__ import annotations

import itertools
import math
import random
import re
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from grammask.automata import ByteDFA
from grammask.errors import LimitExceededError, SchemaError
from grammask.grammar.json_schema.numbers import integer_dfa, number_dfa
from grammask.limits import Limits

NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")


# ----------------------------------------------------------------------------- references
def exact(x: object) -> Fraction | None:
    if x is None:
        return None
    if isinstance(x, float):
        return Fraction(Decimal(repr(x)))
    return Fraction(x)  # type: ignore[arg-type]


def lcm_ok(v: Fraction, mults: list) -> bool:
    return all((v / exact(m)).denominator == 1 for m in mults)


def in_bounds(v: Fraction, lo=None, hi=None, xlo=None, xhi=None) -> bool:
    lo, hi, xlo, xhi = map(exact, (lo, hi, xlo, xhi))
    return ((lo is None or v >= lo) and (hi is None or v <= hi)
            and (xlo is None or v > xlo) and (xhi is None or v < xhi))


def ref_number(text: str, lo=None, hi=None, xlo=None, xhi=None, mult=None) -> bool:
    if not NUMBER.fullmatch(text):
        return False
    mults = [] if mult is None else mult if isinstance(mult, list) else [mult]
    if lo is None and hi is None and xlo is None and xhi is None and not mults:
        return True
    if "e" in text or "E" in text:
        if mults or any(exact(b) != 0 for b in (lo, hi, xlo, xhi) if b is not None):
            return False      # documented: no exponent under nonzero bounds or multipleOf
        text = re.split("[eE]", text)[0]   # zero bounds: the mantissa's sign decides (and
        #                                    1e999999999 must not be expanded)
    v = Fraction(Decimal(text))
    return in_bounds(v, lo, hi, xlo, xhi) and lcm_ok(v, mults)


def ref_integer(text: str, lo=None, hi=None, mult=None) -> bool:
    if not INTEGER.fullmatch(text) or text == "-0":
        return False
    v = Fraction(int(text))
    return in_bounds(v, lo, hi) and (mult is None or lcm_ok(v, [mult]))


# ----------------------------------------------------------------------------- helpers
def assert_trimmed(dfa: ByteDFA) -> None:
    assert not dfa.accepting[0], "start state must not accept"
    n = dfa.num_states
    edges = [(s, t) for s in range(n) for t in set(dfa.trans[s].tolist()) - {-1}]
    seen = {0}
    todo = [0]
    succ: dict[int, list[int]] = {}
    pred: dict[int, list[int]] = {}
    for s, t in edges:
        succ.setdefault(s, []).append(t)
        pred.setdefault(t, []).append(s)
    while todo:
        for t in succ.get(todo.pop(), []):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    assert len(seen) == n, "unreachable states"
    live = set(np.flatnonzero(dfa.accepting).tolist())
    todo = list(live)
    while todo:
        for s in pred.get(todo.pop(), []):
            if s not in live:
                live.add(s)
                todo.append(s)
    assert len(live) == n, "states that cannot reach acceptance"


def random_words(dfa: ByteDFA, rng: random.Random, count: int, max_len: int = 40) -> list[str]:
    """Random accepted words: walk live transitions, stopping at accepting states at random."""
    words = []
    for _ in range(count):
        s, out = 0, bytearray()
        while True:
            nxt = np.flatnonzero(dfa.trans[s] >= 0)
            if dfa.accepting[s] and (not len(nxt) or rng.random() < 0.25 or len(out) >= max_len):
                break
            b = int(rng.choice(nxt.tolist()))
            out.append(b)
            s = int(dfa.trans[s, b])
        words.append(out.decode())
    return words


def decimal_text(x: Fraction, places: int = 8) -> str:
    """x as a plain decimal (truncated toward zero to `places` digits if it does not end)."""
    sign = "-" if x < 0 else ""
    x = abs(x)
    whole = x.numerator // x.denominator
    frac = x - whole
    digits = []
    while frac and len(digits) < places:
        frac *= 10
        digits.append(str(frac.numerator // frac.denominator))
        frac -= frac.numerator // frac.denominator
    return sign + str(whole) + ("." + "".join(digits) if digits else "")


def near_texts(bounds: list) -> list[str]:
    """Texts at, just around, and sign-flipped from each bound, with padded spellings."""
    out = []
    for c in bounds:
        c = exact(c)
        if c is None:
            continue
        for k in range(9):
            step = Fraction(1, 10 ** k)
            cut = Fraction(math.trunc(c * 10 ** k), 10 ** k)      # c's first k fraction digits
            for y in (c, c - step, c + step, -c, Fraction(math.floor(c)), Fraction(math.ceil(c)),
                      cut, cut - step, cut + step):
                t = decimal_text(y)
                out += [t, t + ("0" if "." in t else ".0"), t.lstrip("-")]
    return out


def random_number_texts(rng: random.Random, count: int) -> list[str]:
    out = []
    for _ in range(count):
        t = "-" if rng.random() < 0.4 else ""
        t += rng.choice(["0", str(rng.randrange(1, 10)), str(rng.randrange(1, 1000)),
                         str(rng.randrange(1, 10 ** rng.randrange(1, 25)))])
        if rng.random() < 0.6:
            t += "." + "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 6)))
        if rng.random() < 0.1:
            t += rng.choice("eE") + rng.choice(["", "+", "-"]) + str(rng.randrange(0, 30))
        out.append(t)
    return out


_rng = random.Random(1234)
POOL = (["".join(p) for n in range(1, 5) for p in itertools.product("-019.eE+", repeat=n)]
        + ["".join(p) for p in itertools.product("-025.", repeat=5)]
        + random_number_texts(_rng, 1500)
        + ["-0", "-0.0", "0.50", "12.75", "1e5", "1E+2", "-1.5e-3", "00", "01", "-", ".5", "5."])
POOL_INT = [t for t in POOL if INTEGER.fullmatch(t) or not NUMBER.fullmatch(t)]

VALUES = [None, None, None, -10 ** 20, -1000, -2.5, -1, -0.5, 0, 0.1, 0.5, 1, 3, 7.25, 10, 99,
          100, 10 ** 20, Fraction(1, 3), Decimal("0.001"), Fraction(-7, 6), Fraction(22, 7),
          Fraction(1, 12)]
MULTS = [None, None, 1, 2, 3, 0.5, 0.25, 0.1, 0.01, 1.5, 7, Fraction(1, 3), 0.3, 2.5, 12,
         [0.5, 0.75]]


def check_number(lo=None, hi=None, xlo=None, xhi=None, mult=None, seed=0) -> None:
    try:
        dfa = number_dfa(lo, hi, xlo, xhi, mult)
    except SchemaError:
        texts = POOL + near_texts([lo, hi, xlo, xhi])
        assert not any(ref_number(t, lo, hi, xlo, xhi, mult) for t in texts)
        return
    assert_trimmed(dfa)
    texts = POOL + near_texts([lo, hi, xlo, xhi])
    for t in texts:
        assert dfa.matches(t.encode()) == ref_number(t, lo, hi, xlo, xhi, mult), \
            (t, lo, hi, xlo, xhi, mult)
    for t in random_words(dfa, random.Random(seed), 60):
        assert ref_number(t, lo, hi, xlo, xhi, mult), (t, lo, hi, xlo, xhi, mult)


def check_integer(lo=None, hi=None, mult=None, seed=0) -> None:
    ints = list(range(-40, 41))
    for c in (lo, hi):
        if c is not None:
            ints += range(int(exact(c)) - 40, int(exact(c)) + 41)
    try:
        dfa = integer_dfa(lo, hi, mult)
    except SchemaError:
        assert not any(ref_integer(str(v), lo, hi, mult) for v in ints)
        if lo is not None and hi is not None and exact(hi) - exact(lo) < 10 ** 6:
            span = range(int(exact(lo)) - 1, int(exact(hi)) + 2)
            assert not any(ref_integer(str(v), lo, hi, mult) for v in span)
        return
    assert_trimmed(dfa)
    for t in POOL_INT + [str(v) for v in ints] + near_texts([lo, hi]):
        assert dfa.matches(t.encode()) == ref_integer(t, lo, hi, mult), (t, lo, hi, mult)
    for t in random_words(dfa, random.Random(seed), 60):
        assert ref_integer(t, lo, hi, mult), (t, lo, hi, mult)


# ----------------------------------------------------------------------------- tests
def test_unconstrained() -> None:
    check_number()
    check_integer()
    dfa = number_dfa()
    for t in ["0", "-0", "1e5", "-1.5E-3", "12.75", "1E+2"]:
        assert dfa.matches(t.encode())
    for t in ["", "-", "01", ".5", "5.", "1e", "+1", "1.e3"]:
        assert not dfa.matches(t.encode())


def test_examples_from_spec() -> None:
    d = number_dfa(minimum=0.5)
    assert all(d.matches(t.encode()) for t in ["0.5", "0.50", "0.6", "1", "12.75"])
    assert not any(d.matches(t.encode()) for t in ["0.49999", "0", "-1", "1e5", "5e-1"])
    d = number_dfa(exclusive_maximum=10)
    assert all(d.matches(t.encode()) for t in ["9.999", "-0", "-0.0", "-100", "0"])
    assert not any(d.matches(t.encode()) for t in ["10", "10.0", "10.000", "10.0001", "1e0"])
    d = number_dfa(minimum=0)
    assert d.matches(b"-0") and d.matches(b"-0.00") and not d.matches(b"-0.01")
    d = number_dfa(multiple_of=0.01)
    assert d.matches(b"1.25") and d.matches(b"1.250") and d.matches(b"-3")
    assert not d.matches(b"1.255") and not d.matches(b"0.001")
    d = number_dfa(minimum=Fraction(1, 3))         # non-terminating bound
    assert d.matches(b"0.3334") and not d.matches(b"0.3333333333")
    d = integer_dfa(-10 ** 30, 2 ** 64)
    for v in [-10 ** 30, 2 ** 64, 0, -1, 2 ** 64 - 1]:
        assert d.matches(str(v).encode())
    for v in [-10 ** 30 - 1, 2 ** 64 + 1, 10 ** 30]:
        assert not d.matches(str(v).encode())
    assert not d.matches(b"-0") and not d.matches(b"1.0")


@pytest.mark.parametrize("seed", range(40))
def test_integer_random(seed: int) -> None:
    rng = random.Random(seed)
    ints = [None, None, -10 ** 20, -10 ** 30, -1000, -17, -1, 0, 1, 5, 99, 100, 2 ** 31 - 1,
            2 ** 64, 10 ** 20, 0.5, -2.5]
    lo, hi = rng.choice(ints), rng.choice(ints)
    if rng.random() < 0.15 and lo is not None:
        hi = lo                                    # single-value range
    mult = rng.choice([None, None, 1, 2, 3, 7, 10, 12, 25, 100, 999])
    check_integer(lo, hi, mult, seed)


@pytest.mark.parametrize("seed", range(90))
def test_number_random(seed: int) -> None:
    rng = random.Random(seed)
    picks = [rng.choice(VALUES) if rng.random() < 0.5 else None for _ in range(4)]
    if rng.random() < 0.1 and picks[0] is not None:
        picks[1] = picks[0]                        # single-value range
    check_number(*picks, mult=rng.choice(MULTS), seed=seed)


@pytest.mark.parametrize("args", [
    (None, None, 0.1, None, None), (None, None, -2.5, None, None), (None, None, None, 0.1, None),
    (None, None, -2.5, 0.1, None), (-10 ** 20, 10 ** 20, None, None, 0.5),
    (0, 1, None, None, None), (None, None, None, None, 0.01), (-1, 1, None, None, 0.25),
    (Decimal("-0.001"), Decimal("0.001"), None, None, None), (0, 0, None, None, None),
    (None, None, 0, 1, Fraction(1, 3)), (7.25, 7.25, None, None, 0.25),
    (Fraction(1, 12), None, None, None, None), (None, None, None, Fraction(-1, 12), None),
    (None, Fraction(22, 7), Fraction(-22, 7), None, None), (None, None, 1e-7, 1e-5, None),
])
def test_number_edge_cases(args: tuple) -> None:
    check_number(*args)


def test_errors_name_path() -> None:
    p = "#/properties/n"
    cases = [
        lambda: integer_dfa(5, 3, path=p),
        lambda: integer_dfa(1, 6, 7, path=p),
        lambda: integer_dfa(0.2, 0.8, path=p),
        lambda: integer_dfa(multiple_of=10 ** 6, path=p),
        lambda: integer_dfa(multiple_of=0, path=p),
        lambda: number_dfa(exclusive_minimum=1, exclusive_maximum=1, path=p),
        lambda: number_dfa(0.5, 0.6, multiple_of=1, path=p),
        lambda: number_dfa(multiple_of=123456.7, path=p),
        lambda: number_dfa(multiple_of=Fraction(1, 10 ** 9 + 7), path=p),
        lambda: number_dfa(multiple_of=-0.5, path=p),
        lambda: number_dfa(minimum=float("nan"), path=p),
        lambda: number_dfa(minimum=True, path=p),
        lambda: number_dfa(maximum="3", path=p),
    ]
    for case in cases:
        with pytest.raises(SchemaError) as info:
            case()
        assert p in str(info.value)
    with pytest.raises(SchemaError, match="multipleOf"):
        integer_dfa(multiple_of=10 ** 6)
    with pytest.raises(LimitExceededError):
        integer_dfa(1, 2 ** 31 - 1, 9999, limits=Limits(max_dfa_states=1000))


def test_empty_errors_say_empty() -> None:
    """The schema builder treats a SchemaError mentioning "empty" as an unsatisfiable type."""
    for case in (lambda: integer_dfa(3, 2), lambda: number_dfa(1, 0), lambda: integer_dfa(1, 6, 7)):
        with pytest.raises(SchemaError, match="empty"):
            case()
    with pytest.raises(SchemaError) as info:
        integer_dfa(multiple_of=10 ** 6)
    assert "empty" not in str(info.value)


def test_integer_convenience_arguments() -> None:
    d = integer_dfa(0.5, 2.5)
    assert [v for v in range(-5, 6) if d.matches(str(v).encode())] == [1, 2]
    d = integer_dfa(exclusive_minimum=-3, exclusive_maximum=Fraction(7, 2), multiple_of=1.5)
    assert [v for v in range(-10, 11) if d.matches(str(v).encode())] == [0, 3]


def test_huge_bounds() -> None:
    d = number_dfa(minimum=Decimal("1E+500"))
    assert d.matches(("1" + "0" * 500).encode()) and d.matches(("1" + "0" * 500 + ".0").encode())
    assert not d.matches(("9" * 500 + ".99").encode()) and not d.matches(b"-1")
    d = number_dfa(exclusive_maximum=Decimal("1E-300"), exclusive_minimum=0)
    assert d.matches(("0." + "0" * 300 + "9").encode())
    assert not d.matches(("0." + "0" * 299 + "1").encode()) and not d.matches(b"0.0")
    with pytest.raises(LimitExceededError):
        number_dfa(minimum=Decimal("1E+500000"))
    with pytest.raises(LimitExceededError):
        number_dfa(maximum=Fraction(1, 10 ** 9 + 7), limits=Limits(max_dfa_states=1000))


def test_sizes_stay_small() -> None:
    assert integer_dfa(0, 100).num_states <= 8
    assert integer_dfa(1, 2 ** 31 - 1).num_states <= 25
    assert number_dfa(0, 1).num_states <= 10
    assert number_dfa(multiple_of=0.01).num_states <= 10
    assert integer_dfa(multiple_of=9999).num_states <= 10_003   # residues + start, "-", "0"


@pytest.mark.parametrize("seed", range(24))
def test_not_multiple_of_random(seed: int) -> None:
    """`not_multiple_of` (``not {multipleOf}``) beside random bounds and multipleOf: the
    number and integer automata agree with the Fraction reference on the whole pool, stay
    trimmed, and every word they generate is a number no listed value divides."""
    rng = random.Random(1000 + seed)
    avoid = [m for m in rng.sample(MULTS, rng.randint(1, 2)) if m is not None and
             not isinstance(m, list)] or [3]
    lo, hi = sorted(rng.sample([-50, -7, -1, 0, 2, 9, 40], 2)) if rng.random() < 0.5 else (None, None)
    mult = rng.choice([None, None, 2, 0.5])

    def ref(t: str, integer: bool) -> bool:
        base = ref_integer(t, lo, hi, mult) if integer else ref_number(t, lo, hi, None, None, mult)
        if not base or "e" in t or "E" in t:
            return False
        v = Fraction(Decimal(t))
        return all((v / exact(m)).denominator != 1 for m in avoid)

    for integer in (False, True):
        try:
            dfa = integer_dfa(lo, hi, mult, not_multiple_of=avoid) if integer else \
                number_dfa(lo, hi, None, None, mult, not_multiple_of=avoid)
        except SchemaError:
            assert not any(ref(t, integer) for t in POOL + [str(i) for i in range(-60, 61)])
            continue
        assert_trimmed(dfa)
        for t in (POOL_INT if integer else POOL) + [str(i) for i in range(-60, 61)]:
            assert dfa.matches(t.encode()) == ref(t, integer), (t, integer, lo, hi, mult, avoid)
        for t in random_words(dfa, random.Random(seed), 60):
            assert ref(t, integer), (t, integer, lo, hi, mult, avoid)


@pytest.mark.parametrize("bounds", [
    (0, None, None, None), (None, 0, None, None), (None, None, 0, None), (None, None, None, 0),
    (0, 0, None, None), (0.0, None, None, None), (0, None, 0, None), (Decimal(0), None, 0, None),
])
def test_zero_bounds_take_exponents(bounds: tuple) -> None:
    """Bounds that are all 0 only ask for a sign, which exponent forms show as plainly as
    plain decimals do: `minimum: 0` accepts "1e-06" and "-0e5", refuses "-1e-6"."""
    texts = [f"{s}{m}{e}" for s in ("", "-") for m in ("0", "1", "0.0", "0.001", "12.5", "0.00")
             for e in ("", "e5", "E-3", "e+0", "e-06", "E12")]
    check_number(*bounds)
    dfa = number_dfa(*bounds)
    for t in texts:
        assert dfa.matches(t.encode()) == ref_number(t, *bounds), (t, bounds)
    assert any("e" in t.lower() and dfa.matches(t.encode()) for t in texts)
    with pytest.raises(SchemaError, match="empty|no number"):
        number_dfa(None, None, 0, 0)
