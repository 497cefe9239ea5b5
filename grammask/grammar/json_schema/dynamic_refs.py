"""`$dynamicRef` (2020-12) and `$recursiveRef` (2019-09) made static, by specialising the
schema document per dynamic scope.

A `$dynamicRef` whose initial target carries a matching `$dynamicAnchor` binds to the
*outermost* schema resource in the dynamic scope (the resources entered on the evaluation
path) that defines that anchor. Which anchor that is depends on the path, so one subschema
may mean different things on different paths, and the compiler's rules are keyed by
subschema. But the dynamic scope matters only through its *environment*: for each anchor
name, the outermost resource in scope that defines it. Entering a resource adds its names
that are not bound yet and never rebinds one, so environments only grow and there are
finitely many (resources x anchor names).

So before compiling, each schema resource is copied once per environment it is entered
with (`specialise_dynamic_refs`): in the copy, every reference is rewritten to a plain JSON
pointer `$ref` to the copy of its target's resource under the environment entered there,
and every dynamic reference to the anchor its environment binds. Embedded resources (a
subschema with `$id`) are entered in place, so they become a `$ref` to their own copy. The
result is a document with only static `$ref`s, which the compiler reads as it reads any
other: exact, since every evaluation path of the original meets the same environment as the
copy it lands in. Copies go under the root's `$defs`; their number is bounded by
`max_dynamic_scopes` (a `SchemaError` naming the reference beyond it). Documents without
dynamic references are returned unchanged.

`$recursiveRef: "#"` is the same with one anonymous anchor: `$recursiveAnchor: true` on a
resource's root defines it, and the reference is dynamic when its initial target (the
current resource's root) defines it too."""
from __future__ import annotations

from typing import Any
from urllib.parse import urldefrag

from ...errors import SchemaError
from .refs import DATA_KEYWORDS, NAME_MAPS, RefResolver, escape_pointer, schema_children

Schema = Any
_RECURSIVE = "\0recursive"        # the anchor name `$recursiveAnchor: true` defines
_COPY_PREFIX = "__grammask_dynamic_scope_"
# where the root's copy is no longer the document a name resolves in
_NAMES = frozenset({"$id", "$schema", "$anchor", "$dynamicAnchor", "$recursiveAnchor"})
Env = tuple[tuple[str, int], ...]   # sorted (anchor name, id of the resource that binds it)


def _schema_objects(root: Schema) -> list[tuple[dict, dict, str]]:
    """Every object of the document outside data, with the schema resource it is in and its
    JSON pointer inside that resource; parents first. Iterative: the nesting depth is
    bounded by the resolver's index, not by the stack."""
    out: list[tuple[dict, dict, str]] = []
    todo: list[tuple[Any, Any, str, bool]] = [(root, root, "", False)]
    seen: set[int] = set()
    while todo:
        node, resource, pointer, names = todo.pop()
        if not isinstance(node, (dict, list)) or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict) and not names:
            if node is not root and _is_resource(node):
                resource, pointer = node, ""
            out.append((node, resource, pointer))
        todo.extend((v, resource, f"{pointer}/{escape_pointer(k)}", inner)
                    for k, v, inner in schema_children(node, names))
    return out


def specialise_dynamic_refs(root: Schema, max_scopes: int,
                            resolver: RefResolver | None = None) -> Schema:
    """`root` with every dynamic reference resolved statically (see the module docstring);
    `resolver`: `root`'s, when the caller has one (its index notes dynamic references, so a
    document without any is not walked again)."""
    resolver = resolver or RefResolver(root)
    if not isinstance(root, dict) or resolver.ref_overrides or not resolver.dynamic_refs:
        return root         # (draft-07 and before: unknown keywords, which are ignored)
    return _Specialiser(root, max_scopes, resolver).run()


class _Specialiser:
    def __init__(self, root: dict, max_scopes: int, resolver: RefResolver) -> None:
        self.root = root
        self.max_scopes = max_scopes
        self.resolver = resolver
        self.where: dict[int, tuple[dict, str]] = {}     # node id -> (its resource, pointer)
        self.anchors: dict[int, dict[str, Schema]] = {}  # resource id -> dynamic anchors
        self._index()
        self.names: dict[tuple[int, Env], str] = {}      # (resource id, env) -> copy's name
        self.todo: list[tuple[dict, Env, str]] = []
        self.copies: dict[str, Schema] = {}

    # -- which resource each node is in, and each resource's dynamic anchors --------------------
    def _index(self) -> None:
        for node, resource, pointer in _schema_objects(self.root):
            self.where[id(node)] = (resource, pointer)
            found = self.anchors.setdefault(id(resource), {})
            if isinstance(node.get("$dynamicAnchor"), str):
                found.setdefault(node["$dynamicAnchor"], node)
            if node is resource and node.get("$recursiveAnchor") is True:
                found.setdefault(_RECURSIVE, node)

    def _entered(self, env: Env, resource: dict) -> Env:
        """`env` after entering `resource`: its anchors not bound yet are bound to it."""
        bound = dict(env)
        for name in self.anchors.get(id(resource), {}):
            bound.setdefault(name, id(resource))
        return tuple(sorted(bound.items()))

    # -- copies ----------------------------------------------------------------------------------
    def run(self) -> Schema:
        top_env = self._entered((), self.root)
        self.names[(id(self.root), top_env)] = ""
        out = self._copy(self.root, self.root, top_env, "#")
        while self.todo:
            resource, env, name = self.todo.pop()
            self.copies[name] = self._copy(resource, resource, env, f"#/$defs/{name}")
        if self.copies:
            defs = out.get("$defs")
            out["$defs"] = {**(defs if isinstance(defs, dict) else {}), **self.copies}
        return out

    def _ref_to(self, target: Schema, env: Env, path: str) -> dict | bool:
        """A schema standing for `target` in the copy of its resource entered with `env`: a
        pointer `$ref`, or the target itself where it is no indexed object (a boolean)."""
        if not isinstance(target, dict) or id(target) not in self.where:
            return target
        resource, pointer = self.where[id(target)]
        env = self._entered(env, resource)
        key = (id(resource), env)
        name = self.names.get(key)
        if name is None:
            if len(self.names) >= self.max_scopes:
                raise SchemaError(f"dynamic references need more than {self.max_scopes} "
                                  f"specialised schema resources (max_dynamic_scopes)", path)
            name = self.names[key] = f"{_COPY_PREFIX}{len(self.names)}"
            self.todo.append((resource, env, name))
        return {"$ref": ("#" if not name else f"#/$defs/{name}") + pointer}

    def _copy(self, node: Any, resource: dict, env: Env, path: str, names: bool = False) -> Any:
        """The copy of `node` (in `resource`, entered with `env`); `names`: a map of names to
        subschemas (`properties`), itself no schema."""
        if isinstance(node, list):
            return [self._copy(v, resource, env, f"{path}/{i}") for i, v in enumerate(node)]
        if not isinstance(node, dict):
            return node
        if names:
            return {k: self._copy(v, resource, env, f"{path}/{escape_pointer(k)}")
                    for k, v in node.items()}
        if node is not resource and _is_resource(node):
            return self._ref_to(node, env, path)                # entered in place
        out: dict[str, Any] = {}
        extra: list[Any] = []
        for key, value in node.items():
            if key in DATA_KEYWORDS:
                out[key] = value
            elif key in ("$ref", "$dynamicRef", "$recursiveRef") and isinstance(value, str):
                target = self._resolve(value, node, path) if key == "$ref" else \
                    self._dynamic_target(key, value, node, env, path)
                extra.append(self._ref_to(target, env, path))
            elif key in _NAMES and not (node is self.root and path == "#"):
                continue      # every reference is a root pointer now: names are not needed
            else:
                out[key] = self._copy(value, resource, env, f"{path}/{escape_pointer(key)}",
                                      key in NAME_MAPS)
        for ref in extra:       # the first reference keeps its place, the others go to allOf
            if "$ref" not in out and isinstance(ref, dict):
                out["$ref"] = ref["$ref"]
            else:
                all_of = out.setdefault("allOf", [])
                if not isinstance(all_of, list):
                    raise SchemaError("allOf must be an array", f"{path}/allOf")
                all_of.append(ref)
        return out

    def _resolve(self, ref: str, node: dict, path: str) -> Schema:
        return self.resolver.resolve(ref, self.resolver.base_of(node), path)[0]

    def _dynamic_target(self, key: str, ref: str, node: dict, env: Env, path: str) -> Schema:
        """The subschema a dynamic reference names under `env`."""
        if key == "$recursiveRef":
            if ref != "#":
                raise SchemaError(f"$recursiveRef {ref!r} is not supported (only '#')", path)
            target, name = self.where[id(node)][0], _RECURSIVE
            dynamic = target.get("$recursiveAnchor") is True
        else:
            target = self._resolve(ref, node, path)
            name = urldefrag(ref)[1]
            dynamic = bool(name) and not name.startswith("/") and isinstance(target, dict) \
                and target.get("$dynamicAnchor") == name
        if dynamic:
            binder = dict(env).get(name)
            if binder is not None:
                target = self.anchors[binder][name]
        return target


def _is_resource(node: dict) -> bool:
    """A subschema that starts a schema resource of its own (a non-fragment `$id`)."""
    own = node.get("$id")
    return isinstance(own, str) and not own.startswith("#")
