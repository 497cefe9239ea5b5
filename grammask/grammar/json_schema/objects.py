"""Objects: the property automaton of `builder` (see its module docstring).

A state is (next named property, anything emitted yet, property count, presence flags). The
count is tracked only under `minProperties`/`maxProperties` and the flags only for names in
`dependentRequired`, for `need_extra` sets and for `exists` entries; all saturate, so the
automaton is finite and small for real schemas.

An `exists` entry (from ``not {patternProperties}``, ``not {propertyNames}``, ``not
{additionalProperties}``) asks for some property whose name satisfies one schema and whose
value another. Its *witnesses* are pairs like the others with the name and value narrowed to
those schemas; emitting one sets the entry's flag, and a witness for several entries at once
(every subset of them) sets several."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ...automata import dfa_ops
from ...automata.dfa import ByteDFA
from ...errors import SchemaError
from .automaton_rules import automaton_rules
from .constraints import Constraints, Sub
from .strings import literals_dfa, string_dfa

if TYPE_CHECKING:
    from .builder import GrammarBuilder

_MAX_PATTERN_PROPERTIES = 32     # patternProperties per object (`_regions`)
_ALL_REGIONS = 4                 # up to this many, every combination is a region
_MAX_REGIONS = 64                # non-empty regions of names past that
_MAX_EXISTS = 4         # `exists` entries per object (witnesses come per subset of them)

State = tuple[int, bool, int, int]      # (next named property, started, count, flags)


@dataclass
class _Named:
    name: str
    pair: str | None                    # rule: key ':' value (None: the name cannot occur)
    required: bool


def object_alternatives(b: GrammarBuilder, c: Constraints) -> list[tuple[str, ...]]:
    names = _ordered_names(c)
    if any(n in c.forbidden for n in c.required):
        return []
    names_c = _property_names(b, c)
    allowed = _names_terminal(b, names_c) if c.property_names else None
    named = [_Named(n, _pair(b, c, n, allowed), n in c.required) for n in names]
    if any(p.required and p.pair is None for p in named):
        return []
    extras = [(rule, 0) for rule in _extra_pairs(b, c, names, names_c)]
    witnesses = _witnesses(b, c, named, names, names_c, allowed)
    if witnesses is None:
        return []
    body = _Automaton(b, c, named, extras + witnesses[1], witnesses[0]).rules()
    if body is None:
        return []
    return [(b._punct["{"], body, b._punct["}"])] if body else [(b._punct["{"], b._punct["}"])]


def _ordered_names(c: Constraints) -> list[str]:
    """Declared properties in order, then the other names the automaton must tell apart
    from extras: required and dependent names, and the names of `need_extra` sets (an extra
    property sets every need bit, so a name inside a set must not pass as one)."""
    names = list(c.properties)
    extra = set(c.required) | set(c.dependent_required)
    for deps in c.dependent_required.values():
        extra |= deps
    for need in c.need_extra:
        extra |= need
    names += sorted(n for n in extra if n not in c.properties)
    return names


def _value_subs(c: Constraints, name: str | None, matched: set[str]) -> list[Sub]:
    """The schemas a property value must satisfy (a name outside `properties` when `name` is
    None), given the patternProperties it matches."""
    subs: list[Sub] = list(c.properties.get(name, [])) if name is not None else []
    for pat in c.pattern_properties:     # declared order, not the set's: the conjunction's
        if pat in matched:               # order is the property order of the result
            subs += c.pattern_properties[pat]
    for sub, own_props, own_pats in c.additional:
        if (name is None or name not in own_props) and not (set(own_pats) & matched):
            subs.append(sub)
    for u in c.unevaluated_properties:
        if not u.everything and (name is None or name not in u.names) and \
                not (set(u.patterns) & matched):
            subs.append(u.sub)
    return subs


def _pair(b: GrammarBuilder, c: Constraints, name: str, allowed: str | None,
          values: list[Sub] | tuple[Sub, ...] = ()) -> str | None:
    """The rule `key ':' value` of a named property, its value narrowed to `values` too (an
    `exists` witness), or None when it cannot occur (refused by `propertyNames` — whose
    terminal is `allowed` — or by `pair_subs`)."""
    if c.property_names and (allowed is None or
                             not b.terminals[allowed].dfa.matches(_spelling(name))):
        return None
    subs = pair_subs(b, c, name, values)
    return None if subs is None else _pair_rule(b, _key_terminal(b, name), subs)


def pair_subs(b: GrammarBuilder, c: Constraints, name: str,
              values: list[Sub] | tuple[Sub, ...] = ()) -> list[Sub] | None:
    """The schemas property `name`'s value must satisfy (and `values`), or None when the
    name cannot occur: forbidden, closed out (no properties / patternProperties /
    additionalProperties entry, extra properties off) or no value fits. The grammar's pairs
    and `container_values`' check of a const object both read it."""
    if name in c.forbidden:
        return None
    matched = _matched(c, name)
    if name not in c.properties and not matched and not c.additional and \
            b.options.additional_properties is False and not c.unevaluated_properties:
        return None
    subs = _value_subs(c, name, matched) + list(values)
    if any(s is False for s, _ in subs) or (values and b.collector.collect(subs).false):
        return None
    return subs


def _matched(c: Constraints, name: str) -> set[str]:
    """The patternProperties a property name matches."""
    return {p for p in c.pattern_properties if _search(p, name)}


def _key_terminal(b: GrammarBuilder, name: str) -> str:
    return b._terminal(("key", name), lambda: spelling_dfa(name), json.dumps(name))


def _spelling(name: str) -> bytes:
    """A property name's canonical JSON spelling (`json.dumps`, non-ASCII raw)."""
    return json.dumps(name, ensure_ascii=False).encode("utf-8")


def spelling_dfa(name: str) -> ByteDFA:
    """The canonical JSON spelling of a property name (`json.dumps`, non-ASCII raw) as a
    chain automaton. Keys are matched in this one spelling — other escapings of a declared
    name are refused (never accepted as an extra property: `_extra_pairs` excludes every
    spelling) — which keeps the lexer small where many names share a position."""
    data = _spelling(name)
    trans = np.full((len(data) + 1, 256), -1, np.int32)
    trans[np.arange(len(data)), np.frombuffer(data, np.uint8)] = np.arange(1, len(data) + 1)
    accepting = np.zeros(len(data) + 1, bool)
    accepting[-1] = True
    return ByteDFA(trans, accepting)


def _property_names(b: GrammarBuilder, c: Constraints) -> Constraints:
    """`propertyNames` collected once per object (names are strings whatever its type
    says); combinators inside it are refused."""
    if not c.property_names:
        return Constraints()
    pn = b.collector.collect(c.property_names)
    if pn.any_of:
        raise SchemaError("propertyNames with anyOf/oneOf/not is not supported",
                          c.property_names[0][1])
    return pn


def _names_terminal(b: GrammarBuilder, pn: Constraints) -> str | None:
    """The string terminal of the names `propertyNames` allows (None: none is)."""
    if pn.false:
        return None
    if pn.enum is not None:
        strings = [v for v in pn.enum if isinstance(v, str)]
        if not strings:
            return None
        return b._terminal(("names", tuple(strings)), lambda: literals_dfa(strings),
                           "property name")
    return b._string_terminal(pn, value=False)


def _search(pattern: str, name: str) -> bool:
    """Does the name match a patternProperties regex (ECMA search semantics)? Decided by the
    same automaton the grammar uses, so the two can never disagree."""
    return string_dfa(pattern=pattern, path="#/patternProperties").matches(_spelling(name))


def _extra_pairs(b: GrammarBuilder, c: Constraints, names: list[str], names_c: Constraints,
                 also: tuple[Constraints, ...] = (), values: tuple[Sub, ...] = ()) -> list[str]:
    """Rules `key ':' value` for property names outside `names`, one per region of names
    (which patternProperties they match); `names_c` is the collected `propertyNames`. `also`:
    name constraints the key must meet as well, `values`: schemas the value must meet as well
    (an `exists` witness)."""
    pats = list(c.pattern_properties)
    if len(pats) > _MAX_PATTERN_PROPERTIES:
        raise SchemaError(f"more than {_MAX_PATTERN_PROPERTIES} patternProperties in one object "
                          f"are not supported", "#/patternProperties")
    name_cs = (names_c, *also)
    if any(n.false for n in name_cs) or any("string" not in n.types for n in also):
        return []
    if any(n.enum is not None for n in name_cs):
        return _extra_pairs_enum(b, c, names, name_cs, values)
    taken = tuple(names) + tuple(sorted(c.forbidden - set(names)))
    wanted = tuple(q for n in name_cs for q, _ in n.patterns)
    shunned = tuple(q for n in name_cs for q, _ in n.not_patterns)
    excluded = taken + tuple(v for n in name_cs for v in n.not_values if isinstance(v, str))
    least = max(n.min_length for n in name_cs)
    most = min((n.max_length for n in name_cs if n.max_length is not None), default=None)
    formats = tuple(f for n in name_cs for f, _ in n.formats)
    out = []
    for inside, outside in _regions(b, pats, wanted, shunned):
        subs = _region_subs(b, c, set(inside), values)
        if subs is None:
            continue
        key = ("extra", wanted + inside, outside + shunned, excluded, least, most, formats)

        def make(inside: tuple[str, ...] = inside, outside: tuple[str, ...] = outside) -> Any:
            from .formats import format_regex
            return string_dfa(patterns=wanted + inside, not_patterns=outside + shunned,
                              excluded=excluded, min_length=least, max_length=most,
                              formats=[f for f in formats if format_regex(f) is not None],
                              path="#/propertyNames", limits=b.limits)
        term = b._terminal(key, make, "property name")
        if term is not None:
            out.append(_pair_rule(b, term, subs))
    return out


def _regions(b: GrammarBuilder, pats: list[str], wanted: tuple[str, ...],
             shunned: tuple[str, ...]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The regions of extra names, as (patterns matched, patterns not matched). Up to
    `_ALL_REGIONS` patterns, every combination (an empty one's key has no terminal and drops
    out later). Past that, only the non-empty ones: a depth-first split, pattern by pattern,
    of the names the key constraints (`wanted` / `shunned`) allow, a part no name reaches
    pruned at once. Patterns of real schemas rarely overlap, so the regions stay about as
    many as the patterns instead of 2^n; more than `_MAX_REGIONS` are refused."""
    if len(pats) <= _ALL_REGIONS:
        return [(tuple(p for i, p in enumerate(pats) if mask >> i & 1),
                 tuple(p for i, p in enumerate(pats) if not mask >> i & 1))
                for mask in range(1 << len(pats))]
    memo_key = (tuple(pats), wanted, shunned)
    found = b.name_regions.get(memo_key)
    if found is not None:
        return found
    out: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    todo: list[tuple[tuple[str, ...], tuple[str, ...]]] = [((), ())]
    while todo:
        inside, outside = todo.pop()
        if dfa_ops.is_empty(string_dfa(patterns=wanted + inside, not_patterns=outside + shunned,
                                       path="#/patternProperties", limits=b.limits)):
            continue
        depth = len(inside) + len(outside)
        if depth == len(pats):
            out.append((inside, outside))
            if len(out) > _MAX_REGIONS:
                raise SchemaError(f"patternProperties split property names into more than "
                                  f"{_MAX_REGIONS} regions", "#/patternProperties")
            continue
        todo.append((inside, outside + (pats[depth],)))
        todo.append((inside + (pats[depth],), outside))
    b.name_regions[memo_key] = out
    return out


def _region_subs(b: GrammarBuilder, c: Constraints, matched: set[str],
                 values: tuple[Sub, ...] = ()) -> list[Sub] | None:
    """Value schemas for extra names matching exactly the patterns `matched` (and `values`);
    None when no such property may occur."""
    if not matched and not c.additional and not c.unevaluated_properties and \
            b.options.additional_properties is False:
        return None
    subs = _value_subs(c, None, matched) + list(values)
    if any(s is False for s, _ in subs) or b.collector.collect(subs).false:
        return None
    return subs


def _witnesses(b: GrammarBuilder, c: Constraints, named: list[_Named], names: list[str],
               names_c: Constraints, allowed: str | None
               ) -> tuple[dict[str, list[tuple[str, int]]], list[tuple[str, int]]] | None:
    """The `exists` witnesses: per declared name its narrowed pairs, and the narrowed extra
    pairs, each with the flags (one bit per entry, from bit 0) it sets; None when some entry
    has no witness at all (no object satisfies the constraints)."""
    if not c.exists:
        return {}, []
    if len(c.exists) > _MAX_EXISTS:
        raise SchemaError(f"more than {_MAX_EXISTS} properties required to exist (from not "
                          f"patternProperties/propertyNames/additionalProperties) in one object "
                          f"are not supported", c.exists[_MAX_EXISTS][0][1])
    wanted = [_collect_names(b, sub) for sub, _ in c.exists]
    subsets = [[i for i in range(len(wanted)) if m >> i & 1] for m in range(1, 1 << len(wanted))]
    by_name: dict[str, list[tuple[str, int]]] = {}
    for p in named:
        if p.pair is None:
            continue
        fits = {i for i, w in enumerate(wanted) if _name_ok(b, w, p.name)}
        for subset in subsets:
            if set(subset) <= fits:
                rule = _pair(b, c, p.name, allowed, [c.exists[i][1] for i in subset])
                if rule is not None:
                    by_name.setdefault(p.name, []).append((rule, _bits(subset)))
    extras = [(rule, _bits(subset)) for subset in subsets
              for rule in _extra_pairs(b, c, names, names_c, tuple(wanted[i] for i in subset),
                                       tuple(c.exists[i][1] for i in subset))]
    met = 0
    for _, bits in extras + [w for ws in by_name.values() for w in ws]:
        met |= bits
    return (by_name, extras) if met == (1 << len(wanted)) - 1 else None


def _bits(subset: list[int]) -> int:
    return sum(1 << i for i in subset)


def _collect_names(b: GrammarBuilder, sub: Sub) -> Constraints:
    """A name schema collected as string constraints (combinators refused, as in
    `propertyNames`)."""
    found = b.collector.collect([sub])
    if found.any_of:
        raise SchemaError("a required property name given with anyOf/oneOf/not is not "
                          "supported", sub[1])
    return found


def _name_ok(b: GrammarBuilder, names: Constraints, name: str) -> bool:
    """Does a property name satisfy collected name constraints (their own string terminal)?"""
    if "string" not in names.types:
        return False
    term = _names_terminal(b, names)
    return term is not None and b.terminals[term].dfa.matches(_spelling(name))


def _pair_rule(b: GrammarBuilder, key: str, subs: list[Sub]) -> str:
    rule = b._new_rule()
    b.rules[rule] = [(key, b._punct[":"], b.value(subs or [(True, "#")]))]
    return rule


def _extra_pairs_enum(b: GrammarBuilder, c: Constraints, names: list[str],
                      name_cs: tuple[Constraints, ...], values: tuple[Sub, ...] = ()
                      ) -> list[str]:
    """Name constraints with an enum (propertyNames, or a witness's name): each extra name
    the first enum lists that every constraint allows is a literal key with its own value
    schema."""
    listed = next(n.enum for n in name_cs if n.enum is not None)
    out = []
    for name in listed:
        if not isinstance(name, str) or name in names or name in c.forbidden or \
                any(name in n.not_values for n in name_cs) or \
                not all(_name_ok(b, n, name) for n in name_cs):
            continue
        subs = _region_subs(b, c, _matched(c, name), values)
        term = _key_terminal(b, name)
        if subs is not None and term is not None:
            out.append(_pair_rule(b, term, subs))
    return out


class _Automaton:
    """Builds the rules of one object body; `rules()` returns the start rule ('' = only the
    empty body) or None when no object satisfies the constraints."""

    def __init__(self, b: GrammarBuilder, c: Constraints, named: list[_Named],
                 extras: list[tuple[str, int]], witnesses: dict[str, list[tuple[str, int]]]
                 ) -> None:
        self.b, self.c, self.named = b, c, named
        self.counting = c.min_properties > 0 or c.max_properties is not None
        self.cap = (c.max_properties + 1 if c.max_properties is not None else c.min_properties)
        tracked = sorted(set(c.dependent_required) |
                         {d for ds in c.dependent_required.values() for d in ds})
        self.bit = {n: 1 << i for i, n in enumerate(tracked) if n in {p.name for p in named}}
        # one bit per `need_extra` set: some property outside the set has been emitted
        base = len(tracked)
        self.need = [(1 << (base + k), names) for k, names in enumerate(c.need_extra)]
        self.need_all = sum(b for b, _ in self.need)
        # then one bit per `exists` entry, set by its witnesses (their bits shifted up here)
        shift = base + len(self.need)
        self.extras = [(rule, bits << shift) for rule, bits in extras]
        self.witnesses = {n: [(rule, bits << shift) for rule, bits in ws]
                          for n, ws in witnesses.items()}
        self.need_all |= ((1 << len(c.exists)) - 1) << shift
        # "any": named properties in any order (state: the set emitted, a bitmask over named),
        # for objects small enough that the 2^n subsets stay cheap
        self.any_order = b.options.property_order == "any" and \
            len(named) <= b.options.max_any_order_properties
        self.required_mask = sum(1 << j for j, p in enumerate(named) if p.required)

    def _next(self, s: State, emitted: str | None, bits: int = 0) -> State | None:
        i, _, count, flags = s
        if self.counting:
            count = min(count + 1, self.cap)
            if self.c.max_properties is not None and count > self.c.max_properties:
                return None
        flags |= bits
        if emitted is not None:
            flags |= self.bit.get(emitted, 0)
        for bit, names in self.need:
            if emitted is None or emitted not in names:
                flags |= bit
        return (i, True, count, flags)

    def _moves(self, s: State) -> list[tuple[str | None, State]]:
        """(pair rule or None for a skip, next state)."""
        i, started, count, flags = s
        out: list[tuple[str | None, State]] = []
        for rule, bits in self.extras:
            nxt = self._next(s, None, bits)
            if nxt is not None:
                out.append((rule, nxt))
        if self.any_order:
            for j, p in enumerate(self.named):
                if not i >> j & 1:
                    for rule, bits in self._pairs(p):
                        nxt = self._next(s, p.name, bits)
                        if nxt is not None:
                            out.append((rule, (i | 1 << j, True, nxt[2], nxt[3])))
            return out
        if i < len(self.named):
            p = self.named[i]
            for rule, bits in self._pairs(p):
                nxt = self._next(s, p.name, bits)
                if nxt is not None:
                    out.append((rule, (i + 1, True, nxt[2], nxt[3])))
            if not p.required:
                out.append((None, (i + 1, started, count, flags)))
        return out

    def _pairs(self, p: _Named) -> list[tuple[str, int]]:
        """A named property's pair and its `exists` witnesses, with the flags each sets."""
        plain = [(p.pair, 0)] if p.pair is not None else []
        return plain + self.witnesses.get(p.name, [])

    def _accepts(self, s: State) -> bool:
        i, _, count, flags = s
        done = (i & self.required_mask) == self.required_mask if self.any_order \
            else i >= len(self.named)
        if not done or (self.counting and count < self.c.min_properties):
            return False
        if flags & self.need_all != self.need_all:
            return False
        for name, deps in self.c.dependent_required.items():
            if flags & self.bit.get(name, 0) and any(not flags & self.bit.get(d, 0) for d in deps):
                return False
        return True

    def rules(self) -> str | None:
        return automaton_rules(self.b, (0, False, 0, 0), self._moves, self._accepts,
                               lambda s: s[1], self.b.options.max_object_states,
                               "max_object_states")
