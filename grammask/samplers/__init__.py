"""Samplers that do not distort the model: draw text in a grammar's language from a language
model, either with the usual masked decoding (GCD, biased) or with methods that target the
model's own distribution conditioned on the grammar, ``P(y | y in L)``: ASAp, AWRS importance
sampling and SMC with AWRS proposals.

    from grammask.samplers import sample
    res = sample(model, compiled, prompt, method="smc", n=100, max_tokens=64, seed=0,
                 tokenizer=tokenizer)
    res.texts, res.weights, res.log_ml

Modules: `lm` (next-token sources: transformers with a tree KV cache, or any callable),
`next_token` (memoised tempered distributions), `constraint` (allowed sets, single-token
checks, the length cap), `gcd`, `asap`, `awrs`, `smc`, `api` (`sample`), `exact` (the exact
target by enumeration, KL/TV), `result`, `errors`.
"""
from .api import METHODS, sample
from .asap import ASApTrie
from .awrs import AwrsDraw, awrs_step
from .errors import SamplerError
from .exact import ExactDistribution, asap_distribution, exact_distribution, kl_divergence, string_distribution, total_variation
from .lm import CachedLM, CallableLM, LanguageModel, TransformersLM, as_language_model
from .result import SampleResult, SamplerStats

__all__ = [
                    "METHODS",
                    "ASApTrie",
                    "AwrsDraw",
                    "CachedLM",
                    "CallableLM",
                    "ExactDistribution",
                    "LanguageModel",
                    "SampleResult",
                    "SamplerError",
                    "SamplerStats",
                    "TransformersLM",
                    "as_language_model",
                    "asap_distribution",
                    "awrs_step",
                    "exact_distribution",
                    "kl_divergence",
                    "sample",
                    "string_distribution",
                    "total_variation",
]
