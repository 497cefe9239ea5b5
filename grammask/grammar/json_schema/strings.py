r"""Exact byte automata for JSON string literals whose *decoded value* meets string constraints.

The language is the set of JSON string texts (quotes included) that decode to a value matching
`pattern`, `format`, `minLength`/`maxLength` (or equal to a literal, for `const`/`enum`/property
names). Every valid JSON encoding of an allowed value is accepted, nothing else:

* a code point appears raw (any code point except `"`, `\` and U+0000..U+001F), or escaped as
  `\"` `\\` `\/` `\b` `\f` `\n` `\r` `\t`, or `\uXXXX` (hex digits in either case) for any
  BMP code point, or as a surrogate-pair escape `\uD8xx\uDCxx` (either case) for an astral one;
* lone or misordered surrogate escapes (`"\ud800"`, `"\udc00\ud800"`) are rejected: they decode
  to no Unicode string, Python's `json` keeps them as unpaired surrogates, and no regex/format
  can talk about them. A `literal_dfa` value containing a lone surrogate is refused;
* raw control characters, other escapes (`\x41`, `\'`, `\U...`) and truncated escapes are
  rejected.

How, and why this way (compile speed: a schema should compile in ~10 ms):

1. The constraints are combined over *decoded code points*: patterns (search semantics, see
   `_search_ast`) and format regexes go through `code_point_dfa`; conjunctions, negated
   patterns (`not: {pattern}`) and excluded values (`not: {const/enum}`) are products of small
   code-point DFAs, and the length bounds a final product with a counter.
   Doing this before the encoding matters: a length bound multiplies states by maxLength, and
   each decoded character costs ~20 byte-level states once all its encodings are spelled out
   (UTF-8 continuation states, `\u` hex progress, surrogate-pair progress), so determinising or
   intersecting at the byte level is 10-20x slower (`"` CHAR{0,1000} `"` through the regex
   compiler: 0.5 s).
2. The resulting minimal code-point DFA is *encoded*: each state's transitions, grouped by
   target, become one byte trie of all encodings (raw UTF-8 sequences, short escapes, `\u`
   hex-range sequences per BMP range, surrogate-pair sequences per astral range; hex digits
   case-insensitive). A charset covering everything yields the generic `\u[0-9a-fA-F]{4}`
   minus surrogate halves rather than a huge alternation, because hex ranges are decomposed
   digit-wise. Tries are cached per transition *shape* and instantiated per state with
   hash-consing of the mid-character states. JSON encodings form a prefix code and the input
   is minimal, so the byte DFA is minimal and trimmed without a byte-level minimisation
   (the tests check this with Moore refinement).

All entry points are memoised (`functools.lru_cache`): a schema that repeats `{"type":
"string"}` or the same pattern pays once per process. The returned `ByteDFA`s are shared:
do not mutate them. An unsatisfiable combination returns `dfa_ops.empty_dfa()`
(test with `dfa_ops.is_empty`) rather than raising: the schema compiler decides what an
impossible string branch means.

Pattern dialect: `pattern` is an ECMA-262 regex with JSON Schema search semantics, parsed by
grammask's parser (`regex_parser`, Python-`re`-like) with these adjustments and refusals:

* unanchored sides get an any-code-point loop (newlines included); `^`/`$` anchor the value's
  start/end wherever they stand (per alternative, inside groups and repetitions: `^a|b$`,
  `(^|x)a`, `(a($|/))*`; `a^b` matches nothing); `$` is the ECMA end (no "before a final
  newline" as in Python);
* `.` follows ECMA: any code point except the line terminators \n, \r, U+2028, U+2029;
* `\d`, `\w`, `\s` are the ECMA (ASCII / ECMA white space) classes;
* lookaround (`(?=` `(?!` `(?<=` `(?<!`) and `\b`/`\B` (ASCII word characters, as ECMA)
  are exact, through `automata.lookaround` (such a pattern is built there, anchors
  included, instead of by `_split`); `$` or a lookahead inside a lookbehind is refused;
* refused (SchemaError at `<path>/pattern`): backreferences, `\p{Script=..}`, `\cX`, a
  quantified anchor (`$*`), and anything else the parser refuses.
  Python-only syntax the parser accepts (`(?i)`, `(?P<n>...)`, `\Z`) is accepted too.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from functools import lru_cache
from itertools import pairwise
from operator import itemgetter
from typing import Any

import numpy as np

from ...automata.dfa import ByteDFA, _minimize, _trim, code_point_dfa
from ...automata.dfa_ops import empty_dfa
from ...automata.lookaround import lookaround_dfa
from ...automata.regex_parser import (
    ANY,
    ANY_BUT_NEWLINE,
    Alt,
    Anchor,
    CharSet,
    Concat,
    Empty,
    Look,
    Node,
    Ranges,
    Repeat,
    has_look,
    matches_empty,
    negate,
    normalize,
    parse_regex,
)
from ...automata.utf8 import ranges_to_utf8
from ...errors import GrammarError, LimitExceededError, SchemaError
from ...limits import DEFAULT_LIMITS, Limits, checkpoint
from ...memo import memo_by_bytes
from .formats import format_regex

__all__ = ["literal_dfa", "literals_dfa", "string_dfa"]

Rows = list[list[tuple[int, int]]]
ECMA_DOT: Ranges = negate(normalize([(0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)]))
RAW_EXCLUDED: Ranges = ((0x00, 0x1F), (0x22, 0x22), (0x5C, 0x5C))
SHORT_ESCAPES = {0x22: '"', 0x5C: "\\", 0x2F: "/", 0x08: "b", 0x0C: "f", 0x0A: "n", 0x0D: "r",
                 0x09: "t"}
_ANY_LOOP = Repeat(CharSet(ANY, 0), 0, None, 0)
_NO_MATCH = "pattern matches no string"   # code_point_dfa's message for an empty language


# ----------------------------------------------------------------------------- public API
def string_dfa(*, pattern: str | None = None, min_length: int = 0, max_length: int | None = None,
               format: str | None = None, patterns: Iterable[str] = (),
               formats: Iterable[str] = (), not_patterns: Iterable[str] = (),
               excluded: Iterable[str] = (), path: str = "#",
               limits: Limits = DEFAULT_LIMITS) -> ByteDFA:
    """JSON string literals (with quotes) whose decoded value satisfies all the constraints:
    matches `pattern` and every one of `patterns`, has every format in `format`/`formats`,
    matches none of `not_patterns`, is not one of the `excluded` values, and has between
    `min_length` and `max_length` code points.

    Pass all of a string schema's constraints in one call rather than combining results with
    `dfa_ops`: here they are combined over code points before lengths and JSON escapes
    multiply the states (maxLength=1000 minus one literal: ~50 ms instead of ~0.9 s).

    Formats must be known to `formats.format_regex` (SchemaError otherwise): whether an
    unknown format is an ignorable annotation is the caller's decision, made by checking
    `format_regex(name) is None` and leaving it out. Errors name `path` (the subschema's JSON
    pointer); too-large automata raise LimitExceededError naming the length bounds."""
    pats = tuple(sorted({*patterns, *([pattern] if pattern is not None else [])}))
    fmts = tuple(sorted({*formats, *([format] if format is not None else [])}))
    nots = tuple(sorted(set(not_patterns)))
    excl = tuple(sorted(set(excluded)))
    if min_length < 0 or (max_length is not None and max_length < 0):
        raise SchemaError("minLength/maxLength must be non-negative", path)
    for f in fmts:
        if format_regex(f) is None:
            raise SchemaError(f"unknown string format {f!r}", f"{path}/format")
    if max_length is not None and max_length < min_length:
        return empty_dfa()
    try:
        return _string_dfa(pats, fmts, nots, excl, min_length, max_length, limits)
    except LimitExceededError as e:
        raise too_large(e, path, min_length, max_length, pats, fmts) from e
    except GrammarError as e:
        if isinstance(e, SchemaError):
            raise
        raise SchemaError(f"unsupported pattern {e.source!r}: {e.message}", f"{path}/pattern") \
            from e


def encoded_value_dfa(regex: str, limits: Limits = DEFAULT_LIMITS) -> ByteDFA:
    """Every JSON encoding (raw characters and escapes alike) of the decoded texts `regex`
    fully matches, without quotes: a piece of a string that the grammar reads in several
    lexemes (`regex_format`)."""
    return _encode(_CpDFA.from_ast(parse_regex(regex, limits), regex, limits), limits,
                   open_quote=False, close_quote=False)


def too_large(e: LimitExceededError, path: str, min_length: int, max_length: int | None,
              patterns: tuple[str, ...], formats: tuple[str, ...]) -> LimitExceededError:
    """`e` (a bound passed while building a string automaton) naming the string."""
    bounds = f"minLength={min_length}, maxLength={max_length}"
    return LimitExceededError(
        e.limit, e.value, e.maximum,
        f"the string automaton at {path} ({bounds}, patterns={patterns!r}, formats={formats!r}) "
        "is too large; every allowed character position costs ~20 byte-level states")


@memo_by_bytes(64 << 20, lambda d: d.memory_bytes())
def literal_dfa(value: str, limits: Limits = DEFAULT_LIMITS) -> ByteDFA:
    """Every JSON encoding of exactly `value` (for `const` strings and property names)."""
    return _literals_dfa((value,), limits)


def literals_dfa(values: Iterable[str], limits: Limits = DEFAULT_LIMITS) -> ByteDFA:
    """Every JSON encoding of any of `values` (enums, sets of property names); `empty_dfa()`
    for no values. Values with lone surrogates raise SchemaError (see module docstring)."""
    return _literals_dfa(tuple(sorted(set(values))), limits)


# ----------------------------------------------------------------------------- cached builders
@memo_by_bytes(256 << 20, lambda d: d.memory_bytes())
def _string_dfa(patterns: tuple[str, ...], formats: tuple[str, ...],
                not_patterns: tuple[str, ...], excluded: tuple[str, ...], min_length: int,
                max_length: int | None, limits: Limits) -> ByteDFA:
    """Combine the small automata first, the length counter last (it multiplies states)."""
    value = string_value(patterns, formats, not_patterns, excluded, limits)
    if value is not None and (min_length > 0 or max_length is not None):
        value = _with_length(value, min_length, max_length, limits)
    if value is None:
        return empty_dfa()
    return _encode(value, limits)


@lru_cache(maxsize=1024)
def string_value(patterns: tuple[str, ...], formats: tuple[str, ...],
                 not_patterns: tuple[str, ...], excluded: tuple[str, ...],
                 limits: Limits) -> _CpDFA | None:
    """The code-point DFA of the decoded values the constraints allow, before any length bound
    (None: no value). Shared with `string_chunks`, which splits long strings over it. Formats
    must be known to `format_regex` (the callers check)."""
    value: _CpDFA | None = _any_value()
    positive = [_pattern_value(p, limits) for p in patterns]
    positive += [_format_value(f, limits) for f in formats]
    for i, other in enumerate(positive):
        if value is None or other is None:
            return None
        value = other if i == 0 else _combine(value, other, False, limits)
    for p in not_patterns:
        other = _pattern_value(p, limits)
        if value is not None and other is not None:
            value = _combine(value, other, True, limits)
    if excluded and value is not None:
        value = _combine(value, _literals_value(excluded, limits), True, limits)
    return value


@memo_by_bytes(64 << 20, lambda d: d.memory_bytes())
def _literals_dfa(values: tuple[str, ...], limits: Limits) -> ByteDFA:
    if not values:
        return empty_dfa()
    return _encode(_literals_value(values, limits), limits)


def _literals_value(values: tuple[str, ...], limits: Limits) -> _CpDFA:
    """Code-point DFA of a non-empty set of exact values (a minimal trie)."""
    for v in values:
        if any(0xD800 <= ord(c) <= 0xDFFF for c in v):
            raise SchemaError(f"string {v!r} contains a lone surrogate, which has no "
                              "exact JSON encoding in grammask (lone \\u escapes are rejected)")
    options = tuple(Concat(tuple(CharSet(((ord(c), ord(c)),), 0) for c in v), 0)
                    for v in values)
    node = options[0] if len(options) == 1 else Alt(options, 0)
    return _CpDFA.from_ast(node, "<literal>", limits)


@lru_cache(maxsize=1)
def _any_value() -> _CpDFA:
    """Any decoded value: one state, one class."""
    return _CpDFA([[(0, 0)]], [True], [ANY])


@lru_cache(maxsize=1024)
def _pattern_value(pattern: str, limits: Limits) -> _CpDFA | None:
    """None when the pattern matches nothing (e.g. a lone surrogate escape `\\ud800`): an
    unsatisfiable constraint, not an unsupported one."""
    node = parse_regex(pattern, limits, anchors_anywhere=True, lookaround=True)
    if has_look(node):
        found = lookaround_dfa(Concat((_ANY_LOOP, _ecma_dots(node, pattern), _ANY_LOOP), 0),
                               pattern, limits)
        return None if found is None else _CpDFA(*found)
    node = _search_ast(node, pattern)
    try:
        return _CpDFA.from_ast(node, pattern, limits)
    except LimitExceededError:
        raise
    except GrammarError as e:
        if e.message == _NO_MATCH:
            return None
        raise


@lru_cache(maxsize=64)
def _format_value(name: str, limits: Limits) -> _CpDFA:
    regex = format_regex(name)
    assert regex is not None
    return _CpDFA.from_ast(parse_regex(regex, limits), regex, limits)


# ----------------------------------------------------------------------------- search semantics
Combos = dict[tuple[bool, bool], Node]   # (anchored at start, anchored at end) -> sub-language


def _search_ast(node: Node, pattern: str) -> Node:
    """The value language of `pattern` under JSON Schema's search semantics.

    Each way of matching is classified by the anchors it passed (`_split`), which may stand
    anywhere: `^` holds where nothing of the value comes before it, `$` where nothing comes
    after. Unanchored sides then get an any-code-point loop. A pattern no value can match
    (`a^b`) gives an empty character set."""
    options = []
    for (at_start, at_end), sub in _split(node, pattern).items():
        items = ([] if at_start else [_ANY_LOOP]) + [sub] + ([] if at_end else [_ANY_LOOP])
        options.append(Concat(tuple(items), sub.pos))
    if not options:
        return CharSet((), node.pos)
    return options[0] if len(options) == 1 else Alt(tuple(options), node.pos)


def _alt(nodes: list[Node]) -> Node:
    return nodes[0] if len(nodes) == 1 else Alt(tuple(nodes), nodes[0].pos)


def _concat_combos(a: Combos, b: Combos) -> Combos:
    """A then B. A part that passed `$` leaves nothing after it, so B's part must then be
    empty; a part of B that passed `^` leaves nothing before it, so A's must be."""
    out: dict[tuple[bool, bool], list[Node]] = {}
    for (s1, e1), x in a.items():
        for (s2, e2), y in b.items():
            if (e1 and not matches_empty(y)) or (s2 and not matches_empty(x)):
                continue
            x2 = Empty(x.pos) if s2 else x
            y2 = Empty(y.pos) if e1 else y
            out.setdefault((s1 or s2, e1 or e2), []).append(Concat((x2, y2), x.pos))
    return {k: _alt(v) for k, v in out.items()}


def _ecma_dot(node: CharSet, pattern: str) -> CharSet:
    """`.` as ECMA reads it (no line terminator), other character sets as they are."""
    if node.ranges == ANY_BUT_NEWLINE and pattern[node.pos:node.pos + 1] == ".":
        return CharSet(ECMA_DOT, node.pos)
    return node


def _ecma_dots(node: Node, pattern: str) -> Node:
    """Every `.` of the AST as `_ecma_dot` reads it (for the lookaround builder, which takes
    anchors as they stand)."""
    if isinstance(node, CharSet):
        return _ecma_dot(node, pattern)
    if isinstance(node, Concat):
        return Concat(tuple(_ecma_dots(x, pattern) for x in node.items), node.pos)
    if isinstance(node, Alt):
        return Alt(tuple(_ecma_dots(x, pattern) for x in node.options), node.pos)
    if isinstance(node, Repeat):
        return Repeat(_ecma_dots(node.child, pattern), node.min, node.max, node.pos)
    if isinstance(node, Look):
        return Look(_ecma_dots(node.child, pattern), node.ahead, node.negative, node.pos)
    return node


def _split(node: Node, pattern: str) -> Combos:
    """Sub-languages of `node` by anchors passed; also makes `.` follow ECMA."""
    plain = (False, False)
    if isinstance(node, CharSet):
        return {plain: _ecma_dot(node, pattern)}
    if isinstance(node, Anchor):
        return {(node.kind == "start", node.kind == "end"): Empty(node.pos)}
    if isinstance(node, Alt):
        merged: dict[tuple[bool, bool], list[Node]] = {}
        for option in node.options:
            for k, v in _split(option, pattern).items():
                merged.setdefault(k, []).append(v)
        return {k: _alt(v) for k, v in merged.items()}
    if isinstance(node, Concat):
        acc: Combos = {plain: Empty(node.pos)}
        for item in node.items:
            acc = _concat_combos(acc, _split(item, pattern))
        return acc
    if isinstance(node, Repeat):
        return _repeat_combos(node, _split(node.child, pattern))
    return {plain: node}   # Empty


def _repeat_combos(node: Repeat, child: Combos) -> Combos:
    """child{min,max} by anchors passed. An iteration that passed `^` has only empty ones
    before it, and one that passed `$` only empty ones after, so a match is S P^n E with S
    the iteration that passed `^` (if any), E the one that passed `$` (if any), P plain ones,
    or a single iteration B that passed both; iterations that match nothing may stand before
    S (plain or `^` ones), after E (plain or `$` ones) and among the P, padding the count."""
    plain = (False, False)
    lo, hi = node.min, node.max
    if list(child) == [plain]:
        return {plain: Repeat(child[plain], lo, hi, node.pos)}
    pos = node.pos
    p, s_it, e_it = child.get(plain), child.get((True, False)), child.get((False, True))
    both = child.get((True, True))
    nullable = {k: v is not None and matches_empty(v) for k, v in
                (("p", p), ("s", s_it), ("e", e_it), ("b", both))}

    def shaped(first: Node | None, last: Node | None, pads: bool) -> Node | None:
        """first P^n last, with n fitting lo..hi (pads: empty iterations may fill the count)."""
        used = (first is not None) + (last is not None)
        if hi is not None and hi < used:
            return None
        n_lo = 0 if pads else max(lo - used, 0)
        n_hi = None if hi is None else hi - used
        if p is None and n_lo > 0:
            return None
        middle = [] if p is None else [Repeat(p, n_lo, n_hi, pos)]
        items = [x for x in (first, *middle, last) if x is not None]
        return items[0] if len(items) == 1 else Concat(tuple(items), pos)

    pad_p, pad_s, pad_e = nullable["p"], nullable["s"], nullable["e"]
    out: Combos = {}
    if p is not None:
        out[plain] = Repeat(p, lo, hi, pos)
    elif lo == 0:
        out[plain] = Empty(pos)                  # no iteration at all
    found: dict[tuple[bool, bool], list[Node | None]] = {
        (True, False): [shaped(s_it, None, pad_p or pad_s)] if s_it else [],
        (False, True): [shaped(None, e_it, pad_p or pad_e)] if e_it else [],
        (True, True): [shaped(s_it, e_it, pad_p or pad_s or pad_e)] if s_it and e_it else []}
    if both is not None and (hi is None or hi >= 1):
        if lo <= 1 or pad_p or pad_s or pad_e:
            found[(True, True)].append(both)     # B alone: every other iteration is empty
        elif nullable["b"]:
            found[(True, True)].append(Empty(pos))   # B's empty matches, repeated
    for key, nodes in found.items():
        kept = [x for x in nodes if x is not None]
        if kept:
            out[key] = _alt(kept)
    return out


# ----------------------------------------------------------------------------- code-point DFAs
class _CpDFA:
    """Minimal trimmed DFA over decoded code points: `rows[s]` = sorted (class, target),
    `classes[c]` = the code points of class c. Start state 0."""

    __slots__ = ("accepting", "classes", "rows")

    def __init__(self, rows: Rows, accepting: list[bool], classes: list[Ranges]) -> None:
        self.rows, self.accepting, self.classes = rows, accepting, classes

    @staticmethod
    def from_ast(node: Node, source: str, limits: Limits) -> _CpDFA:
        rows, accepting, alphabet = code_point_dfa(node, source, limits)
        return _CpDFA(rows, accepting, [tuple(r) for r in alphabet.class_ranges])


def _finish(rows: Rows, accepting: list[bool], classes: list[Ranges]) -> _CpDFA | None:
    """Trim and minimise a product (all states reachable from 0); None if empty."""
    trimmed = _trim(rows, accepting)
    if trimmed is None:
        return None
    rows, accepting = _minimize(*trimmed, len(classes))
    return _CpDFA(rows, accepting, classes)


def _combine(a: _CpDFA, b: _CpDFA, diff: bool, limits: Limits) -> _CpDFA | None:
    """Product of two code-point DFAs over their joint class partition: `a` and `b`, or with
    `diff` `a` and not `b` (then -1 stands for "b is dead", and `a` goes on alone)."""
    def pieces(classes: list[Ranges]) -> tuple[list[int], list[int], list[int]]:
        """Sorted (start, end, class) columns of a class partition, for bisection."""
        ps = sorted((lo, hi, c) for c, rs in enumerate(classes) for lo, hi in rs)
        return [p[0] for p in ps], [p[1] for p in ps], [p[2] for p in ps]

    def class_at(cols: tuple[list[int], list[int], list[int]], x: int) -> int:
        i = bisect_right(cols[0], x) - 1
        return cols[2][i] if i >= 0 and cols[1][i] >= x else -1

    bounds = sorted({x for cls in (a.classes, b.classes) for rs in cls for lo, hi in rs
                     for x in (lo, hi + 1)})
    cols_a, cols_b = pieces(a.classes), pieces(b.classes)
    joint: dict[tuple[int, int], int] = {}
    joint_ranges: list[list[tuple[int, int]]] = []
    of_a: dict[int, list[tuple[int, int]]] = {}      # class of a -> [(joint class, b class)]
    for lo, nxt in pairwise(bounds):
        key = (class_at(cols_a, lo), class_at(cols_b, lo))
        if key[0] < 0 or (key[1] < 0 and not diff):
            continue
        j = joint.get(key)
        if j is None:
            j = joint[key] = len(joint_ranges)
            joint_ranges.append([])
            of_a.setdefault(key[0], []).append((j, key[1]))
        joint_ranges[j].append((lo, nxt - 1))
    ids = {(0, 0): 0}
    order = [(0, 0)]
    rows: Rows = []
    for p, q in order:
        row_b = dict(b.rows[q]) if q >= 0 else {}
        row = []
        for ca, ta in a.rows[p]:
            for j, cb in of_a.get(ca, ()):
                tb = row_b.get(cb, -1)
                if tb < 0 and not diff:
                    continue
                t = ids.setdefault((ta, tb), len(order))
                if t == len(order):
                    _check_states(t, limits)
                    order.append((ta, tb))
                row.append((j, t))
        row.sort()
        rows.append(row)
    if diff:
        accepting = [a.accepting[p] and not (q >= 0 and b.accepting[q]) for p, q in order]
    else:
        accepting = [a.accepting[p] and b.accepting[q] for p, q in order]
    return _finish(rows, accepting, [normalize(r) for r in joint_ranges])


def _with_length(v: _CpDFA, lo: int, hi: int | None, limits: Limits) -> _CpDFA | None:
    """Product with a code-point counter: states (s, count), count saturating at `lo` when
    there is no upper bound."""
    if hi is not None and len(v.rows) * (hi + 1) > limits.max_dfa_states:
        _check_states(_counted_states(v, hi, limits.max_dfa_states) - 1, limits)
    cap = hi if hi is not None else lo
    ids = {(0, 0): 0}
    order = [(0, 0)]
    rows: Rows = []
    for s, k in order:
        row = []
        if hi is None or k < hi:
            k2 = min(k + 1, cap)
            for c, t in v.rows[s]:
                nid = ids.setdefault((t, k2), len(order))
                if nid == len(order):
                    _check_states(nid, limits)
                    order.append((t, k2))
                row.append((c, nid))
        rows.append(row)
    accepting = [v.accepting[s] and k >= lo for s, k in order]
    return _finish(rows, accepting, v.classes)


def exact_size_estimate(patterns: tuple[str, ...], formats: tuple[str, ...],
                        not_patterns: tuple[str, ...], excluded: tuple[str, ...],
                        max_length: int, limits: Limits) -> int:
    """About how many byte-level states `string_dfa` with this maxLength builds (0: few):
    the value automaton's states per count, times its byte states per value state without
    the bound. Building an automaton only to see it pass `max_dfa_states` costs seconds for a
    format or a word-counting pattern with maxLength in the hundreds; the builder checks the
    bound at run time instead where this says the automaton would be too large."""
    v = string_value(patterns, formats, not_patterns, excluded, limits)
    if v is None or len(v.rows) * (max_length + 1) * 64 <= limits.max_dfa_states:
        return 0
    counted = _counted_states(v, max_length, limits.max_dfa_states)
    plain = _string_dfa(patterns, formats, not_patterns, excluded, 0, None, limits)
    return counted * plain.trans.shape[0] // (len(v.rows) + 2)


def _counted_states(v: _CpDFA, hi: int, stop: int) -> int:
    """How many states `_with_length(v, lo, hi)` has, counted level by level over the counts
    (a set of `v`'s states per count) and stopped past `stop`: a product that would be too
    large is refused before it is built (maxLength 1024 with a format: seconds of work)."""
    n = len(v.rows)
    edges = {(s, t) for s, row in enumerate(v.rows) for _, t in row}
    src = np.fromiter((s for s, _ in edges), np.int64, len(edges))
    dst = np.fromiter((t for _, t in edges), np.int64, len(edges))
    level = np.zeros(n, bool)
    level[0] = True
    total = 0
    for _ in range(hi + 1):
        total += int(level.sum())
        if total > stop:
            break
        nxt = np.zeros(n, bool)
        nxt[dst[level[src]]] = True
        level = nxt
    return total


def _check_states(n: int, limits: Limits) -> None:
    if not n & 255:
        checkpoint("a JSON string automaton")
    if n >= limits.max_dfa_states:
        raise LimitExceededError("max_dfa_states", n + 1, limits.max_dfa_states,
                                 "the string value automaton has too many states")


# ----------------------------------------------------------------------------- JSON encoding
Item = tuple[tuple[Ranges, ...], int]                  # byte-set sequence, slot
Trie = list[tuple[tuple[int, int, int], ...]]         # nodes bottom-up, root last; see _trie
Layout = tuple[tuple[int, int], ...]                  # a node's byte ranges, one per edge
TplNode = tuple[Layout, Callable[[list[int]], Any]]      # layout, getter of its edge targets


def _encode(v: _CpDFA, limits: Limits, open_quote: bool = True,
            close_quote: bool = True) -> ByteDFA:
    """Byte DFA of `"` + (JSON encodings of the words of `v`) + `"`; without `open_quote` /
    `close_quote` the quote on that side is left out (the pieces of a long string that
    `string_chunks` splits into several lexemes: without the closing quote, the states of
    `v`'s accepting states accept).

    State 0 is before the opening quote, 1..n are the states of `v`, n+1 is after the closing
    quote, mid-character states follow, hash-consed on (layout, targets): with `itemgetter`
    this costs well under a microsecond per node, and rows are written with one numpy gather
    per distinct layout rather than per state (maxLength=1000 means 20000 states)."""
    n = len(v.rows)
    end = n + 1
    interned: dict[tuple[Layout, Any], int] = {}
    rows: dict[Layout, tuple[list[int], list[Any]]] = {((0x22, 0x22),): ([0], [1])}
    ranges_of: dict[tuple[int, ...], Ranges] = {}
    max_states = limits.max_dfa_states
    for s, row in enumerate(v.rows):
        if not s & 255:
            checkpoint("JSON string encoding")
        by_target: dict[int, list[int]] = {}
        for c, t in row:
            by_target.setdefault(t, []).append(c)
        groups = []
        for t, cs in by_target.items():
            key = tuple(cs)
            rs = ranges_of.get(key)
            if rs is None:
                rs = ranges_of[key] = normalize([r for c in cs for r in v.classes[c]])
            groups.append((rs, t + 1))
        groups.sort()
        quote = v.accepting[s] and close_quote
        lookup = [g[1] for g in groups] + ([end] if quote else [])
        *mids, (layout, get) = _template(tuple(g[0] for g in groups), quote)
        for node in mids:
            sig = (node[0], node[1](lookup))
            sid = interned.get(sig)
            if sid is None:
                sid = interned[sig] = n + 2 + len(interned)
                if sid >= max_states:
                    raise LimitExceededError("max_dfa_states", sid + 1, max_states,
                                             "the JSON string automaton has too many states")
            lookup.append(sid)
        block = rows.setdefault(layout, ([], []))
        block[0].append(s + 1)
        block[1].append(get(lookup))
    for (layout, targets), sid in interned.items():
        block = rows.setdefault(layout, ([], []))
        block[0].append(sid)
        block[1].append(targets)
    table = np.full((n + 2 + len(interned), 256), -1, dtype=np.int32)
    for layout, (ids, targets) in rows.items():
        colmap = np.full(256, len(layout), dtype=np.intp)
        for e, (lo, hi) in enumerate(layout):
            colmap[lo:hi + 1] = e
        vals = np.full((len(ids), len(layout) + 1), -1, dtype=np.int32)
        vals[:, :-1] = np.array(targets, dtype=np.int32).reshape(len(ids), len(layout))
        table[ids] = vals[:, colmap]
    accepting = np.zeros(len(table), dtype=bool)
    if close_quote:
        accepting[end] = True
    else:
        accepting[1:n + 1] = v.accepting
    return ByteDFA(*_drop_states(table, accepting, open_quote, close_quote, end))


def _drop_states(table: np.ndarray, accepting: np.ndarray, open_quote: bool,
                 close_quote: bool, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove the rows a piece without an opening or closing quote does not use (state 0,
    before the quote, and `end`, after it), renumbering targets, so the result stays trimmed
    with its start at 0."""
    if open_quote and close_quote:
        return table, accepting
    keep = np.ones(len(table), dtype=bool)
    keep[0] = open_quote
    keep[end] = close_quote
    new_id = np.cumsum(keep, dtype=np.int32) - 1
    new_id = np.append(new_id, -1).astype(np.int32)        # index -1 (dead) stays dead
    return new_id[table[keep]], accepting[keep]


@lru_cache(maxsize=4096)
def _template(shape: tuple[Ranges, ...], accepting: bool) -> list[TplNode]:
    """Byte trie of all encodings of a state's transitions, as (layout, target getter) nodes,
    mid-character nodes bottom-up, the state's own row last. The getters read a lookup list:
    slot i (0-based) is the target of `shape[i]`, slot len(shape) the closing quote when
    `accepting`, then the ids of the template's nodes in order."""
    items: list[Item] = []
    for slot, ranges in enumerate(shape):
        items.extend(_encodings(ranges, slot))
    slots = len(shape)
    if accepting:
        items.append(((((0x22, 0x22),),), slots))
        slots += 1
    trie: Trie = []
    _trie(items, trie, {}, slots)
    return [(tuple((lo, hi) for lo, hi, _ in node), _getter([r for _, _, r in node]))
            for node in trie]


def _getter(refs: list[int]) -> Callable[[list[int]], Any]:
    """`itemgetter` of `refs`, also for none (a state with no move: the last state of a
    piece without its closing quote, see `string_chunks`)."""
    return itemgetter(*refs) if refs else lambda lookup: ()


def _encodings(ranges: Ranges, slot: int) -> list[Item]:
    """All JSON encodings of the code points in `ranges`, as byte-set sequences."""
    raw = _subtract(ranges, RAW_EXCLUDED)
    items: list[Item] = [(tuple((b,) for b in seq), slot) for seq in ranges_to_utf8(raw)]
    backslash, u = ((0x5C, 0x5C),), ((0x75, 0x75),)
    for cp, letter in SHORT_ESCAPES.items():
        if _contains(ranges, cp):
            items.append(((backslash, ((ord(letter), ord(letter)),)), slot))
    for lo, hi in ranges:
        if lo <= 0xFFFF:
            for digits in _hex_ranges(lo, min(hi, 0xFFFF), 4):
                items.append(((backslash, u) + digits, slot))
        if hi >= 0x10000:
            for high, low in _surrogate_blocks(max(lo, 0x10000), hi):
                for dh in _hex_ranges(*high, 4):
                    for dl in _hex_ranges(*low, 4):
                        items.append(((backslash, u) + dh + (backslash, u) + dl, slot))
    return items


def _surrogate_blocks(lo: int, hi: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Split astral [lo, hi] into (high-surrogate range, low-surrogate range) products."""
    def pair(cp: int) -> tuple[int, int]:
        return 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF)

    (h1, l1), (h2, l2) = pair(lo), pair(hi)
    if h1 == h2:
        return [((h1, h1), (l1, l2))]
    out = [((h1, h1), (l1, 0xDFFF))]
    if h1 + 1 <= h2 - 1:
        out.append(((h1 + 1, h2 - 1), (0xDC00, 0xDFFF)))
    out.append(((h2, h2), (0xDC00, l2)))
    return out


@lru_cache(maxsize=4096)
def _hex_ranges(lo: int, hi: int, width: int) -> list[tuple[Ranges, ...]]:
    """Digit-wise decomposition of [lo, hi] into `width` case-insensitive hex-digit sets."""
    if width == 1:
        return [(_hex_set(lo, hi),)]
    unit = 16 ** (width - 1)
    (dlo, rlo), (dhi, rhi) = divmod(lo, unit), divmod(hi, unit)
    if dlo == dhi:
        return [(_hex_set(dlo, dlo),) + t for t in _hex_ranges(rlo, rhi, width - 1)]
    out = []
    if rlo:
        out += [(_hex_set(dlo, dlo),) + t for t in _hex_ranges(rlo, unit - 1, width - 1)]
        dlo += 1
    mid_hi = dhi if rhi == unit - 1 else dhi - 1
    if dlo <= mid_hi:
        out.append((_hex_set(dlo, mid_hi),) + (_hex_set(0, 15),) * (width - 1))
    if rhi != unit - 1:
        out += [(_hex_set(dhi, dhi),) + t for t in _hex_ranges(0, rhi, width - 1)]
    return out


def _hex_set(lo: int, hi: int) -> Ranges:
    """Bytes of the hex digits with values lo..hi, both letter cases."""
    out = []
    if lo <= 9:
        out.append((0x30 + lo, 0x30 + min(hi, 9)))
    if hi >= 10:
        a, b = max(lo, 10) - 10, hi - 10
        out += [(0x41 + a, 0x41 + b), (0x61 + a, 0x61 + b)]
    return tuple(out)


def _trie(items: list[Item], nodes: Trie, memo: dict[object, int], base: int
          ) -> tuple[tuple[int, int, int], ...]:
    """Deterministic canonical byte trie of prefix-free items, appended to `nodes` bottom-up
    (equal subtrees once); returns the root's (lo, hi, ref) edges, which are appended last.

    `memo` maps both item tuples and finished nodes to refs: the same tails recur under many
    byte intervals (hex digits), and without it the recursion is exponential in their length."""
    bounds = sorted({x for seq, _ in items for lo, hi in seq[0] for x in (lo, hi + 1)})
    index = {x: j for j, x in enumerate(bounds)}
    buckets: list[list[Item]] = [[] for _ in bounds]
    for item in items:
        for lo, hi in item[0][0]:
            for j in range(index[lo], index[hi + 1]):
                buckets[j].append(item)
    edges: list[tuple[int, int, int]] = []
    for j, covering in enumerate(buckets):
        if not covering:
            continue
        if len(covering[0][0]) == 1:      # encodings are prefix-free: a leaf covers alone
            ref = covering[0][1]
        else:
            tails = tuple([(seq[1:], slot) for seq, slot in covering])
            ref = memo.get(tails, -1)
            if ref == -1:
                child = _trie(list(tails), nodes, memo, base)
                ref = memo.get(child, -1)
                if ref == -1:
                    ref = memo[child] = base + len(nodes) - 1
                else:
                    nodes.pop()
                memo[tails] = ref
        lo, hi = bounds[j], bounds[j + 1] - 1
        if edges and edges[-1][2] == ref and edges[-1][1] == lo - 1:
            edges[-1] = (edges[-1][0], hi, ref)
        else:
            edges.append((lo, hi, ref))
    root = tuple(edges)
    nodes.append(root)
    return root


def _subtract(a: Ranges, b: Ranges) -> Ranges:
    """Code points of `a` not in `b`."""
    out = []
    for lo, hi in a:
        for blo, bhi in b:
            if bhi < lo or blo > hi:
                continue
            if blo > lo:
                out.append((lo, blo - 1))
            lo = bhi + 1
            if lo > hi:
                break
        if lo <= hi:
            out.append((lo, hi))
    return tuple(out)


def _contains(ranges: Ranges, cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)
