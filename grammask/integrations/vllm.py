"""vLLM (v1 engine) adapters, written against vLLM 0.32's interfaces; vLLM itself is imported lazily.

vLLM offers two seams, and grammask fills both:

* **Structured-output backend** (`vllm/v1/structured_output/backend_types.py`):
  `GrammaskBackend` is a `StructuredOutputBackend` (``compile_grammar(request_type, grammar_spec,
  stop_token_ids)``, ``allocate_token_bitmask(max_num_seqs)``, ``destroy()``) and
  `GrammaskGrammar` a `StructuredOutputGrammar` (``accept_tokens``, ``validate_tokens``,
  ``rollback``, ``fill_bitmask``, ``is_terminated``, ``reset``). vLLM 0.32 picks its backend from a
  closed list (``StructuredOutputsConfig.backend`` is a ``Literal``), so wiring this one in means
  patching `StructuredOutputManager`; the classes are the exact contract such a patch needs.
* **Custom logits processor** (`vllm/v1/sample/logits_processor/interface.py`), vLLM's plugin
  interface: ``LLM(model, logits_processors=[GrammaskVllmLogitsProcessor])`` (or the FQCN
  ``"grammask.integrations.vllm:GrammaskVllmLogitsProcessor"``). A request opts in with
  ``SamplingParams(extra_args={"grammask": {"json_schema": {...}}})`` (or ``"regex"``,
  ``"grammar"``, ``"choice"``); other requests are untouched. The processor follows the persistent
  batch through `BatchUpdate` (added / removed / moved rows) and reads each request's running
  output-token list to advance its matcher.

vLLM checks ``issubclass(cls, LogitsProcessor)``; when vLLM is importable the classes here are
registered as virtual subclasses of its ABCs on import (`VLLM_REGISTRATION_ERROR` says why not,
otherwise). Why vLLM is not installed in grammask's own environment: the PyPI wheel is a CUDA 13
build (its ``_C`` extensions link ``libtorch_cuda.so``, ``libcudart.so.13`` and ``libcuda.so.1``),
vLLM's CPU wheels are not published on PyPI, and the tests run on CPU-only torch.
"""
from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidTokenError
from ..kernels import apply_token_bitmask_inplace, bitmask_words
from ..matcher import Matcher, fill_next_token_bitmask_batch
from ..tokenizer_info import TokenizerInfo

__all__ = [
    "EXTRA_ARGS_KEY",
    "VLLM_REGISTRATION_ERROR",
    "GrammaskBackend",
    "GrammaskGrammar",
    "GrammaskVllmLogitsProcessor",
    "compile_request",
]

EXTRA_ARGS_KEY = "grammask"
_KINDS = ("json_schema", "regex", "grammar", "choice")


def compile_request(info: TokenizerInfo, request_type: Any, grammar_spec: str,
                    **json_options: Any) -> Any:
    """Compile one vLLM structured-output request. `request_type` is vLLM's
    `StructuredOutputOptions` (or anything whose ``.name`` is JSON, JSON_OBJECT, REGEX, GRAMMAR or
    CHOICE); `grammar_spec` is the string vLLM passes (schema JSON, pattern, EBNF/Lark/GBNF text,
    or a JSON list of choices)."""
    from ..compiler import compile_grammar, compile_json_schema, compile_regex

    name = getattr(request_type, "name", str(request_type)).upper()
    if name == "JSON":
        return compile_json_schema(json.loads(grammar_spec) if isinstance(grammar_spec, str)
                                   else grammar_spec, info, **json_options)
    if name == "JSON_OBJECT":
        return compile_json_schema({"type": "object"}, info, **json_options)
    if name == "REGEX":
        return compile_regex(grammar_spec, info)
    if name == "GRAMMAR":
        return compile_grammar(grammar_spec, info)
    if name == "CHOICE":
        choices = json.loads(grammar_spec) if isinstance(grammar_spec, str) else list(grammar_spec)
        return compile_regex("|".join(re.escape(str(c)) for c in choices), info)
    raise ValueError(f"grammask does not support structured-output request type {name} "
                     f"(supported: JSON, JSON_OBJECT, REGEX, GRAMMAR, CHOICE)")


# --------------------------------------------------------------------------------------------
# StructuredOutputGrammar / StructuredOutputBackend

class GrammaskGrammar:
    """vLLM `StructuredOutputGrammar`: one request's matcher.

    Tokens after termination are ignored (vLLM may hand over tokens past EOS in one batch);
    `num_processed_tokens` counts accepted tokens as vLLM's own backends do, so `rollback` (for
    rejected speculative tokens) keeps it exact."""

    def __init__(self, compiled: Any, *, max_rollback_tokens: int | None = None) -> None:
        self.compiled = compiled
        self.matcher = Matcher(compiled, max_rollback_tokens=max_rollback_tokens)
        self.vocab_size = compiled.tokenizer_info.vocab_size
        self.num_processed_tokens = 0

    def accept_tokens(self, request_id: str, tokens: list[int]) -> bool:
        """Advance by every token; False (state left after the last good token) if one is rejected."""
        for token in tokens:
            if self.matcher.is_terminated():
                return True
            try:
                ok = self.matcher.accept_token(int(token))
            except InvalidTokenError:
                ok = False
            if not ok:
                return False
            self.num_processed_tokens += 1
        return True

    def validate_tokens(self, tokens: list[int]) -> list[int]:
        """The longest accepted prefix of `tokens` (speculative drafts), without advancing."""
        if self.matcher.is_terminated():
            return []
        tokens = [int(t) for t in tokens]
        in_range = next((i for i, t in enumerate(tokens) if not 0 <= t < self.vocab_size), len(tokens))
        n = self.matcher.validate_tokens(tokens[:in_range])
        # nothing may follow a stop token
        for i, t in enumerate(tokens[:n]):
            if t in self.compiled.tokenizer_info.eos_token_ids:
                return tokens[: i + 1]
        return tokens[:n]

    def rollback(self, num_tokens: int) -> None:
        self.matcher.rollback(num_tokens)
        self.num_processed_tokens -= num_tokens

    def fill_bitmask(self, bitmask: Any, batch_index: int) -> None:
        """Row `batch_index` of vLLM's CPU int32 bitmask (a torch tensor)."""
        self.matcher.fill_next_token_bitmask(bitmask, batch_index)

    def is_terminated(self) -> bool:
        return self.matcher.is_terminated()

    def reset(self) -> None:
        self.matcher.reset()
        self.num_processed_tokens = 0

    def find_jump_forward_string(self) -> str:
        """The text the grammar forces next (for jump-forward decoding)."""
        return self.matcher.find_jump_forward_string()


@dataclass
class GrammaskBackend:
    """vLLM `StructuredOutputBackend`: compiles requests against the engine's tokenizer.

    The tokenizer's `TokenizerInfo` is built once per set of stop tokens (vLLM passes each
    request's EOS + user stop ids, which the grammar must allow only where the text may end)."""

    vllm_config: Any
    tokenizer: Any
    vocab_size: int
    _infos: dict = field(default_factory=dict, repr=False)

    def tokenizer_info(self, stop_token_ids: Iterable[int] | None = None) -> TokenizerInfo:
        from .models import tokenizer_info_for

        stops = tuple(sorted({int(t) for t in stop_token_ids or ()}))
        if stops not in self._infos:
            if isinstance(self.tokenizer, TokenizerInfo):
                base = self.tokenizer
                if not stops or set(stops) == set(base.eos_token_ids):
                    self._infos[stops] = base
                else:
                    self._infos[stops] = TokenizerInfo(list(base.token_bytes), eos_token_ids=list(stops),
                                                       vocab_size=base.vocab_size,
                                                       special_token_ids=base.special_token_ids,
                                                       decoder_kind=base.decoder_kind)
            else:
                self._infos[stops] = tokenizer_info_for(self.tokenizer, vocab_size=self.vocab_size,
                                                        eos_token_ids=list(stops) or None)
        return self._infos[stops]

    def _json_options(self) -> dict[str, Any]:
        cfg = getattr(self.vllm_config, "structured_outputs_config", None)
        if cfg is not None and not getattr(cfg, "disable_any_whitespace", True):
            return {"whitespace": "flexible"}
        return {}

    def compile_grammar(self, request_type: Any, grammar_spec: str,
                        stop_token_ids: set[int] | None = None) -> GrammaskGrammar:
        info = self.tokenizer_info(stop_token_ids)
        compiled = compile_request(info, request_type, grammar_spec, **(
            self._json_options() if getattr(request_type, "name", "") in ("JSON", "JSON_OBJECT") else {}))
        return GrammaskGrammar(compiled)

    def allocate_token_bitmask(self, max_num_seqs: int) -> Any:
        import torch
        return torch.full((max_num_seqs, bitmask_words(self.vocab_size)), -1, dtype=torch.int32)

    def destroy(self) -> None:
        self._infos.clear()


# --------------------------------------------------------------------------------------------
# v1 custom logits processor

@dataclass
class _Row:
    matcher: Matcher
    output: list[int]           # vLLM's running output-token list (a live reference)
    consumed: int = 0
    dead: bool = False


class GrammaskVllmLogitsProcessor:
    """vLLM v1 `LogitsProcessor` constraining the requests whose ``SamplingParams.extra_args``
    carry ``{"grammask": {"json_schema" | "regex" | "grammar" | "choice": ...}}``.

    ``__init__(vllm_config, device, is_pin_memory)`` is vLLM's constructor. `tokenizer_info` may be
    given directly (tests, or engines that already have one); otherwise it is built from the model's
    tokenizer and vocabulary size on first use."""

    def __init__(self, vllm_config: Any, device: Any, is_pin_memory: bool,
                 tokenizer_info: TokenizerInfo | None = None) -> None:
        self.vllm_config = vllm_config
        self.device = device
        self.is_pin_memory = is_pin_memory
        self._info = tokenizer_info
        self.rows: dict[int, _Row] = {}
        self._bitmask: Any = None

    # -- vLLM hooks ---------------------------------------------------------------------------------
    @classmethod
    def validate_params(cls, sampling_params: Any) -> None:
        spec = _request_spec(sampling_params)
        if spec is not None and (len(spec) != 1 or next(iter(spec)) not in _KINDS):
            raise ValueError(f"extra_args[{EXTRA_ARGS_KEY!r}] must have exactly one of {_KINDS}, "
                             f"got {sorted(spec)}")

    def is_argmax_invariant(self) -> bool:
        return False        # masking changes the argmax

    def update_state(self, batch_update: Any) -> None:
        """Apply vLLM's batch changes in its documented order: removed, added, moved."""
        if not batch_update:
            return
        for index in batch_update.removed:
            self.rows.pop(index, None)
        for index, params, _prompt_ids, output_ids in batch_update.added:
            spec = _request_spec(params)
            self.rows.pop(index, None)
            if spec is not None:
                self.rows[index] = _Row(Matcher(self._compile(spec)), output_ids)
        for a, b, direction in batch_update.moved:
            ra, rb = self.rows.pop(a, None), self.rows.pop(b, None)
            if ra is not None:
                self.rows[b] = ra
            if rb is not None and getattr(direction, "name", str(direction)).upper().endswith("SWAP"):
                self.rows[a] = rb

    def apply(self, logits: Any) -> Any:
        """Advance every constrained row by its new output tokens, then mask its logits row."""
        if not self.rows:
            return logits
        import torch

        info = self._tokenizer_info()
        words = bitmask_words(info.vocab_size)
        if self._bitmask is None or self._bitmask.shape[0] < logits.shape[0]:
            self._bitmask = torch.full((max(logits.shape[0], 8), words), -1, dtype=torch.int32,
                                       pin_memory=bool(self.is_pin_memory))
        live, idx = [], []
        eos_only = np.zeros(words, dtype=np.uint32)
        for e in info.eos_token_ids:
            eos_only[e >> 5] |= np.uint32(1 << (e & 31))
        rows_np = self._bitmask.numpy().view(np.uint32)
        for index, row in sorted(self.rows.items()):
            self._advance(row)
            if row.dead:
                rows_np[index] = eos_only
            else:
                live.append(row.matcher)
                idx.append(index)
        if live:
            fill_next_token_bitmask_batch(live, self._bitmask, idx)
        sel = sorted(self.rows)
        mask = self._bitmask[sel]
        if logits.device.type != "cpu":
            mask = mask.to(logits.device, non_blocking=True)
        apply_token_bitmask_inplace(logits, mask, sel)
        return logits

    # -- internals ----------------------------------------------------------------------------------
    def _advance(self, row: _Row) -> None:
        new = row.output[row.consumed:]
        row.consumed = len(row.output)
        for t in new:
            if row.dead or row.matcher.is_terminated():
                return
            try:
                ok = row.matcher.accept_token(int(t))
            except InvalidTokenError:
                ok = False
            row.dead = not ok

    def _tokenizer_info(self) -> TokenizerInfo:
        if self._info is None:
            from transformers import AutoTokenizer

            from .models import tokenizer_info_for
            mc = self.vllm_config.model_config
            tok = AutoTokenizer.from_pretrained(mc.tokenizer, trust_remote_code=mc.trust_remote_code)
            self._info = tokenizer_info_for(tok, vocab_size=int(mc.get_vocab_size()))
        return self._info

    def _compile(self, spec: dict) -> Any:
        (kind, value), = spec.items()
        name = {"json_schema": "JSON", "regex": "REGEX", "grammar": "GRAMMAR", "choice": "CHOICE"}[kind]
        text = json.dumps(value) if kind in ("json_schema", "choice") and not isinstance(value, str) else value
        return compile_request(self._tokenizer_info(), _Name(name), text)


@dataclass(frozen=True)
class _Name:
    name: str


def _request_spec(params: Any) -> dict | None:
    extra = getattr(params, "extra_args", None) or {}
    spec = extra.get(EXTRA_ARGS_KEY)
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise ValueError(f"extra_args[{EXTRA_ARGS_KEY!r}] must be a dict, got {type(spec).__name__}")
    return spec


# --------------------------------------------------------------------------------------------
# Registration with vLLM's ABCs (only when vLLM is installed; importing it is heavy).

VLLM_REGISTRATION_ERROR: str | None = "vllm is not installed"


def _register_with_vllm() -> None:
    global VLLM_REGISTRATION_ERROR
    if importlib.util.find_spec("vllm") is None:
        return
    try:
        from vllm.v1.sample.logits_processor import LogitsProcessor
        from vllm.v1.structured_output.backend_types import StructuredOutputBackend, StructuredOutputGrammar
    except Exception as exc:  # a broken install (e.g. a CUDA build on a CPU-only torch)
        VLLM_REGISTRATION_ERROR = f"importing vllm failed: {type(exc).__name__}: {exc}"
        return
    LogitsProcessor.register(GrammaskVllmLogitsProcessor)
    StructuredOutputGrammar.register(GrammaskGrammar)
    StructuredOutputBackend.register(GrammaskBackend)
    VLLM_REGISTRATION_ERROR = None


_register_with_vllm()
