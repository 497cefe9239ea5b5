r"""Regex pattern -> AST, by hand-written recursive descent so every error has an exact position.

Syntax is Python `re` (which JSON-Schema `pattern`s mostly fit). Matching is always a *full
match* of the whole text, so the parser only produces the constructs that describe a regular
language over code points:

* `CharSet` - one code point from a set of inclusive ranges (literals, escapes, `.`, classes);
* `Concat`, `Alt`, `Repeat(min, max)` (max None = unbounded), `Empty`;
* `Anchor` - `^ $ \A \Z \z`. They are accepted only where they are no-ops under full matching
  (at the very start / very end of the pattern, also per top-level alternative) and match "".

Semantics (documented, deliberately ASCII/ECMA-like rather than Python's Unicode classes):

* `\d` = [0-9], `\w` = [A-Za-z0-9_], `\s` = ECMA-262 white space
  [\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]; `\D \W \S`
  are their complements. They are never case-folded.
* `.` = any code point except `\n`; any code point at all under `(?s)`.
* Surrogates U+D800..U+DFFF are never matched (they have no UTF-8 encoding). An escaped
  surrogate pair `\ud83d\ude00` (as JSON/JS patterns write astral characters) is combined into
  the one code point it denotes; a lone escaped surrogate matches nothing.
* Negated classes are the complement within U+0000..U+10FFFF minus surrogates.
* `(?i)` folds case by closing each code point under `str.lower`/`str.upper` mappings that
  yield a single code point (so k/K/U+212A KELVIN SIGN fold together, "ß"->"SS" does not);
  this is simple case folding and can differ from Python `re` for a handful of code points.
* A `{` that does not start a valid quantifier is a literal, as in Python; `{,n}` is `{0,n}`.
* Lazy quantifiers describe the same language as greedy ones and are accepted.
* Flags: `(?i)`, `(?s)` and the no-ops `(?a)`, `(?m)`, `(?u)`, globally at the start or scoped
  as `(?i:...)` / `(?-i:...)`. `\e` is ESC, `\xHH`, `\x{H..}`, `\uHHHH`, `\u{H..}`,
  `\UHHHHHHHH`, `\N{NAME}` and octal `\0`, `\ooo` are supported.

Unsupported constructs (they are not regular or change the language) raise `GrammarError` at
the position where they start: backreferences, atomic groups, possessive quantifiers,
conditionals, verbose mode, and — unless the caller asks for them (`lookaround=True`,
`anchors_anywhere=True`; the regex dialect and JSON Schema patterns do, a grammar's terminals
do not) — lookaround, word boundaries and misplaced anchors. `\p{..}`/`\P{..}` are
supported for Unicode general categories.
"""
from __future__ import annotations

import sys
import unicodedata
from bisect import bisect_left, bisect_right
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Iterator, Union

from ..errors import GrammarError, LimitExceededError
from ..limits import DEFAULT_LIMITS, Limits

MAX_CP = 0x10FFFF
Ranges = tuple[tuple[int, int], ...]


# ----------------------------------------------------------------------------- AST
@dataclass(frozen=True, slots=True)
class CharSet:
    """One code point out of `ranges` (sorted, disjoint, non-adjacent, surrogate-free)."""
    ranges: Ranges
    pos: int


@dataclass(frozen=True, slots=True)
class Concat:
    items: tuple["Node", ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Alt:
    options: tuple["Node", ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Repeat:
    child: "Node"
    min: int
    max: int | None
    pos: int


@dataclass(frozen=True, slots=True)
class Empty:
    pos: int


@dataclass(frozen=True, slots=True)
class Anchor:
    """`^`/`\\A` (kind "start") or `$`/`\\Z`/`\\z` (kind "end"); matches the empty string."""
    kind: str
    pos: int


@dataclass(frozen=True, slots=True)
class Look:
    """A lookaround assertion `(?=child)` `(?!child)` `(?<=child)` `(?<!child)` (`ahead`,
    `negative`); matches the empty string. Produced only under `parse_regex(...,
    lookaround=True)`, whose caller builds it (`automata.lookaround`)."""
    child: "Node"
    ahead: bool
    negative: bool
    pos: int


Node = Union[CharSet, Concat, Alt, Repeat, Empty, Anchor, Look]


# ----------------------------------------------------------------------------- code-point sets
def normalize(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """Sort and merge ranges and cut out surrogates, so equal sets get equal tuples."""
    merged: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    out: list[tuple[int, int]] = []
    for lo, hi in merged:
        if lo < 0xD800 <= hi or lo <= 0xDFFF < hi or 0xD800 <= lo <= hi <= 0xDFFF:
            if lo < 0xD800:
                out.append((lo, 0xD7FF))
            if hi > 0xDFFF:
                out.append((0xE000, hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def negate(ranges: Ranges) -> Ranges:
    """Complement within all Unicode scalar values (surrogates excluded)."""
    out, nxt = [], 0
    for lo, hi in ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= MAX_CP:
        out.append((nxt, MAX_CP))
    return normalize(out)


@lru_cache(maxsize=1)
def _fold_table() -> tuple[list[int], list[tuple[int, ...]]]:
    """Sorted code points that have case variants, and each one's equivalence class.

    Built once, lazily (~15 ms): union-find over c, c.lower(), c.upper() when single chars."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for base in range(0, 0x1F000, 256):
        block = "".join(map(chr, range(base, base + 256)))
        if block.lower() == block == block.upper():
            continue                      # no cased letters: most blocks, skipped in C
        for cp in range(base, base + 256):
            for m in (chr(cp).lower(), chr(cp).upper()):
                if len(m) == 1 and ord(m) != cp:
                    a, b = find(cp), find(ord(m))
                    if a != b:
                        parent[a] = b
    classes: dict[int, list[int]] = {}
    for cp in parent:
        classes.setdefault(find(cp), []).append(cp)
    table: dict[int, tuple[int, ...]] = {}
    for root, members in classes.items():
        group = tuple(sorted(set(members) | {root}))
        for cp in group:
            table[cp] = group
    keys = sorted(table)
    return keys, [table[k] for k in keys]


def case_fold(ranges: Ranges) -> Ranges:
    """Close a set under simple case folding (see module docstring)."""
    keys, groups = _fold_table()
    extra: list[tuple[int, int]] = []
    for lo, hi in ranges:
        for k in range(bisect_left(keys, lo), bisect_right(keys, hi)):
            extra.extend((cp, cp) for cp in groups[k])
    return normalize(list(ranges) + extra) if extra else ranges


DIGIT: Ranges = ((0x30, 0x39),)
WORD: Ranges = normalize([(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)])
SPACE: Ranges = normalize([(0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680),
                           (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F),
                           (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF)])
ANY: Ranges = normalize([(0, MAX_CP)])
ANY_BUT_NEWLINE: Ranges = normalize([(0, 9), (11, MAX_CP)])
CLASS_ESCAPES: dict[str, Ranges] = {
    "d": DIGIT, "D": negate(DIGIT), "w": WORD, "W": negate(WORD), "s": SPACE, "S": negate(SPACE),
}
_CHAR_ESCAPES = {"n": 10, "t": 9, "r": 13, "f": 12, "v": 11, "a": 7, "e": 27}
_UNSUPPORTED_ESCAPES = {
    "b": "word boundary \\b is not supported", "B": "word boundary \\B is not supported",
    "k": "backreferences are not supported", "G": "\\G is not supported",
    "K": "\\K is not supported", "X": "\\X is not supported", "R": "\\R is not supported",
}
_CATEGORY_NAMES = {
    "Letter": "L", "Cased_Letter": "LC", "Uppercase_Letter": "Lu", "Lowercase_Letter": "Ll",
    "Titlecase_Letter": "Lt", "Modifier_Letter": "Lm", "Other_Letter": "Lo", "Mark": "M",
    "Nonspacing_Mark": "Mn", "Spacing_Mark": "Mc", "Enclosing_Mark": "Me", "Number": "N",
    "Decimal_Number": "Nd", "Letter_Number": "Nl", "Other_Number": "No", "Punctuation": "P",
    "Connector_Punctuation": "Pc", "Dash_Punctuation": "Pd", "Open_Punctuation": "Ps",
    "Close_Punctuation": "Pe", "Initial_Punctuation": "Pi", "Final_Punctuation": "Pf",
    "Other_Punctuation": "Po", "Symbol": "S", "Math_Symbol": "Sm", "Currency_Symbol": "Sc",
    "Modifier_Symbol": "Sk", "Other_Symbol": "So", "Separator": "Z", "Space_Separator": "Zs",
    "Line_Separator": "Zl", "Paragraph_Separator": "Zp", "Other": "C", "Control": "Cc",
    "Format": "Cf", "Surrogate": "Cs", "Private_Use": "Co", "Unassigned": "Cn",
}
for _short in list(_CATEGORY_NAMES.values()):
    _CATEGORY_NAMES[_short] = _short


@lru_cache(maxsize=64)
def category_ranges(short: str) -> Ranges:
    """Code-point ranges of a general category (one letter: the whole group; "LC": Lu Ll Lt)."""
    wanted = {"LC": ("Lu", "Ll", "Lt")}.get(short, (short,))
    out: list[tuple[int, int]] = []
    start = -1
    for cp in range(MAX_CP + 2):
        cat = unicodedata.category(chr(cp)) if cp <= MAX_CP else ""
        hit = cat in wanted or (len(short) == 1 and cat[:1] == short)
        if hit and start < 0:
            start = cp
        elif not hit and start >= 0:
            out.append((start, cp - 1))
            start = -1
    return normalize(out)


_HEX = frozenset("0123456789abcdefABCDEF")
_OCT = frozenset("01234567")
_FLAGS = frozenset("aimsuxL")
_SPECIAL = frozenset("\\[](){}|*+?.^$")


# ----------------------------------------------------------------------------- parser
class _Parser:
    """Recursive descent over `pattern`; `i` is the index of the next unread character."""

    def __init__(self, pattern: str, limits: Limits, lookaround: bool = False) -> None:
        self.p = pattern
        self.lookaround = lookaround  # `(?=..)`, `\b` etc. as `Look` nodes instead of refused
        self.has_look = False
        self.n = len(pattern)
        self.i = 0
        self.limits = limits
        self.depth = 0
        self.ignore_case = False
        self.dotall = False
        self.global_flags_ok = True   # `(?i)` is only valid before anything else
        self.has_anchor = False
        self.literal_cache: dict[int, Ranges] = {}

    # -- helpers
    def error(self, message: str, pos: int) -> GrammarError:
        return GrammarError(message, self.p, pos)

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.p[j] if j < self.n else ""

    def literal(self, cp: int) -> Ranges:
        """Ranges of one literal code point (cached: patterns are mostly literals)."""
        key = -1 - cp if self.ignore_case else cp
        ranges = self.literal_cache.get(key)
        if ranges is None:
            ranges = normalize([(cp, cp)])
            if self.ignore_case:
                ranges = case_fold(ranges)
            self.literal_cache[key] = ranges
        return ranges

    # -- structure
    def parse(self) -> Node:
        node = self.alternation()
        if self.i < self.n:   # only a stray ')' stops the top-level alternation early
            raise self.error("unbalanced parenthesis ')'", self.i)
        return node

    def alternation(self) -> Node:
        start = self.i
        options = [self.sequence()]
        while self.peek() == "|":
            self.i += 1
            options.append(self.sequence())
        return options[0] if len(options) == 1 else Alt(tuple(options), start)

    def sequence(self) -> Node:
        start = self.i
        items: list[Node] = []
        quantified = False
        while self.i < self.n and self.p[self.i] not in "|)":
            ch = self.p[self.i]
            if ch not in _SPECIAL:        # fast path: a plain literal
                items.append(CharSet(self.literal(ord(ch)), self.i))
                self.i += 1
                quantified = False
                self.global_flags_ok = False
                continue
            q = self.quantifier()
            if q is not None:
                qpos, lo, hi = q
                if quantified:
                    raise self.error("multiple repeat", qpos)
                if not items or isinstance(items[-1], Anchor):
                    raise self.error("nothing to repeat", qpos)
                items[-1] = Repeat(items[-1], lo, hi, qpos)
                quantified = True
                continue
            atom = self.atom()
            if atom is not None:      # None: a comment or a flag group
                items.append(atom)
                quantified = False
        if not items:
            return Empty(start)
        return items[0] if len(items) == 1 else Concat(tuple(items), start)

    # -- quantifiers
    def quantifier(self) -> tuple[int, int, int | None] | None:
        """Parse `* + ? {..}` plus a lazy `?` at `i`; None (nothing consumed) if absent."""
        pos, ch = self.i, self.peek()
        if ch == "*":
            lo, hi, end = 0, None, pos + 1
        elif ch == "+":
            lo, hi, end = 1, None, pos + 1
        elif ch == "?":
            lo, hi, end = 0, 1, pos + 1
        elif ch == "{":
            braces = self.braces(pos)
            if braces is None:
                return None
            lo, hi, end = braces
        else:
            return None
        self.i = end
        if self.peek() == "+":
            raise self.error("possessive quantifiers are not supported", pos)
        if self.peek() == "?":
            self.i += 1
        return pos, lo, hi

    def braces(self, pos: int) -> tuple[int, int | None, int] | None:
        """`{m}`, `{m,}`, `{,n}`, `{m,n}`, `{,}` starting at `pos`; None means literal `{`."""
        j = pos + 1
        a_start = j
        while j < self.n and self.p[j].isdigit() and self.p[j].isascii():
            j += 1
        a = b = self.p[a_start:j]
        comma = j < self.n and self.p[j] == ","
        if comma:
            j += 1
            b_start = j
            while j < self.n and self.p[j].isdigit() and self.p[j].isascii():
                j += 1
            b = self.p[b_start:j]
        if j >= self.n or self.p[j] != "}" or not (a or comma):
            return None
        lo = self.bound(a, pos) if a else 0
        hi = self.bound(b, pos) if b else None
        if hi is not None and lo > hi:
            raise self.error("min repeat greater than max repeat", pos)
        return lo, hi, j + 1

    def bound(self, digits: str, pos: int) -> int:
        limit = self.limits.max_repeat
        value = int(digits) if len(digits) <= 18 else 10 ** 18
        if value > limit:
            raise LimitExceededError("max_repeat", value, limit, "counted repetition too large",
                                     self.p, pos)
        return value

    # -- atoms
    def atom(self) -> Node | None:
        pos, ch = self.i, self.p[self.i]
        if ch == "(":
            return self.group()
        self.global_flags_ok = False
        self.i += 1
        if ch == "[":
            return self.char_class(pos)
        if ch == ".":
            return CharSet(ANY if self.dotall else ANY_BUT_NEWLINE, pos)
        if ch in "^$":
            self.has_anchor = True
            return Anchor("start" if ch == "^" else "end", pos)
        if ch == "\\":
            kind, value = self.escape(pos, in_class=False)
            if kind == "anchor":
                self.has_anchor = True
                return Anchor(value, pos)       # type: ignore[arg-type]
            if kind == "boundary":
                return word_boundary(bool(value), pos)
            if kind == "set":
                return CharSet(value, pos)              # type: ignore[arg-type]
            return CharSet(self.literal(value), pos)   # type: ignore[arg-type]
        return CharSet(self.literal(ord(ch)), pos)

    def group(self) -> Node | None:
        pos = self.i
        self.i += 1
        if self.peek() == "?":
            return self.extension(pos)
        self.global_flags_ok = False
        return self.group_body(pos)

    def group_body(self, pos: int) -> Node:
        self.depth += 1
        if self.depth > self.limits.max_nesting:
            raise LimitExceededError("max_nesting", self.depth, self.limits.max_nesting,
                                     "groups nested too deeply", self.p, pos)
        node = self.alternation()
        if self.peek() != ")":
            raise self.error("missing ), unterminated subpattern", pos)
        self.i += 1
        self.depth -= 1
        return node

    def extension(self, pos: int) -> Node | None:
        """`(?...)` at `pos` (the `(`); `i` is at the `?`."""
        self.i += 1
        ch = self.peek()
        if ch == "#":
            end = self.p.find(")", self.i)
            if end < 0:
                raise self.error("missing ), unterminated comment", pos)
            self.i = end + 1
            return None
        if ch in _FLAGS or ch == "-":
            return self.flag_group(pos)
        self.global_flags_ok = False
        if ch == ":":
            self.i += 1
            return self.group_body(pos)
        if self.lookaround and ch and (ch in "=!" or ch == "<" and self.peek(1) in ("=", "!")):
            return self.look(pos)
        if ch == "P" and self.peek(1) == "<" or ch == "<" and self.peek(1) not in ("=", "!", ""):
            self.i += 2 if ch == "P" else 1
            self.group_name(pos)
            return self.group_body(pos)
        raise self.error(self.extension_message(ch), pos)

    def look(self, pos: int) -> Look:
        """`(?=`, `(?!`, `(?<=`, `(?<!` at `pos`; `i` is at the `=`, `!` or `<`."""
        ahead = self.p[self.i] != "<"
        if not ahead:
            self.i += 1
        negative = self.p[self.i] == "!"
        self.i += 1
        self.has_look = True
        return Look(self.group_body(pos), ahead, negative, pos)

    def extension_message(self, ch: str) -> str:
        nxt = self.peek(1)
        if ch in ("=", "!") or ch == "<" and nxt in ("=", "!"):
            return "lookaround assertions are not supported"
        if ch == "P" and nxt == "=":
            return "backreferences are not supported"
        if ch == ">":
            return "atomic groups are not supported"
        if ch == "(":
            return "conditional groups are not supported"
        return "unknown extension (?" + ch

    def group_name(self, pos: int) -> str:
        start = self.i
        end = self.p.find(">", start)
        if end < 0:
            raise self.error("missing >, unterminated name", start)
        name = self.p[start:end]
        if not name.isidentifier():
            raise self.error(f"bad character in group name {name!r}", start)
        self.i = end + 1
        return name

    def flag_group(self, pos: int) -> Node | None:
        on, off = self.flag_letters(pos), ""
        if self.peek() == "-":
            self.i += 1
            off = self.flag_letters(pos)
            if not off:
                raise self.error("missing flag", self.i)
        ch = self.peek()
        if ch == ")":
            if off:
                raise self.error("missing :", self.i)
            if not self.global_flags_ok:
                raise self.error("global flags not at the start of the expression", pos)
            self.i += 1
            self.apply_flags(on, True)
            return None
        if ch != ":":
            raise self.error("missing -, : or )", self.i)
        self.i += 1
        self.global_flags_ok = False
        saved = (self.ignore_case, self.dotall)
        self.apply_flags(on, True)
        self.apply_flags(off, False)
        node = self.group_body(pos)
        self.ignore_case, self.dotall = saved
        return node

    def flag_letters(self, pos: int) -> str:
        """Flag letters at `i`; unsupported ones are reported at the group's `(` (`pos`)."""
        start = self.i
        while self.peek() in _FLAGS and self.peek():
            ch = self.peek()
            if ch == "x":
                raise self.error("verbose flag (?x) is not supported", pos)
            if ch == "L":
                raise self.error("locale flag (?L) is not supported", pos)
            self.i += 1
        return self.p[start:self.i]

    def apply_flags(self, letters: str, value: bool) -> None:
        if "i" in letters:
            self.ignore_case = value
        if "s" in letters:
            self.dotall = value

    # -- classes
    def char_class(self, pos: int) -> CharSet:
        """`[...]` starting at `pos`; `i` is just past the `[`."""
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        plain: list[tuple[int, int]] = []     # literals and ranges: subject to (?i)
        sets: list[tuple[int, int]] = []      # \d \w \s ...: never folded
        first = True
        while True:
            if self.i >= self.n:
                raise self.error("unterminated character set", pos)
            if self.p[self.i] == "]" and not first:
                self.i += 1
                break
            first = False
            self.class_item(plain, sets)
        ranges = normalize(plain)
        if self.ignore_case:
            ranges = case_fold(ranges)
        ranges = normalize(list(ranges) + sets)
        return CharSet(negate(ranges) if negated else ranges, pos)

    def class_item(self, plain: list[tuple[int, int]], sets: list[tuple[int, int]]) -> None:
        start = self.i
        kind, lo = self.class_atom()
        if self.peek() == "-" and self.peek(1) not in ("]", ""):
            self.i += 1
            kind2, hi = self.class_atom()
            if kind != "char" or kind2 != "char" or hi < lo:  # type: ignore[operator]
                raise self.error("bad character range", start)
            plain.append((lo, hi))                             # type: ignore[arg-type]
        elif kind == "char":
            plain.append((lo, lo))                             # type: ignore[arg-type]
        else:
            sets.extend(lo)                                    # type: ignore[arg-type]

    def class_atom(self) -> tuple[str, int | Ranges]:
        pos, ch = self.i, self.p[self.i]
        self.i += 1
        if ch == "\\":
            return self.escape(pos, in_class=True)             # type: ignore[return-value]
        return "char", ord(ch)

    # -- escapes
    def escape(self, pos: int, in_class: bool) -> tuple[str, object]:
        """Escape whose backslash is at `pos` (`i` is past it).

        Returns ("char", code point), ("set", ranges) or ("anchor", kind)."""
        if self.i >= self.n:
            raise self.error("bad escape (end of pattern)", pos)
        ch = self.p[self.i]
        self.i += 1
        if ch in CLASS_ESCAPES:
            return "set", CLASS_ESCAPES[ch]
        if ch in _CHAR_ESCAPES:
            return "char", _CHAR_ESCAPES[ch]
        if ch == "b" and in_class:
            return "char", 8
        if ch in "AZz" and not in_class:
            return "anchor", "start" if ch == "A" else "end"
        if ch in "bB" and self.lookaround and not in_class:
            self.has_look = True
            return "boundary", ch == "B"
        if ch in "xuU":
            return "char", self.hex_escape(ch, pos)
        if ch == "N":
            return "char", self.named_escape(pos)
        if ch in "pP":
            ranges = self.property_escape(pos)
            return "set", ranges if ch == "p" else negate(ranges)
        if ch.isdigit() and ch.isascii():
            return "char", self.digit_escape(ch, pos, in_class)
        if ch in _UNSUPPORTED_ESCAPES:
            raise self.error(_UNSUPPORTED_ESCAPES[ch], pos)
        if ch.isascii() and ch.isalnum():
            raise self.error(f"bad escape \\{ch}", pos)
        return "char", ord(ch)

    def property_escape(self, pos: int) -> Ranges:
        """`\\p{Name}` for a Unicode general category (`L`, `Lu`, `Letter`,
        `Uppercase_Letter`, `gc=L`, `General_Category=Letter`), from Python's `unicodedata`
        (its Unicode version, which can trail ECMAScript engines' by a release)."""
        end = self.p.find("}", self.i)
        if self.peek() != "{" or end < 0:
            raise self.error("bad escape \\p (expected \\p{Name})", pos)
        name = self.p[self.i + 1:end]
        self.i = end + 1
        for prefix in ("gc=", "General_Category="):
            if name.startswith(prefix):
                name = name[len(prefix):]
        short = _CATEGORY_NAMES.get(name, name)
        if short not in _CATEGORY_NAMES.values():
            raise self.error(f"unsupported Unicode property {name!r} (general categories "
                             f"only, e.g. \\p{{L}}, \\p{{Nd}})", pos)
        return category_ranges(short)

    def hex_digits(self, count: int, pos: int, letter: str) -> int:
        digits = self.p[self.i:self.i + count]
        if len(digits) != count or not all(c in _HEX for c in digits):
            raise self.error(f"incomplete escape \\{letter}", pos)
        self.i += count
        return int(digits, 16)

    def hex_escape(self, letter: str, pos: int) -> int:
        if letter in "xu" and self.peek() == "{":
            end = self.p.find("}", self.i)
            digits = self.p[self.i + 1:end] if end > 0 else ""
            if not 1 <= len(digits) <= 6 or not all(c in _HEX for c in digits):
                raise self.error(f"bad escape \\{letter}{{...}}", pos)
            self.i = end + 1
            value = int(digits, 16)
        else:
            value = self.hex_digits({"x": 2, "u": 4, "U": 8}[letter], pos, letter)
        if value > MAX_CP:
            raise self.error("bad escape (code point above U+10FFFF)", pos)
        if letter == "u" and 0xD800 <= value <= 0xDBFF:
            value = self.low_surrogate(value)
        return value

    def low_surrogate(self, high: int) -> int:
        """Combine `\\uD83D\\uDE00`-style pairs (JSON/JS spelling of astral characters)."""
        tail = self.p[self.i:self.i + 6]
        if len(tail) == 6 and tail[:2] == "\\u" and all(c in _HEX for c in tail[2:]):
            low = int(tail[2:], 16)
            if 0xDC00 <= low <= 0xDFFF:
                self.i += 6
                return 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        return high

    def named_escape(self, pos: int) -> int:
        end = self.p.find("}", self.i)
        if self.peek() != "{" or end < 0:
            raise self.error("missing {...} after \\N", pos)
        name = self.p[self.i + 1:end]
        try:
            value = ord(unicodedata.lookup(name))
        except KeyError:
            raise self.error(f"undefined character name {name!r}", pos) from None
        self.i = end + 1
        return value

    def digit_escape(self, first: str, pos: int, in_class: bool) -> int:
        """Octal escapes; other digit escapes are backreferences (unsupported)."""
        if first == "0" or in_class and first in _OCT:
            digits = first
            while len(digits) < 3 and self.peek() in _OCT and self.peek():
                digits += self.peek()
                self.i += 1
            return int(digits, 8)
        nxt = self.p[self.i:self.i + 2]
        if not in_class and first in _OCT and len(nxt) == 2 and all(c in _OCT for c in nxt):
            value = int(first + nxt, 8)
            if value > 0o377:
                raise self.error("octal escape value outside of range 0-0o377", pos)
            self.i += 2
            return value
        if in_class:
            raise self.error(f"bad escape \\{first}", pos)
        raise self.error("backreferences are not supported", pos)


# ----------------------------------------------------------------------------- lookaround
def word_boundary(negated: bool, pos: int) -> Node:
    """`\\b` (or `\\B` when `negated`) as lookarounds over the ASCII word class: a word
    character on exactly one side (`\\B`: on both or neither)."""
    word = CharSet(CLASS_ESCAPES["w"], pos)
    sides = [(Look(word, False, False, pos), Look(word, True, not negated, pos)),
             (Look(word, False, True, pos), Look(word, True, negated, pos))]
    return Alt(tuple(Concat(pair, pos) for pair in sides), pos)


def has_look(node: Node) -> bool:
    """Does the AST hold a lookaround (`Look`) anywhere?"""
    if isinstance(node, Look):
        return True
    if isinstance(node, Concat):
        return any(has_look(x) for x in node.items)
    if isinstance(node, Alt):
        return any(has_look(x) for x in node.options)
    if isinstance(node, Repeat):
        return has_look(node.child)
    return False


# ----------------------------------------------------------------------------- anchors
def matches_empty(node: Node, only: bool = False) -> bool:
    """True if the node can match the empty string (`only`: can match nothing else);
    anchors count as empty."""
    if isinstance(node, (Empty, Anchor)):
        return True
    if isinstance(node, Concat):
        return all(matches_empty(x, only) for x in node.items)
    if isinstance(node, Alt):
        test = all if only else any
        return test(matches_empty(x, only) for x in node.options)
    if isinstance(node, Repeat):
        return (node.max == 0 if only else node.min == 0) or matches_empty(node.child, only)
    return False


def _zero_width(node: Node) -> bool:
    return matches_empty(node, only=True)


def _check_anchors(node: Node, at_start: bool, at_end: bool, pattern: str) -> None:
    """Anchors are no-ops only where nothing can have been / can still be consumed."""
    if isinstance(node, Anchor):
        ok = at_start if node.kind == "start" else at_end
        if not ok:
            where = "start" if node.kind == "start" else "end"
            raise GrammarError(f"anchor is only supported at the {where} of the pattern",
                               pattern, node.pos)
    elif isinstance(node, Concat):
        zero = [_zero_width(x) for x in node.items]
        k = len(zero)
        prefix_zero = [True] * (k + 1)
        for j in range(k):
            prefix_zero[j + 1] = prefix_zero[j] and zero[j]
        suffix_zero = [True] * (k + 1)
        for j in range(k - 1, -1, -1):
            suffix_zero[j] = suffix_zero[j + 1] and zero[j]
        for j, item in enumerate(node.items):
            _check_anchors(item, at_start and prefix_zero[j], at_end and suffix_zero[j + 1],
                           pattern)
    elif isinstance(node, Alt):
        for option in node.options:
            _check_anchors(option, at_start, at_end, pattern)
    elif isinstance(node, Repeat):
        once = node.max is not None and node.max <= 1 or _zero_width(node.child)
        _check_anchors(node.child, at_start and once, at_end and once, pattern)


def anchors_at_ends(node: Node, pattern: str = "") -> bool:
    """Do all anchors stand where they are no-ops under full matching (at the ends)?"""
    try:
        _check_anchors(node, True, True, pattern)
    except GrammarError:
        return False
    return True


@contextmanager
def recursion_headroom(levels: int) -> Iterator[None]:
    """Room for `levels` nested groups. The parser and the AST walks use a handful of frames
    per group level, so the default max_nesting=200 needs more than CPython's default limit
    of 1000 frames. Raised relative to the current limit, restored unless someone else changed
    it meanwhile (pure-Python frames cost no C stack on CPython >= 3.11)."""
    old = sys.getrecursionlimit()
    new = old + 8 * levels + 100
    sys.setrecursionlimit(new)
    try:
        yield
    finally:
        if sys.getrecursionlimit() == new:
            sys.setrecursionlimit(old)


def parse_regex(pattern: str, limits: Limits = DEFAULT_LIMITS, *,
                anchors_anywhere: bool = False, lookaround: bool = False) -> Node:
    """Parse `pattern` into an AST; raises GrammarError/LimitExceededError with positions.
    Anchors must sit where they are no-ops (at the ends) unless `anchors_anywhere`: then the
    caller gives them their meaning (JSON Schema's search semantics, `json_schema.strings`).
    `lookaround`: lookaround groups and `\\b`/`\\B` become `Look` nodes (see `has_look`)
    instead of errors, for a caller that builds them (`automata.lookaround`, which gives
    anchors their meaning wherever they stand)."""
    if len(pattern) > limits.max_regex_length:
        raise LimitExceededError("max_regex_length", len(pattern), limits.max_regex_length,
                                 "regex too long", None, None)
    with recursion_headroom(min(limits.max_nesting, pattern.count("("))):
        parser = _Parser(pattern, limits, lookaround)
        node = parser.parse()
        if parser.has_anchor and not (anchors_anywhere or parser.has_look):
            _check_anchors(node, True, True, pattern)
    return node
