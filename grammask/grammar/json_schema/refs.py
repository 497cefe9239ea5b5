"""`$ref` resolution inside one schema document.

grammask never fetches anything: a reference resolves to a subschema of the document being
compiled — a JSON pointer (`#/$defs/a`, `#/definitions/a~1b`, percent-escapes included), an
`$anchor` (`#name`), or a URI some subschema declares with `$id` (absolute, or relative to the
enclosing `$id`), optionally followed by a pointer. Anything else is a `SchemaError` naming the
reference and where it was used, never a silent `true`."""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin

from ...errors import SchemaError

Schema = Any          # dict | bool
MAX_DEPTH = 256       # nesting levels of a schema document
# keywords whose values are data (never schemas), and keywords mapping names to subschemas
# (where a property called "default" is a schema)
DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})
NAME_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions",
                       "dependentSchemas", "dependencies"})
# Stands in for the document's own URI (urljoin only resolves against hierarchical schemes).
_DOC_BASE = "https://grammask.invalid/root.json"
# Dialects in which `$ref` overrides its siblings (draft-03 to draft-07).
_REF_OVERRIDES = re.compile(r"json-schema\.org/draft-0([3-7])/schema")
# Keywords later drafts added, which a validator of an older draft ignores as unknown.
_LATER = frozenset({"$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor",
                    "dependentRequired", "dependentSchemas", "prefixItems", "unevaluatedProperties",
                    "unevaluatedItems", "minContains", "maxContains"})
_BEFORE_6 = _LATER | {"if", "then", "else", "const", "contains", "propertyNames"}
_UNKNOWN_IN = {"3": _BEFORE_6, "4": _BEFORE_6, "5": _BEFORE_6,
               "6": _LATER | {"if", "then", "else"}, "7": _LATER}


def schema_children(node: Any, names: bool) -> Iterator[tuple[str, Any, bool]]:
    """The values under a document node that may hold subschemas, as (key, value, whether
    the value maps names to subschemas): a list's items, a name map's values (a property
    called "default" is a schema), a schema's keywords but its data. The one rule every walk
    of a document follows (the index here, `dynamic_refs`)."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield str(i), item, False
    elif isinstance(node, dict):
        for key, value in node.items():
            if names:
                yield key, value, False
            elif key not in DATA_KEYWORDS:
                yield key, value, key in NAME_MAPS


class RefResolver:
    """Indexes a document's `$id`s and `$anchor`s once; resolves references relative to the
    base URI in force where they appear."""

    def __init__(self, root: Schema) -> None:
        self.root = root
        # Up to draft-07 "all other properties in a $ref object MUST be ignored"; from
        # 2019-09 on they apply beside it. The document's `$schema` says which (none: 2020-12).
        # Keywords of later drafts are unknown to an older one's validators, which ignore
        # them (a draft-04 `if`/`then`, a draft-07 `dependentRequired`).
        dialect = root.get("$schema") if isinstance(root, dict) else None
        draft = _REF_OVERRIDES.search(dialect) if isinstance(dialect, str) else None
        self.ref_overrides = draft is not None
        self.unknown_keywords: frozenset[str] = \
            _UNKNOWN_IN[draft.group(1)] if draft is not None else frozenset()
        self._ids: dict[str, Schema] = {}       # absolute URI (no fragment) -> subschema
        self._anchors: dict[str, Schema] = {}   # absolute URI#anchor -> subschema
        self._base_of: dict[int, str] = {}      # id(subschema) -> base URI in force there
        self.dynamic_refs = False               # a `$dynamicRef`/`$recursiveRef` anywhere
        self._index(root, _DOC_BASE)

    def base_of(self, schema: Schema) -> str:
        return self._base_of.get(id(schema), _DOC_BASE)

    def follows_draft(self, schema: Schema) -> bool:
        """Whether `schema` is read by an older draft's rules (`ref_overrides`,
        `unknown_keywords`): the document names draft-03..07 and `schema` is its own."""
        return self.ref_overrides and self.in_document(schema)

    def in_document(self, schema: Schema) -> bool:
        """Whether `schema` is one of the document's own objects. The draft rules
        (`ref_overrides`, `unknown_keywords`) apply to those only: synthetic schemas (the
        negation's `{"contains": {"not": S}}`) speak 2020-12 whatever the document's draft."""
        return id(schema) in self._base_of

    def resolve(self, ref: str, base: str, path: str) -> tuple[Schema, str]:
        """The subschema `ref` names (seen from `base`) and its JSON pointer path for messages."""
        if not isinstance(ref, str):
            raise SchemaError(f"$ref must be a string, got {type(ref).__name__}", path)
        uri, fragment = urldefrag(_join(base, ref))
        doc = self._ids.get(uri)
        if doc is None and ref.startswith("#"):
            # A fragment-only reference under an `id` that is not really a URI (real-world
            # draft-04 schemas use plain names): the document root is what authors mean.
            doc, uri = self.root, _DOC_BASE
        if doc is None:
            raise SchemaError(f"$ref {ref!r} points outside this schema (remote references "
                              f"are not fetched)", path)
        if fragment and not fragment.startswith("/"):
            found = self._anchors.get(f"{uri}#{fragment}")
            if found is None:
                raise SchemaError(f"$ref {ref!r}: no $anchor {fragment!r}", path)
            return found, f"{ref}"
        where = "#" + fragment if uri == _DOC_BASE else ref
        try:
            return _pointer(doc, unquote(fragment), ref, path), where
        except SchemaError:
            if not ref.startswith("#") or doc is self.root:
                raise
        # A fragment-only pointer that an embedded resource (a subschema with `$id`, or with
        # `id` in any draft) does not have: real-world schemas write `id`/`$id` on
        # definitions (or draft-04 `id`s under a draft-07 `$schema`, where they are no
        # keywords) and mean the document root. Where the pointer resolves in the resource,
        # that is what it names, as the spec says.
        return _pointer(self.root, unquote(fragment), ref, path), "#" + fragment

    # -- indexing --------------------------------------------------------------------------------
    def _index(self, root: Any, base: str) -> None:
        """Walk the document once (iteratively: nesting depth is bounded by MAX_DEPTH, not
        by Python's stack)."""
        seen: set[int] = set()
        todo: list[tuple[Any, str, int, bool]] = [(root, base, 0, False)]
        while todo:
            node, base, depth, names = todo.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if depth > MAX_DEPTH:
                raise SchemaError(f"the schema nests deeper than {MAX_DEPTH} levels", "#")
            # (`schema_children`'s rule, written out: this walk runs on every compile, and
            # the generator cost it 70% more)
            if isinstance(node, list):
                todo.extend((item, base, depth + 1, False) for item in node)
                continue
            if not isinstance(node, dict):
                continue
            if names:       # a map of names to subschemas: "default" there names a schema
                todo.extend((value, base, depth + 1, False) for value in node.values())
                continue
            base = self._index_ids(node, base)
            if "$dynamicRef" in node or "$recursiveRef" in node:
                self.dynamic_refs = self.dynamic_refs or isinstance(
                    node.get("$dynamicRef"), str) or isinstance(node.get("$recursiveRef"), str)
            for key, value in node.items():
                if key not in DATA_KEYWORDS:
                    todo.append((value, base, depth + 1, key in NAME_MAPS))

    def _index_ids(self, node: dict, base: str) -> str:
        own = node.get("$id")
        if not isinstance(own, str) and isinstance(node.get("id"), str):
            own = node["id"]                                   # draft-04 spelling
        if isinstance(own, str) and not own.startswith("#"):
            base = urldefrag(_join(base, own))[0]
            self._ids.setdefault(base, node)
        elif isinstance(own, str) and own.startswith("#") and len(own) > 1:
            self._anchors.setdefault(f"{base}{own}", node)     # draft-06/07 plain-name ids
        if node is self.root:
            self._ids[_DOC_BASE] = node
            self._ids.setdefault(base, node)
        for key in ("$anchor", "$dynamicAnchor"):    # a plain `$ref` reaches either
            anchor = node.get(key)
            if isinstance(anchor, str):
                self._anchors.setdefault(f"{base}#{anchor}", node)
        self._base_of[id(node)] = base
        return base


def _join(base: str, ref: str) -> str:
    """`ref` resolved against `base` (RFC 3986). A fragment-only reference keeps the base
    whatever its scheme; `urljoin` alone drops non-hierarchical bases (`urn:uuid:…`), so
    `#/$defs/a` inside a `urn:` resource would name the document root's `$defs` instead."""
    if ref.startswith("#"):
        return urldefrag(base)[0] + ref
    return urljoin(base, ref)


def escape_pointer(key: str) -> str:
    """A key as an RFC 6901 pointer segment (`~` is `~0`, `/` is `~1`): schema paths in
    errors read back the way `_pointer` follows them."""
    return key.replace("~", "~0").replace("/", "~1")


def _pointer(doc: Schema, pointer: str, ref: str, path: str) -> Schema:
    """Follow an RFC 6901 pointer (`~1` is `/`, `~0` is `~`)."""
    node = doc
    if not pointer:
        return node
    for raw in pointer.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise SchemaError(f"$ref {ref!r}: {part!r} not found", path)
    return node
