"""Objects: the property automaton of `builder` (see its module docstring).

A state is (next named property, anything emitted yet, property count, presence flags). The
count is tracked only under `minProperties`/`maxProperties` and the flags only for names in
`dependentRequired`; both saturate, so the automaton is finite and small for real schemas."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ...automata.dfa import ByteDFA
from ...errors import SchemaError
from .automaton_rules import automaton_rules
from .constraints import Constraints, Sub
from .strings import literals_dfa, string_dfa

if TYPE_CHECKING:
    from .builder import GrammarBuilder

_MAX_PATTERN_PROPERTIES = 4

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
    extras = _extra_pairs(b, c, names, names_c)
    body = _Automaton(b, c, named, extras).rules()
    if body is None:
        return []
    return [(b._punct["{"], body, b._punct["}"])] if body else [(b._punct["{"], b._punct["}"])]


def _ordered_names(c: Constraints) -> list[str]:
    names = list(c.properties)
    extra = set(c.required) | set(c.dependent_required)
    for deps in c.dependent_required.values():
        extra |= deps
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


def _pair(b: GrammarBuilder, c: Constraints, name: str, allowed: str | None) -> str | None:
    """The rule `key ':' value` of a named property, or None when it cannot occur (forbidden,
    refused by `propertyNames` — whose terminal is `allowed` — or closed out)."""
    if name in c.forbidden:
        return None
    if c.property_names and (allowed is None or
                             not b.terminals[allowed].dfa.matches(_spelling(name))):
        return None
    matched = {p for p in c.pattern_properties if _search(p, name)}
    subs = _value_subs(c, name, matched)
    if name not in c.properties and not matched and not c.additional and \
            b.options.additional_properties is False and not c.unevaluated_properties:
        return None
    if any(s is False for s, _ in subs):
        return None
    key = b._terminal(("key", name), lambda: spelling_dfa(name), json.dumps(name))
    return _pair_rule(b, key, subs)


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


def _extra_pairs(b: GrammarBuilder, c: Constraints, names: list[str],
                 names_c: Constraints) -> list[str]:
    """Rules `key ':' value` for property names outside `names`, one per region of names
    (which patternProperties they match); `names_c` is the collected `propertyNames`."""
    pats = list(c.pattern_properties)
    if len(pats) > _MAX_PATTERN_PROPERTIES:
        raise SchemaError(f"more than {_MAX_PATTERN_PROPERTIES} patternProperties in one object "
                          f"are not supported", "#/patternProperties")
    if names_c.false or names_c.enum is not None:
        return _extra_pairs_enum(b, c, names, pats, names_c)
    taken = tuple(names) + tuple(sorted(c.forbidden - set(names)))
    out = []
    for mask in range(1 << len(pats)):
        matched = {p for i, p in enumerate(pats) if mask >> i & 1}
        subs = _region_subs(b, c, matched)
        if subs is None:
            continue
        inside = tuple(p for i, p in enumerate(pats) if mask >> i & 1)
        outside = tuple(p for i, p in enumerate(pats) if not mask >> i & 1)
        key = ("extra", tuple(q for q, _ in names_c.patterns) + inside, outside, taken,
               names_c.min_length, names_c.max_length, tuple(f for f, _ in names_c.formats))

        def make(inside: tuple[str, ...] = inside, outside: tuple[str, ...] = outside) -> Any:
            from .formats import format_regex
            return string_dfa(patterns=tuple(q for q, _ in names_c.patterns) + inside,
                              not_patterns=outside + tuple(q for q, _ in names_c.not_patterns),
                              excluded=taken + tuple(v for v in names_c.not_values
                                                     if isinstance(v, str)),
                              min_length=names_c.min_length, max_length=names_c.max_length,
                              formats=[f for f, _ in names_c.formats
                                       if format_regex(f) is not None],
                              path="#/propertyNames", limits=b.limits)
        term = b._terminal(key, make, "property name")
        if term is not None:
            out.append(_pair_rule(b, term, subs))
    return out


def _region_subs(b: GrammarBuilder, c: Constraints, matched: set[str]) -> list[Sub] | None:
    """Value schemas for extra names matching exactly the patterns `matched`; None when no
    such property may occur."""
    if not matched and not c.additional and not c.unevaluated_properties and \
            b.options.additional_properties is False:
        return None
    subs = _value_subs(c, None, matched)
    if any(s is False for s, _ in subs) or b.collector.collect(subs).false:
        return None
    return subs


def _pair_rule(b: GrammarBuilder, key: str, subs: list[Sub]) -> str:
    rule = b._new_rule()
    b.rules[rule] = [(key, b._punct[":"], b.value(subs or [(True, "#")]))]
    return rule


def _extra_pairs_enum(b: GrammarBuilder, c: Constraints, names: list[str], pats: list[str],
                      names_c: Constraints) -> list[str]:
    """propertyNames given as an enum (or refusing everything): each allowed extra name is a
    literal key with its own value schema."""
    if names_c.false or names_c.enum is None:
        return []
    out = []
    for name in names_c.enum:
        if not isinstance(name, str) or name in names or name in c.forbidden or \
                name in names_c.not_values:
            continue
        matched = {p for p in pats if _search(p, name)}
        subs = _region_subs(b, c, matched)
        term = b._terminal(("key", name), lambda n=name: spelling_dfa(n), json.dumps(name))
        if subs is not None and term is not None:
            out.append(_pair_rule(b, term, subs))
    return out


class _Automaton:
    """Builds the rules of one object body; `rules()` returns the start rule ('' = only the
    empty body) or None when no object satisfies the constraints."""

    def __init__(self, b: GrammarBuilder, c: Constraints, named: list[_Named],
                 extras: list[str]) -> None:
        self.b, self.c, self.named, self.extras = b, c, named, extras
        self.counting = c.min_properties > 0 or c.max_properties is not None
        self.cap = (c.max_properties + 1 if c.max_properties is not None else c.min_properties)
        tracked = sorted(set(c.dependent_required) |
                         {d for ds in c.dependent_required.values() for d in ds})
        self.bit = {n: 1 << i for i, n in enumerate(tracked) if n in {p.name for p in named}}
        # one bit per `need_extra` set: some property outside the set has been emitted
        base = len(tracked)
        self.need = [(1 << (base + k), names) for k, names in enumerate(c.need_extra)]
        self.need_all = sum(b for b, _ in self.need)
        # "any": named properties in any order (state: the set emitted, a bitmask over named),
        # for objects small enough that the 2^n subsets stay cheap
        self.any_order = b.options.property_order == "any" and \
            len(named) <= b.options.max_any_order_properties
        self.required_mask = sum(1 << j for j, p in enumerate(named) if p.required)

    def _next(self, s: State, emitted: str | None) -> State | None:
        i, _, count, flags = s
        if self.counting:
            count = min(count + 1, self.cap)
            if self.c.max_properties is not None and count > self.c.max_properties:
                return None
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
        for rule in self.extras:
            nxt = self._next(s, None)
            if nxt is not None:
                out.append((rule, nxt))
        if self.any_order:
            for j, p in enumerate(self.named):
                if not i >> j & 1 and p.pair is not None:
                    nxt = self._next(s, p.name)
                    if nxt is not None:
                        out.append((p.pair, (i | 1 << j, True, nxt[2], nxt[3])))
            return out
        if i < len(self.named):
            p = self.named[i]
            if p.pair is not None:
                nxt = self._next(s, p.name)
                if nxt is not None:
                    out.append((p.pair, (i + 1, True, nxt[2], nxt[3])))
            if not p.required:
                out.append((None, (i + 1, started, count, flags)))
        return out

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
