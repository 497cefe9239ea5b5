"""Long fuzz campaign over grammask's front ends (regex, Lark, GBNF, JSON Schema).

    python benchmarks/fuzz_long.py --minutes 30 [--workers 2] [--timeout 30] [--out fuzz.json]

Cases come from `tests/fuzz_inputs.py`: generated inputs (random regexes, Lark and GBNF
grammars, JSON Schemas) and mutations of real ones (../shared/data grammars and
JSONSchemaBench schemas, plus built-in seeds). Each case is (kind, seed), so every finding is
reproducible with `--replay KIND:SEED`.

The property: every input compiles (then a Matcher walks a few random allowed tokens, each of
which must be accepted) or raises a `GrammaskError`. Workers are separate processes fed one
case at a time; a case that raises anything else is an *exception* finding, a worker that dies
(segfault, abort, OOM kill) a *crash*, and a case still running after `--timeout` seconds (the
fuzz limits set max_compile_seconds=5) a *hang* (the worker is killed and replaced). The
summary (cases per kind, outcomes, findings with tracebacks) is printed and written to --out.
"""
from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import queue
import random
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


def _worker(tasks, results: mp.Queue) -> None:
    import warnings
    warnings.simplefilter("ignore")
    import resource
    try:                             # a runaway case must not take the machine down
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
    except (ValueError, OSError):
        pass
    import fuzz_inputs as fz
    while True:
        item = tasks.recv()
        if item is None:
            return
        kind, seed = item
        t0 = time.perf_counter()
        try:
            front, payload = fz.make_case(kind, seed)
            outcome = fz.check_case(front, payload, seed)
            tb = ""
        except BaseException as exc:   # noqa: BLE001 - that is the finding
            outcome = f"EXCEPTION:{type(exc).__name__}"
            tb = traceback.format_exc(limit=-14)
        results.put((os.getpid(), kind, seed, outcome, time.perf_counter() - t0, tb))


class _Slot:
    """One worker process and the one case it is running (the parent assigns cases one at a
    time through the worker's own pipe, so a worker that dies never takes a case with it)."""

    def __init__(self, ctx, results: mp.Queue) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, results), daemon=True)
        self.proc.start()
        child.close()
        self.case: tuple[str, int] | None = None
        self.started = 0.0

    def assign(self, case: tuple[str, int]) -> None:
        self.case, self.started = case, time.time()
        self.conn.send(case)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds before a case is a hang")
    ap.add_argument("--kinds", default="all", help="comma list of " + ",".join(
        __import__("fuzz_inputs").KINDS))
    ap.add_argument("--seed", type=int, default=None, help="first seed (default: random)")
    ap.add_argument("--out", default=None, help="write the JSON summary here")
    ap.add_argument("--replay", default=None, help="KIND:SEED -- run one case in-process")
    args = ap.parse_args(argv)

    import fuzz_inputs as fz
    if args.replay:
        kind, seed = args.replay.rsplit(":", 1)
        front, payload = fz.make_case(kind, int(seed))
        print(fz.describe(front, payload))
        print(fz.timed_check(front, payload, int(seed)))
        return 0
    kinds = list(fz.KINDS) if args.kinds == "all" else args.kinds.split(",")
    for k in kinds:                               # load the corpora once, before forking
        if k.endswith("_mutated"):
            fz.corpus(k[: -len("_mutated")])
    base = args.seed if args.seed is not None else random.randrange(1 << 40)
    ctx = mp.get_context("fork")
    results: mp.Queue = ctx.Queue()
    slots: dict[int, _Slot] = {}

    def spawn() -> _Slot:
        slot = _Slot(ctx, results)
        slots[slot.proc.pid] = slot
        return slot

    deadline = time.time() + args.minutes * 60
    next_seed = base
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    slowest: list[tuple[float, str, int]] = []
    findings: list[dict] = []
    total = 0
    t_start = time.time()

    def next_case() -> tuple[str, int]:
        nonlocal next_seed
        kind = kinds[next_seed % len(kinds)]
        case = (kind, next_seed // len(kinds))
        next_seed += 1
        return case

    def finding(kind: str, seed: int, what: str, tb: str = "") -> None:
        front, payload = fz.make_case(kind, seed)
        findings.append({"type": what, "kind": kind, "seed": seed,
                         "input": fz.describe(front, payload), "traceback": tb})
        print(f"FINDING {kind}:{seed} {what}\n{tb}", flush=True)

    for _ in range(args.workers):
        spawn().assign(next_case())
    last_report = time.time()
    while slots:
        try:
            pid, kind, seed, outcome, secs, tb = results.get(timeout=1.0)
        except queue.Empty:
            pid = None
        now = time.time()
        if pid is not None and pid in slots:
            slot = slots[pid]
            slot.case = None
            total += 1
            counts[kind][outcome.split(":")[0]] += 1
            slowest.append((secs, kind, seed))
            slowest.sort(reverse=True)
            del slowest[10:]
            if outcome.startswith("EXCEPTION"):
                finding(kind, seed, outcome, tb)
            if now < deadline:
                slot.assign(next_case())
            else:
                slot.conn.send(None)
                slot.proc.join(10)
                del slots[pid]
        for pid, slot in list(slots.items()):          # crashes and hangs
            dead = not slot.proc.is_alive()
            hung = slot.case is not None and now - slot.started > args.timeout
            if not dead and not hung:
                continue
            if hung:
                slot.proc.kill()
            slot.proc.join(5)
            del slots[pid]
            if slot.case is not None:
                kind, seed = slot.case
                what = "hang" if hung else f"crash (exit code {slot.proc.exitcode})"
                total += 1
                counts[kind][what.split(" ")[0]] += 1
                finding(kind, seed, what)
            if now < deadline:
                spawn().assign(next_case())
        if now - last_report > 60:
            last_report = now
            print(f"[{(now - t_start) / 60:.1f} min] {total} cases, {len(findings)} findings",
                  flush=True)
    summary = {"minutes": round((time.time() - t_start) / 60, 2), "cases": total,
               "first_seed": base, "workers": args.workers, "timeout_s": args.timeout,
               "per_kind": {k: dict(v) for k, v in sorted(counts.items())},
               "findings": findings,
               "slowest": [{"seconds": round(s, 2), "case": f"{k}:{n}"} for s, k, n in slowest]}
    print(json.dumps({k: v for k, v in summary.items() if k != "findings"}, indent=1))
    print(f"{len(findings)} findings")
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
