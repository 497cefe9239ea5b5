"""Whether two collected schemas can share a value (a sound, incomplete test).

`oneOf` is built as `anyOf` when no two of its branches can hold the same value; otherwise
the builder spells out "branch i and not the others" (`GrammarBuilder._exactly_one`), whose
negations are far larger and often past `max_branches`. So the test pays for itself when it
sees what real schemas use to tell their branches apart:

* different JSON types, or enums without a common value;
* per shared type: a required property with const/enum values the other side cannot take
  (a discriminator such as `"type": {"enum": ["vcs"]}`), a required name the other side
  forbids, more required properties than the other allows, item counts, string lengths and
  number ranges that do not meet;
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

from ...errors import SchemaError
from .constraints import Collector, Constraints, clone, json_equal, json_type

MAX_MERGES = 256     # branch merges one `all_disjoint` call may make


def all_disjoint(collector: Collector, built: list[Constraints]) -> bool:
    """No two of `built` (oneOf's branches, each merged with the rest of the schema) can
    hold the same value."""
    test = _Test(collector)
    return all(test.apart(built[i], built[j])
               for i in range(len(built)) for j in range(i + 1, len(built)))


class _Test:
    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.budget = MAX_MERGES

    def apart(self, a: Constraints, b: Constraints) -> bool:
        if base_apart(a, b):
            return True
        return self._expanded_apart(a, b) or self._expanded_apart(b, a)

    def _expanded_apart(self, x: Constraints, y: Constraints) -> bool:
        """x's first group distributed: every branch (with the rest of x) apart from y."""
        if not x.any_of or x.unevaluated_properties or x.unevaluated_items:
            return False
        group = x.any_of[0]
        if len(group.branches) > self.budget:
            return False
        self.budget -= len(group.branches)
        rest = clone(x)
        rest.any_of = x.any_of[1:]
        for schema, where in group.branches:
            branch = clone(rest)
            try:
                self.collector.add(branch, schema, where, 0)
            except SchemaError:     # refused where the builder may never go: may overlap
                return False
            if not self.apart(branch, y):
                return False
        return True


def base_apart(a: Constraints, b: Constraints) -> bool:
    """Apart on the sides' own keywords (groups still undistributed only narrow a side
    further, so what these keep apart stays apart)."""
    if a.false or b.false:
        return True
    shared = _value_types(a) & _value_types(b)
    if not shared:
        return True
    if a.enum is not None and b.enum is not None:
        return not any(json_equal(x, y) for x in a.enum for y in b.enum)
    return all(_KIND_APART.get(kind, _never)(a, b) for kind in shared)


def _value_types(c: Constraints) -> frozenset[str]:
    kinds = {json_type(v) for v in c.enum} if c.enum is not None else set(c.types)
    return frozenset("number" if k == "integer" else k for k in kinds)


def _never(a: Constraints, b: Constraints) -> bool:
    return False


def _objects_apart(a: Constraints, b: Constraints) -> bool:
    """A property one side requires has const/enum values the other's cannot share, or is a
    name the other (or the same side) does not allow at all; or one side needs more
    properties than the other allows."""
    for name in a.required | b.required:
        va, vb = _const_values(a, name), _const_values(b, name)
        if va is not None and vb is not None and \
                not any(json_equal(x, y) for x in va for y in vb):
            return True
    if any(_refuses_name(x, n) for x in (a, b) for n in a.required | b.required):
        return True
    return _fewer_than(b.max_properties, max(len(a.required), a.min_properties)) or \
        _fewer_than(a.max_properties, max(len(b.required), b.min_properties))


def _arrays_apart(a: Constraints, b: Constraints) -> bool:
    return _fewer_than(b.max_items, a.min_items) or _fewer_than(a.max_items, b.min_items)


def _strings_apart(a: Constraints, b: Constraints) -> bool:
    return _fewer_than(b.max_length, a.min_length) or _fewer_than(a.max_length, b.min_length)


def _numbers_apart(a: Constraints, b: Constraints) -> bool:
    return _below(_upper(a), _lower(b)) or _below(_upper(b), _lower(a))


_KIND_APART: dict[str, Callable[[Constraints, Constraints], bool]] = {
    "object": _objects_apart, "array": _arrays_apart, "string": _strings_apart,
    "number": _numbers_apart,
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


def _const_values(c: Constraints, name: str) -> list[Any] | None:
    out = None
    for schema, _ in c.properties.get(name, []):
        if isinstance(schema, dict):
            vals = [schema["const"]] if "const" in schema else schema.get("enum")
            if isinstance(vals, list):
                out = vals if out is None else [v for v in out if any(json_equal(v, w) for w in vals)]
    return out
