"""Exact byte automata for JSON numbers under JSON Schema numeric constraints.

`integer_dfa` and `number_dfa` return trimmed, minimal `ByteDFA`s whose language is exactly the
set of JSON number texts satisfying minimum / maximum / exclusiveMinimum / exclusiveMaximum /
multipleOf, with the documented exceptions below. The hard rule is soundness: a text that
violates a constraint is never accepted; the only texts left out are listed here.

Construction, and why: the value of a decimal text cannot be compared with a bound by a regex
of modest size once fractions, signs and several constraints mix, so the automaton is built
directly as a product explored from the start state. A state is
``(syntax, sign, comparator states, residue state)``:

* syntax follows ``-?(0|[1-9][0-9]*)(\\.[0-9]+)?`` (no exponent, see below);
* one comparator per bound compares the magnitude m (the text without its '-') with |c|:
  integer parts by length then digit by digit, fraction digits against the decimal expansion
  of |c|'s fractional part (preperiod + period, so non-terminating bounds such as
  Fraction(1, 3) work too). A comparison that is decided collapses to "satisfied" (or kills
  the state), which keeps products small. The sign maps the magnitude comparison back to the
  value: for "-m" the result is reversed, so "-0" and "-0.0" compare as 0;
* the residue automaton for multipleOf a/b (lowest terms) tracks the integer part's ``x*b mod
  a`` and then, per fraction digit, the scaled amount still missing to the next multiple (see
  `_Residue`); it is exact for every decimal text. ``not {multipleOf}`` (`not_multiple_of`)
  runs one such automaton per value and accepts where it does not, a text that leaves every
  multiple behind staying accepted (`_complements`).

The explored automaton is trimmed and minimised with the regex compiler's own routines
(`automata.dfa._trim` / `_minimize`, so minimality means the same thing everywhere), then laid
out over bytes. Every state is reachable and can still reach acceptance, and the start state
is not accepting.

Documented limitations (all under-approximations, never over-approximations):

* Under a nonzero bound or multipleOf, exponent forms (``1e5``, ``2E-3``) are rejected: they
  are valid JSON, but the exponent texts in a range do not form a regular language (the
  exponent must be weighed against the mantissa's unbounded digit count), and a generator
  never needs them. Without constraints `number_dfa` accepts the full RFC 8259 syntax, and
  with bounds that are all 0 (``minimum: 0``, the most common bound, or ``exclusiveMaximum:
  0``) too: there only the sign and whether any digit is nonzero decide (`_SIGNS`).
* `integer_dfa` accepts ``-?(0|[1-9][0-9]*)`` without "-0": JSON Schema also counts "1.0" and
  "1e2" as integers, but a generator never needs those spellings.
* multipleOf whose residue automaton needs more than `MAX_RESIDUE_STATES` states (e.g.
  ``multipleOf: 123456.7``, or an integer multipleOf above 10000) raises `SchemaError`: it is a
  fixed capability limit of this construction, not a tunable `Limits` field. A product that
  outgrows ``limits.max_dfa_states`` raises `LimitExceededError`.

Errors: `SchemaError` at `path` (the pointer of the subschema holding the keywords) when no
text qualifies -- as its subclass `EmptyRange`, which is how the schema builder tells an
unsatisfiable number type from an unsupported one -- and at ``path + "/keyword"`` for a bad
or unsupported value of one keyword. Bounds with more digits (integer part or fraction
expansion) than ``limits.max_dfa_states`` raise `LimitExceededError` before any work.

Bounds may be int, Fraction, Decimal or float. Floats are read as the decimal they print as
(``Decimal(repr(x))``: 0.1 means 1/10, the number the schema author wrote, not the binary
double 0.1000000000000000055...), which is also how `constraints._frac` reads them.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from decimal import Decimal
from fractions import Fraction
from typing import cast

import numpy as np

from ...automata.dfa import ByteDFA, Rows, _minimize, _trim, compile_regex_dfa
from ...errors import LimitExceededError, SchemaError
from ...limits import DEFAULT_LIMITS, Limits, checkpoint

Num = int | float | Decimal | Fraction
MultipleOf = Num | Iterable[Num] | None

JSON_NUMBER_REGEX = r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?"
MAX_RESIDUE_STATES = 10_000
"""Most states the multipleOf residue automaton may have (SchemaError above)."""

_SYMBOLS = b"0123456789-."          # symbol i of the internal alphabet is byte _SYMBOLS[i]
_MINUS, _DOT = 10, 11
_START, _NEG, _ZERO, _INT, _POINT, _FRAC = range(6)   # syntax states
Cmp = tuple[int, int]                # a comparator state, see `_Bound`
_OK: Cmp = (-2, 0)                   # comparator whose bound is certainly satisfied
_EQ_FRAC = -1                        # first item of "fraction digits equal so far" states
Res = tuple[int, int]                # a multipleOf residue state, see `_Residue`
# (syntax, sign, comparators, multipleOf residue, one residue per `not {multipleOf}`)
State = tuple[int, int, tuple[Cmp, ...], Res, tuple[Res, ...]]
"""Product state: syntax, sign (1 = '-'), comparator states, residue state."""

__all__ = ["JSON_NUMBER_REGEX", "MAX_RESIDUE_STATES", "EmptyRange", "integer_dfa", "number_dfa"]


class EmptyRange(SchemaError):
    """No JSON number satisfies the constraints: an empty language, not an unsupported one."""


# ----------------------------------------------------------------------------- public API
def integer_dfa(minimum: Num | None = None, maximum: Num | None = None,
                multiple_of: MultipleOf = None, *, exclusive_minimum: Num | None = None,
                exclusive_maximum: Num | None = None, not_multiple_of: MultipleOf = None,
                path: str = "#", limits: Limits = DEFAULT_LIMITS) -> ByteDFA:
    """JSON integer texts ``-?(0|[1-9][0-9]*)`` (never "-0") whose value v satisfies the bounds,
    is a multiple of every `multiple_of` and of none of `not_multiple_of` (``not {multipleOf}``).

    Bounds may be any number (a non-integral minimum 0.5 simply means v >= 1); the exclusive
    ones are a convenience for the schema compiler. For integers, "multiple of a/b" (lowest
    terms) is "multiple of a", so rational multipleOf values are allowed. Raises `SchemaError`
    when no integer qualifies, `LimitExceededError` past ``limits.max_dfa_states``."""
    given = {"minimum": minimum, "maximum": maximum, "exclusiveMinimum": exclusive_minimum,
             "exclusiveMaximum": exclusive_maximum}
    return _build(False, given, multiple_of, path, limits, not_multiple_of)


def number_dfa(minimum: Num | None = None, maximum: Num | None = None,
               exclusive_minimum: Num | None = None, exclusive_maximum: Num | None = None,
               multiple_of: MultipleOf = None, *, not_multiple_of: MultipleOf = None,
               path: str = "#", limits: Limits = DEFAULT_LIMITS) -> ByteDFA:
    """JSON number texts whose value satisfies the bounds and multipleOf, and is a multiple
    of none of `not_multiple_of`.

    Unconstrained: the full RFC 8259 syntax. Constrained: exactly the texts without exponent
    that satisfy every constraint ("-0", "-0.0" count as 0). `multiple_of` may be one value or
    several (as collected from allOf); several mean their least common multiple."""
    given = {"minimum": minimum, "maximum": maximum, "exclusiveMinimum": exclusive_minimum,
             "exclusiveMaximum": exclusive_maximum}
    plain = multiple_of in (None, [], ()) and not_multiple_of in (None, [], ())
    if all(v is None for v in given.values()) and plain:
        return compile_regex_dfa(JSON_NUMBER_REGEX, limits)
    signs = _sign_only(given, path) if plain else None
    if signs:
        return compile_regex_dfa("|".join(_SIGNS[s] for s in sorted(signs)), limits)
    return _build(True, given, multiple_of, path, limits, not_multiple_of)


# Every JSON number text by the sign of its value, exponents included ("-0e5" is zero).
_POSITIVE = r"(?:0\.0*[1-9]\d*|[1-9]\d*(?:\.\d+)?)(?:[eE][+-]?\d+)?"
_SIGNS = {"zero": r"-?0(?:\.0+)?(?:[eE][+-]?\d+)?", "positive": _POSITIVE,
          "negative": "-" + _POSITIVE}


def _sign_only(given: dict[str, Num | None], path: str) -> set[str] | None:
    """The signs (`_SIGNS` keys) a value may have when every bound given is 0, else None
    (an empty set when none is left: the caller's general construction reports it)."""
    if any(v is not None and _rational(v, k, path) != 0 for k, v in given.items()):
        return None
    keep = {"zero", "positive", "negative"}
    drop = {"minimum": {"negative"}, "exclusiveMinimum": {"negative", "zero"},
            "maximum": {"positive"}, "exclusiveMaximum": {"positive", "zero"}}
    for key, value in given.items():
        if value is not None:
            keep -= drop[key]
    return keep


# ----------------------------------------------------------------------------- inputs
def _rational(x: object, key: str, path: str) -> Fraction:
    """Exact value of a schema number (floats via their shortest decimal repr)."""
    if isinstance(x, bool) or not isinstance(x, (int, float, Decimal, Fraction)):
        raise SchemaError(f"{key} must be a number, got {x!r}", f"{path}/{key}")
    if isinstance(x, float):
        if not math.isfinite(x):
            raise SchemaError(f"{key} must be finite, got {x!r}", f"{path}/{key}")
        return Fraction(Decimal(repr(x)))
    if isinstance(x, Decimal) and not x.is_finite():
        raise SchemaError(f"{key} must be finite, got {x!r}", f"{path}/{key}")
    return Fraction(x)


def _lcm(values: MultipleOf, path: str) -> Fraction | None:
    """Least common multiple of the multipleOf values: lcm(a/b, c/d) = lcm(a, c) / gcd(b, d)
    in lowest terms, so x is a multiple of all of them iff it is one of the result."""
    if values is None:
        return None
    items = list(values) if isinstance(values, (list, tuple, set, frozenset)) else [values]
    result: Fraction | None = None
    for v in items:
        m = _rational(v, "multipleOf", path)
        if m <= 0:
            raise SchemaError(f"multipleOf must be > 0, got {v!r}", f"{path}/multipleOf")
        result = m if result is None else Fraction(
            math.lcm(result.numerator, m.numerator), math.gcd(result.denominator, m.denominator))
    return result


# ----------------------------------------------------------------------------- comparator
def _holds(op: str, r: int) -> bool:
    """Whether ``value OP c`` holds when cmp(value, c) == r."""
    return r >= 0 if op == "ge" else r > 0 if op == "gt" else r <= 0 if op == "le" else r < 0


class _Bound:
    """Compares the magnitude m being read with |c| and says whether ``value OP c`` holds.

    States are int pairs (None = dead): `_OK`; ``(k, cmp)`` with k >= 0 in the integer part
    (k digits read, cmp = sign of the lexicographic comparison with |c|'s first k integer
    digits); ``(_EQ_FRAC, i)`` in the fraction while its digits so far equal |c|'s, i being the
    position in |c|'s fraction digits (see `_fraction_digits`): i == len(frac) means the rest
    of |c| is zero."""

    def __init__(self, op: str, magnitude: Fraction, reverse: bool, limits: Limits,
                 path: str) -> None:
        self.op, self.reverse = op, reverse
        whole = magnitude.numerator // magnitude.denominator
        if whole.bit_length() > 4 * limits.max_dfa_states:   # >= 1.2 digits per bound bit
            raise LimitExceededError("max_dfa_states", whole.bit_length() // 4,
                                     limits.max_dfa_states, f"numeric bound at {path}")
        self.digits = list(Decimal(whole).as_tuple().digits)   # str() caps at 4300 digits
        self.frac, self.loop = _fraction_digits(magnitude - whole, limits, path)

    def holds(self, r: int) -> bool:
        """Whether the bound holds when cmp(m, |c|) == r."""
        return _holds(self.op, -r if self.reverse else r)

    def decide(self, r: int) -> Cmp | None:
        """A comparison settled for good: the bound is satisfied from now on, or dead."""
        return _OK if self.holds(r) else None

    def int_result(self, st: Cmp) -> int:
        """cmp(integer part of m, integer part of |c|)."""
        k, cmp = st
        return -1 if k < len(self.digits) else cmp

    def int_digit(self, st: Cmp, d: int) -> Cmp | None:
        if st == _OK:
            return _OK
        k, cmp = st
        if k == len(self.digits):
            return self.decide(1)          # more integer digits than |c|: m > |c| for good
        if cmp == 0:
            cmp = (d > self.digits[k]) - (d < self.digits[k])
        return (k + 1, cmp)

    def point(self, st: Cmp) -> Cmp | None:
        if st == _OK:
            return _OK
        r = self.int_result(st)
        return (_EQ_FRAC, 0) if r == 0 else self.decide(r)

    def frac_digit(self, st: Cmp, d: int) -> Cmp | None:
        if st == _OK:
            return _OK
        i = st[1]
        if i == len(self.frac):                      # the rest of |c| is zero
            return st if d == 0 else self.decide(1)
        if d != self.frac[i]:
            return self.decide(1 if d > self.frac[i] else -1)
        return (_EQ_FRAC, i + 1 if i + 1 < len(self.frac) else self.loop)

    def final(self, st: Cmp) -> bool:
        """Whether the bound holds if the text ends here."""
        if st == _OK:
            return True
        if st[0] == _EQ_FRAC:
            return self.holds(0 if st[1] == len(self.frac) else -1)
        r = self.int_result(st)
        return self.holds(-1 if r == 0 and self.frac else r)   # "0" vs 0.5: integer parts tie


def _fraction_digits(x: Fraction, limits: Limits, path: str) -> tuple[list[int], int]:
    """Decimal digits of x in [0, 1) as (digits, loop): digit i is followed by digit i + 1 and
    the last by digit `loop`; loop == len(digits) (no trailing zeros) for terminating x.

    Terminating x (every bound from JSON) is scaled by 10^k and read off in one big-int step,
    so a bound like 1e-5000 costs no long division; other Fractions use long division with
    remainder detection (preperiod + period, each digit a comparator state)."""
    p, q = x.numerator, x.denominator
    twos = (q & -q).bit_length() - 1
    odd = q >> twos
    fives = max(0, int((odd.bit_length() - 1) / math.log2(5)) - 1)
    while 5 ** fives < odd:
        fives += 1
    cap = limits.max_dfa_states
    if 5 ** fives == odd:
        k = max(twos, fives)
        if k > cap:
            raise LimitExceededError("max_dfa_states", k, cap, f"numeric bound at {path}")
        n = p * (10 ** k // q)
        digits = list(Decimal(n).as_tuple().digits) if n else []
        digits = [0] * (k - len(digits)) + digits
        while digits and digits[-1] == 0:
            digits.pop()
        return digits, len(digits)
    if q.bit_length() > 7 * cap:       # preperiod + period >= log10(q) / 2 digits
        raise LimitExceededError("max_dfa_states", q.bit_length() // 7, cap,
                                 f"numeric bound at {path}")
    seen: dict[int, int] = {}
    digits = []
    while p not in seen:
        if len(digits) >= cap:
            raise LimitExceededError("max_dfa_states", len(digits) + 1, cap,
                                     f"numeric bound at {path}")
        seen[p] = len(digits)
        d, p = divmod(10 * p, q)
        digits.append(d)
    return digits, seen[p]


# ----------------------------------------------------------------------------- multipleOf
class _Residue:
    """Residue automaton for "x is a multiple of a/b" (lowest terms) over decimal texts.

    x*b must be a multiple of a. Integer part: state ``(-1, R)`` with R = (int part * b) mod a.
    Fraction: with V_j = x*b after j fraction digits, need_j = (-V_j) mod a is what the
    remaining digits must add; they add less than b/10^j, so only need_j < b/10^j is live. The
    state is ``(j, delta)`` with delta = need_j * 10^j (an integer < b) and j capped at
    J0 = min{j: a*10^j >= b}: from J0 on a wrap-around past a multiple of a is impossible, so j
    no longer matters. Accepting iff the second item is 0. `table[state][symbol]` is tabulated
    up front (internal symbols 0-11; None = dead) so the automaton's size can be capped."""

    def __init__(self, m: Fraction, fractions_allowed: bool, path: str) -> None:
        a, b = m.numerator, m.denominator
        if a > MAX_RESIDUE_STATES:
            raise SchemaError(f"multipleOf {m} needs a residue automaton of {a} states, more "
                              f"than the {MAX_RESIDUE_STATES} supported", f"{path}/multipleOf")
        self.table: dict[Res, list[Res | None]] = {}
        todo: list[Res] = []
        for r in range(a):
            row: list[Res | None] = [(-1, (10 * r + b * d) % a) for d in range(10)]
            delta = (-r) % a
            point = (0, delta) if fractions_allowed and delta < b else None
            self.table[(-1, r)] = [*row, None, point]     # symbols 0-9, "-", "."
            if point is not None:
                todo.append(point)
        j0 = 0
        while a * 10 ** j0 < b:
            j0 += 1
        while todo:
            st = todo.pop()
            if st in self.table:
                continue
            if len(self.table) >= MAX_RESIDUE_STATES:
                raise SchemaError(f"multipleOf {m} needs a residue automaton of more than "
                                  f"{MAX_RESIDUE_STATES} states", f"{path}/multipleOf")
            j, delta = st
            row = []
            for d in range(10):
                nd = 10 * delta - b * d
                if j < j0:
                    nd %= a * 10 ** (j + 1)
                row.append((min(j + 1, j0), nd) if 0 <= nd < b else None)
            self.table[st] = [*row, None, None]
            todo.extend(t for t in row if t is not None and t not in self.table)


# ----------------------------------------------------------------------------- construction
def _build(fractions_allowed: bool, given: dict[str, Num | None], multiple_of: MultipleOf,
           path: str, limits: Limits, not_multiple_of: MultipleOf = None) -> ByteDFA:
    """Explore the product automaton (see module docstring), trim, minimise, lay out."""
    ops = {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt"}
    bounds = [(ops[k], _rational(v, k, path)) for k, v in given.items() if v is not None]
    mult = _lcm(multiple_of, path)
    if mult is not None and not fractions_allowed:
        mult = Fraction(mult.numerator)        # integer multiples of a/b = multiples of a
    residue = None if mult is None or mult == 1 and not fractions_allowed else \
        _Residue(mult, fractions_allowed, path)
    avoid = _complements(not_multiple_of, fractions_allowed, path)
    branches = [_branch(bounds, neg, limits, path) for neg in (False, True)]
    sign_free = branches[0] == () and branches[1] == ()

    def step(state: State, sym: int) -> State | None:
        syn, neg, comps, res, off = state
        if syn == _START:
            neg = 1 if sym == _MINUS else 0
            start = branches[neg]
            if start is None:
                return None
            comps = ((0, 0),) * len(start)
            if sym == _MINUS:
                return (_NEG, 1, comps, res, off)
        elif sym == _MINUS:
            return None
        cs = branches[neg] or ()
        if sym == _DOT:
            if not fractions_allowed or syn not in (_ZERO, _INT):
                return None
            new = tuple([b.point(st) for b, st in zip(cs, comps)])
            syn = _POINT
        elif syn in (_POINT, _FRAC):
            new = tuple([b.frac_digit(st, sym) for b, st in zip(cs, comps)])
            syn = _FRAC
        elif syn == _ZERO or (syn == _NEG and sym == 0 and not fractions_allowed):
            return None                          # no leading zeros; integers never "-0"
        else:
            new = tuple([b.int_digit(st, sym) for b, st in zip(cs, comps)])
            syn = _INT if syn == _INT or sym != 0 else _ZERO
        nres = residue.table[res][sym] if residue is not None else res
        if nres is None or None in new:
            return None
        noff = tuple([_OFF if r == _OFF else (a.table[r][sym] or _OFF) for a, r in zip(avoid, off)])
        # Without comparators the sign no longer matters: both signs share their states.
        return (syn, 0 if sign_free else neg, cast(tuple[Cmp, ...], new), nres, noff)

    def accepting(state: State) -> bool:
        syn, neg, comps, res, off = state
        return syn in (_ZERO, _INT, _FRAC) and res[1] == 0 and \
            all(r == _OFF or r[1] != 0 for r in off) and \
            all(b.final(st) for b, st in zip(branches[neg] or (), comps))

    rows, acc = _explore((_START, 0, (), (-1, 0), ((-1, 0),) * len(avoid)), step, accepting,
                         path, limits)
    trimmed = _trim(rows, acc)
    if trimmed is None:
        what = ", ".join(f"{k}={v}" for k, v in [*given.items(), ("multipleOf", multiple_of),
                                                 ("not multipleOf", not_multiple_of or None)]
                         if v is not None)
        kind = "number" if fractions_allowed else "integer"
        raise EmptyRange(f"empty numeric range: no JSON {kind} satisfies {what}", path)
    rows, acc = _minimize(*trimmed, len(_SYMBOLS))
    return _to_bytes(rows, acc)


_OFF: Res = (-2, 1)     # a complement's "a multiple no more, whatever follows" (accepting)


def _complements(values: MultipleOf, fractions_allowed: bool, path: str) -> list[_Residue]:
    """One residue automaton per ``not {multipleOf: m}``, read the other way round: the text
    must end outside its multiples. Where the automaton for "a multiple" dies (a fraction
    digit past every multiple, a point after which none can follow) the text is certainly
    no multiple: `_OFF`, accepting from then on. Exact for every decimal text, as the
    positive automaton is."""
    out = []
    for v in [] if values is None else values if isinstance(values, (list, tuple)) else [values]:
        m = _rational(v, "multipleOf", path)
        if m <= 0:
            raise SchemaError(f"multipleOf must be > 0, got {v!r}", f"{path}/not/multipleOf")
        out.append(_Residue(m if fractions_allowed else Fraction(m.numerator),
                            fractions_allowed, path))
    return out


def _branch(bounds: list[tuple[str, Fraction]], neg: bool, limits: Limits,
            path: str) -> tuple[_Bound, ...] | None:
    """Comparators for the texts of one sign (start states ``(0, 0)`` are added by the
    caller), or None if no text of that sign can satisfy the bounds.

    For "m": value vs c is m vs c when c >= 0, else always greater. For "-m": always less
    when c > 0, else the reverse of m vs |c| (so "-0" compares as 0)."""
    comps = []
    for op, c in bounds:
        if (c < 0) if not neg else (c > 0):      # sign alone decides
            if not _holds(op, -1 if neg else 1):
                return None
            continue
        comps.append(_Bound(op, abs(c), neg, limits, path))
    return tuple(comps)


def _explore(start: State, step: Callable[[State, int], State | None],
             accepting: Callable[[State], bool], path: str,
             limits: Limits) -> tuple[Rows, list[bool]]:
    """Breadth-first reachable part of the product, capped at ``limits.max_dfa_states``."""
    ids = {start: 0}
    order = [start]
    rows: Rows = []
    for state in order:                       # `order` grows while iterating
        if not len(rows) & 255:
            checkpoint("a number automaton")
        row = []
        for sym in range(len(_SYMBOLS)):
            nxt = step(state, sym)
            if nxt is None:
                continue
            tid = ids.get(nxt)
            if tid is None:
                tid = ids[nxt] = len(order)
                if tid >= limits.max_dfa_states:
                    raise LimitExceededError("max_dfa_states", tid + 1, limits.max_dfa_states,
                                             f"numeric constraints at {path}")
                order.append(nxt)
            row.append((sym, tid))
        rows.append(row)
    return rows, [accepting(s) for s in order]


def _to_bytes(rows: Rows, accepting: list[bool]) -> ByteDFA:
    """Lay the internal-alphabet DFA out as a dense byte table."""
    n = len(rows)
    flat = np.array([(s, _SYMBOLS[c], t) for s, row in enumerate(rows) for c, t in row],
                    dtype=np.int64).reshape(-1, 3)
    trans = np.full((n, 256), -1, dtype=np.int32)
    trans[flat[:, 0], flat[:, 1]] = flat[:, 2]
    return ByteDFA(trans, np.array(accepting, dtype=bool))
