r"""GBNF (llama.cpp's grammar format) -> grammar IR (`grammask.grammar.ir.Grammar`).

The syntax is the one llama.cpp's `llama-grammar.cpp` parser accepts (`parse_rule`,
`parse_alternates`, `parse_sequence`, `parse_char`, `parse_space`), mirrored by a hand-written
recursive descent so every error carries an exact line and column:

* `name ::= alternates`; names are `[a-zA-Z0-9-]+` (the parser's `is_word_char`; llama.cpp's
  README also mentions `_`, which its parser rejects, and so do we, with a clear message).
* Whitespace is spaces, tabs and `#` comments. Newlines are allowed between rules, after
  `::=`, after `|` (which continues the rule even at top level) and anywhere inside `( )`.
  Elsewhere a newline ends the rule; a following line that does not start with `name ::=` is
  an error, exactly as in llama.cpp.
* Elements: `"literal"`, `[class]`/`[^class]` (with `a-z` ranges), `.` (any code point,
  newline included), rule references, `( alternates )`, each optionally followed by
  quantifiers `* + ? {m} {m,} {m,n}` (and `{,n}` = `{0,n}`, a grammask extension; llama.cpp
  only documents `{0,n}`). Quantifiers stack: `x+?` is `(x+)?`, as in llama.cpp.
* Escapes (strings and classes alike): `\n \r \t \\ \" \[ \] \-`, `\xHH`, `\uHHHH`,
  `\UHHHHHHHH` (exactly that many hex digits). Other escapes are errors, as in llama.cpp.
* Token syntax (`<[id]>`, `<token>`, `!<...>`) is tokenizer-specific and rejected with a
  `GrammarError` at its position.

Semantics: GBNF is character-level. Every non-empty string literal becomes one terminal
(pattern = the escaped literal, `literal=` the text; `""` is the empty sequence) and every class
/ `.` one single-character terminal (`[a]` is the literal "a"); identical patterns share one
terminal, named `LIT_true`, `LIT_LBRACE`, `LIT_3`, `CLASS_2`, `ANY_CHAR`. Operators are
desugared into helper rules named after the rule they occur in (`value__star_1`,
`number__opt_2`, `object__group_3`, `object__rep_4`; GBNF names cannot contain `_`, so these
never clash with user rules): `x*` -> `h ::= x h | ε` (`h ::= h x | ε` with
`star_recursion="left"`), `x+` -> `x h`, `x?` -> `h ::= x | ε`, `x{m,n}` -> m copies of x then
n-m nested optionals `o ::= x o' | ε`; a repeated multi-symbol body first becomes one `__rep`
rule, so nested counts grow additively, not multiplicatively. A group with one alternative is
inlined. `Grammar.ignore` is empty: GBNF spells whitespace out.

Deliberate differences from llama.cpp, all documented here:

* Duplicate definitions: llama.cpp silently lets the later one win; so do we (default
  `duplicate_rules="override"`), adding a `GrammarWarning`; `duplicate_rules="error"` raises.
* Left recursion: llama.cpp rejects it at grammar init; grammask's Earley parser handles it, so
  it is accepted with a `GrammarWarning` naming the rules (the grammar would not load there).
* `[z-a]`, `{3,1}`, empty classes `[]`/`[^]`, code points above U+10FFFF and surrogates in
  literals are errors (llama.cpp silently builds something that never matches or is ε).
* Counted repetitions are bounded by `Limits.max_repeat` (llama.cpp: 2000, and it silently
  turns a larger maximum into "unbounded"); nesting of `( )` and stacked quantifiers by
  `Limits.max_nesting`. Both raise `LimitExceededError` at the offending position.
* Undefined references inside a definition that a later one overrides are not reported
  (that definition is dead); the start rule missing raises an error without a position.

Character-level semantics under a greedy lexer: GBNF is scannerless, so terminals overlap
freely (`"a"` vs `[a-z]`, `"ab"` vs `"a" "b"`, `[0-9]+ ws` before `"\n"`), and the CFG engine
lexes greedily. The grammar is therefore lowered until no terminal can be grown by the greedy
lexer past its end into a byte that can start what follows it (`greedy_lexing`): each round
bans the patterns of the overreaching terminals, so a collapsed piece falls back to its parts
and a literal to its characters (single characters never overreach); past `_MAX_SPLIT_ROUNDS`
rounds nothing is collapsed and every literal is split at once, which is always exact. The result is marked
`Grammar.scannerless`: ties between a literal and a class keep both kinds, and
`parser="auto"` refuses an LALR table with shift/reduce conflicts. Together these make the
greedy reading equal to llama.cpp's character-level one.

`collapse_regular=True` (optional) turns every rule that references only terminals and other
collapsible rules, without recursion, into a single regex terminal, and every maximal run of such
items inside the remaining rules into one terminal, so the CFG engine only parses the truly
context-free skeleton character by character. Terminals never match the empty string: a
nullable piece `P` becomes `h ::= T | ε` with `T` = `P` minus the empty string. Pieces whose
regex would exceed 20k characters or 4096 DFA states stay context-free. Rules reachable only
through collapsed ones disappear (they live on inside the regexes), and so do rules unreachable
from the start rule (still reported as warnings).
"""
from __future__ import annotations

import os
import string
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..automata.dfa import ByteDFA, compile_regex_dfa, literal_dfa
from ..automata.regex_parser import MAX_CP, Ranges, negate, normalize, recursion_headroom
from ..errors import GrammarError, LimitExceededError
from ..limits import DEFAULT_LIMITS, Limits
from .greedy_lexing import overreaching_terminals
from .ir import Grammar, GrammarWarning, Rule, SourcePos, Terminal

__all__ = ["load_gbnf", "load_gbnf_file"]

_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "-")
_HEX = frozenset(string.hexdigits)
_SIMPLE_ESCAPES = {"n": 10, "r": 13, "t": 9, "\\": 92, '"': 34, "[": 91, "]": 93, "-": 45}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_QUANTIFIERS = {"*": (0, None), "+": (1, None), "?": (0, 1)}
_CONTINUATION_HINT = ("a rule continues on the next line only after '|', after '::=' or "
                      "inside ( ) (llama.cpp's rule)")
# Collapsing is an optimisation: pieces whose regex or DFA would be big stay context-free.
_COLLAPSE_MAX_PATTERN = 20_000
_COLLAPSE_MAX_DFA_STATES = 4_096
_MAX_SPLIT_ROUNDS = 32       # rounds of splitting before every literal is split at once
_UNDERSCORE_HINT = "'_' is not allowed in GBNF rule names (llama.cpp's parser: [a-zA-Z0-9-])"


# ----------------------------------------------------------------------------- AST
@dataclass(frozen=True)
class _Lit:
    """A string literal; `text == ""` is the empty string (no terminal)."""
    text: str
    pos: int


@dataclass(frozen=True)
class _Chars:
    """A character class (`ranges` normalized, surrogate-free) or `.` (`any=True`)."""
    ranges: Ranges
    negated: bool
    pos: int
    any: bool = False


@dataclass(frozen=True)
class _Ref:
    name: str
    pos: int


@dataclass(frozen=True)
class _Group:
    """Alternatives, each a sequence of nodes: a rule body or a parenthesised group.
    `height` (groups and quantifiers nested here) bounds the recursion of every AST walk."""
    alts: tuple[tuple[_Node, ...], ...]
    pos: int
    height: int = 1


@dataclass(frozen=True)
class _Rep:
    child: _Node
    min: int
    max: int | None
    pos: int
    height: int = 1


@dataclass(frozen=True)
class _Rx:
    """A regular language L as a regex for L minus the empty string plus a nullable flag
    (terminals must not match ""). `ne` is None when L is exactly {""}; `prec` is the
    precedence of `ne`: 0 alternation, 1 concatenation or quantified, 2 atom. `plus` is
    (atom, its precedence, max) when `ne` is `atom{1,max}`, so `L` can be written `atom{0,max}`
    instead of `(?:atom{1,max})?`."""
    ne: str | None
    prec: int
    nullable: bool
    plus: tuple[str, int, int | None] | None = None


@dataclass(frozen=True)
class _RxNode:
    """A collapsed piece of a rule (`collapse_regular=True`); `label` names whole rules."""
    rx: _Rx
    pos: int
    label: str | None = None


_Node = _Lit | _Chars | _Ref | _Group | _Rep | _RxNode
_EPSILON = _Rx(None, 2, True)


@dataclass(frozen=True)
class _RuleDef:
    name: str
    body: _Group
    pos: int
    refs: tuple[_Ref, ...]


# ----------------------------------------------------------------------------- parser
class _Parser:
    """Recursive descent over `text` mirroring llama.cpp's parser; `i` is the next index."""

    def __init__(self, text: str, name: str, limits: Limits) -> None:
        self.text, self.n, self.i = text, len(text), 0
        self.name = name
        self.limits = limits
        self.depth = 0
        self.refs: list[_Ref] = []

    def error(self, message: str, pos: int) -> GrammarError:
        return GrammarError(message, self.text, pos, self.name)

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.text[j] if j < self.n else ""

    def parse(self) -> list[_RuleDef]:
        """All rule definitions in source order (duplicates included)."""
        defs = []
        self.space(True)
        while self.i < self.n:
            defs.append(self.rule())
        return defs

    def space(self, newline_ok: bool) -> None:
        """llama.cpp's parse_space: blanks and `#` comments; newlines only if allowed."""
        while self.i < self.n:
            ch = self.text[self.i]
            if ch == "#":
                while self.i < self.n and self.text[self.i] not in "\r\n":
                    self.i += 1
            elif ch in " \t" or newline_ok and ch in "\r\n":
                self.i += 1
            else:
                break

    def word(self) -> str:
        """A rule name at `i` (caller checked the first character)."""
        start = self.i
        while self.i < self.n and self.text[self.i] in _NAME_CHARS:
            self.i += 1
        if self.peek() == "_":
            raise self.error(_UNDERSCORE_HINT, self.i)
        return self.text[start:self.i]

    # -- rules
    def rule(self) -> _RuleDef:
        start = self.i
        if self.peek() not in _NAME_CHARS:
            raise self.error(f"expecting a rule name ('name ::= ...'), found "
                             f"{self.peek()!r}; {_CONTINUATION_HINT}", start)
        name = self.word()
        self.space(False)
        if not self.text.startswith("::=", self.i):
            raise self.error(f"expecting '::=' after rule name {name!r}", self.i)
        self.i += 3
        self.space(True)
        self.refs = []
        body = self.alternates(nested=False)
        self.end_of_rule()
        self.space(True)
        return _RuleDef(name, body, start, tuple(self.refs))

    def end_of_rule(self) -> None:
        """A top-level rule ends at a newline or at the end of the text."""
        ch = self.peek()
        if ch == "\r":
            self.i += 2 if self.peek(1) == "\n" else 1
        elif ch == "\n":
            self.i += 1
        elif ch:
            raise self.unexpected(nested=False)

    def unexpected(self, nested: bool) -> GrammarError:
        """The error for the character that stopped a sequence where it cannot stop."""
        ch, pos = self.text[self.i], self.i
        if ch == ")" and not nested:
            return self.error("unexpected ')' without a matching '('", pos)
        if ch == ":":
            return self.error("unexpected ':'; each rule definition must start on a new line",
                              pos)
        end = "')'" if nested else "the end of the line"
        return self.error(f"unexpected character {ch!r}; expecting an element, '|' or {end}",
                          pos)

    def alternates(self, nested: bool) -> _Group:
        pos = self.i
        alts = [self.sequence(nested)]
        while self.peek() == "|":
            self.i += 1
            self.space(True)
            alts.append(self.sequence(nested))
        height = 1 + max((_height(x) for alt in alts for x in alt), default=0)
        return _Group(tuple(alts), pos, height)

    def sequence(self, nested: bool) -> tuple[_Node, ...]:
        items: list[_Node] = []
        while self.i < self.n:
            if self.text[self.i] in "*+?{":
                self.quantifier(items, nested)
                continue
            item = self.element(nested)
            if item is None:
                break
            items.append(item)
        return tuple(items)

    # -- elements
    def element(self, nested: bool) -> _Node | None:
        """One element at `i` (and the blanks after it), or None if none starts here."""
        ch, pos = self.text[self.i], self.i
        if ch == '"':
            node: _Node = self.literal()
        elif ch == "[":
            node = self.char_class()
        elif ch == ".":
            self.i += 1
            node = _Chars(((0, MAX_CP),), False, pos, any=True)
        elif ch == "(":
            node = self.group()
        elif ch in _NAME_CHARS:
            node = _Ref(self.word(), pos)
            self.refs.append(node)
        elif ch in "<!":
            raise self.error("token references (<[id]>, <token>, !<...>) are not supported: "
                             "grammask grammars are character-level and tokenizer-independent",
                             pos)
        elif ch == "_":
            raise self.error(_UNDERSCORE_HINT, pos)
        else:
            return None
        self.space(nested)
        return node

    def group(self) -> _Group:
        open_pos = self.i
        self.i += 1
        self.depth += 1
        if self.depth > self.limits.max_nesting:
            raise LimitExceededError("max_nesting", self.depth, self.limits.max_nesting,
                                     "parentheses nested too deeply", self.text, open_pos)
        self.space(True)
        body = self.alternates(nested=True)
        if self.i >= self.n:
            raise self.error("unclosed '('", open_pos)
        if self.peek() != ")":
            raise self.unexpected(nested=True)
        if body.height > self.limits.max_nesting:
            raise LimitExceededError("max_nesting", body.height, self.limits.max_nesting,
                                     "groups and quantifiers nested too deeply", self.text,
                                     open_pos)
        self.i += 1
        self.depth -= 1
        return body

    def literal(self) -> _Lit:
        open_pos = self.i
        self.i += 1
        chars = []
        while self.peek() != '"':
            if self.i >= self.n:
                raise self.error("unterminated string literal", open_pos)
            cp, pos = self.char(open_pos, "string literal")
            if 0xD800 <= cp <= 0xDFFF:
                raise self.error(f"surrogate U+{cp:04X} in a string literal can never match "
                                 f"(it has no UTF-8 encoding)", pos)
            chars.append(chr(cp))
        self.i += 1
        return _Lit("".join(chars), open_pos)

    def char_class(self) -> _Chars:
        open_pos = self.i
        self.i += 1
        negated = self.peek() == "^"
        self.i += negated
        ranges: list[tuple[int, int]] = []
        while self.peek() != "]":
            if self.i >= self.n:
                raise self.error("unterminated character class", open_pos)
            ranges.append(self.class_item(open_pos))
        self.i += 1
        return self.make_class(ranges, negated, open_pos)

    def class_item(self, open_pos: int) -> tuple[int, int]:
        """One character or `a-b` range (llama.cpp: `-` before `]` is a literal)."""
        lo, lo_pos = self.char(open_pos, "character class")
        if self.peek() != "-" or self.peek(1) == "]":
            return lo, lo
        self.i += 1
        if self.i >= self.n:
            raise self.error("unterminated character class", open_pos)
        hi, _ = self.char(open_pos, "character class")
        if hi < lo:
            raise self.error(f"bad character range {_show(lo)}-{_show(hi)}: the start is after "
                             f"the end", lo_pos)
        return lo, hi

    def make_class(self, ranges: list[tuple[int, int]], negated: bool, pos: int) -> _Chars:
        if not ranges:
            raise self.error("empty character class (llama.cpp silently treats it as the "
                             "empty string)", pos)
        norm = normalize(ranges)
        if not (negate(norm) if negated else norm):
            raise self.error("character class matches no character", pos)
        return _Chars(norm, negated, pos)

    def char(self, open_pos: int, what: str) -> tuple[int, int]:
        """llama.cpp's parse_char: one (possibly escaped) code point and its position."""
        pos = self.i
        if self.text[pos] != "\\":
            self.i += 1
            return ord(self.text[pos]), pos
        esc = self.peek(1)
        if not esc:
            raise self.error(f"unterminated {what}", open_pos)
        if esc in _SIMPLE_ESCAPES:
            self.i += 2
            return _SIMPLE_ESCAPES[esc], pos
        if esc not in _HEX_ESCAPES:
            raise self.error(f"unknown escape '\\{esc}' (GBNF knows \\n \\r \\t \\\\ \\\" \\[ "
                             f"\\] \\- \\xHH \\uHHHH \\UHHHHHHHH)", pos)
        count = _HEX_ESCAPES[esc]
        digits = self.text[pos + 2:pos + 2 + count]
        if len(digits) != count or not all(c in _HEX for c in digits):
            raise self.error(f"escape '\\{esc}' needs exactly {count} hex digits", pos)
        value = int(digits, 16)
        if value > MAX_CP:
            raise self.error(f"code point U+{value:X} is above U+10FFFF", pos)
        self.i += 2 + count
        return value, pos

    # -- quantifiers
    def quantifier(self, items: list[_Node], nested: bool) -> None:
        """Apply `* + ? {..}` at `i` to the last element (llama.cpp's handle_repetitions)."""
        pos, ch = self.i, self.text[self.i]
        if not items or isinstance(items[-1], _Lit) and not items[-1].text:
            raise self.error(f"'{ch}' must follow an element to repeat", pos)
        if ch in _QUANTIFIERS:
            self.i += 1
            self.space(nested)
            lo, hi = _QUANTIFIERS[ch]
        else:
            lo, hi = self.braces(nested)
        height = _height(items[-1]) + 1
        if height > self.limits.max_nesting:
            raise LimitExceededError("max_nesting", height, self.limits.max_nesting,
                                     "groups and quantifiers nested too deeply", self.text, pos)
        items[-1] = _Rep(items[-1], lo, hi, pos, height)

    def braces(self, nested: bool) -> tuple[int, int | None]:
        """`{m}`, `{m,}`, `{m,n}` or `{,n}` at `i`, with blanks allowed inside."""
        pos = self.i
        self.i += 1
        self.space(nested)
        omitted = self.peek() == ","          # `{,n}`: a grammask extension, n required
        lo = 0 if omitted else self.integer()
        self.space(nested)
        if self.peek() == "}":
            hi: int | None = lo
        elif self.peek() == ",":
            self.i += 1
            self.space(nested)
            hi = self.integer() if omitted or _is_digit(self.peek()) else None
            self.space(nested)
            if self.peek() != "}":
                raise self.error("expecting '}' to close the repetition", self.i)
        else:
            raise self.error("expecting ',' or '}' in the repetition", self.i)
        self.i += 1
        self.space(nested)
        self.check_bounds(lo, hi, pos)
        return lo, hi

    def integer(self) -> int:
        start = self.i
        while _is_digit(self.peek()):
            self.i += 1
        if self.i == start:
            raise self.error("expecting an integer", start)
        digits = self.text[start:self.i]
        return int(digits) if len(digits) <= 18 else 10 ** 18

    def check_bounds(self, lo: int, hi: int | None, pos: int) -> None:
        if hi is not None and hi < lo:
            raise self.error(f"bad repetition {{{lo},{hi}}}: the minimum exceeds the maximum",
                             pos)
        biggest = max(lo, hi or 0)
        if biggest > self.limits.max_repeat:
            raise LimitExceededError("max_repeat", biggest, self.limits.max_repeat,
                                     "counted repetition in a GBNF grammar", self.text, pos)


def _height(node: _Node) -> int:
    return node.height if isinstance(node, (_Group, _Rep)) else 0


def _is_digit(ch: str) -> bool:
    return ch != "" and ch in string.digits


def _show(cp: int) -> str:
    ch = chr(cp)
    return repr(ch) if ch.isprintable() else f"U+{cp:04X}"


# ----------------------------------------------------------------------------- regex text
_TERMINAL_CHAR_NAMES = {
    "{": "LBRACE", "}": "RBRACE", "[": "LSQB", "]": "RSQB", "(": "LPAR", ")": "RPAR",
    ",": "COMMA", ":": "COLON", ";": "SEMICOLON", ".": "DOT", '"': "DQUOTE", "'": "QUOTE",
    "-": "MINUS", "+": "PLUS", "*": "STAR", "/": "SLASH", "\\": "BACKSLASH", "=": "EQUAL",
    "<": "LESS", ">": "MORE", "!": "BANG", "?": "QMARK", "#": "HASH", "|": "VBAR",
    "&": "AMP", "%": "PERCENT", "$": "DOLLAR", "@": "AT", "^": "CIRCUMFLEX", "~": "TILDE",
    "`": "BACKQUOTE", "_": "UNDERSCORE", " ": "SPACE", "\n": "NL", "\t": "TAB", "\r": "CR",
}


def _escape_char(cp: int) -> str:
    """One code point in grammask's regex dialect, readable where that is safe."""
    ch = chr(cp)
    if ch.isascii() and (ch.isalnum() or ch == " "):
        return ch
    if 0x21 <= cp <= 0x7E:
        return "\\" + ch
    if cp < 0x80:
        return f"\\x{cp:02X}"
    if ch.isprintable() and not ch.isspace():
        return ch
    return f"\\u{cp:04X}" if cp <= 0xFFFF else f"\\U{cp:08X}"


def _literal_pattern(text: str) -> str:
    return "".join(_escape_char(ord(c)) for c in text)


def _class_pattern(node: _Chars) -> str:
    if node.any:
        return r"[\s\S]"
    parts = []
    for lo, hi in node.ranges:
        parts.append(_escape_char(lo))
        if hi > lo:
            parts.append(("-" if hi > lo + 1 else "") + _escape_char(hi))
    return ("[^" if node.negated else "[") + "".join(parts) + "]"


def _single_char(node: _Chars) -> str | None:
    """The one character a class like `[a]` matches, else None."""
    if node.negated or node.any or len(node.ranges) != 1 or node.ranges[0][0] != node.ranges[0][1]:
        return None
    return chr(node.ranges[0][0])


def _literal_name(text: str) -> str | None:
    """`LIT_true`, `LIT_LBRACE`, `LIT_1_DOT_SPACE`; None when no short readable name exists
    (names only aid reading: `_Lowering.fresh` keeps them unique)."""
    parts: list[str] = []
    after_alnum = False
    for ch in text:
        if ch.isascii() and ch.isalnum():
            if after_alnum:
                parts[-1] += ch
            else:
                parts.append(ch)
            after_alnum = True
        elif ch in _TERMINAL_CHAR_NAMES:
            parts.append(_TERMINAL_CHAR_NAMES[ch])
            after_alnum = False
        else:
            return None
    name = "LIT_" + "_".join(parts)
    return name if len(name) <= 32 else None


# regex combinators over (pattern, precedence) pairs
def _wrap(pat: str, prec: int, need: int) -> str:
    return pat if prec >= need else f"(?:{pat})"


def _cat(parts: list[tuple[str, int]]) -> tuple[str, int]:
    parts = [p for p in parts if p[0]]
    if len(parts) == 1:
        return parts[0]
    return "".join(_wrap(p, q, 1) for p, q in parts), 1


def _alt(parts: list[tuple[str, int]]) -> tuple[str, int] | None:
    unique = list(dict.fromkeys(parts))
    if not unique:
        return None
    if len(unique) == 1:
        return unique[0]
    return "|".join(p for p, _ in unique), 0


def _quant(pat: str, prec: int, lo: int, hi: int | None) -> tuple[str, int]:
    if (lo, hi) == (1, 1):
        return pat, prec
    suffix = {(0, None): "*", (1, None): "+", (0, 1): "?"}.get((lo, hi))
    if suffix is None:
        suffix = f"{{{lo}}}" if lo == hi else f"{{{lo},{'' if hi is None else hi}}}"
    return _wrap(pat, prec, 2) + suffix, 1


def _full(rx: _Rx) -> tuple[str, int]:
    """The whole language of `rx` (empty string included when nullable) as a pattern."""
    if rx.ne is None:
        return "", 2
    if not rx.nullable:
        return rx.ne, rx.prec
    if rx.plus:
        return _quant(rx.plus[0], rx.plus[1], 0, rx.plus[2])
    return _quant(rx.ne, rx.prec, 0, 1)


def _rx_seq(items: list[_Rx]) -> _Rx:
    """L(x1..xn) minus "". With a non-nullable item that is just the concatenation; else the
    first non-empty piece is some xi after x1..x(i-1) matched "" (one term per i)."""
    if not all(x.nullable for x in items):
        pat, prec = _cat([_full(x) for x in items])
        return _Rx(pat, prec, False)
    pieces = [x for x in items if x.ne is not None]
    if len(pieces) <= 1:  # the others are ε-only: keep the item (and its `plus` form)
        return pieces[0] if pieces else _EPSILON
    terms = [_cat([(x.ne, x.prec)] + [_full(y) for y in items[i + 1:]])
             for i, x in enumerate(items) if x.ne is not None]
    ne = _alt(terms)
    assert ne is not None
    return _Rx(ne[0], ne[1], True)


def _rx_alt(options: list[_Rx]) -> _Rx:
    ne = _alt([(o.ne, o.prec) for o in options if o.ne is not None])
    nullable = any(o.nullable for o in options)
    if ne and len([o for o in options if o.ne is not None]) == 1:
        only = next(o for o in options if o.ne is not None)
        return _Rx(only.ne, only.prec, nullable, only.plus)
    return _Rx(ne[0], ne[1], nullable) if ne else _EPSILON


def _rx_rep(x: _Rx, lo: int, hi: int | None) -> _Rx:
    """x{lo,hi} minus "": for nullable x that is x'{1,hi} (ε copies can be dropped)."""
    if x.ne is None or hi == 0:
        return _EPSILON
    if x.nullable or lo == 0:
        return _Rx(*_quant(x.ne, x.prec, 1, hi), True, (x.ne, x.prec, hi))
    return _Rx(*_quant(x.ne, x.prec, lo, hi), False)


# ----------------------------------------------------------------------------- collapsing
class _Collapser:
    """Finds the rules that denote regular languages without recursion and rewrites the AST
    so those rules, and maximal regular runs inside the other rules, become `_RxNode`s."""

    def __init__(self, defs: dict[str, _RuleDef], limits: Limits,
                 banned: frozenset[str] = frozenset(),
                 automata: dict[str, ByteDFA | None] | None = None) -> None:
        self.defs = defs
        self.limits = limits
        self.banned = banned            # patterns the greedy lexer would over-extend
        self.regular: dict[str, _Rx] = {}
        # pattern -> its DFA, or None when too large (shared by the rounds of `_Lowerer`)
        self.automata: dict[str, ByteDFA | None] = {} if automata is None else automata

    def run(self) -> dict[str, _RuleDef]:
        for name in self.topological_order():
            d = self.defs[name]
            if all(r.name in self.regular for r in d.refs):
                rx = self.rx(d.body)
                if self.acceptable(rx):
                    self.regular[name] = rx
        out = {}
        for name, d in self.defs.items():
            if name in self.regular:
                body = _Group(((_RxNode(self.regular[name], d.body.pos, name),),), d.body.pos)
            else:
                body = self.rewrite_group(d.body)
            out[name] = _RuleDef(name, body, d.pos, d.refs)
        return out

    def topological_order(self) -> list[str]:
        """Rules whose references all come earlier (Kahn); rules on or behind a cycle never
        appear, so they are never collapsed. Iterative: deep rule chains are fine."""
        deps = {n: {r.name for r in d.refs} & set(self.defs) for n, d in self.defs.items()}
        users: dict[str, list[str]] = {n: [] for n in self.defs}
        for n, ds in deps.items():
            for dep in ds:
                users[dep].append(n)
        pending = {n: len(ds) for n, ds in deps.items()}
        order = [n for n, k in pending.items() if k == 0]
        for n in order:
            for user in users[n]:
                pending[user] -= 1
                if pending[user] == 0:
                    order.append(user)
        return order

    def acceptable(self, rx: _Rx) -> bool:
        """Collapse only what compiles to a modest DFA and reads exactly under greedy lexing
        (else keep the CFG form)."""
        if rx.ne is None:
            return True
        if rx.ne in self.banned:
            return False
        if rx.ne not in self.automata:
            self.automata[rx.ne] = self.compiled(rx.ne)
        return self.automata[rx.ne] is not None

    def compiled(self, pattern: str) -> ByteDFA | None:
        if len(pattern) > min(_COLLAPSE_MAX_PATTERN, self.limits.max_regex_length):
            return None
        limits = replace(self.limits, max_dfa_states=min(self.limits.max_dfa_states,
                                                         _COLLAPSE_MAX_DFA_STATES))
        try:
            return compile_regex_dfa(pattern, limits)
        except GrammarError:
            return None

    def is_regular(self, node: _Node) -> bool:
        if isinstance(node, _Ref):
            return node.name in self.regular
        if isinstance(node, _Group):
            return all(self.is_regular(x) for alt in node.alts for x in alt)
        if isinstance(node, _Rep):
            return self.is_regular(node.child)
        return True

    def rx(self, node: _Node) -> _Rx:
        if isinstance(node, _Lit):
            if not node.text:
                return _EPSILON
            return _Rx(_literal_pattern(node.text), 2 if len(node.text) == 1 else 1, False)
        if isinstance(node, _Chars):
            return _Rx(_class_pattern(node), 2, False)
        if isinstance(node, _Ref):
            return self.regular[node.name]
        if isinstance(node, _Group):
            return _rx_alt([_rx_seq([self.rx(x) for x in alt]) for alt in node.alts])
        if isinstance(node, _Rep):
            return _rx_rep(self.rx(node.child), node.min, node.max)
        return node.rx  # _RxNode

    def rewrite_group(self, group: _Group) -> _Group:
        return _Group(tuple(self.rewrite_seq(alt) for alt in group.alts), group.pos, group.height)

    def rewrite_seq(self, items: tuple[_Node, ...]) -> tuple[_Node, ...]:
        out: list[_Node] = []
        run: list[_Node] = []
        for item in items:
            if self.is_regular(item):
                run.append(item)
                continue
            out.extend(self.merge_run(run))
            run = []
            out.append(self.rewrite_item(item))
        out.extend(self.merge_run(run))
        return tuple(out)

    def merge_run(self, run: list[_Node]) -> list[_Node]:
        """A run of regular items as one `_RxNode`, unless it is one plain element already
        (or the merged regex is too big, then it stays as it is)."""
        if not run or len(run) == 1 and isinstance(run[0], (_Lit, _Chars, _Ref)):
            return run
        rx = _rx_seq([self.rx(x) for x in run])
        return [_RxNode(rx, run[0].pos)] if self.acceptable(rx) else run

    def rewrite_item(self, item: _Node) -> _Node:
        if isinstance(item, _Group):
            return self.rewrite_group(item)
        if isinstance(item, _Rep):
            return _Rep(self.rewrite_item(item.child), item.min, item.max, item.pos, item.height)
        return item


# ----------------------------------------------------------------------------- lowering
class _Lowering:
    """AST -> IR rules and deduplicated terminals; helper rules are named after the parent."""

    def __init__(self, text: str, file: str | None, left_stars: bool,
                 split: frozenset[str] | None = frozenset()) -> None:
        self.text, self.file = text, file
        self.left_stars = left_stars
        self.split = split              # literal patterns spelled a character at a time (None: all)
        self.left_star_helpers: set[str] = set()
        self.rules: dict[str, Rule] = {}
        self.terminals: dict[str, Terminal] = {}
        self.by_pattern: dict[str, str] = {}
        self.counters: dict[str, int] = {}

    def origin(self, pos: int) -> SourcePos:
        return _source_pos(self.text, pos, self.file)

    def fresh(self, base: str, taken_only: bool = False) -> str:
        """`base` if free (taken_only), else `base_k` with the next free counter."""
        if taken_only and base not in self.rules and base not in self.terminals:
            return base
        while True:
            k = self.counters.get(base, 0) + 1
            self.counters[base] = k
            name = f"{base}_{k}"
            if name not in self.rules and name not in self.terminals:
                return name

    def terminal(self, pattern: str, base: str, pos: int, literal: str | None = None) -> str:
        """The terminal for `pattern`, created on first use (identical patterns share one)."""
        name = self.by_pattern.get(pattern)
        if name is None:
            name = self.fresh(base, taken_only=base not in ("LIT", "CLASS", "RE"))
            self.terminals[name] = Terminal(name, pattern, literal=literal,
                                            origin=self.origin(pos))
            self.by_pattern[pattern] = name
        return name

    def helper(self, parent: str, kind: str, pos: int) -> str:
        name = self.fresh(f"{parent}__{kind}")
        self.rules[name] = Rule(name, (), self.origin(pos))  # placeholder keeps rule order
        return name

    def define(self, name: str, alts: list[tuple[str, ...]], pos: int) -> None:
        self.rules[name] = Rule(name, tuple(dict.fromkeys(alts)), self.origin(pos))

    def rule(self, d: _RuleDef) -> None:
        self.rules[d.name] = Rule(d.name, (), self.origin(d.pos))
        self.define(d.name, self.alternatives(d.body, d.name), d.pos)

    def alternatives(self, group: _Group, parent: str) -> list[tuple[str, ...]]:
        return [self.seq(alt, parent) for alt in group.alts]

    def seq(self, items: tuple[_Node, ...], parent: str) -> tuple[str, ...]:
        return tuple(sym for item in items for sym in self.item(item, parent))

    def item(self, node: _Node, parent: str) -> tuple[str, ...]:
        """Symbols standing for one element (a group with one alternative is inlined)."""
        if isinstance(node, _Lit):
            if not node.text:
                return ()
            pattern = _literal_pattern(node.text)
            if len(node.text) > 1 and (self.split is None or pattern in self.split):
                return tuple(sym for ch in node.text for sym in self.item(_Lit(ch, node.pos), parent))
            return (self.terminal(pattern, _literal_name(node.text) or "LIT", node.pos,
                                  node.text),)
        if isinstance(node, _Chars):
            single = _single_char(node)
            if single is not None:  # `[a]` is the literal "a": one terminal, less ambiguity
                return self.item(_Lit(single, node.pos), parent)
            return (self.terminal(_class_pattern(node), "ANY_CHAR" if node.any else "CLASS",
                                  node.pos),)
        if isinstance(node, _Ref):
            return (node.name,)
        if isinstance(node, _Group):
            if len(node.alts) == 1:
                return self.seq(node.alts[0], parent)
            name = self.helper(parent, "group", node.pos)
            self.define(name, self.alternatives(node, parent), node.pos)
            return (name,)
        if isinstance(node, _Rep):
            return self.repeat(node, parent)
        return self.collapsed(node, parent)

    def repeat(self, node: _Rep, parent: str) -> tuple[str, ...]:
        """x{m,n}: m copies of x, then n-m nested optionals; x{m,}: m copies and a star
        helper, right-recursive `h ::= x h | ε` (llama.cpp's shape) or `h ::= h x | ε`."""
        if node.max == 0:
            return ()
        body = self.item(node.child, parent)
        if not body:
            return ()
        if len(body) == 1:
            sym = body[0]
        else:
            sym = self.helper(parent, "rep", node.pos)
            self.define(sym, [body], node.pos)
        if node.max is None:
            star = self.helper(parent, "star", node.pos)
            if self.left_stars:
                self.left_star_helpers.add(star)
            self.define(star, [(star, sym) if self.left_stars else (sym, star), ()], node.pos)
            return (sym,) * node.min + (star,)
        chain: tuple[str, ...] = ()
        for _ in range(node.max - node.min):
            opt = self.helper(parent, "opt", node.pos)
            self.define(opt, [(sym,) + chain, ()], node.pos)
            chain = (opt,)
        return (sym,) * node.min + chain

    def collapsed(self, node: _RxNode, parent: str) -> tuple[str, ...]:
        """A regular piece: one regex terminal, made optional by a helper when nullable."""
        if node.rx.ne is None:
            return ()
        base = f"RE_{node.label}" if node.label else "RE"
        term = self.terminal(node.rx.ne, base, node.pos)
        if not node.rx.nullable:
            return (term,)
        opt = self.helper(parent, "opt", node.pos)
        self.define(opt, [(term,), ()], node.pos)
        return (opt,)

    def whole_rule(self, d: _RuleDef) -> bool:
        """Lower a rule that collapsed entirely (`name ::= T` or `name ::= T | ε`)."""
        node = d.body.alts[0][0] if len(d.body.alts) == 1 and len(d.body.alts[0]) == 1 \
            else None
        if not isinstance(node, _RxNode) or node.label != d.name:
            return False
        self.rules[d.name] = Rule(d.name, (), self.origin(d.pos))
        alts: list[tuple[str, ...]] = []
        if node.rx.ne is not None:
            alts.append((self.terminal(node.rx.ne, f"RE_{d.name}", node.pos),))
        if node.rx.nullable:
            alts.append(())
        self.define(d.name, alts, d.pos)
        return True


# ----------------------------------------------------------------------------- checks
def _effective(defs: list[_RuleDef], text: str, name: str, file: str | None, policy: str
               ) -> tuple[dict[str, _RuleDef], list[GrammarWarning]]:
    """Last definition wins (llama.cpp's add_rule overwrites); duplicates warn or raise."""
    if policy not in ("override", "error"):
        raise ValueError("duplicate_rules must be 'override' or 'error'")
    out: dict[str, _RuleDef] = {}
    warnings = []
    for d in defs:
        if d.name in out:
            first = _source_pos(text, out[d.name].pos, None).line
            if policy == "error":
                raise GrammarError(f"rule {d.name!r} is defined twice (first at line {first})",
                                   text, d.pos, name)
            warnings.append(GrammarWarning(
                f"rule {d.name!r} is redefined; this definition replaces the one at line "
                f"{first} (llama.cpp behaviour)", _source_pos(text, d.pos, file)))
            del out[d.name]  # keep the source order of the effective definitions
        out[d.name] = d
    return out, warnings


def _source_pos(text: str, pos: int, file: str | None) -> SourcePos:
    line = text.count("\n", 0, pos) + 1
    return SourcePos(line, pos - (text.rfind("\n", 0, pos) + 1) + 1, file)


def _check_references(defs: dict[str, _RuleDef], start: str, text: str, name: str) -> None:
    """Undefined references point at the first offending reference; then the start rule."""
    refs = sorted((r for d in defs.values() for r in d.refs), key=lambda r: r.pos)
    for ref in refs:
        if ref.name not in defs:
            raise GrammarError(f"undefined rule {ref.name!r}", text, ref.pos, name)
    if start not in defs:
        raise GrammarError(f"the grammar defines no {start!r} rule (its start symbol)",
                           name=name)


def _reachable(defs: dict[str, _RuleDef], roots: set[str]) -> set[str]:
    seen, stack = set(roots), list(roots)
    while stack:
        for ref in defs[stack.pop()].refs:
            if ref.name in defs and ref.name not in seen:
                seen.add(ref.name)
                stack.append(ref.name)
    return seen


def _refs_after_collapse(d: _RuleDef, regular: dict[str, _Rx]) -> _RuleDef:
    """References that survive collapsing (a collapsed rule references nothing)."""
    if d.name in regular:
        return _RuleDef(d.name, d.body, d.pos, ())
    live = _live_refs(d.body)
    return _RuleDef(d.name, d.body, d.pos, tuple(r for r in d.refs if r.pos in live))


def _live_refs(node: _Node) -> set[int]:
    if isinstance(node, _Ref):
        return {node.pos}
    if isinstance(node, _Group):
        return set().union(*(_live_refs(x) for alt in node.alts for x in alt))
    if isinstance(node, _Rep):
        return _live_refs(node.child)
    return set()


def _left_recursion_warning(g: Grammar, generated: set[str]) -> GrammarWarning | None:
    """llama.cpp rejects left-recursive grammars; warn so users know the file is not portable.
    Left-corner graph of llama.cpp's shape (`generated` left-recursive stars `h ::= h x` read
    as `h ::= x h`), then strip nodes without successors / predecessors: what remains lies on
    (or between) cycles."""
    nullable = g.nullable_rules()
    edges: dict[str, set[str]] = {n: set() for n in g.rules}
    for rule in g.rules.values():
        for alt in rule.alternatives:
            for sym in alt[::-1] if rule.name in generated else alt:
                if sym in g.rules:
                    edges[rule.name].add(sym)
                if sym not in nullable:
                    break
    live = _strip_acyclic(edges)
    if not live:
        return None
    users = [n for n in g.rules if n in live and "__" not in n] or \
        [n for n in g.rules if n in live]
    shown = ", ".join(repr(n) for n in users[:5]) + (", ..." if len(users) > 5 else "")
    return GrammarWarning(f"left recursion through {shown}: llama.cpp rejects such grammars; "
                          f"grammask accepts them", g.rules[users[0]].origin)


def _strip_acyclic(edges: dict[str, set[str]]) -> set[str]:
    """Nodes left after repeatedly removing sinks and sources (iterative, linear time)."""
    live = set(edges)
    preds: dict[str, set[str]] = {n: set() for n in edges}
    for n, succ in edges.items():
        for s in succ:
            preds[s].add(n)
    outdeg = {n: len(s) for n, s in edges.items()}
    indeg = {n: len(p) for n, p in preds.items()}
    queue = [n for n in live if outdeg[n] == 0 or indeg[n] == 0]
    while queue:
        n = queue.pop()
        if n not in live:
            continue
        live.discard(n)
        for p in preds[n]:
            outdeg[p] -= 1
            if p in live and outdeg[p] == 0:
                queue.append(p)
        for s in edges[n]:
            indeg[s] -= 1
            if s in live and indeg[s] == 0:
                queue.append(s)
    return live


# ----------------------------------------------------------------------------- API
def load_gbnf(text: str, *, start: str = "root", name: str = "<grammar>",
              collapse_regular: bool = False, duplicate_rules: str = "override",
              star_recursion: str = "right", limits: Limits = DEFAULT_LIMITS,
              file: str | None = None) -> Grammar:
    """Parse GBNF `text` into a checked `Grammar` (start symbol `start`, llama.cpp's `root`).

    Raises `GrammarError` (line/column from the text) for syntax errors, undefined rules, a
    missing start rule and an empty language; warnings (unreachable rules, redefinitions, left
    recursion) are in `grammar.warnings`. See the module docstring for the options;
    `star_recursion="left"` makes `x*` helpers `h ::= h x | ε` (linear for an Earley parser
    without Leo's optimisation; the default right-recursive form mirrors llama.cpp). `file`
    names the source in `SourcePos` (set by `load_gbnf_file`)."""
    if star_recursion not in ("right", "left"):
        raise ValueError("star_recursion must be 'right' or 'left'")
    with recursion_headroom(2 * limits.max_nesting):  # AST walks recurse per nesting level
        parsed = _Parser(text, name, limits).parse()
        defs, warnings = _effective(parsed, text, name, file, duplicate_rules)
        _check_references(defs, start, text, name)
        lower = _Lowerer(defs, start, name, text, file, star_recursion == "left", limits)
        grammar, low, dropped = lower.exact(collapse_regular)
    grammar.check()
    left = _left_recursion_warning(grammar, low.left_star_helpers)
    grammar.warnings = warnings + dropped + grammar.warnings + ([left] if left else [])
    return grammar


@dataclass
class _Lowerer:
    """Lowers checked rule definitions to the IR so that the greedy lexer reads the
    character-level language exactly: terminals it could grow past their end into the next
    lexeme (`greedy_lexing.overreaching_terminals`) are banned and the rules lowered again,
    collapsed pieces falling back to their parts and literals to single characters, until none
    is left (single-character terminals can never over-extend)."""
    defs: dict[str, _RuleDef]
    start: str
    name: str
    text: str
    file: str | None
    left_stars: bool
    limits: Limits
    automata: dict[str, ByteDFA | None] = field(default_factory=dict)

    def exact(self, collapse: bool) -> tuple[Grammar, _Lowering, list[GrammarWarning]]:
        banned: set[str] = set()
        walkable: dict[int, Any] = {}       # overreaching_terminals' per-automaton cache
        for _ in range(_MAX_SPLIT_ROUNDS):
            grammar, low, dropped = self.lower(collapse, frozenset(banned))
            dfas = self.automata
            for t in grammar.terminals.values():
                if dfas.get(t.pattern) is None:
                    dfas[t.pattern] = literal_dfa(t.literal.encode()) if t.literal \
                        else compile_regex_dfa(t.pattern, self.limits)
            over = overreaching_terminals(grammar, {n: dfas[t.pattern]
                                                    for n, t in grammar.terminals.items()},
                                          walkable)
            fresh = {grammar.terminals[n].pattern for n in over} - banned
            if not fresh:
                return grammar, low, dropped
            banned |= fresh
        return self.lower(False, None)      # every literal a character at a time: exact

    def lower(self, collapse: bool, banned: frozenset[str] | None
              ) -> tuple[Grammar, _Lowering, list[GrammarWarning]]:
        defs, dropped = self.defs, []
        if collapse:
            defs, dropped = _collapse(defs, self.start, self.limits, self.text, self.file,
                                      banned or frozenset(), self.automata)
        low = _Lowering(self.text, self.file, self.left_stars, banned)
        for d in defs.values():
            if not low.whole_rule(d):
                low.rule(d)
        grammar = Grammar(self.start, low.rules, low.terminals, (), self.name,
                          scannerless=True)
        return grammar, low, dropped


def _collapse(defs: dict[str, _RuleDef], start: str, limits: Limits, text: str,
              file: str | None, banned: frozenset[str] = frozenset(),
              automata: dict[str, ByteDFA | None] | None = None
              ) -> tuple[dict[str, _RuleDef], list[GrammarWarning]]:
    """Collapse the regular parts of the rules reachable from `start`. Rules only reachable
    through collapsed ones are dropped (they live on inside the regexes); unreachable rules are
    dropped too, with the warning the IR check would have given."""
    reachable = _reachable(defs, {start})
    warnings = [GrammarWarning(f"rule {n!r} is unreachable from {start!r}",
                               _source_pos(text, d.pos, file))
                for n, d in defs.items() if n not in reachable]
    collapser = _Collapser({n: d for n, d in defs.items() if n in reachable}, limits, banned,
                           automata)
    rewritten = collapser.run()
    rewritten = {n: _refs_after_collapse(d, collapser.regular) for n, d in rewritten.items()}
    keep = _reachable(rewritten, {start})
    return {n: d for n, d in rewritten.items() if n in keep}, warnings


def load_gbnf_file(path: str | os.PathLike[str], *, start: str = "root",
                   collapse_regular: bool = False, duplicate_rules: str = "override",
                   star_recursion: str = "right", limits: Limits = DEFAULT_LIMITS) -> Grammar:
    """`load_gbnf` on a UTF-8 file; positions in errors and `SourcePos` name the file."""
    p = Path(path)
    data = p.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise GrammarError(f"not valid UTF-8 (byte offset {e.start})", name=str(p)) from None
    return load_gbnf(text, start=start, name=str(p), collapse_regular=collapse_regular,
                     duplicate_rules=duplicate_rules, star_recursion=star_recursion,
                     limits=limits, file=str(p))
