"""Soak: the whole visible MaskBench plus every shared grammar, under grammask's limits.

    python benchmarks/soak.py                      # all MaskBench records + all grammars
    python benchmarks/soak.py --sample 500 --grammar-steps 64 --json
    python benchmarks/soak.py --skip-maskbench     # grammars only (a few minutes)

Part 1, MaskBench: `benchmarks/maskbench.py --engine grammask` (its worker processes, its
per-record `--timeout` and its kill-and-restart of a stuck or dead worker), called as a
library so its per-record results (with each refusal's exception type) are classified here.
Part 2, grammars: every `.lark`, `.gbnf` and `.ebnf` file under ../shared/data/grammars, each
in a fresh worker process (`--grammar-timeout` wall-clock limit): compile against the Llama-3
tokenizer with the default `Limits`, then `--grammar-walks` random walks of up to
`--grammar-steps` allowed tokens (every mask filled, every chosen token accepted,
jump-forward computed).

Reported, per part: records, outcomes, **crashes** (a worker process died: signal, abort,
OOM kill), **hangs** (a worker killed by the parent's wall-clock limit), **timeouts** (a
record stopped by its own time limit between tokens), **unexpected exceptions** (anything
that is not a `GrammaskError` -- compile refusals must be documented errors), and **peak
RSS** (the largest resident set of any worker: `getrusage(RUSAGE_CHILDREN).ru_maxrss`, which
on Linux covers every waited-for descendant).
"""
from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import random
import resource
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

GRAMMASK_ERRORS = {"GrammaskError", "GrammarError", "LimitExceededError", "SchemaError",
                   "TokenizerError", "MatcherError", "InvalidTokenError", "BitmaskError"}


def shared_dir() -> Path:
    env = os.environ.get("GRAMMASK_SHARED")
    return Path(env) if env else ROOT.parent / "shared"


def _children_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


# ============================================================================ MaskBench
def run_maskbench(args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import maskbench as mbm
    argv = ["--engine", "grammask", "--workers", str(args.workers), "--timeout",
            str(args.timeout), "--quiet"]
    if args.sample:
        argv += ["--sample", str(args.sample), "--seed", str(args.seed)]
    t0 = time.time()
    runs, summaries, _header = mbm.run(mbm.parse_args(argv))   # its workers are our children
    wall = time.time() - t0
    run, summary = runs[0], summaries[0]
    rows = [r for r in run.results if r is not None]
    status = collections.Counter(r["status"] for r in rows)
    detail = [(r, r.get("detail") or "") for r in rows]
    crashes = [r for r, d in detail if r["status"] == "error" and "exited" in d]
    hangs = [r for r, d in detail if r["status"] == "timeout" and "killed" in d]
    unexpected = [r for r in rows if r["status"] == "compile_error"
                  and r.get("error_type") not in GRAMMASK_ERRORS]
    instance_errors = [r for r in rows if r.get("errors")]
    limit_errors = collections.Counter(
        (r.get("compile_error") or "").split("limit exceeded: ")[1].split("=")[0]
        for r in rows if "limit exceeded: " in (r.get("compile_error") or ""))
    return {
        "records": len(rows), "wall_s": round(wall, 1), "restarts": run.restarts,
        "status": dict(status), "crashes": len(crashes), "hangs": len(hangs),
        "timeouts": status.get("timeout", 0), "unexpected_exceptions": len(unexpected),
        "instance_errors": len(instance_errors), "limit_refusals": dict(limit_errors),
        "refusal_types": dict(collections.Counter(r.get("error_type") for r in rows
                                                  if r["status"] == "compile_error")),
        "invalid_accepted": status.get("invalidation_error", 0),
        "peak_rss_mb": round(_children_maxrss_mb(), 1),
        "tbm_us": summary.get("tbm_us"), "ttfm_us": summary.get("ttfm_us"),
        "examples": {"crash": [(r["id"], r.get("detail")) for r in crashes[:5]],
                     "hang": [(r["id"], r.get("detail")) for r in hangs[:5]],
                     "timeout": [(r["id"], r.get("detail")) for r in rows
                                 if r["status"] == "timeout"][:5],
                     "unexpected": [(r["id"], r.get("error_type"), r.get("compile_error"))
                                    for r in unexpected[:5]],
                     "instance_error": [(r["id"], r.get("detail")) for r in instance_errors[:5]]},
    }


# ============================================================================ grammars
def grammar_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "data" / "grammars").rglob("*")
                  if p.suffix in (".lark", ".gbnf", ".ebnf") and p.is_file())


def _grammar_worker(path: str, walks: int, steps: int, conn) -> None:
    import warnings
    warnings.simplefilter("ignore")
    out: dict = {"path": path}
    try:
        import numpy as np

        import grammask as gm
        from test_grammar_corpus import detect_lark_start
        tok = _TOKENIZER                    # loaded (and its trie built) before forking
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        start = detect_lark_start(text) if path.endswith(".lark") else None
        t0 = time.perf_counter()
        try:
            cg = gm.compile_grammar(path, tok, start=start, cache=False)
        except gm.GrammaskError as exc:
            out.update(outcome="refused", error_type=type(exc).__name__,
                       error=str(exc).splitlines()[0][:300])
            conn.send(out)
            return
        out["compile_s"] = round(time.perf_counter() - t0, 3)
        rng = random.Random(path)
        eos = set(tok.eos_token_ids)
        bm = gm.allocate_token_bitmask(1, tok.vocab_size)
        masks = tokens = 0
        late = None
        for _ in range(walks):
            m = gm.Matcher(cg)
            for _ in range(steps):
                try:
                    m.fill_next_token_bitmask(bm, 0)
                    masks += 1
                    allowed = [int(t) for t in m.allowed_token_ids() if int(t) not in eos]
                except gm.GrammaskError as exc:     # a limit met while masks grow lazily
                    late = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                    break
                if not allowed:
                    break
                t = rng.choice(allowed)
                assert m.accept_token(t), f"allowed token {t} refused"
                tokens += 1
                m.find_jump_forward_string()
            if late:
                break
        out.update(outcome="ok" if late is None else "refused-late", masks=masks,
                   tokens=tokens, late=late, memory_mb=round(cg.memory_bytes() / 2**20, 1),
                   walk_s=round(time.perf_counter() - t0 - out["compile_s"], 2))
        _ = np
    except BaseException as exc:  # noqa: BLE001 - the finding
        out.update(outcome="exception", error_type=type(exc).__name__,
                   error=traceback.format_exc(limit=-6)[-1500:])
    out["maxrss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    conn.send(out)


_TOKENIZER = None


def run_grammars(args: argparse.Namespace) -> dict:
    global _TOKENIZER
    from grammask.mask_cache import build_token_trie
    from tokenizers_fixture import load_test_tokenizer
    _TOKENIZER = load_test_tokenizer("llama3")
    build_token_trie(_TOKENIZER)        # per tokenizer, cached: not part of any compile
    files = grammar_files(shared_dir())
    if args.grammar_limit:
        files = files[: args.grammar_limit]
    ctx = mp.get_context("fork")
    results: list[dict] = []
    t0 = time.time()
    queue = list(files)
    running: dict = {}
    reported = 0
    while queue or running:
        while queue and len(running) < args.workers:
            path = queue.pop(0)
            parent, child = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_grammar_worker,
                            args=(str(path), args.grammar_walks, args.grammar_steps, child))
            p.start()
            child.close()
            running[p] = (path, parent, time.time())
        time.sleep(0.05)
        for p, (path, conn, started) in list(running.items()):
            rel = str(path.relative_to(shared_dir() / "data" / "grammars"))
            if conn.poll():
                try:
                    res = conn.recv()
                except EOFError:
                    res = None
                p.join(30)
                del running[p]
                if res is None:
                    res = {"outcome": "crash", "exit_code": p.exitcode}
                res["path"] = rel
                results.append(res)
            elif not p.is_alive():
                p.join()
                del running[p]
                results.append({"path": rel, "outcome": "crash", "exit_code": p.exitcode})
            elif time.time() - started > args.grammar_timeout:
                p.kill()
                p.join()
                del running[p]
                results.append({"path": rel, "outcome": "hang",
                                "seconds": round(time.time() - started, 1)})
        if not args.json and len(results) // 50 > reported:
            reported = len(results) // 50
            print(f"  grammars: {len(results)}/{len(files)}", file=sys.stderr, flush=True)
    outcomes = collections.Counter(r["outcome"] for r in results)
    unexpected = [r for r in results if r["outcome"] == "exception"
                  or (r.get("error_type") and r["error_type"] not in GRAMMASK_ERRORS)]
    return {
        "files": len(results), "wall_s": round(time.time() - t0, 1),
        "outcomes": dict(outcomes), "crashes": outcomes.get("crash", 0),
        "hangs": outcomes.get("hang", 0), "unexpected_exceptions": len(unexpected),
        "masks": sum(r.get("masks", 0) for r in results),
        "tokens": sum(r.get("tokens", 0) for r in results),
        "peak_rss_mb": max((r.get("maxrss_mb", 0) for r in results), default=0),
        "slowest_compile": sorted(((r.get("compile_s", 0), r["path"]) for r in results),
                                  reverse=True)[:5],
        "refusals": collections.Counter(r.get("error_type") for r in results
                                        if r["outcome"] == "refused").most_common(),
        "examples": {"crash": [r["path"] for r in results if r["outcome"] == "crash"][:5],
                     "hang": [r["path"] for r in results if r["outcome"] == "hang"][:5],
                     "unexpected": [(r["path"], r.get("error")) for r in unexpected[:5]],
                     "refused_late": [(r["path"], r.get("late")) for r in results
                                      if r["outcome"] == "refused-late"][:5]},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample", type=int, default=None, help="MaskBench: a seeded sample")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=30.0, help="MaskBench per-record limit (s)")
    ap.add_argument("--skip-maskbench", action="store_true")
    ap.add_argument("--skip-grammars", action="store_true")
    ap.add_argument("--grammar-timeout", type=float, default=300.0)
    ap.add_argument("--grammar-walks", type=int, default=4)
    ap.add_argument("--grammar-steps", type=int, default=48)
    ap.add_argument("--grammar-limit", type=int, default=None, help="the first N grammar files")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", default=None, help="write the JSON report here")
    args = ap.parse_args(argv)
    if not (shared_dir() / "data").is_dir():
        print(f"soak: {shared_dir()}/data is missing (set GRAMMASK_SHARED)", file=sys.stderr)
        return 2
    import grammask
    report: dict = {"grammask": grammask.__version__, "limits": grammask.DEFAULT_LIMITS.__dict__,
                    "cpus": os.cpu_count(), "workers": args.workers}
    if not args.skip_maskbench:         # first: RUSAGE_CHILDREN is then MaskBench's alone
        report["maskbench"] = run_maskbench(args)
    if not args.skip_grammars:
        report["grammars"] = run_grammars(args)
    parts = [report[k] for k in ("grammars", "maskbench") if k in report]
    report["total"] = {"crashes": sum(p["crashes"] for p in parts),
                       "hangs": sum(p["hangs"] for p in parts),
                       "unexpected_exceptions": sum(p["unexpected_exceptions"] for p in parts),
                       "peak_rss_mb": max((p["peak_rss_mb"] for p in parts), default=0)}
    text = json.dumps(report, indent=None if args.json else 1, default=str)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    t = report["total"]
    return 1 if t["crashes"] or t["hangs"] or t["unexpected_exceptions"] else 0


if __name__ == "__main__":
    sys.exit(main())
