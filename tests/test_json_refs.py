"""`$ref` resolution (`json_schema.refs`): pointers, `$id` resources, and the root fallback
for fragment-only pointers that an embedded resource lacks."""
from __future__ import annotations

import pytest

from grammask.errors import SchemaError
from grammask.grammar.json_schema.refs import RefResolver


def _resolve(root: dict, where: dict, ref: str):
    r = RefResolver(root)
    return r.resolve(ref, r.base_of(where), "#/x")


def test_pointer_missing_in_an_embedded_resource_reads_the_root() -> None:
    """Schemas put `id`/`$id` on definitions (draft-04 `id`s under draft-07 too) and still
    write root pointers: `#/definitions/path` from inside `nullable-path` means the root's."""
    path = {"type": "string", "minLength": 1}
    inner = {"$ref": "#/definitions/path"}
    root = {"$id": "https://x.test/base.json",
            "definitions": {"path": path,
                            "nullable-path": {"$id": "nullable-path", "oneOf": [inner]}}}
    assert _resolve(root, inner, "#/definitions/path") == (path, "#/definitions/path")
    legacy = {"$ref": "#/definitions/lemon/definitions/ripe"}
    ripe = {"type": "boolean"}
    root = {"definitions": {"lemon": {"id": "schema/lemon", "definitions": {"ripe": ripe},
                                      "properties": {"r": legacy}}}}
    assert _resolve(root, legacy, "#/definitions/lemon/definitions/ripe")[0] is ripe


def test_pointer_present_in_the_resource_wins() -> None:
    """Where the embedded resource has the pointer, it is what the reference names (the
    spec's reading), even if the root has the same pointer too."""
    own, outer = {"type": "integer"}, {"type": "string"}
    inner = {"$ref": "#/definitions/a"}
    root = {"definitions": {"a": outer,
                            "r": {"$id": "https://x.test/r.json", "definitions": {"a": own},
                                  "items": inner}}}
    assert _resolve(root, inner, "#/definitions/a")[0] is own


def test_unresolvable_references_are_errors() -> None:
    inner = {"$ref": "#/definitions/nope"}
    root = {"definitions": {"r": {"$id": "r", "items": inner}}}
    with pytest.raises(SchemaError, match="'nope' not found"):
        _resolve(root, inner, "#/definitions/nope")
    with pytest.raises(SchemaError, match="outside this schema"):
        _resolve(root, inner, "other.json#/definitions/r")
    with pytest.raises(SchemaError, match="'definitions' not found"):
        _resolve(root, inner, "r#/definitions/r")       # not fragment-only: no fallback


def test_fragment_pointer_inside_a_urn_resource() -> None:
    """`#/$defs/bar` inside a resource whose `$id` is a URN names that resource's `$defs`
    (urljoin alone would drop the non-hierarchical base and look in the root)."""
    bar = {"type": "string"}
    foo = {"$id": "urn:uuid:deadbeef-4321-ffff-ffff-1234feebdaed", "$defs": {"bar": bar},
           "$ref": "#/$defs/bar"}
    root = {"$ref": "urn:uuid:deadbeef-4321-ffff-ffff-1234feebdaed", "$defs": {"foo": foo}}
    assert _resolve(root, root, "urn:uuid:deadbeef-4321-ffff-ffff-1234feebdaed")[0] is foo
    assert _resolve(root, foo, "#/$defs/bar")[0] is bar
    tagged = {"$id": "tag:example.com,2026:s", "$anchor": "here", "type": "integer"}
    root = {"$defs": {"t": tagged}}
    assert _resolve(root, tagged, "#here")[0] is tagged


_OVERRIDE_CASES = [   # (value, valid when $ref overrides its siblings, valid when they apply)
    ({"x": {}}, True, False), ({"x": "s"}, True, True), ({"x": 1}, True, False),
    ({"x": {"a": 1}}, False, False),
]


@pytest.mark.parametrize("dialect,overrides", [
    ("http://json-schema.org/draft-04/schema#", True),
    ("http://json-schema.org/draft-07/schema", True),
    ("https://json-schema.org/draft/2019-09/schema", False),
    ("https://json-schema.org/draft/2020-12/schema", False),
    (None, False),
])
def test_ref_siblings_follow_the_dialect(dialect, overrides) -> None:
    """Up to draft-07 a `$ref` object's other keywords are ignored; from 2019-09 on (and
    with no `$schema`, read as 2020-12) they apply beside it. In `not` too. MaskBench
    labels its instances by the declared draft, so a draft-04 `{"type": "string", "$ref":
    ...}` refused valid objects before (8 records)."""
    import json

    from grammask.grammar.json_schema import schema_to_grammar
    from grammask.validate import validate_text
    defs = {"d": {"properties": {"a": {"type": "string"}}}, "i": {"type": "integer"}}
    schema = {"definitions": defs, "type": "object",
              "properties": {"x": {"type": "string", "$ref": "#/definitions/d"}}}
    negated = {"definitions": defs, "not": {"type": "string", "$ref": "#/definitions/i"}}
    if dialect is not None:
        schema["$schema"] = negated["$schema"] = dialect
    assert RefResolver(schema).ref_overrides is overrides
    grammar = schema_to_grammar(schema)
    for value, old, new in _OVERRIDE_CASES:
        text = json.dumps(value, separators=(",", ":"))
        assert validate_text(grammar, text).ok is (old if overrides else new), value
    grammar = schema_to_grammar(negated)
    # not (integer) vs not (string and integer): a string is refused only where $ref overrides
    assert [validate_text(grammar, t).ok for t in ['"s"', "1", "null"]] == \
        ([True, False, True] if overrides else [True, True, True])


@pytest.mark.parametrize("dialect,known", [
    ("http://json-schema.org/draft-04/schema#", set()),
    ("http://json-schema.org/draft-06/schema#", {"const"}),
    ("http://json-schema.org/draft-07/schema#", {"const", "if"}),
    (None, {"const", "if"}),
])
def test_keywords_of_later_drafts_are_unknown_to_older_ones(dialect, known) -> None:
    """A draft-04 validator ignores `if`/`then`/`const` (draft-06/07 keywords) as unknown,
    and MaskBench labels by the declared draft: 3 records refused valid instances."""
    from grammask.grammar.json_schema import schema_to_grammar
    from grammask.validate import validate_text
    schema = {"type": "object", "properties": {"k": {"type": "string"}, "v": {}},
              "if": {"properties": {"k": {"const": "n"}}, "required": ["k"]},
              "then": {"properties": {"v": {"type": "integer"}}}}
    fixed = {"type": "object", "properties": {"v": {"const": 1}}}
    negated = {"not": {"if": {"type": "string"}, "then": {"maxLength": 1}}}
    for s in (schema, fixed, negated):
        if dialect is not None:
            s["$schema"] = dialect
    g = schema_to_grammar(schema)
    assert validate_text(g, '{"k":"n","v":"x"}').ok is ("if" not in known)
    assert validate_text(g, '{"k":"n","v":1}').ok
    assert validate_text(schema_to_grammar(fixed), '{"v":2}').ok is ("const" not in known)
    # not (if string then maxLength 1): strings of 2+ characters; unknown if/then: nothing
    assert validate_text(schema_to_grammar(negated), '"ab"').ok is ("if" in known)


def test_draft_rules_leave_synthetic_schemas_alone() -> None:
    """The negation of `items` is a synthetic `{"contains": {"not": S}}`; in a draft-04
    document `contains` is unknown, but only the document's own schemas are read as draft-04:
    stripping it from the synthetic one had made oneOf's exact form accept an object matching
    both branches (a MaskBench invalid instance, `Github_easy---o78062`)."""
    from grammask.grammar.json_schema import JsonSchemaOptions, schema_to_grammar
    from grammask.validate import validate_text
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", "definitions": {"c": {
        "required": ["name"], "oneOf": [
            {"properties": {"cs": {"type": "array", "items": {"$ref": "#/definitions/c"}}},
             "required": ["cs"]},
            {"properties": {"ab": {"type": "array"}}, "required": ["ab"]}]}},
        "$ref": "#/definitions/c"}
    g = schema_to_grammar(schema, JsonSchemaOptions(property_order="any"))
    assert validate_text(g, '{"name":"x","cs":[{"name":"y","ab":[]}]}').ok
    assert not validate_text(g, '{"name":"x","cs":[{"name":"y","ab":[],"cs":[]}]}').ok
    assert not validate_text(g, '{"name":"x","cs":[{"name":"y","cs":[],"ab":[]}]}').ok
