"""Realistic regex patterns for the regex-mask benchmark, and matching strings for them.

``PATTERNS`` maps a short name to a regex written in the dialect every engine in the benchmark
understands the same way (grammask, xgrammar, outlines-core and Python ``re``): no look-arounds,
no back-references, no anchors, no ``\\b``; digit classes are spelled ``[0-9]`` so that
Unicode-aware ``\\d`` (Rust ``regex``) and ASCII ``\\d`` agree on everything the generators emit.

``matching_strings(name, k, seed)`` returns ``k`` deterministic strings that each fully match
``PATTERNS[name]`` (checked with ``re.fullmatch``): a few hand-written realistic ones first, then
strings from a per-pattern realistic generator, with every fourth generated string instead coming
from a generic generator that walks the parsed pattern (``re._parser``), so structural corners the
realistic generator never reaches (odd separators, maximal repeats, ...) are covered too.

Only the standard library is used, so tests can import this module on any machine.
"""

from __future__ import annotations

import random
import re
import string

try:  # Python >= 3.11
    from re import _constants as _sre_c  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as _sre_c  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

__all__ = [
    "PATTERNS",
    "WORDS_200",
    "WARMUP_PATTERN",
    "HANDWRITTEN",
    "matching_strings",
    "warmup_string",
    "generic_string",
]

# 200 real English words, fixed. Many share prefixes (the/then/there/these/they, ...), which is
# what makes a large alternation interesting for a token-level automaton.
WORDS_200: tuple[str, ...] = (
    "the", "then", "there", "these", "they", "their", "them", "theory", "thing", "think",
    "this", "those", "though", "thought", "through", "throw", "time", "today", "together", "tomorrow",
    "about", "above", "accept", "account", "across", "action", "activity", "actually", "address", "admit",
    "after", "again", "against", "agency", "agent", "agree", "agreement", "ahead", "allow", "almost",
    "alone", "along", "already", "also", "although", "always", "among", "amount", "analysis", "animal",
    "another", "answer", "anyone", "anything", "appear", "apply", "approach", "area", "argue", "around",
    "arrive", "article", "artist", "assume", "attack", "attention", "attorney", "audience", "author", "authority",
    "available", "avoid", "away", "baby", "back", "ball", "bank", "base", "beat", "beautiful",
    "because", "become", "before", "begin", "behavior", "behind", "believe", "benefit", "best", "better",
    "between", "beyond", "bill", "billion", "black", "blood", "blue", "board", "body", "book",
    "born", "both", "break", "bring", "brother", "budget", "build", "building", "business", "call",
    "camera", "campaign", "cancer", "candidate", "capital", "card", "care", "career", "carry", "case",
    "catch", "cause", "cell", "center", "central", "century", "certain", "certainly", "chair", "challenge",
    "chance", "change", "character", "charge", "check", "child", "choice", "choose", "church", "citizen",
    "city", "civil", "claim", "class", "clear", "clearly", "close", "coach", "cold", "collection",
    "college", "color", "come", "commercial", "common", "community", "company", "compare", "computer", "concern",
    "condition", "conference", "congress", "consider", "consumer", "contain", "continue", "control", "cost", "could",
    "country", "couple", "course", "court", "cover", "create", "crime", "cultural", "culture", "current",
    "customer", "dark", "data", "daughter", "dead", "deal", "death", "debate", "decade", "decide",
    "decision", "deep", "defense", "degree", "democrat", "describe", "design", "despite", "detail", "determine",
)
assert len(WORDS_200) == 200 and len(set(WORDS_200)) == 200

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DATE = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"

PATTERNS: dict[str, str] = {
    "iso_date": _DATE,
    "iso_datetime": _DATE
    + r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])",
    "email": r"[a-zA-Z0-9._%+-]+@[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)*\.[a-zA-Z]{2,}",
    "phone": r"(\+[1-9][0-9]{0,2}[ .-]?)?(\([0-9]{3}\)|[0-9]{3})[ .-]?[0-9]{3}[ .-]?[0-9]{4}",
    "words_200": "(" + "|".join(WORDS_200) + ")",
    "free_text_200": r'[^"]{0,200}',
    "json_number": r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?",
    "uuid": r"[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
    "ipv4": r"(" + _OCTET + r"\.){3}" + _OCTET,
    "json_string": r'"([^"\\]|\\.)*"',
}

# Compiled and run through once per engine before anything is measured (lazy imports, JIT-ish
# first-call costs, allocator warm-up). Its results are discarded.
WARMUP_PATTERN = r"[a-z]{1,8}( [a-z]{1,8}){0,3}"


def warmup_string() -> str:
    return "warm up the engine"


# Realistic hand-written strings; they come first in every matching_strings() result.
HANDWRITTEN: dict[str, tuple[str, ...]] = {
    "iso_date": ("2024-02-29", "1999-12-31", "2025-07-04"),
    "iso_datetime": (
        "2024-05-17T13:45:00Z",
        "2023-11-05T08:30:15.123+05:30",
        "1970-01-01T00:00:00.000000-08:00",
    ),
    "email": ("john.doe@example.com", "jane_smith+newsletter@mail.company.co.uk", "support@github.io"),
    "phone": ("(555) 123-4567", "+1 415-555-0132", "+44 207 946 0958"),
    "words_200": ("the", "there", "authority"),
    "free_text_200": (
        "The quick brown fox jumps over the lazy dog.",
        "Café au lait, s'il vous plaît — merci! Prices: €3.50 / £3.00.\nSee you at 10:30 🙂",
        "",
    ),
    "json_number": ("0", "-12.5e+10", "3.141592653589793"),
    "uuid": ("123e4567-e89b-12d3-a456-426614174000", "f47ac10b-58cc-4372-a567-0e02b2c3d479"),
    "ipv4": ("192.168.1.1", "10.0.0.255", "8.8.8.8"),
    "json_string": (
        '"hello world"',
        '"He said \\"hi\\" and left.\\nPath: C:\\\\Users\\\\me"',
        '"caf\\u00e9 \\t tab"',
    ),
}

# --- realistic per-pattern generators -----------------------------------------------------------

_FIRST = ("john", "jane", "maria", "wei", "ahmed", "olga", "liam", "sofia", "kenji", "amara", "lucas", "chloe")
_LAST = ("smith", "garcia", "nguyen", "mueller", "kowalski", "tanaka", "okafor", "rossi", "dubois", "patel")
_DOMAINS = (
    "gmail.com", "yahoo.com", "outlook.com", "example.org", "mail.company.co.uk",
    "cs.stanford.edu", "proton.me", "my-startup.io", "university.ac.jp", "web.de",
)
_TEXT_WORDS = (
    "the", "a", "of", "and", "to", "in", "is", "you", "that", "it", "for", "on", "with", "as",
    "was", "are", "this", "be", "at", "have", "from", "or", "by", "one", "had", "not", "but",
    "what", "all", "were", "when", "we", "there", "can", "an", "your", "which", "their", "said",
    "model", "token", "grammar", "regex", "matcher", "bitmask", "latency", "throughput", "schema",
    "Hello", "World", "Python", "Paris", "Monday", "café", "naïve", "résumé", "Zürich", "日本語",
    "données", "straße", "🙂", "—", "€", "2024", "42", "3.14", "e-mail", "O'Brien", "it's",
)
_PUNCT = (".", ",", ";", ":", "!", "?", " -", "", "", "", "", "")


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _gen_date(rng: random.Random) -> str:
    y = rng.randint(1900, 2099)
    m = rng.randint(1, 12)
    d = rng.randint(1, _days_in_month(y, m))
    return f"{y:04d}-{m:02d}-{d:02d}"


def _gen_datetime(rng: random.Random) -> str:
    s = _gen_date(rng) + f"T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    if rng.random() < 0.5:
        s += "." + "".join(rng.choice(string.digits) for _ in range(rng.choice((1, 3, 3, 6))))
    if rng.random() < 0.4:
        s += "Z"
    else:
        s += f"{rng.choice('+-')}{rng.randint(0, 14):02d}:{rng.choice((0, 0, 30, 45)):02d}"
    return s


def _gen_email(rng: random.Random) -> str:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    style = rng.randrange(5)
    if style == 0:
        local = f"{first}.{last}"
    elif style == 1:
        local = f"{first}_{last}{rng.randint(1, 99)}"
    elif style == 2:
        local = f"{first[0]}{last}"
    elif style == 3:
        local = f"{first}+{rng.choice(('news', 'shop', 'github', 'work'))}"
    else:
        local = f"{first}{rng.randint(1970, 2010)}"
    return f"{local}@{rng.choice(_DOMAINS)}"


def _gen_phone(rng: random.Random) -> str:
    area, mid, end = rng.randint(200, 999), rng.randint(200, 999), rng.randint(0, 9999)
    style = rng.randrange(5)
    if style == 0:
        return f"({area}) {mid}-{end:04d}"
    if style == 1:
        return f"{area}-{mid}-{end:04d}"
    if style == 2:
        return f"+1 {area}-{mid}-{end:04d}"
    if style == 3:
        return f"{area}.{mid}.{end:04d}"
    return f"+{rng.choice((33, 44, 49, 81, 91))} {area} {mid} {end:04d}"


def _gen_word(rng: random.Random) -> str:
    return rng.choice(WORDS_200)


def _gen_text(rng: random.Random, max_chars: int, forbid: str) -> str:
    target = rng.choice((0, rng.randint(1, 40), rng.randint(40, max_chars), max_chars))
    parts: list[str] = []
    n = 0
    while n < target:
        w = rng.choice(_TEXT_WORDS)
        if parts and rng.random() < 0.15:
            w = w.capitalize()
        w += rng.choice(_PUNCT)
        if rng.random() < 0.03:
            w += "\n"
        parts.append(w)
        n += len(w) + 1
    s = " ".join(parts)[:target]
    return "".join(ch for ch in s if ch not in forbid)


def _gen_free_text(rng: random.Random) -> str:
    return _gen_text(rng, 200, '"')


def _gen_json_number(rng: random.Random) -> str:
    style = rng.randrange(6)
    sign = "-" if rng.random() < 0.3 else ""
    if style == 0:
        return sign + str(rng.randint(0, 100))
    if style == 1:
        return sign + str(rng.randint(0, 10**rng.randint(1, 15)))
    if style == 2:
        return sign + f"{rng.uniform(0, 1000):.{rng.randint(1, 6)}f}"
    if style == 3:
        return sign + repr(rng.uniform(-1, 1) * 10 ** rng.randint(-5, 5)).lstrip("-")
    if style == 4:
        return sign + f"{rng.randint(1, 9)}.{rng.randint(0, 999):03d}e{rng.choice(('', '+', '-'))}{rng.randint(0, 308)}"
    return sign + f"{rng.randint(1, 999)}E{rng.randint(-30, 30)}"


def _gen_uuid(rng: random.Random) -> str:
    h = "".join(rng.choice("0123456789abcdef") for _ in range(32))
    version = rng.choice("14451")  # mostly v4, some v1 / v5
    variant = rng.choice("89ab")
    h = h[:12] + version + h[13:16] + variant + h[17:]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _gen_ipv4(rng: random.Random) -> str:
    style = rng.randrange(4)
    if style == 0:
        octets = [192, 168, rng.randint(0, 255), rng.randint(1, 254)]
    elif style == 1:
        octets = [10, rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)]
    else:
        octets = [rng.randint(1, 223)] + [rng.randint(0, 255) for _ in range(3)]
    return ".".join(map(str, octets))


_ESCAPES = ('\\"', "\\\\", "\\n", "\\t", "\\/", "\\u00e9", "\\u2014", "\\r")


def _gen_json_string(rng: random.Random) -> str:
    body = _gen_text(rng, 120, '"\\')
    if body:
        pieces = body.split(" ")
        for _ in range(rng.randint(0, 3)):
            pieces.insert(rng.randint(0, len(pieces)), rng.choice(_ESCAPES))
        body = " ".join(pieces)
    return f'"{body}"'


_REALISTIC = {
    "iso_date": _gen_date,
    "iso_datetime": _gen_datetime,
    "email": _gen_email,
    "phone": _gen_phone,
    "words_200": _gen_word,
    "free_text_200": _gen_free_text,
    "json_number": _gen_json_number,
    "uuid": _gen_uuid,
    "ipv4": _gen_ipv4,
    "json_string": _gen_json_string,
}

# --- generic generator walking the parsed pattern ----------------------------------------------

# Characters a negated class / ``.`` may produce: printable ASCII plus a few multi-byte
# characters (2-, 3- and 4-byte UTF-8) so byte-level token handling is exercised.
_POOL = [c for c in string.printable if c not in "\x0b\x0c\r"] + list("éüßçñ€—’日本語🙂")
_CATEGORY_CHARS = {
    _sre_c.CATEGORY_DIGIT: string.digits,
    _sre_c.CATEGORY_NOT_DIGIT: string.ascii_letters + " .-",
    _sre_c.CATEGORY_WORD: string.ascii_letters + string.digits + "_",
    _sre_c.CATEGORY_NOT_WORD: " .,;:-!?",
    _sre_c.CATEGORY_SPACE: " \t\n",
    _sre_c.CATEGORY_NOT_SPACE: string.ascii_letters + string.digits + ".,-",
}
_UNBOUNDED_CAP = 12  # an unbounded repeat (``*``, ``+``, ``{n,}``) draws at most n + this many


def _class_chars(items) -> tuple[list[str], bool]:
    """Characters matched by a parsed character class (restricted to a sane universe)."""
    negate = False
    chars: set[str] = set()
    for op, av in items:
        if op == _sre_c.NEGATE:
            negate = True
        elif op == _sre_c.LITERAL:
            chars.add(chr(av))
        elif op == _sre_c.RANGE:
            lo, hi = av
            chars.update(chr(c) for c in range(lo, min(hi, lo + 4096) + 1))
        elif op == _sre_c.CATEGORY:
            chars.update(_CATEGORY_CHARS[av])
        else:  # pragma: no cover - not used by our patterns
            raise NotImplementedError(f"class item {op}")
    return sorted(chars), negate


def _gen_parsed(rng: random.Random, parsed, out: list[str]) -> None:
    for op, av in parsed:
        if op == _sre_c.LITERAL:
            out.append(chr(av))
        elif op == _sre_c.NOT_LITERAL:
            out.append(rng.choice([c for c in _POOL if ord(c) != av]))
        elif op == _sre_c.ANY:
            out.append(rng.choice([c for c in _POOL if c != "\n"]))
        elif op == _sre_c.IN:
            chars, negate = _class_chars(av)
            if negate:
                excluded = set(chars)
                out.append(rng.choice([c for c in _POOL if c not in excluded]))
            else:
                out.append(rng.choice(chars))
        elif op == _sre_c.SUBPATTERN:
            _gen_parsed(rng, av[-1], out)
        elif op == _sre_c.BRANCH:
            _gen_parsed(rng, rng.choice(av[1]), out)
        elif op in (_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT, getattr(_sre_c, "POSSESSIVE_REPEAT", None)):
            lo, hi, sub = av
            if hi == _sre_c.MAXREPEAT:
                hi = lo + _UNBOUNDED_CAP
            # Favour the extremes now and then: empty / minimal and maximal repeats are the
            # corners a realistic generator rarely visits.
            r = rng.random()
            n = lo if r < 0.2 else hi if r < 0.35 else rng.randint(lo, hi)
            for _ in range(n):
                _gen_parsed(rng, sub, out)
        else:  # pragma: no cover - not used by our patterns
            raise NotImplementedError(f"regex op {op}")


def generic_string(pattern: str, rng: random.Random) -> str:
    """One string matching ``pattern``, drawn by walking Python's parse of it."""
    out: list[str] = []
    _gen_parsed(rng, _sre_parse.parse(pattern), out)
    return "".join(out)


def matching_strings(pattern_name: str, k: int = 20, seed: int = 0) -> list[str]:
    """``k`` deterministic, distinct (where the language allows) strings matching the pattern.

    Hand-written strings come first, then generated ones (realistic generator; every fourth one
    from :func:`generic_string`). Each is checked with ``re.fullmatch``; the same
    ``(pattern_name, k, seed)`` always gives the same list.
    """
    pattern = PATTERNS[pattern_name]
    compiled = re.compile(pattern)
    rng = random.Random(f"grammask-regex-bench:{pattern_name}:{seed}")
    realistic = _REALISTIC.get(pattern_name)
    out: list[str] = []
    seen: set[str] = set()

    def add(s: str) -> None:
        if compiled.fullmatch(s) is None:
            raise AssertionError(f"generated string does not match {pattern_name}: {s!r}")
        if s not in seen:
            seen.add(s)
            out.append(s)

    for s in HANDWRITTEN.get(pattern_name, ()):
        if len(out) >= k:
            break
        add(s)
    attempts = 0
    i = 0
    while len(out) < k and attempts < 50 * k + 100:
        attempts += 1
        use_generic = realistic is None or i % 4 == 3
        i += 1
        add(generic_string(pattern, rng) if use_generic else realistic(rng))
    return out


if __name__ == "__main__":  # quick look: python benchmarks/regex_patterns.py [k]
    import sys

    k = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    for name in PATTERNS:
        print(f"== {name}")
        for s in matching_strings(name, k, 0):
            print("  ", repr(s))
