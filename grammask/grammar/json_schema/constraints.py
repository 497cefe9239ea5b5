"""Collect a conjunction of schemas into one flat set of constraints (`Constraints`).

`allOf`, `$ref` (with siblings, as in 2020-12) and the older drafts' spellings are folded
here, keyword by keyword: bounds take the tighter value, `required` unions, patterns and
formats accumulate (their automata are intersected later), and subschemas that apply to the
same place — a property's schemas, `items`, `additionalProperties` — are kept as *lists*
(an implicit `allOf`) that the grammar builder collects only when it reaches that place.
Keeping them lazy is what makes recursive schemas work: a `$ref` cycle through `properties`
is a recursive grammar rule, not an infinite merge.

Combinators that cannot be flattened (`anyOf`, `oneOf`, `not`, `if`) are kept as groups for
the builder to distribute. Annotations (`title`, `description`, `default`, `examples`,
unknown keywords) are ignored, as the specification says.

`unevaluatedProperties` / `unevaluatedItems` are entries whose *annotation scope* (the names,
patterns and item positions evaluated by their own schema and its in-place subschemas) is
filled while collecting: `Collector.add` carries a `Scope` (indices of the open entries) down
through `$ref`, `allOf` and the combinator groups, never through `not`. Combinator branches
are added when the builder distributes them, so inside one distributed branch the scope holds
exactly what that branch's successful subschemas evaluated; `anyOf` (whose every *successful*
branch contributes) is expanded into subsets of its branches (`annotation_subsets`)."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from typing import Any

from ...errors import SchemaError
from .formats import format_regex
from .negation import negate
from .refs import RefResolver, escape_pointer

Schema = Any
Sub = tuple[Any, str]                  # (raw subschema, JSON pointer path for messages)
TYPES = ("null", "boolean", "object", "array", "string", "number", "integer")
ALL_TYPES = frozenset(TYPES) - {"integer"}         # "number" covers "integer"
_MAX_REF_CHAIN = 64

# Keywords that constrain something (anything else is an annotation or unknown and ignored).
_ARRAY_KEYS = ("items", "prefixItems", "additionalItems", "minItems", "maxItems", "contains",
               "minContains", "maxContains", "uniqueItems", "unevaluatedItems")


@dataclass(frozen=True)
class Scope:
    """Indices (into the `Constraints` being filled) of the unevaluatedProperties and
    unevaluatedItems entries whose annotation scope the schema being added lies in: what it
    evaluates counts as evaluated for them."""

    props: tuple[int, ...] = ()
    items: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.props or self.items)

    def __or__(self, other: Scope) -> Scope:
        return Scope(tuple(dict.fromkeys(self.props + other.props)),
                     tuple(dict.fromkeys(self.items + other.items)))


NO_SCOPE = Scope()


@dataclass(frozen=True)
class UnevaluatedProperties:
    """`unevaluatedProperties` (`sub`) and what its scope evaluates: names, patterns, or every
    name (`everything`: additionalProperties or a nested unevaluatedProperties in scope)."""

    sub: Sub
    names: frozenset[str] = frozenset()
    patterns: tuple[str, ...] = ()
    everything: bool = False


@dataclass(frozen=True)
class UnevaluatedItems:
    """`unevaluatedItems` (`sub`) and what its scope evaluates: the first `prefix` positions,
    every position (`everything`: items or a nested unevaluatedItems in scope), and the items
    matching one of `contains` (data-dependent: the builder gives such an item the choice)."""

    sub: Sub
    prefix: int = 0
    everything: bool = False
    contains: tuple[Sub, ...] = ()


@dataclass(frozen=True)
class Group:
    """A combinator the builder distributes: `one` is oneOf (exactly one branch); `exclusive`
    marks branches disjoint by construction (if/then/else, dependentSchemas), which need no
    subset expansion; `scope` is where the branches' annotations go."""

    branches: tuple[Sub, ...]
    one: bool
    path: str
    scope: Scope = NO_SCOPE
    exclusive: bool = False
    cond: tuple[Any, Any, Any] | None = None     # an if/then/else's (if, then, else) schemas


@dataclass(frozen=True)
class Contains:
    """One `contains` keyword: at least `least` and at most `most` (None: any number) items
    match `sub` (minContains / maxContains sit beside it in the same schema object)."""

    sub: Sub
    least: int = 1
    most: int | None = None


MAX_CONTAINS = 4    # `contains` per conjunction: an item's element chooses which it counts for


@dataclass
class Constraints:
    """Everything a conjunction of schemas asks of one JSON value."""

    false: bool = False                        # the empty language (a `false` schema, ...)
    false_why: str = ""
    types: frozenset[str] = ALL_TYPES
    enum: list[Any] | None = None              # allowed values (const = a one-value enum)
    not_values: list[Any] = field(default_factory=list)
    # numbers
    minimum: Fraction | None = None
    maximum: Fraction | None = None
    exclusive_minimum: Fraction | None = None
    exclusive_maximum: Fraction | None = None
    multiple_of: list[Fraction] = field(default_factory=list)
    not_multiple_of: list[Fraction] = field(default_factory=list)     # from not {multipleOf}
    non_integer: bool = False                  # numbers with a non-zero fraction only
    # strings
    min_length: int = 0
    max_length: int | None = None
    patterns: list[tuple[str, str]] = field(default_factory=list)          # (pattern, path)
    not_patterns: list[tuple[str, str]] = field(default_factory=list)
    formats: list[tuple[str, str]] = field(default_factory=list)
    # objects
    properties: dict[str, list[Sub]] = field(default_factory=dict)
    pattern_properties: dict[str, list[Sub]] = field(default_factory=dict)
    # additionalProperties, each with the property names and patterns of the schema it sits in
    # (it applies only to names those do not cover)
    additional: list[tuple[Sub, frozenset[str], tuple[str, ...]]] = field(default_factory=list)
    property_names: list[Sub] = field(default_factory=list)
    required: set[str] = field(default_factory=set)
    forbidden: set[str] = field(default_factory=set)         # from not: {required: [x]}
    # from not {additionalProperties: false}: some property outside each of these name sets
    need_extra: list[frozenset[str]] = field(default_factory=list)
    # from not {patternProperties / propertyNames / additionalProperties}: for each, some
    # property whose name satisfies the first schema and whose value the second
    exists: list[tuple[Sub, Sub]] = field(default_factory=list)
    min_properties: int = 0
    max_properties: int | None = None
    dependent_required: dict[str, set[str]] = field(default_factory=dict)
    # unevaluatedProperties, each with what its annotation scope evaluates (see Scope)
    unevaluated_properties: list[UnevaluatedProperties] = field(default_factory=list)
    # arrays
    prefix_items: list[list[Sub]] = field(default_factory=list)
    items: list[Sub] = field(default_factory=list)
    items_after: int = 0              # `items` applies from this index (max prefix length)
    min_items: int = 0
    max_items: int | None = None
    # each `contains` of the conjunction with its own minContains (default 1) and maxContains
    contains: list[Contains] = field(default_factory=list)
    unique_items: tuple[bool, str] = (False, "")
    unevaluated_items: list[UnevaluatedItems] = field(default_factory=list)
    # combinators left for the builder
    any_of: list[Group] = field(default_factory=list)

    def fail(self, why: str) -> None:
        if not self.false:
            self.false, self.false_why = True, why


class Collector:
    """Folds schemas into a `Constraints` (see the module docstring)."""

    def __init__(self, resolver: RefResolver, *, format_assertion: bool = True) -> None:
        self.resolver = resolver
        self.format_assertion = format_assertion
        self.keep: list[Any] = []        # synthetic schemas: alive while ids key memos
        self._synthetic: dict[tuple[Any, ...], dict] = {}     # one object per synthesis
        self._negations: dict[int, list[Sub]] = {}              # see `negation`

    def collect(self, subs: list[Sub] | tuple[Sub, ...]) -> Constraints:
        c = Constraints()
        for schema, path in subs:
            self.add(c, schema, path, 0)
        return c

    def add(self, c: Constraints, schema: Schema, path: str, depth: int,
            scope: Scope = NO_SCOPE) -> None:
        """Fold `schema` into `c`; what it evaluates goes to the unevaluated* entries `scope`
        names (its own keywords first, so that properties keep the order a reader sees: a
        schema's own before those of its `$ref`/`allOf`)."""
        if depth > _MAX_REF_CHAIN:
            raise SchemaError("$ref/allOf chain too deep (a reference cycle that never reaches "
                              "a property or item?)", path)
        if schema is True:
            return
        if schema is False:
            c.fail(f"false schema at {path}")
            return
        if not isinstance(schema, dict):
            raise SchemaError(f"a schema must be an object or a boolean, got "
                              f"{type(schema).__name__}", path)
        if self.resolver.follows_draft(schema):         # draft-07 and before
            if "$ref" in schema:
                target, where = self.resolver.resolve(schema["$ref"],
                                                      self.resolver.base_of(schema), path)
                self.add(c, target, where, depth + 1, scope)
                return
            if not self.resolver.unknown_keywords.isdisjoint(schema):
                schema = self._known_only(schema)
        scope = self._open_scopes(c, schema, path, scope)
        self._types(c, schema, path)
        self._values(c, schema, path)
        self._negated(c, schema)
        self._numbers(c, schema, path)
        self._strings(c, schema, path)
        self._objects(c, schema, path, scope)
        self._arrays(c, schema, path, scope)
        ref = schema.get("$ref")
        if ref is not None:
            target, where = self.resolver.resolve(ref, self.resolver.base_of(schema), path)
            self.add(c, target, where, depth + 1, scope)
        for key in ("$dynamicRef", "$recursiveRef"):
            if key in schema:   # `dynamic_refs` rewrote the document's into `$ref`s before
                raise SchemaError(f"{key} {schema[key]!r} outside the document's dynamic "
                                  f"scopes", path)
        for i, sub in enumerate(_list(schema, "allOf", path)):
            self.add(c, sub, f"{path}/allOf/{i}", depth + 1, scope)
        self._combinators(c, schema, path, depth, scope)

    def _known_only(self, schema: dict) -> dict:
        """`schema` without the keywords its draft does not know (one copy per schema
        object, so that id-keyed memos see the same copy each time)."""
        key = ("known", id(schema))
        if key not in self._synthetic:
            self.keep.append(schema)
        return self.synthesize(key, {k: v for k, v in schema.items()
                                      if k not in self.resolver.unknown_keywords})

    def _open_scopes(self, c: Constraints, s: dict, path: str, scope: Scope) -> Scope:
        """A schema with unevaluatedProperties/Items opens an entry (its scope: itself and its
        in-place subschemas). For the enclosing scopes it evaluates everything: what its own
        scope leaves, its unevaluated* keyword evaluates."""
        props, items = scope.props, scope.items
        if "unevaluatedProperties" in s:
            for i in props:
                c.unevaluated_properties[i] = replace(c.unevaluated_properties[i],
                                                      everything=True)
            props = ()
            if s["unevaluatedProperties"] is not True:
                c.unevaluated_properties.append(UnevaluatedProperties(
                    (s["unevaluatedProperties"], f"{path}/unevaluatedProperties")))
                props = (len(c.unevaluated_properties) - 1,)
        if "unevaluatedItems" in s:
            for i in items:
                c.unevaluated_items[i] = replace(c.unevaluated_items[i], everything=True)
            items = ()
            if s["unevaluatedItems"] is not True:
                c.unevaluated_items.append(UnevaluatedItems(
                    (s["unevaluatedItems"], f"{path}/unevaluatedItems")))
                items = (len(c.unevaluated_items) - 1,)
        return Scope(props, items)

    # -- keyword families ----------------------------------------------------------------------
    def _types(self, c: Constraints, s: dict, path: str) -> None:
        t = s.get("type")
        if t is None:
            return
        names = [t] if isinstance(t, str) else t
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SchemaError("type must be a string or a list of strings", f"{path}/type")
        bad = [n for n in names if n not in TYPES]
        if bad:
            raise SchemaError(f"unknown type {bad[0]!r}", f"{path}/type")
        c.types = intersect_types(c.types, frozenset(names))
        if not c.types:
            c.fail(f"no type left at {path}/type")

    def _values(self, c: Constraints, s: dict, path: str) -> None:
        values = None
        if "const" in s:
            values = [s["const"]]
        if "enum" in s:
            if not isinstance(s["enum"], list):
                raise SchemaError("enum must be an array", f"{path}/enum")
            values = s["enum"] if values is None else [v for v in values if _in(v, s["enum"])]
        if values is None:
            return
        c.enum = values if c.enum is None else [v for v in c.enum if _in(v, values)]
        if not c.enum:
            c.fail(f"no enum/const value left at {path}")

    def _negated(self, c: Constraints, s: dict) -> None:
        """The private keywords `negation.negate` writes (never in user schemas' meaning)."""
        if "_notFormat" in s:
            regex = format_regex(s["_notFormat"]) if self.format_assertion else None
            if regex is None:           # an annotation constrains nothing: no complement
                c.fail("the complement of an unenforced format")
            else:
                c.not_patterns.append((f"^(?:{regex})$", "#/not/format"))
        c.not_values.extend(s.get("_notIn", ()))
        c.not_patterns.extend(s.get("_notPattern", ()))
        c.forbidden.update(s.get("_forbidden", ()))
        if s.get("_nonInteger"):
            c.non_integer = True
        m = _frac(s.get("_notMultipleOf"))
        if m is not None and m not in c.not_multiple_of:
            c.not_multiple_of.append(m)
        if "_needExtra" in s:
            c.need_extra.append(frozenset(s["_needExtra"]))
        if "_exists" in s:
            name, value = s["_exists"]
            c.exists.append((tuple(name), tuple(value)))

    def _numbers(self, c: Constraints, s: dict, path: str) -> None:
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
            if key in s:
                v = s[key]
                if isinstance(v, bool) and key.startswith("exclusive"):
                    continue                        # draft-04 booleans, handled below
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise SchemaError(f"{key} must be a number", f"{path}/{key}")
        lo, hi = _frac(s.get("minimum")), _frac(s.get("maximum"))
        if s.get("exclusiveMinimum") is True:
            c.exclusive_minimum = _tighter(c.exclusive_minimum, lo, max)
            lo = None
        if s.get("exclusiveMaximum") is True:
            c.exclusive_maximum = _tighter(c.exclusive_maximum, hi, min)
            hi = None
        c.minimum = _tighter(c.minimum, lo, max)
        c.maximum = _tighter(c.maximum, hi, min)
        if not isinstance(s.get("exclusiveMinimum"), bool):
            c.exclusive_minimum = _tighter(c.exclusive_minimum, _frac(s.get("exclusiveMinimum")), max)
        if not isinstance(s.get("exclusiveMaximum"), bool):
            c.exclusive_maximum = _tighter(c.exclusive_maximum, _frac(s.get("exclusiveMaximum")), min)
        m = _frac(s.get("multipleOf"))
        if m is not None:
            if m <= 0:
                raise SchemaError("multipleOf must be > 0", f"{path}/multipleOf")
            if m not in c.multiple_of:
                c.multiple_of.append(m)

    def _strings(self, c: Constraints, s: dict, path: str) -> None:
        if "minLength" in s:
            c.min_length = max(c.min_length, _count(s, "minLength", path))
        if "maxLength" in s:
            c.max_length = _tighter(c.max_length, _count(s, "maxLength", path), min)
        if "pattern" in s:
            p = s["pattern"]
            if not isinstance(p, str):
                raise SchemaError("pattern must be a string", f"{path}/pattern")
            if (p, f"{path}/pattern") not in c.patterns:
                c.patterns.append((p, f"{path}/pattern"))
        f = s.get("format")
        if self.format_assertion and isinstance(f, str):
            c.formats.append((f, f"{path}/format"))

    def _objects(self, c: Constraints, s: dict, path: str, scope: Scope) -> None:
        props = s.get("properties")
        if props is not None:
            if not isinstance(props, dict):
                raise SchemaError("properties must be an object", f"{path}/properties")
            for name, sub in props.items():
                c.properties.setdefault(name, []).append((sub, f"{path}/properties/{escape_pointer(name)}"))
        pats = s.get("patternProperties")
        if pats is not None:
            if not isinstance(pats, dict):
                raise SchemaError("patternProperties must be an object",
                                  f"{path}/patternProperties")
            for pat, sub in pats.items():
                c.pattern_properties.setdefault(pat, []).append(
                    (sub, f"{path}/patternProperties/{escape_pointer(pat)}"))
        if "additionalProperties" in s:
            # It applies to names outside *this* schema's properties/patternProperties.
            c.additional.append(((s["additionalProperties"], f"{path}/additionalProperties"),
                                 frozenset(props or {}), tuple(pats or {})))
        if "propertyNames" in s:
            c.property_names.append((s["propertyNames"], f"{path}/propertyNames"))
        req = s.get("required")
        if req is not None and not isinstance(req, bool):
            if not isinstance(req, list) or not all(isinstance(r, str) for r in req):
                raise SchemaError("required must be an array of strings", f"{path}/required")
            c.required.update(req)
        if "minProperties" in s:
            c.min_properties = max(c.min_properties, _count(s, "minProperties", path))
        if "maxProperties" in s:
            c.max_properties = _tighter(c.max_properties, _count(s, "maxProperties", path), min)
        self._dependencies(c, s, path, scope)
        if scope.props and (props or pats or "additionalProperties" in s):
            self._evaluate_properties(c, scope, frozenset(props or {}), tuple(pats or {}),
                                      "additionalProperties" in s)

    @staticmethod
    def _evaluate_properties(c: Constraints, scope: Scope, names: frozenset[str],
                             pats: tuple[str, ...], everything: bool) -> None:
        """Record, for each unevaluatedProperties entry in `scope`, what a schema evaluates."""
        for i in scope.props:
            e = c.unevaluated_properties[i]
            c.unevaluated_properties[i] = replace(
                e, names=e.names | names,
                patterns=e.patterns + tuple(p for p in pats if p not in e.patterns),
                everything=e.everything or everything)

    def _dependencies(self, c: Constraints, s: dict, path: str, scope: Scope) -> None:
        deps: dict[str, Any] = {}
        for key in ("dependencies", "dependentRequired", "dependentSchemas"):
            value = s.get(key)
            if value is None:
                continue
            if not isinstance(value, dict):
                raise SchemaError(f"{key} must be an object", f"{path}/{key}")
            for name, dep in value.items():
                deps[f"{key}\0{name}"] = dep
        for tagged, dep in deps.items():
            key, name = tagged.split("\0", 1)
            where = f"{path}/{key}/{escape_pointer(name)}"
            if isinstance(dep, list) != (key != "dependentSchemas") and key != "dependencies":
                raise SchemaError(f"{key} values must be "
                                  f"{'schemas' if key == 'dependentSchemas' else 'arrays'}", where)
            if isinstance(dep, list):
                if not all(isinstance(d, str) for d in dep):
                    raise SchemaError(f"{key}: the required names must be strings", where)
                c.dependent_required.setdefault(name, set()).update(dep)
            else:
                # name absent, or name present and the whole object valid against dep
                # (non-objects: absent; they satisfy dep without its annotations counting)
                absent = {"_forbidden": [name]}
                present = {"type": "object", "required": [name], "allOf": [dep]}
                self.keep.extend((absent, present))
                c.any_of.append(Group(((absent, where), (present, where)), False, where,
                                      scope, exclusive=True))

    def _arrays(self, c: Constraints, s: dict, path: str, scope: Scope) -> None:
        items = s.get("items")
        prefix = s.get("prefixItems")
        rest_key = "items"
        if isinstance(items, list):               # draft <= 2019: items array = prefixItems
            prefix, items, rest_key = items, s.get("additionalItems"), "additionalItems"
        if prefix is not None:
            if not isinstance(prefix, list):
                raise SchemaError("prefixItems must be an array", f"{path}/prefixItems")
            key = "prefixItems" if rest_key == "items" else "items"
            for i, sub in enumerate(prefix):
                while len(c.prefix_items) <= i:
                    c.prefix_items.append([])
                c.prefix_items[i].append((sub, f"{path}/{key}/{i}"))
        if items is not None:
            after = len(prefix) if prefix is not None else 0
            if c.items and after != c.items_after:
                raise SchemaError("allOf of array schemas whose items start after prefixes of "
                                  "different lengths is not supported", path)
            c.items_after = after
            c.items.append((items, f"{path}/{rest_key}"))
        if "minItems" in s:
            c.min_items = max(c.min_items, _count(s, "minItems", path))
        if "maxItems" in s:
            c.max_items = _tighter(c.max_items, _count(s, "maxItems", path), min)
        if "contains" in s:
            if len(c.contains) >= MAX_CONTAINS:
                raise SchemaError(f"more than {MAX_CONTAINS} 'contains' in one allOf are not "
                                  "supported", path)
            least = _count(s, "minContains", path) if "minContains" in s else 1
            most = _count(s, "maxContains", path) if "maxContains" in s else None
            c.contains.append(Contains((s["contains"], f"{path}/contains"), least, most))
        if s.get("uniqueItems") is True:
            c.unique_items = (True, f"{path}/uniqueItems")
        contains = ((s["contains"], f"{path}/contains"),) if "contains" in s else ()
        if scope.items and (prefix is not None or items is not None or contains):
            self._evaluate_items(c, scope, len(prefix or ()), items is not None, contains)

    @staticmethod
    def _evaluate_items(c: Constraints, scope: Scope, prefix: int, everything: bool,
                        contains: tuple[Sub, ...]) -> None:
        """Record, for each unevaluatedItems entry in `scope`, what a schema evaluates
        (`items`/`additionalItems` evaluate every position after the prefix, so all)."""
        for i in scope.items:
            e = c.unevaluated_items[i]
            c.unevaluated_items[i] = replace(e, prefix=max(e.prefix, prefix),
                                             everything=e.everything or everything,
                                             contains=e.contains + contains)

    def _combinators(self, c: Constraints, s: dict, path: str, depth: int,
                     scope: Scope) -> None:
        for key, one in (("anyOf", False), ("oneOf", True)):
            branches = _list(s, key, path)
            if branches:
                self._group(c, [(b, f"{path}/{key}/{i}") for i, b in enumerate(branches)],
                            one, f"{path}/{key}", depth, scope)
            elif key in s:
                raise SchemaError(f"{key} must be a non-empty array", f"{path}/{key}")
        if "not" in s:        # `not` never contributes annotations: no scope
            self._group(c, self.negation(s["not"], f"{path}/not"), False, f"{path}/not", depth,
                        NO_SCOPE)
        if "if" in s and ("then" in s or "else" in s):
            cond = s["if"]
            then = s.get("then", True)
            other = s.get("else", True)
            yes = self.synthesize(("yes", id(cond), id(then)), {"allOf": [cond, then]})
            no = self.synthesize(("no", id(cond), id(other)),
                                  {"allOf": [{"not": cond}, other]})
            c.any_of.append(Group(((yes, f"{path}/then"), (no, f"{path}/else")), False,
                                  f"{path}/if", scope, exclusive=True, cond=(cond, then, other)))
        elif "if" in s and scope and annotates(s["if"]):
            # A lone `if` constrains nothing, but when it holds its annotations count: either
            # it holds (and evaluates) or nothing is evaluated (exact, see annotation_subsets).
            c.any_of.append(Group(((s["if"], f"{path}/if"), (True, f"{path}/if")), False,
                                  f"{path}/if", scope))

    def _group(self, c: Constraints, branches: list[Sub], one: bool, path: str,
               depth: int, scope: Scope) -> None:
        """A disjunction; one branch is just a conjunct (folded now, no distribution)."""
        if len(branches) == 1:
            self.add(c, branches[0][0], branches[0][1], depth + 1, scope)
            return
        ids = [id(b) for b, _ in branches]
        for k, g in enumerate(c.any_of):
            if [id(x) for x, _ in g.branches] == ids and g.one == one and not g.exclusive:
                # A and A is A; the annotations of the one go to both scopes (exact: the
                # same branches succeed for both)
                c.any_of[k] = replace(g, scope=g.scope | scope)
                return
        c.any_of.append(Group(tuple(branches), one, path, scope))

    def synthesize(self, key: tuple[Any, ...], schema: dict) -> dict:
        """One object per synthetic schema (ids key the builder's memos), kept alive."""
        if key not in self._synthetic:
            self._synthetic[key] = schema
            self.keep.append((key, schema))
        return self._synthetic[key]

    def annotation_subsets(self, g: Group) -> list[Sub]:
        """The branches of an anyOf whose annotations are in some scope, as alternatives whose
        annotations are exact: every instance collects the annotations of *all* the branches
        it satisfies. For each non-empty subset S of the branches that evaluate something, the
        alternative "all of S" (annotations: those of S); plus each branch that evaluates
        nothing, alone. An instance satisfying the branches T is accepted by S = T's
        evaluating part; a smaller S evaluates less, so unevaluated* constrains more there, and
        accepts nothing invalid: the union is exact, with no negation needed."""
        evaluating = [b for b in g.branches if annotates(b[0])]
        if len(evaluating) <= 1:
            return list(g.branches)      # one evaluating branch: plain distribution is exact
        if len(evaluating) > _MAX_EVALUATING_BRANCHES:
            raise SchemaError(f"unevaluatedProperties/unevaluatedItems beside an anyOf with more "
                              f"than {_MAX_EVALUATING_BRANCHES} branches that evaluate "
                              f"properties or items is not supported", g.path)
        out: list[Sub] = []
        for mask in range(1, 1 << len(evaluating)):
            chosen = [evaluating[i] for i in range(len(evaluating)) if mask >> i & 1]
            if len(chosen) == 1:
                out.append(chosen[0])
                continue
            key = ("subset",) + tuple(id(b) for b, _ in chosen)
            out.append((self.synthesize(key, {"allOf": [b for b, _ in chosen]}), g.path))
        out += [b for b in g.branches if not annotates(b[0])]
        return out

    def either(self, contains: tuple[Sub, ...], sub: Sub) -> Sub:
        """An item some `contains` of an unevaluatedItems scope matches is evaluated; any
        other must satisfy unevaluatedItems: `anyOf [contains..., unevaluatedItems]`."""
        key = ("either", id(sub[0])) + tuple(id(x) for x, _ in contains)
        return self.synthesize(key, {"anyOf": [x for x, _ in contains] + [sub[0]]}), sub[1]

    def negated_schema(self, schema: Schema) -> dict:
        """`{"not": schema}`, one object per schema (ids key the builder's memos): every
        element or branch that must fail `schema` shares its rule."""
        return self.synthesize(("not", id(schema)), {"not": schema})

    def negation(self, schema: Schema, path: str) -> list[Sub]:
        """`not schema` as a union of (synthetic) schemas; kept alive for id()-keyed memos,
        and the same ones each time one schema object is negated again: a recursive schema
        whose `not` (or oneOf's exact form) sits on its own cycle then meets the value memo
        at the next round instead of nesting new synthetic schemas until `max_depth`."""
        found = self._negations.get(id(schema))
        if found is None:
            found = self._negations[id(schema)] = negate(schema, path, self.resolver)
            self.keep.extend(b for b, _ in found)
            self.keep.append(schema)
        return found


# -- small helpers --------------------------------------------------------------------------------
def intersect_types(a: frozenset[str], b: frozenset[str]) -> frozenset[str]:
    """Type sets where "number" includes "integer"."""
    def widen(t: frozenset[str]) -> set[str]:
        return set(t) | ({"integer"} if "number" in t else set())
    out = widen(a) & widen(b)
    return frozenset(out - {"integer"} if "number" in out else out)


def clone(c: Constraints) -> Constraints:
    """A copy of `c` whose containers can be changed without touching `c`'s."""
    out = copy.copy(c)
    for f in fields(c):
        v = getattr(c, f.name)
        if isinstance(v, (list, dict, set)):
            setattr(out, f.name, copy.copy(v))
    out.properties = {k: list(v) for k, v in c.properties.items()}
    out.pattern_properties = {k: list(v) for k, v in c.pattern_properties.items()}
    out.dependent_required = {k: set(v) for k, v in c.dependent_required.items()}
    out.prefix_items = [list(p) for p in c.prefix_items]
    return out


def json_type(v: Any) -> str:
    """The JSON Schema type of a Python JSON value (integral floats are integers)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer()):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    return "array" if isinstance(v, list) else "object"


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but True != 1 and containers compare element-wise."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _in(v: Any, values: list[Any]) -> bool:
    return any(json_equal(v, w) for w in values)


def annotates(node: Any) -> bool:
    """Whether a subschema (tree) may evaluate properties or items in place (conservative:
    any reference may)."""
    if isinstance(node, list):
        return any(annotates(x) for x in node)
    if not isinstance(node, dict):
        return False
    if any(k in node for k in _ANNOTATING):
        return True
    return any(annotates(node.get(k)) for k in
               ("allOf", "anyOf", "oneOf", "if", "then", "else", "dependentSchemas"))


_ANNOTATING = ("properties", "patternProperties", "additionalProperties",
               "unevaluatedProperties", "prefixItems", "items", "additionalItems", "contains",
               "unevaluatedItems", "$ref", "$dynamicRef", "$recursiveRef")
_MAX_EVALUATING_BRANCHES = 6


def _list(s: dict, key: str, path: str) -> list[Any]:
    value = s.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise SchemaError(f"{key} must be an array", f"{path}/{key}")
    return value


def _count(s: dict, key: str, path: str) -> int:
    v = s[key]
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise SchemaError(f"{key} must be a non-negative integer", f"{path}/{key}")
    return v


def _frac(v: Any) -> Fraction | None:
    if v is None or isinstance(v, bool):
        return None
    return Fraction(str(v)) if isinstance(v, float) else Fraction(v)


def _tighter(old: Any, new: Any, pick: Any) -> Any:
    """The tighter of two optional bounds (`pick` is min or max); None means unbounded."""
    if new is None:
        return old
    return new if old is None else pick(old, new)


