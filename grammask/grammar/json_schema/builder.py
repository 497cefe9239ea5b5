"""JSON Schema -> grammar IR (`Grammar` of rules over DFA terminals).

Every JSON scalar is one terminal whose automaton is exact for its constraints (a string's
pattern, length and format; a number's bounds and multipleOf), so the lexer decides them byte
by byte; structure (objects, arrays, combinators, references) is rules. A subschema reached
twice — through `$ref`, most often — is one rule, so recursive schemas are recursive rules.

Objects follow a small automaton over "property events": the schema's properties in schema
order (each emitted or, when optional, skipped), extra properties (names outside
`properties`, split by which `patternProperties` they match, each with its own value schema)
anywhere in between, and — only when the schema asks for them — a property count
(`minProperties`/`maxProperties`) and presence flags (`dependentRequired`). States that cannot
reach the closing brace are pruned, so every prefix the grammar allows can still be completed.
Arrays use the same idea over positions (`prefixItems`, then `items`), item counts and
`contains` counts.

`anyOf`/`oneOf`/`not`/`if` are distributed over the rest of the schema: each branch is the
conjunction of the branch with everything around it (`Collector`), built as its own rule.
`oneOf` is built as `anyOf` only when its branches are provably disjoint; otherwise the schema
is refused (an instance matching two branches would be accepted)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from ...automata import compile_regex_dfa, dfa_ops
from ...automata.regex_parser import recursion_headroom
from ...errors import GrammarError, LimitExceededError, SchemaError
from ...limits import DEFAULT_LIMITS, Limits, checkpoint
from ..ir import Grammar, GrammarWarning, Rule, Terminal, derivable
from .constraints import Collector, Constraints, Group, Sub, clone, json_equal, json_type
from .container_values import value_allows
from .discriminated import MIN_MERGED, merge_conditionals
from .disjoint import all_disjoint, kept_disjuncts
from .dynamic_refs import specialise_dynamic_refs
from .long_strings import LongStrings, StringSpec
from .negation import not_container
from .numbers import EmptyRange, integer_dfa, number_dfa
from .refs import RefResolver, escape_pointer
from .regex_format import regex_string_rule, regex_value_allowed
from .strings import exact_size_estimate, literal_dfa, string_dfa, too_large

# Formats draft 2020-12 defines: asserting validators check them, so with format_assertion one
# grammask does not implement is refused rather than ignored. Other names (OpenAPI's int32,
# ...) are annotations for every validator and are ignored.
_STANDARD_FORMATS = frozenset({
    "date-time", "date", "time", "duration", "email", "idn-email", "hostname", "idn-hostname",
    "ipv4", "ipv6", "uri", "uri-reference", "iri", "iri-reference", "uuid", "uri-template",
    "json-pointer", "relative-json-pointer", "regex"})
_NOTHING = "NO_VALUE"            # the declared terminal of an empty language (never lexed)
# uniqueItems arrays' item separator (`grammask.unique_items` reads the name)
UNIQUE_SEPARATOR = "UNIQUE_SEPARATOR"
# names a string terminal whose maxLength is checked at run time (`grammask.max_length`)
MAX_LENGTH_PREFIX = "MAXLEN_"
_SCALAR_FIRST = frozenset(b'"-0123456789tfn')
# branches built per distribution level before the contradicted ones are dropped, as a
# multiple of max_branches (which bounds the live ones)
_BUILD_SLACK = 8
_NO_EXPONENT = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?"
# Numbers that are not integers (JSON Schema: 1.0 is an integer); exponent forms are left out
# (an under-approximation: they are never generated where this applies).
_NON_INTEGER = r"-?(0|[1-9][0-9]*)\.[0-9]*[1-9][0-9]*"


@dataclass(frozen=True)
class JsonSchemaOptions:
    """How JSON text is laid out and which liberties the compiler may take.

    whitespace: "compact" (no whitespace at all: ``{"a":1,"b":[2]}``) or "flexible" (up to
        `max_whitespace` whitespace characters around every structural character; never
        unbounded, so a model cannot loop on whitespace).
    item_separator / key_separator: the exact separators in compact mode (e.g. ", " and ": "
        for Python's default ``json.dumps`` layout).
    property_order: "schema" (the default: named properties in the schema's order, extra ones
        anywhere between them) or "any" (any order, each at most once, for objects with at
        most `max_any_order_properties` named properties — the automaton tracks which were
        used, 2^n states — and schema order beyond).
    additional_properties: None follows the schema (absent = allowed, as the spec says);
        False forbids properties the schema does not name wherever it leaves them open.
    format_assertion: enforce `format` (date-time, email, ...); False treats it as the
        annotation the 2020-12 specification makes it by default.
    max_object_states / max_array_states: bounds on the per-object and per-array automata
        (property counts x presence flags, item counts); exceeding one raises `SchemaError`.
    max_branches: bound on the branches one subschema's combinators may distribute into.
    max_depth: bound on how deeply distinct subschemas nest (objects in arrays in objects ...;
        recursion through `$ref` reuses rules and does not count).
    max_dynamic_scopes: bound on the copies of schema resources that `$dynamicRef` /
        `$recursiveRef` need, one per resource and dynamic scope it is entered with
        (`dynamic_refs`).
    chunk_strings_above: a string value whose maxLength (or minLength) is above this many
        code points is lexed in chunks of `string_chunk` code points, counted by grammar
        rules (`long_strings`), instead of as one automaton: one automaton costs ~20 states per
        allowed character and cannot hold maxLength 32767, while the chunked form is exact for
        any bound. Below the threshold the single automaton is kept (fewer lexemes per string).
    string_chunk: code points per chunk (grown so that no string needs more than 1024 chunks).
    max_length_at_run_time: a string value whose exact automaton passes
        `Limits.max_dfa_states` only through its maxLength counter (`format: email` with
        `maxLength: 1024`), and that cannot be chunked, is built without its maxLength, which
        `grammask.max_length.MaxLengthCFG` then checks at run time; False refuses it.
    """

    whitespace: str = "compact"
    max_whitespace: int = 4
    item_separator: str = ","
    key_separator: str = ":"
    additional_properties: bool | None = None
    format_assertion: bool = True
    max_object_states: int = 20_000
    max_array_states: int = 20_000
    property_order: str = "schema"
    max_any_order_properties: int = 8
    max_branches: int = 1024
    max_depth: int = 64
    max_dynamic_scopes: int = 64
    chunk_strings_above: int = 1024
    string_chunk: int = 64
    max_length_at_run_time: bool = True

    def __post_init__(self) -> None:
        if self.string_chunk < 1 or self.chunk_strings_above < 0:
            raise GrammarError("string_chunk must be positive and chunk_strings_above "
                               "non-negative")
        if self.property_order not in ("schema", "any"):
            raise GrammarError(f"property_order must be 'schema' or 'any', not "
                               f"{self.property_order!r}")
        if self.whitespace not in ("compact", "flexible"):
            raise GrammarError(f"whitespace must be 'compact' or 'flexible', not "
                               f"{self.whitespace!r}")


class GrammarBuilder:
    """Builds one schema's grammar; use `schema_to_grammar`."""

    def __init__(self, root: Any, options: JsonSchemaOptions, limits: Limits,
                 resolver: RefResolver | None = None) -> None:
        self.options = options
        self.limits = limits
        self.resolver = resolver or RefResolver(root)
        self.collector = Collector(self.resolver, format_assertion=options.format_assertion)
        self.rules: dict[str, list[tuple[str, ...]]] = {}
        self.terminals: dict[str, Terminal] = {}
        self._rule_of: dict[tuple[int, ...], str] = {}
        self._terminal_of: dict[Any, str] = {}
        self.name_regions: dict[Any, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
        self._keep: list[Any] = []
        self._rules_made = 0
        self._depth = 0
        self._punct = self._punctuation()
        self.long_strings = LongStrings(self)
        self.rules_of_regex: dict[bool, str] = {}        # `regex_format`'s rules, made once
        # uniqueItems arrays: their element rules and schema paths (`check_unique_items`)
        self.unique_elements: list[tuple[list[str], str]] = []
        self._pattern_dfas: dict[tuple, Any] = {}       # oneOf disjointness (`_strings_apart`)

    # -- entry -----------------------------------------------------------------------------------
    def build(self, root: Any) -> Grammar:
        top = self.value([(root, "#")])
        self.rules["start"] = [(top,)]
        self.long_strings.finish()
        self.check_unique_items()
        rules = _prune(self.rules, self.terminals)
        warnings = []
        if "start" not in rules:
            # No JSON value is valid (`false`, `not {}`, contradictory keywords): a grammar
            # whose only terminal is never lexed, so every mask is empty and no text is
            # accepted — the exact language, with a warning since nothing can be generated.
            rules = {"start": [(_NOTHING,)]}
            self.terminals[_NOTHING] = Terminal(_NOTHING, None)
            warnings.append(GrammarWarning("the schema accepts no JSON value at all (empty "
                                           "language): every mask is empty"))
        grammar = Grammar("start", {n: Rule(n, tuple(a)) for n, a in rules.items()},
                          dict(self.terminals), name="<json schema>", warnings=warnings)
        used = {s for alts in rules.values() for alt in alts for s in alt}
        grammar.terminals = {n: t for n, t in grammar.terminals.items() if n in used}
        return grammar

    # -- values ----------------------------------------------------------------------------------
    def value(self, subs: list[Sub]) -> str:
        """The rule for values satisfying every schema in `subs` (memoised by identity)."""
        unique: dict[int, Sub] = {}
        for sub in subs:
            unique.setdefault(id(sub[0]), sub)
        subs = list(unique.values())
        key = tuple(unique)
        name = self._rule_of.get(key)
        if name is None:
            name = self._rule_of[key] = self._new_rule()
            self._keep.append(subs)
            self._depth += 1
            if self._depth > self.options.max_depth:
                raise SchemaError(f"values nest more than {self.options.max_depth} levels deep "
                                  f"(max_depth)", subs[0][1] if subs else "#")
            try:
                self.rules[name] = self._alternatives(self.collector.collect(subs), 0)
            finally:
                self._depth -= 1
        return name

    def _alternatives(self, c: Constraints, width: int) -> list[tuple[str, ...]]:
        if c.false:
            return []
        if c.any_of:
            return self._distribute(c, width)
        if c.enum is not None:
            return self._enum(c)
        if any(isinstance(v, (dict, list)) for v in c.not_values):
            return self._without_containers(c, width)     # before any alternative is built
        alts: list[tuple[str, ...]] = []
        types = c.types
        if "null" in types and not _excluded(c, None):
            alts.append((self._punct["null"],))
        if "boolean" in types:
            alts += [(self._punct[w],) for w in ("true", "false") if not _excluded(c, w == "true")]
        if "string" in types:
            alts += self._terminal_alt(self._string_terminal(c))
        if "number" in types or "integer" in types:
            alts += self._terminal_alt(self._number_terminal(c))
        if "object" in types:
            alts += self._object(c)
        if "array" in types:
            alts += self._array(c)
        return alts

    def _distribute(self, c: Constraints, width: int) -> list[tuple[str, ...]]:
        """One combinator group: each branch conjoined with the rest of `c`. `width` is the
        number of leaves the distribution has so far (the product of the group sizes). The
        branches are added in the group's annotation scope, so each alternative knows what
        its successful subschemas evaluated (unevaluatedProperties/Items)."""
        if len(c.any_of) >= MIN_MERGED:
            merged = merge_conditionals(c.any_of, self.collector.synthesize)
            if merged is not c.any_of:
                c = clone(c)
                c.any_of = merged
        g = c.any_of[0]
        rest = clone(c)
        rest.any_of = c.any_of[1:]
        branches = list(g.branches)
        if g.scope and not g.one and not g.exclusive:
            branches = self.collector.annotation_subsets(g)
        if max(width, 1) * len(branches) > self.options.max_branches * _BUILD_SLACK:
            self._too_wide(g)
        built: list[Constraints] = []
        for schema, where in branches:
            b = clone(rest)
            self.collector.add(b, schema, where, 0, g.scope)
            built.append(b)
        if g.one and not all_disjoint(self.collector, built, self._strings_apart):
            return self._exactly_one(rest, g, width, built)
        # only branches that can hold a value count toward the bound: a branch the rest
        # contradicts (an object branch of a value that must be a string) adds no leaf
        live = [(br, b) for br, b in zip(branches, built) if not b.false and b.types]
        width = max(width, 1) * len(live)
        if width > self.options.max_branches:
            self._too_wide(g)
        branches, built = [br for br, _ in live], [b for _, b in live]
        out: list[tuple[str, ...]]
        if rest == Constraints():
            out = [(self.value([br]),) for br in branches]
        else:
            out = []
            for b in built:
                name = self._new_rule()
                self.rules[name] = self._alternatives(b, width)
                out.append((name,))
        self.long_strings.note_group(alt[0] for alt in out)
        return out

    def _without_containers(self, c: Constraints, width: int) -> list[tuple[str, ...]]:
        """`c` whose excluded values include objects or arrays: those the value may be are
        spelled out as groups of structural alternatives (`negation.not_container`: another
        type, a missing or extra key, another length, a differing member), the others
        dropped (they cannot occur)."""
        out = clone(c)
        out.not_values = [v for v in c.not_values if not isinstance(v, (dict, list))]
        for v in c.not_values:
            if isinstance(v, (dict, list)) and \
                    ("object" if isinstance(v, dict) else "array") in c.types:
                branches = not_container(v, "#/not")
                self.collector.keep.extend(b for b, _ in branches)
                out.any_of.append(Group(tuple(branches), False, "#/not"))
        return self._alternatives(out, width)

    def _too_wide(self, g: Group) -> None:
        raise SchemaError(f"anyOf/oneOf/not/if distribute into more than "
                          f"{self.options.max_branches} branches (max_branches)", g.path)

    def _strings_apart(self, a: Constraints, b: Constraints) -> bool:
        """No string matches both sides' patterns (their automata do not meet; lengths and
        formats are left out, which only widens each side). A pattern refused or too large
        here means "may overlap". Memoised per pair of pattern sets: a oneOf of n branches
        asks about the same discriminator patterns for each of its n² pairs."""
        pats = sorted(tuple(sorted({p for p, _ in c.patterns})) for c in (a, b))
        key = ("apart", *pats)
        if key not in self._pattern_dfas:
            try:
                dfas = [self._patterns_dfa(p) for p in pats]
                self._pattern_dfas[key] = dfa_ops.is_empty(
                    dfa_ops.intersect(*dfas, self.limits, minimal=False))
            except GrammarError:        # LimitExceededError and SchemaError included
                self._pattern_dfas[key] = False
        return self._pattern_dfas[key]

    def _patterns_dfa(self, patterns: tuple[str, ...]) -> Any:
        key = ("patterns", patterns)
        if key not in self._pattern_dfas:
            self._pattern_dfas[key] = string_dfa(patterns=patterns, limits=self.limits)
        return self._pattern_dfas[key]

    def _exactly_one(self, rest: Constraints, g: Group, width: int,
                     built: list[Constraints]) -> list[tuple[str, ...]]:
        """oneOf whose branches may overlap: branch i and the negation of every other branch
        (`negation` refuses, naming the keyword, what has no expressible complement). Only
        branch i succeeds there, so only its annotations count (`not` adds none).

        A negation is a union of disjuncts (De Morgan), and branch i (with the rest of the
        schema, `built[i]`) usually contradicts most of them: where two branches share a
        base, "the base fails" cannot happen beside branch i. Those disjuncts are dropped
        (`kept_disjuncts`, exact: only values that cannot satisfy branch i go), and a branch
        left with an empty negation is dropped whole. That keeps the distribution to what
        tells the branches apart instead of every way the others can fail."""
        exact: list[Sub] = []
        ids = tuple(id(b) for b, _ in g.branches)
        for i, (schema, where) in enumerate(g.branches):
            others = [self._negation_beside(built[i], b, f"{bwhere}/not")
                      for j, (b, bwhere) in enumerate(g.branches) if j != i]
            if any(o is None for o in others):
                continue                     # branch i always satisfies another branch
            # one synthetic schema per (group, branch, kept disjuncts), as
            # `Collector.negation` keeps one per schema: a recursive oneOf meets its own
            # rules again instead of new ones
            synthetic = self.collector.synthesize(
                ("one", i) + ids + tuple(id(o) for o in others), {"allOf": [schema, *others]})
            exact.append((synthetic, where))
        if not exact:
            return []
        c = clone(rest)
        c.any_of = [Group(tuple(exact), False, g.path, g.scope, exclusive=True)] + rest.any_of
        return self._distribute(c, width)

    def _negation_beside(self, mine: Constraints, other: Any, path: str) -> dict | None:
        """`not other` for values that satisfy `mine`: the disjuncts of the negation `mine`
        may meet (None: none, so `mine` and `not other` share no value). With annotation
        scopes in force the plain `{"not": other}` is kept (a union of disjuncts would
        evaluate the properties they name; `not` evaluates none)."""
        if mine.unevaluated_properties or mine.unevaluated_items:
            return self.collector.negated_schema(other)
        disjuncts = self.collector.negation(other, path)
        keep = kept_disjuncts(self.collector, mine, disjuncts, self._strings_apart)
        if not keep:
            return None
        if len(keep) == len(disjuncts):
            return self.collector.negated_schema(other)
        return self.collector.synthesize(("not-beside", id(other), tuple(keep)),
                                          {"anyOf": [disjuncts[k][0] for k in keep]})

    # -- enum / const ---------------------------------------------------------------------------
    def _enum(self, c: Constraints) -> list[tuple[str, ...]]:
        plain = clone(c)
        plain.enum = None
        out: list[tuple[str, ...]] = []
        for v in c.enum or []:
            if _excluded(c, v) or not self._value_allowed(plain, v):
                continue
            sym = self._literal(v)
            if sym is not None:
                out.append((sym,))
        self.long_strings.note_group(alt[0] for alt in out)
        return out

    def _value_allowed(self, c: Constraints, v: Any) -> bool:
        """Whether a const/enum value also satisfies the schema's other constraints (checked
        exactly: scalars by the grammar's own terminals, objects and arrays structurally by
        `container_values`, which once only checked their type and so let
        `{"const": {"a": 1}, "properties": {"a": {"type": "string"}}}` accept `{"a":1}`)."""
        if isinstance(v, (dict, list)):
            return value_allows(self, c, v)
        kind = json_type(v)
        if kind == "integer":
            kind = "integer" if "integer" in c.types or "number" in c.types else "none"
        if kind not in c.types and not (kind == "integer" and "number" in c.types):
            return False
        if kind == "string" and _regex_only(c):     # no terminal to match: the format's
            return len(v) >= c.min_length and regex_value_allowed(v)    # grammar reads it
        if kind in ("string", "number", "integer"):
            name = self._string_terminal(c) if kind == "string" else self._number_terminal(c)
            if name is None:
                return False
            if name in self.long_strings.deferred:
                return self.long_strings.allows(name, v)
            text = json.dumps(v, ensure_ascii=False)
            return self.terminals[name].dfa.matches(text.encode("utf-8"))
        return True

    def _literal(self, v: Any, at_key: bool = False) -> str | None:
        """A rule for exactly this JSON value (strings in any escaping, numbers in their plain
        decimal spellings, containers compact in the value's own key order). `at_key`: a string
        at a key position (a terminal of its own: value strings may be split, see
        `long_strings`)."""
        if v is None or isinstance(v, bool):
            return self._punct["null" if v is None else ("true" if v else "false")]
        if isinstance(v, str):
            name = self._terminal(("keylit" if at_key else "lit", v), lambda: literal_dfa(v),
                                  json.dumps(v))
            if not at_key:
                self.long_strings.note_value(name, StringSpec(("lit", v)))
            return name
        if isinstance(v, (int, float)):
            text = _number_literal_regex(v)
            if text is None:
                return None
            return self._terminal(("num", text), lambda: compile_regex_dfa(text, self.limits), text)
        key = ("literal", json.dumps(v, sort_keys=False))
        name = self._rule_of.get(key)  # type: ignore[arg-type]
        if name is not None:
            return name
        name = self._new_rule()
        p = self._punct
        if isinstance(v, list):
            seq = [p["["]]
            for i, item in enumerate(v):
                seq += ([p[","]] if i else []) + [self._literal(item) or "<none>"]
            seq.append(p["]"])
        else:
            seq = [p["{"]]
            for i, (k, item) in enumerate(v.items()):
                seq += ([p[","]] if i else []) + [self._literal(k, True) or "<none>", p[":"],
                                                  self._literal(item) or "<none>"]
            seq.append(p["}"])
        self.rules[name] = [tuple(seq)]
        self._rule_of[key] = name  # type: ignore[index]
        return name

    # -- scalars ---------------------------------------------------------------------------------
    def _string_terminal(self, c: Constraints, value: bool = True) -> str | None:
        """The string terminal of `c` (None: no string allowed). At a value position
        (`value`), one with a large length bound is a rule lexing it in chunks instead
        (`long_strings`); `value=False` (property names) always gives one automaton."""
        pats = tuple(p for p, _ in c.patterns)
        formats = tuple(f for f, _ in c.formats)
        nots = tuple(p for p, _ in c.not_patterns)
        excluded = tuple(v for v in c.not_values if isinstance(v, str))
        key = ("str" if value else "name", pats, c.min_length, c.max_length, formats, nots,
               excluded)
        keyword = (c.patterns or c.formats or [("", "#/")])[0][1]
        path = keyword.rsplit("/", 1)[0] or "#"     # string_dfa names the keyword itself

        def make() -> Any:
            _check_formats(c)
            known = [f for f in formats if _format_known(f)]   # others: annotations
            return string_dfa(patterns=pats, min_length=c.min_length, max_length=c.max_length,
                              formats=known, not_patterns=nots, excluded=excluded, path=path,
                              limits=self.limits)
        if not value:
            return self._terminal(key, make, "string")
        if _regex_only(c):
            return regex_string_rule(self, c.min_length > 0)   # a rule: the syntax nests
        if key in self._terminal_of:
            return self._terminal_of[key]
        known = tuple(sorted({f for f in formats if _format_known(f)}))
        spec = StringSpec(("str", tuple(sorted(set(pats))), known, tuple(sorted(set(nots))),
                           tuple(sorted(set(excluded)))), c.min_length, c.max_length, path)
        if c.min_length >= 0 and self.long_strings.wants_chunks(c.min_length, c.max_length):
            _check_formats(c)
            deferred = self.long_strings.defer(spec, make)
            self._terminal_of[key] = deferred      # type: ignore[assignment]  # None: empty
            return deferred
        if self._surely_too_large(spec):
            try:
                name = self.bounded_at_run_time(key, spec, None)
            except LimitExceededError:      # too large without its maxLength as well
                name = self._terminal(key, make, "string")   # raises the exact build's error
        else:
            try:
                name = self._terminal(key, make, "string")
            except LimitExceededError as e:
                name = self.bounded_at_run_time(key, spec, e)
        self.long_strings.note_value(name, spec)
        return name

    def _boundable(self, spec: StringSpec) -> bool:
        """A value string whose maxLength may be checked at run time (`max_length`)."""
        return self.options.max_length_at_run_time and spec.hi is not None and \
            spec.vkey[0] == "str"

    def _surely_too_large(self, spec: StringSpec) -> bool:
        """Whether the exact automaton of a value string is estimated past half of
        `max_dfa_states` (`strings.exact_size_estimate`), so its maxLength goes to run time
        unbuilt (such an automaton costs seconds to build, or to fail building). Raises the
        size error where the value automaton alone is too large: nothing else is tried."""
        if not self._boundable(spec):
            return False
        _, pats, formats, nots, excluded = spec.vkey
        try:
            estimate = exact_size_estimate(pats, formats, nots, excluded, spec.hi, self.limits)
        except LimitExceededError as e:
            # the value automaton alone is too large (no count helps; failing again, as the
            # exact build would, can take seconds)
            raise too_large(e, spec.path, spec.lo, spec.hi, pats, formats) from e
        except GrammarError:
            return False                # the exact build names the problem
        # the estimate runs low (escape states multiply with the count too): half the bound
        return 2 * estimate > self.limits.max_dfa_states

    def bounded_at_run_time(self, key: Any, spec: StringSpec,
                            err: LimitExceededError | None) -> str | None:
        """The terminal of a value string whose exact automaton was too large (`err`; None:
        estimated so): the same string without its maxLength, named for
        `max_length.MaxLengthCFG` to check the bound at run time. `err` is raised again where
        that cannot help (the option is off, no maxLength, or the automaton is too large
        without it too)."""
        if err is not None and (err.limit != "max_dfa_states" or not self._boundable(spec)):
            raise err
        _, pats, formats, nots, excluded = spec.vkey
        try:
            dfa = string_dfa(patterns=pats, formats=formats, not_patterns=nots,
                             excluded=excluded, min_length=spec.lo, path=spec.path,
                             limits=self.limits)
        except LimitExceededError:
            if err is None:
                raise
            raise err from None
        name = None
        if not dfa_ops.is_empty(dfa):
            name = f"{MAX_LENGTH_PREFIX}{spec.hi}_T{len(self.terminals)}"
            self.terminals[name] = Terminal(name, "string", dfa=dfa)
        self._terminal_of[key] = name   # type: ignore[assignment]
        return name

    def _number_terminal(self, c: Constraints) -> str | None:
        integer = "number" not in c.types
        excluded = tuple(sorted({Fraction(str(v)) if isinstance(v, float) else Fraction(v)
                                 for v in c.not_values
                                 if isinstance(v, (int, float)) and not isinstance(v, bool)}))
        if integer and c.non_integer:
            return None
        key = ("int" if integer else "num", c.minimum, c.maximum, c.exclusive_minimum,
               c.exclusive_maximum, tuple(c.multiple_of), tuple(c.not_multiple_of), excluded,
               c.non_integer)

        def make() -> Any:
            if integer:
                dfa = integer_dfa(c.minimum, c.maximum, c.multiple_of or None,
                                  exclusive_minimum=c.exclusive_minimum,
                                  exclusive_maximum=c.exclusive_maximum,
                                  not_multiple_of=c.not_multiple_of or None, path="#",
                                  limits=self.limits)
            else:
                dfa = number_dfa(c.minimum, c.maximum, c.exclusive_minimum, c.exclusive_maximum,
                                 c.multiple_of or None, not_multiple_of=c.not_multiple_of or None,
                                 path="#", limits=self.limits)
            if c.non_integer:
                dfa = dfa_ops.intersect(dfa, compile_regex_dfa(_NON_INTEGER), self.limits)
            if excluded:
                dfa = dfa_ops.intersect(dfa, compile_regex_dfa(_NO_EXPONENT), self.limits)
                for v in excluded:
                    spelled = _number_literal_regex(v)
                    if spelled is not None:
                        gone = compile_regex_dfa(spelled, self.limits)
                        dfa = dfa_ops.difference(dfa, gone, self.limits)
            return dfa
        return self._terminal(key, make, "integer" if integer else "number")

    def _terminal_alt(self, name: str | None) -> list[tuple[str, ...]]:
        return [] if name is None else [(name,)]

    def _terminal(self, key: Any, make: Any, label: str) -> str | None:
        """A terminal for an automaton (memoised by `key`); None when its language is empty."""
        if key in self._terminal_of:
            return self._terminal_of[key]
        try:
            dfa = make()
        except EmptyRange:
            dfa = None
        name = None
        if dfa is not None and not dfa_ops.is_empty(dfa):
            name = f"T{len(self.terminals)}"
            self.terminals[name] = Terminal(name, label, dfa=dfa)
        self._terminal_of[key] = name
        return name

    def _punctuation(self) -> dict[str, str]:
        o = self.options
        ws = f"[ \\t\\n\\r]{{0,{o.max_whitespace}}}" if o.whitespace == "flexible" else ""
        texts = {"{": "{", "}": "}", "[": "[", "]": "]", ",": o.item_separator,
                 ":": o.key_separator, "true": "true", "false": "false", "null": "null"}
        out = {}
        for key, text in texts.items():
            body = re.escape(text)
            if ws and key in "{}[],:":
                body = f"{ws}{body}{ws}" if key in ",:" else (
                    f"{body}{ws}" if key in "{[" else f"{ws}{body}")
            name = f"P_{len(out)}"
            self.terminals[name] = Terminal(name, body, dfa=compile_regex_dfa(body, self.limits))
            out[key] = name
        return out

    def unique_separator(self) -> str:
        """The item separator of uniqueItems arrays: the same text as the other under its own
        name, which `grammask.unique_items` reads from the lexer."""
        if UNIQUE_SEPARATOR not in self.terminals:
            self.terminals[UNIQUE_SEPARATOR] = replace(self.terminals[self._punct[","]],
                                                       name=UNIQUE_SEPARATOR)
        return UNIQUE_SEPARATOR

    def check_unique_items(self) -> None:
        """uniqueItems is checked at run time on items that are one scalar lexeme each or
        objects and arrays (after long strings are split, which can make one string several
        lexemes — refused: the run-time search for repeats reads a string item as one)."""
        for elements, where in self.unique_elements:
            if not all(self._checkable_items(e) for e in elements):
                raise SchemaError("uniqueItems: true is enforced on items that are objects, "
                                  "arrays, or strings in one lexeme (not long strings lexed "
                                  "in chunks); grammask refuses it here rather than ignore it",
                                  where)

    def _checkable_items(self, rule: str) -> bool:
        """Every alternative of `rule` is one scalar terminal (through single-symbol rules)
        or opens an object or an array."""
        seen, todo = set(), [rule]
        opens = {self._punct["{"], self._punct["["]}
        while todo:
            r = todo.pop()
            if r in seen:
                continue
            seen.add(r)
            if r not in self.rules:
                return False            # a long string's placeholder, split into chunks
            for alt in self.rules[r]:
                if len(alt) != 1:
                    if alt[0] not in opens:
                        return False
                elif alt[0] in self.rules:
                    todo.append(alt[0])
                elif not _opens_scalar(self.terminals[alt[0]]):
                    return False
        return True

    def _new_rule(self) -> str:
        self._rules_made += 1
        if self._rules_made > self.limits.max_grammar_rules:
            raise LimitExceededError("max_grammar_rules", self._rules_made,
                                     self.limits.max_grammar_rules,
                                     "the schema's grammar has too many rules")
        if not self._rules_made & 63:
            checkpoint("the JSON Schema builder")
        return f"r{self._rules_made}"

    # -- objects and arrays (automata in objects.py) -------------------------------------------
    def _object(self, c: Constraints) -> list[tuple[str, ...]]:
        from .objects import object_alternatives
        return object_alternatives(self, c)

    def _array(self, c: Constraints) -> list[tuple[str, ...]]:
        from .arrays import array_alternatives
        return array_alternatives(self, c)


def _format_known(name: str) -> bool:
    from .formats import format_regex
    return format_regex(name) is not None


def _regex_only(c: Constraints) -> bool:
    """A string schema whose only constraint is `format: "regex"` (`regex_format`'s
    grammar), minLength 1 aside; with a pattern, another length or an excluded value beside
    it, the format stays refused."""
    return bool(c.formats) and all(f == "regex" for f, _ in c.formats) and not (
        c.patterns or c.not_patterns or c.min_length > 1 or c.max_length is not None
        or any(isinstance(v, str) for v in c.not_values))


def _check_formats(c: Constraints) -> None:
    """Refuse standard formats grammask cannot enforce (unknown names are annotations)."""
    for f, where in c.formats:
        if f in _STANDARD_FORMATS and not _format_known(f):
            raise SchemaError(f"format {f!r} cannot be enforced by grammask; pass "
                              f"format_assertion=False to treat formats as the "
                              f"annotations the specification makes them by default", where)


def _opens_scalar(t: Terminal) -> bool:
    """The terminal's lexemes are JSON scalars by their first byte (no container literal)."""
    dfa = t.dfa if t.dfa is not None else compile_regex_dfa(t.pattern or "", DEFAULT_LIMITS)
    return set(np.flatnonzero(dfa.trans[dfa.start] >= 0).tolist()) <= _SCALAR_FIRST


def schema_to_grammar(schema: Any, options: JsonSchemaOptions | None = None,
                      limits: Limits = DEFAULT_LIMITS) -> Grammar:
    """The grammar IR of the JSON texts valid against `schema` (a dict, a bool, or JSON text)."""
    if isinstance(schema, (str, bytes)):
        try:
            schema = json.loads(schema)
        except ValueError as exc:
            raise SchemaError(f"the schema is not valid JSON: {exc}", "#") from exc
    if not isinstance(schema, (dict, bool)):
        raise SchemaError(f"a schema must be an object or a boolean, got "
                          f"{type(schema).__name__}", "#")
    _check_json_data(schema)
    options = options or JsonSchemaOptions()
    resolver = RefResolver(schema)
    static = specialise_dynamic_refs(schema, options.max_dynamic_scopes, resolver)
    if static is not schema:
        schema, resolver = static, RefResolver(static)
    # The builder recurses per value level through constraints, combinators and references
    # (~50 frames a level on real schemas): room for `max_depth` levels, so that limit --
    # not a RecursionError -- is what deep schemas meet.
    with recursion_headroom(options.max_depth * 8):
        return GrammarBuilder(schema, options, limits, resolver).build(schema)


def _check_json_data(schema: Any) -> None:
    """The schema must be JSON data: objects with string keys, arrays, strings that are valid
    Unicode (no lone surrogates: `"\\udcff"` is legal JSON text but no UTF-8 output can
    spell it), finite numbers, booleans and null. Iterative, so no depth can overflow it."""
    todo: list[tuple[Any, str]] = [(schema, "#")]
    while todo:
        node, path = todo.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if not isinstance(k, str):
                    raise SchemaError(f"object keys must be strings, got {type(k).__name__} "
                                      f"{k!r}", path)
                _check_text(k, path)
                todo.append((v, f"{path}/{escape_pointer(k)}"))
        elif isinstance(node, list):
            todo.extend((v, f"{path}/{i}") for i, v in enumerate(node))
        elif isinstance(node, str):
            _check_text(node, path)
        elif isinstance(node, float):
            if node != node or node in (float("inf"), float("-inf")):
                raise SchemaError(f"{node!r} is not a JSON number", path)
        elif isinstance(node, tuple):
            key = path.rsplit("/", 1)[-1]
            raise SchemaError(f"{key} must be an array (a tuple is not JSON data)", path)
        elif node is not None and not isinstance(node, (bool, int)):
            raise SchemaError(f"{type(node).__name__} is not JSON data (expected an object, "
                              f"array, string, number, boolean or null)", path)


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SchemaError(f"a string holds a lone surrogate ({text[exc.start]!r} at index "
                          f"{exc.start}): not valid Unicode, so no UTF-8 text can match it",
                          path) from None




# -- helpers ----------------------------------------------------------------------------------------
def _excluded(c: Constraints, v: Any) -> bool:
    return any(json_equal(v, w) for w in c.not_values)


def _number_literal_regex(v: Any) -> str | None:
    """Every plain decimal spelling of the number `v` (trailing fraction zeros allowed; no
    exponent): 2 -> ``2(\\.0+)?``, 2.5 -> ``2\\.50*``, 0 -> ``-?0(\\.0+)?``."""
    f = v if isinstance(v, Fraction) else (Fraction(str(v)) if isinstance(v, float) else Fraction(v))
    den = f.denominator
    twos = fives = 0
    while den % 2 == 0:
        den, twos = den // 2, twos + 1
    while den % 5 == 0:
        den, fives = den // 5, fives + 1
    if den != 1:
        return None                 # not a finite decimal (1/3): no JSON spelling at all
    digits = max(twos, fives)
    scaled = abs(f.numerator) * (10 ** digits // f.denominator)
    text = str(scaled).rjust(digits + 1, "0")
    whole, frac = text[:len(text) - digits] or "0", text[len(text) - digits:]
    sign = "-?" if f == 0 else ("-" if f < 0 else "")
    if frac:
        return f"{sign}{whole}\\.{frac}0*"
    return f"{sign}{whole}(\\.0+)?"


def _prune(rules: dict[str, list[tuple[str, ...]]], terminals: dict[str, Terminal]
           ) -> dict[str, list[tuple[str, ...]]]:
    """Drop rules that derive no finite string and alternatives that use them, then rules
    unreachable from start: every prefix the grammar allows can then be completed."""
    productive = derivable(rules, set(terminals))
    kept = {n: [a for a in alts if all(s in productive for s in a)]
            for n, alts in rules.items() if n in productive}
    reach, todo = {"start"} if "start" in kept else set(), ["start"] if "start" in kept else []
    while todo:
        for alt in kept[todo.pop()]:
            for s in alt:
                if s in kept and s not in reach:
                    reach.add(s)
                    todo.append(s)
    return {n: kept[n] for n in kept if n in reach}
