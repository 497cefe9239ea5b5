"""Whether two collected schemas can share a value (a sound, incomplete test).

`oneOf` is built as `anyOf` when no two of its branches can hold the same value; otherwise
the builder spells out "branch i and not the others" (`GrammarBuilder._exactly_one`), whose
negations are far larger and often past `max_branches`. So the test pays for itself when it
sees what real schemas use to tell their branches apart:

* different JSON types, or enums without a common value;
* per shared type: a required property whose values on the two sides cannot meet, tested
  recursively (a discriminator such as `"type": {"enum": ["vcs"]}` beside `{"const":
  "path"}`, two patterns whose automata do not intersect, or a schema S beside `not S`, which
  is what a negated shared base leaves); a required name either side forbids; more required
  properties than the other side allows; item counts, string lengths and number ranges that
  do not meet; a pattern one side needs and the other must not match;
* combinator groups still undistributed (a branch that is itself a `oneOf` of
  discriminated objects): a side whose value satisfies one of a group's branches is apart
  from the other when each branch, merged with the rest of that side, is. The merges are
  bounded by `MAX_MERGES` per test; past it the answer is "may overlap", which only costs
  the larger exact form.

Annotation-dependent keywords (`unevaluatedProperties`/`unevaluatedItems`) make a branch's
meaning depend on which siblings succeed, so a side that has them is never expanded.
"""
from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

from ...errors import GrammarError, SchemaError
from .constraints import Collector, Constraints, Sub, clone, json_equal, json_type

MAX_MERGES = 256     # branch merges (and property values collected) per pair tested
MAX_NESTING = 3      # property values inside property values tested

StringsApart = Callable[[Constraints, Constraints], bool]


def all_disjoint(collector: Collector, built: list[Constraints],
                 strings_apart: StringsApart | None = None) -> bool:
    """No two of `built` (oneOf's branches, each merged with the rest of the schema) can
    hold the same value. `strings_apart(a, b)` decides two string sides with patterns
    (the builder intersects their automata)."""
    memo = _Memo()
    return all(_Test(collector, strings_apart, memo).apart(built[i], built[j])
               for i in range(len(built)) for j in range(i + 1, len(built)))


def kept_disjuncts(collector: Collector, mine: Constraints, disjuncts: list[Sub],
                   strings_apart: StringsApart | None = None) -> list[int]:
    """Indices of the `disjuncts` (a negation's union, `negation.negate`) that may share a
    value with `mine`: the others can be dropped from "`mine` and not X" exactly."""
    memo = _Memo()
    keep = []
    for k, sub in enumerate(disjuncts):
        test = _Test(collector, strings_apart, memo)
        c = test.collected([sub])
        if c is None or not test.apart(mine, c):
            keep.append(k)
    return keep


class _Memo:
    """What the pairs of one call share: collected subschema lists (by the ids of their
    schemas) and distributed first groups (by the id of the side), each kept with what its
    key's ids belong to so that they stay alive."""

    def __init__(self) -> None:
        self.collected: dict[tuple[int, ...], tuple[list[Sub], Constraints | None]] = {}
        self.expanded: dict[int, tuple[Constraints, list[Constraints] | None]] = {}


class _Test:
    """One pair's test (its own merge budget; the memo is shared)."""

    def __init__(self, collector: Collector, strings_apart: StringsApart | None,
                 memo: _Memo) -> None:
        self.collector = collector
        self.strings_apart = strings_apart
        self.memo = memo
        self.budget = MAX_MERGES

    def apart(self, a: Constraints, b: Constraints, nesting: int = 0) -> bool:
        if self._base_apart(a, b, nesting):
            return True
        return self._expanded_apart(a, b, nesting) or self._expanded_apart(b, a, nesting)

    def _expanded_apart(self, x: Constraints, y: Constraints, nesting: int) -> bool:
        """x's first group distributed: every branch (with the rest of x) apart from y."""
        if not x.any_of or x.unevaluated_properties or x.unevaluated_items:
            return False
        if not self._spend(len(x.any_of[0].branches)):
            return False
        branches = self._branches(x)
        return branches is not None and all(self.apart(b, y, nesting) for b in branches)

    def _branches(self, x: Constraints) -> list[Constraints] | None:
        """x's first group distributed (None: a branch the collector refuses)."""
        found = self.memo.expanded.get(id(x))
        if found is None:
            rest = clone(x)
            rest.any_of = x.any_of[1:]
            out: list[Constraints] | None = []
            for schema, where in x.any_of[0].branches:
                branch = clone(rest)
                if not self._add(branch, [(schema, where)]):
                    out = None
                    break
                out.append(branch)
            found = self.memo.expanded[id(x)] = (x, out)
        return found[1]

    def collected(self, subs: list[Sub]) -> Constraints | None:
        """The conjunction of `subs` (None: refused by the collector)."""
        key = tuple(id(s) for s, _ in subs)
        found = self.memo.collected.get(key)
        if found is None:
            c: Constraints | None = Constraints()
            if not self._add(c, subs):
                c = None
            found = self.memo.collected[key] = (list(subs), c)
        return found[1]

    def _spend(self, n: int) -> bool:
        if n > self.budget:
            return False
        self.budget -= n
        return True

    def _add(self, c: Constraints, subs: list) -> bool:
        try:
            for schema, where in subs:
                self.collector.add(c, schema, where, 0)
        except GrammarError:        # refused where the builder may never go: may overlap
            return False
        return True

    def _base_apart(self, a: Constraints, b: Constraints, nesting: int) -> bool:
        """Apart on the sides' own keywords (groups still undistributed only narrow a side
        further, so what these keep apart stays apart)."""
        if a.false or b.false:
            return True
        shared = _value_types(a) & _value_types(b)
        if not shared:
            return True
        if a.enum is not None and b.enum is not None:
            return not any(json_equal(x, y) for x in a.enum for y in b.enum)
        return all(self._kind_apart(kind, a, b, nesting) for kind in shared)

    def _kind_apart(self, kind: str, a: Constraints, b: Constraints, nesting: int) -> bool:
        if kind == "object":
            return _objects_apart(a, b) or self._values_apart(a, b, nesting)
        if kind == "string":
            return _lengths_apart(a, b) or _pattern_refused(a, b) or (
                self.strings_apart is not None and bool(a.patterns and b.patterns)
                and self.strings_apart(a, b))
        return _KIND_APART.get(kind, _never)(a, b)

    def _values_apart(self, a: Constraints, b: Constraints, nesting: int) -> bool:
        """A property one side requires and both give schemas whose values cannot meet (a
        discriminator: `"type": {"enum": ["git"]}` beside `{"const": "path"}`, or two
        patterns)."""
        if nesting >= MAX_NESTING:
            return False
        names = [n for n in a.required | b.required if n in a.properties and n in b.properties]
        for name in sorted(names, key=lambda n: (not _fixed(a, n) or not _fixed(b, n), n)):
            xs, ys = a.properties[name], b.properties[name]
            if self._complementary(xs, ys) or self._complementary(ys, xs):
                return True
            if not self._spend(1):
                return False
            va, vb = self.collected(xs), self.collected(ys)
            if va is not None and vb is not None and self.apart(va, vb, nesting + 1):
                return True
        return False

    def _complementary(self, xs: list[Sub], ys: list[Sub]) -> bool:
        """Values of one side satisfy a schema S, the other's `not S` (what a negated
        shared base leaves beside the branch that has it: S need not be understood)."""
        return any(isinstance(y, dict) and set(y) == {"not"} and
                   any(self._same(x, y["not"]) for x, _ in xs) for y, _ in ys)

    def _same(self, x: Any, y: Any) -> bool:
        """The same schema: one object once `$ref`s are followed, or equal JSON under the
        same base URI."""
        x, y = self._core(x), self._core(y)
        resolver = self.collector.resolver
        return x is y or (resolver.base_of(x) == resolver.base_of(y) and json_equal(x, y))

    def _core(self, schema: Any) -> Any:
        """`schema` with a chain of bare `$ref`s followed (a bounded number of steps)."""
        resolver = self.collector.resolver
        for _ in range(16):
            if not (isinstance(schema, dict) and "$ref" in schema and
                    set(schema) <= _BARE_REF):
                break
            try:
                schema, _ = resolver.resolve(schema["$ref"], resolver.base_of(schema), "#")
            except SchemaError:
                break
        return schema


_BARE_REF = frozenset({"$ref", "description", "title", "$comment", "default", "examples"})


def _fixed(c: Constraints, name: str) -> bool:
    """Property `name` has a const/enum schema: the likeliest discriminator, tried first."""
    return any(isinstance(s, dict) and ("const" in s or "enum" in s)
               for s, _ in c.properties[name])


def _value_types(c: Constraints) -> frozenset[str]:
    kinds = {json_type(v) for v in c.enum} if c.enum is not None else set(c.types)
    return frozenset("number" if k == "integer" else k for k in kinds)


def _never(a: Constraints, b: Constraints) -> bool:
    return False


def _objects_apart(a: Constraints, b: Constraints) -> bool:
    """A name one side requires that either side cannot hold, or one side needs more
    properties than the other allows."""
    if any(_refuses_name(x, n) for x in (a, b) for n in a.required | b.required):
        return True
    return _fewer_than(b.max_properties, max(len(a.required), a.min_properties)) or \
        _fewer_than(a.max_properties, max(len(b.required), b.min_properties))


def _arrays_apart(a: Constraints, b: Constraints) -> bool:
    return _fewer_than(b.max_items, a.min_items) or _fewer_than(a.max_items, b.min_items)


def _lengths_apart(a: Constraints, b: Constraints) -> bool:
    return _fewer_than(b.max_length, a.min_length) or _fewer_than(a.max_length, b.min_length)


def _pattern_refused(a: Constraints, b: Constraints) -> bool:
    """One side needs a pattern the other must not match (`not {pattern}`)."""
    return any(p in {q for q, _ in y.not_patterns} for x, y in ((a, b), (b, a))
               for p, _ in x.patterns)


def _numbers_apart(a: Constraints, b: Constraints) -> bool:
    return _below(_upper(a), _lower(b)) or _below(_upper(b), _lower(a))


_KIND_APART: dict[str, Callable[[Constraints, Constraints], bool]] = {
    "array": _arrays_apart, "number": _numbers_apart,
}


def _fewer_than(most: int | None, least: int) -> bool:
    return most is not None and most < least


Bound = tuple[Fraction, bool] | None        # (value, open)


def _lower(c: Constraints) -> Bound:
    return _tightest([(c.minimum, False), (c.exclusive_minimum, True)], max)


def _upper(c: Constraints) -> Bound:
    return _tightest([(c.maximum, False), (c.exclusive_maximum, True)], min)


def _tightest(bounds: list[tuple[Fraction | None, bool]], pick: Callable) -> Bound:
    """The tighter of an inclusive and an exclusive bound (exclusive wins a tie)."""
    present = [(v, o) for v, o in bounds if v is not None]
    if not present:
        return None
    value = pick(v for v, _ in present)
    return value, any(o for v, o in present if v == value)


def _below(upper: Bound, lower: Bound) -> bool:
    """No number is both <= `upper` and >= `lower` (with their openness)."""
    if upper is None or lower is None:
        return False
    (hi, hi_open), (lo, lo_open) = upper, lower
    return hi < lo or (hi == lo and (hi_open or lo_open))


def _refuses_name(c: Constraints, name: str) -> bool:
    """`c` cannot hold property `name`: forbidden, a `false` property schema, or an
    `additionalProperties: false` whose own schema neither names it nor has patterns (an
    entry with patterns is left alone: deciding an ECMA pattern here is not worth the risk)."""
    if name in c.forbidden or any(s is False for s, _ in c.properties.get(name, [])):
        return True
    return any(sub[0] is False and name not in names and not patterns
               for sub, names, patterns in c.additional)
