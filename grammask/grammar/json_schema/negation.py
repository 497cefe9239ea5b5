"""`not`: the complement of a schema as a union of schemas grammask can build.

A schema is the conjunction of its keywords, so its complement is the union of the keywords'
complements (De Morgan), and most single keywords have a complement that is again a plain
schema: ``not {minimum: 5}`` is "a number < 5" (values of other types satisfy `minimum` vacuously, so
they are not in its complement); ``not {required: [k]}`` is "an object without k";
``not {items: S}`` is "an array containing an element of ``not S``"; ``not {prefixItems:
[A, B]}`` is "an array whose item 0 fails A, or whose item 1 fails B". Negations that would
need a complement the grammar cannot express (``not {uniqueItems}``, ``items`` past a prefix)
raise `SchemaError` naming the keyword,
so nothing is silently dropped; such keywords whose subschemas are all trivially true
(``unevaluatedProperties: true``, ``patternProperties: {"x": {}}``) constrain nothing and have
an empty complement.

The branches use private keywords the collector understands: ``_notIn`` (values
excluded), ``_notPattern`` (patterns a string must not match), ``_forbidden`` (property
names that must not occur), ``_notMultipleOf`` (``not {multipleOf: m}``: a number that is
no multiple of m, decided by the number automaton's own residue arithmetic) and ``_exists``
(an object with some property whose name satisfies one schema and whose value another: the
complements of ``patternProperties``, ``propertyNames`` and ``additionalProperties``)."""
from __future__ import annotations

from typing import Any

from ...errors import SchemaError
from .refs import escape_pointer

Sub = tuple[Any, str]
_ALL = ("null", "boolean", "object", "array", "string", "number")
_MAX_DEPTH = 32
_ANNOTATIONS = frozenset({
    "title", "description", "default", "examples", "$comment", "$schema", "$id", "id",
    "$anchor", "$defs", "definitions", "deprecated", "readOnly", "writeOnly",
    "contentMediaType", "contentEncoding", "contentSchema", "$vocabulary",
    "minContains", "maxContains", "then", "else", "additionalItems",
})
_FAMILY = {
    "minimum": "number", "maximum": "number", "exclusiveMinimum": "number",
    "exclusiveMaximum": "number", "multipleOf": "number",
    "minLength": "string", "maxLength": "string", "pattern": "string",
    "minItems": "array", "maxItems": "array", "items": "array", "prefixItems": "array",
    "contains": "array", "uniqueItems": "array",
    "properties": "object", "required": "object", "minProperties": "object",
    "maxProperties": "object", "additionalProperties": "object", "patternProperties": "object",
    "propertyNames": "object", "dependentRequired": "object", "dependentSchemas": "object",
    "dependencies": "object",
}


def negate(schema: Any, path: str, resolver: Any, depth: int = 0) -> list[Sub]:
    """Schemas whose union is exactly the complement of `schema` (see the module docstring)."""
    if depth > _MAX_DEPTH:
        raise SchemaError("not: nesting too deep", path)
    if schema is True:
        return [(False, path)]
    if schema is False:
        return [(True, path)]
    if not isinstance(schema, dict):
        raise SchemaError("not: the schema must be an object or a boolean", path)
    draft_rules = resolver.follows_draft(schema)
    if draft_rules and "$ref" in schema:              # draft-07 and before: $ref alone counts
        return _ref(schema, schema["$ref"], f"{path}/$ref", resolver, depth)
    out: list[Sub] = []
    unknown = resolver.unknown_keywords if draft_rules else frozenset()   # later drafts' keywords
    for key, value in schema.items():
        if key in _ANNOTATIONS or (key not in _FAMILY and key not in _HANDLERS) or key in unknown:
            continue
        out.extend(_negate_keyword(schema, key, value, path, resolver, depth))
    return _absent_or_failing(out) or [(False, path)]   # only annotations: `not true` = nothing


def _absent_or_failing(out: list[Sub]) -> list[Sub]:
    """The disjuncts "`name` is missing" (from `required`) and "`name` is there and fails
    S" (from `properties`) side by side are one, `{properties: {name: not S}}`: the same
    union with one branch fewer to distribute (oneOf's exact form multiplies them)."""
    missing = {b["_forbidden"][0]: k for k, (b, _) in enumerate(out)
               if isinstance(b, dict) and b.keys() == {"type", "_forbidden"}
               and b["type"] == "object" and len(b["_forbidden"]) == 1}
    if not missing:
        return out
    merged: dict[int, Sub] = {}
    dropped: set[int] = set()
    for k, (b, where) in enumerate(out):
        if isinstance(b, dict) and b.keys() == {"type", "required", "properties"} and \
                b["type"] == "object" and len(b["required"]) == 1 and \
                b["required"][0] in missing and b["properties"].keys() == {b["required"][0]}:
            at = missing.pop(b["required"][0])
            merged[at] = ({"type": "object", "properties": b["properties"]}, where)
            dropped.add(k)
    return [merged.get(k, sub) for k, sub in enumerate(out) if k not in dropped]


_COUNTS = frozenset({"minLength", "maxLength", "minItems", "maxItems", "minProperties",
                     "maxProperties"})
_BOUNDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                     "multipleOf"})
_SCHEMA_VALUED = frozenset({"not", "if", "contains", "additionalProperties", "propertyNames"})
_SCHEMA_LISTS = frozenset({"anyOf", "allOf", "oneOf"})


def _check_value(key: str, value: Any, where: str) -> None:
    """The keyword's value has the type the specification gives it (the complements below
    do arithmetic and iteration on it); the same messages as the collector's."""
    if key in _COUNTS:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SchemaError(f"{key} must be a non-negative integer", where)
    elif key in _BOUNDS:
        if not isinstance(value, (int, float)) or \
                (isinstance(value, bool) and not key.startswith("exclusive")):
            raise SchemaError(f"{key} must be a number", where)
    elif key == "pattern":
        if not isinstance(value, str):
            raise SchemaError("pattern must be a string", where)
    elif key == "required":
        if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
            raise SchemaError("required must be an array of strings", where)
    elif key == "type":
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SchemaError("type must be a string or an array of strings", where)
    elif key == "properties":
        if not isinstance(value, dict):
            raise SchemaError("properties must be an object", where)
    elif key in _SCHEMA_LISTS:
        if not isinstance(value, list):
            raise SchemaError(f"{key} must be an array", where)
    elif key in _SCHEMA_VALUED or (key == "items" and not isinstance(value, list)):
        if not isinstance(value, (dict, bool)):
            raise SchemaError(f"{key} must be a schema (an object or a boolean)", where)
    elif key == "$ref" and not isinstance(value, str):
        raise SchemaError("$ref must be a string", where)


def _negate_keyword(schema: dict, key: str, value: Any, path: str, resolver: Any,
                    depth: int) -> list[Sub]:
    where = f"{path}/{key}"
    _check_value(key, value, where)
    handler = _HANDLERS.get(key)
    if handler is not None:
        return handler(schema, value, where, resolver, depth)
    # Values of other types satisfy the keyword vacuously, so they are not in its complement.
    family = _FAMILY[key]
    inner = _family_complement(key, value, schema, where)
    return [({"type": family, **b}, where) for b in inner]


def _family_complement(key: str, value: Any, schema: dict, where: str) -> list[dict]:
    """Values of the keyword's own type that violate it."""
    if key in ("minimum", "exclusiveMinimum"):
        if isinstance(value, bool):           # draft-04 boolean modifiers: negated with their bound
            return []
        flip = "exclusiveMaximum" if key == "minimum" else "maximum"
        if key == "minimum" and schema.get("exclusiveMinimum") is True:
            flip = "maximum"
        return [{flip: value}]
    if key in ("maximum", "exclusiveMaximum"):
        if isinstance(value, bool):
            return []
        flip = "exclusiveMinimum" if key == "maximum" else "minimum"
        if key == "maximum" and schema.get("exclusiveMaximum") is True:
            flip = "minimum"
        return [{flip: value}]
    if key == "minLength":
        return [{"maxLength": value - 1}] if value > 0 else []
    if key == "maxLength":
        return [{"minLength": value + 1}]
    if key == "minItems":
        return [{"maxItems": value - 1}] if value > 0 else []
    if key == "maxItems":
        return [{"minItems": value + 1}]
    if key == "minProperties":
        return [{"maxProperties": value - 1}] if value > 0 else []
    if key == "maxProperties":
        return [{"minProperties": value + 1}]
    if key == "pattern":
        return [{"_notPattern": [(value, where)]}]
    if key == "required":
        return [{"_forbidden": [name]} for name in value]
    if key == "items" and not isinstance(value, list):
        if schema.get("prefixItems") and not _trivially_true(value):
            # items after a prefix: "some item past the prefix fails" is no plain schema
            raise SchemaError("not: the complement of 'items' beside 'prefixItems' cannot be "
                              "expressed by a grammar", where)
        return [{"contains": {"not": value}}]
    if key == "contains":
        return [{"items": {"not": value}}]
    if key == "properties":
        out: list[dict] = []
        for name, sub in value.items():
            out.append({"required": [name], "properties": {name: {"not": sub}}})
        return out
    if key in ("additionalProperties", "items", "contains") and _trivially_true(value):
        return [] if key != "contains" else [{"maxItems": 0}]
    if key == "additionalProperties" and value is False and not schema.get("patternProperties"):
        return [{"_needExtra": list(schema.get("properties", {}))}]
    if key == "additionalProperties":
        # some property neither declared nor matching a patternProperties of this schema
        # whose value fails the subschema
        pats = schema.get("patternProperties", {})
        names = {"_notIn": list(schema.get("properties", {})),
                 "_notPattern": [(p, f"{where.rsplit('/', 1)[0]}/patternProperties")
                                 for p in pats]}
        return [{"_exists": [(names, where), ({"not": value}, where)]}]
    raise SchemaError(f"not: the complement of {key!r} cannot be expressed by a grammar", where)


def _trivially_true(value: Any) -> bool:
    """`true`, or an object with only annotation keywords (`{}`, `{"description": ...}`)."""
    return value is True or (isinstance(value, dict) and
                             all(k in _ANNOTATIONS or k not in _FAMILY and k not in _HANDLERS
                                 for k in value))


def _type(schema: dict, value: Any, where: str, resolver: Any, depth: int) -> list[Sub]:
    names = [value] if isinstance(value, str) else list(value)
    rest = [t for t in _ALL if t not in names]
    out = [({"type": rest}, where)] if rest else []
    if "integer" in names and "number" not in names:
        out = [({"type": [t for t in rest if t != "number"]}, where),
               ({"type": "number", "_nonInteger": True}, where)]
    return out or [(False, where)]


def _values(schema: dict, value: Any, where: str, resolver: Any, depth: int) -> list[Sub]:
    values = [value] if where.endswith("/const") else value
    if not isinstance(values, list):
        raise SchemaError("enum must be an array", where)
    # excluded objects and arrays stay in the list: where the value may be one, the builder
    # spells their exclusion out structurally (`not_container`); elsewhere they cost nothing
    return [({"_notIn": list(values)}, where)]


def not_container(value: dict | list, where: str) -> list[Sub]:
    """Every value but this object or array, structurally: another type; an object missing
    one of its keys, with a key it lacks, or with a key whose value differs; an array of
    another length, or whose item i differs (item and property values compared the same way,
    recursively through `not {const}`)."""
    if isinstance(value, dict):
        names = list(value)
        out: list[Sub] = [({"type": [t for t in _ALL if t != "object"]}, where)]
        out += [({"type": "object", "_forbidden": [k]}, where) for k in names]
        out.append(({"type": "object", "_exists": [({"_notIn": names}, where), (True, where)]},
                    where))
        out += [({"type": "object", "required": [k], "properties": {k: {"not": {"const": v}}}},
                 where) for k, v in value.items()]
        return out
    n = len(value)
    out = [({"type": [t for t in _ALL if t != "array"]}, where),
           ({"type": "array", "minItems": n + 1}, where)]
    if n:
        out.append(({"type": "array", "maxItems": n - 1}, where))
    out += [({"type": "array", "minItems": i + 1,
              "prefixItems": [True] * i + [{"not": {"const": v}}]}, where)
            for i, v in enumerate(value)]
    return out


def _ref(schema: dict, value: Any, where: str, resolver: Any, depth: int) -> list[Sub]:
    target, at = resolver.resolve(value, resolver.base_of(schema), where)
    return negate(target, at, resolver, depth + 1)


def _not(schema: dict, value: Any, where: str, resolver: Any, depth: int) -> list[Sub]:
    return [(value, where)]


def _any_of(schema: dict, value: Any, where: str, resolver: Any, depth: int) -> list[Sub]:
    # not (A or B) = not A and not B: one branch, the conjunction of the complements.
    return [({"allOf": [{"not": b} for b in value]}, where)]


def _all_of(schema: dict, value: Any, where: str, resolver: Any, depth: int) -> list[Sub]:
    out: list[Sub] = []
    for i, b in enumerate(value):
        out.extend(negate(b, f"{where}/{i}", resolver, depth + 1))
    return out


def _one_of(schema: dict, value: Any, where: str, resolver: Any, depth: int) -> list[Sub]:
    # not (exactly one) = none of them, or two of them at once
    out: list[Sub] = [({"allOf": [{"not": b} for b in value]}, where)]
    for i in range(len(value)):
        for j in range(i + 1, len(value)):
            out.append(({"allOf": [value[i], value[j]]}, where))
    return out


def _if(schema: dict, value: Any, where: str, resolver: Any, depth: int) -> list[Sub]:
    if "then" not in schema and "else" not in schema:
        return []
    cond = {"if": value, "then": schema.get("then", True), "else": schema.get("else", True)}
    # not (if C then T else E) = (C and not T) or (not C and not E)
    return [({"allOf": [value, {"not": cond["then"]}]}, where),
            ({"allOf": [{"not": value}, {"not": cond["else"]}]}, where)]


def _format(schema: dict, value: Any, where: str, resolver: Any, depth: int) -> list[Sub]:
    # strings that are not of the format (the collector turns this into an empty set when
    # formats are annotations, since `format` then constrains nothing)
    return [({"type": "string", "_notFormat": value}, where)] if isinstance(value, str) else []


def _pattern_properties(schema: dict, value: Any, where: str, resolver: Any,
                        depth: int) -> list[Sub]:
    # not {patternProperties: {P: S, ...}} = an object with a property matching some P whose
    # value fails its S (one branch per pattern)
    if not isinstance(value, dict):
        raise SchemaError("patternProperties must be an object", where)
    out: list[Sub] = []
    for pat, sub in value.items():
        if _trivially_true(sub):
            continue
        at = f"{where}/{escape_pointer(pat)}"
        out.append(({"type": "object", "_exists": [({"pattern": pat}, at), ({"not": sub}, at)]},
                    where))
    return out


def _property_names(schema: dict, value: Any, where: str, resolver: Any,
                    depth: int) -> list[Sub]:
    # not {propertyNames: S} = an object with a property name outside S: one branch per
    # branch of S's complement (names are strings; other types' branches hold none)
    return [({"type": "object", "_exists": [(branch, at), (True, where)]}, where)
            for branch, at in negate(value, where, resolver, depth + 1) if branch is not False]


def _dependencies(schema: dict, value: Any, where: str, resolver: Any, depth: int) -> list[Sub]:
    # not {dependentRequired: {a: [b, ...]}} = an object with a and without one of its b;
    # not {dependentSchemas: {a: S}} = an object with a that fails S; `dependencies` (draft
    # <= 7) holds either kind per name
    if not isinstance(value, dict):
        raise SchemaError(f"{where.rsplit('/', 1)[-1]} must be an object", where)
    key = where.rsplit("/", 1)[-1]
    out: list[Sub] = []
    for name, dep in value.items():
        at = f"{where}/{escape_pointer(name)}"
        if isinstance(dep, list) and key != "dependentSchemas":
            if not all(isinstance(d, str) for d in dep):
                raise SchemaError(f"{key}: the required names must be strings", at)
            out += [({"type": "object", "required": [name], "_forbidden": [d]}, at)
                    for d in dep if d != name]
        elif isinstance(dep, (dict, bool)) and key != "dependentRequired":
            if not _trivially_true(dep):
                out.append(({"type": "object", "required": [name], "allOf": [{"not": dep}]}, at))
        else:
            raise SchemaError(f"{key} values must be "
                              f"{'schemas' if key == 'dependentSchemas' else 'arrays'}", at)
    return out


def _multiple_of(schema: dict, value: Any, where: str, resolver: Any, depth: int) -> list[Sub]:
    # numbers that are no multiple of the value (other types satisfy multipleOf vacuously)
    if value <= 0:
        raise SchemaError("multipleOf must be > 0", where)
    return [({"type": "number", "_notMultipleOf": value}, where)]


def _unique_items(schema: dict, value: Any, where: str, resolver: Any, depth: int) -> list[Sub]:
    # uniqueItems: false constrains nothing, so its complement is empty
    return [] if value is False else _refuse(schema, value, where, resolver, depth)


def _prefix_items(schema: dict, value: Any, where: str, resolver: Any,
                  depth: int) -> list[Sub]:
    # not prefixItems [A0, A1, ...] = an array with an item i that fails A_i
    if not isinstance(value, list):
        raise SchemaError("prefixItems must be an array", where)
    return [({"type": "array", "minItems": i + 1, "prefixItems": [True] * i + [{"not": sub}]},
             where) for i, sub in enumerate(value) if not _trivially_true(sub)]


def _vacuous_or_refuse(schema: dict, value: Any, where: str, resolver: Any,
                       depth: int) -> list[Sub]:
    """`unevaluatedProperties` / `unevaluatedItems`: trivially true, they constrain nothing
    and their complement is empty; anything else is refused."""
    if _trivially_true(value):
        return []
    return _refuse(schema, value, where, resolver, depth)


def _refuse(schema: dict, value: Any, where: str, resolver: Any, depth: int) -> list[Sub]:
    raise SchemaError(f"not: the complement of {where.rsplit('/', 1)[-1]!r} cannot be "
                      f"expressed by a grammar", where)


_HANDLERS = {
    "type": _type, "enum": _values, "const": _values, "$ref": _ref, "not": _not,
    "anyOf": _any_of, "allOf": _all_of, "if": _if, "oneOf": _one_of,
    "multipleOf": _multiple_of, "uniqueItems": _unique_items, "format": _format,
    "patternProperties": _pattern_properties, "propertyNames": _property_names,
    "dependentRequired": _dependencies, "dependentSchemas": _dependencies,
    "dependencies": _dependencies, "prefixItems": _prefix_items,
    "unevaluatedProperties": _vacuous_or_refuse, "unevaluatedItems": _vacuous_or_refuse,
    "$dynamicRef": _refuse, "$recursiveRef": _refuse,
}
