"""`sample`: one entry point for every sampler.

Why one function: the methods differ in how they pick the next token, not in what they need
(a next-token distribution source, a compiled grammar, a prompt) or what they return
(`SampleResult`), so a user switches method with one argument and the benchmark compares
them on identical footing.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .asap import ASApTrie, sample_asap, trie_key
from .awrs import MASK_AFTER
from .constraint import Constraint
from .errors import SamplerError
from .gcd import sample_gcd
from .lm import LanguageModel, as_language_model
from .next_token import NextTokenCache
from .result import SampleResult, SamplerStats
from .smc import run_smc

__all__ = ["ASAP_LOOKAHEAD", "METHODS", "prepare_prompt", "sample"]

METHODS = ("gcd", "asap", "awrs", "smc")
#: ASAp's default one-step lookahead width (see `sample`'s ``lookahead``).
ASAP_LOOKAHEAD = 16
RESAMPLING = ("systematic", "multinomial")
AWRS_MODES = ("adaptive", "recursive")


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def prepare_prompt(lm: LanguageModel, prompt: Any, vocab_size: int) -> tuple[int, ...]:
    """Token ids of ``prompt`` (a string, encoded by the model's tokenizer, or a sequence of
    ids), checked against the vocabulary."""
    if isinstance(prompt, str):
        ids = lm.encode(prompt)
    elif isinstance(prompt, (bytes, bytearray)):
        raise SamplerError("prompt must be a str or a sequence of token ids, not bytes")
    elif isinstance(prompt, (Sequence, np.ndarray)):
        ids = list(prompt)
    else:
        raise SamplerError(f"prompt must be a str or a sequence of token ids, got "
                           f"{type(prompt).__name__}")
    width = lm.vocab_size if lm.vocab_size is not None else vocab_size
    for i, t in enumerate(ids):
        if not _is_int(t):
            raise SamplerError(f"prompt[{i}] is {t!r}; token ids must be ints")
        if not 0 <= int(t) < min(width, vocab_size):
            raise SamplerError(f"prompt[{i}] = {int(t)} is outside the vocabulary "
                               f"[0, {min(width, vocab_size)}): the prompt was tokenised for "
                               f"another model or tokenizer")
    return tuple(int(t) for t in ids)


def sample(lm: Any, compiled: Any, prompt: Any, method: str = "gcd", n: int = 1,
           max_tokens: int = 256, temperature: float = 1.0, seed: int | None = None, *,
           tokenizer: Any = None, trie: ASApTrie | None = None, ess_threshold: float = 0.5,
           resampling: str = "systematic", max_attempts: int | None = None,
           length_aware: bool = False, awrs: str = "adaptive", mask_after: int = MASK_AFTER,
           lookahead: int | None = None, memo_bytes: int = 1 << 30) -> SampleResult:
    """Draw ``n`` samples of text in the language of ``compiled`` from the model ``lm`` after
    ``prompt``.

    lm: a transformers causal LM (wrapped in `TransformersLM`, which keeps the prompt's KV
    cache and a tree of continuations), a callable ``logprobs(prefix_ids) -> array`` over the
    full prefix (prompt ids + generated ids; log-probabilities or logits), or a
    `LanguageModel`. Pass the same `LanguageModel` object to repeated calls to reuse its cache.
    compiled: from `compile_regex` / `compile_grammar` / `compile_json_schema`, for the
    tokenizer the model uses (same ids; its ``vocab_size`` must equal the model's logits width).
    prompt: a string (needs ``tokenizer`` or a model that has one) or a sequence of token ids.
    method: ``"gcd"`` masked sampling (biased baseline); ``"asap"`` ASAp (converges to the exact
    conditional over repeated samples; pass ``trie`` to continue refining a previous call's
    `ASApTrie`); ``"awrs"`` importance sampling with ``n`` independent AWRS particles (their
    tokens follow GCD's distribution exactly with ``awrs="recursive"``; the normalised
    ``weights`` and ``log_ml`` correct it); ``"smc"`` SMC with AWRS proposals, ``n`` particles,
    resampling when the ESS falls below ``ess_threshold * n``. If every particle dies (only
    possible at the length cap without ``length_aware``), ``weights`` are all 0 and ``log_ml``
    is ``-inf``.
    max_tokens: most text tokens per sample; every method targets
    ``P_T(y | y in L, |y| <= max_tokens)``. GCD/ASAp restart a sample that reaches the cap
    incomplete (at most ``max_attempts`` starts, default ``100 * n + 100``).
    length_aware: allow a token only if the text can still be completed within max_tokens
    after it (same target; no restarts or dead particles at the cap; a lookahead over the
    grammar that is cheap for small allowed sets, see `Constraint.completes_within`).
    temperature: the model's scores are divided by it (locally tempered target).
    seed: seeds the only random generator used; equal arguments give equal results.
    awrs: the AWRS weight estimator for "awrs"/"smc": "recursive" is the paper's (the token is
    an exact draw from the masked distribution; one extra check); "adaptive" (default) walks on
    while the accepted mass is small next to the rejected mass and returns a weighted-set
    estimate, far less noisy where the model puts little mass on allowed tokens (see
    `grammask.samplers.awrs`). Both are unbiased and properly weighted.
    mask_after: an AWRS step that has made this many checks computes the full allowed set
    once and draws exactly (bounds the checks; the weights stay exact).
    lookahead: ASAp only (default `ASAP_LOOKAHEAD` = 16): before a prefix on a sampled path is
    extended, its ``lookahead`` likeliest allowed children get a one-step upper bound on their
    expected future grammaticality (one batched model call for them) instead of 1. Same limit
    distribution, far fewer samples spent exploring where the model alone is rarely
    grammatical (on the GAD tasks, KL after 200 samples 2-14x lower at about the same time
    per sample); 0 is the paper's ASAp.
    memo_bytes: budget of the next-token memo."""
    t0 = time.perf_counter()
    if not isinstance(method, str) or method not in METHODS:
        raise SamplerError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if not _is_int(n) or n < 1:
        raise SamplerError(f"n must be an int >= 1, got {n!r}")
    if not (isinstance(temperature, (int, float)) and temperature > 0 and math.isfinite(temperature)):
        raise SamplerError(f"temperature must be a positive finite number, got {temperature!r}")
    if not isinstance(ess_threshold, (int, float)) or not 0.0 <= ess_threshold <= 1.0:
        raise SamplerError(f"ess_threshold must be in [0, 1], got {ess_threshold!r}")
    if resampling not in RESAMPLING:
        raise SamplerError(f"unknown resampling {resampling!r}; choose one of {', '.join(RESAMPLING)}")
    if awrs not in AWRS_MODES:
        raise SamplerError(f"unknown awrs estimator {awrs!r}; choose one of {', '.join(AWRS_MODES)}")
    if lookahead is not None and (not _is_int(lookahead) or lookahead < 0):
        raise SamplerError(f"lookahead must be an int >= 0, got {lookahead!r}")
    if lookahead and method != "asap":
        raise SamplerError(f"lookahead is only used by method='asap', not {method!r}")
    if lookahead is None:
        lookahead = ASAP_LOOKAHEAD if method == "asap" else 0
    if not _is_int(mask_after) or mask_after < 1:
        raise SamplerError(f"mask_after must be an int >= 1, got {mask_after!r}")
    if trie is not None and not isinstance(trie, ASApTrie):
        raise SamplerError(f"trie must be an ASApTrie, got {type(trie).__name__}")
    if trie is not None and method != "asap":
        raise SamplerError(f"trie is only used by method='asap', not {method!r}")
    con = Constraint(compiled, max_tokens, length_aware)
    model = as_language_model(lm, tokenizer)
    if model.vocab_size is not None and model.vocab_size != con.vocab_size:
        raise SamplerError(f"the model has {model.vocab_size} logits but the grammar was compiled "
                           f"for vocab_size {con.vocab_size}; compile it with a TokenizerInfo "
                           f"sized to the model (vocab_size={model.vocab_size})")
    prompt_ids = prepare_prompt(model, prompt, con.vocab_size)
    cache = NextTokenCache(model, prompt_ids, con.vocab_size, temperature, memo_bytes)
    rng = np.random.default_rng(seed)
    stats = SamplerStats()
    attempts = max_attempts if max_attempts is not None else 100 * n + 100
    result: SampleResult
    if method in ("gcd", "asap"):
        if method == "gcd":
            ids, lps = sample_gcd(cache, con, n, rng, stats, attempts)
            used_trie = None
        else:
            used_trie = trie if trie is not None else ASApTrie()
            used_trie.bind(trie_key(prompt_ids, compiled, temperature, con.max_tokens))
            ids, lps = sample_asap(cache, con, used_trie, n, rng, stats, attempts, lookahead)
        result = SampleResult(method, [con.decode(x) for x in ids], ids, np.asarray(lps),
                              complete=[True] * len(ids), trie=used_trie)
    else:
        particles, log_ml = run_smc(cache, con, n, rng, stats,
                                    ess_threshold if method == "smc" else 0.0, resampling,
                                    mask_after, awrs == "adaptive")
        lw = np.asarray([p.logw for p in particles])
        if math.isfinite(log_ml):
            w = np.exp(lw - lw.max())
            w /= w.sum()
        else:
            w = np.zeros(len(particles))
        stats.attempts = n
        ids = [list(p.tokens) for p in particles]
        result = SampleResult(method, [con.decode(x) for x in ids], ids,
                              np.asarray([p.logprob if p.alive else -math.inf for p in particles]),
                              weights=w, log_ml=log_ml, complete=[p.alive for p in particles],
                              ess=float(1.0 / np.dot(w, w)) if w.any() else 0.0)
    stats.lm_queries = cache.lm_queries
    stats.mask_calls = con.mask_calls
    stats.checks = con.checks
    stats.lookahead_masks = con.lookahead_masks
    stats.seconds = time.perf_counter() - t0
    result.stats = stats
    return result
