"""Whether an object or array value satisfies collected constraints: a const/enum container
beside other keywords (`{"const": {"a": 1}, "properties": {"a": {"type": "string"}}}`), or
one that `not {const}` / oneOf's exact form puts beside them.

The grammar spells such a value as one literal, so the builder must decide up front whether
the rest of the schema admits it. This walks the value against the constraints the way a
validator would: every property value and item against the schemas that apply to it
(collected again, recursively), counts, required and forbidden names, `contains` counts,
`uniqueItems`, and the combinator groups still undistributed (anyOf: some branch, oneOf:
exactly one). Scalars are decided by the very terminals the grammar uses
(`GrammarBuilder._value_allowed`). Annotation-dependent keywords (`unevaluated*`) beside a
container value are refused rather than guessed."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import SchemaError
from .constraints import Constraints, Sub, clone, json_equal
from .objects import pair_subs

if TYPE_CHECKING:
    from .builder import GrammarBuilder


def value_allows(b: GrammarBuilder, c: Constraints, v: Any) -> bool:
    """Whether JSON value `v` satisfies every constraint of `c` (scalars through the
    grammar's own terminals, containers structurally)."""
    if c.false or any(json_equal(v, w) for w in c.not_values):
        return False
    if c.enum is not None and not any(json_equal(v, w) for w in c.enum):
        return False
    for g in c.any_of:
        hits = sum(_sub_allows(b, sub, v) for sub in g.branches)
        if hits == 0 or (g.one and hits > 1):
            return False
    if isinstance(v, dict):
        return "object" in c.types and _object_allows(b, c, v)
    if isinstance(v, list):
        return "array" in c.types and _array_allows(b, c, v)
    plain = _plain(c)
    return b._value_allowed(plain, v)


def _plain(c: Constraints) -> Constraints:
    """`c` without what `value_allows` already checked (enum, groups, excluded values)."""
    out = clone(c)
    out.enum, out.any_of, out.not_values = None, [], []
    return out


def _sub_allows(b: GrammarBuilder, sub: Sub, v: Any) -> bool:
    return value_allows(b, b.collector.collect([sub]), v)


def _subs_allow(b: GrammarBuilder, subs: list[Sub], v: Any) -> bool:
    if any(s is False for s, _ in subs):
        return False
    return value_allows(b, b.collector.collect(subs), v)


def _object_allows(b: GrammarBuilder, c: Constraints, v: dict) -> bool:
    if c.unevaluated_properties:
        raise SchemaError("an object const/enum value beside unevaluatedProperties is not "
                          "supported", "#")
    keys = set(v)
    if not c.required <= keys:
        return False
    if len(v) < c.min_properties or (c.max_properties is not None and len(v) > c.max_properties):
        return False
    if any(name in keys and not deps <= keys for name, deps in c.dependent_required.items()):
        return False
    if any(keys <= names for names in c.need_extra):
        return False
    names = b.collector.collect(c.property_names) if c.property_names else None
    for k, x in v.items():
        if names is not None and not value_allows(b, names, k):
            return False
        subs = pair_subs(b, c, k)
        if subs is None or not _subs_allow(b, subs, x):
            return False
    return all(any(_sub_allows(b, name, k) and _sub_allows(b, value, x) for k, x in v.items())
               for name, value in c.exists)


def _array_allows(b: GrammarBuilder, c: Constraints, v: list) -> bool:
    if c.unevaluated_items:
        raise SchemaError("an array const/enum value beside unevaluatedItems is not supported",
                          "#")
    n = len(v)
    if n < c.min_items or (c.max_items is not None and n > c.max_items):
        return False
    for i, x in enumerate(v):
        subs = list(c.prefix_items[i]) if i < len(c.prefix_items) else []
        if i >= c.items_after:
            subs += c.items
        if not _subs_allow(b, subs, x):
            return False
    for x in c.contains:
        count = sum(_sub_allows(b, x.sub, item) for item in v)
        if count < x.least or (x.most is not None and count > x.most):
            return False
    return not (c.unique_items[0] and any(json_equal(v[i], v[j])
                                          for i in range(n) for j in range(i + 1, n)))
