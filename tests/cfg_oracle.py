"""An independent reference for CFG token masks: is a byte string a viable prefix / complete?

`PrefixOracle(grammar)` re-derives, from the grammar IR alone, what the CFG engine has to
compute, with nothing shared with the engine but the terminals' byte DFAs
(`grammask.automata.compile_regex_dfa`, tested on its own against Python's `re`). It is slow
on purpose: a plain Earley recogniser (fixpoint closure, one item set per lexeme) driven by a
plain greedy lexer that re-reads the text from the start.

Lexing semantics (`lexing="greedy"`, the default; the engine's semantics for Lark grammars):

1. Candidates at a lexeme start: the terminals right after a dot in the current Earley set
   that have a pattern, plus every `%ignore` terminal (plus the NEWLINE terminal, always, when
   the Python indenter is on).
2. A lexeme is read greedily without backtracking: it goes on while the next byte extends at
   least one candidate that matched every byte so far (DFA state not dead). It ends when the
   next byte extends none, or at the end of the text; it must then be a complete match of at
   least one of the still-alive candidates, else the text is rejected.
3. Kinds: of the candidates fully matching the lexeme keep the highest priority; then only
   the literal terminals if there are any; then drop the `%ignore` terminals if anything else
   remains. The parser scans the SET of remaining kinds (every item expecting any of them
   advances). If only `%ignore` terminals remain, the lexeme is skipped.
4. Earley over terminals; empty rules, left recursion and ambiguity are fine.
5. Viable prefix: every complete lexeme lexes and parses, and the trailing (partial) lexeme
   is a prefix of the language of some still-alive candidate. Complete: the trailing lexeme
   ends (rule 2 at the end of the text) and, after it, the start rule is complete from 0.
6. Python indentation (grammars with declared `_INDENT`/`_DEDENT` and a `_NEWLINE` or `_NL`
   terminal): Lark's `PythonIndenter`. NEWLINE lexemes inside brackets (LPAR/LSQB/LBRACE
   minus RPAR/RSQB/RBRACE seen so far) are dropped; otherwise NEWLINE goes to the parser,
   then one `_INDENT` if the indentation of its last line (spaces + 8 * tabs after its last
   "\\n") exceeds the top of the indent stack, or `_DEDENT`s while it is smaller (landing
   between two levels rejects). At the end of the text every open level is closed by a
   `_DEDENT` before the acceptance check. A NEWLINE lexeme must contain a line break: the
   NEWLINE terminal does not fully match a lexeme without "\n" (python.lark's
   `_NEWLINE: (/\r?\n[\t ]*/ | COMMENT)+` on a lone comment at the end of the text, which
   then is just the `%ignore`d COMMENT; Lark's own indenter crashes there, on
   `token.rsplit('\n', 1)[1]`).

`lexing="scannerless"`: the character-level reading of the IR (GBNF's semantics): every
terminal may match any substring its DFA accepts, all readings are kept. `%ignore` is not
supported in this mode.

Performance: Earley sets are persistent nodes memoised by the sequence of lexeme kinds that
led to them, so the many candidate continuations of one prefix share their parse work;
`mask()` lexes the prefix once and then only the bytes from the start of its trailing lexeme.
Both are plain caches of pure functions; `viable()`/`complete()` always re-read the text from
byte 0.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from grammask.automata import compile_regex_dfa
from grammask.grammar import Grammar

Item = tuple[str, int, int, int]      # (rule, alternative index, dot, origin set)

OPEN_PARENS = frozenset({"LPAR", "LSQB", "LBRACE"})
CLOSE_PARENS = frozenset({"RPAR", "RSQB", "RBRACE"})
TAB_LEN = 8


class _Dfa:
    """A terminal's byte DFA as plain lists (fast to index from Python)."""

    __slots__ = ("accepting", "nonempty", "trans")

    def __init__(self, pattern: str, dfa: Any = None) -> None:
        d = dfa if dfa is not None else compile_regex_dfa(pattern)
        self.trans: list[list[int]] = d.trans.tolist()
        self.accepting: list[bool] = d.accepting.tolist()
        self.nonempty = any(self.accepting)


class _Chart:
    """One Earley set plus every set before it (persistent; children memoised by kinds)."""

    __slots__ = ("accepts", "candidates", "children", "expected", "items", "sets")

    def __init__(self, sets: tuple[frozenset, ...]) -> None:
        self.sets = sets
        self.items = sets[-1]
        self.children: dict[frozenset, _Chart | None] = {}
        self.expected: frozenset[str] | None = None
        self.accepts: bool | None = None
        self.candidates: tuple[str, ...] | None = None


@dataclass(frozen=True)
class _LexState:
    """Where the greedy lexer stands at the start of a lexeme."""

    pos: int                     # byte offset of the lexeme start
    chart: _Chart
    indents: tuple[int, ...] = (0,)
    parens: int = 0


class PrefixOracle:
    """Viable-prefix and completeness tests for one grammar (see the module docstring)."""

    def __init__(self, grammar: Grammar, *, lexing: str = "greedy",
                 indenter: bool | None = None) -> None:
        if lexing not in ("greedy", "scannerless"):
            raise ValueError(lexing)
        self.grammar = grammar
        self.lexing = lexing
        self.start = grammar.start
        self.terminals = grammar.terminals
        self.ignore = frozenset(grammar.ignore)
        # (a prebuilt automaton, as JSON Schema terminals have, is the terminal's language)
        self.dfas = {name: _Dfa(t.pattern, t.dfa) for name, t in grammar.terminals.items()
                     if t.pattern is not None}
        self.rules = self._productive_rules(grammar)
        if grammar.start not in self.rules:
            raise ValueError("empty language")
        nl = "_NEWLINE" if "_NEWLINE" in grammar.terminals else \
            "_NL" if "_NL" in grammar.terminals else None
        auto = (nl is not None and all(grammar.terminals.get(t) is not None and
                                       grammar.terminals[t].pattern is None
                                       for t in ("_INDENT", "_DEDENT")))
        self.indenter = auto if indenter is None else indenter
        self.newline = nl if self.indenter else None
        if self.indenter and nl is None:
            raise ValueError("indenter needs a _NEWLINE or _NL terminal")
        if lexing == "scannerless":
            if self.ignore or self.indenter:
                raise ValueError("scannerless mode supports neither %ignore nor indentation")
            for name, d in self.dfas.items():
                if d.accepting[0]:
                    raise ValueError(f"scannerless mode: terminal {name} matches ''")
        self.root = self._new_chart((), {(self.start, a, 0, 0)
                                         for a in range(len(self.rules[self.start]))})

    # ------------------------------------------------------------------------- grammar prep
    def _productive_rules(self, g: Grammar) -> dict[str, tuple[tuple[str, ...], ...]]:
        """Rules with only their productive alternatives (same language; it makes every
        Earley item completable, so 'a terminal is expected' means 'a completion exists')."""
        good = {t for t, term in g.terminals.items()
                if term.pattern is None or self.dfas[t].nonempty}
        changed = True
        while changed:
            changed = False
            for name, rule in g.rules.items():
                if name not in good and any(all(s in good for s in alt)
                                            for alt in rule.alternatives):
                    good.add(name)
                    changed = True
        return {name: tuple(alt for alt in rule.alternatives if all(s in good for s in alt))
                for name, rule in g.rules.items() if name in good}

    # ------------------------------------------------------------------------- Earley
    def _new_chart(self, before: tuple[frozenset, ...], kernel: set[Item]) -> _Chart | None:
        """Close `kernel` (prediction + completion) into set number len(before)."""
        if not kernel:
            return None
        i = len(before)
        rules = self.rules
        items: set[Item] = set()
        work: list[Item] = []
        done_here: set[str] = set()          # rules completed with origin i (nullable here)

        def add(it: Item) -> None:
            if it not in items:
                items.add(it)
                work.append(it)

        for it in kernel:
            add(it)
        while work:
            it = work.pop()
            lhs, a, dot, org = it
            alt = rules[lhs][a]
            if dot == len(alt):
                if org == i:
                    done_here.add(lhs)
                source = items if org == i else before[org]
                for w in list(source):
                    wl, wa, wd, wo = w
                    walt = rules[wl][wa]
                    if wd < len(walt) and walt[wd] == lhs:
                        add((wl, wa, wd + 1, wo))
                continue
            sym = alt[dot]
            if sym in rules:
                for b in range(len(rules[sym])):
                    add((sym, b, 0, i))
                if sym in done_here:
                    add((lhs, a, dot + 1, org))
        return _Chart(before + (frozenset(items),))

    def _expected(self, chart: _Chart) -> frozenset[str]:
        if chart.expected is None:
            out = set()
            for lhs, a, dot, _org in chart.items:
                alt = self.rules[lhs][a]
                if dot < len(alt) and alt[dot] in self.terminals:
                    out.add(alt[dot])
            chart.expected = frozenset(out)
        return chart.expected

    def _accepts(self, chart: _Chart) -> bool:
        if chart.accepts is None:
            chart.accepts = any(lhs == self.start and org == 0 and
                                dot == len(self.rules[lhs][a])
                                for lhs, a, dot, org in chart.items)
        return chart.accepts

    def _scan(self, chart: _Chart, kinds: frozenset[str]) -> _Chart | None:
        """The chart after the parser reads one lexeme that may be any of `kinds`."""
        if kinds in chart.children:
            return chart.children[kinds]
        kernel = set()
        for lhs, a, dot, org in chart.items:
            alt = self.rules[lhs][a]
            if dot < len(alt) and alt[dot] in kinds:
                kernel.add((lhs, a, dot + 1, org))
        child = self._new_chart(chart.sets, kernel)
        chart.children[kinds] = child
        return child

    # ------------------------------------------------------------------------- greedy lexer
    def _candidates(self, chart: _Chart) -> tuple[str, ...]:
        if chart.candidates is None:
            cands = {t for t in self._expected(chart) if t in self.dfas} | self.ignore
            if self.newline is not None:
                cands.add(self.newline)
            chart.candidates = tuple(sorted(cands))
        return chart.candidates

    def _full(self, alive: dict[str, int], lexeme: bytes) -> list[str]:
        """The alive candidates that match the whole lexeme (a NEWLINE lexeme needs a "\n")."""
        return [t for t, s in alive.items() if self.dfas[t].accepting[s] and
                (t != self.newline or b"\n" in lexeme)]

    def _kinds(self, full: list[str]) -> tuple[frozenset[str], bool]:
        """(kinds, skipped) for a lexeme fully matched by the candidates `full`."""
        best = max(self.terminals[t].priority for t in full)
        kinds = [t for t in full if self.terminals[t].priority == best]
        literals = [t for t in kinds if self.terminals[t].literal is not None]
        if literals:
            kinds = literals
        kept = [t for t in kinds if t not in self.ignore]
        if not kept:
            return frozenset(kinds), True
        return frozenset(kept), False

    def _feed(self, st: _LexState, kinds: frozenset[str], skipped: bool, lexeme: bytes,
              end: int) -> _LexState | None:
        """Give one finished lexeme to the parser (through the indenter); None = reject."""
        if skipped:
            return _LexState(end, st.chart, st.indents, st.parens)
        chart: _Chart | None = st.chart
        indents, parens = st.indents, st.parens
        if self.newline is not None and self.newline in kinds:
            assert kinds == {self.newline}, f"NEWLINE lexeme with other kinds {kinds}"
            if parens > 0:
                return _LexState(end, chart, indents, parens)
            assert b"\n" in lexeme                  # see _full
            chart = self._scan(chart, kinds)
            last = lexeme.rsplit(b"\n", 1)[-1]
            width = last.count(b" ") + last.count(b"\t") * TAB_LEN
            if chart is not None and width > indents[-1]:
                indents = indents + (width,)
                chart = self._scan(chart, frozenset({"_INDENT"}))
            while chart is not None and width < indents[-1]:
                indents = indents[:-1]
                chart = self._scan(chart, frozenset({"_DEDENT"}))
            if chart is None or width != indents[-1]:
                return None
            return _LexState(end, chart, indents, parens)
        chart = self._scan(chart, kinds)
        if chart is None:
            return None
        if self.newline is not None:
            if kinds & OPEN_PARENS:
                parens += 1
            elif kinds & CLOSE_PARENS:
                if parens == 0:
                    return None          # Lark's indenter asserts here
                parens -= 1
        return _LexState(end, chart, indents, parens)

    def _lex(self, data: bytes, st: _LexState):
        """Lex `data` from `st`. Returns None (rejected) or (state at the start of the
        trailing lexeme, {candidate: DFA state} of the candidates alive after it)."""
        n = len(data)
        while True:
            pos = st.pos
            alive = {t: 0 for t in self._candidates(st.chart)}
            j = pos
            while j < n:
                b = data[j]
                nxt = {}
                for t, s in alive.items():
                    s2 = self.dfas[t].trans[s][b]
                    if s2 >= 0:
                        nxt[t] = s2
                if not nxt:
                    break
                alive = nxt
                j += 1
            if j == n:
                return st, alive
            if j == pos:
                return None                      # no candidate takes this byte
            full = self._full(alive, data[pos:j])
            if not full:
                return None                      # no backtracking to a shorter match
            kinds, skipped = self._kinds(full)
            st = self._feed(st, kinds, skipped, data[pos:j], j)
            if st is None:
                return None

    def _finish(self, data: bytes, st: _LexState, alive: dict[str, int]) -> bool:
        """Is the text complete, given the lexer result for it?"""
        if st.pos < len(data):
            full = self._full(alive, data[st.pos:])
            if not full:
                return False
            kinds, skipped = self._kinds(full)
            end = self._feed(st, kinds, skipped, data[st.pos:], len(data))
            if end is None:
                return False
            st = end
        chart: _Chart | None = st.chart
        for _ in st.indents[1:]:
            chart = self._scan(chart, frozenset({"_DEDENT"}))
            if chart is None:
                return False
        return self._accepts(chart)

    # ------------------------------------------------------------------------- scannerless
    def _sl_chart_after(self, data: bytes):
        """Character-level Earley over `data`: list of charts (one per byte position) and
        the alive scans at the end [(terminal, DFA state, origin)]."""
        charts: list[_Chart] = [self.root]
        scans: list[tuple[str, int, int]] = [(t, 0, 0) for t in self._expected(self.root)]
        for j, b in enumerate(data):
            moved = []
            for t, s, org in scans:
                s2 = self.dfas[t].trans[s][b]
                if s2 >= 0:
                    moved.append((t, s2, org))
            kernel = set()
            for t, s, org in moved:
                if self.dfas[t].accepting[s]:
                    for lhs, a, dot, o in charts[org].items:
                        alt = self.rules[lhs][a]
                        if dot < len(alt) and alt[dot] == t:
                            kernel.add((lhs, a, dot + 1, o))
            sets = charts[-1].sets
            chart = self._new_chart(sets, kernel) or _Chart(sets + (frozenset(),))
            charts.append(chart)
            scans = moved + [(t, 0, j + 1) for t in self._expected(chart)]
            if not scans and not kernel:
                return charts, []             # dead: nothing more can match
        return charts, scans

    # ------------------------------------------------------------------------- public API
    def viable(self, data: bytes) -> bool:
        """Is `data` a viable prefix (rule 5)? Lexes from byte 0."""
        if self.lexing == "scannerless":
            charts, scans = self._sl_chart_after(data)
            if len(charts) != len(data) + 1:
                return False                  # died before the end
            return bool(scans) or self._accepts(charts[-1])
        got = self._lex(data, _LexState(0, self.root))
        if got is None:
            return False
        st, alive = got
        return bool(alive) or self._finish(data, st, alive)

    def complete(self, data: bytes) -> bool:
        """Is `data` a complete text (EOS allowed after it)?"""
        if self.lexing == "scannerless":
            charts, _scans = self._sl_chart_after(data)
            return len(charts) == len(data) + 1 and self._accepts(charts[-1])
        got = self._lex(data, _LexState(0, self.root))
        if got is None:
            return False
        return self._finish(data, *got)

    def mask(self, prefix: bytes, tokens: Sequence[bytes | None]) -> list[bool]:
        """[viable(prefix + t) for t in tokens] (None entries: False).

        Greedy mode lexes `prefix` once and each `prefix + t` from the start of `prefix`'s
        trailing lexeme: the lexemes before it ended at bytes inside `prefix`, so they are
        the same for every extension (tests cross-check this against `viable`)."""
        if self.lexing == "scannerless":
            return self._sl_mask(prefix, tokens)
        got = self._lex(prefix, _LexState(0, self.root))
        if got is None:
            return [False] * len(tokens)
        st = got[0]
        out = []
        for t in tokens:
            if t is None:
                out.append(False)
                continue
            data = prefix + t
            res = self._lex(data, st)
            out.append(res is not None and (bool(res[1]) or self._finish(data, *res)))
        return out

    def _sl_mask(self, prefix: bytes, tokens: Sequence[bytes | None]) -> list[bool]:
        """Scannerless: a trie walk from the prefix's chart, one byte per step."""
        charts, scans = self._sl_chart_after(prefix)
        if len(charts) != len(prefix) + 1:
            return [False] * len(tokens)
        out = []
        for t in tokens:
            out.append(t is not None and self._sl_extend(charts, scans, t))
        return out

    def _sl_extend(self, charts: list[_Chart], scans, tail: bytes) -> bool:
        data_charts = list(charts)
        for b in tail:
            moved = []
            for t, s, org in scans:
                s2 = self.dfas[t].trans[s][b]
                if s2 >= 0:
                    moved.append((t, s2, org))
            if not moved:
                return False
            kernel = set()
            for t, s, org in moved:
                if self.dfas[t].accepting[s]:
                    for lhs, a, dot, o in data_charts[org].items:
                        alt = self.rules[lhs][a]
                        if dot < len(alt) and alt[dot] == t:
                            kernel.add((lhs, a, dot + 1, o))
            sets = data_charts[-1].sets
            chart = self._new_chart(sets, kernel) or _Chart(sets + (frozenset(),))
            data_charts.append(chart)
            scans = moved + [(t, 0, len(data_charts) - 1) for t in self._expected(chart)]
        return bool(scans) or self._accepts(data_charts[-1])


def reference_allowed(oracle: PrefixOracle, token_bytes: Sequence[bytes | None],
                      eos_ids: Iterable[int], prefix: bytes) -> set[int]:
    """The token ids a correct engine allows after `prefix`."""
    mask = oracle.mask(prefix, token_bytes)
    allowed = {i for i, ok in enumerate(mask) if ok}
    if oracle.complete(prefix):
        allowed |= set(eos_ids)
    return allowed
