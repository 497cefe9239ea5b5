#!/usr/bin/env python
"""End-to-end: SmolLM2-135M-Instruct on CPU generating JSON for real schemas, constrained vs not.

For every schema (JSONSchemaBench, ``../shared/data/jsonschemabench``; a few built-in schemas when
that is missing) the model gets a natural chat prompt ("produce a JSON object valid against this
schema ...") and generates greedily under each engine's constraint through transformers'
``model.generate(logits_processor=[...])``:

* ``grammask``: `grammask.integrations.transformers.GrammaskLogitsProcessor`;
* ``xgrammar``: ``xgrammar.contrib.hf.LogitsProcessor`` (its own transformers integration);
* ``llguidance``: it ships no transformers processor, so a small one drives its `LLMatcher`
  (``llguidance.numpy`` fill + apply, its fastest CPU path: its torch apply is ``torch.compile``d
  and costs ~36 ms per call on CPU);
* ``grammask-jf``: `grammask.generate` (its own KV-cache loop) with jump-forward: forced tokens are
  appended without a forward pass each, so its time per output token can beat the baseline.

Time per output token (TPOT): timestamps after every generated token (a ``StoppingCriteria``
that never stops); TPOT = (last - first) / (tokens - 1), i.e. decode steps only (prefill and the
first token excluded). The unconstrained baseline of each output is the same prompt generated
to exactly the same length (``max_new_tokens = n``, EOS masked in place by a one-line processor),
so both see identical KV lengths; the two runs are interleaved and each is repeated ``--repeats`` times, keeping the
fastest (this machine's other load only ever adds time). ``overhead_pct`` = 100 * (sum of
constrained decode time / sum of baseline decode time - 1) over all outputs.
Both clocks are recorded: wall time and the main thread's CPU time (with ``--threads 1``, the
default, the forward pass runs on that thread, so CPU time is robust when other processes compete
for the cores); ``--clock`` picks the one behind ``tpot_ms_*``/``overhead_pct``, and
``overhead_pct_wall`` / ``overhead_pct_cpu`` give both.

Validity: the output parses as JSON and validates against the schema with ``jsonschema``; an
output cut by ``--max-new-tokens`` counts as invalid.

Usage::

    python benchmarks/e2e.py                         # table, 8 schemas, all engines installed
    python benchmarks/e2e.py --json                  # one JSON line per engine
    python benchmarks/e2e.py --schemas 4 --engines grammask --repeats 3 --profile

``processor_ms_per_token`` is measured directly around every call of the engine's logits
processor (``processor_pct_of_tpot`` relates it to the baseline TPOT): on a shared machine the A/B
``overhead_pct`` carries a few percent of noise either way, the direct figure does not.

``--json`` lines: ``{"engine", "outputs", "valid", "tpot_ms_constrained", "tpot_ms_unconstrained",
"overhead_pct", ...extras}`` (extras: both clocks' overheads, decode tokens, compile ms, processor
ms per token, for grammask its advance / fill / apply split, for grammask-jf the tokens appended
by jump-forward and the forward passes spent).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
sys.path.insert(0, _ROOT)

from shared_paths import find_shared

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

BUILTIN_SCHEMAS = [
    ("person", {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                                 "city": {"type": "string"}},
                "required": ["name", "age", "city"]}),
    ("weather", {"type": "object", "properties": {"location": {"type": "string"},
                                                  "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                 "required": ["location", "unit"]}),
    ("order", {"type": "object", "properties": {"item": {"type": "string"},
                                                "quantity": {"type": "integer", "minimum": 1},
                                                "express": {"type": "boolean"}},
               "required": ["item", "quantity", "express"]}),
]
PROMPT = ("Produce a JSON object that is valid against this JSON Schema. Fill it with realistic "
          "example values and reply with the JSON only.\n\nSchema:\n{schema}")
SCHEMA_FILES = ("Glaiveai2K", "Github_easy")


shared_dir = find_shared     # the shared folder, or None (e2e skips what needs it)


def load_schemas(n: int, seed: int, max_chars: int = 700) -> list[tuple[str, dict]]:
    """`n` small real schemas (objects with required properties, compact text under `max_chars`),
    drawn with `seed` from JSONSchemaBench's Glaiveai2K (function arguments) and Github_easy."""
    d = shared_dir()
    folder = os.path.join(d, "data", "jsonschemabench", "schemas") if d else None
    if folder is None or not os.path.isdir(folder):
        return BUILTIN_SCHEMAS[:n]
    pool = []
    for name in SCHEMA_FILES:
        for line in open(os.path.join(folder, name + ".jsonl")):
            rec = json.loads(line)
            s = rec["schema"]
            text = json.dumps(s)
            if (isinstance(s, dict) and s.get("type") == "object" and s.get("required")
                    and len(text) <= max_chars and "$ref" not in text and "pattern" not in text):
                pool.append((rec["id"], s))
    rng = random.Random(seed)
    rng.shuffle(pool)
    per = {f: [p for p in pool if p[0].startswith(f)] for f in SCHEMA_FILES}
    out = []
    while len(out) < n and any(per.values()):
        for f in SCHEMA_FILES:
            if per[f] and len(out) < n:
                out.append(per[f].pop())
    return out


class Stamps:
    """A StoppingCriteria that records wall and thread-CPU timestamps after every generated token."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __call__(self, input_ids: Any, scores: Any, **kw: Any) -> Any:
        import torch
        self.wall.append(time.perf_counter())
        self.cpu.append(time.thread_time())
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    def decode_seconds(self) -> tuple[float, float]:
        """(wall, cpu) seconds from the first token to the last."""
        if len(self.wall) < 2:
            return 0.0, 0.0
        return self.wall[-1] - self.wall[0], self.cpu[-1] - self.cpu[0]


# ----------------------------------------------------------------------------------- engines
class Engine:
    name = "?"

    def compile(self, schema: dict) -> Any: ...
    def processor(self, compiled: Any) -> Any: ...
    def stats(self) -> dict: return {}


class GrammaskEngine(Engine):
    name = "grammask"

    def __init__(self, model: Any, tok: Any) -> None:
        from grammask.integrations.transformers import tokenizer_info_for_model
        self.info = tokenizer_info_for_model(tok, model)
        self.timings = {"advance": 0.0, "fill": 0.0, "apply": 0.0, "calls": 0}

    def compile(self, schema: dict) -> Any:
        from grammask import compile_json_schema
        from grammask.integrations.transformers import JSON_DEFAULTS
        return compile_json_schema(schema, self.info, **JSON_DEFAULTS)

    def processor(self, compiled: Any) -> Any:
        from grammask.integrations.transformers import GrammaskLogitsProcessor
        proc = GrammaskLogitsProcessor(compiled)
        proc.timings = self.timings         # accumulate over the run
        return proc

    def stats(self) -> dict:
        n = max(self.timings["calls"], 1)
        return {f"{k}_ms_per_token": round(v * 1e3 / n, 4) for k, v in self.timings.items() if k != "calls"}


class XgrammarEngine(Engine):
    name = "xgrammar"

    def __init__(self, model: Any, tok: Any) -> None:
        import xgrammar as xgr
        self.xgr = xgr
        info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=model.config.vocab_size)
        self.compiler = xgr.GrammarCompiler(info)

    def compile(self, schema: dict) -> Any:
        return self.compiler.compile_json_schema(json.dumps(schema))

    def processor(self, compiled: Any) -> Any:
        import xgrammar.contrib.hf as xhf
        return xhf.LogitsProcessor(compiled)


class LLGuidanceEngine(Engine):
    name = "llguidance"

    def __init__(self, model: Any, tok: Any) -> None:
        import llguidance
        import llguidance.hf
        self.ll = llguidance
        self.vocab = model.config.vocab_size
        self.lltok = llguidance.hf.from_tokenizer(tok, n_vocab=self.vocab)

    def compile(self, schema: dict) -> Any:
        g = self.ll.LLMatcher.grammar_from_json_schema(_no_additional_properties(schema))
        m = self.ll.LLMatcher(self.lltok, g)       # compile = building the first matcher
        if m.is_error():
            raise ValueError(m.get_error())
        return g

    def processor(self, compiled: Any) -> Any:
        return _LLGuidanceProcessor(self.ll.LLMatcher(self.lltok, compiled), self.vocab)


class _LLGuidanceProcessor:
    """transformers LogitsProcessor over one llguidance LLMatcher (batch 1)."""

    def __init__(self, matcher: Any, vocab: int) -> None:
        import llguidance.numpy as lln
        self.lln = lln
        self.m = matcher
        self.bitmask = lln.allocate_token_bitmask(1, vocab)
        self.started = False

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.started:
            if not self.m.consume_token(int(input_ids[0, -1])):
                raise RuntimeError(self.m.get_error())
        self.started = True
        self.lln.fill_next_token_bitmask(self.m, self.bitmask, 0)
        self.lln.apply_token_bitmask_inplace(scores.numpy(), self.bitmask)
        return scores


ENGINES = {"grammask": GrammaskEngine, "xgrammar": XgrammarEngine, "llguidance": LLGuidanceEngine}


# ----------------------------------------------------------------------------------- runs
def run_hf(model: Any, tok: Any, ids: Any, processor: Any, n: int | None,
           max_new: int) -> tuple[list[int], tuple[float, float]]:
    """Greedy generate -> (new tokens, (wall, cpu) decode seconds); with `n`: exactly n tokens and
    no processor (the baseline)."""
    import torch
    from transformers import LogitsProcessorList, StoppingCriteriaList
    stamps = Stamps()
    kw: dict[str, Any] = dict(do_sample=False, stopping_criteria=StoppingCriteriaList([stamps]),
                              pad_token_id=tok.pad_token_id, attention_mask=torch.ones_like(ids))
    if n is not None:
        kw.update(max_new_tokens=n, logits_processor=LogitsProcessorList([_NoStop(tok)]))
    else:
        kw.update(max_new_tokens=max_new, logits_processor=LogitsProcessorList([processor]))
    with torch.inference_mode():
        out = model.generate(ids, **kw)
    return out[0, ids.shape[1]:].tolist(), stamps.decode_seconds()


class _NoStop:
    """The baseline's only processor: EOS masked in place, so the run lasts exactly n tokens (as
    cheap as a processor can be; transformers' own `min_new_tokens` builds new tensors each step)."""

    def __init__(self, tok: Any) -> None:
        self.eos = tok.eos_token_id

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        scores[:, self.eos] = float("-inf")
        return scores


def validate(text: str, schema: dict) -> tuple[bool, str | None]:
    import jsonschema
    try:
        value = json.loads(text)
    except ValueError as exc:
        return False, f"json: {exc}"
    try:
        cls = jsonschema.validators.validator_for(schema)
        cls(schema, format_checker=cls.FORMAT_CHECKER).validate(value)
    except jsonschema.ValidationError as exc:
        return False, f"schema: {exc.message[:200]}"
    return True, None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--schemas", type=int, default=8)
    ap.add_argument("--engines", default="grammask,grammask-jf,xgrammar,llguidance")
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--repeats", type=int, default=2, help="runs per output and side; the fastest counts")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (0: torch's default; 1, the default, keeps every forward "
                         "pass on the timed thread and avoids OpenMP spinning on a busy machine)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="print every output")
    args = ap.parse_args(argv)

    import torch

    from grammask.integrations.models import load_smollm2
    if args.threads:
        torch.set_num_threads(args.threads)
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    model, tok = load_smollm2()
    schemas = load_schemas(args.schemas, args.seed)
    prompts = {}
    for sid, schema in schemas:
        text = tok.apply_chat_template([{"role": "user", "content": PROMPT.format(schema=json.dumps(schema))}],
                                       add_generation_prompt=True, tokenize=False)
        prompts[sid] = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    log(f"SmolLM2-135M-Instruct, {len(schemas)} schemas, torch threads {torch.get_num_threads()}, "
        f"clock {args.clock}, repeats {args.repeats}, {os.cpu_count()} cores")
    with torch.inference_mode():       # warm-up: first calls allocate
        model.generate(prompts[schemas[0][0]], max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id)

    results = []
    for name in args.engines.split(","):
        try:
            res = run_engine(name, model, tok, schemas, prompts, args, log)
        except ImportError as exc:
            log(f"{name}: skipped ({exc})")
            continue
        results.append(res)
        if args.json:
            print(json.dumps(res), flush=True)
        else:
            log(f"{res['engine']:12} outputs {res['outputs']:3d} valid {res['valid']:3d}  TPOT "
                f"{res['tpot_ms_constrained']:7.2f} ms vs {res['tpot_ms_unconstrained']:7.2f} ms  "
                f"overhead {res['overhead_pct']:+6.2f}%  "
                + "  ".join(f"{k}={v}" for k, v in res.items() if k not in (
                    "engine", "outputs", "valid", "tpot_ms_constrained", "tpot_ms_unconstrained",
                    "overhead_pct", "failures", "clock")))
    return 0


class Timed:
    """Wraps a logits processor and adds the seconds its calls take to a shared counter: the
    engine's own time per token (advance + mask fill + apply + its glue), measured directly, which
    stays meaningful when the A/B difference drowns in the machine's noise."""

    def __init__(self, inner: Any, acc: list[float]) -> None:
        self.inner = inner
        self.acc = acc

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        t = time.perf_counter()
        out = self.inner(input_ids, scores)
        self.acc[0] += time.perf_counter() - t
        self.acc[1] += 1
        return out


class Tally:
    """Per-engine totals: decode seconds (wall and CPU; the fastest of the repeats per output)
    for constrained runs and their same-length baselines, tokens, validity."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.c = [0.0, 0.0]
        self.u = [0.0, 0.0]
        self.tokens = self.outputs = self.valid = 0
        self.failures: list[str] = []

    def add(self, sid: str, runs_c: list[tuple[float, float]], runs_u: list[tuple[float, float]],
            decode_tokens: int, ok: bool, why: str | None) -> None:
        for k in (0, 1):
            self.c[k] += min(r[k] for r in runs_c)
            self.u[k] += min(r[k] for r in runs_u)
        self.tokens += decode_tokens
        self.outputs += 1
        self.valid += ok
        if not ok:
            self.failures.append(f"{sid}: {why}")

    def result(self, clock: str, **extra: Any) -> dict:
        k = 0 if clock == "wall" else 1
        n = max(self.tokens, 1)

        def pct(c: float, u: float) -> float | None:
            return round(100 * (c / u - 1), 2) if u > 0 else None
        res = {"engine": self.name, "outputs": self.outputs, "valid": self.valid,
               "tpot_ms_constrained": round(self.c[k] * 1e3 / n, 3),
               "tpot_ms_unconstrained": round(self.u[k] * 1e3 / n, 3),
               "overhead_pct": pct(self.c[k], self.u[k]), "clock": clock, "decode_tokens": self.tokens,
               "overhead_pct_wall": pct(self.c[0], self.u[0]), "overhead_pct_cpu": pct(self.c[1], self.u[1]),
               **extra}
        if self.failures:
            res["failures"] = self.failures[:10]
        return res


def _no_additional_properties(schema: Any) -> Any:
    """A copy where every object schema without `additionalProperties` forbids extra properties
    (what xgrammar's default strict mode and grammask's generate do; vLLM does the same for
    llguidance with `disable_additional_properties`)."""
    if isinstance(schema, dict):
        out = {k: _no_additional_properties(v) for k, v in schema.items()}
        if ("properties" in out or out.get("type") == "object") and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_no_additional_properties(v) for v in schema]
    return schema


def run_engine(name: str, model: Any, tok: Any, schemas: list, prompts: dict, args: Any,
               log: Callable[..., None]) -> dict:
    if name == "grammask-jf":
        return run_jump_forward(model, tok, schemas, args, log)
    engine = ENGINES[name](model, tok)
    tally = Tally(name)
    compile_ms = []
    proc_time = [0.0, 0]
    eos = {tok.eos_token_id, tok.pad_token_id}
    for sid, schema in schemas:
        t0 = time.perf_counter()
        try:
            compiled = engine.compile(schema)
        except Exception as exc:
            tally.outputs += 1
            tally.failures.append(f"{sid}: compile: {str(exc)[:120]}")
            continue
        compile_ms.append((time.perf_counter() - t0) * 1e3)
        ids = prompts[sid]
        runs_c, runs_u, gen = [], [], []
        for _ in range(args.repeats):
            gen, dc = run_hf(model, tok, ids, Timed(engine.processor(compiled), proc_time), None,
                             args.max_new_tokens)
            runs_c.append(dc)
            runs_u.append(run_hf(model, tok, ids, None, len(gen), len(gen))[1])
        text = tok.decode([t for t in gen if t not in eos])
        ok, why = validate(text, schema)
        if gen and gen[-1] not in eos:
            ok, why = False, "cut at max_new_tokens"
        tally.add(sid, runs_c, runs_u, max(len(gen) - 1, 0), ok, why)
        if args.verbose:
            log(f"  [{name}] {sid} ({len(gen)} tok, valid={ok}): {text[:300]}")
    proc_ms = proc_time[0] * 1e3 / max(proc_time[1], 1)
    res = tally.result(args.clock, compile_ms_median=round(statistics.median(compile_ms), 1)
                       if compile_ms else None, processor_ms_per_token=round(proc_ms, 4), **engine.stats())
    if res["tpot_ms_unconstrained"]:
        res["processor_pct_of_tpot"] = round(100 * proc_ms / res["tpot_ms_unconstrained"], 2)
    return res


def run_jump_forward(model: Any, tok: Any, schemas: list, args: Any, log: Callable[..., None]) -> dict:
    """`grammask.generate` (own KV-cache loop + jump-forward) vs the same loop unconstrained, to
    the same length. Decode time = total - time to the first token (prefill), both clocks."""
    from grammask import compile_json_schema
    from grammask.integrations.transformers import JSON_DEFAULTS, generate, tokenizer_info_for_model
    info = tokenizer_info_for_model(tok, model)
    tally = Tally("grammask-jf")
    saved = passes = 0

    def timed(max_new: int, **kw: Any) -> tuple[Any, tuple[float, float]]:
        c0 = time.thread_time()
        r = generate(model, tok, tokenizer_info=info, max_new_tokens=max_new, **kw)
        cpu = (time.thread_time() - c0) * (1 - r.first_token_seconds / max(r.seconds, 1e-9))
        return r, (r.seconds - r.first_token_seconds, cpu)

    for sid, schema in schemas:
        compiled = compile_json_schema(schema, info, **JSON_DEFAULTS)
        prompt = PROMPT.format(schema=json.dumps(schema))
        runs_c, runs_u = [], []
        for _ in range(args.repeats):
            r, dc = timed(args.max_new_tokens, prompt=prompt, compiled=compiled)
            runs_c.append(dc)
            runs_u.append(timed(len(r.tokens), prompt=prompt, ignore_eos=True)[1])
        ok, why = validate(r.text, schema)
        if r.stop_reason == "max_new_tokens":
            ok, why = False, "cut at max_new_tokens"
        saved += r.jump_forward_tokens
        passes += r.forward_passes
        tally.add(sid, runs_c, runs_u, max(len(r.tokens) - 1, 0), ok, why)
        if args.verbose:
            log(f"  [grammask-jf] {sid} ({len(r.tokens)} tok, {r.jump_forward_tokens} jumped, "
                f"valid={ok}): {r.text[:300]}")
    return tally.result(args.clock, jump_forward_tokens=saved, forward_passes=passes)


if __name__ == "__main__":
    sys.exit(main())
