"""grammask: structured generation for LLMs.

Compile a constraint (regex today; CFGs and JSON Schema build on the same core) against a
tokenizer, then drive one `Matcher` per sequence to get exact next-token bitmasks."""
from .compiled_grammar import CompiledGrammar
from .compiled_cfg import CompiledCFG
from .compiler import compile_grammar, compile_json_schema, compile_regex
from .errors import (BitmaskError, GrammarError, GrammaskError, InvalidTokenError,
                     LimitExceededError, MatcherError, SchemaError, TokenizerError)
from .kernels import allocate_token_bitmask, apply_token_bitmask_inplace
from .limits import DEFAULT_LIMITS, Limits
from .mask_cache.grammar_cache import GrammarCache, GrammaskCacheWarning
from .matcher import Matcher, fill_next_token_bitmask_batch
from .samplers import ASApTrie, SampleResult, SamplerError, sample
from .tokenizer_info import TokenizerInfo, TokenKind

__version__ = "0.1.0"

__all__ = [
    "BitmaskError", "CompiledCFG", "GrammarCache", "GrammaskCacheWarning", "CompiledGrammar", "DEFAULT_LIMITS", "GrammarError", "GrammaskError",
    "InvalidTokenError", "LimitExceededError", "Limits", "Matcher", "MatcherError", "SchemaError",
    "TokenKind", "TokenizerError", "TokenizerInfo", "allocate_token_bitmask",
    "apply_token_bitmask_inplace", "compile_grammar", "compile_json_schema", "compile_regex", "fill_next_token_bitmask_batch",
    "__version__", "ASApTrie", "SampleResult", "SamplerError", "sample", "GenerationResult", "GrammaskLogitsProcessor", "generate",
]


def __getattr__(name: str):
    """transformers helpers load on first use (they import torch and transformers)."""
    if name in ("generate", "GrammaskLogitsProcessor", "GenerationResult"):
        from .integrations import transformers as _hf
        return getattr(_hf, name)
    raise AttributeError(f"module 'grammask' has no attribute {name!r}")
