"""Next-token distribution sources: one interface over a transformers causal LM and over any
callable ``logprobs(prefix_ids) -> array``.

Why one interface: every sampler here (GCD, ASAp, AWRS, SMC) and the exact reference in
``benchmarks/sampler_fidelity.py`` only ever ask "what is the next-token distribution after
prompt + these generated tokens?", often for many continuations of one prompt at once (SMC
particles, a breadth-first enumeration). `LanguageModel.logprobs_batch(prompt, continuations)`
is that question; a toy callable answers it exactly (tests with hand-computable
distributions), a transformers model answers it with a KV cache shared by all continuations.

`TransformersLM` keeps the prompt's ``past_key_values`` once and grows a *tree* of generated
tokens behind it in the same cache: every continuation token is appended once, attends to the
prompt and to its own ancestors only (a custom 4-D attention mask) and gets the position id
its depth implies. So the logits of a continuation are exactly those of running prompt +
continuation from scratch, SMC particles that share a prefix share its keys and values (a
resampled particle costs nothing: its cache is its tree path, so "forking" a cache is free), and
all the new leaves of one step go through the model in one batched forward pass. The tree is
dropped (back to the prompt's cache) when it exceeds ``max_tree_tokens``; a later request then
recomputes the ancestors it needs.
"""
from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import SamplerError

__all__ = ["CachedLM", "CallableLM", "LanguageModel", "TransformersLM", "as_language_model"]

Ids = tuple[int, ...]


class LanguageModel(ABC):
    """A source of next-token scores.

    ``vocab_size`` is the width of the score vectors (None: learnt from the first call).
    `logprobs_batch` returns, for each continuation, a 1-D array of log-probabilities or of
    unnormalised logits over the vocabulary after ``prompt + continuation`` (the samplers
    normalise and apply the temperature themselves)."""

    vocab_size: int | None = None

    @abstractmethod
    def logprobs_batch(self, prompt: Ids, continuations: Sequence[Ids]) -> list[np.ndarray]:
        """Scores after ``prompt + c`` for every ``c`` in ``continuations``."""

    def logprobs(self, prompt: Ids, continuation: Ids = ()) -> np.ndarray:
        """Scores after ``prompt + continuation``."""
        return self.logprobs_batch(tuple(prompt), [tuple(continuation)])[0]

    def encode(self, text: str) -> list[int]:
        """Token ids of a text prompt. Only models that carry a tokenizer can do this."""
        raise SamplerError(f"{type(self).__name__} has no tokenizer: pass the prompt as a list "
                           f"of token ids")


class CallableLM(LanguageModel):
    """Wraps ``fn(prefix_ids) -> array`` (log-probabilities or logits over the vocabulary after
    the full prefix: prompt ids followed by generated ids).

    encode: optional ``text -> ids`` so `sample` can take a string prompt."""

    def __init__(self, fn: Callable[[list[int]], Any], *, vocab_size: int | None = None,
                 encode: Callable[[str], Sequence[int]] | None = None) -> None:
        if not callable(fn):
            raise SamplerError(f"CallableLM needs a callable, got {type(fn).__name__}")
        self.fn = fn
        self.vocab_size = vocab_size
        self._encode = encode
        self.calls = 0

    def logprobs_batch(self, prompt: Ids, continuations: Sequence[Ids]) -> list[np.ndarray]:
        out = []
        for c in continuations:
            self.calls += 1
            out.append(np.asarray(self.fn(list(prompt) + list(c))))
        return out

    def encode(self, text: str) -> list[int]:
        if self._encode is None:
            return super().encode(text)
        return [int(t) for t in self._encode(text)]


class TransformersLM(LanguageModel):
    """A transformers causal LM with a prompt KV cache and a tree of continuations behind it
    (see the module docstring).

    tokenizer: a transformers tokenizer, for string prompts (``tokenizer(text)["input_ids"]``,
    i.e. with the model's own BOS convention).
    max_tree_tokens: continuation tokens kept in the cache before it is reset to the prompt.
    batch_tokens: most continuation tokens per forward pass.
    Counters: ``forward_calls``, ``forward_tokens`` (continuation tokens run), ``prefills``."""

    def __init__(self, model: Any, tokenizer: Any = None, *, max_tree_tokens: int = 4096,
                 batch_tokens: int = 128) -> None:
        try:
            import torch  # noqa: F401
        except ImportError as exc:  # pragma: no cover - torch is an optional extra
            raise SamplerError("TransformersLM needs torch") from exc
        if max_tree_tokens < 1 or batch_tokens < 1:
            raise SamplerError("max_tree_tokens and batch_tokens must be >= 1")
        self.model = model
        self.tokenizer = tokenizer
        out_emb = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        self.vocab_size = int(out_emb.weight.shape[0]) if out_emb is not None \
            else int(model.config.vocab_size)
        self.max_tree_tokens = max_tree_tokens
        self.batch_tokens = batch_tokens
        self._prompt: Ids | None = None
        self._base: Any = None              # the prompt's cache, kept to reset the tree
        self._cache: Any = None             # prompt + tree tokens
        self._prompt_logits: np.ndarray | None = None
        self._slot: dict[Ids, int] = {}     # continuation -> cache position of its last token
        self.forward_calls = 0
        self.forward_tokens = 0
        self.prefills = 0

    def encode(self, text: str) -> list[int]:
        if self.tokenizer is None:
            return super().encode(text)
        return list(self.tokenizer(text)["input_ids"])

    # -- cache management ----------------------------------------------------------------------
    def _device(self) -> Any:
        return next(self.model.parameters()).device

    def _prefill(self, prompt: Ids) -> None:
        import torch

        if not prompt:
            raise SamplerError("a transformers LM needs at least one prompt token (e.g. BOS)")
        with torch.no_grad():
            out = self.model(input_ids=torch.tensor([list(prompt)], device=self._device()),
                             use_cache=True, logits_to_keep=1)
        self.prefills += 1
        self._prompt = prompt
        self._base = out.past_key_values
        self._cache = copy.deepcopy(self._base)
        self._prompt_logits = out.logits[0, -1].float().cpu().numpy()
        self._slot = {}

    def _reset_tree(self) -> None:
        self._cache = copy.deepcopy(self._base)
        self._slot = {}

    def clear_tree(self) -> None:
        """Forget every continuation (keep the prompt's cache): the next queries pay for their
        tokens again, as a fresh run would (benchmarks time methods this way)."""
        if self._base is not None:
            self._reset_tree()

    def _cache_len(self) -> int:
        return int(self._cache.get_seq_length())

    # -- queries -------------------------------------------------------------------------------
    def logprobs_batch(self, prompt: Ids, continuations: Sequence[Ids]) -> list[np.ndarray]:
        prompt = tuple(int(t) for t in prompt)
        conts = [tuple(int(t) for t in c) for c in continuations]
        if prompt != self._prompt:
            self._prefill(prompt)
        assert self._prompt_logits is not None
        wanted = {c for c in conts if c}
        if sum(len(c) for c in wanted) and \
                self._cache_len() - len(prompt) + self._needed_count(wanted) > self.max_tree_tokens:
            self._reset_tree()
        logits = self._run(wanted)
        return [self._prompt_logits if not c else logits[c] for c in conts]

    def _needed_count(self, wanted: set[Ids]) -> int:
        need = set(wanted)
        for c in wanted:
            for j in range(1, len(c)):
                if c[:j] not in self._slot:
                    need.add(c[:j])
        return len(need)

    def _run(self, wanted: set[Ids]) -> dict[Ids, np.ndarray]:
        """Append every wanted continuation (and its missing ancestors) to the tree; return
        the logits after each wanted one."""
        import torch

        need = set(wanted)
        for c in wanted:
            for j in range(1, len(c)):
                if c[:j] not in self._slot:
                    need.add(c[:j])
        order = sorted(need, key=lambda c: (len(c), c))   # parents before children
        result: dict[Ids, np.ndarray] = {}
        plen = len(self._prompt or ())
        dev = self._device()
        dtype = next(self.model.parameters()).dtype
        neg = torch.finfo(dtype).min if dtype.is_floating_point else -1e9
        for start in range(0, len(order), self.batch_tokens):
            chunk = order[start:start + self.batch_tokens]
            past = self._cache_len()
            q = len(chunk)
            pos_of = {c: past + k for k, c in enumerate(chunk)}
            mask = torch.full((1, 1, q, past + q), neg, dtype=dtype)
            mask[..., :plen] = 0
            for k, c in enumerate(chunk):
                cols = [pos_of[c]]
                for j in range(1, len(c)):
                    p = self._slot.get(c[:j])
                    cols.append(pos_of[c[:j]] if p is None else p)
                mask[0, 0, k, cols] = 0
            ids = torch.tensor([[c[-1] for c in chunk]], device=dev)
            positions = torch.tensor([[plen + len(c) - 1 for c in chunk]], device=dev)
            keep = [k for k, c in enumerate(chunk) if c in wanted]
            with torch.no_grad():
                out = self.model(input_ids=ids, attention_mask=mask.to(dev),
                                 position_ids=positions, past_key_values=self._cache,
                                 use_cache=True,
                                 logits_to_keep=torch.tensor(keep, dtype=torch.long, device=dev))
            self._cache = out.past_key_values
            self.forward_calls += 1
            self.forward_tokens += q
            rows = out.logits[0].float().cpu().numpy()
            for r, k in enumerate(keep):
                result[chunk[k]] = rows[r]
            self._slot.update(pos_of)
        return result


class CachedLM(LanguageModel):
    """Memoises another `LanguageModel`'s scores by (prompt, continuation) across `sample`
    calls (each call already memoises within itself), least recently used first out.

    Why: repeated calls on one prompt (ASAp refining its trie call after call, comparing
    methods, an exact enumeration followed by sampling) ask for the same prefixes again; a
    model forward pass costs far more than a lookup. Scores are kept as float32
    (V = 49,152: 197 KB each). max_bytes: memo budget."""

    def __init__(self, inner: LanguageModel, *, max_bytes: int = 2 << 30) -> None:
        self.inner = inner
        self.vocab_size = inner.vocab_size
        self.max_bytes = int(max_bytes)
        self._memo: OrderedDict[tuple[Ids, Ids], np.ndarray] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def encode(self, text: str) -> list[int]:
        return self.inner.encode(text)

    def logprobs_batch(self, prompt: Ids, continuations: Sequence[Ids]) -> list[np.ndarray]:
        prompt = tuple(prompt)
        keys = [(prompt, tuple(c)) for c in continuations]
        missing = list(dict.fromkeys(k for k in keys if k not in self._memo))
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        if missing:
            for k, s in zip(missing, self.inner.logprobs_batch(prompt, [k[1] for k in missing])):
                arr = np.asarray(s, dtype=np.float32).reshape(-1)
                arr.setflags(write=False)
                self._memo[k] = arr
                self._bytes += arr.nbytes
        out = []
        for k in keys:
            self._memo.move_to_end(k)
            out.append(self._memo[k])
        while self._bytes > self.max_bytes and len(self._memo) > len(keys):
            _, old = self._memo.popitem(last=False)
            self._bytes -= old.nbytes
        return out

    def clear(self) -> None:
        self._memo.clear()
        self._bytes = 0


def as_language_model(obj: Any, tokenizer: Any = None) -> LanguageModel:
    """A `LanguageModel` from a `LanguageModel`, a transformers model (``tokenizer`` for string
    prompts) or a callable ``logprobs(prefix_ids) -> array``."""
    if isinstance(obj, LanguageModel):
        return obj
    if hasattr(obj, "config") and hasattr(obj, "forward") and hasattr(obj, "parameters"):
        return TransformersLM(obj, tokenizer)
    if callable(obj):
        encode = getattr(tokenizer, "encode", tokenizer) if tokenizer is not None else None
        return CallableLM(obj, encode=encode)
    raise SamplerError(f"cannot use {type(obj).__name__} as a language model: pass a "
                       f"transformers causal LM, a callable logprobs(prefix_ids) -> array, or "
                       f"a grammask.samplers.LanguageModel")
