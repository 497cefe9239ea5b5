r"""`format: "regex"` on value strings: the regex syntax as a context-free grammar.

Whether a string is a regular expression is not a regular property (groups nest), so no
string automaton can decide it; a grammar can. A string with `format: "regex"` is read in
several lexemes, one per regex token (a run of literal characters, an escape, a character
class, a quantifier, a group's parenthesis, ...), and these rules nest them:

    string : '"' disj '"'                 disj : alt | disj '|' alt
    alt    : (empty) | alt piece          piece : atom [QUANT ['?']] | '^' | '$' | \b | \B
    atom   : CHARS | ESCAPED_CHAR | ESC | CLASS | '.' | '(' ['?:'] disj ')'
    piece  : '(' ('?=' | '?!') disj ')'

The accepted syntax is the part of ECMA-262's (the specification's dialect) that Python's
`re` (what reference validators run) reads the same way, so every accepted value is a valid
regex in both (Python-only syntax such as `(?P<n>x)` or `(?i)` is refused). It is sound but
deliberately not complete. Refused although valid in ECMA-262: lookbehind, named groups,
backreferences, `\p{..}`, `\c`, `\k`, quantified assertions, `[]`, `[^]`, a raw `{`, `}` or `]`
outside a class, `[` inside one, class ranges other than between printable ASCII characters
in order (`[\x00-\x1f]`, `[à-ÿ]`), a class escape as a range end, a `-` after a range that
another range follows, `{,m}`, and `{n,m}` with more than 4 digits in n or 5 in m, or with n
and m of three digits sharing their first two (`{100,105}`); `n <= m` is exact otherwise.
Real schemas' `pattern`s are 99% inside (JSONSchemaBench: 2,279 of 2,296).

Lexemes end where the grammar needs them to, with a greedy lexer that never backtracks:
`CHARS` is a run of *raw* literal characters, so a JSON escape (`\"`, `\u0041`, the `\\` of a
regex escape) always starts a new lexeme, and an escaped literal character is a lexeme of
its own (`ESCAPED_CHAR`). No other token continues past its end (a quantifier's lazy `?`
and a group's `?:` are tokens of their own: read with the token before, an escaped `?` would
have been a prefix of `\\d` too). So a text's lexemes are the same whatever the grammar:
the masks are exact for this language.

Where another string schema may read the same value (the branches of an anyOf), the lexer
follows whichever terminal continues longest, so a value only the regex reading accepts may
be refused there (sound, not complete); `uniqueItems` over regex strings is refused."""
from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ...automata import compile_regex_dfa, dfa_ops
from ...automata.dfa import ByteDFA
from ...limits import Limits
from ...memo import memo_by_bytes
from .strings import encoded_value_dfa

if TYPE_CHECKING:
    from .builder import GrammarBuilder

__all__ = ["regex_string_rule", "regex_value_allowed"]

_META = r"\\^$.|?*+()\[\]{}"
# the escapes that are valid, and mean the same, in both dialects
_ESCAPE_BODY = r"[dDwWsSnrtfv0]|[!-/:-@\[-`{-~]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}"
# JSON's escapes, one decoded character each (a surrogate pair is one character)
_JSON_ESCAPE = r'\\["\\/bfnrt]|\\u[0-9a-fA-F]{4}(\\u[0-9a-fA-F]{4})?'
# class range ends: printable ASCII but `\`, `[`, `]` and `-` (whose roles differ by dialect)
_RANGE_ENDS = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in "\\[]-")


def _class_of(chars: str) -> str:
    """A character class of `chars` (sorted), runs written as ranges."""
    out, i = [], 0
    while i < len(chars):
        j = i
        while j + 1 < len(chars) and ord(chars[j + 1]) == ord(chars[j]) + 1:
            j += 1
        lo, hi = re.escape(chars[i]), re.escape(chars[j])
        out.append(lo if i == j else f"{lo}-{hi}")
        i = j + 1
    return "[" + "".join(out) + "]"


def _class_regex() -> str:
    """`[...]` with at least one item: a character, an escape, or a range between printable
    ASCII characters in order, which a literal `-` and a character or escape may follow
    (`[a-z-_]`); a `-` may also come first or last. A `^` first is the negation (`[^]^` is
    no class of `^`: both dialects read `[^` as negated)."""
    def item(caret: bool) -> str:
        one = rf"([^\\\]\[\-{'' if caret else '^'}]|\\({_ESCAPE_BODY}))"
        ranges = "|".join(f"{re.escape(c)}-{_class_of(_RANGE_ENDS[k:])}"
                          for k, c in enumerate(_RANGE_ENDS) if caret or c != "^")
        return rf"({one}|({ranges})(-{one})?)"
    body = rf"-|-?{item(True)}+-?"
    return rf"\[(\^({body})|-|-{item(True)}+-?|{item(False)}{item(True)}*-?)\]"


def _counts_regex() -> str:
    """The inside of `{n}`, `{n,}` and `{n,m}` with n <= m (no leading zeros)."""
    def digits(k: int) -> str:
        return "[0-9]" if k == 1 else f"[1-9][0-9]{{{k - 1}}}"
    n = r"(0|[1-9][0-9]{0,3})"
    pairs = [f"{digits(k)},{digits(k2)}" for k in range(1, 5) for k2 in range(max(2, k + 1), 6)]
    pairs += [f"{d},[{d}-9]" for d in range(10)]
    for a in range(1, 10):
        for b in range(10):      # two digits: m from ab up to 99
            pairs.append(f"{a}{b},({a}[{b}-9]" + (f"|[{a + 1}-9][0-9])" if a < 9 else ")"))
        if a < 9:                # three digits: m's first digit above n's ...
            pairs.append(f"{a}[0-9]{{2}},[{a + 1}-9][0-9]{{2}}")
        for b in range(9):       # ... or the same first digit and a higher second one
            pairs.append(f"{a}{b}[0-9],{a}[{b + 1}-9][0-9]")
    return f"{n}|{n},|" + "|".join(pairs)


_PIECES: dict[str, str] = {       # token -> regex over the decoded value (all JSON spellings)
    "ESC": rf"\\({_ESCAPE_BODY})",
    "BOUNDARY": r"\\[bB]",
    "CLASS": _class_regex(),
    "DOT": r"\.",
    "ANCHOR": r"[\^$]",
    "OPEN": r"\(",
    "NONCAPTURING": r"\?:",
    "LOOKAHEAD": r"\?[=!]",
    "CLOSE": r"\)",
    "BAR": r"\|",
    "QUANT": rf"[*+?]|\{{({_counts_regex()})\}}",
    "LAZY": r"\?",
}


def regex_string_rule(b: GrammarBuilder, nonempty: bool = False) -> str:
    """The rule of a JSON string whose value is a regex, a non-empty one with `nonempty`
    (`minLength: 1`); the rules are made once per grammar."""
    found = b.rules_of_regex.get(nonempty)
    if found is not None:
        return found
    t = {name: b._terminal(("regex", name), lambda name=name: _token_dfa(name, b.limits), name)
         for name in (*_PIECES, "QUOTE", "CHARS", "ESCAPED_CHAR")}
    string, disj, alt, piece, atom = (b._new_rule() for _ in range(5))
    b.rules[string] = [(t["QUOTE"], disj, t["QUOTE"])]
    b.rules[disj] = [(alt,), (disj, t["BAR"], alt)]
    b.rules[alt] = [(), (alt, piece)]
    b.rules[piece] = [(atom,), (atom, t["QUANT"]), (atom, t["QUANT"], t["LAZY"]),
                      (t["ANCHOR"],), (t["BOUNDARY"],), (t["OPEN"], t["LOOKAHEAD"], disj, t["CLOSE"])]
    b.rules[atom] = [(t[k],) for k in ("CHARS", "ESCAPED_CHAR", "ESC", "CLASS", "DOT")] + \
        [(t["OPEN"], disj, t["CLOSE"]), (t["OPEN"], t["NONCAPTURING"], disj, t["CLOSE"])]
    b.rules_of_regex[False] = string
    # non-empty: one piece at least, or a `|` anywhere
    full, some = b._new_rule(), b._new_rule()
    b.rules[full] = [(t["QUOTE"], some, t["QUOTE"])]
    b.rules[some] = [(alt, piece), (disj, t["BAR"], alt)]
    b.rules_of_regex[True] = full
    return full if nonempty else string


@memo_by_bytes(16 << 20, lambda d: d.memory_bytes())
def _token_dfa(name: str, limits: Limits) -> ByteDFA:
    """A token's automaton (memoised across grammars: the class's takes ~0.2 s to build)."""
    if name == "QUOTE":
        return compile_regex_dfa('"', limits)
    if name == "CHARS":         # raw characters only: an escape starts the next lexeme
        return compile_regex_dfa(rf'[^\x00-\x1f"{_META}]+', limits)
    if name == "ESCAPED_CHAR":  # one escaped literal character
        return dfa_ops.intersect(encoded_value_dfa(f"[^{_META}]", limits),
                                 compile_regex_dfa(_JSON_ESCAPE, limits), limits)
    return encoded_value_dfa(_PIECES[name], limits)


def regex_value_allowed(value: str) -> bool:
    """Whether an enum/const value is in the same accepted syntax (a byte-level compile of
    this grammar, made once per process, reads it: Python's `re` alone would take `(?P<n>x)`,
    which is no ECMA-262 regex)."""
    from ...validate import validate_text
    return validate_text(_byte_level_regex_engine(), json.dumps(value)).ok


@lru_cache(maxsize=1)
def _byte_level_regex_engine() -> Any:
    from ...compiler import compile_json_schema
    from ...validate import byte_level_tokenizer
    return compile_json_schema({"type": "string", "format": "regex"}, byte_level_tokenizer(),
                               cache=False)
