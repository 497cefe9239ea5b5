r"""Lark EBNF -> grammar IR (`load_lark`, `load_lark_file`).

Lark's own grammar loader does all the grammar-level work, so imports (`%import common.X`,
relative imports), templates, `?rule`/`!rule`, `%ignore`, `%declare`, priorities and
`%override`/`%extend` mean exactly what they mean in Lark: `GrammarBuilder.load_grammar()` +
`build()` give a `lark.load_grammar.Grammar`, and its `compile([start], ())` turns EBNF into
BNF (helper rules such as `__start_star_0`, template instances such as `_sep{item,COMMA}`,
anonymous terminals such as `LPAR` / `__ANON_0`) and terminal trees into `PatternStr` /
`PatternRE` objects. This module only translates those into the IR:

* every compiled Lark rule with the same origin becomes one `Rule` (Lark's names kept), pruned
  to what `start` reaches; rule *priorities* and tree shaping (`?`, `!`, aliases) do not
  change the language and are dropped (priorities with a warning);
* every used terminal becomes a `Terminal` whose pattern is a regex in grammask's dialect
  that lexes like Lark's terminal (see "Regex semantics" below); `%declare`d terminals get
  `pattern=None`; `%ignore` fills `Grammar.ignore`;
* a terminal X whose pattern matches the empty string (a lexer cannot emit empty lexemes)
  becomes X minus the empty string, and its uses go through a helper rule `__X_opt: X | ε`
  (with a warning; an X matching only "" disappears, its uses becoming ε).

Lexing semantics assumed (`grammask.automata.lexer`): a lexeme grows while some candidate
terminal (those the parser accepts next, plus `%ignore`) can extend it by the next byte and
ends exactly when none can -- longest match with *no backtracking* to a shorter match; ties
go to the higher priority, then to literal terminals. "Exact" below means: that lexer, given
the rewritten patterns, splits and classifies every input as it would if it could evaluate
the original Python regexes (lookaround included) on the text.

Regex semantics. Lark matches terminals with Python's `re`, grammask's dialect differs in
places that change languages, so patterns are rewritten rather than copied:

1. `\d \w \s` (and `\D \W \S`) are Unicode classes in Python but ASCII/ECMA in grammask:
   they are replaced by explicit code-point ranges computed from Python's `re` itself.
2. Lark's lexer uses `re.match`, so a lazy quantifier (`".*?"`, `/\*(.|\n)*?\*/`) stops at
   its first match, while grammask's longest-match lexer reads quantifiers as greedy. The
   pattern is rewritten structurally, so that its longest match is Python's first match:
   * a sequence ending in the lazy part (`"x*?"`, `[ubf]?r?("..."|'...')`) becomes its
     *shortest-match language* (strings with no proper prefix in the language: built on the
     code-point DFA, turned back into a regex by state elimination) -- `re.match` returns
     the shortest such prefix for these delimiter idioms;
   * `A B` where B has no lazy quantifier and matches "" (REGEXP's `/.../` + `[imslux]*`):
     B cannot fail, so Python never backtracks into A: shortest-match(A) followed by B
     (used only when that A is prefix-free, so the split point is unique);
   * an alternation whose branches start with pairwise different characters and do not match
     "" (SynCode's COMMENT: a long string | `#...`): only one branch can apply at a position,
     each is rewritten on its own;
   * a greedy `( )*`, `( )+` or `( )?` at the end of the pattern (SynCode's `_NL`): the loop
     can always stop, so Python never backtracks into an earlier iteration; each iteration is
     its body's first match, and the body is rewritten on its own;
   anything else falls back to the shortest-match language of the whole pattern (a pattern
   mixing lazy and greedy repetition gets a warning, as the result can differ from Python's
   backtracking match).

Lookaround is not regular in general; these rewrites remove the cases the shared grammars
use, each exact as argued here, and any other lookaround, backreference, `\b` etc. raises a
`GrammarError` naming the terminal and its location:

R1. `.*?(?<!\\)(\\\\)*?` (Lark's ESCAPED_STRING, Python string terminals) -> `(?:[^\\\n]|\\.)*?`
    (`[^\\]` under `s`): "anything up to a delimiter preceded by an even run of backslashes"
    is "characters, where a backslash always takes the next character with it". With 2 the
    string becomes `"(?:[^\n"\\]|\\[^\n])*"`.
R2. `(C(?!D)|[^C])*CD` with C, D single characters (Verilog's `/\*(\*(?!\/)|[^*])*\*\//`)
    -> `(?:[^C]|C+[^CD])*C+D`: the lookahead only ever looks at a character of the lexeme
    (the loop is followed by CD), so it says "no C directly followed by D before the final
    CD"; the loop cannot cross a CD, so Python's match ends at the first CD, and the
    replacement is the classic regex for exactly those strings.
R3. `D(?!D)(X)*?D` with X not matching "" and unable to start with D (lark.lark's REGEXP
    `/\/(?!\/)(...)*?\/`) -> `D(X)+?D`: the character after the opening D is X's first
    character when the loop runs at least once (never D: lookahead true) and the closing D
    when it runs zero times (lookahead false), so the lookahead means "at least one X".
R4. A negative lookahead `(?!Y)`, Y a string of one to three character sets (Python's
    `"(?!"")` and `'(?!'')`, python.lark's zero `"0" ... /(?![1-9])/`, lark.lark's
    `[?](?![a-z])`), is dropped when the grammar makes it redundant for a longest-match
    lexer. The pattern is compiled with a marker character (a Unicode noncharacter,
    U+FDD0..U+FDEF, excluded from every other atom) in place of the lookahead; its DFA is
    walked up to every marker in step with the DFAs of the terminals that are *certainly*
    candidates wherever this terminal T is (ignored terminals; terminals that can come next
    after the same prefix of one of the rule's alternatives, in every context the rule occurs
    in -- a greatest fixpoint over the grammar, see `_Context`). At each marker, with u the
    text before it:
    (i) T cannot read all of Y right after the marker (so the lookahead only ever looks past
        the end of the lexeme: dropping it changes which lexemes T accepts, never how T
        extends one);
    (ii) wherever T accepts u + y1..yj (j < |Y|), for every continuation Y = y1..yk: some
        certain co-candidate is still alive on u + Y -- so the lexeme cannot end at
        u + y1..yj: it grows past, where T (by (i)) is dead, exactly as if T had rejected it
        -- or else no terminal that may follow this use of T (FOLLOW, declared terminals
        seen through), nor any ignored terminal, can start with y(j+1): then ending T there
        leaves text that nothing can lex, and the input is rejected at that character with
        or without the lookahead.
    For Python strings, (ii) holds because LONG_STRING (same prefixes, `string: STRING |
    LONG_STRING`) is alive after a prefix and three quotes; in match-case patterns, where
    STRING appears alone, nothing that can follow a pattern starts with a quote. For the zero,
    FLOAT_NUMBER and IMAG_NUMBER are alive after zeros and a digit (`01.5`, `01j`); for
    lark.lark's `?`, RULE (`?rule`) can follow an `atom` in every context. A condition that
    fails raises a `GrammarError` saying which lexeme and continuation break it. Under a lexer
    that *does* back off to a shorter match when a lexeme dies, R4 is exact only on inputs
    where the longer lexeme completes (e.g. a triple-quoted string that is closed).
R5. A one-character lookbehind right after a one-character atom is decided by that atom
    alone: SynCode's LONG_STRING has `(?<!\\)` right after a quote, always true, so it is
    dropped; one that is always false, or depends on the text, stays and raises.

Every error (Lark's syntax errors, undefined symbols, missing imports, unsupported regexes)
is a `GrammarError` carrying the file and, where it can be found, line and column.
"""
from __future__ import annotations

import os
import pkgutil
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from itertools import chain, product

import numpy as np
from lark.exceptions import UnexpectedInput
from lark.grammar import Rule as LarkRule
from lark.lexer import Pattern, PatternStr, TerminalDef
from lark.load_grammar import Grammar as LarkGrammar
from lark.load_grammar import GrammarBuilder, PackageResource

from ..automata import ByteDFA, CharSet, compile_regex_dfa, parse_regex
from ..automata.dfa import _Alphabet, _minimize, _trim, code_point_dfa
from ..automata.regex_parser import negate, normalize
from ..errors import GrammarError, LimitExceededError
from ..limits import DEFAULT_LIMITS, Limits, checkpoint, interruptible
from .ir import Grammar, GrammarWarning, Rule, SourcePos, Terminal

__all__ = ["load_lark", "load_lark_file"]

Ranges = tuple[tuple[int, int], ...]
MAX_SHORTEST_MATCH_REGEX = 50_000   # characters; the state-elimination output is bounded


# ============================================================================= public API
def load_lark(text: str, *, start: str = "start", name: str = "<grammar>",
              import_paths: list[str] | None = None,
              limits: Limits = DEFAULT_LIMITS) -> Grammar:
    """Compile Lark EBNF `text` to the IR, rooted at rule `start`.

    `name` is used in error messages and source positions; when it is a file path, relative
    imports (`%import .other.rule`) resolve next to it (otherwise against the current
    directory, as Lark does). `import_paths` are searched before Lark's standard library.
    `limits.max_grammar_rules` also bounds the alternatives Lark's EBNF expansion creates
    (checked on the rule trees *before* Lark expands them: `a? b? c? ...` doubles per item).
    Raises `GrammarError` for every problem; warnings end up in `Grammar.warnings`."""
    if not isinstance(text, str):
        raise GrammarError(f"Lark grammar text must be a str, not {type(text).__name__}",
                           name=name)
    src = _Source(text, name)
    lark_grammar, terminals, lark_rules = _run_lark(src, start, list(import_paths or []),
                                                    limits)
    checkpoint("the Lark front end")
    alternatives, priorities = _collect_rules(lark_rules)
    alternatives = _reachable(alternatives, start)
    origins = _Origins(src, lark_grammar)
    origins.propagate(alternatives)
    ignore = tuple(lark_grammar.ignore)
    needed = {s for alts in alternatives.values() for alt in alts for s in alt} | set(ignore)
    declared = [n for n, (tree, _p) in lark_grammar.term_defs if tree is None and n in needed]
    ir_terms, warnings, pending = _convert_terminals(
        [t for t in terminals if t.name in needed], declared, origins, src, limits)
    alternatives, ir_terms, ignore, empty = _split_empty_terminals(alternatives, ir_terms,
                                                                   ignore, origins)
    rules = {n: Rule(n, tuple(alts), origins.get(n)) for n, alts in alternatives.items()}
    grammar = Grammar(start, rules, ir_terms, ignore, name)
    warnings += empty + _priority_warnings(priorities, alternatives, origins)
    grammar.warnings = grammar.check() + warnings
    _check_lookaheads(grammar, pending, src)
    return grammar


def load_lark_file(path: str | os.PathLike[str], *, start: str = "start",
                   limits: Limits = DEFAULT_LIMITS) -> Grammar:
    """`load_lark` on a file; its path names it and anchors its relative imports."""
    fspath = os.fspath(path)
    try:
        with open(fspath, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise GrammarError(f"cannot read grammar file: {exc}", name=fspath) from exc
    return load_lark(text, start=start, name=fspath, limits=limits)


# ============================================================================= source text
@dataclass
class _Source:
    """The grammar text and its name, with the position searches errors and origins need."""

    text: str
    name: str

    def pos(self, offset: int | None) -> SourcePos | None:
        if offset is None:
            return None
        line = self.text.count("\n", 0, offset) + 1
        return SourcePos(line, offset - (self.text.rfind("\n", 0, offset) + 1) + 1, self.name)

    def offset(self, line: int, column: int) -> int:
        """0-based offset of a 1-based line/column (clamped to the text)."""
        starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        base = starts[min(max(line, 1), len(starts)) - 1]
        return min(base + max(column, 1) - 1, len(self.text))

    def definitions(self, name: str) -> list[int]:
        """Offsets of the name in `name: ...` / `?name.2: ...` / `%override name: ...` (Lark
        does not keep positions for terminal names, imported or generated symbols)."""
        rx = re.compile(rf"^[ \t]*(?:%(?:override|extend)[ \t]+)?[?!]?({re.escape(name)})"
                        rf"(?=[ \t]*(?:\.[ \t]*-?\d+[ \t]*)?(?:\{{[^}}\n]*\}}[ \t]*)?:)", re.MULTILINE)
        return [m.start(1) for m in rx.finditer(self.text)]

    def definition(self, name: str) -> int | None:
        found = self.definitions(name)
        return found[0] if found else None

    def statement(self, keyword: str, name: str | None = None, nth: int = 0) -> int | None:
        """Offset of the `nth` `%keyword` statement (mentioning `name`, when given)."""
        tail = rf"[^\n]*?\b{re.escape(name)}\b" if name else ""
        found = list(re.finditer(rf"^[ \t]*(%{keyword}\b){tail}", self.text, re.MULTILINE))
        return found[nth].start(1) if nth < len(found) else None

    def usage(self, name: str, inside: str) -> int | None:
        """Offset of the first use of `name` after the definition of `inside`."""
        begin = self.definition(inside)
        if begin is None:
            return None
        m = re.compile(rf"(?<![\w.]){re.escape(name)}\b").search(self.text, begin + len(inside))
        return m.start() if m else begin


# ============================================================================= running Lark
def _run_lark(src: _Source, start: str, import_paths: list[str],
              limits: Limits = DEFAULT_LIMITS) -> tuple[LarkGrammar, list[TerminalDef],
                                                        list[LarkRule]]:
    """Lark's loader and EBNF compiler; every exception they raise becomes a GrammarError
    (Lark raises GrammarError, UnexpectedInput, FileNotFoundError and, on some malformed
    input, plain Python errors from its internals -- RecursionError on deep nesting too).
    Lark's code has no checkpoints of its own, so it runs `interruptible`."""
    paths: list[str | Callable[..., tuple[str, str]]] = list(import_paths)
    builder = GrammarBuilder(False, paths)
    try:
        with interruptible("Lark's grammar loader"):
            builder.load_grammar(src.text, src.name)
            lark_grammar = builder.build()
            _check_start(lark_grammar, start, src)
            _check_expansion(lark_grammar, limits, src)
            terminals, rules, _ignore = lark_grammar.compile([start], ())
    except GrammarError:
        raise
    except RecursionError as exc:
        raise LimitExceededError("max_nesting", limits.max_nesting + 1, limits.max_nesting,
                                 "the Lark grammar is nested too deeply", src.text, None
                                 ) from exc
    except Exception as exc:
        raise _from_lark_error(exc, src, list(builder.used_files)) from exc
    if len(rules) > limits.max_grammar_rules:
        raise LimitExceededError("max_grammar_rules", len(rules), limits.max_grammar_rules,
                                 "Lark's EBNF expansion produced too many alternatives")
    return lark_grammar, terminals, rules


_EXPANSION_CAP = 1 << 62


def _check_expansion(lark_grammar: LarkGrammar, limits: Limits, src: _Source) -> None:
    """Estimate the alternatives Lark's `compile` will create (optional items `x?`/`[x]` and
    inline groups multiply an alternative's expansions, `x~m..n` adds one per count) and
    refuse before Lark spends exponential time and memory creating them."""
    bound = limits.max_grammar_rules
    total = 0
    for name, _params, tree, _opts in lark_grammar.rule_defs:
        if tree is None:
            continue
        n = _alternatives(tree, 0, limits)
        total = min(total + n, _EXPANSION_CAP)
        if total > bound:
            raise LimitExceededError(
                "max_grammar_rules", total, bound,
                f"Lark's EBNF expansion of rule {str(name)!r} (optional items and groups "
                f"multiply its alternatives) would produce too many alternatives", src.text,
                src.definition(str(name)))


def _alternatives(node: object, depth: int, limits: Limits) -> int:
    """Upper estimate of the BNF alternatives one rule tree expands to (helper rules of
    `*`/`+` included), capped at _EXPANSION_CAP."""
    if depth > limits.max_nesting:
        raise LimitExceededError("max_nesting", depth, limits.max_nesting,
                                 "the Lark grammar's rules are nested too deeply")
    data = getattr(node, "data", None)
    children = getattr(node, "children", None)
    if data is None or children is None:
        return 1
    if data == "expansions":
        return min(sum(_alternatives(c, depth + 1, limits) for c in children), _EXPANSION_CAP)
    if data == "expansion":
        out = 1
        for c in children:
            out = min(out * _alternatives(c, depth + 1, limits), _EXPANSION_CAP)
        return out
    if data == "maybe":
        return min(_alternatives(children[0], depth + 1, limits) + 1, _EXPANSION_CAP)
    if data == "expr" and len(children) >= 2:
        inner = _alternatives(children[0], depth + 1, limits)
        op = str(children[1])
        if op == "?":
            return min(inner + 1, _EXPANSION_CAP)
        if op == "~":
            nums = [int(str(c)) for c in children[2:] if str(c).isdigit()]
            lo, hi = (nums[0], nums[-1]) if nums else (1, 1)
            if hi - lo > limits.max_repeat or hi > limits.max_repeat:
                raise LimitExceededError("max_repeat", hi, limits.max_repeat,
                                         "a Lark repetition x~m..n is too large")
            out = 0
            for k in range(lo, hi + 1):
                out = min(out + min(inner ** min(k, 64), _EXPANSION_CAP), _EXPANSION_CAP)
            return max(out, 1)
        return 1                                  # x* / x+: a helper rule of its own
    if data in ("alias", "value"):
        return _alternatives(children[0], depth + 1, limits) if children else 1
    return 1


def _check_start(lark_grammar: LarkGrammar, start: str, src: _Source) -> None:
    """Lark's compile() silently yields nothing for an unknown start rule, and crashes on a
    `%declare`d rule; say what is wrong instead."""
    for name, _params, tree, _opts in lark_grammar.rule_defs:
        if tree is None:
            raise GrammarError(f"rule {str(name)!r} is declared (%declare) but never defined; "
                               f"only terminals can be declared", src.text,
                               src.statement("declare", str(name)), src.name)
    rules = {str(n): params for n, params, _t, _o in lark_grammar.rule_defs}
    if start in rules and not rules[start]:
        return
    known = ", ".join(sorted(n for n, p in rules.items() if not p and not n.startswith("_")))
    why = "is a template" if start in rules else "is not defined"
    raise GrammarError(f"start rule {start!r} {why} (rules: {known or 'none'})", name=src.name)


def _from_lark_error(exc: Exception, src: _Source, imported: list) -> GrammarError:
    """Translate a Lark exception, locating it in the grammar text when possible.

    Only syntax errors carry a line and column, and Lark parses each imported file right
    after recording it in `used_files`, before anything else can fail: so a syntax error
    lies in the last file imported so far (or in the main text when there is none)."""
    message = _lark_message(exc)
    m = re.search(r"at line (\d+),? column (\d+)", str(exc))
    line_col = (exc.line, exc.column) if isinstance(exc, UnexpectedInput) else \
        (int(m.group(1)), int(m.group(2))) if m else None
    if line_col is None:
        return GrammarError(message, src.text, _guess_offset(exc, message, src), src.name)
    where = (_imported_source(imported[-1]) if imported else None) or src
    offset = where.offset(*line_col)
    if message == "Unexpected input" and offset < len(where.text):
        message = f"unexpected character {where.text[offset]!r}"
    return GrammarError(message, where.text, offset, where.name)


def _lark_message(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return (f"cannot import {exc.filename!r}: not found in the import paths, next to the "
                f"grammar, or in Lark's standard library")
    text = str(exc)
    if not isinstance(exc, UnexpectedInput):
        text = text.split("\n\n")[0]
    text = " ".join(text.split())
    text = re.sub(r",? at line \d+,? column \d+( in .*?:$)?", "", text)
    if type(exc).__module__.startswith("lark"):
        return text
    return f"Lark failed to process the grammar ({type(exc).__name__}: {text})"


def _imported_source(path: object) -> _Source | None:
    """The text of an imported grammar: a file, or a `PackageResource` (Lark's stdlib)."""
    try:
        if isinstance(path, PackageResource):
            data = pkgutil.get_data(path.pkg_name, path.path)
            return _Source(data.decode("utf-8"), f"{path.pkg_name}/{path.path}") if data else None
        with open(str(path), encoding="utf-8") as f:
            return _Source(f.read(), str(path))
    except (OSError, UnicodeDecodeError):
        return None


def _guess_offset(exc: Exception, message: str, src: _Source) -> int | None:
    """Lark's semantic errors carry no position; find the statement they are about."""
    if isinstance(exc, FileNotFoundError) and exc.filename:
        dotted = str(exc.filename).removesuffix(".lark").replace(os.sep, ".")
        return src.statement("import", dotted.split(".")[-1])
    m = re.search(r"'([\w$]+)' used but not defined \(in \w+ ([\w$]+)\)", message)
    if m:
        found = src.statement("import", m.group(1))
        return found if found is not None else src.usage(m.group(1), m.group(2))
    m = re.search(r"'([\w$]+)' defined more than once", message)
    if m:
        defs = src.definitions(m.group(1))
        return defs[1] if len(defs) > 1 else (defs[0] if defs else None)
    for quoted, named in re.findall(r"'([\w$]+)'|\b(?:[Rr]ule|[Tt]erminal) ([\w$]+)", message):
        name = quoted or named
        for where in (src.definition(name), src.statement("(?:override|extend|ignore|import)",
                                                            name)):
            if where is not None:
                return where
    return None


# ============================================================================= rules
def _collect_rules(lark_rules: list[LarkRule]) -> tuple[dict[str, list[tuple[str, ...]]],
                                                       dict[str, int]]:
    """Merge Lark's one-expansion rules per origin, keeping expansion order; also collect
    rule priorities (`rule.2: ...`), which the IR has no place for."""
    alternatives: dict[str, dict[tuple[str, ...], None]] = {}   # ordered sets
    priorities: dict[str, int] = {}
    for r in lark_rules:
        origin = str(r.origin.name)
        alt = tuple(str(s.name) for s in r.expansion)
        alternatives.setdefault(origin, {})[alt] = None
        if r.options and r.options.priority:
            priorities[origin] = r.options.priority
    return {n: list(alts) for n, alts in alternatives.items()}, priorities


def _reachable(alternatives: dict[str, list[tuple[str, ...]]],
               start: str) -> dict[str, list[tuple[str, ...]]]:
    """Rules reachable from `start`, in the order they are first reached (Lark keeps rules
    that merely *are used*, e.g. by an unreachable cycle)."""
    order, stack = [start], [start]
    seen = {start}
    while stack:
        for alt in alternatives.get(stack.pop(), ()):
            for sym in alt:
                if sym in alternatives and sym not in seen:
                    seen.add(sym)
                    order.append(sym)
                    stack.append(sym)
    return {n: alternatives[n] for n in order if n in alternatives}


def _priority_warnings(priorities: dict[str, int], alternatives: dict,
                       origins: _Origins) -> list[GrammarWarning]:
    return [GrammarWarning(f"rule {n!r} has priority {p}; the IR keeps the language but not "
                           f"Lark's rule priorities (ambiguity resolution)", origins.get(n))
            for n, p in priorities.items() if n in alternatives]


class _Origins:
    """Source positions: Lark keeps them for rule names defined in the main text (as Token
    line/column); terminals are found by searching the text, imported symbols at their
    `%import`, `%ignore /re/` terminals at their statement, and generated helpers (EBNF
    helpers, template instances, anonymous terminals) inherit the position of the first
    rule that uses them."""

    def __init__(self, src: _Source, lark_grammar: LarkGrammar) -> None:
        self.src = src
        self.known: dict[str, SourcePos | None] = {}
        for name, _params, _tree, _opts in lark_grammar.rule_defs:
            line, column = getattr(name, "line", None), getattr(name, "column", None)
            if line and column:                 # a lark Token: defined in the main text
                self.known[str(name)] = SourcePos(line, column, src.name)

    def get(self, name: str) -> SourcePos | None:
        if name not in self.known:
            self.known[name] = self.src.pos(self._search(name))
        return self.known[name]

    def _search(self, name: str) -> int | None:
        m = re.fullmatch(r"__IGNORE_(\d+)", name)
        if m:
            return self.src.statement("ignore", nth=int(m.group(1)))
        found = self.src.definition(name)
        return found if found is not None else self.src.statement("import", name)

    def propagate(self, alternatives: dict[str, list[tuple[str, ...]]]) -> None:
        for rule, alts in alternatives.items():   # in reachability order from the start
            origin = self.get(rule)
            for sym in (s for alt in alts for s in alt):
                if self.get(sym) is None and origin is not None:
                    self.known[sym] = origin


# ============================================================================= terminals
@dataclass
class _Pending:
    """A terminal whose negative lookaheads were dropped (rewrite R4), awaiting the
    grammar-level check: `marked` is its pattern with each dropped lookahead replaced by a
    marker character (`_Mark.cp`)."""

    name: str
    marked: str
    marks: list[_Mark]
    origin: SourcePos | None


def _convert_terminals(term_defs: list[TerminalDef], declared: list[str], origins: _Origins,
                       src: _Source, limits: Limits = DEFAULT_LIMITS
                       ) -> tuple[dict[str, Terminal], list[GrammarWarning],
                                              list[_Pending]]:
    """IR terminals in Lark's order, declared (post-lexer) ones last; plus the terminals
    whose dropped lookaheads still need the grammar-level check."""
    terminals: dict[str, Terminal] = {}
    warnings: list[GrammarWarning] = []
    pending: list[_Pending] = []
    for tdef in term_defs:
        origin = origins.get(tdef.name)
        checkpoint("the Lark front end's terminals")
        conv = _terminal_pattern(tdef, origin, src, limits)
        terminals[tdef.name] = Terminal(tdef.name, conv.pattern, tdef.priority, conv.literal,
                                        origin)
        warnings += [GrammarWarning(f"terminal {tdef.name!r}: {n}", origin) for n in conv.notes]
        if conv.marks:
            assert conv.marked is not None
            pending.append(_Pending(tdef.name, conv.marked, conv.marks, origin))
    for name in declared:
        origin = origins.get(name)
        terminals[name] = Terminal(name, None, 0, None, origin)
        warnings.append(GrammarWarning(f"terminal {name!r} is declared (%declare): it has no "
                                       f"pattern and must come from a post-lexer", origin))
    return terminals, warnings, pending


@dataclass
class _Converted:
    pattern: str
    literal: str | None = None
    notes: list[str] = field(default_factory=list)
    marked: str | None = None
    marks: list[_Mark] = field(default_factory=list)


def _terminal_pattern(tdef: TerminalDef, origin: SourcePos | None,
                      src: _Source, limits: Limits = DEFAULT_LIMITS) -> _Converted:
    """The IR pattern (and literal text, warning notes, dropped lookaheads) of one terminal."""
    lark_pattern = tdef.pattern
    try:
        re.compile(lark_pattern.to_regexp())
    except re.error as exc:
        raise _terminal_error(tdef.name, origin, src, f"Python's re (hence Lark) rejects "
                              f"/{lark_pattern.to_regexp()}/: {exc}") from exc
    conv = _Converted("")
    try:
        conv = _translate(lark_pattern)
        compile_regex_dfa(conv.pattern, limits)
        if conv.marked is not None:
            compile_regex_dfa(conv.marked, limits)
    except LimitExceededError as exc:          # keep the type: it names the limit to raise
        where = f" ({origin})" if origin else ""
        raise LimitExceededError(exc.limit, exc.value, exc.maximum,
                                 f"in terminal {tdef.name}{where}", src.text,
                                 src.offset(origin.line, origin.column) if origin else None
                                 ) from exc
    except GrammarError as exc:
        raise _terminal_error(tdef.name, origin, src,
                              _regex_problem(exc, lark_pattern, conv.pattern)) from exc
    return conv


def _terminal_error(name: str, origin: SourcePos | None, src: _Source,
                    problem: str) -> GrammarError:
    """'terminal NAME (file:line:col): problem', positioned at the definition."""
    where = str(origin) if origin else src.name
    offset = src.offset(origin.line, origin.column) if origin else None
    return GrammarError(f"terminal {name} ({where}): {problem}", src.text if origin else None,
                        offset, src.name)


def _regex_problem(exc: GrammarError, lark_pattern: Pattern, translated: str) -> str:
    """The regex error, with its offset when that is an offset into Lark's own regex (the
    Unicode-class and idiom rewrites move offsets)."""
    original = lark_pattern.to_regexp()
    at = f" at offset {exc.position}" if exc.position is not None and translated == original \
        else ""
    return f"{exc.message}{at} in /{original}/"


def _translate(lark_pattern: Pattern) -> _Converted:
    """Lark pattern -> IR pattern. Flags become scoped groups, as Lark's own `to_regexp()`
    does: `i` and `s` are honoured, `m` and `u` change nothing under grammask's full-match
    semantics (anchors are only allowed where they are no-ops), `x` and `l` cannot be
    honoured. Regex terminals then go through the lookaround rewrites and the lazy-quantifier
    resolution (module docstring)."""
    flags = sorted(lark_pattern.flags)
    for flag in flags:
        if flag not in "isum":
            raise GrammarError(f"regex flag {flag!r} is not supported")
    if isinstance(lark_pattern, PatternStr):
        body = _escape_literal(lark_pattern.value)
        for flag in flags:
            if flag in "is":
                body = f"(?{flag}:{body})"
        return _Converted(body, lark_pattern.value if not flags else None)
    body = _unicode_classes(lark_pattern.value)
    for flag in flags:
        if flag in "is":
            body = f"(?{flag}:{body})"
    try:
        tree = _StructureParser(body).parse()
    except (ValueError, IndexError, AttributeError):   # unusual syntax: grammask's parser
        resolver = _LazyResolver(marks=False)            # reports what it cannot read
        return _Converted(resolver.shortest(body, frozenset(), outer=True)
                          if _has_lazy(body) else body, notes=resolver.notes)
    initial = _global_flags(tree)
    rewriter = _Rewriter()
    rewriter.run(tree, initial)
    conv = _Converted(_text_alt(tree, marks=False), notes=rewriter.notes,
                      marks=rewriter.marks)
    marked = _without_markers(tree, initial) if conv.marks else None
    if marked is not None:
        conv.marked = _text_alt(marked, marks=True)
    if _node_has_lazy(tree):
        resolver = _LazyResolver(marks=False)
        conv.pattern = resolver.run(tree, initial)
        conv.notes += resolver.notes
        if marked is not None:
            conv.marked = _LazyResolver(marks=True).run(marked, initial)
    return conv


def _escape_literal(text: str) -> str:
    """A regex matching exactly `text`, readable and valid in both grammask and Python."""
    out = []
    for ch in text:
        if ch.isalnum() and ch.isprintable() or ch in "_ ":
            out.append(ch)
        elif " " < ch < "\x7f":
            out.append("\\" + ch)
        else:
            out.append(_escape_cp(ord(ch)))
    return "".join(out)


def _escape_cp(cp: int) -> str:
    """One code point as a regex atom (usable inside a class too)."""
    ch = chr(cp)
    if ch.isascii() and (ch.isalnum() or ch == "_"):
        return ch
    if 0x20 < cp < 0x7F:
        return "\\" + ch
    if cp < 0x100:
        return f"\\x{cp:02x}"
    return f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}"


# ----------------------------------------------------------------------------- regex scanning
_Tok = tuple[str, int, bool]   # (text, offset, inside a character class)


def _scan(pattern: str) -> Iterator[_Tok]:
    """Python-regex tokens: `\\X` escapes, class brackets, single characters."""
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            yield pattern[i:i + 2], i, in_class
            i += 2
            continue
        if not in_class and ch == "[":
            j = i + 1 + (pattern[i + 1:i + 2] == "^")
            yield pattern[i:j], i, False
            in_class, i = True, j
            if pattern[i:i + 1] == "]":          # a leading ']' is a literal
                yield "]", i, True
                i += 1
            continue
        if in_class and ch == "]":
            in_class = False
        yield ch, i, in_class
        i += 1


def _quantifier_ends(pattern: str) -> list[tuple[int, bool]]:
    """(offset of each quantifier's last character, whether it is followed by '?' = lazy)."""
    out: list[tuple[int, bool]] = []
    toks = list(_scan(pattern))
    brace = -1                                # offset of the last unescaped '{'
    for k, (tok, i, in_class) in enumerate(toks):
        if in_class or len(tok) != 1 or tok not in "*+?{}":
            continue
        if tok == "{":
            brace = i
            continue
        prev = toks[k - 1][0] if k else ""
        if tok == "?" and (prev == "(" or (out and out[-1][0] == i - 1)):
            continue                          # group extension, or the lazy mark itself
        if tok == "}" and not (brace >= 0 and re.fullmatch(r"\{(?:\d+,?\d*|,\d+)\}",
                                                            pattern[brace:i + 1])):
            continue                          # a literal brace
        out.append((i, pattern[i + 1:i + 2] == "?"))
    return out


def _has_lazy(pattern: str) -> bool:
    return any(lazy for _i, lazy in _quantifier_ends(pattern))


def _has_greedy_repeat(pattern: str) -> bool:
    """A variable-count greedy quantifier (`*`, `+`, `?`, `{m,n}`) next to a lazy one."""
    return any(not lazy and not re.search(r"\{\d+\}$", pattern[:i + 1])
               for i, lazy in _quantifier_ends(pattern))


# ----------------------------------------------------------------------------- rewrites
@cache
def _python_class(letter: str, ascii_only: bool) -> Ranges:
    """Code points Python's `re` matches with `\\d`, `\\w` or `\\s` in a str pattern, found by
    running `re` over every scalar value (text index i is code point i, or i + 0x800 past
    the surrogate gap)."""
    text = "".join(map(chr, chain(range(0xD800), range(0xE000, 0x110000))))

    def cp(i: int) -> int:
        return i if i < 0xD800 else i + 0x800

    flags = re.ASCII if ascii_only else 0
    return normalize((cp(m.start()), cp(m.end() - 1))
                     for m in re.finditer(rf"\{letter}+", text, flags))


@cache
def _class_items(escape: str, ascii_only: bool) -> str:
    """Explicit class items (no brackets) for `\\d \\w \\s \\D \\W \\S` with Python's meaning."""
    ranges = _python_class(escape[1].lower(), ascii_only)
    if escape[1].isupper():
        ranges = negate(ranges)
    return _range_items(ranges)


def _range_items(ranges: Ranges) -> str:
    return "".join(_escape_cp(lo) if lo == hi else
                   f"{_escape_cp(lo)}{'-' if hi > lo + 1 else ''}{_escape_cp(hi)}"
                   for lo, hi in ranges)


def _unicode_classes(pattern: str) -> str:
    """Replace `\\d \\w \\s` and their negations by the ranges Python gives them: Unicode,
    or ASCII when the pattern uses the `(?a)` flag (anywhere: a simplification)."""
    ascii_only = "(?a" in pattern
    out = []
    for tok, _i, in_class in _scan(pattern):
        if tok in ("\\d", "\\w", "\\s", "\\D", "\\W", "\\S"):
            items = _class_items(tok, ascii_only)
            out.append(items if in_class else f"[{items}]")
        else:
            out.append(tok)
    return "".join(out)


# ----------------------------------------------------------------------------- shortest match
Rows = list[list[tuple[int, int]]]


def _shortest_match_regex(pattern: str) -> str | None:
    """A regex for the strings of `pattern` that have no proper prefix in its language (what
    `re.match` returns for a lazy delimiter pattern), or None when that is the whole
    language already. Works on the minimal code-point DFA: drop the edges out of accepting
    states, then state-eliminate back to a regex."""
    rows, accepting, alphabet = _code_point_dfa(pattern)
    if not any(accepting[s] and rows[s] for s in range(len(rows))):
        return None
    rows = [[] if accepting[s] else row for s, row in enumerate(rows)]
    rows, accepting = _reachable_states(rows, accepting)
    trimmed = _trim(rows, accepting)
    assert trimmed is not None          # the shortest member of the language survives
    rows, accepting = _minimize(*trimmed, alphabet.num_classes)
    regex = _render(_eliminate(rows, accepting, alphabet), 0)
    if len(regex) > MAX_SHORTEST_MATCH_REGEX:
        raise GrammarError("the lazy quantifier's shortest-match language is too complex "
                           f"to express as a regex ({len(regex)} characters)")
    return regex


def _code_point_dfa(pattern: str) -> tuple[Rows, list[bool], _Alphabet]:
    """Minimal DFA over code-point classes (the first stages of `compile_regex_dfa`)."""
    return code_point_dfa(parse_regex(pattern), pattern)


def _reachable_states(rows: Rows, accepting: list[bool]) -> tuple[Rows, list[bool]]:
    """Renumber to the states reachable from 0 (needed after edges were dropped)."""
    order, ids = [0], {0: 0}
    for s in order:
        for _c, t in rows[s]:
            if t not in ids:
                ids[t] = len(order)
                order.append(t)
    return ([[(c, ids[t]) for c, t in rows[s]] for s in order], [accepting[s] for s in order])


# A tiny regex AST for state elimination: ("set", ranges) | ("eps",) | ("cat", items) |
# ("alt", items) | ("star", item).
Rx = tuple
EPS: Rx = ("eps",)


def _cat(a: Rx, b: Rx) -> Rx:
    items = [x for part in (a, b) for x in (part[1] if part[0] == "cat" else (part,))
             if x != EPS]
    return EPS if not items else items[0] if len(items) == 1 else ("cat", tuple(items))


def _alt(a: Rx | None, b: Rx) -> Rx:
    if a is None:
        return b
    items: list[Rx] = []
    for x in (y for part in (a, b) for y in (part[1] if part[0] == "alt" else (part,))):
        if x not in items:
            items.append(x)
    sets = [x for x in items if x[0] == "set"]
    if len(sets) > 1:
        merged = ("set", _merge_ranges([r for s in sets for r in s[1]]))
        items = [merged] + [x for x in items if x[0] != "set"]
    return items[0] if len(items) == 1 else ("alt", tuple(items))


def _star(a: Rx) -> Rx:
    return a if a == EPS or a[0] == "star" else ("star", a)


def _merge_ranges(ranges: list[tuple[int, int]]) -> Ranges:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _eliminate(rows: Rows, accepting: list[bool], alphabet: _Alphabet) -> Rx:
    """Brzozowski-McCluskey state elimination, cheapest state (in x out edges) first."""
    n = len(rows)
    start, final = n, n + 1
    edges: dict[tuple[int, int], Rx] = {(start, 0): EPS}
    for s, row in enumerate(rows):
        by_target: dict[int, list[int]] = {}
        for c, t in row:
            by_target.setdefault(t, []).append(c)
        for t, classes in by_target.items():
            edges[(s, t)] = ("set", alphabet.ranges_of(tuple(classes)))
        if accepting[s]:
            edges[(s, final)] = EPS
    remaining = set(range(n))
    while remaining:
        k = min(remaining, key=lambda q: sum(1 for i, j in edges if i == q) *
                sum(1 for i, j in edges if j == q))
        remaining.discard(k)
        loop = edges.pop((k, k), None)
        ins = [(i, e) for (i, j), e in edges.items() if j == k]
        outs = [(j, e) for (i, j), e in edges.items() if i == k]
        for key in [key for key in edges if k in key]:
            del edges[key]
        for i, a in ins:
            for j, b in outs:
                path = _cat(_cat(a, _star(loop)) if loop else a, b)
                edges[(i, j)] = _alt(edges.get((i, j)), path)
    return edges.get((start, final), ("set", ()))


def _render(rx: Rx, prec: int) -> str:
    """Regex text; `prec` is what the context binds: 0 an alternative, 1 a concatenation
    item, 2 the operand of a quantifier."""
    kind, items = rx[0], rx[1] if len(rx) > 1 else ()
    if kind == "eps":
        return "(?:)" if prec else ""
    if kind == "set":
        return _render_set(items)
    if kind == "star":
        text = _render(items, 2) + "*"
    elif kind == "cat":
        text = "".join(_render(x, 1) for x in items)
        return f"(?:{text})" if prec > 1 else text
    elif EPS in items:
        rest = tuple(x for x in items if x != EPS)
        text = _render(rest[0] if len(rest) == 1 else ("alt", rest), 2) + "?"
    else:
        text = "|".join(_render(x, 0) for x in items)
        return f"(?:{text})" if prec else text
    return f"(?:{text})" if prec > 1 else text


def _render_set(ranges: Ranges) -> str:
    """One code point, a class, or a negated class when that is shorter."""
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        return _escape_cp(ranges[0][0])
    complement = negate(ranges)
    if complement and len(complement) < len(ranges):
        return f"[^{_range_items(complement)}]"
    return f"[{_range_items(ranges)}]"


# ============================================================================= regex structure
# A small, text-preserving parse of a Python regex: atoms stay verbatim (`_Lit`), groups,
# alternation and quantifiers become nodes, so the rewrites below can look at a terminal's
# structure and render everything they do not touch exactly as written.
@dataclass
class _Lit:
    text: str


@dataclass
class _Mark:
    """A dropped negative lookahead (R4): rendered as the marker character `cp` (a Unicode
    noncharacter) in the marked pattern, as nothing in the final one."""

    cp: int
    chars: tuple[Ranges, ...]        # the characters the lookahead rejects, per position
    text: str                        # the lookahead as written


@dataclass
class _Group:
    open: str                        # "(", "(?:", "(?P<n>", "(?i:", "(?!", "(?<=", ...
    body: _Alt


@dataclass
class _Alt:
    branches: list[list[_Node]]


@dataclass
class _Quant:
    child: _Node
    q: str                           # "*", "+?", "{2,3}", ...

    @property
    def lazy(self) -> bool:
        return len(self.q) > 1 and self.q.endswith("?")

    @property
    def min(self) -> int:
        if self.q[0] in "*?":
            return 0
        if self.q[0] == "+":
            return 1
        m = re.match(r"\{(\d*)", self.q)
        return int(m.group(1) or 0) if m else 0


_Node = _Lit | _Mark | _Group | _Quant
_LOOKAROUND = ("(?=", "(?!", "(?<=", "(?<!")
_QUANT = re.compile(r"(?:[*+?]|\{(?:\d+(?:,\d*)?|,\d+)\})[?+]?")
_SPECIAL_GROUP = re.compile(r"\(\?#[^)]*\)|\(\?[aiLmsux]+\)|\(\?P=\w+\)")
_GROUP_OPEN = re.compile(r"\((?:\?(?:[:!=>]|<[!=]|P<\w+>|[aiLmsux]*(?:-[imsx]+)?:|\(\w+\)))?")
_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|N\{[^}]*\}|"
                     r"0[0-7]{0,2}|[1-7][0-7]{2}|[1-9][0-9]?|.)", re.DOTALL)
_GLOBAL_FLAGS = re.compile(r"\(\?([aiLmsux]+)\)")


class _StructureParser:
    """Python regex text -> `_Alt` (the text was already accepted by Python's `re`)."""

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def parse(self) -> _Alt:
        tree = self.alt()
        if self.pos != len(self.text):
            raise ValueError("unbalanced parenthesis")
        return tree

    def alt(self) -> _Alt:
        branches: list[list[_Node]] = [[]]
        text = self.text
        while self.pos < len(text) and text[self.pos] != ")":
            if text[self.pos] == "|":
                branches.append([])
                self.pos += 1
                continue
            node = self.atom()
            m = _QUANT.match(text, self.pos)
            if m:
                self.pos = m.end()
                node = _Quant(node, m.group())
            branches[-1].append(node)
        return _Alt(branches)

    def atom(self) -> _Node:
        text, i = self.text, self.pos
        ch = text[i]
        if ch == "(":
            m = _SPECIAL_GROUP.match(text, i)
            if m:
                self.pos = m.end()
                return _Lit(m.group())
            m = _GROUP_OPEN.match(text, i)
            assert m is not None
            self.pos = m.end()
            body = self.alt()
            if self.pos >= len(text):
                raise ValueError("unbalanced parenthesis")
            self.pos += 1
            return _Group(m.group(), body)
        if ch == "[":
            j = i + 1 + (text[i + 1:i + 2] == "^")
            j += text[j:j + 1] == "]"
            while text[j] != "]":
                j += 2 if text[j] == "\\" else 1
            self.pos = j + 1
            return _Lit(text[i:j + 1])
        if ch == "\\":
            m = _ESCAPE.match(text, i)
            assert m is not None
            self.pos = m.end()
            return _Lit(m.group())
        self.pos = i + 1
        return _Lit(ch)


def _text(node: _Node | _Alt, marks: bool) -> str:
    if isinstance(node, _Lit):
        return node.text
    if isinstance(node, _Mark):
        return chr(node.cp) if marks else ""
    if isinstance(node, _Group):
        return node.open + _text_alt(node.body, marks) + ")"
    if isinstance(node, _Quant):
        return _text(node.child, marks) + node.q
    return _text_alt(node, marks)


def _text_alt(alt: _Alt, marks: bool) -> str:
    return "|".join(_text_seq(b, marks) for b in alt.branches)


def _text_seq(items: list[_Node], marks: bool) -> str:
    return "".join(_text(n, marks) for n in items)


def _node_has_lazy(node: _Node | _Alt) -> bool:
    if isinstance(node, _Quant):
        return node.lazy or _node_has_lazy(node.child)
    if isinstance(node, _Group):
        return _node_has_lazy(node.body)
    if isinstance(node, _Alt):
        return any(_node_has_lazy(n) for b in node.branches for n in b)
    return False


Flags = frozenset[str]


def _global_flags(tree: _Alt) -> Flags:
    """Flags set by a leading `(?i)`-style group (Python only allows them at the start)."""
    first = tree.branches[0][0] if tree.branches and tree.branches[0] else None
    m = _GLOBAL_FLAGS.fullmatch(first.text) if isinstance(first, _Lit) else None
    return frozenset(m.group(1)) & {"i", "s"} if m else frozenset()


def _group_flags(open_: str, flags: Flags) -> Flags:
    m = re.fullmatch(r"\(\?([aiLmsux]*)(?:-([imsx]+))?:", open_)
    if not m:
        return flags
    return frozenset((flags | set(m.group(1))) - set(m.group(2) or "")) & {"i", "s"}


def _with_flags(text: str, flags: Flags) -> str:
    return f"(?{''.join(sorted(flags))}:{text})" if flags else text


def _atom_chars(node: _Node, flags: Flags) -> Ranges | None:
    """The code points a one-character atom matches under `flags`, else None."""
    if not isinstance(node, _Lit) or _GLOBAL_FLAGS.fullmatch(node.text):
        return None
    try:
        ast = parse_regex(_with_flags(node.text, flags))
    except GrammarError:
        return None
    return ast.ranges if isinstance(ast, CharSet) else None


def _single_cp(node: _Node, flags: Flags) -> int | None:
    chars = _atom_chars(node, flags)
    return chars[0][0] if chars and len(chars) == 1 and chars[0][0] == chars[0][1] else None


def _size(ranges: Ranges) -> int:
    return sum(hi - lo + 1 for lo, hi in ranges)


# ============================================================================= lookaround
MAX_MARKS = 32                 # noncharacters U+FDD0..U+FDEF serve as markers
MAX_LOOKAHEAD_CHARS = 256      # per position of a dropped lookahead


class _Rewriter:
    """The lookaround rewrites R1-R5 of the module docstring, applied in place to every
    sequence of the tree (innermost first); what none of them removes stays in the pattern
    and grammask's regex parser rejects it (a located error)."""

    def __init__(self) -> None:
        self.marks: list[_Mark] = []
        self.notes: list[str] = []

    def run(self, tree: _Alt, flags: Flags) -> None:
        """The exact local rewrites everywhere first, then markers for what R4 may drop."""
        self._walk(tree, flags, [self._escaped_string, self._delimited_comment,
                                 self._non_empty_body, self._trivial_lookbehind])
        self._walk(tree, flags, [self._context_lookahead])

    def _walk(self, alt: _Alt, flags: Flags,
              rules: list[Callable[[list[_Node], Flags], None]]) -> None:
        for items in alt.branches:
            for node in items:
                if isinstance(node, _Quant):
                    node = node.child
                if isinstance(node, _Group):
                    self._walk(node.body, _group_flags(node.open, flags), rules)
            for rule in rules:
                rule(items, flags)

    def _escaped_string(self, items: list[_Node], flags: Flags) -> None:
        r"""R1: `.*?(?<!\\)(\\\\)*?` -> `(?:[^\\\n]|\\.)*?` (`[^\\]` under `s`)."""
        i = 0
        while i + 3 <= len(items):
            if _text_seq(items[i:i + 3], True) == r".*?(?<!\\)(\\\\)*?":
                other = r"[^\\]" if "s" in flags else r"[^\\\n]"
                items[i:i + 3] = [_Quant(_Group("(?:", _Alt([[_Lit(other)],
                                                              [_Lit("\\\\"), _Lit(".")]])),
                                         "*?")]
            i += 1

    def _delimited_comment(self, items: list[_Node], flags: Flags) -> None:
        """R2: `(C(?!D)|[^C])*CD` -> `(?:[^C]|C+[^CD])*C+D` (C, D single characters)."""
        i = 0
        while i + 3 <= len(items):
            loop, c_node, d_node = items[i:i + 3]
            c, d = _single_cp(c_node, flags), _single_cp(d_node, flags)
            if c is not None and d is not None and c != d and isinstance(loop, _Quant) \
                    and loop.q in ("*", "*?") and isinstance(loop.child, _Group) \
                    and loop.child.open in ("(", "(?:") \
                    and self._star_body(loop.child.body, c, d, flags):
                ce, de = _escape_cp(c), _escape_cp(d)
                items[i:i + 3] = [_Lit(f"(?:[^{ce}]|{ce}+[^{ce}{de}])*{ce}+{de}")]
            i += 1

    @staticmethod
    def _star_body(body: _Alt, c: int, d: int, flags: Flags) -> bool:
        """Is `body` `C(?!D)|[^C]` (either order)?"""
        if len(body.branches) != 2:
            return False
        guarded = [b for b in body.branches if len(b) == 2]
        other = [b for b in body.branches if len(b) == 1]
        if len(guarded) != 1 or len(other) != 1:
            return False
        first, look = guarded[0]
        return (_single_cp(first, flags) == c and isinstance(look, _Group)
                and look.open == "(?!" and len(look.body.branches) == 1
                and len(look.body.branches[0]) == 1
                and _single_cp(look.body.branches[0][0], flags) == d
                and _atom_chars(other[0][0], flags) == negate(((c, c),)))

    def _non_empty_body(self, items: list[_Node], flags: Flags) -> None:
        """R3: `D(?!D)(X)*?D` -> `D(X)+?D` when X is not nullable and cannot start with D."""
        i = 0
        while i + 4 <= len(items):
            d_open, look, loop, d_close = items[i:i + 4]
            d = _single_cp(d_open, flags)
            if d is not None and _single_cp(d_close, flags) == d \
                    and isinstance(look, _Group) and look.open == "(?!" \
                    and len(look.body.branches) == 1 and len(look.body.branches[0]) == 1 \
                    and _single_cp(look.body.branches[0][0], flags) == d \
                    and isinstance(loop, _Quant) and loop.q in ("*", "*?"):
                child = compile_regex_dfa(_with_flags(_text(loop.child, False), flags))
                if not child.accepting[child.start] and \
                        child.step(child.start, chr(d).encode()) < 0:
                    items[i + 1:i + 3] = [_Quant(loop.child, "+" + loop.q[1:])]
            i += 1

    def _trivial_lookbehind(self, items: list[_Node], flags: Flags) -> None:
        """R5: a one-character lookbehind right after a one-character atom, decided by the
        atom alone, is dropped."""
        i = 1
        while i < len(items):
            node = items[i]
            if isinstance(node, _Group) and node.open in ("(?<!", "(?<=") \
                    and len(node.body.branches) == 1 and len(node.body.branches[0]) == 1:
                before = _atom_chars(items[i - 1], flags)
                inner = _atom_chars(node.body.branches[0][0], _group_flags("(?:", flags))
                if before is not None and inner is not None:
                    overlap = _intersects(before, inner)
                    covered = _subset(before, inner)
                    if (node.open == "(?<!" and not overlap) or (node.open == "(?<=" and covered):
                        del items[i]
                        continue
            i += 1

    def _context_lookahead(self, items: list[_Node], flags: Flags) -> None:
        """R4: a negative lookahead of a fixed string of character sets becomes a marker,
        checked against the grammar later (`_check_lookaheads`)."""
        for i, node in enumerate(items):
            if not (isinstance(node, _Group) and node.open == "(?!"
                    and len(node.body.branches) == 1 and 1 <= len(node.body.branches[0]) <= 3):
                continue
            chars = [_atom_chars(n, flags) for n in node.body.branches[0]]
            if any(c is None or _size(c) > MAX_LOOKAHEAD_CHARS for c in chars) \
                    or len(self.marks) >= MAX_MARKS:
                continue
            mark = _Mark(0xFDD0 + len(self.marks), tuple(c for c in chars if c is not None),
                         _text(node, False))
            self.marks.append(mark)
            items[i] = mark


MARKERS = (0xFDD0, 0xFDEF)


def _without_markers(alt: _Alt, flags: Flags) -> _Alt:
    """A copy of the tree whose atoms cannot match the marker characters (so that in the
    marked pattern a marker is always a dropped lookahead, never text)."""
    def node(n: _Node, fl: Flags) -> _Node:
        if isinstance(n, _Quant):
            return _Quant(node(n.child, fl), n.q)
        if isinstance(n, _Group):
            return _Group(n.open, walk(n.body, _group_flags(n.open, fl)))
        chars = _atom_chars(n, fl)
        if chars is None or not _intersects(chars, (MARKERS,)):
            return n
        kept = normalize(r for lo, hi in chars
                         for r in ((lo, min(hi, MARKERS[0] - 1)), (max(lo, MARKERS[1] + 1), hi))
                         if r[0] <= r[1])
        return _Lit(f"[{_range_items(kept)}]")

    def walk(a: _Alt, fl: Flags) -> _Alt:
        return _Alt([[node(n, fl) for n in b] for b in a.branches])

    return walk(alt, flags)


def _intersects(a: Ranges, b: Ranges) -> bool:
    return any(lo <= hi2 and lo2 <= hi for lo, hi in a for lo2, hi2 in b)


def _subset(a: Ranges, b: Ranges) -> bool:
    return all(any(lo2 <= lo and hi <= hi2 for lo2, hi2 in b) for lo, hi in a)


# ============================================================================= lazy quantifiers
class _Unstructured(Exception):
    """The structural resolution does not apply: fall back to the whole-pattern rewrite."""


class _LazyResolver:
    """Lazy quantifiers -> an IR pattern whose longest match is Python's first match (the
    structural rules of the module docstring, "Regex semantics" 2)."""

    def __init__(self, marks: bool) -> None:
        self.marks = marks
        self.notes: list[str] = []

    def run(self, tree: _Alt, flags: Flags) -> str:
        try:
            return _strip_group(self.alt(tree, flags, tail=True))
        except _Unstructured:
            self.notes = []
            return self.shortest(_text_alt(tree, self.marks), flags, outer=True)

    def verbatim(self, text: str, flags: Flags) -> str:
        return _with_flags(text, flags)

    def shortest(self, text: str, flags: Flags, outer: bool = False) -> str:
        """The shortest-match language of `text` (or the text itself when already
        prefix-free)."""
        wrapped = _with_flags(text, flags)
        shortest = _shortest_match_regex(wrapped)
        if shortest is None:
            return wrapped if outer else f"(?:{wrapped})"
        if _has_greedy_repeat(text):
            self.notes.append("mixes lazy and greedy repetition; grammask uses its "
                              "shortest-match language, which can differ from Python's "
                              "backtracking match")
        return shortest if outer else f"(?:{shortest})"

    def alt(self, alt: _Alt, flags: Flags, tail: bool) -> str:
        if not _node_has_lazy(alt):
            return self.verbatim(_text_alt(alt, self.marks), flags)
        if len(alt.branches) == 1:
            return self.seq(alt.branches[0], flags, tail)
        dfas = [compile_regex_dfa(_with_flags(_text_seq(b, self.marks), flags))
                for b in alt.branches]
        if any(d.accepting[d.start] for d in dfas):
            raise _Unstructured
        firsts = [set(np.nonzero(d.trans[d.start] >= 0)[0].tolist()) for d in dfas]
        if sum(len(f) for f in firsts) != len(set().union(*firsts)):
            raise _Unstructured
        return "(?:" + "|".join(self.seq(b, flags, tail) for b in alt.branches) + ")"

    def seq(self, items: list[_Node], flags: Flags, tail: bool) -> str:
        if not any(_node_has_lazy(n) for n in items):
            return self.verbatim(_text_seq(items, self.marks), flags)
        if len(items) == 1:
            return self.node(items[0], flags, tail)
        if not tail:
            raise _Unstructured
        k = max(i for i, n in enumerate(items) if _node_has_lazy(n))
        j = k
        while j + 1 < len(items) and not _nullable(_text_seq(items[j + 1:], self.marks),
                                                   flags):
            j += 1
        head, rest = items[:j + 1], items[j + 1:]
        if not rest:
            return self.shortest(_text_seq(head, self.marks), flags)
        first = self.seq(head, flags, True)
        if not _prefix_free(first):
            raise _Unstructured
        return first + self.verbatim(_text_seq(rest, self.marks), flags)

    def node(self, node: _Node, flags: Flags, tail: bool) -> str:
        if not _node_has_lazy(node):
            return self.verbatim(_text(node, self.marks), flags)
        if isinstance(node, _Group):
            if node.open in _LOOKAROUND or node.open.startswith("(?("):
                raise _Unstructured
            return self.alt(node.body, _group_flags(node.open, flags), tail)
        assert isinstance(node, _Quant)
        if not tail:
            raise _Unstructured
        if node.lazy:
            return self.shortest(_text(node, self.marks), flags)
        if node.min > 1 or node.q.endswith("+") and len(node.q) > 1:
            raise _Unstructured
        return f"(?:{self.node(node.child, flags, True)}){node.q}"


def _strip_group(text: str) -> str:
    """`(?:X)` -> `X` when that group is the whole pattern."""
    try:
        tree = _StructureParser(text).parse()
    except (ValueError, IndexError, AttributeError):
        return text
    only = tree.branches[0] if len(tree.branches) == 1 else []
    if len(only) == 1 and isinstance(only[0], _Group) and only[0].open == "(?:":
        return _text_alt(only[0].body, marks=True)
    return text


def _nullable(text: str, flags: Flags) -> bool:
    d = compile_regex_dfa(_with_flags(text, flags))
    return bool(d.accepting[d.start])


def _prefix_free(pattern: str) -> bool:
    """No string of the language is a proper prefix of another."""
    d = compile_regex_dfa(pattern)
    return not any(d.accepting[s] and (d.trans[s] >= 0).any() for s in range(d.num_states))


# ============================================================================= lookahead check
MAX_CHECK_STATES = 200_000


@dataclass
class _Occurrence:
    """One place a terminal is a candidate: `cocandidates` are certainly candidates there
    too; `follow` may come right after it (declared terminals see-through)."""

    cocandidates: set[str]
    follow: set[str]


class _Context:
    """Grammar facts for R4: FIRST sets, may-follow sets and "certainly a candidate" sets.

    `after(R, prefix)`: terminals that can come next after `prefix` (a prefix of one of R's
    alternatives) in *every* context R occurs in: FIRST of the remainder of any alternative of
    R starting with `prefix`, plus `can[R]` when such a remainder is nullable. `can[R]`: the
    terminals that can follow an R node wherever it occurs: those of a left-recursive
    alternative `R: R γ` (wrapping the node in it is always possible) and `must[R]`, the
    intersection of `after(S, α R)` over R's occurrences `S: α R β` (a greatest fixpoint;
    the start rule, followed by the end of the input, gets none)."""

    def __init__(self, g: Grammar) -> None:
        self.g = g
        productive = g._productive()
        self.alts = {r: [a for a in rule.alternatives if all(s in productive for s in a)]
                     for r, rule in g.rules.items()}
        declared = {t for t, term in g.terminals.items() if term.pattern is None}
        self.nullable = self._nullable(set())
        self.first = self._first(self.nullable, set())
        self.nullable_b = self._nullable(declared)
        self.first_b = self._first(self.nullable_b, declared)
        self.follow_b = self._follow_b()
        self.occ: dict[str, list[tuple[str, tuple[str, ...], int]]] = {}
        for r, alts in self.alts.items():
            for a in alts:
                for i, s in enumerate(a):
                    self.occ.setdefault(s, []).append((r, a, i))
        self.can = self._can()

    def _nullable(self, extra: set[str]) -> set[str]:
        known = set(extra)
        changed = True
        while changed:
            changed = False
            for r, alts in self.alts.items():
                if r not in known and any(all(s in known for s in a) for a in alts):
                    known.add(r)
                    changed = True
        return known

    def _first(self, nullable: set[str], skip: set[str]) -> dict[str, set[str]]:
        first: dict[str, set[str]] = {t: set() if t in skip else {t} for t in self.g.terminals}
        first.update({r: set() for r in self.alts})
        changed = True
        while changed:
            changed = False
            for r, alts in self.alts.items():
                for a in alts:
                    f, _n = self.seq_first(a, first, nullable)
                    if not f <= first[r]:
                        first[r] |= f
                        changed = True
        return first

    @staticmethod
    def seq_first(seq: tuple[str, ...], first: dict[str, set[str]],
                  nullable: set[str]) -> tuple[set[str], bool]:
        out: set[str] = set()
        for s in seq:
            out |= first[s]
            if s not in nullable:
                return out, False
        return out, True

    def _follow_b(self) -> dict[str, set[str]]:
        follow: dict[str, set[str]] = {r: set() for r in self.alts}
        changed = True
        while changed:
            changed = False
            for r, alts in self.alts.items():
                for a in alts:
                    for i, s in enumerate(a):
                        if s not in follow:
                            continue
                        f, nul = self.seq_first(a[i + 1:], self.first_b, self.nullable_b)
                        if nul:
                            f = f | follow[r]
                        if not f <= follow[s]:
                            follow[s] |= f
                            changed = True
        return follow

    def after(self, rule: str, prefix: tuple[str, ...], can: dict[str, set[str]]) -> set[str]:
        out: set[str] = set()
        n = len(prefix)
        for a in self.alts[rule]:
            if a[:n] == prefix and len(a) >= n:
                f, nul = self.seq_first(a[n:], self.first, self.nullable)
                out |= f
                if nul:
                    out |= can[rule]
        return out

    def _can(self) -> dict[str, set[str]]:
        everything = set(self.g.terminals)
        left = {r: set().union(*(self.seq_first(a[1:], self.first, self.nullable)[0]
                                 for a in alts if a and a[0] == r and len(a) > 1))
                for r, alts in self.alts.items()}
        must = {r: (set() if r == self.g.start or r not in self.occ else set(everything))
                for r in self.alts}
        can = {r: left[r] | must[r] for r in self.alts}
        changed = True
        while changed:
            changed = False
            for r in self.alts:
                if not must[r]:
                    continue
                new = set(must[r])
                for s, a, i in self.occ.get(r, ()):
                    new &= self.after(s, a[:i + 1], can)
                if new != must[r]:
                    must[r] = new
                    can[r] = left[r] | new
                    changed = True
        return can

    def occurrences(self, terminal: str) -> list[_Occurrence]:
        ignore = set(self.g.ignore)
        out = []
        for r, a, i in self.occ.get(terminal, ()):
            follow, nul = self.seq_first(a[i + 1:], self.first_b, self.nullable_b)
            if nul:
                follow = follow | self.follow_b[r]
            out.append(_Occurrence(ignore | self.after(r, a[:i], self.can), follow))
        if terminal in ignore:
            out.append(_Occurrence(set(ignore), set(self.g.terminals)))
        return out


def _check_lookaheads(g: Grammar, pending: list[_Pending], src: _Source) -> None:
    """R4's grammar-level condition for every terminal with dropped lookaheads."""
    if not pending:
        return
    ctx = _Context(g)
    dfas: dict[str, ByteDFA] = {}

    def dfa_of(name: str) -> ByteDFA:
        if name not in dfas:
            pattern = g.terminals[name].pattern
            assert pattern is not None
            dfas[name] = compile_regex_dfa(pattern)
        return dfas[name]

    for p in pending:
        if p.name not in g.terminals:
            continue
        problem = _lookahead_problem(g, ctx, p, dfa_of)
        if problem:
            raise _terminal_error(p.name, p.origin, src, problem)


def _lookahead_problem(g: Grammar, ctx: _Context, p: _Pending,
                       dfa_of: Callable[[str], ByteDFA]) -> str | None:
    """Explore the marked pattern's DFA up to each marker, in step with the DFAs of the
    terminals that are certainly candidates wherever this one is, and test R4's conditions at
    every marker. Returns what fails, or None."""
    occurrences = ctx.occurrences(p.name)
    if not occurrences:
        return None
    with_pattern = {t for t, term in g.terminals.items() if term.pattern is not None}
    co_names = sorted(set().union(*(o.cocandidates for o in occurrences)) & with_pattern
                      - {p.name})
    index = {n: k for k, n in enumerate(co_names)}
    co = [dfa_of(n) for n in co_names]
    occ_co = [[index[n] for n in o.cocandidates if n in index] for o in occurrences]
    occ_follow = [[dfa_of(n) for n in (o.follow | set(g.ignore)) & with_pattern]
                  for o in occurrences]
    d = compile_regex_dfa(p.marked)
    mark_bytes = [chr(m.cp).encode() for m in p.marks]
    reach = _states_reaching_marks(d, mark_bytes)
    start = (d.start, tuple(x.start for x in co), 0)
    seen: dict[tuple[int, tuple[int, ...], int], bytes] = {start: b""}
    queue = [start]
    while queue:
        state = queue.pop()
        ds, ls, lead = state
        text = seen[state]
        if lead == 0:
            for mark, mb in zip(p.marks, mark_bytes):
                m = d.step(ds, mb)
                if m < 0:
                    continue
                problem = _marker_problem(d, m, mark, mark_bytes, ls, co, occ_co, occ_follow,
                                          text, p.name)
                if problem:
                    return problem
                nxt = (m, ls, 0)
                if m in reach and nxt not in seen:
                    seen[nxt] = text
                    queue.append(nxt)
        for b in np.nonzero(d.trans[ds] >= 0)[0].tolist():
            if lead == 2 and 0x90 <= b <= 0xAF:
                continue                          # a marker, not text
            t = int(d.trans[ds, b])
            if t not in reach:
                continue
            nxt = (t, tuple(x.step(s, bytes([b])) for x, s in zip(co, ls)),
                   1 if lead == 0 and b == 0xEF else 2 if lead == 1 and b == 0xB7 else 0)
            if nxt not in seen:
                if len(seen) > MAX_CHECK_STATES:
                    return "the lookahead check explores too many states"
                seen[nxt] = text + bytes([b])
                queue.append(nxt)
    return None


def _states_reaching_marks(d: ByteDFA, mark_bytes: list[bytes]) -> set[int]:
    """DFA states from which some marker can still be read."""
    preds: list[set[int]] = [set() for _ in range(d.num_states)]
    for s in range(d.num_states):
        for t in set(d.trans[s].tolist()) - {-1}:
            preds[t].add(s)
    reach = {s for s in range(d.num_states) if any(d.step(s, mb) >= 0 for mb in mark_bytes)}
    stack = list(reach)
    while stack:
        for q in preds[stack.pop()]:
            if q not in reach:
                reach.add(q)
                stack.append(q)
    return reach


def _marker_problem(d: ByteDFA, m: int, mark: _Mark, mark_bytes: list[bytes],
                    ls: tuple[int, ...], co: list[ByteDFA], occ_co: list[list[int]],
                    occ_follow: list[list[ByteDFA]], text: bytes, name: str) -> str | None:
    """R4's conditions at one marker (state `m` right after it, `text` read before it)."""
    lookahead = mark.text
    if any(d.step(m, mb) >= 0 for mb in mark_bytes):
        return f"the lookahead {lookahead} is followed by another lookahead"
    sets = [[chr(c) for lo, hi in r for c in range(lo, hi + 1)] for r in mark.chars]
    total = 1
    for s in sets:
        total *= len(s)
    if total > 4096:
        return f"the lookahead {lookahead} covers too many strings to check"
    before = text.decode("utf-8", "replace")
    for combo in product(*sets):
        if d.step(m, "".join(combo).encode()) >= 0:
            return (f"the lookahead {lookahead} constrains the lexeme itself (after "
                    f"{before!r}, {''.join(combo)!r} would continue it), not only what "
                    f"follows it")
    for j in range(len(sets)):
        for head in product(*sets[:j]):
            e = d.step(m, "".join(head).encode())
            if e < 0 or not d.accepting[e]:
                continue
            for tail in product(*sets[j:]):
                full = "".join(head + tail).encode()
                nxt = tail[0].encode()
                for k, co_idx in enumerate(occ_co):
                    if any(co[x].step(ls[x], full) >= 0 for x in co_idx):
                        continue
                    if all(f.step(f.start, nxt) < 0 for f in occ_follow[k]):
                        continue
                    lexeme = before + "".join(head)
                    return (f"the lookahead {lookahead} rejects the lexeme {lexeme!r} before "
                            f"{''.join(tail)!r}, and without it a longest-match lexer could "
                            f"end {name} there: no terminal that is certainly a candidate "
                            f"wherever {name} is continues the text, and a terminal that can "
                            f"follow {name} can start with {tail[0]!r}")
    return None


# ============================================================================= empty matches
def _split_empty_terminals(alternatives: dict[str, list[tuple[str, ...]]],
                           terminals: dict[str, Terminal], ignore: tuple[str, ...],
                           origins: _Origins) -> tuple[dict[str, list[tuple[str, ...]]],
                                                       dict[str, Terminal], tuple[str, ...],
                                                       list[GrammarWarning]]:
    """A terminal X matching the empty string becomes X minus the empty string, and its uses
    go through a helper rule `__X_opt: X | ε` (a lexer cannot emit empty lexemes). X = {ε}
    alone disappears (its uses become ε)."""
    warnings: list[GrammarWarning] = []
    replace: dict[str, tuple[str, ...]] = {}
    new_rules: dict[str, list[tuple[str, ...]]] = {}
    used = {s for alts in alternatives.values() for a in alts for s in a}
    for name, term in list(terminals.items()):
        if term.pattern is None:
            continue
        d = compile_regex_dfa(term.pattern)
        if not d.accepting[d.start]:
            continue
        rest = _without_empty(term.pattern)
        if rest is None:
            del terminals[name]
            replace[name] = ()
            ignore = tuple(t for t in ignore if t != name)
            warnings.append(GrammarWarning(f"terminal {name!r} matches only the empty string; "
                                           f"its uses are dropped", term.origin))
            continue
        opt = f"__{name}_opt"
        while opt in alternatives or opt in terminals:
            opt += "_"
        terminals[name] = Terminal(name, rest, term.priority, None, term.origin)
        replace[name] = (opt,)
        new_rules[opt] = [(name,), ()]
        origins.known[opt] = term.origin
        uses = (f"its uses go through the optional rule {opt!r}" if name in used else
                "ignoring an empty lexeme changes nothing")
        warnings.append(GrammarWarning(f"terminal {name!r} matches the empty string: it now "
                                       f"matches the non-empty strings only; {uses}",
                                       term.origin))
    if not replace:
        return alternatives, terminals, ignore, warnings
    out: dict[str, list[tuple[str, ...]]] = {}
    for rule, alts in alternatives.items():
        seen: list[tuple[str, ...]] = []
        for alt in alts:
            new = tuple(x for s in alt for x in replace.get(s, (s,)))
            if new not in seen:
                seen.append(new)
        out[rule] = seen
    still_used = {s for alts in out.values() for a in alts for s in a}
    out.update({r: alts for r, alts in new_rules.items() if r in still_used})
    return out, terminals, ignore, warnings


def _without_empty(pattern: str) -> str | None:
    """A regex for L(pattern) minus the empty string, None when that is empty."""
    rows, accepting, alphabet = _code_point_dfa(pattern)
    rows = [[(c, t + 1) for c, t in rows[0]]] + [[(c, t + 1) for c, t in row] for row in rows]
    accepting = [False] + accepting
    rows, accepting = _reachable_states(rows, accepting)
    trimmed = _trim(rows, accepting)
    if trimmed is None:
        return None
    rows, accepting = _minimize(*trimmed, alphabet.num_classes)
    return _render(_eliminate(rows, accepting, alphabet), 0)
