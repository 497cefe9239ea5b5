"""The grammar IR every front end (Lark EBNF, GBNF, JSON Schema, ...) produces.

A context-free grammar in BNF over *terminals*; each terminal is one regular expression in
grammask's dialect (`grammask.automata`), matched against one whole lexeme. Front ends
desugar EBNF operators (`* + ? {m,n}`, groups, templates) into helper rules, so the parser and
the mask store see one small, uniform structure:

* `Grammar.rules[name].alternatives` — tuples of symbol names (rule or terminal names; the two
  namespaces are disjoint); the empty tuple is the empty alternative;
* `Grammar.terminals[name]` — `Terminal(pattern=...)`, or `pattern=None` for a *declared*
  terminal that a post-lexer produces (Python's INDENT/DEDENT), never matched from text;
* `Grammar.ignore` — terminals skipped between any two lexemes (whitespace, comments).

Lexing semantics (documented for users in the README): longest match among the terminals the
parser accepts next; ties go to the higher `priority`, then to literal terminals over regex
terminals (Lark's rule); the kinds left all go to the parser. A `scannerless` grammar (GBNF)
keeps every kind of a tie after `priority`: its front end has split the terminals so that greedy
lexing reads the character-level language exactly (`greedy_lexing`).

`Grammar.check()` raises `GrammarError` (with the source position) for undefined symbols and
an empty language, and returns warnings for unreachable rules and unused terminals.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import GrammarError


@dataclass(frozen=True)
class SourcePos:
    """Where a definition came from: 1-based line and column in `file` (None: a string)."""

    line: int
    column: int
    file: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:" if self.file else ""
        return f"{where}{self.line}:{self.column}"


@dataclass(frozen=True)
class Terminal:
    """One lexeme kind. `pattern` is a regex in grammask's dialect (full match), or None for
    a declared terminal supplied by a post-lexer. `literal` is the exact text when the terminal
    came from a string literal (such terminals win ties against regex terminals, except in a
    `Grammar.scannerless` grammar, where ties keep every kind)."""

    name: str
    pattern: str | None
    priority: int = 0
    literal: str | None = None
    origin: SourcePos | None = None
    # A prebuilt automaton (JSON Schema terminals are built by DFA products, which no regex
    # string describes compactly); when set it is the terminal's language and `pattern` is
    # only a description for messages.
    dfa: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Rule:
    """A nonterminal: a choice among sequences of symbol names."""

    name: str
    alternatives: tuple[tuple[str, ...], ...]
    origin: SourcePos | None = None


@dataclass(frozen=True)
class GrammarWarning:
    """Something legal but probably unintended (an unreachable rule, an unused terminal)."""

    message: str
    origin: SourcePos | None = None

    def __str__(self) -> str:
        return f"{self.origin}: {self.message}" if self.origin else self.message


def derivable(rules: Mapping[str, Iterable[tuple[str, ...]]], known: set[str]) -> set[str]:
    """`known` grown by every rule with an alternative made only of known symbols, to the
    fixpoint -- in time linear in the grammar's size (a counter of unknown symbols per
    alternative; a naive loop over all rules per new symbol is quadratic on long chains)."""
    known = set(known)
    remaining: list[int] = []
    owner: list[str] = []
    uses: dict[str, list[int]] = {}
    queue: list[str] = []
    for name, alts in rules.items():
        for alt in alts:
            missing = {s for s in alt if s not in known}
            if not missing:
                if name not in known:
                    known.add(name)
                    queue.append(name)
                continue
            idx = len(remaining)
            remaining.append(len(missing))
            owner.append(name)
            for s in missing:
                uses.setdefault(s, []).append(idx)
    while queue:
        for idx in uses.get(queue.pop(), ()):
            remaining[idx] -= 1
            if remaining[idx] == 0:
                name = owner[idx]
                if name not in known:
                    known.add(name)
                    queue.append(name)
    return known


@dataclass
class Grammar:
    """A context-free grammar over regex terminals (see the module docstring)."""

    start: str
    rules: dict[str, Rule]
    terminals: dict[str, Terminal]
    ignore: tuple[str, ...] = ()
    name: str = "<grammar>"
    warnings: list[GrammarWarning] = field(default_factory=list)
    # The language is the character-level one (GBNF): ties between literal and regex terminals
    # keep both kinds, and parser="auto" takes LALR only from a table without conflicts.
    scannerless: bool = False

    def symbol_kind(self, name: str) -> str:
        """'rule', 'terminal' or 'undefined'."""
        if name in self.rules:
            return "rule"
        return "terminal" if name in self.terminals else "undefined"

    def check(self) -> list[GrammarWarning]:
        """Validate references and the language; return warnings (also kept in .warnings)."""
        self._check_names()
        self._check_references()
        productive = self._productive()
        if self.start not in productive:
            raise GrammarError(f"{self.name}: the start rule {self.start!r} derives no finite "
                               f"string (empty language)", name=self._where(self.start))
        self.warnings = self._unreachable_warnings()
        return list(self.warnings)

    def pruned(self) -> "Grammar":
        """This grammar without the rules that derive no finite string (`r: "a" r`) and the
        alternatives that use them: such an alternative can be entered but never finished,
        so keeping it would let a parser accept prefixes no complete text extends. Returns
        `self` when every rule is productive (the usual case); otherwise a copy with one
        warning per dropped rule. The start rule must be productive (see `check`)."""
        productive = self._productive()
        dead = [n for n in self.rules if n not in productive]
        if not dead:
            return self
        rules = {}
        for name, rule in self.rules.items():
            if name in productive:
                alts = tuple(a for a in rule.alternatives if all(s in productive for s in a))
                rules[name] = Rule(name, alts, rule.origin)
        notes = [GrammarWarning(f"rule {n!r} derives no finite string; the alternatives "
                                f"using it are dropped", self.rules[n].origin) for n in dead]
        return replace(self, rules=rules, terminals=dict(self.terminals),
                       warnings=list(self.warnings) + notes)

    def stats(self) -> dict[str, int]:
        return {"rules": len(self.rules), "terminals": len(self.terminals),
                "alternatives": sum(len(r.alternatives) for r in self.rules.values()),
                "symbols": sum(len(a) for r in self.rules.values() for a in r.alternatives)}

    def nullable_rules(self) -> set[str]:
        """Rules that derive the empty string (fixpoint over the alternatives)."""
        return self._fixpoint(set())

    # -- checks ------------------------------------------------------------------------------
    def _where(self, rule_or_terminal: str) -> str | None:
        item = self.rules.get(rule_or_terminal) or self.terminals.get(rule_or_terminal)
        origin = getattr(item, "origin", None)
        return str(origin) if origin else None

    def _check_names(self) -> None:
        clash = set(self.rules) & set(self.terminals)
        if clash:
            name = sorted(clash)[0]
            raise GrammarError(f"{self.name}: {name!r} is both a rule and a terminal",
                               name=self._where(name))
        if self.start not in self.rules:
            raise GrammarError(f"{self.name}: start rule {self.start!r} is not defined")
        for t in self.ignore:
            if t not in self.terminals:
                raise GrammarError(f"{self.name}: ignored terminal {t!r} is not defined")

    def _check_references(self) -> None:
        for rule in self.rules.values():
            for alt in rule.alternatives:
                for sym in alt:
                    if self.symbol_kind(sym) == "undefined":
                        raise GrammarError(f"{self.name}: rule {rule.name!r} uses undefined "
                                           f"symbol {sym!r}", name=self._where(rule.name))

    def _productive(self) -> set[str]:
        """Rules deriving at least one finite string (fixpoint); terminals with a pattern or
        declared ones count as productive."""
        return self._fixpoint(set(self.terminals))

    def _fixpoint(self, known: set[str]) -> set[str]:
        """Grow `known` by every rule with an alternative made only of known symbols."""
        return derivable({n: r.alternatives for n, r in self.rules.items()}, known)

    def _unreachable_warnings(self) -> list[GrammarWarning]:
        seen, stack = {self.start}, [self.start]
        while stack:
            for alt in self.rules[stack.pop()].alternatives:
                for sym in alt:
                    if sym in self.rules and sym not in seen:
                        seen.add(sym)
                        stack.append(sym)
        used = {s for r in seen for alt in self.rules[r].alternatives for s in alt}
        out = [GrammarWarning(f"rule {r!r} is unreachable from {self.start!r}",
                              self.rules[r].origin) for r in self.rules if r not in seen]
        out += [GrammarWarning(f"terminal {t!r} is never used", self.terminals[t].origin)
                for t in self.terminals if t not in used and t not in self.ignore]
        return out
