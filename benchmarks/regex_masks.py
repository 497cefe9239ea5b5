#!/usr/bin/env python
"""Regex-mask benchmark: grammask vs. peer engines on realistic patterns x the Llama-3 tokenizer.

Protocol (identical for every engine, all in this one process, engines one after another):

1. Tokenizer preprocessing (the engine's TokenizerInfo / Vocabulary), timed once -> ``tokenizer_ms``.
   Loading the tokenizer file itself (``tokenizers`` / transformers object) happens before, untimed.
2. Warm-up: compile ``WARMUP_PATTERN`` and drive a matcher through one string; nothing recorded.
3. For each pattern: compile (timed; run in a worker thread with a time limit, ``--timeout``).
   Then for each of K matching strings (``regex_patterns.matching_strings``; each verified with
   ``re.fullmatch``), tokenized with plain ``encode`` (no special tokens): fresh matcher; for each
   token: clear the bitmask, time the engine's fill call (``perf_counter_ns`` around just that
   call), check the token's bit is set (a clear bit is a *violation*), accept the token. Finally
   time one more fill and check an EOS id is allowed. Python's GC is off while a pattern's strings
   run (collected between patterns).
4. Memory, taken after a pattern's strings ran (so lazily filled caches count): the engine's own
   size report summed over the compiled patterns where it has one (grammask ``memory_bytes()``,
   xgrammar ``memory_size_bytes``), else the process RSS delta from
   before the first pattern to after the last (all compiled objects kept alive); ``memory_source``
   says which. ``rss_delta_mb`` is always reported too, and ``serialized_mb`` (size of the
   engine's own serialized form) where that is the only size hint (outlines-core). MB = 2**20 B.

Usage::

    python benchmarks/regex_masks.py                       # all engines that import
    python benchmarks/regex_masks.py --engines xgrammar,outlines-core --strings 20 --per-pattern
    python benchmarks/regex_masks.py --json                # only JSON lines on stdout
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
if _ROOT not in sys.path:
    sys.path.insert(1, _ROOT)

import numpy as np  # noqa: E402

from peers.regex_peers import ADAPTERS, DEFAULT_TOKENIZER_DIR, EngineAdapter, TokenizerContext  # noqa: E402
from regex_patterns import PATTERNS, WARMUP_PATTERN, matching_strings, warmup_string  # noqa: E402

MIB = float(1 << 20)
MAX_EXAMPLES = 3  # violation / failure examples kept per engine x pattern


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # pragma: no cover - non-Linux
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class PatternResult:
    pattern: str
    compile_ms: float | None = None
    error: str | None = None
    over_limit: bool = False
    memory_bytes: int | None = None
    serialized_bytes: int | None = None
    rss_delta_bytes: int = 0
    mask_ns: list[int] = field(default_factory=list)
    violations: int = 0
    rejected: int = 0  # accept_token refused a token of a matching string
    eos_failures: int = 0
    errors: int = 0  # exceptions while matching
    strings: int = 0
    examples: list[str] = field(default_factory=list)  # first few violations / failures


@dataclass
class EngineResult:
    engine: str
    version: str
    api: str
    tokenizer_ms: float = 0.0
    patterns: list[PatternResult] = field(default_factory=list)
    rss_delta_bytes: int = 0
    wall_s: float = 0.0


@dataclass
class Case:
    text: str
    ids: list[int]


def _percentiles_us(ns: list[int]) -> tuple[float, float, float, float]:
    if not ns:
        nan = float("nan")
        return nan, nan, nan, nan
    a = np.asarray(ns, dtype=np.float64) / 1e3
    p50, p99, p999 = np.percentile(a, [50, 99, 99.9])
    return float(p50), float(p99), float(p999), float(a.max())


def _timed_compile(adapter: EngineAdapter, pattern: str, limit_s: float) -> tuple[Any, float | None, str | None, bool]:
    """(compiled, ms, error, over_limit). The timer runs inside the worker around the call only."""
    if limit_s <= 0:
        t0 = time.perf_counter_ns()
        try:
            compiled = adapter.compile(pattern)
        except Exception as e:  # noqa: BLE001 - a peer rejecting a pattern is a result
            return None, None, f"{type(e).__name__}: {e}", False
        return compiled, (time.perf_counter_ns() - t0) / 1e6, None, False

    box: dict[str, Any] = {}

    def work() -> None:
        t0 = time.perf_counter_ns()
        try:
            box["value"] = adapter.compile(pattern)
        except BaseException as e:  # noqa: BLE001
            box["error"] = f"{type(e).__name__}: {e}"
        box["ns"] = time.perf_counter_ns() - t0

    th = threading.Thread(target=work, name=f"compile-{adapter.name}", daemon=True)
    th.start()
    th.join(limit_s)
    if th.is_alive():
        # Cannot kill a native compile: it keeps running in the background (daemon thread),
        # so later timings in this process may be perturbed. Reported loudly.
        return None, None, f"timeout: compile still running after {limit_s:g} s (abandoned)", True
    if "error" in box:
        return None, None, box["error"], False
    ms = box["ns"] / 1e6
    # If the engine holds the GIL during compile, join() can only return after it finishes.
    return box["value"], ms, None, ms > limit_s * 1e3


def _show(case: Case, limit: int = 60) -> str:
    text = case.text if len(case.text) <= limit else case.text[:limit] + "..."
    ids = case.ids if len(case.ids) <= 12 else case.ids[:12] + ["..."]  # type: ignore[operator]
    return f"{text!r} (tokens {ids})"


def _timed_fill(fill: Any, args: tuple, view: np.ndarray, times: list[int]) -> None:
    """Clear the bitmask and time one fill call (ns appended to `times`)."""
    view.fill(0)
    t0 = time.perf_counter_ns()
    fill(*args)
    times.append(time.perf_counter_ns() - t0)


def _pick(ap: argparse.ArgumentParser, raw: str, known: Any, what: str) -> list[str]:
    """The comma-separated names in `raw`; an argparse error naming unknown ones."""
    names = [x.strip() for x in raw.split(",") if x.strip()]
    unknown = [x for x in names if x not in known]
    if unknown:
        ap.error(f"unknown {what}(s) {unknown}; known: {list(known)}")
    return names


def _bit(view: np.ndarray, tid: int) -> bool:
    return (int(view[0, tid >> 5]) >> (tid & 31)) & 1 == 1


def _run_strings(
    adapter: EngineAdapter,
    compiled: Any,
    cases: list[Case],
    eos_ids: list[int],
    native: Any,
    view: np.ndarray,
    pr: PatternResult | None,
) -> None:
    """Teacher-force every case through a fresh matcher. ``pr=None`` = warm-up (nothing kept)."""
    times = pr.mask_ns if pr is not None else []

    def note(msg: str) -> None:
        if pr is not None and len(pr.examples) < MAX_EXAMPLES:
            pr.examples.append(msg)

    for case in cases:
        try:
            matcher = adapter.new_matcher(compiled)
            fill, args = adapter.fill_call(matcher, native)
            ok = True
            for pos, tid in enumerate(case.ids):
                _timed_fill(fill, args, view, times)
                allowed = _bit(view, tid)
                if not allowed and pr is not None:
                    pr.violations += 1
                    note(f"token {tid} at position {pos} of {_show(case)} not allowed")
                if not adapter.accept(matcher, tid):
                    if pr is not None:
                        pr.rejected += 1
                        if allowed:  # mask and accept disagree: worth its own line
                            note(f"accept({tid}) refused at position {pos} of {_show(case)} though its bit is set")
                    ok = False  # the matcher cannot follow this string any further
                    break
            if ok:
                _timed_fill(fill, args, view, times)
                if not any(_bit(view, e) for e in eos_ids) and pr is not None:
                    pr.eos_failures += 1
                    note(f"no EOS allowed after {_show(case)}")
        except Exception as e:  # noqa: BLE001 - keep benchmarking the other strings
            if pr is None:
                raise
            pr.errors += 1
            note(f"{type(e).__name__}: {e} on {_show(case)}")
        if pr is not None:
            pr.strings += 1


def bench_engine(
    adapter: EngineAdapter,
    ctx: TokenizerContext,
    pattern_cases: dict[str, list[Case]],
    warm_cases: list[Case],
    limit_s: float,
) -> EngineResult:
    res = EngineResult(engine=adapter.name, version=adapter.version(), api=adapter.describe())
    wall0 = time.perf_counter()
    gc.collect()
    t0 = time.perf_counter_ns()
    adapter.setup(ctx)
    res.tokenizer_ms = (time.perf_counter_ns() - t0) / 1e6
    _log(f"[{adapter.name}] tokenizer preprocessing {res.tokenizer_ms:.1f} ms")

    native, view = adapter.allocate_bitmask()
    expected_words = (ctx.vocab_size + 31) // 32
    if view.shape != (1, expected_words) or view.dtype != np.int32:
        raise RuntimeError(f"{adapter.name}: bitmask view {view.shape} {view.dtype}, want (1, {expected_words}) int32")

    # Warm-up (lazy imports, first-call costs); not recorded.
    warm, _, err, _ = _timed_compile(adapter, WARMUP_PATTERN, limit_s)
    if err:
        raise RuntimeError(f"{adapter.name}: warm-up pattern failed: {err}")
    _run_strings(adapter, warm, warm_cases, ctx.eos_token_ids, native, view, None)
    del warm

    kept: list[Any] = []  # compiled objects stay alive so the RSS delta covers all of them
    gc.collect()
    rss0 = _rss_bytes()
    for name, cases in pattern_cases.items():
        pr = PatternResult(pattern=name)
        res.patterns.append(pr)
        gc.collect()
        rss_b = _rss_bytes()
        compiled, ms, err, over = _timed_compile(adapter, PATTERNS[name], limit_s)
        pr.compile_ms, pr.error, pr.over_limit = ms, err, over
        if err:
            pr.rss_delta_bytes = _rss_bytes() - rss_b
            _log(f"[{adapter.name}] {name}: compile FAILED: {err}")
            if over:
                _log(f"[{adapter.name}] WARNING: an abandoned compile keeps running in the background; "
                     "later timings and RSS in this run are perturbed")
            continue
        kept.append(compiled)
        gc.disable()
        try:
            _run_strings(adapter, compiled, cases, ctx.eos_token_ids, native, view, pr)
        finally:
            gc.enable()
        # Sizes after matching: an engine that fills its mask cache lazily has grown by now.
        pr.memory_bytes = adapter.memory_bytes(compiled)
        pr.serialized_bytes = adapter.serialized_bytes(compiled)
        pr.rss_delta_bytes = _rss_bytes() - rss_b  # compile + matching (lazy caches included)
        p50, p99, _, mx = _percentiles_us(pr.mask_ns)
        _log(
            f"[{adapter.name}] {name}: compile {ms:.2f} ms{' (OVER LIMIT)' if over else ''}, "
            f"{len(pr.mask_ns)} masks p50 {p50:.1f} us p99 {p99:.1f} us max {mx:.1f} us, "
            f"violations {pr.violations}"
        )
    gc.collect()
    res.rss_delta_bytes = _rss_bytes() - rss0
    del kept
    gc.collect()
    res.wall_s = time.perf_counter() - wall0
    return res


def _r(x: float | None, nd: int = 3) -> float | None:
    if x is None or (isinstance(x, float) and x != x):
        return None
    return round(float(x), nd)


def engine_summary(res: EngineResult, strings_per_pattern: int) -> dict[str, Any]:
    ok = [p for p in res.patterns if p.error is None]
    compile_ms = [p.compile_ms for p in ok if p.compile_ms is not None]
    all_ns = [t for p in ok for t in p.mask_ns]
    p50, p99, p999, mx = _percentiles_us(all_ns)
    engine_mem = [p.memory_bytes for p in ok]
    ser = [p.serialized_bytes for p in ok]
    if ok and all(m is not None for m in engine_mem):
        memory_mb, source = sum(engine_mem) / MIB, "engine"  # type: ignore[arg-type]
    else:
        memory_mb, source = res.rss_delta_bytes / MIB, "rss_delta"
    return {
        "engine": res.engine,
        "patterns": len(ok),
        "compile_ms_p50": _r(float(np.percentile(compile_ms, 50)) if compile_ms else None),
        "compile_ms_max": _r(max(compile_ms) if compile_ms else None),
        "mask_us_p50": _r(p50),
        "mask_us_p99": _r(p99),
        "mask_us_p999": _r(p999),
        "masks": len(all_ns),
        "violations": sum(p.violations for p in ok),
        "memory_mb": _r(memory_mb),
        # extras (beyond the fixed keys above)
        "memory_source": source,
        "rss_delta_mb": _r(res.rss_delta_bytes / MIB),
        "serialized_mb": _r(sum(ser) / MIB) if ok and all(x is not None for x in ser) else None,
        "mask_us_max": _r(mx),
        "tokenizer_ms": _r(res.tokenizer_ms),
        "rejected_tokens": sum(p.rejected for p in ok),
        "eos_failures": sum(p.eos_failures for p in ok),
        "match_errors": sum(p.errors for p in ok),
        "compile_failures": {p.pattern: p.error for p in res.patterns if p.error is not None},
        "over_limit": [p.pattern for p in res.patterns if p.over_limit],
        "strings_per_pattern": strings_per_pattern,
        "version": res.version,
        "wall_s": _r(res.wall_s, 2),
    }


def pattern_summary(res: EngineResult, p: PatternResult) -> dict[str, Any]:
    p50, p99, p999, mx = _percentiles_us(p.mask_ns)
    if p.memory_bytes is not None:
        mem, src = p.memory_bytes / MIB, "engine"
    else:
        mem, src = p.rss_delta_bytes / MIB, "rss_delta"
    return {
        "engine": res.engine,
        "pattern": p.pattern,
        "compile_ms": _r(p.compile_ms),
        "mask_us_p50": _r(p50),
        "mask_us_p99": _r(p99),
        "mask_us_p999": _r(p999),
        "mask_us_max": _r(mx),
        "masks": len(p.mask_ns),
        "violations": p.violations,
        "rejected_tokens": p.rejected,
        "eos_failures": p.eos_failures,
        "memory_mb": _r(mem) if p.error is None else None,
        "memory_source": src,
        "rss_delta_mb": _r(p.rss_delta_bytes / MIB),
        "serialized_mb": _r(p.serialized_bytes / MIB) if p.serialized_bytes is not None else None,
        "error": p.error,
    }


def _fmt(x: Any, nd: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def print_human(results: list[EngineResult], summaries: list[dict[str, Any]], args: argparse.Namespace, per_pattern: bool) -> None:
    print(
        f"regex-mask benchmark: tokenizer {args.tokenizer} (V={args.vocab_size}, EOS {args.eos_ids}), "
        f"{len(args.pattern_names)} patterns x {args.strings} strings, seed {args.seed}"
    )
    print()
    headers = ["engine", "version", "tok ms", "compile p50 ms", "compile max ms", "mask p50 us",
               "mask p99 us", "p99.9 us", "max us", "masks", "viol", "rej", "eos fail", "mem MB", "mem src"]
    rows = []
    for s in summaries:
        rows.append([
            s["engine"], s["version"], _fmt(s["tokenizer_ms"]), _fmt(s["compile_ms_p50"], 2),
            _fmt(s["compile_ms_max"], 2), _fmt(s["mask_us_p50"], 2), _fmt(s["mask_us_p99"], 2),
            _fmt(s["mask_us_p999"], 2), _fmt(s["mask_us_max"], 1), str(s["masks"]),
            str(s["violations"]), str(s["rejected_tokens"]), str(s["eos_failures"]),
            _fmt(s["memory_mb"], 2), s["memory_source"],
        ])
    print(_table(headers, rows))

    # Compile ms per pattern, one column per engine (always shown: it is the interesting part).
    print()
    names = args.pattern_names
    headers = ["compile ms"] + [r.engine for r in results]
    rows = []
    for n in names:
        row = [n]
        for r in results:
            p = next(p for p in r.patterns if p.pattern == n)
            row.append("FAIL" if p.error else _fmt(p.compile_ms, 2) + ("!" if p.over_limit else ""))
        rows.append(row)
    print(_table(headers, rows))

    if per_pattern:
        print()
        headers = ["engine", "pattern", "compile ms", "masks", "p50 us", "p99 us", "max us", "viol", "mem MB", "src"]
        rows = []
        for r in results:
            for p in r.patterns:
                d = pattern_summary(r, p)
                rows.append([
                    r.engine, p.pattern, _fmt(d["compile_ms"], 2), str(d["masks"]), _fmt(d["mask_us_p50"], 2),
                    _fmt(d["mask_us_p99"], 2), _fmt(d["mask_us_max"], 1), str(d["violations"]),
                    _fmt(d["memory_mb"], 2), d["memory_source"],
                ])
        print(_table(headers, rows))

    for r in results:
        failures = [p for p in r.patterns if p.error]
        for p in failures:
            print(f"! {r.engine} could not compile {p.pattern}: {p.error}")
        for p in r.patterns:
            for ex in p.examples:
                print(f"! {r.engine} {p.pattern}: {ex}")
    print()
    for r in results:
        print(f"{r.engine} API: {r.api}")
    print()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engines", default=",".join(ADAPTERS), help="comma list of %s" % ",".join(ADAPTERS))
    ap.add_argument("--strings", type=int, default=20, help="matching strings per pattern (K)")
    ap.add_argument("--patterns", default=",".join(PATTERNS), help="comma list of pattern names")
    ap.add_argument("--tokenizer", default=os.environ.get("GRAMMASK_BENCH_TOKENIZER", DEFAULT_TOKENIZER_DIR),
                    help="tokenizer directory (with tokenizer.json)")
    ap.add_argument("--vocab-size", type=int, default=128256, help="logits width")
    ap.add_argument("--eos-ids", default="128001,128009", help="EOS token ids (outlines-core uses the first)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="per-pattern compile time limit in s (0 = compile in the main thread, no limit)")
    ap.add_argument("--xgrammar-threads", type=int, default=None, help="xgrammar GrammarCompiler max_threads")
    ap.add_argument("--grammask-precompute", action="store_true",
                    help="compile grammask with precompute=True (default: its lazy default)")
    ap.add_argument("--per-pattern", action="store_true", help="also one line per engine x pattern")
    ap.add_argument("--json", action="store_true", help="print only the JSON lines")
    args = ap.parse_args(argv)
    args.engine_names = _pick(ap, args.engines, ADAPTERS, "engine")
    args.pattern_names = _pick(ap, args.patterns, PATTERNS, "pattern")
    args.eos = [int(x) for x in args.eos_ids.split(",") if x.strip()]
    if args.strings < 1:
        ap.error("--strings must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run0 = time.perf_counter()
    ctx = TokenizerContext(args.tokenizer, args.vocab_size, args.eos)

    adapters: list[EngineAdapter] = []
    for name in args.engine_names:
        if name == "xgrammar":
            adapter = ADAPTERS[name](args.xgrammar_threads)  # type: ignore[call-arg]
        elif name == "grammask":
            adapter = ADAPTERS[name](args.grammask_precompute)  # type: ignore[call-arg]
        else:
            adapter = ADAPTERS[name]()
        ok, why = adapter.available()
        if ok:
            adapters.append(adapter)
        else:
            _log(f"skipping {name}: {why}")
    if not adapters:
        _log("no engine available")
        return 2

    # Strings and their tokens: computed once, shared by every engine.
    def cases_for(texts: list[str]) -> list[Case]:
        out = []
        for t in texts:
            ids = ctx.encode(t)
            if ctx.fast_tokenizer.decode(ids, skip_special_tokens=False) != t:
                raise RuntimeError(f"tokenizer does not round-trip {t!r}")
            if any(i >= args.vocab_size for i in ids):
                raise RuntimeError(f"token id >= vocab size in {t!r}")
            out.append(Case(t, ids))
        return out

    pattern_cases: dict[str, list[Case]] = {}
    for name in args.pattern_names:
        texts = matching_strings(name, args.strings, args.seed)
        rx = re.compile(PATTERNS[name])
        assert all(rx.fullmatch(t) for t in texts)
        pattern_cases[name] = cases_for(texts)
    warm_cases = cases_for([warmup_string()])
    if any(a.name == "xgrammar" for a in adapters):
        _ = ctx.hf_tokenizer  # load outside xgrammar's tokenizer_ms
    _ = ctx.special_token_ids

    results: list[EngineResult] = []
    for adapter in adapters:
        try:
            results.append(bench_engine(adapter, ctx, pattern_cases, warm_cases, args.timeout))
        except Exception as e:  # noqa: BLE001 - report and continue with the other engines
            _log(f"[{adapter.name}] FAILED: {type(e).__name__}: {e}")
    summaries = [engine_summary(r, args.strings) for r in results]

    if not args.json:
        print_human(results, summaries, args, args.per_pattern)
    for s in summaries:
        print(json.dumps(s))
    if args.per_pattern:
        for r in results:
            for p in r.patterns:
                print(json.dumps(pattern_summary(r, p)))
    _log(f"total wall time {time.perf_counter() - run0:.1f} s")
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
