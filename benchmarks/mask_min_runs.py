"""Mask latency with the host's noise taken out: per-mask minimum over fresh-process runs.

On a shared machine a run's tail moves by 1.5-2x with the neighbours' load, so two versions
of the code compared run against run say little. Every run here teacher-forces the same
texts through a freshly compiled grammar, so the k-th mask is the same computation (first
visits included) in every run; the minimum of its times over a few runs is what it costs on
a quiet machine, and percentiles of those minima compare versions fairly.

    python benchmarks/mask_min_runs.py --grammar json --max-texts 20 --runs 5
    python benchmarks/mask_min_runs.py --grammar python --runs 3 --json
    python benchmarks/mask_min_runs.py --grammar maskbench --max-texts 300 --runs 5

`--grammar maskbench` takes `--max-texts` seeded MaskBench records (`maskbench.py --sample N
--seed 0`'s) instead: each record's schema compiled, its instances teacher-forced up to
the first refused token (the masks `maskbench.py`'s TBM times).

Each run is a fresh `python` process (nothing memoised carries over), grammask only, the
Llama-3 tokenizer of `cfg_masks.py`, garbage collection off while masks are timed as there.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cfg_corpus  # (benchmarks/ is not a package: imported from its folder)

DEFAULT_TOKENIZER_DIR = os.environ.get("GRAMMASK_BENCH_TOKENIZER",
                                       os.path.join(cfg_corpus.SHARED, "tokenizers", "llama3"))


def _cfg_units(grammar: str, max_texts: int, info, tok) -> Iterator[tuple[Callable, list]]:
    """(compile, token ids of each text) per grammar file of a `cfg_corpus` grammar."""
    import grammask as gm

    entry = cfg_corpus.BY_NAME[grammar]
    units, _ = cfg_corpus.load(entry, max_texts)
    extra = {"start": entry.start} if entry.start else {}
    for unit in units:
        source = Path(unit.path).read_text()
        yield (lambda src=source: gm.compile_grammar(src, info, cache=False, **extra),
               [tok.encode(t, add_special_tokens=False).ids for t in unit.texts])


def _maskbench_units(records: int, info, tok) -> Iterator[tuple[Callable, list]]:
    """The same per seeded MaskBench record, valid and invalid instances alike as
    `maskbench.py` times them (compile None: a schema grammask refuses, left out)."""
    import maskbench as mb

    import grammask as gm

    data = mb.default_data_dir()
    recs = mb.load_records(data)
    mb.resolve_schemas(recs, mb.SchemaStore(data))
    def compile_schema(schema: object) -> object | None:
        try:
            return gm.compile_json_schema(schema, info, cache=False)
        except gm.GrammaskError:
            return None

    for rec in mb.seeded_sample(recs, records, 0):
        yield (lambda schema=rec["schema"]: compile_schema(schema),
               [tok.encode(mb.serialise(t["data"]), add_special_tokens=False).ids
                for t in rec["tests"]])


def one_run(grammar: str, max_texts: int, tokenizer_dir: str, out: str) -> None:
    """Compile `grammar`, time every mask of its texts, save the times (µs) to `out`."""
    from tokenizers import Tokenizer

    import grammask as gm

    info = gm.TokenizerInfo.from_pretrained(tokenizer_dir)
    tok = Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json"))
    bitmask = gm.allocate_token_bitmask(1, info.vocab_size)
    times: list[float] = []
    compile_ms: list[float] = []
    units = _maskbench_units(max_texts, info, tok) if grammar == "maskbench" else \
        _cfg_units(grammar, max_texts, info, tok)
    for compile_unit, texts in units:
        t0 = time.perf_counter()
        compiled = compile_unit()
        if compiled is None:        # a schema grammask refuses
            continue
        compile_ms.append((time.perf_counter() - t0) * 1e3)
        gc.collect()
        gc.disable()
        try:
            for ids in texts:
                matcher = gm.Matcher(compiled)
                for tid in [*ids, None]:
                    t0 = time.perf_counter_ns()
                    matcher.fill_next_token_bitmask(bitmask, 0)
                    times.append((time.perf_counter_ns() - t0) / 1e3)
                    if tid is None or not matcher.accept_token(tid):
                        break
        finally:
            gc.enable()
    np.savez(out, times=np.array(times), compile_ms=np.array(compile_ms))


def summarise(runs: list[dict[str, np.ndarray]], grammar: str) -> dict[str, object]:
    """Percentiles of the per-mask minima, and each run's own p99 for comparison."""
    lengths = {r["times"].shape[0] for r in runs}
    if len(lengths) != 1:
        raise SystemExit(f"runs timed different numbers of masks: {sorted(lengths)}")
    mins = np.min([r["times"] for r in runs], axis=0)
    p50, p99, p999 = np.percentile(mins, [50, 99, 99.9])
    return {
        "engine": "grammask", "grammar": grammar, "runs": len(runs), "masks": int(mins.shape[0]),
        "min_mask_us_p50": round(float(p50), 1), "min_mask_us_p99": round(float(p99), 1),
        "min_mask_us_p999": round(float(p999), 1), "min_mask_us_max": round(float(mins.max()), 1),
        "min_masks_over_100us": int((mins > 100).sum()),
        "run_mask_us_p99": [round(float(np.percentile(r["times"], 99)), 1) for r in runs],
        "compile_ms_min": round(float(min(r["compile_ms"].sum() for r in runs)), 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grammar", default="json", help="a cfg_corpus grammar name")
    ap.add_argument("--max-texts", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tokenizer", default=DEFAULT_TOKENIZER_DIR)
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    ap.add_argument("--_run", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._run:
        one_run(args.grammar, args.max_texts, args.tokenizer, args._run)
        return 0
    if args.grammar not in cfg_corpus.BY_NAME and args.grammar != "maskbench":
        raise SystemExit(f"unknown grammar {args.grammar!r}: {', '.join(cfg_corpus.BY_NAME)}")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.runs):
            out = os.path.join(tmp, f"run{k}.npz")
            subprocess.run([sys.executable, __file__, "--grammar", args.grammar, "--max-texts",
                            str(args.max_texts), "--tokenizer", args.tokenizer, "--_run", out],
                           check=True)
            with np.load(out) as f:
                runs.append({"times": f["times"], "compile_ms": f["compile_ms"]})
    row = summarise(runs, args.grammar)
    print(json.dumps(row) if args.json else "\n".join(f"{k}: {v}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
