#!/usr/bin/env python
"""Grammars and in-language texts for the CFG-mask benchmark (``benchmarks/cfg_masks.py``).

``CORPUS`` is a list of ``CorpusEntry(name, path, syntax, start, candidates, checks)``: a grammar
file (or, for a *family*, one grammar per text: the GAD/ASAp SyGuS sets), where its texts come
from, and the reference checks every text must pass before it is benchmarked. A text that fails a
check is dropped (and counted, with the reason), so every benchmarked text is in the grammar's
language according to an independent reference:

=================  =========================================  ============================================
entry              grammar                                    texts (reference checks)
=================  =========================================  ============================================
json               lark examples/standalone/json.lark         JSONSchemaBench MaskBench valid instances,
                                                              fixed random sample, compact (every 4th
                                                              also indent=2) (json.loads; Lark LALR)
json-syncode       syncode json_grammar.lark                  same texts (Lark LALR: drops scalars and
                                                              strings with ``\\"``, which it lacks)
python             lark lark/grammars/python.lark             HumanEval prompt+canonical_solution and
                   (start file_input)                         MBPP prompt+canonical_solution, interleaved
                                                              (ast.parse; Lark LALR + PythonIndenter)
python-syncode     syncode python_grammar.lark                same texts (ast.parse; Lark LALR + indenter
                                                              on ``_NL``)
sql                syncode sql_grammar.lark                   ``cfg_inputs/sql/*.sql`` (hand-written;
                                                              Lark Earley and Lark LALR)
go                 syncode go_grammar.lark                    MBGP prompt + mxeval example completion,
                                                              ``import ( ... )`` block rewritten as one
                                                              ``import "x"`` per line (Lark Earley)
gad-slia/gad-bv4   gad-asap examples/sygus/{SLIA,bv4}/*.ebnf  ``correct/{SLIA,bv4}/<name>`` (trailing
                   (one grammar per answer, GBNF)             newline stripped; bv4 ``#bXXXX`` literals
                                                              as the grammar's ``#xH``) (grammask GBNF
                                                              loader + tests' character-level Earley)
gbnf-<name>        llama.cpp ``<name>.gbnf``                  ``cfg_inputs/gbnf/<name>/*.txt``
                                                              (hand-written; same Earley recogniser)
=================  =========================================  ============================================

Expensive verdicts (Lark Earley, the recogniser) are cached per (check, grammar file, text) under
``$XDG_CACHE_HOME/grammask-bench`` (``~/.cache``), so only the first run pays for them.
Texts are produced lazily in a fixed order: ``load(entry, limit)`` checks candidates only until
``limit`` texts are kept.

Run ``python benchmarks/cfg_corpus.py`` to check every candidate and print kept/dropped counts.
"""

from __future__ import annotations

import argparse
import ast
import functools
import glob
import hashlib
import json
import os
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from shared_paths import BESIDE_REPO, find_shared

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)


SHARED = find_shared() or BESIDE_REPO
DATA = os.path.join(SHARED, "data")
GRAMMARS = os.path.join(DATA, "grammars")
INPUTS = os.path.join(_HERE, "cfg_inputs")

JSON_SAMPLE = 200          # instances drawn from MaskBench (before checks)
JSON_MAX_CHARS = 4000      # longer compact instances are skipped (keeps the run short)
JSON_SEED = 20250101
PRETTY_EVERY = 4           # every 4th sampled instance is also benchmarked with indent=2


# ============================================================================= data types
@dataclass(frozen=True)
class Candidate:
    text: str
    origin: str                      # where it came from (task id, file name, ...)
    grammar_path: str | None = None  # families: this text's own grammar


@dataclass
class Unit:
    """One grammar file and the texts benchmarked against it."""
    label: str
    path: str
    texts: list[str] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Check:
    name: str
    fn: Callable[[Candidate, str], str | None]  # (candidate, grammar path) -> drop reason or None
    cached: bool = False


@dataclass(frozen=True)
class CorpusEntry:
    name: str
    path: str            # grammar file; for a family, the folder of its grammars
    syntax: str          # "lark" | "gbnf"
    start: str | None    # start rule (None: the syntax's default, "start" / "root")
    texts_from: str      # one line: where the texts come from
    candidates: Callable[[], Iterable[Candidate]]
    checks: tuple[Check, ...]
    family: bool = False


@dataclass
class LoadStats:
    examined: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)  # "check: reason" -> count

    def line(self) -> str:
        drops = ", ".join(f"{k} x{v}" for k, v in self.dropped.most_common())
        return f"kept {self.kept}/{self.examined}" + (f" (dropped: {drops})" if drops else "")


# ============================================================================= verdict cache
class _VerdictCache:
    def __init__(self) -> None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        self.path = os.path.join(base, "grammask-bench", "cfg_corpus_verdicts.json")
        self.data: dict[str, str] | None = None
        self.dirty = False

    def _load(self) -> dict[str, str]:
        if self.data is None:
            try:
                with open(self.path, encoding="utf-8") as f:
                    self.data = json.load(f)
            except (OSError, ValueError):
                self.data = {}
        return self.data

    @staticmethod
    def key(check: str, grammar_path: str, text: str) -> str:
        h = hashlib.sha256()
        h.update(check.encode())
        h.update(b"\0")
        h.update(_file_digest(grammar_path).encode())
        h.update(b"\0")
        h.update(text.encode("utf-8", "surrogatepass"))
        return h.hexdigest()[:32]

    def get(self, key: str) -> str | None:
        return self._load().get(key)

    def put(self, key: str, verdict: str) -> None:
        self._load()[key] = verdict
        self.dirty = True

    def flush(self) -> None:
        if not self.dirty or self.data is None:
            return
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            tmp = self.path + f".{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.data, f)
            os.replace(tmp, self.path)
            self.dirty = False
        except OSError:
            pass  # a cache that cannot be written only costs time


_CACHE = _VerdictCache()


@functools.cache
def _file_digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ============================================================================= checks
def _first_line(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0][:120] if msg else ''}"


@functools.cache
def _lark_parser(path: str, parser: str, start: str, indenter_nl: str | None):
    import lark

    kwargs = {}
    if indenter_nl is not None:
        from lark.indenter import PythonIndenter

        class _Indenter(PythonIndenter):
            NL_type = indenter_nl

        kwargs["postlex"] = _Indenter()
    with open(path, encoding="utf-8") as f:
        src = f.read()
    return lark.Lark(src, parser=parser, start=start, import_paths=[os.path.dirname(path)], **kwargs)


def lark_check(parser: str, start: str = "start", indenter_nl: str | None = None) -> Check:
    """Lark's own parser on the grammar file (``indenter_nl``: with Lark's PythonIndenter,
    whose newline terminal is named so)."""
    name = f"lark-{parser}" + ("+indenter" if indenter_nl else "")

    def fn(c: Candidate, path: str) -> str | None:
        try:
            _lark_parser(path, parser, start, indenter_nl).parse(c.text)
        except Exception as e:  # noqa: BLE001 - any parse failure = not in the language
            return _first_line(e)
        return None

    return Check(name, fn, cached=(parser == "earley"))


def _ast_fn(c: Candidate, path: str) -> str | None:
    try:
        ast.parse(c.text)
    except SyntaxError as e:
        return f"SyntaxError: {e.msg}"
    return None


def _json_fn(c: Candidate, path: str) -> str | None:
    try:
        json.loads(c.text)
    except ValueError as e:
        return _first_line(e)
    return None


AST_CHECK = Check("ast.parse", _ast_fn)
JSON_CHECK = Check("json.loads", _json_fn)


@functools.cache
def _recogniser(path: str):
    tests = os.path.join(_ROOT, "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from test_gbnf_frontend import Recogniser  # character-level Earley written for the tests

    from grammask.grammar.gbnf_frontend import load_gbnf_file

    return Recogniser(load_gbnf_file(path))


def _recogniser_fn(c: Candidate, path: str) -> str | None:
    try:
        r = _recogniser(path)
    except Exception as e:  # noqa: BLE001
        return f"grammar: {_first_line(e)}"
    return None if r.accepts(c.text) else "rejected"


RECOGNISER_CHECK = Check("gbnf-earley", _recogniser_fn, cached=True)


# ============================================================================= candidates
def json_candidates() -> Iterator[Candidate]:
    """MaskBench ``valid: true`` instances, in file/line/test order, then a fixed random sample
    (kept in that order). Compact form; every ``PRETTY_EVERY``-th instance is followed by its
    indent=2 form, so a ``--max-texts`` prefix has both."""
    pool: list[tuple[str, object]] = []
    for fn in sorted(glob.glob(os.path.join(DATA, "jsonschemabench", "maskbench", "*.jsonl"))):
        with open(fn, encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                for i, t in enumerate(rec.get("tests", ())):
                    if t.get("valid") is True:
                        pool.append((f"{rec['id']}#{i}", t["data"]))
    rng = random.Random(JSON_SEED)
    order = rng.sample(range(len(pool)), k=len(pool))  # a shuffled order: skip long ones lazily
    n = 0
    for idx in order:
        origin, data = pool[idx]
        compact = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        if len(compact) > JSON_MAX_CHARS:
            continue
        n += 1
        yield Candidate(compact, origin)
        if n % PRETTY_EVERY == 0:
            yield Candidate(json.dumps(data, ensure_ascii=False, indent=2), origin + " (indent=2)")
        if n >= JSON_SAMPLE:
            return


def _read_jsonl(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _nl(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def python_candidates() -> Iterator[Candidate]:
    """HumanEval and MBPP ``prompt + canonical_solution``, alternating (HumanEval/0, MBPP/1, ...)."""
    base = os.path.join(DATA, "code-samples-mxeval")
    he = _read_jsonl(os.path.join(base, "multilingual_humaneval", "HumanEval.jsonl"))
    mbpp = _read_jsonl(os.path.join(base, "mbxp", "mbpp_release_v1.jsonl"))
    for i in range(max(len(he), len(mbpp))):
        for src in (he, mbpp):
            if i < len(src):
                r = src[i]
                yield Candidate(_nl(r["prompt"] + r["canonical_solution"]), r["task_id"])


_GO_IMPORT_BLOCK = re.compile(r"import \(\n((?:[ \t]*[^\n)]*\n)*?)\)")


def _go_single_imports(m: re.Match) -> str:
    specs = [s.strip() for s in m.group(1).splitlines() if s.strip()]
    return "\n".join(f"import {s}" for s in specs)


def go_candidates() -> Iterator[Candidate]:
    """MBGP prompt + the mxeval example completion (the only Go bodies in the data; they are model
    outputs, not canonical solutions, but syntax is all that matters here). SynCode's Go grammar
    has no newline inside ``import ( ... )``, so that block is rewritten as one ``import "x"``
    line per package (the same program)."""
    base = os.path.join(DATA, "code-samples-mxeval", "mbxp")
    prompts = {r["task_id"]: r["prompt"] for r in _read_jsonl(os.path.join(base, "mbgp_release_v1.1.jsonl"))}
    for r in _read_jsonl(os.path.join(base, "examples", "mbgp_samples.jsonl")):
        prompt = prompts.get(r["task_id"])
        if prompt is None:
            continue
        text = _GO_IMPORT_BLOCK.sub(_go_single_imports, prompt + r["completion"])
        yield Candidate(_nl(text), r["task_id"])


def file_candidates(folder: str, pattern: str) -> Callable[[], Iterator[Candidate]]:
    def gen() -> Iterator[Candidate]:
        for fn in sorted(glob.glob(os.path.join(folder, pattern))):
            with open(fn, encoding="utf-8", newline="") as f:
                yield Candidate(f.read(), os.path.relpath(fn, _HERE))

    return gen


_BV_BIN = re.compile(r"#b([01]{4})")


def gad_candidates(family: str) -> Callable[[], Iterator[Candidate]]:
    """``correct/<family>/<name>`` paired with ``examples/sygus/<family>/<name>.ebnf``."""
    root = os.path.join(GRAMMARS, "gad-asap")

    def gen() -> Iterator[Candidate]:
        for ans in sorted(glob.glob(os.path.join(root, "correct", family, "*"))):
            name = os.path.basename(ans)
            if name.endswith(".sl"):
                continue
            gpath = os.path.join(root, "examples", "sygus", family, name + ".ebnf")
            if not os.path.exists(gpath):
                continue
            with open(ans, encoding="utf-8") as f:
                text = f.read().rstrip("\n")
            if family == "bv4":  # the answers spell 4-bit constants #b0111; the grammars #x7
                text = _BV_BIN.sub(lambda m: f"#x{int(m.group(1), 2):x}", text)
            yield Candidate(text, f"{family}/{name}", gpath)

    return gen


# ============================================================================= the corpus
def _g(*parts: str) -> str:
    return os.path.join(GRAMMARS, *parts)


_LLAMA_GBNF = ("arithmetic", "c", "chess", "english", "japanese", "json", "json_arr", "list")

CORPUS: list[CorpusEntry] = [
    CorpusEntry("json", _g("lark", "examples", "standalone", "json.lark"), "lark", None,
                f"MaskBench valid instances (sample of {JSON_SAMPLE}, compact; every {PRETTY_EVERY}th also indent=2)",
                json_candidates, (JSON_CHECK, lark_check("lalr"))),
    CorpusEntry("json-syncode", _g("syncode", "json_grammar.lark"), "lark", None,
                "same as json", json_candidates, (JSON_CHECK, lark_check("lalr"))),
    CorpusEntry("python", _g("lark", "lark", "grammars", "python.lark"), "lark", "file_input",
                "HumanEval + MBPP prompt+canonical_solution", python_candidates,
                (AST_CHECK, lark_check("lalr", "file_input", "_NEWLINE"))),
    CorpusEntry("python-syncode", _g("syncode", "python_grammar.lark"), "lark", None,
                "HumanEval + MBPP prompt+canonical_solution", python_candidates,
                (AST_CHECK, lark_check("lalr", "start", "_NL"))),
    CorpusEntry("sql", _g("syncode", "sql_grammar.lark"), "lark", None,
                "cfg_inputs/sql/*.sql (hand-written)", file_candidates(os.path.join(INPUTS, "sql"), "*.sql"),
                (lark_check("earley"), lark_check("lalr"))),
    CorpusEntry("go", _g("syncode", "go_grammar.lark"), "lark", None,
                "MBGP prompt + mxeval example completion", go_candidates, (lark_check("earley"),)),
    CorpusEntry("gad-slia", _g("gad-asap", "examples", "sygus", "SLIA"), "gbnf", None,
                "GAD/ASAp correct/SLIA answers, one grammar each", gad_candidates("SLIA"),
                (RECOGNISER_CHECK,), family=True),
    CorpusEntry("gad-bv4", _g("gad-asap", "examples", "sygus", "bv4"), "gbnf", None,
                "GAD/ASAp correct/bv4 answers, one grammar each", gad_candidates("bv4"),
                (RECOGNISER_CHECK,), family=True),
] + [
    CorpusEntry(f"gbnf-{n}", _g("llama.cpp", f"{n}.gbnf"), "gbnf", None,
                f"cfg_inputs/gbnf/{n}/*.txt (hand-written)",
                file_candidates(os.path.join(INPUTS, "gbnf", n), "*.txt"),
                ((JSON_CHECK,) if n.startswith("json") else ()) + (RECOGNISER_CHECK,))
    for n in _LLAMA_GBNF
]

BY_NAME: dict[str, CorpusEntry] = {e.name: e for e in CORPUS}


def load(entry: CorpusEntry, limit: int | None = None) -> tuple[list[Unit], LoadStats]:
    """The entry's texts that pass every check, in order, at most ``limit``; grouped by grammar
    file (one unit for a plain entry, one per grammar for a family)."""
    stats = LoadStats()
    units: dict[str, Unit] = {}
    for cand in entry.candidates():
        if limit is not None and stats.kept >= limit:
            break
        path = cand.grammar_path or entry.path
        stats.examined += 1
        reason = None
        for check in entry.checks:
            if check.cached:
                key = _CACHE.key(check.name, path, cand.text)
                verdict = _CACHE.get(key)
                if verdict is None:
                    verdict = check.fn(cand, path) or ""
                    _CACHE.put(key, verdict)
                reason = verdict or None
            else:
                reason = check.fn(cand, path)
            if reason is not None:
                stats.dropped[f"{check.name}: {_reason_class(reason)}"] += 1
                break
        if reason is not None:
            continue
        stats.kept += 1
        label = entry.name if not entry.family else f"{entry.name}/{os.path.basename(path).rsplit('.', 1)[0]}"
        unit = units.setdefault(path, Unit(label, path))
        unit.texts.append(cand.text)
        unit.origins.append(cand.origin)
    _CACHE.flush()
    return list(units.values()), stats


def _reason_class(reason: str) -> str:
    """Group drop reasons coarsely for the counts (positions vary per text)."""
    r = re.sub(r"No terminal matches.*", "no terminal matches here", reason)
    r = re.sub(r"\b(line|col|column|at) \d+", r"\1 N", r)
    r = re.sub(r"Token\('(\w+)', .*", r"Token(\1)", r)
    r = re.sub(r"Expected one of:.*", "", r).strip()
    return r[:90]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Check every candidate text; print kept/dropped per grammar.")
    ap.add_argument("--grammars", default=",".join(BY_NAME), help="comma list of entry names")
    ap.add_argument("--max-texts", type=int, default=None, help="stop an entry after N kept texts")
    ap.add_argument("--show-drops", type=int, default=0, help="print the first N dropped origins per entry")
    args = ap.parse_args(argv)
    for name in [n.strip() for n in args.grammars.split(",") if n.strip()]:
        entry = BY_NAME[name]
        units, stats = load(entry, args.max_texts)
        n_texts = sum(len(u.texts) for u in units)
        extra = f", {len(units)} grammars" if entry.family else ""
        print(f"{name:16s} {stats.line()}{extra}  [{n_texts} texts]")
        if args.show_drops:
            kept = {o for u in units for o in u.origins}
            shown = 0
            for cand in entry.candidates():
                if shown >= args.show_drops:
                    break
                if cand.origin not in kept:
                    print(f"    dropped {cand.origin}")
                    shown += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
