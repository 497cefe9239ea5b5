#!/usr/bin/env python
"""CFG-mask benchmark: grammask vs. peer engines, teacher-forcing real texts through real grammars
with the Llama-3 tokenizer.

Grammars and texts come from ``cfg_corpus.py`` (every text checked to be in its grammar's language
by an independent reference before it is used). For each engine, then each grammar:

1. Tokenizer preprocessing (the engine's TokenizerInfo / LLTokenizer), once -> ``tokenizer_ms``;
   then a warm-up (a tiny GBNF grammar and one text, nothing recorded).
2. Compile the grammar (timed around the engine's compile call only; in a worker thread with a
   time limit, ``--timeout``) -> ``compile_ms``. A refused grammar is that grammar's compile error
   (its texts count as not accepted) and the run goes on. A *family* entry (``gad-*``) has one
   grammar per text: ``compile_ms`` is the median over its grammars (``compile_ms_max`` too).
3. For every text, encoded with the tokenizer (no special tokens; it must decode back to the
   text): a fresh matcher; at every position clear the bitmask, time the engine's mask fill
   (``perf_counter_ns`` around just that call -> ``mask_us``), check the next token's bit
   (clear = *violation*), accept the token (refused = stop); at the end one more timed fill and
   check an EOS bit. A text is *accepted* when every token was allowed and EOS was allowed at
   the end. ``mask_us_p50/p99/p999`` are over all masks of all texts of the grammar.
   Python's GC is off while a grammar's texts run.

Isolation: each engine runs in a worker subprocess that reports one JSON event per compile and per
text. A text taking longer than ``--text-timeout`` is stopped between tokens (status timeout); a
worker that stops reporting (a native call stuck, a crash) is killed and restarted after the item
it was on, which is reported as a timeout / crash. ``--no-isolate`` runs engines in-process.

Usage::

    python benchmarks/cfg_masks.py                                  # all engines, all grammars
    python benchmarks/cfg_masks.py --engines xgrammar,llguidance --grammars json,sql --max-texts 10
    python benchmarks/cfg_masks.py --json                           # only JSON lines on stdout

``--json`` prints one line per engine and grammar: ``{"engine", "grammar", "texts", "accepted",
"compile_ms", "mask_us_p50", "mask_us_p99", "mask_us_p999", ...extras}``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
if _ROOT not in sys.path:
    sys.path.insert(1, _ROOT)

import numpy as np
from cfg_corpus import BY_NAME, CORPUS, load
from peers.cfg_peers import CFG_ADAPTERS, DEFAULT_TOKENIZER_DIR, GrammarSource, TokenizerContext
from regex_masks import (_bit, _fmt, _log, _percentiles_us, _pick, _r, _table,
                         _timed_compile, _timed_fill)

DEFAULT_ENGINES = ("grammask", "xgrammar", "llguidance")
DEFAULT_MAX_TEXTS = 20
MAX_EXAMPLES = 5              # failure examples kept per engine x grammar
WARMUP_GBNF = 'root ::= "{" [a-z]+ ":" [0-9]+ ("," [a-z]+ ":" [0-9]+)* "}"\n'
WARMUP_TEXT = "{alpha:12,beta:345}"
STARTUP_LIMIT_S = 600.0       # worker: import + tokenizer preprocessing + warm-up
STALL_SLACK_S = 30.0          # beyond the compile / text limit before a worker is killed


# ============================================================================= the worker side
def make_adapter(name: str, options: dict[str, Any]):
    if name == "xgrammar":
        return CFG_ADAPTERS[name](options.get("xgrammar_threads"), bool(options.get("peer_compat")))
    if name == "grammask":
        return CFG_ADAPTERS[name](bool(options.get("grammask_precompute")))
    if name == "llguidance":
        return CFG_ADAPTERS[name](bool(options.get("peer_compat")))
    return CFG_ADAPTERS[name]()


def _piece(ctx: TokenizerContext, ids: list[int]) -> str:
    try:
        return ctx.fast_tokenizer.decode(ids, skip_special_tokens=False)
    except Exception:  # noqa: BLE001
        return "?"


def run_case(adapter, compiled, ids: list[int], eos_ids: list[int], native, view: np.ndarray,
             limit_ns: int, ctx: TokenizerContext) -> dict[str, Any]:
    """Teacher-force one text. Returns its event: mask times, status, first problem."""
    perf = time.perf_counter_ns
    times: list[int] = []
    status, detail, violations, term_mismatch = "accepted", None, 0, False

    def where(pos: int) -> str:
        return f"position {pos}/{len(ids)} after {_piece(ctx, ids[max(0, pos - 12):pos])[-50:]!r}"

    try:
        matcher = adapter.new_matcher(compiled)
        fill, args = adapter.fill_call(matcher, native)
        deadline = perf() + limit_ns
        finished = True
        for pos, tid in enumerate(ids):
            _timed_fill(fill, args, view, times)
            allowed = _bit(view, tid)
            if not allowed:
                violations += 1
                if status == "accepted":
                    status = "violation"
                    detail = f"token {tid} {_piece(ctx, [tid])!r} not allowed at {where(pos)}"
            if not adapter.accept(matcher, tid):
                if status == "accepted" or (status == "violation" and allowed):
                    status = "rejected"
                    detail = f"accept({tid} {_piece(ctx, [tid])!r}) refused though its bit is set at {where(pos)}"
                finished = False
                break
            if perf() > deadline:
                status, detail, finished = "timeout", f"over {limit_ns / 1e9:g} s at {where(pos + 1)}", False
                break
        if finished:
            _timed_fill(fill, args, view, times)
            eos_ok = any(_bit(view, e) for e in eos_ids)
            if not eos_ok and status == "accepted":
                status, detail = "eos", f"no EOS allowed at the end (after {_piece(ctx, ids[-12:])[-50:]!r})"
            ct = adapter.can_terminate(matcher)
            term_mismatch = ct is not None and ct != eos_ok
    except Exception as e:  # noqa: BLE001 - keep benchmarking the other texts
        status, detail = "error", f"{type(e).__name__}: {str(e)[:300]}"
    return {"ns": times, "status": status, "detail": detail, "violations": violations,
            "term_mismatch": term_mismatch}


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def run_worker(engine: str, job: dict[str, Any], start: tuple[int, int, int],
               isolated: bool = True) -> Iterator[dict[str, Any]]:
    """Everything one engine does, as a stream of events (run in a subprocess or in-process)."""
    opts = job["options"]
    adapter = make_adapter(engine, opts)
    ok, why = adapter.available()
    if not ok:
        yield {"ev": "unavailable", "why": why}
        return
    ctx = TokenizerContext(job["tokenizer"], job["vocab_size"], job["eos"])
    _ = ctx.fast_tokenizer
    if engine in ("xgrammar", "llguidance"):
        _ = ctx.hf_tokenizer  # loaded outside the timed preprocessing
    gc.collect()
    t0 = time.perf_counter_ns()
    adapter.setup(ctx)
    tokenizer_ms = (time.perf_counter_ns() - t0) / 1e6
    native, view = adapter.allocate_bitmask()
    words = (job["vocab_size"] + 31) // 32
    if view.dtype != np.int32 or view.ndim != 2 or view.shape[0] != 1 or view.shape[1] < words:
        raise RuntimeError(f"{engine}: bitmask view {view.shape} {view.dtype}, want (1, >={words}) int32")
    compile_limit, text_limit_ns = opts["timeout"], int(opts["text_timeout"] * 1e9)

    warm, _, err, _ = _timed_compile(adapter, GrammarSource(None, WARMUP_GBNF, "gbnf", None), compile_limit)
    if err:
        raise RuntimeError(f"{engine}: warm-up grammar failed: {err}")
    warm_case = run_case(adapter, warm, ctx.encode(WARMUP_TEXT), job["eos"], native, view, text_limit_ns, ctx)
    if warm_case["status"] != "accepted":
        _log(f"[{engine}] warm-up text not accepted: {warm_case['detail']}")
    del warm
    yield {"ev": "ready", "version": adapter.version(), "api": adapter.describe(), "tokenizer_ms": tokenizer_ms}

    si, sj, sk = start
    for i, entry in enumerate(job["entries"]):
        if i < si:
            continue
        ok, why = adapter.supports(entry["syntax"])
        if not ok:
            yield {"ev": "unsupported", "i": i, "why": why}
            continue
        for j, unit in enumerate(entry["units"]):
            if (i, j) < (si, sj):
                continue
            yield {"ev": "compiling", "i": i, "j": j}
            src = GrammarSource(unit["path"], _read(unit["path"]), entry["syntax"], entry["start"])
            gc.collect()
            compiled, ms, err, over = _timed_compile(adapter, src, compile_limit)
            yield {"ev": "compiled", "i": i, "j": j, "ms": ms, "error": err, "over_limit": over}
            if err:
                if over and isolated:  # the abandoned compile still runs in a thread: go on in a fresh process
                    yield {"ev": "restart", "i": i, "j": j + 1, "k": 0}
                    return
                if over:
                    _log(f"[{engine}] WARNING: an abandoned compile keeps running in the background; "
                         "later timings in this run are perturbed")
                continue
            gc.disable()
            try:
                for k, case in enumerate(unit["cases"]):
                    if (i, j, k) < (si, sj, sk):
                        continue
                    res = run_case(adapter, compiled, case["ids"], job["eos"], native, view, text_limit_ns, ctx)
                    yield {"ev": "text", "i": i, "j": j, "k": k, **res}
            finally:
                gc.enable()
            try:
                mem = adapter.memory_bytes(compiled)
            except Exception as e:  # noqa: BLE001 - a size report is an extra
                _log(f"[{engine}] memory_bytes failed: {type(e).__name__}: {e}")
                mem = None
            yield {"ev": "unit_done", "i": i, "j": j, "memory_bytes": mem}
            del compiled
    yield {"ev": "done"}


def worker_main(args: argparse.Namespace) -> int:
    with open(args._job, encoding="utf-8") as f:
        job = json.load(f)
    start = tuple(int(x) for x in args._start.split(":"))
    out = sys.stdout
    try:
        for ev in run_worker(args._worker, job, start):  # type: ignore[arg-type]
            out.write(json.dumps(ev) + "\n")
            out.flush()
    except Exception as e:  # noqa: BLE001
        out.write(json.dumps({"ev": "fatal", "error": f"{type(e).__name__}: {e}"}) + "\n")
        out.flush()
        return 1
    return 0


# ============================================================================= results
@dataclass
class GrammarRun:
    name: str
    texts: int
    units: int
    compile_ms: dict[int, float] = field(default_factory=dict)
    compile_errors: dict[int, str] = field(default_factory=dict)
    memory_bytes: dict[int, int] = field(default_factory=dict)
    ns: list[int] = field(default_factory=list)
    status: Counter = field(default_factory=Counter)
    violations: int = 0
    term_mismatch: int = 0
    examples: list[str] = field(default_factory=list)
    unsupported: str | None = None

    def note(self, msg: str) -> None:
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(msg)


@dataclass
class EngineRun:
    engine: str
    version: str = "?"
    api: str = ""
    tokenizer_ms: float | None = None
    failed: str | None = None
    grammars: list[GrammarRun] = field(default_factory=list)
    wall_s: float = 0.0
    restarts: int = 0


class Collector:
    """Turns worker events into an EngineRun; knows where a restarted worker must resume."""

    def __init__(self, engine: str, job: dict[str, Any]):
        self.job = job
        self.run = EngineRun(engine)
        for e in job["entries"]:
            self.run.grammars.append(GrammarRun(e["name"], sum(len(u["cases"]) for u in e["units"]), len(e["units"])))
        self.done = False
        # What the worker is doing now: ("startup" | "idle" | "compile" | "text", entry, unit, text).
        self.phase: tuple[str, int, int, int] = ("startup", 0, 0, 0)

    def _origin(self, i: int, j: int, k: int) -> str:
        unit = self.job["entries"][i]["units"][j]
        return f"{unit['cases'][k]['origin']}" if k < len(unit["cases"]) else unit["label"]

    def handle(self, ev: dict[str, Any]) -> None:
        kind = ev["ev"]
        if kind == "ready":
            if self.run.tokenizer_ms is None:  # a restarted worker: keep the first one's numbers
                self.run.version, self.run.api, self.run.tokenizer_ms = ev["version"], ev["api"], ev["tokenizer_ms"]
            self.phase = ("idle",) + self.phase[1:]  # type: ignore[assignment]
        elif kind == "unavailable":
            self.run.failed, self.done = f"unavailable: {ev['why']}", True
        elif kind == "fatal":
            self.run.failed, self.done = ev["error"], True
        elif kind == "done":
            self.done = True
        elif kind == "unsupported":
            self.run.grammars[ev["i"]].unsupported = ev["why"]
            self.phase = ("idle", ev["i"] + 1, 0, 0)
        elif kind == "compiling":  # (a worker resumed in the middle of a unit recompiles it)
            same = self.phase[1:3] == (ev["i"], ev["j"])
            self.phase = ("compile", ev["i"], ev["j"], self.phase[3] if same else 0)
        elif kind == "compiled":
            g = self.run.grammars[ev["i"]]
            j = ev["j"]
            if j not in g.compile_ms and j not in g.compile_errors:  # a restart recompiles: keep the first
                if ev["error"]:
                    g.compile_errors[j] = ev["error"]
                else:
                    g.compile_ms[j] = ev["ms"]
            self.phase = ("text", ev["i"], j, self.phase[3] if self.phase[1:3] == (ev["i"], j) else 0)
            if ev["error"]:
                self.phase = ("idle", ev["i"], j + 1, 0)
        elif kind == "text":
            g = self.run.grammars[ev["i"]]
            g.ns.extend(ev["ns"])
            g.status[ev["status"]] += 1
            g.violations += ev["violations"]
            g.term_mismatch += int(ev["term_mismatch"])
            if ev["status"] != "accepted":
                g.note(f"{self._origin(ev['i'], ev['j'], ev['k'])}: {ev['status']}: {ev['detail']}")
            self.phase = ("text", ev["i"], ev["j"], ev["k"] + 1)
        elif kind == "unit_done":
            if ev.get("memory_bytes") is not None:
                self.run.grammars[ev["i"]].memory_bytes[ev["j"]] = ev["memory_bytes"]
            self.phase = ("idle", ev["i"], ev["j"] + 1, 0)
        elif kind == "restart":
            self.phase = ("idle", ev["i"], ev["j"], ev["k"])

    def _normalise(self, i: int, j: int, k: int) -> tuple[int, int, int]:
        entries = self.job["entries"]
        while i < len(entries):
            units = entries[i]["units"]
            while j < len(units):
                if k < len(units[j]["cases"]):
                    return i, j, k
                j, k = j + 1, 0
            i, j, k = i + 1, 0, 0
        return i, 0, 0

    def resume_point(self) -> tuple[int, int, int]:
        _, i, j, k = self.phase
        return self._normalise(i, j, k)

    def limit_s(self) -> float:
        kind = self.phase[0]
        opts = self.job["options"]
        if kind == "startup":
            return STARTUP_LIMIT_S
        if kind == "compile":
            return opts["timeout"] + STALL_SLACK_S
        return max(opts["text_timeout"], opts["timeout"]) + STALL_SLACK_S  # "idle" may compile next

    def worker_lost(self, why: str) -> None:
        """The worker died or stalled: charge it to the item it was on and move past that item."""
        kind, i, j, k = self.phase
        if kind == "compile":
            self.run.grammars[i].compile_errors.setdefault(j, f"worker {why} during compile")
            self.phase = ("idle", i, j + 1, 0)
            return
        if kind == "text" and k >= len(self.job["entries"][i]["units"][j]["cases"]):
            self.phase = ("idle", i, j + 1, 0)  # after the unit's last text: nothing to charge
            return
        i, j, k = self._normalise(i, j, k)  # "idle": charge the next text, so the run moves on
        if i < len(self.job["entries"]):
            g = self.run.grammars[i]
            g.status["timeout" if why.startswith("stalled") else "crash"] += 1
            g.note(f"{self._origin(i, j, k)}: worker {why}")
            self.phase = ("idle", i, j, k + 1)


def _reader(stream, q: queue.Queue) -> None:
    for line in stream:
        q.put(line)
    q.put(None)


def run_engine_isolated(engine: str, job_path: str, job: dict[str, Any]) -> EngineRun:
    col = Collector(engine, job)
    t_start = time.perf_counter()
    pos = (0, 0, 0)
    while True:
        col.phase = ("startup",) + pos  # type: ignore[assignment]
        cmd = [sys.executable, os.path.abspath(__file__), "--_worker", engine, "--_job", job_path,
               "--_start", ":".join(map(str, pos))]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1)
        q: queue.Queue = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True).start()
        lost, restart = None, False
        while True:
            limit = col.limit_s()
            try:
                line = q.get(timeout=limit)
            except queue.Empty:
                lost = f"stalled (no report for {limit:g} s, killed)"
                proc.kill()  # our own child, through its handle
                break
            if line is None:
                rc = proc.wait()
                if not col.done:
                    lost = f"exited (rc {rc})"
                break
            try:
                ev = json.loads(line)
            except ValueError:
                _log(f"[{engine}] worker: {line.rstrip()}")
                continue
            first_ready = ev["ev"] == "ready" and col.run.tokenizer_ms is None
            col.handle(ev)
            if first_ready:
                _log(f"[{engine}] {col.run.version}: tokenizer preprocessing {col.run.tokenizer_ms:.1f} ms")
            elif ev["ev"] in ("unit_done", "unsupported") or (ev["ev"] == "compiled" and ev["error"]):
                _progress(col, ev["i"])
            if ev["ev"] == "restart":
                restart = True
                break
        proc.wait()
        if col.done:
            break
        if lost is not None or restart:
            col.run.restarts += 1
        if lost is not None:
            _log(f"[{engine}] worker {lost} at {col.phase}")
            if col.phase[0] == "startup":
                col.run.failed = f"worker {lost} during start-up"
                break
            col.worker_lost(lost)
        pos = col.resume_point()
        if pos[0] >= len(job["entries"]):
            break
    col.run.wall_s = time.perf_counter() - t_start
    return col.run


def _progress(col: Collector, i: int) -> None:
    g = col.run.grammars[i]
    entry = col.job["entries"][i]
    done_units = len(g.compile_ms) + len(g.compile_errors)
    if g.unsupported is None and done_units < len(entry["units"]):
        return
    s = grammar_summary(col.run, g)
    _log(f"[{col.run.engine}] {g.name}: {s['accepted']}/{s['texts']} accepted, compile "
         f"{_fmt(s['compile_ms'], 2)} ms, mask p50 {_fmt(s['mask_us_p50'])} us p99 {_fmt(s['mask_us_p99'])} us"
         + (f", error: {s['error'][:100]}" if s.get("error") else ""))


def run_engine_inprocess(engine: str, job: dict[str, Any]) -> EngineRun:
    col = Collector(engine, job)
    t0 = time.perf_counter()
    try:
        for ev in run_worker(engine, job, (0, 0, 0), isolated=False):
            col.handle(ev)
            if ev["ev"] in ("unit_done", "unsupported") or (ev["ev"] == "compiled" and ev["error"]):
                _progress(col, ev["i"])
    except Exception as e:  # noqa: BLE001
        col.run.failed = f"{type(e).__name__}: {e}"
    col.run.wall_s = time.perf_counter() - t0
    return col.run


# ============================================================================= summaries / output
def grammar_summary(run: EngineRun, g: GrammarRun) -> dict[str, Any]:
    p50, p99, p999, mx = _percentiles_us(g.ns)
    cms = list(g.compile_ms.values())
    if g.unsupported is not None:
        error: str | None = f"unsupported: {g.unsupported}"
    elif run.failed and not g.ns and not g.compile_ms and not g.compile_errors:
        error = f"engine failed: {run.failed}"
    elif g.compile_errors:
        first = next(iter(g.compile_errors.values()))
        error = first if g.units == 1 else f"{len(g.compile_errors)}/{g.units} grammars failed, e.g. {first}"
    else:
        error = None
    return {
        "engine": run.engine,
        "grammar": g.name,
        "texts": g.texts,
        "accepted": g.status.get("accepted", 0),
        "compile_ms": _r(float(np.median(cms))) if cms else None,
        "mask_us_p50": _r(p50),
        "mask_us_p99": _r(p99),
        "mask_us_p999": _r(p999),
        # extras
        "mask_us_max": _r(mx),
        "masks": len(g.ns),
        "compile_ms_max": _r(max(cms)) if cms else None,
        "grammars": g.units,
        "compile_errors": len(g.compile_errors) + (g.units if g.unsupported is not None else 0),
        "violation_texts": g.status.get("violation", 0),
        "violations": g.violations,
        "rejected": g.status.get("rejected", 0),
        "eos_failures": g.status.get("eos", 0),
        "timeouts": g.status.get("timeout", 0),
        "errors": g.status.get("error", 0) + g.status.get("crash", 0),
        "term_mismatch": g.term_mismatch,
        "memory_mb": _r(sum(g.memory_bytes.values()) / 2**20) if g.memory_bytes else None,
        "error": error[:500] if error else None,
        "examples": [e[:300] for e in g.examples],
        "version": run.version,
    }


def _one_line(msg: str, limit: int = 240) -> str:
    first = msg.strip().splitlines()[0] if msg.strip() else ""
    return first[:limit] + (" ..." if len(first) > limit or "\n" in msg.strip() else "")


def print_human(runs: list[EngineRun], summaries: list[dict[str, Any]], job: dict[str, Any],
                corpus_lines: list[str], args: argparse.Namespace) -> None:
    print(f"CFG-mask benchmark: tokenizer {job['tokenizer']} (V={job['vocab_size']}, EOS {job['eos']}), "
          f"at most {args.max_texts} texts per grammar, text limit {args.text_timeout:g} s, "
          f"compile limit {args.timeout:g} s" + (", --peer-compat" if args.peer_compat else ""))
    print()
    print("corpus (texts kept after the reference checks; see cfg_corpus.py):")
    for line in corpus_lines:
        print("  " + line)
    print()
    for r in runs:
        tok = f"{r.tokenizer_ms:.0f} ms" if r.tokenizer_ms is not None else "-"
        extra = f", FAILED: {r.failed}" if r.failed else ""
        extra += f", {r.restarts} worker restart(s)" if r.restarts else ""
        print(f"{r.engine} {r.version}: tokenizer preprocessing {tok}, wall {r.wall_s:.1f} s{extra}")
    print()
    headers = ["grammar", "engine", "texts", "accepted", "compile ms", "mask p50 us", "p99 us", "p99.9 us",
               "max us", "masks", "notes"]
    rows = []
    order = {g["name"]: n for n, g in enumerate(job["entries"])}
    for s in sorted(summaries, key=lambda s: (order[s["grammar"]], args.engine_names.index(s["engine"]))):
        notes = []
        if s["error"] and s["error"].startswith("engine failed"):
            notes.append("engine failed")
        elif s["error"]:
            notes.append("compile error" if s["compile_errors"] >= s["grammars"] else
                         f"{s['compile_errors']} compile errors")
        for key, label in (("violation_texts", "viol"), ("rejected", "rej"), ("eos_failures", "eos"),
                           ("timeouts", "timeout"), ("errors", "err"), ("term_mismatch", "term?")):
            if s[key]:
                notes.append(f"{label} {s[key]}")
        cms = _fmt(s["compile_ms"], 2)
        if s["grammars"] > 1 and s["compile_ms"] is not None:
            cms = f"{cms} (med/{s['grammars']})"
        rows.append([s["grammar"], s["engine"], str(s["texts"]), str(s["accepted"]), cms,
                     _fmt(s["mask_us_p50"]), _fmt(s["mask_us_p99"]), _fmt(s["mask_us_p999"]),
                     _fmt(s["mask_us_max"]), str(s["masks"]), ", ".join(notes)])
    print(_table(headers, rows))
    print()
    for r in runs:
        for g in r.grammars:
            s = grammar_summary(r, g)
            if s["error"] and not s["error"].startswith("engine failed"):
                print(f"! {r.engine} {g.name}: {_one_line(s['error'])}")
            for ex in g.examples:
                print(f"! {r.engine} {g.name}: {_one_line(ex)}")
    print()
    for r in runs:
        if r.api:
            print(f"{r.engine} API: {r.api}")
    print()


# ============================================================================= job / main
def build_job(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    ctx = TokenizerContext(args.tokenizer, args.vocab_size, args.eos)
    entries, lines = [], []
    for name in args.grammar_names:
        entry = BY_NAME[name]
        t0 = time.perf_counter()
        units, stats = load(entry, args.max_texts)
        out_units, not_round_trip = [], 0
        for u in units:
            cases = []
            for text, origin in zip(u.texts, u.origins):
                ids = ctx.encode(text)
                if ctx.fast_tokenizer.decode(ids, skip_special_tokens=False) != text or \
                        any(i >= args.vocab_size for i in ids):
                    not_round_trip += 1
                    continue
                cases.append({"ids": ids, "origin": origin})
            if cases:
                out_units.append({"label": u.label, "path": u.path, "cases": cases})
        n_texts = sum(len(u["cases"]) for u in out_units)
        n_tokens = sum(len(c["ids"]) for u in out_units for c in u["cases"])
        line = f"{name}: {n_texts} texts, {n_tokens} tokens" + (f", {len(out_units)} grammars" if entry.family else "")
        line += f"; {stats.line()}" + (f"; {not_round_trip} not round-tripping the tokenizer" if not_round_trip else "")
        line += f" [{entry.texts_from}]"
        lines.append(line)
        _log(f"corpus {line} ({time.perf_counter() - t0:.1f} s)")
        entries.append({"name": name, "syntax": entry.syntax, "start": entry.start, "family": entry.family,
                        "units": out_units})
    job = {
        "tokenizer": args.tokenizer, "vocab_size": args.vocab_size, "eos": args.eos, "entries": entries,
        "options": {"timeout": args.timeout, "text_timeout": args.text_timeout,
                    "xgrammar_threads": args.xgrammar_threads, "grammask_precompute": args.grammask_precompute,
                    "peer_compat": args.peer_compat},
    }
    return job, lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engines", default=",".join(DEFAULT_ENGINES), help="comma list of " + ",".join(CFG_ADAPTERS))
    ap.add_argument("--grammars", default=",".join(e.name for e in CORPUS),
                    help="comma list of " + ",".join(e.name for e in CORPUS))
    ap.add_argument("--max-texts", type=int, default=DEFAULT_MAX_TEXTS,
                    help="texts per grammar (a family: grammar/answer pairs); 0 = all")
    ap.add_argument("--tokenizer", default=os.environ.get("GRAMMASK_BENCH_TOKENIZER", DEFAULT_TOKENIZER_DIR),
                    help="tokenizer directory (with tokenizer.json)")
    ap.add_argument("--vocab-size", type=int, default=128256, help="logits width")
    ap.add_argument("--eos-ids", default="128001,128009", help="EOS token ids")
    ap.add_argument("--timeout", type=float, default=120.0, help="per-grammar compile limit in s")
    ap.add_argument("--text-timeout", type=float, default=60.0, help="per-text limit in s")
    ap.add_argument("--xgrammar-threads", type=int, default=None, help="xgrammar GrammarCompiler max_threads")
    ap.add_argument("--grammask-precompute", action="store_true",
                    help="build all grammask masks at compile time (default: lazily, in mask time)")
    ap.add_argument("--peer-compat", action="store_true",
                    help="give peers language-preserving rewrites of grammars they refuse for syntax "
                         "(strip Lark priorities; rename a GBNF rule 'Start' for llguidance)")
    ap.add_argument("--no-isolate", action="store_true", help="run engines in this process (no worker)")
    ap.add_argument("--json", action="store_true", help="print only the JSON lines")
    ap.add_argument("--_worker", help=argparse.SUPPRESS)
    ap.add_argument("--_job", help=argparse.SUPPRESS)
    ap.add_argument("--_start", default="0:0:0", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._worker:
        return args
    args.engine_names = _pick(ap, args.engines, CFG_ADAPTERS, "engine")
    args.grammar_names = _pick(ap, args.grammars, BY_NAME, "grammar")
    args.eos = [int(x) for x in args.eos_ids.split(",") if x.strip()]
    if args.max_texts < 0:
        ap.error("--max-texts must be >= 0")
    if args.max_texts == 0:
        args.max_texts = None
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args._worker:
        return worker_main(args)
    run0 = time.perf_counter()
    job, corpus_lines = build_job(args)
    runs: list[EngineRun] = []
    with tempfile.TemporaryDirectory(prefix="cfg_masks_") as tmp:
        job_path = os.path.join(tmp, "job.json")
        with open(job_path, "w", encoding="utf-8") as f:
            json.dump(job, f)
        for engine in args.engine_names:
            _log(f"[{engine}] starting")
            run = run_engine_inprocess(engine, job) if args.no_isolate else run_engine_isolated(engine, job_path, job)
            if run.failed:
                _log(f"[{engine}] FAILED: {run.failed}")
            if run.failed and run.failed.startswith("unavailable"):
                continue
            runs.append(run)
    summaries = [grammar_summary(r, g) for r in runs for g in r.grammars]
    if not args.json:
        print_human(runs, summaries, job, corpus_lines, args)
    for s in summaries:
        print(json.dumps(s, ensure_ascii=False))
    _log(f"total wall time {time.perf_counter() - run0:.1f} s")
    return 0 if runs else 1


if __name__ == "__main__":
    sys.exit(main())
