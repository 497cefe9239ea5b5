"""Many `if`/`then`/`else` on one discriminator property, split by its value instead of
distributed.

Real schemas (JSON SchemaStore's Minecraft, JFrog, Yippee, Semgrep files) write tagged unions
as an `allOf` of conditionals that each test one property:

    allOf: [{if: {properties: {type: {const: "a"}}}, then: A},
            {if: {properties: {type: {const: "b"}}}, then: B}, ...]

Each conditional is a group of two branches ("if and then", "not if and else"), so n of them
distribute into 2^n alternatives: past `max_branches` at n = 11, seconds of compile well
before. Yet the discriminator's value decides every `if` at once. Split on it instead:

* an object whose property k is v, for each value v some `if` names: each conditional takes
  `then` where its `if` accepts v, `else` elsewhere;
* an object whose k is none of those values: every `else`;
* an object without k: `then` where the `if` does not require k, `else` where it does;
* not an object: `then` where the `if` does not ask for an object, `else` where it does.

The cases are disjoint and cover every value, and within each every `if` is decided, so the
conjunction of the conditionals is exactly the disjunction of the cases: n + 3 alternatives
instead of 2^n. Only conditionals whose `if` tests nothing but `properties: {k: const/enum}`
(with `type` on k or `type: object`, `required: [k]`, annotations) are merged, three or more
on one k, and only outside annotation scopes (`unevaluated*` would see k evaluated where no
`if` held)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .constraints import Group, Sub, json_equal, json_type

_ANNOTATIONS = frozenset({"$comment", "description", "title", "examples", "default"})
MIN_MERGED = 3        # below this the distribution is no larger than the cases


class _Test:
    """What a discriminator `if` asks: property `key` among `values` when present, the
    property `required` or not, the value an object or not."""

    def __init__(self, key: str, values: list[Any], required: bool, object_only: bool) -> None:
        self.key, self.values, self.required, self.object_only = key, values, required, object_only

    def holds_for(self, value: Any) -> bool:
        return any(json_equal(value, v) for v in self.values)


def merge_conditionals(groups: list[Group],
                       synthesize: Callable[[tuple[Any, ...], dict], dict]) -> list[Group]:
    """`groups` with every set of at least `MIN_MERGED` discriminator conditionals on one
    property replaced by one group of cases (see the module docstring); `synthesize` makes
    the case schemas (one object per key, as the builder's memos need)."""
    by_key: dict[str, list[tuple[int, _Test]]] = {}
    for i, g in enumerate(groups):
        test = _discriminator(g)
        if test is not None:
            by_key.setdefault(test.key, []).append((i, test))
    merged: dict[int, Group | None] = {}
    for key, found in by_key.items():
        if len(found) < MIN_MERGED:
            continue
        members = [(groups[i], t) for i, t in found]
        merged[found[0][0]] = Group(tuple(_cases(key, members, synthesize)), False,
                                    members[0][0].path, exclusive=True)
        merged.update((i, None) for i, _ in found[1:])
    if not merged:
        return groups
    return [merged.get(i, g) for i, g in enumerate(groups) if merged.get(i, g) is not None]


def _discriminator(g: Group) -> _Test | None:
    """The test of a conditional's `if`, when it is a discriminator test."""
    if g.cond is None or g.scope:
        return None
    cond = g.cond[0]
    if not isinstance(cond, dict) or not set(cond) <= {"properties", "required", "type"} | _ANNOTATIONS:
        return None
    props, required, kind = cond.get("properties"), cond.get("required", []), cond.get("type")
    if not isinstance(props, dict) or len(props) != 1 or kind not in (None, "object"):
        return None
    (key, sub), = props.items()
    if required not in ([], [key]) or not isinstance(sub, dict) \
            or not set(sub) <= {"const", "enum", "type"} | _ANNOTATIONS \
            or ("const" not in sub and "enum" not in sub):
        return None
    values = _accepted_values(sub)
    return None if values is None else _Test(key, values, bool(required), kind == "object")


def _accepted_values(sub: dict) -> list[Any] | None:
    """The values `sub` (const / enum / type) accepts, or None when it is malformed."""
    values = [sub["const"]] if "const" in sub else None
    if "enum" in sub:
        if not isinstance(sub["enum"], list):
            return None
        values = sub["enum"] if values is None else \
            [v for v in values if any(json_equal(v, e) for e in sub["enum"])]
    kinds = sub.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not isinstance(kinds, list):
            return None
        values = [v for v in values or [] if json_type(v) in kinds
                  or (json_type(v) == "integer" and "number" in kinds)]
    return list(values or [])


def _cases(key: str, members: list[tuple[Group, _Test]],
           synthesize: Callable[[tuple[Any, ...], dict], dict]) -> list[Sub]:
    """The case branches: one per named value, then other values, absent, not an object."""
    named: list[Any] = []
    for _, test in members:
        named += [v for v in test.values if not any(json_equal(v, n) for n in named)]
    # the schemas' ids (kept alive by the document or the collector), not the cond tuples':
    # a tuple dropped with its Constraints could hand its id to another
    ident = tuple(tuple(id(x) for x in g.cond) for g, _ in members if g.cond is not None)
    cases: list[tuple[dict, list[bool]]] = [
        ({"type": "object", "required": [key], "properties": {key: {"const": v}}},
         [t.holds_for(v) for _, t in members]) for v in named]
    cases.append(({"type": "object", "required": [key],
                   "properties": {key: {"not": {"enum": named}}}}, [False] * len(members)))
    cases.append(({"type": "object", "not": {"required": [key]}},
                  [not t.required for _, t in members]))
    cases.append(({"not": {"type": "object"}}, [not t.object_only for _, t in members]))
    path = members[0][0].path
    out: list[Sub] = []
    for n, (test, holds) in enumerate(cases):
        parts = [test] + [g.cond[1] if yes else g.cond[2] for (g, _), yes in zip(members, holds)]
        out.append((synthesize(("cases", ident, n), {"allOf": parts}), f"{path} (case {n})"))
    return out
