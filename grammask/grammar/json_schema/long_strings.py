"""Grammar rules for JSON strings too long for one automaton (see `string_chunks`).

A string value whose length bound passes `JsonSchemaOptions.chunk_strings_above` is not built
as one terminal: the builder gets a placeholder rule (`defer`), and once the whole grammar is
known (`finish`) the placeholder becomes

    SHORT | HEAD[q] R(q, 1)           R(q, c) = CHUNK[q->q'] R(q', c+1) | TAIL[q, a_c, b_c]

where HEAD is the opening quote and the first `K` code points, CHUNK the next `K`, TAIL the
last `0..K-1` with the closing quote, SHORT a whole string shorter than `K`; `q` is the state
of the value automaton (patterns, formats, excluded values) at a cut and `c` the chunks read,
so [a_c, b_c] are exactly the tail lengths that keep the total within minLength..maxLength.
An unbounded string stops counting once minLength is reached (R(q, c) loops).

Exactness needs every string terminal that can be a lexer candidate together with a chunked
string to cut at the same places (`string_chunks` explains why). Distinct string terminals can
only be candidates together where the grammar lets several alternatives read the same text:
the branches of anyOf/oneOf/not/if (`_distribute`), the elements of an array with `contains`,
the values of an enum (`note_group`); object keys are disjoint and never meet value strings.
So every value string reachable from such a group that also reaches a chunked string is split
too, with the same `K` (for an unbounded `{"type": "string"}` that is cheap). When one cannot
be split (its value automaton is in too many states at the cuts: long `format`s, word-counting
patterns), no string is chunked and the original size error is raised."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...errors import GrammarError, LimitExceededError
from .string_chunks import ValueKey, boundary_states, longest_word, piece_dfa, value_automaton, value_matches

if TYPE_CHECKING:
    from .builder import GrammarBuilder

__all__ = ["LongStrings", "StringSpec"]

# At most this many chunks per string: longer bounds get larger chunks (K grows), which keeps
# the counting rules (one per chunk and cut state) within `Limits.max_grammar_rules`.
MAX_CHUNKS = 1024
# A split string whose value automaton can be in more states than this at a cut is refused:
# each pair of cut states needs its own CHUNK terminal.
MAX_CUT_STATES = 8

Alts = list[tuple[str, ...]]


@dataclass(frozen=True)
class StringSpec:
    """A value string: its value automaton (`string_chunks.ValueKey`), its length bounds in
    code points and the schema path its errors name."""

    vkey: ValueKey
    lo: int = 0
    hi: int | None = None
    path: str = "#"

    def bounds(self) -> str:
        return f"minLength={self.lo}, maxLength={self.hi}"


class _Unsplittable(Exception):
    """A string that would have to be chunked cannot be (the message says why)."""


class LongStrings:
    """The builder's record of chunked strings, value strings and choice groups."""

    def __init__(self, b: GrammarBuilder) -> None:
        self.b = b
        self.deferred: dict[str, tuple[StringSpec, Callable[[], Any]]] = {}
        self.values: dict[str, StringSpec] = {}
        self.groups: list[tuple[str, ...]] = []

    # -- recording (during the build) ------------------------------------------------------------
    def wants_chunks(self, lo: int, hi: int | None) -> bool:
        """Whether a string with these bounds is chunked rather than one automaton."""
        return max(lo, hi or 0) > self.b.options.chunk_strings_above

    def defer(self, spec: StringSpec, make: Callable[[], Any]) -> str | None:
        """A placeholder rule for a chunked string (None: no value is allowed). `make` builds
        the single automaton instead, should chunking turn out impossible."""
        if spec.hi is not None and spec.hi < spec.lo:
            return None
        try:
            v = value_automaton(spec.vkey, self.b.limits)
        except GrammarError:
            make()          # the single automaton's error names the pattern and the path
            raise
        if v is None:
            return None
        name = self.b._new_rule()
        self.deferred[name] = (spec, make)
        return name

    def note_value(self, terminal: str | None, spec: StringSpec) -> None:
        """`terminal` is a string at a value position (it may need splitting in `finish`)."""
        if terminal is not None:
            self.values[terminal] = spec

    def note_group(self, symbols: Iterable[str]) -> None:
        """`symbols` are alternatives that may read the same text (their string terminals
        may be lexer candidates together)."""
        group = tuple(symbols)
        if len(group) > 1:
            self.groups.append(group)

    def allows(self, name: str, text: str) -> bool:
        """Whether the chunked string `name` allows the decoded value `text`."""
        spec = self.deferred[name][0]
        v = value_automaton(spec.vkey, self.b.limits)
        n = len(text)
        return (v is not None and n >= spec.lo and (spec.hi is None or n <= spec.hi)
                and value_matches(v, text))

    # -- the grammar (at the end of the build) ---------------------------------------------------
    def finish(self) -> None:
        """Fill the placeholders with chunked rules, splitting the strings that can meet them;
        or, when one cannot be split, build single automata (raising their size error)."""
        used = {s for alts in self.b.rules.values() for alt in alts for s in alt}
        # placeholders made only to check an enum value (`allows`) are not in the grammar
        self.deferred = {n: d for n, d in self.deferred.items() if n in used}
        if not self.deferred:
            return
        k = self._chunk_size()
        made: dict[str, Alts] = {}
        try:
            for name, (spec, _) in self.deferred.items():
                made[name] = self._split(spec, k, made)
            replace = {}
            for term in self._must_split(k):
                rule = self.b._new_rule()
                made[rule] = self._split(self.values[term], k, made)
                replace[term] = rule
        except _Unsplittable as e:
            self._fallback(str(e))
            return
        except LimitExceededError as e:
            if e.limit in ("max_compile_seconds", "max_memory_bytes"):
                raise
            self._fallback(e.message)       # a piece or the counting rules too large
            return
        rules = self.b.rules
        for name, alts in rules.items():
            if any(s in replace for alt in alts for s in alt):
                rules[name] = [tuple(replace.get(s, s) for s in alt) for alt in alts]
        rules.update(made)

    def _chunk_size(self) -> int:
        top = max(spec.hi if spec.hi is not None else spec.lo
                  for spec, _ in self.deferred.values())
        return max(self.b.options.string_chunk, -(-top // MAX_CHUNKS))

    def _fallback(self, reason: str) -> None:
        for name, (spec, make) in self.deferred.items():
            try:
                try:
                    term = self.b._terminal(("single", name), make, "string")
                except LimitExceededError as e:
                    term = self.b.bounded_at_run_time(("single", name), spec, e)
            except LimitExceededError as e:
                raise LimitExceededError(
                    e.limit, e.value, e.maximum,
                    f"the string at {spec.path} ({spec.bounds()}) is too large for one "
                    f"automaton and cannot be lexed in chunks: {reason}") from e
            self.b.rules[name] = [(term,)] if term is not None else []

    def _must_split(self, k: int) -> list[str]:
        """Value string terminals that may be lexer candidates together with a chunked string
        and can reach `k` code points (see the module docstring)."""
        rules = self.b.rules
        users: dict[str, list[str]] = {}
        for name, alts in rules.items():
            for alt in alts:
                for s in alt:
                    users.setdefault(s, []).append(name)
        tainted = set(self.deferred)
        todo = list(tainted)
        while todo:
            for user in users.get(todo.pop(), ()):
                if user not in tainted:
                    tainted.add(user)
                    todo.append(user)
        seen: set[str] = set()
        todo = [s for g in self.groups if any(m in tainted for m in g) for s in g]
        while todo:
            s = todo.pop()
            if s in seen:
                continue
            seen.add(s)
            todo.extend(x for alt in rules.get(s, ()) for x in alt if x not in seen)
        return [t for t in sorted(seen & set(self.values)) if self._reaches(self.values[t], k)]

    def _reaches(self, spec: StringSpec, k: int) -> bool:
        """Whether the string may have `k` or more code points (over-approximated)."""
        if spec.hi is not None and spec.hi < k:
            return False
        v = value_automaton(spec.vkey, self.b.limits)
        if v is None:
            return False
        longest = longest_word(v)
        return longest is None or longest >= k

    # -- the rules of one split string -----------------------------------------------------------
    def _split(self, spec: StringSpec, k: int, made: dict[str, Alts]) -> Alts:
        """The alternatives of the string; the counting rules go to `made`."""
        lo, hi = spec.lo, spec.hi
        alts: Alts = []
        short_hi = k - 1 if hi is None else min(hi, k - 1)
        if lo <= short_hi:
            self._alt(alts, (spec.vkey, 0, lo, short_hi, None, (True, True)))
        if hi is not None and hi < k:
            return alts
        names: dict[tuple[int, int], str] = {}
        todo: list[tuple[int, int]] = []

        def rest(q: int, c: int) -> str:
            if (q, c) not in names:
                names[(q, c)] = self.b._new_rule()
                todo.append((q, c))
            return names[(q, c)]

        for q in self._cuts(spec, 0, k):
            self._alt(alts, (spec.vkey, 0, k, k, (q,), (True, False)), _then(rest, q, 1))
        while todo:
            q, c = todo.pop()
            made[names[(q, c)]] = self._rest(spec, k, q, c, rest)
        return alts

    def _rest(self, spec: StringSpec, k: int, q: int, c: int,
              rest: Callable[[int, int], str]) -> Alts:
        """R(q, c): `c` chunks read (`c * k` code points), the value automaton in state `q`."""
        lo, hi = spec.lo, spec.hi
        alts: Alts = []
        a = max(0, lo - c * k)
        b = k - 1 if hi is None else min(k - 1, hi - c * k)
        if a <= b:
            self._alt(alts, (spec.vkey, q, a, b, None, (False, True)))
        if hi is not None and (c + 1) * k > hi:
            return alts
        nxt = c + 1 if hi is not None else min(c + 1, max(1, -(-lo // k)))
        for q2 in self._cuts(spec, q, k):
            self._alt(alts, (spec.vkey, q, k, k, (q2,), (False, False)), _then(rest, q2, nxt))
        return alts

    def _alt(self, alts: Alts, piece: tuple, then: Callable[[], str] | None = None) -> None:
        """Append `piece` (then the rule `then` makes) unless the piece's language is empty."""
        limits = self.b.limits
        label = "string" if piece[5] == (True, True) else "string piece"
        term = self.b._terminal(("piece",) + piece, lambda: piece_dfa(*piece, limits),  # type: ignore[call-arg]
                                label)
        if term is not None:
            alts.append((term, then()) if then is not None else (term,))

    def _cuts(self, spec: StringSpec, start: int, k: int) -> tuple[int, ...]:
        cuts = boundary_states(spec.vkey, start, k, self.b.limits)
        if len(cuts) > MAX_CUT_STATES:
            raise _Unsplittable(
                f"the value automaton of the string at {spec.path} can be in {len(cuts)} "
                f"states after {k} code points (at most {MAX_CUT_STATES} can be chunked)")
        return cuts


def _then(rest: Callable[[int, int], str], q: int, c: int) -> Callable[[], str]:
    """The rule R(q, c), made only when the piece before it is not empty."""
    return lambda: rest(q, c)
