"""The README's first command: compile a regex against the Llama-3 vocabulary and sample a
constrained string from random logits, showing that every sampled token keeps the text inside
the language (a real model replaces the random logits in the integrations)."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from .compiler import compile_regex
from .kernels import allocate_token_bitmask, apply_token_bitmask_inplace
from .matcher import Matcher

DEFAULT_PATTERN = (r"(?:[A-Z][a-z]{2,9} ){1,2}<[a-z]{3,10}@[a-z]{3,10}\.(?:com|org|net)>, "
                   r"born (?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])")


def run_demo(pattern: str | None = None, seed: int = 0, max_tokens: int = 160,
             tokenizer: Any = None) -> str:
    """Sample one constrained string and print what happened; returns the text."""
    from .default_tokenizer import default_tokenizer
    tok = tokenizer if tokenizer is not None else default_tokenizer()
    pattern = pattern or DEFAULT_PATTERN
    compiled = compile_regex(pattern, tok)
    print(f"pattern    : {pattern}")
    print(f"tokenizer  : {tok.vocab_size} ids, kind {tok.decoder_kind}, eos {list(tok.eos_token_ids)}")
    print(f"compile    : {compiled.compile_seconds * 1e3:.1f} ms, "
          f"{compiled.dfa.num_states} DFA states")
    text, ids, mask_us = _sample(compiled, tok, np.random.default_rng(seed), max_tokens)
    pieces = [tok.token_bytes[i].decode("utf-8", "replace") if tok.token_bytes[i] else "<eos>"
              for i in ids]
    print(f"tokens     : {len(ids)}  {pieces}")
    print(f"text       : {text}")
    import re
    print(f"re.fullmatch agrees: {re.fullmatch(pattern, text) is not None}")
    print(f"mask fill  : median {np.median(mask_us):.1f} us, max {np.max(mask_us):.1f} us "
          f"over {len(mask_us)} masks (first use of a state included)")
    return text


def _sample(compiled: Any, tok: Any, rng: np.random.Generator,
            max_tokens: int) -> tuple[str, list[int], list[float]]:
    matcher = Matcher(compiled)
    bitmask = allocate_token_bitmask(1, tok.vocab_size)
    ids: list[int] = []
    mask_us: list[float] = []
    while len(ids) < max_tokens and not matcher.is_terminated():
        logits = rng.standard_normal((1, tok.vocab_size)).astype(np.float32) * 3.0
        t0 = time.perf_counter()
        matcher.fill_next_token_bitmask(bitmask)
        mask_us.append((time.perf_counter() - t0) * 1e6)
        apply_token_bitmask_inplace(logits, bitmask)
        probs = np.exp(logits[0] - logits[0].max())
        token = int(rng.choice(tok.vocab_size, p=probs / probs.sum()))
        if not matcher.accept_token(token):
            raise AssertionError(f"sampled token {token} was not accepted")
        ids.append(token)
    text = tok.decode_bytes(ids).decode("utf-8", "replace")
    return text, ids, mask_us
