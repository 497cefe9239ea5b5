"""An independent reference for token masks: the `regex` package's partial full-match.

A byte prefix is live when some string of the language starts with it. Prefixes that end
inside a UTF-8 character are decided by probing representative completions of that
character: a regex treats every code point of one interval between class endpoints alike,
so probing each interval's ends (and the endpoints' neighbours) is exact."""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import regex

MAX_CP = 0x10FFFF


@dataclass
class RandomRegex:
    """A generated pattern and every code-point boundary its classes mention."""

    pattern: str
    points: set[int] = field(default_factory=set)
    reference: str = ""  # same language for `regex`, whose partial matching mishandles lazy `*?`

    def __post_init__(self) -> None:
        self.reference = self.reference or self.pattern


LITERALS = ["a", "b", "c", "x", "0", "1", "9", "-", ".", " ", "é", "ß", "中", "文", "😀", "\"", "\\"]
CLASSES = [
    ("[a-c]", [(0x61, 0x63)]), ("[0-9]", [(0x30, 0x39)]), ("[^\"]", [(0x22, 0x22)]),
    ("[à-ÿ]", [(0xE0, 0xFF)]), ("[一-龥]", [(0x4E00, 0x9FA5)]), ("[^a-z]", [(0x61, 0x7A)]),
    ("[\\U0001F600-\\U0001F64F]", [(0x1F600, 0x1F64F)]), ("[ab中]", [(0x61, 0x62), (0x4E2D, 0x4E2D)]),
    ("[^\\x00-\\x7f]", [(0x0, 0x7F)]), ("\\d", [(0x30, 0x39)]),
]


def random_regex(rng: random.Random, depth: int = 0) -> RandomRegex:
    """A random pattern over literals, classes, groups, alternation and quantifiers."""
    out = RandomRegex("")
    parts = [_atom(rng, depth, out.points) for _ in range(rng.randint(1, 3))]
    out.pattern = "".join(p for p, _ in parts)
    out.reference = "".join(r for _, r in parts)
    if depth == 0 and rng.random() < 0.3:
        other = random_regex(rng, depth + 1)
        out.pattern = f"{out.pattern}|{other.pattern}"
        out.reference = f"{out.reference}|{other.reference}"
        out.points |= other.points
    return out


def _atom(rng: random.Random, depth: int, points: set[int]) -> tuple[str, str]:
    """(pattern, greedy reference pattern) of one quantified atom."""
    r = rng.random()
    if r < 0.35:
        lit = rng.choice(LITERALS)
        points.add(ord(lit))
        atom = regex.escape(lit)
    elif r < 0.65:
        text, ranges = rng.choice(CLASSES)
        for lo, hi in ranges:
            points.update((lo, hi))
        atom = text
    elif r < 0.72:
        points.add(0x0A)
        atom = "."
    elif depth < 2:
        inner = random_regex(rng, depth + 1)
        points.update(inner.points)
        return _quantify(rng, f"(?:{inner.pattern})", f"(?:{inner.reference})")
    else:
        atom = "x"
        points.add(ord("x"))
    return _quantify(rng, atom, atom)


def _quantify(rng: random.Random, atom: str, ref: str) -> tuple[str, str]:
    q = rng.random()
    if q < 0.5:
        m = rng.randint(0, 3)
        quant = rng.choice(["*", "+", "?", f"{{{m}}}", f"{{{m},}}", f"{{{m},{m + rng.randint(0, 3)}}}"])
        lazy = "?" if rng.random() < 0.3 else ""
        return atom + quant + lazy, ref + quant
    return atom, ref


def _probes(lo: int, hi: int, points: set[int]) -> list[int]:
    cands = {lo, hi}
    for p in points:
        for q in (p - 1, p, p + 1):
            if lo <= q <= hi:
                cands.add(q)
    return [c for c in cands if not 0xD800 <= c <= 0xDFFF]


def _incomplete_range(tail: bytes) -> tuple[int, int] | None:
    """Code points whose UTF-8 encoding starts with `tail` (1-3 bytes of a multi-byte char)."""
    lead = tail[0]
    if 0xC2 <= lead <= 0xDF:
        n, base = 2, lead & 0x1F
    elif 0xE0 <= lead <= 0xEF:
        n, base = 3, lead & 0x0F
    elif 0xF0 <= lead <= 0xF4:
        n, base = 4, lead & 0x07
    else:
        return None
    if len(tail) >= n or any(not 0x80 <= b <= 0xBF for b in tail[1:]):
        return None
    value = base
    for b in tail[1:]:
        value = (value << 6) | (b & 0x3F)
    missing = n - len(tail)
    lo, hi = value << (6 * missing), (value << (6 * missing)) | ((1 << (6 * missing)) - 1)
    lo = max(lo, [0, 0, 0x80, 0x800, 0x10000][n])
    hi = min(hi, MAX_CP)
    return (lo, hi) if lo <= hi else None


def split_utf8(data: bytes) -> tuple[str, bytes] | None:
    """(decoded valid part, incomplete tail) or None if `data` is not a UTF-8 prefix."""
    for cut in range(len(data), max(len(data) - 4, -1), -1):
        try:
            head = data[:cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        tail = data[cut:]
        if not tail or _incomplete_range(tail) is not None:
            return head, tail
        return None
    return None


class PrefixOracle:
    """Is a byte string a prefix of some string that fully matches the pattern?"""

    def __init__(self, rx: RandomRegex) -> None:
        self.compiled = regex.compile(rx.reference, regex.ASCII)
        self.points = rx.points
        self._cache: dict[bytes, bool] = {}

    def matches(self, data: bytes) -> bool:
        try:
            return self.compiled.fullmatch(data.decode("utf-8")) is not None
        except UnicodeDecodeError:
            return False

    def is_live(self, data: bytes) -> bool:
        found = self._cache.get(data)
        if found is None:
            found = self._cache[data] = self._live(data)
        return found

    def _live(self, data: bytes) -> bool:
        split = split_utf8(data)
        if split is None:
            return False
        head, tail = split
        if not tail:
            return self.compiled.fullmatch(head, partial=True) is not None
        lo, hi = _incomplete_range(tail)  # type: ignore[misc]
        return any(self.compiled.fullmatch(head + chr(c), partial=True) is not None
                   for c in _probes(lo, hi, self.points))
