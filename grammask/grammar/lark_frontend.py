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
  with the same language as Lark's terminal (see "Regex semantics" below); `%declare`d
  terminals get `pattern=None`; `%ignore` fills `Grammar.ignore`.

Regex semantics. Lark matches terminals with Python's `re`, grammask's dialect differs in
three places that change languages, so patterns are rewritten rather than copied:

1. `\d \w \s` (and `\D \W \S`) are Unicode classes in Python but ASCII/ECMA in grammask:
   they are replaced by explicit code-point ranges computed from Python's `re` itself.
2. Lark's lexer uses `re.match`, so a lazy quantifier (`".*?"`, `/\*(.|\n)*?\*/`) stops at
   the *shortest* match, while grammask (and a longest-match lexer) reads quantifiers as
   greedy. For a pattern with a lazy quantifier whose language is not prefix-free, the
   terminal's pattern becomes the regex of its shortest-match language (strings of the
   language with no proper prefix in it: built on the code-point DFA, turned back into a
   regex by state elimination). This is exact for the delimiter idioms Lark grammars use; a
   pattern that mixes lazy and greedy repetition gets a warning.
3. Lark's `ESCAPED_STRING` is `".*?(?<!\\)(\\\\)*?"` (a lookbehind); that idiom is rewritten
   to the equivalent `(?:[^\\\n]|\\.)*?` before step 2, so it becomes
   `"(?:[^\n"\\]|\\[^\n])*"`. Other lookaround, backreferences, `\b` etc. are not regular
   (or not supported) and raise `GrammarError` naming the terminal and its location.

Every error (Lark's syntax errors, undefined symbols, missing imports, unsupported regexes)
is a `GrammarError` carrying the file and, where it can be found, line and column.
"""
from __future__ import annotations

import os
import pkgutil
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from itertools import chain

from lark.exceptions import UnexpectedInput
from lark.grammar import Rule as LarkRule
from lark.lexer import Pattern, PatternStr, TerminalDef
from lark.load_grammar import Grammar as LarkGrammar
from lark.load_grammar import GrammarBuilder, PackageResource

from ..automata import compile_regex_dfa, parse_regex
from ..automata.dfa import _Alphabet, _minimize, _trim, code_point_dfa
from ..automata.regex_parser import negate, normalize
from ..errors import GrammarError
from .ir import Grammar, GrammarWarning, Rule, SourcePos, Terminal

__all__ = ["load_lark", "load_lark_file"]

Ranges = tuple[tuple[int, int], ...]
MAX_SHORTEST_MATCH_REGEX = 50_000   # characters; the state-elimination output is bounded


# ============================================================================= public API
def load_lark(text: str, *, start: str = "start", name: str = "<grammar>",
              import_paths: list[str] | None = None) -> Grammar:
    """Compile Lark EBNF `text` to the IR, rooted at rule `start`.

    `name` is used in error messages and source positions; when it is a file path, relative
    imports (`%import .other.rule`) resolve next to it (otherwise against the current
    directory, as Lark does). `import_paths` are searched before Lark's standard library.
    Raises `GrammarError` for every problem; warnings end up in `Grammar.warnings`."""
    src = _Source(text, name)
    lark_grammar, terminals, lark_rules = _run_lark(src, start, list(import_paths or []))
    alternatives, priorities = _collect_rules(lark_rules)
    alternatives = _reachable(alternatives, start)
    origins = _Origins(src, lark_grammar)
    origins.propagate(alternatives)
    ignore = tuple(lark_grammar.ignore)
    needed = {s for alts in alternatives.values() for alt in alts for s in alt} | set(ignore)
    declared = [n for n, (tree, _p) in lark_grammar.term_defs if tree is None and n in needed]
    ir_terms, warnings = _convert_terminals([t for t in terminals if t.name in needed],
                                            declared, origins, src)
    rules = {n: Rule(n, tuple(alts), origins.get(n)) for n, alts in alternatives.items()}
    grammar = Grammar(start, rules, ir_terms, ignore, name)
    warnings += _priority_warnings(priorities, alternatives, origins)
    grammar.warnings = grammar.check() + warnings
    return grammar


def load_lark_file(path: str | os.PathLike[str], *, start: str = "start") -> Grammar:
    """`load_lark` on a file; its path names it and anchors its relative imports."""
    fspath = os.fspath(path)
    try:
        with open(fspath, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise GrammarError(f"cannot read grammar file: {exc}", name=fspath) from exc
    return load_lark(text, start=start, name=fspath)


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
def _run_lark(src: _Source, start: str,
              import_paths: list[str]) -> tuple[LarkGrammar, list[TerminalDef],
                                                list[LarkRule]]:
    """Lark's loader and EBNF compiler; every exception they raise becomes a GrammarError
    (Lark raises GrammarError, UnexpectedInput, FileNotFoundError and, on some malformed
    input, plain Python errors from its internals)."""
    paths: list[str | Callable[..., tuple[str, str]]] = list(import_paths)
    builder = GrammarBuilder(False, paths)
    try:
        builder.load_grammar(src.text, src.name)
        lark_grammar = builder.build()
        _check_start(lark_grammar, start, src)
        terminals, rules, _ignore = lark_grammar.compile([start], ())
    except GrammarError:
        raise
    except Exception as exc:
        raise _from_lark_error(exc, src, list(builder.used_files)) from exc
    return lark_grammar, terminals, rules


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
    alternatives: dict[str, list[tuple[str, ...]]] = {}
    priorities: dict[str, int] = {}
    for r in lark_rules:
        origin = str(r.origin.name)
        alt = tuple(str(s.name) for s in r.expansion)
        alts = alternatives.setdefault(origin, [])
        if alt not in alts:
            alts.append(alt)
        if r.options and r.options.priority:
            priorities[origin] = r.options.priority
    return alternatives, priorities


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
def _convert_terminals(term_defs: list[TerminalDef], declared: list[str], origins: _Origins,
                       src: _Source) -> tuple[dict[str, Terminal], list[GrammarWarning]]:
    """IR terminals in Lark's order, declared (post-lexer) ones last."""
    terminals: dict[str, Terminal] = {}
    warnings: list[GrammarWarning] = []
    for tdef in term_defs:
        origin = origins.get(tdef.name)
        pattern, literal, notes = _terminal_pattern(tdef, origin, src)
        terminals[tdef.name] = Terminal(tdef.name, pattern, tdef.priority, literal, origin)
        warnings += [GrammarWarning(f"terminal {tdef.name!r}: {n}", origin) for n in notes]
    for name in declared:
        origin = origins.get(name)
        terminals[name] = Terminal(name, None, 0, None, origin)
        warnings.append(GrammarWarning(f"terminal {name!r} is declared (%declare): it has no "
                                       f"pattern and must come from a post-lexer", origin))
    return terminals, warnings


def _terminal_pattern(tdef: TerminalDef, origin: SourcePos | None,
                      src: _Source) -> tuple[str, str | None, list[str]]:
    """(grammask pattern, literal text or None, warning notes) for one Lark terminal."""
    lark_pattern = tdef.pattern
    try:
        re.compile(lark_pattern.to_regexp())
    except re.error as exc:
        raise _terminal_error(tdef.name, origin, src, f"Python's re (hence Lark) rejects "
                              f"/{lark_pattern.to_regexp()}/: {exc}") from exc
    pattern = ""
    try:
        pattern, literal = _translate(lark_pattern)
        dfa = compile_regex_dfa(pattern)
        notes = []
        if _has_lazy(pattern):
            shortest = _shortest_match_regex(pattern)
            if shortest is not None:
                pattern, literal = shortest, None
                dfa = compile_regex_dfa(pattern)
                if _has_greedy_repeat(lark_pattern.value):
                    notes.append("mixes lazy and greedy repetition; grammask uses its "
                                 "shortest-match language, which can differ from Python's "
                                 "backtracking match")
        if dfa.accepting[dfa.start]:
            notes.append("matches the empty string")
    except GrammarError as exc:
        raise _terminal_error(tdef.name, origin, src,
                              _regex_problem(exc, lark_pattern, pattern)) from exc
    return pattern, literal, notes


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


def _translate(lark_pattern: Pattern) -> tuple[str, str | None]:
    """Lark pattern -> (grammask pattern, literal). Flags become scoped groups, as Lark's
    own `to_regexp()` does: `i` and `s` are honoured, `m` and `u` change nothing under
    grammask's full-match semantics (anchors are only allowed where they are no-ops),
    `x` and `l` cannot be honoured."""
    flags = sorted(lark_pattern.flags)
    if isinstance(lark_pattern, PatternStr):
        body, literal = _escape_literal(lark_pattern.value), lark_pattern.value
    else:
        body = _lookbehind_idiom(lark_pattern.value, dotall="s" in flags)
        body, literal = _unicode_classes(body), None
    for flag in flags:
        if flag in "is":
            body = f"(?{flag}:{body})"
        elif flag not in "mu":
            raise GrammarError(f"regex flag {flag!r} is not supported")
    return body, (literal if not flags else None)


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
_LOOKBEHIND_IDIOM = re.compile(r"\.\*\?\(\?<!\\\\\)\(\\\\\\\\\)\*\?")


def _lookbehind_idiom(pattern: str, dotall: bool) -> str:
    r"""`.*?(?<!\\)(\\\\)*?` (Lark's ESCAPED_STRING, Python string grammars): "anything up to
    a delimiter preceded by an even run of backslashes" is `(?:[^\\\n]|\\.)*?` without a
    lookbehind (backslashes pair up with the next character, so a delimiter after an odd
    run is escaped)."""
    other = r"[^\\]" if dotall else r"[^\\\n]"
    return _LOOKBEHIND_IDIOM.sub(lambda _m: rf"(?:{other}|\\.)*?", pattern)


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
