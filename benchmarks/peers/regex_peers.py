"""Regex-engine adapters for ``benchmarks/regex_masks.py``: grammask, xgrammar, outlines-core.

Every adapter exposes the same small surface so the benchmark loop is identical for all engines:

* ``setup(ctx)`` - the engine's one-off tokenizer preprocessing (grammask ``TokenizerInfo``,
  xgrammar ``TokenizerInfo`` + ``GrammarCompiler``, outlines-core ``Vocabulary``). The benchmark
  times it once and reports it as ``tokenizer_ms``; it is *not* part of any per-pattern compile.
* ``compile(pattern)`` - the per-pattern compile that is timed.
* ``memory_bytes(compiled)`` - the engine's own size report, or ``None`` (then the benchmark
  uses the process RSS delta and says so).
* ``new_matcher(compiled)``, ``accept(matcher, token_id)``.
* ``allocate_bitmask()`` -> ``(native, view)``: the buffer in the engine's native type, and an
  int32 numpy ``[1, ceil(V/32)]`` view sharing its memory (used for checking bits and clearing).
* ``fill_call(matcher, native)`` -> ``(fn, args)``: the benchmark times exactly ``fn(*args)``,
  which is the engine's public mask-filling entry point, bound directly (no adapter frame).

Bit layout for all engines: bit ``i % 32`` of int32 word ``i // 32`` set = token ``i`` allowed.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from functools import cached_property
from typing import Any, Callable

import numpy as np

DEFAULT_TOKENIZER_DIR = "/work/shared/tokenizers/llama3"


class TokenizerContext:
    """What every adapter may use to build its tokenizer info; loaded once, outside timings."""

    def __init__(self, tokenizer_dir: str, vocab_size: int, eos_token_ids: list[int]):
        self.tokenizer_dir = tokenizer_dir
        self.tokenizer_json = os.path.join(tokenizer_dir, "tokenizer.json")
        self.vocab_size = vocab_size
        self.eos_token_ids = list(eos_token_ids)

    @cached_property
    def fast_tokenizer(self):
        """``tokenizers.Tokenizer`` (used for encoding the benchmark strings too)."""
        from tokenizers import Tokenizer

        return Tokenizer.from_file(self.tokenizer_json)

    @cached_property
    def hf_tokenizer(self):
        """A transformers tokenizer (xgrammar's ``TokenizerInfo.from_huggingface`` wants one)."""
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.tokenizer_dir)

    @cached_property
    def special_token_ids(self) -> set[int]:
        return {i for i, t in self.fast_tokenizer.get_added_tokens_decoder().items() if t.special}

    def encode(self, text: str) -> list[int]:
        return self.fast_tokenizer.encode(text, add_special_tokens=False).ids


def _dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class EngineAdapter:
    name: str = "?"
    dist_name: str = "?"

    def available(self) -> tuple[bool, str]:
        """(ok, reason). Must not do expensive work."""
        raise NotImplementedError

    def version(self) -> str:
        return _dist_version(self.dist_name)

    def setup(self, ctx: TokenizerContext) -> None:
        raise NotImplementedError

    def compile(self, pattern: str) -> Any:
        raise NotImplementedError

    def memory_bytes(self, compiled: Any) -> int | None:
        return None

    def serialized_bytes(self, compiled: Any) -> int | None:
        """Size of the engine's own serialized form, where that is the only size hint (extra)."""
        return None

    def new_matcher(self, compiled: Any) -> Any:
        raise NotImplementedError

    def accept(self, matcher: Any, token_id: int) -> bool:
        raise NotImplementedError

    def allocate_bitmask(self) -> tuple[Any, np.ndarray]:
        raise NotImplementedError

    def fill_call(self, matcher: Any, native: Any) -> tuple[Callable[..., Any], tuple]:
        raise NotImplementedError

    def describe(self) -> str:
        """One line naming the API calls used (for the report)."""
        return ""


class GrammaskAdapter(EngineAdapter):
    name = "grammask"
    dist_name = "grammask"
    _REQUIRED = ("TokenizerInfo", "compile_regex", "Matcher", "allocate_token_bitmask")

    def available(self) -> tuple[bool, str]:
        try:
            gm = importlib.import_module("grammask")
        except Exception as e:  # noqa: BLE001 - any import failure means "skip"
            return False, f"import grammask failed: {type(e).__name__}: {e}"
        missing = [a for a in self._REQUIRED if not hasattr(gm, a)]
        if missing:
            return False, f"grammask lacks {', '.join(missing)} (library not finished yet?)"
        self._gm = gm
        return True, ""

    def version(self) -> str:
        v = getattr(getattr(self, "_gm", None), "__version__", None)
        return v or _dist_version(self.dist_name)

    def __init__(self, precompute: bool = False):
        # precompute=False is grammask's default: per-state masks are built lazily on first use,
        # so part of the work shows up in mask latency (p99/max) instead of compile time.
        self.precompute = precompute

    def setup(self, ctx: TokenizerContext) -> None:
        self.tok = self._gm.TokenizerInfo.from_pretrained(
            ctx.tokenizer_dir, vocab_size=ctx.vocab_size, eos_token_ids=ctx.eos_token_ids
        )
        self.vocab_size = int(getattr(self.tok, "vocab_size", ctx.vocab_size))

    def compile(self, pattern: str) -> Any:
        if self.precompute:
            return self._gm.compile_regex(pattern, self.tok, precompute=True)
        return self._gm.compile_regex(pattern, self.tok)

    def memory_bytes(self, compiled: Any) -> int | None:
        return int(compiled.memory_bytes())

    def new_matcher(self, compiled: Any) -> Any:
        return self._gm.Matcher(compiled)

    def accept(self, matcher: Any, token_id: int) -> bool:
        return bool(matcher.accept_token(token_id))

    def allocate_bitmask(self) -> tuple[Any, np.ndarray]:
        bm = self._gm.allocate_token_bitmask(1, self.vocab_size)
        return bm, np.asarray(bm).view(np.int32)

    def fill_call(self, matcher: Any, native: Any) -> tuple[Callable[..., Any], tuple]:
        return matcher.fill_next_token_bitmask, (native, 0)

    def describe(self) -> str:
        return (
            "TokenizerInfo.from_pretrained(dir, vocab_size, eos_token_ids); "
            f"compile_regex(p, tok{', precompute=True' if self.precompute else ''}); "
            "Matcher(cg); allocate_token_bitmask(1, V); m.fill_next_token_bitmask(bm, 0); "
            "m.accept_token(t); memory = cg.memory_bytes()"
        )


class XGrammarAdapter(EngineAdapter):
    name = "xgrammar"
    dist_name = "xgrammar"

    def __init__(self, max_threads: int | None = None):
        # None = xgrammar's own default (8 threads for the per-pattern mask-cache build).
        self.max_threads = max_threads

    def available(self) -> tuple[bool, str]:
        try:
            self._xgr = importlib.import_module("xgrammar")
        except Exception as e:  # noqa: BLE001
            return False, f"import xgrammar failed: {type(e).__name__}: {e}"
        return True, ""

    def setup(self, ctx: TokenizerContext) -> None:
        xgr = self._xgr
        hf = ctx.hf_tokenizer  # loaded by the benchmark before the timer starts
        self.tokenizer_info = xgr.TokenizerInfo.from_huggingface(
            hf, vocab_size=ctx.vocab_size, stop_token_ids=ctx.eos_token_ids
        )
        kwargs: dict[str, Any] = {"cache_enabled": False}  # every compile is a real compile
        if self.max_threads is not None:
            kwargs["max_threads"] = self.max_threads
        self.compiler = xgr.GrammarCompiler(self.tokenizer_info, **kwargs)
        self.vocab_size = ctx.vocab_size

    def compile(self, pattern: str) -> Any:
        return self.compiler.compile_regex(pattern)

    def memory_bytes(self, compiled: Any) -> int | None:
        return int(compiled.memory_size_bytes)

    def new_matcher(self, compiled: Any) -> Any:
        return self._xgr.GrammarMatcher(compiled)

    def accept(self, matcher: Any, token_id: int) -> bool:
        return bool(matcher.accept_token(token_id))

    def allocate_bitmask(self) -> tuple[Any, np.ndarray]:
        bm = self._xgr.allocate_token_bitmask(1, self.vocab_size)  # CPU torch.int32 tensor
        return bm, bm.numpy()  # shares memory

    def fill_call(self, matcher: Any, native: Any) -> tuple[Callable[..., Any], tuple]:
        return matcher.fill_next_token_bitmask, (native, 0)

    def describe(self) -> str:
        return (
            "TokenizerInfo.from_huggingface(hf_tok, vocab_size, stop_token_ids); "
            "GrammarCompiler(info, cache_enabled=False).compile_regex(p); GrammarMatcher(cg); "
            "allocate_token_bitmask(1, V) (torch); m.fill_next_token_bitmask(bm, 0); "
            "m.accept_token(t); memory = cg.memory_size_bytes"
        )


def _byte_level_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode: byte-level token char -> raw byte."""
    from grammask.tokenizer_info import bytes_to_unicode
    return {c: b for b, c in bytes_to_unicode().items()}


class OutlinesCoreAdapter(EngineAdapter):
    name = "outlines-core"
    dist_name = "outlines_core"

    def available(self) -> tuple[bool, str]:
        try:
            self._oc = importlib.import_module("outlines_core")
        except Exception as e:  # noqa: BLE001
            return False, f"import outlines_core failed: {type(e).__name__}: {e}"
        if not hasattr(self._oc.Guide, "write_mask_into"):
            return False, "outlines_core.Guide has no write_mask_into (unsupported version)"
        return True, ""

    def setup(self, ctx: TokenizerContext) -> None:
        # Vocabulary.from_pretrained needs the Hub; build the same thing from the local file:
        # byte-level token strings decoded to raw bytes, special tokens left out, one EOS.
        # outlines-core supports exactly one EOS id: use the first one (128001 for Llama-3);
        # the benchmark's EOS check accepts any of the configured EOS ids.
        dec = _byte_level_decoder()
        special = ctx.special_token_ids
        eos = ctx.eos_token_ids
        mapping: dict[bytes, list[int]] = {}
        for tok, tid in ctx.fast_tokenizer.get_vocab(with_added_tokens=False).items():
            if tid >= ctx.vocab_size or tid in special or tid in eos:
                continue
            mapping.setdefault(bytes(dec[c] for c in tok), []).append(tid)
        self.vocabulary = self._oc.Vocabulary(eos[0], mapping)
        self.vocab_size = ctx.vocab_size

    def compile(self, pattern: str) -> Any:
        return self._oc.Index(pattern, self.vocabulary)

    def memory_bytes(self, compiled: Any) -> int | None:
        return None  # no size report in its API -> RSS delta

    def serialized_bytes(self, compiled: Any) -> int | None:
        # Index pickles to its bincode form: a lower bound on what the index holds in memory.
        import pickle

        return len(pickle.dumps(compiled))

    def new_matcher(self, compiled: Any) -> Any:
        return self._oc.Guide(compiled)

    def accept(self, matcher: Any, token_id: int) -> bool:
        try:
            matcher.advance(token_id, return_tokens=False)
        except ValueError:
            return False
        return True

    def allocate_bitmask(self) -> tuple[Any, np.ndarray]:
        bm = np.zeros((1, (self.vocab_size + 31) // 32), dtype=np.int32)
        return bm, bm

    def fill_call(self, matcher: Any, native: np.ndarray) -> tuple[Callable[..., Any], tuple]:
        # Guide.write_mask_into(ptr, numel, itemsize) zeroes the buffer and sets allowed bits;
        # this is the raw call behind outlines_core.kernels.numpy.fill_next_token_bitmask,
        # minus its Python-side argument checks (done once here).
        assert native.dtype == np.int32 and native.flags["C_CONTIGUOUS"]
        return matcher.write_mask_into, (native.ctypes.data, native.size, native.itemsize)

    def describe(self) -> str:
        return (
            "Vocabulary(eos_id, {token_bytes: [ids]}); Index(p, vocab); Guide(index); "
            "guide.write_mask_into(ptr, numel, 4); guide.advance(t, return_tokens=False); "
            "memory = RSS delta (extra: pickled Index size as serialized_mb)"
        )


ADAPTERS: dict[str, Callable[[], EngineAdapter]] = {
    "grammask": GrammaskAdapter,
    "xgrammar": XGrammarAdapter,
    "outlines-core": OutlinesCoreAdapter,
}
