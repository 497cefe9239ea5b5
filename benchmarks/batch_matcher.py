#!/usr/bin/env python
"""Batch mask filling: throughput of `fill_next_token_bitmask_batch` at batch 1 / 16 / 128.

What a serving engine does every decoding step: one bitmask row per sequence of the batch. This
measures rows per second for matchers sitting at *realistic positions*: real texts teacher-forced
through their grammar with the Llama-3 tokenizer, each matcher stopped at a random token position
of its text (so the batch mixes states, as a live batch does).

Workloads:
* ``json``: JSONSchemaBench (MaskBench) schemas and their valid instances, compact layout;
* ``cfg``: Python (Lark's python.lark, INDENT/DEDENT), SQL (Earley), C (GBNF) and JSON (Lark)
  from ``benchmarks/cfg_corpus`` with their checked texts (HumanEval/MBPP code, ...).

Timings (medians over ``--draws`` batches): ``cold`` is the first fill of a freshly drawn batch
(masks of states not seen yet are computed then); ``step`` is the decode loop: every matcher
accepts its text's next token, then one fill (new states pay their first mask; ``step_ms_p90``
shows those); ``warm`` repeats the fill on unchanged positions (memoised masks only: the floor). ``threads`` splits the
batch into equal slices filled concurrently by a thread pool (the bitmask copy runs without the
GIL; how far that scales depends on how much of the fill is Python). Every (batch, threads)
setting compiles its grammars afresh (``cache=False``), so no setting inherits another's
memoised masks.

Usage::

    python benchmarks/batch_matcher.py                 # table
    python benchmarks/batch_matcher.py --json          # one JSON line per workload x batch x threads
    python benchmarks/batch_matcher.py --batches 1,16,128 --threads 1,2 --repeats 50

``--json`` lines: ``{"workload", "batch", "threads", "cold_ms", "step_ms", "step_ms_p90",
"step_rows_per_s", "warm_ms", "warm_rows_per_s", "warm_us_per_row"}``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
sys.path.insert(0, _ROOT)

import numpy as np
from shared_paths import find_shared

from grammask import (
    Matcher,
    TokenizerInfo,
    allocate_token_bitmask,
    compile_grammar,
    compile_json_schema,
    fill_next_token_bitmask_batch,
)


def shared_dir() -> str:
    found = find_shared()
    if found is None:
        raise SystemExit("../shared not found (set GRAMMASK_SHARED)")
    return found


def load_tokenizer(path: str | None) -> tuple[TokenizerInfo, Any]:
    from tokenizers import Tokenizer
    d = path or os.path.join(shared_dir(), "tokenizers", "llama3")
    info = TokenizerInfo.from_pretrained(d, vocab_size=128256)
    return info, Tokenizer.from_file(os.path.join(d, "tokenizer.json"))


def json_cases(info: TokenizerInfo, tok: Any, n_schemas: int, seed: int) -> list[tuple[Any, list[int]]]:
    """(compiled schema, token ids of one valid instance) pairs from MaskBench."""
    folder = os.path.join(shared_dir(), "data", "jsonschemabench")
    files = ["Github_easy", "Github_medium", "Glaiveai2K", "Kubernetes", "Snowplow", "JsonSchemaStore"]
    rng = random.Random(seed)
    schemas: dict[str, Any] = {}
    cases = []
    for name in files:
        recs = [json.loads(line) for line in open(os.path.join(folder, "maskbench", name + ".jsonl"))]
        rng.shuffle(recs)
        taken = 0
        for rec in recs:
            if taken >= n_schemas // len(files) + 1:
                break
            schema = rec.get("schema")
            if schema is None:
                ref = rec["schema_ref"]
                if ref["file"] not in schemas:
                    schemas[ref["file"]] = {json.loads(line)["id"]: line for line in
                                            open(os.path.join(folder, ref["file"]))}
                schema = json.loads(schemas[ref["file"]][ref["id"]])["schema"]
            valid = [t["data"] for t in rec["tests"] if t["valid"]]
            if not valid:
                continue
            text = json.dumps(valid[0], separators=(",", ":"), ensure_ascii=False)
            if len(text) > 3000:
                continue
            try:
                compiled = compile_json_schema(schema, info, cache=False)
            except Exception:
                continue
            ids = tok.encode(text, add_special_tokens=False).ids
            m = Matcher(compiled)
            if all(m.accept_token(t) for t in ids):
                cases.append((compiled, ids))
                taken += 1
    return cases


def cfg_cases(info: TokenizerInfo, tok: Any, names: tuple[str, ...] = ("python", "sql", "gbnf-c", "json"),
              per_grammar: int = 15) -> list[tuple[Any, list[int]]]:
    """(compiled grammar, token ids of one checked text) pairs from benchmarks/cfg_corpus."""
    sys.path.insert(0, _HERE)
    import cfg_corpus  # the benchmark's grammar + checked text corpus

    cases = []
    for name in names:
        entry = cfg_corpus.BY_NAME[name]
        units, _ = cfg_corpus.load(entry, limit=per_grammar)
        for unit in units:
            compiled = compile_grammar(unit.path, info, syntax=entry.syntax, start=entry.start,
                                       cache=False)
            for text in unit.texts:
                ids = tok.encode(text, add_special_tokens=False).ids
                if not 1 < len(ids) <= 1500:
                    continue
                m = Matcher(compiled)
                if all(m.accept_token(t) for t in ids):
                    cases.append((compiled, ids))
    return cases


def draw_batch(cases: list[tuple[Any, list[int]]], batch: int,
               rng: random.Random) -> tuple[list[Matcher], list[list[int]]]:
    """`batch` matchers, each on a random case at a random token position, with the rest of
    their text (the tokens a decode loop would accept next)."""
    matchers, rests = [], []
    for _ in range(batch):
        compiled, ids = rng.choice(cases)
        m = Matcher(compiled, max_rollback_tokens=0)
        cut = rng.randrange(len(ids))
        for t in ids[:cut]:
            m.accept_token(t)
        matchers.append(m)
        rests.append(list(ids[cut:]))
    return matchers, rests


def fill_threaded(pool: ThreadPoolExecutor | None, threads: int, matchers: list[Matcher],
                  bitmask: np.ndarray) -> None:
    if pool is None or threads == 1 or len(matchers) < threads:
        fill_next_token_bitmask_batch(matchers, bitmask)
        return
    step = (len(matchers) + threads - 1) // threads
    futures = [pool.submit(fill_next_token_bitmask_batch, matchers[i:i + step], bitmask,
                           range(i, min(i + step, len(matchers))))
               for i in range(0, len(matchers), step)]
    for f in futures:
        f.result()


def measure(cases: list, vocab: int, batch: int, threads: int, repeats: int, draws: int,
            seed: int) -> dict[str, float]:
    """cold: first fill at fresh positions; step: fill after every matcher accepted its next
    token (the decode loop); warm: the same positions filled again (memoised masks only)."""
    rng = random.Random(seed)
    bitmask = allocate_token_bitmask(batch, vocab)
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    cold, step, warm = [], [], []
    try:
        for _ in range(draws):
            matchers, rests = draw_batch(cases, batch, rng)
            t0 = time.perf_counter()
            fill_threaded(pool, threads, matchers, bitmask)
            cold.append(time.perf_counter() - t0)
            for _ in range(repeats):
                t0 = time.perf_counter()
                fill_threaded(pool, threads, matchers, bitmask)
                warm.append(time.perf_counter() - t0)
            for _ in range(repeats):
                for m, rest in zip(matchers, rests):
                    if len(rest) > 1:
                        m.accept_token(rest.pop(0))
                t0 = time.perf_counter()
                fill_threaded(pool, threads, matchers, bitmask)
                step.append(time.perf_counter() - t0)
    finally:
        if pool is not None:
            pool.shutdown()
    s, w = statistics.median(step), statistics.median(warm)
    return {"cold_ms": round(statistics.median(cold) * 1e3, 4),
            "step_ms": round(s * 1e3, 4), "step_ms_p90": round(float(np.percentile(step, 90)) * 1e3, 4),
            "warm_ms": round(w * 1e3, 4), "step_rows_per_s": round(batch / s),
            "warm_rows_per_s": round(batch / w), "warm_us_per_row": round(w * 1e6 / batch, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", default="1,16,128")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--workloads", default="json,cfg")
    ap.add_argument("--repeats", type=int, default=20, help="warm fills per drawn batch")
    ap.add_argument("--draws", type=int, default=5, help="batches drawn per setting")
    ap.add_argument("--schemas", type=int, default=40, help="MaskBench schemas for the json workload")
    ap.add_argument("--tokenizer", default=None, help="tokenizer dir (default <shared>/tokenizers/llama3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    info, tok = load_tokenizer(args.tokenizer)
    loaders = {"json": lambda: json_cases(info, tok, args.schemas, args.seed),
               "cfg": lambda: cfg_cases(info, tok)}
    if not args.json:
        print(f"{'workload':8} {'batch':>5} {'thr':>3} {'cold ms':>9} {'step ms':>9} {'p90':>9} "
              f"{'rows/s':>10} {'warm ms':>9} {'us/row':>8} {'rows/s':>10}   ({os.cpu_count()} cores)")
    batches = [int(b) for b in args.batches.split(",")]
    thread_counts = [int(t) for t in args.threads.split(",")]
    for wl in args.workloads.split(","):
        for batch in batches:
            for threads in thread_counts:
                # fresh compiles for every setting: masks memoised by one setting must not
                # make the next one look fast
                t0 = time.perf_counter()
                cases = loaders[wl]()
                if not cases:
                    print(f"{wl}: no cases", file=sys.stderr)
                    break
                first = (batch, threads) == (batches[0], thread_counts[0])
                if not args.json and first:
                    print(f"# {wl}: {len(cases)} (grammar, text) cases, "
                          f"{len({id(c) for c, _ in cases})} grammars, set up in {time.perf_counter() - t0:.1f} s")
                r = measure(cases, info.vocab_size, batch, threads, args.repeats, args.draws, args.seed)
                row = {"workload": wl, "batch": batch, "threads": threads, **r}
                if args.json:
                    print(json.dumps(row), flush=True)
                else:
                    print(f"{wl:8} {batch:5d} {threads:3d} {r['cold_ms']:9.3f} {r['step_ms']:9.3f} "
                          f"{r['step_ms_p90']:9.3f} {r['step_rows_per_s']:10d} {r['warm_ms']:9.3f} "
                          f"{r['warm_us_per_row']:8.2f} {r['warm_rows_per_s']:10d}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
