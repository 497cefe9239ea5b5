#!/usr/bin/env python
"""Do the samplers sample what they should? KL/TV to the exact target, per number of samples.

For each task (a grammar, a prompt, SmolLM2-135M-Instruct) the exact target
``P(y | y in L, |y| <= max_tokens)`` over *token sequences* is enumerated
(`grammask.samplers.exact_distribution`: breadth first over the matcher's allowed tokens, every
prefix's next-token distribution from the model, stop probability included), then each method
samples and its empirical distribution is compared with the target:

* gcd   -- masked decoding; KL of its first k samples, k = 10, 20, 50, ... --samples.
* asap  -- ASAp with one trie refined over the run (`sample`'s default one-step lookahead
           bounds); KL of its first k samples (the early samples included, as in the paper's
           curves), and the KL of its *next-draw* distribution after k samples
           (`asap_distribution`: free of sampling noise, the same kind of number as GCD's
           exact KL).
* asap-paper -- the same with ``lookahead=0``: the paper's ASAp (every unvisited bound 1).
* awrs  -- AWRS importance sampling (no resampling): the first k particles, self-normalised.
* smc   -- SMC with AWRS proposals, one run per particle count in --particles (the adaptive
           weighted-set AWRS estimator, `sample`'s default).
* smc-paper -- the same with the paper's recursive AWRS estimator (``awrs="recursive"``).

Metrics: ``kl`` = KL(empirical || exact) over token sequences (an exact sampler's is about
(support - 1) / (2 n), not 0), ``tv`` total variation, ``kl_string`` the same KL after folding
tokenisations into strings, ``mean_logprob`` the (weighted) mean model log-probability of the
samples (``exact``: the target's expectation), ``checks_per_token`` AWRS constraint checks per
proposed token (vocabulary: 49,152), ``seconds_per_sample`` from separate timing runs with a
cold next-token memo and an empty continuation KV tree (the prompt's KV cache warm): wall time /
samples (SMC: / particles). The KL runs themselves share one memo filled by the enumeration, so
they cost no model calls (that changes cost only, never a distribution).

Tasks. *Finite* toy grammars: GAD's ``binary_len_5_0`` / ``binary_len_5_1`` / ``binary_len_3``
(17, 17 and 5 binary strings; SmolLM2 writes digits one token each) and a pet-animal regex, whose
whole token-level languages are enumerated; a colour-fruit regex (20 strings) whose
tokenisations are cut at 4 tokens. *GAD* SyGuS tasks
(``examples/sygus/{SLIA,bv4}/<name>.ebnf`` with ``prompts/{SLIA,bv4}/<name>.txt``): their
languages are infinite, so the target is the language **truncated at --gad-max-tokens tokens**
(every method targets exactly that: the cap is part of the constraint, and by default every
method and the enumeration run with ``length_aware=True``, so a token is allowed only if the
program can still be closed within the cap; ``--no-length-aware`` lets GCD/ASAp restart and SMC
particles die at the cap instead). Prompts go through
SmolLM2's chat template; for GAD tasks the fixed ``(define-fun ... <type>`` header that every
answer starts with is appended to the assistant turn (without its trailing space, which stays in
the grammar: a prompt ending in a lone space token would distort the model's next token).

    python benchmarks/sampler_fidelity.py --quick          # a few minutes on 2 cores
    python benchmarks/sampler_fidelity.py                  # all tasks, 1,000 samples/particles
    python benchmarks/sampler_fidelity.py --json --plot sampler_fidelity.png
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))

from shared_paths import BESIDE_REPO, find_shared

import grammask
from grammask.samplers import (
    ASApTrie,
    CachedLM,
    SamplerError,
    SampleResult,
    TransformersLM,
    asap_distribution,
    exact_distribution,
    kl_divergence,
    sample,
    string_distribution,
    total_variation,
)

GAD = os.path.join(find_shared() or BESIDE_REPO, "data", "grammars", "gad-asap")

GAD_SLIA = ["bikes", "dr-name", "firstname", "lastname"]
GAD_BV4 = ["find_inv_bvsge_bvadd_4bit", "find_inv_bvsge_bvand_4bit",
           "find_inv_bvsge_bvlshr0_4bit", "find_inv_bvsge_bvor_4bit"]
TOY = ["binary5-0", "binary5-1", "binary3", "animal", "colour-fruit"]
QUICK = ["binary5-0", "animal", "slia-bikes", "bv4-find_inv_bvsge_bvadd_4bit"]

METHODS = ("gcd", "asap", "asap-paper", "awrs", "smc", "smc-paper")


@dataclass
class Task:
    name: str
    kind: str            # "finite" | "gad"
    grammar: str         # grammar text
    syntax: str          # "gbnf" | "regex"
    user: str            # user message
    assistant: str       # assistant-turn prefix
    max_tokens: int


def _gad_task(family: str, name: str, max_tokens: int) -> Task:
    with open(os.path.join(GAD, "examples", "sygus", family, name + ".ebnf")) as f:
        src = f.read()
    m = re.match(r'root ::= "((?:[^"\\]|\\.)*) " Start "\)"\n', src)
    if m is None:
        raise SystemExit(f"unexpected root rule in {family}/{name}.ebnf")
    header = m.group(1).replace('\\"', '"')
    grammar = src.replace(m.group(0), 'root ::= " " Start ")"\n')
    with open(os.path.join(GAD, "prompts", family, name + ".txt")) as f:
        prompt = f.read()
    label = ("slia-" if family == "SLIA" else "bv4-") + name
    return Task(label, "gad", grammar, "gbnf", prompt, header, max_tokens)


def _toy_task(name: str) -> Task:
    if name.startswith("binary"):
        file = {"binary5-0": "binary_len_5_0.ebnf", "binary5-1": "binary_len_5_1.ebnf",
                "binary3": "binary_len_3.ebnf"}[name]
        length = 3 if name == "binary3" else 5
        return Task(name, "finite", open(os.path.join(GAD, "examples", "test", file)).read(),
                    "gbnf", f"Write a random binary string of length {length}. Answer with the "
                            f"string only.", "", length + 2)
    if name == "animal":       # every tokenisation fits in 6 tokens: the whole language
        return Task(name, "finite", r"(cat|dog|bird|fish|horse|mouse)", "regex",
                    "Name one animal that people keep as a pet. Answer with one word.", "", 6)
    if name == "colour-fruit":  # 20 strings; tokenisations longer than 4 tokens are cut
        return Task(name, "finite", r"(red|green|blue|yellow|purple) (apple|banana|cherry|grape)",
                    "regex", "Name a colour and a fruit, like 'red apple'. Answer with the two "
                             "words only.", "", 4)
    raise SystemExit(f"unknown task {name!r}")


def all_tasks(gad_max_tokens: int) -> dict[str, Task]:
    tasks = {n: _toy_task(n) for n in TOY}
    for n in GAD_SLIA:
        t = _gad_task("SLIA", n, gad_max_tokens)
        tasks[t.name] = t
    for n in GAD_BV4:
        t = _gad_task("bv4", n, gad_max_tokens)
        tasks[t.name] = t
    return tasks


def checkpoints(n: int) -> list[int]:
    out = [k for k in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if k < n]
    return out + [n]


def _kl(dist: dict, target: dict) -> float | None:
    """KL(empirical || target); None when there is no empirical distribution (every SMC/AWRS
    particle died: weight 0 everywhere)."""
    return kl_divergence(dist, target) if dist else None


def weighted_dist(ids: list[list[int]], w: np.ndarray | None) -> dict:
    out: dict = {}
    if w is None:
        for x in ids:
            out[tuple(x)] = out.get(tuple(x), 0.0) + 1.0 / len(ids)
        return out
    tot = float(w.sum())
    if tot <= 0:
        return {}
    for x, wi in zip(ids, w):
        if wi > 0:
            out[tuple(x)] = out.get(tuple(x), 0.0) + float(wi) / tot
    return out


def _log_weights_to_w(res) -> np.ndarray:
    return np.asarray(res.weights, dtype=np.float64)


def _gcd_from_exact(exact, n: int, seed: int) -> SampleResult:
    """``n`` samples of GCD-with-restarts, drawn from its exact distribution."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(exact.sequences), size=n, p=exact.gcd_probs)
    ids = [list(exact.sequences[i]) for i in idx]
    res = SampleResult("gcd", [""] * n, ids, exact.logp[idx])
    res.stats.attempts = -1          # marks "drawn from the exact distribution"
    return res


def _line(task: Task, method: str, k_final: int, curve: dict, dist: dict, target: dict,
          target_str: dict, decode, lp: float, res, sec: float | None,
          timed_queries: int | None, base_method: str) -> dict:
    """One JSON line."""
    died = not dist
    line = {"task": task.name, "method": method, "samples": k_final,
            "kl": curve[k_final], "tv": None if died else total_variation(dist, target),
            "mean_logprob": None if died else lp,
            "checks_per_token": res.stats.checks_per_token if base_method in ("awrs", "smc") else None,
            "seconds_per_sample": sec,
            "kl_string": _kl(string_distribution(dist, decode), target_str),
            "kl_by_samples": {str(k): v for k, v in curve.items()},
            "lm_queries_timed": timed_queries,
            "attempts_per_sample": (None if res.stats.attempts < 0 or base_method == "smc"
                                    else res.stats.attempts / k_final)}
    if base_method in ("awrs", "smc"):
        line["log_ml"] = res.log_ml
        line["ess"] = res.ess
        line["mask_fallbacks_per_token"] = res.stats.mask_fallbacks / res.stats.proposal_steps
    if died:
        line["all_particles_died"] = True
    return line


def _log_line(log, line: dict, method: str, res, exact, exact_lp: float, curve: dict) -> None:
    fmt = lambda v, spec: "—" if v is None else format(v, spec)
    cpt, sec = line["checks_per_token"], line["seconds_per_sample"]
    log(f"  {method:9s} n={line['samples']:5d} KL {fmt(line['kl'], '.4f')}  TV {fmt(line['tv'], '.3f')}  "
        f"KL(strings) {fmt(line['kl_string'], '.4f')}  mean logprob "
        f"{fmt(line['mean_logprob'], '8.3f')} (exact {exact_lp:.3f})"
        + ("  EVERY PARTICLE DIED" if line.get("all_particles_died") else "")
        + (f"  checks/token {cpt:.2f} (+{line['mask_fallbacks_per_token']:.3f} masks)"
           if cpt is not None else "")
        + (f"  log_ml {res.log_ml:.3f} (exact {exact.log_z:.3f})" if "log_ml" in line else "")
        + (f"  {sec:.3f} s/sample" if sec is not None else "")
        + (f"  attempts/sample {line['attempts_per_sample']:.1f}"
           if line["attempts_per_sample"] not in (None, 1.0) else "")
        + "  KL by n: " + " ".join(f"{k}:{fmt(v, '.3f')}" for k, v in curve.items()))


def run_task(task: Task, model, tok, info, args, log) -> list[dict]:
    compiled = (grammask.compile_regex(task.grammar, info) if task.syntax == "regex"
                else grammask.compile_grammar(task.grammar, info, syntax="gbnf"))
    prompt_text = tok.apply_chat_template([{"role": "user", "content": task.user}], tokenize=False,
                                          add_generation_prompt=True) + task.assistant
    base = TransformersLM(model, tok, max_tree_tokens=args.max_tree_tokens)
    prompt = tuple(base.encode(prompt_text))
    memo = CachedLM(base)
    t0 = time.perf_counter()
    la = not args.no_length_aware
    exact = exact_distribution(memo, compiled, prompt, task.max_tokens, args.temperature,
                               max_nodes=args.max_nodes, length_aware=la)
    t_exact = time.perf_counter() - t0
    target = exact.as_dict()
    decode = lambda ids: info.decode_bytes(ids).decode("utf-8", "replace")
    target_str = string_distribution(target, decode)
    exact_lp = float(np.dot(exact.probs, exact.logp))
    top = np.argsort(-exact.probs)[:3]
    log(f"[{task.name}] prompt {len(prompt)} tokens, max_tokens {task.max_tokens}: "
        f"{len(exact.sequences)} sequences ({len(target_str)} strings), {exact.nodes} prefixes, "
        f"log P(L) = {exact.log_z:.2f}, exact in {t_exact:.0f} s; KL(GCD's own distribution "
        f"|| target) = {kl_divergence(exact.gcd_dict(), target):.3f}; top: "
        + ", ".join(f"{decode(exact.sequences[i])!r} {exact.probs[i]:.3f}" for i in top))
    lines = [{"task": task.name, "method": "exact", "samples": len(exact.sequences), "kl": 0.0,
              "tv": 0.0, "mean_logprob": exact_lp, "checks_per_token": None,
              "seconds_per_sample": None, "log_z": exact.log_z, "strings": len(target_str),
              "prefixes": exact.nodes, "max_tokens": task.max_tokens,
              "gcd_exact_kl": kl_divergence(exact.gcd_dict(), target)}]
    n = args.samples
    for method in args.methods:
        curve: dict[int, float] = {}
        base_method = "smc" if method.startswith("smc") else \
            "asap" if method.startswith("asap") else method
        extra = {"awrs": "recursive"} if method == "smc-paper" else {}
        if base_method == "smc":
            runs = [(k, sample(memo, compiled, prompt, method="smc", n=k,
                               max_tokens=task.max_tokens, temperature=args.temperature,
                               seed=args.seed, ess_threshold=args.ess_threshold,
                               length_aware=la, **extra))
                    for k in args.particles]
            for k, r in runs:
                curve[k] = _kl(weighted_dist(r.token_ids, r.weights), target)
            k_final, res = runs[-1]
            dist = weighted_dist(res.token_ids, res.weights)
            w = res.weights
            lp = float(np.dot(w, np.where(np.isfinite(res.logprobs), res.logprobs, 0.0)))
        else:
            try:
                if base_method == "asap":
                    res, next_draw = _asap_run(memo, compiled, prompt, task, args, exact, target,
                                               0 if method == "asap-paper" else args.asap_lookahead)
                else:
                    res = sample(memo, compiled, prompt, method=method, n=n,
                                 max_tokens=task.max_tokens, temperature=args.temperature,
                                 seed=args.seed, max_attempts=args.attempts_per_sample * n,
                                 length_aware=la)
            except SamplerError as exc:
                if method != "gcd":
                    raise
                # GCD restarts a sample that reaches the cap incomplete; under a tight GAD cap
                # nearly all do. GCD-with-restarts is exactly GCD's distribution conditioned on
                # finishing, which the enumeration computed: draw from that instead.
                log(f"  gcd: {exc}; drawing from GCD's exact conditioned distribution instead")
                res = _gcd_from_exact(exact, n, args.seed)
            w = res.weights
            for k in checkpoints(n):
                curve[k] = _kl(weighted_dist(res.token_ids[:k], None if w is None else w[:k]),
                               target)
            k_final = n
            dist = weighted_dist(res.token_ids, w)
            if w is None:
                lp = float(np.mean(res.logprobs))
            else:
                lp = float(np.dot(w, np.where(np.isfinite(res.logprobs), res.logprobs, 0.0)))
        # timing: cold next-token memo, empty continuation tree, warm prompt cache (smc-paper
        # costs what smc does: not timed again)
        if method == "smc-paper":
            sec, timed_queries = None, None
            lines.append(_line(task, method, k_final, curve, dist, target, target_str, decode, lp,
                               res, sec, timed_queries, base_method))
            _log_line(log, lines[-1], method, res, exact, exact_lp, curve)
            continue
        base.clear_tree()
        tn = args.timing_particles if base_method == "smc" else args.timing_samples
        t1 = time.perf_counter()
        try:
            timed = sample(base, compiled, prompt, method=base_method, n=tn,
                           max_tokens=task.max_tokens, temperature=args.temperature,
                           seed=args.seed + 1, max_attempts=args.timing_attempts,
                           length_aware=la,
                           **({"ess_threshold": args.ess_threshold} if base_method == "smc"
                              else {}),
                           **({"lookahead": 0 if method == "asap-paper" else args.asap_lookahead}
                              if base_method == "asap" else {}),
                           **extra)
            sec: float | None = (time.perf_counter() - t1) / tn
            timed_queries: int | None = timed.stats.lm_queries
        except SamplerError as exc:
            log(f"  {method}: timing run gave up after {time.perf_counter() - t1:.0f} s ({exc})")
            sec = timed_queries = None
        lines.append(_line(task, method, k_final, curve, dist, target, target_str, decode, lp,
                           res, sec, timed_queries, base_method))
        if base_method == "asap":
            lines[-1]["next_draw_kl_by_samples"] = {str(k): v for k, v in next_draw.items()}
            log("  asap next-draw KL by n: " + " ".join(f"{k}:{v:.3f}" for k, v in next_draw.items()))
        _log_line(log, lines[-1], method, res, exact, exact_lp, curve)
    return lines


def _asap_run(memo, compiled, prompt, task: Task, args, exact, target: dict,
              lookahead: int | None):
    """ASAp with one trie over the run, in chunks ending at the checkpoints; after each chunk
    the KL of ASAp's *next-draw* distribution (`asap_distribution`: no sampling noise, the
    same kind of number as GCD's exact KL) is recorded next to the empirical KL."""
    trie = ASApTrie()
    ids: list[list[int]] = []
    lps: list[float] = []
    attempts = 0
    next_draw: dict[int, float] = {}
    done = 0
    for chunk, k in enumerate(checkpoints(args.samples)):
        part = sample(memo, compiled, prompt, method="asap", n=k - done,
                      max_tokens=task.max_tokens, temperature=args.temperature,
                      seed=args.seed * 1000 + chunk, max_attempts=args.attempts_per_sample * (k - done),
                      length_aware=not args.no_length_aware, trie=trie,
                      lookahead=lookahead)
        ids += part.token_ids
        lps += list(part.logprobs)
        attempts += part.stats.attempts
        done = k
        q = asap_distribution(trie, memo, compiled, prompt, exact.sequences,
                              length_aware=not args.no_length_aware)
        next_draw[k] = kl_divergence(dict(zip(exact.sequences, q.tolist())), target)
    res = SampleResult("asap", [""] * len(ids), ids, np.asarray(lps), trie=trie)
    res.stats.attempts = attempts
    return res, next_draw


def table(lines: list[dict]) -> str:
    """The README table: KL to the exact target per task and method. "next" columns are
    ASAp's next-draw distribution after k samples (`asap_distribution`, no sampling noise:
    comparable with GCD's exact KL); "@k" columns are empirical KLs of the first k samples."""
    tasks = list(dict.fromkeys(l["task"] for l in lines))
    by = {(l["task"], l["method"]): l for l in lines}

    def kl(t: str, m: str, k: str | None = None, key: str = "kl_by_samples") -> str:
        l = by.get((t, m))
        if l is None:
            return "—"
        if k is None:
            return "died" if l.get("all_particles_died") else f"{l['kl']:.3f}"
        v = l.get(key, {}).get(k)
        return "—" if v is None else f"{v:.3f}"

    def secs(t: str, m: str) -> str:
        l = by.get((t, m))
        return "—" if l is None or l["seconds_per_sample"] is None else f"{l['seconds_per_sample']:.2f}"

    n = next((l["samples"] for l in lines if l["method"] == "asap"), "N")
    parts = next((l["samples"] for l in lines if l["method"] == "smc"), "P")
    nd = "next_draw_kl_by_samples"
    out = [f"| task | sequences | GCD's exact KL | ASAp next @200 | ASAp (paper) next @200 | "
           f"GCD @200 | ASAp @200 | ASAp (paper) @200 | ASAp @{n} | SMC @{parts} | "
           f"AWRS checks / masks per token | s/sample GCD / ASAp / SMC |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in tasks:
        e = by[(t, "exact")]
        smc = by.get((t, "smc"))
        cm = "—" if smc is None else \
            f"{smc['checks_per_token']:.1f} / {smc['mask_fallbacks_per_token']:.3f}"
        out.append(f"| {t} | {e['samples']} | {e['gcd_exact_kl']:.3f} | {kl(t, 'asap', '200', nd)} | "
                   f"{kl(t, 'asap-paper', '200', nd)} | {kl(t, 'gcd', '200')} | "
                   f"{kl(t, 'asap', '200')} | {kl(t, 'asap-paper', '200')} | {kl(t, 'asap')} | "
                   f"{kl(t, 'smc')} | {cm} | "
                   f"{secs(t, 'gcd')} / {secs(t, 'asap')} / {secs(t, 'smc')} |")
    return "\n".join(out)


def plot(lines: list[dict], path: str) -> str:
    """KL vs samples, one panel per task. PNG via matplotlib when installed, else SVG."""
    tasks = list(dict.fromkeys(l["task"] for l in lines))
    series = {}
    for l in lines:
        if l["method"] != "exact":
            series[(l["task"], l["method"])] = sorted((int(k), v) for k, v in l["kl_by_samples"].items()
                                                      if v is not None)
    colours = {"gcd": "#d62728", "asap": "#1f77b4", "asap-paper": "#17becf", "awrs": "#ff7f0e",
               "smc": "#2ca02c", "smc-paper": "#9467bd"}
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        path = os.path.splitext(path)[0] + ".svg"
        _svg_plot(tasks, series, colours, path)
        return path
    cols = min(4, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, t in zip(axes.flat, tasks):
        for m, c in colours.items():
            pts = series.get((t, m))
            if pts:
                ax.loglog([p[0] for p in pts], [max(p[1], 1e-5) for p in pts], "o-", color=c,
                          label=m + (" (particles)" if m.startswith("smc") else ""), ms=3)
        ax.set_title(t, fontsize=9)
        ax.set_xlabel("samples")
        ax.set_ylabel("KL(empirical || exact)")
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _svg_plot(tasks, series, colours, path) -> None:
    cols = min(4, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    W, H, pad = 300, 220, 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{cols * W}" height="{rows * H + 30}" '
             f'font-family="sans-serif" font-size="10">', '<rect width="100%" height="100%" fill="white"/>']
    lx = 10
    for m, c in colours.items():
        parts.append(f'<rect x="{lx}" y="{rows * H + 10}" width="12" height="8" fill="{c}"/>'
                     f'<text x="{lx + 16}" y="{rows * H + 18}">{m}{" (x = particles)" if m == "smc" else ""}</text>')
        lx += 130
    for i, t in enumerate(tasks):
        ox, oy = (i % cols) * W, (i // cols) * H
        pts_all = [p for m in colours for p in series.get((t, m), [])]
        if not pts_all:
            continue
        xs = [math.log10(p[0]) for p in pts_all]
        ys = [math.log10(max(p[1], 1e-5)) for p in pts_all]
        x0, x1 = min(xs), max(xs) + 1e-9
        y0, y1 = math.floor(min(ys)), math.ceil(max(ys)) + 1e-9

        def X(v: float, ox: float = ox, x0: float = x0, x1: float = x1) -> float:
            return ox + pad + (math.log10(v) - x0) / (x1 - x0) * (W - pad - 10)

        def Y(v: float, oy: float = oy, y0: float = y0, y1: float = y1) -> float:
            return oy + H - pad + 10 - (math.log10(max(v, 1e-5)) - y0) / (y1 - y0) * (H - pad - 20)

        parts.append(f'<text x="{ox + W / 2}" y="{oy + 12}" text-anchor="middle">{t}</text>')
        parts.append(f'<line x1="{ox + pad}" y1="{oy + H - pad + 10}" x2="{ox + W - 10}" '
                     f'y2="{oy + H - pad + 10}" stroke="black"/><line x1="{ox + pad}" y1="{oy + 20}" '
                     f'x2="{ox + pad}" y2="{oy + H - pad + 10}" stroke="black"/>')
        for e in range(int(y0), int(math.floor(y1)) + 1):
            parts.append(f'<text x="{ox + pad - 4}" y="{Y(10.0 ** e) + 3}" text-anchor="end">1e{e}</text>')
        for e in range(int(math.ceil(x0)), int(math.floor(x1)) + 1):
            parts.append(f'<text x="{X(10.0 ** e)}" y="{oy + H - pad + 22}" text-anchor="middle">{10 ** e}</text>')
        parts.append(f'<text x="{ox + W / 2}" y="{oy + H - 4}" text-anchor="middle">samples; y: KL</text>')
        for m, c in colours.items():
            pts = series.get((t, m))
            if not pts:
                continue
            d = " ".join(f"{X(p[0]):.1f},{Y(p[1]):.1f}" for p in pts)
            parts.append(f'<polyline points="{d}" fill="none" stroke="{c}" stroke-width="1.5"/>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help=f"tasks {', '.join(QUICK)}; methods gcd,asap,awrs,smc; 200 samples, "
                         f"particles 10,100,300, GAD cap 6 tokens, 5 timed samples / 50 particles")
    ap.add_argument("--tasks", default=None, help="comma-separated task names (default: all)")
    ap.add_argument("--methods", default=None, help=f"default {','.join(METHODS)}")
    ap.add_argument("--samples", type=int, default=None, help="GCD/ASAp/AWRS samples (default 1000)")
    ap.add_argument("--particles", default=None, help="SMC particle counts (default 10,30,100,300,1000)")
    ap.add_argument("--gad-max-tokens", type=int, default=None, help="GAD truncation (default 8)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--ess-threshold", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timing-samples", type=int, default=None, help="default 10 (quick: 5)")
    ap.add_argument("--attempts-per-sample", type=int, default=50,
                    help="GCD/ASAp restarts allowed per sample in the KL runs")
    ap.add_argument("--timing-particles", type=int, default=None, help="default 100 (quick: 50)")
    ap.add_argument("--timing-attempts", type=int, default=2000,
                    help="GCD/ASAp restarts allowed in a timing run (GAD caps make GCD restart "
                         "often); a timing run that runs out reports null")
    ap.add_argument("--asap-lookahead", type=int, default=None,
                    help="ASAp: one-step bounds for this many likeliest children of each "
                         "visited prefix (default: sample's, 16; 0: the paper's ASAp, every "
                         "unvisited bound 1)")
    ap.add_argument("--max-nodes", type=int, default=100_000)
    ap.add_argument("--max-tree-tokens", type=int, default=8192)
    ap.add_argument("--no-length-aware", action="store_true",
                    help="let samplers walk into dead ends at the cap (GCD/ASAp restart, SMC "
                         "particles die) instead of masking tokens that cannot finish in time")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--json", action="store_true", help="one JSON line per task and method")
    ap.add_argument("--plot", default=None, help="write the KL-vs-samples figure here (.png)")
    args = ap.parse_args(argv)
    args.samples = args.samples or (200 if args.quick else 1000)
    parts = args.particles or ("10,100,300" if args.quick else "10,30,100,300,1000")
    args.particles = [int(x) for x in parts.split(",")]
    gad_cap = args.gad_max_tokens or (6 if args.quick else 8)
    args.methods = [m for m in (args.methods or ("gcd,asap,awrs,smc" if args.quick
                                                 else ",".join(METHODS))).split(",") if m]
    args.timing_samples = args.timing_samples or (5 if args.quick else 10)
    args.timing_particles = args.timing_particles or (50 if args.quick else 100)
    for m in args.methods:
        if m not in METHODS:
            ap.error(f"unknown method {m!r}")
    tasks = all_tasks(gad_cap)
    names = QUICK if args.quick and args.tasks is None else \
        (list(tasks) if args.tasks is None else [t for t in args.tasks.split(",") if t])
    for t in names:
        if t not in tasks:
            ap.error(f"unknown task {t!r}; choose from {', '.join(tasks)}")

    import torch

    from grammask.integrations.models import load_smollm2, tokenizer_info_for

    if args.threads:
        torch.set_num_threads(args.threads)
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.json else \
        (lambda s: print(s, flush=True))
    model, tok = load_smollm2()
    # stop on <|im_end|> (the chat turn's end) and <|endoftext|>
    info = tokenizer_info_for(tok, model, eos_token_ids=[2, 0])
    log(f"SmolLM2-135M-Instruct, V = {info.vocab_size}, torch threads {torch.get_num_threads()}, "
        f"methods {','.join(args.methods)}, samples {args.samples}, particles {args.particles}, "
        f"GAD cap {gad_cap} tokens, seed {args.seed}")
    lines: list[dict] = []
    t0 = time.perf_counter()
    for name in names:
        task_lines = run_task(tasks[name], model, tok, info, args, log)
        lines.extend(task_lines)
        if args.json:
            for l in task_lines:
                print(json.dumps(l), flush=True)
    log(f"total {time.perf_counter() - t0:.0f} s")
    if not args.json:
        print()
        print(table(lines))
    if args.plot:
        log(f"plot: {plot(lines, args.plot)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
