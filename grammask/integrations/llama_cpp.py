"""llama-cpp-python integration: a ``logits_processor`` that constrains ``Llama`` completions.

llama-cpp-python calls each processor as ``fn(input_ids, scores) -> scores`` before sampling, with
``input_ids`` every token evaluated so far (prompt included) and ``scores`` the next-token logits
(a strided float32 view into llama.cpp's candidate array, in id order). The processor keeps one
`Matcher`: on its first call it records the prompt length, on later calls it accepts the tokens
that were appended since, then masks the scores.

The vocabulary comes from llama.cpp itself (`tokenizer_info_from_llama`): the bytes of every id
(``llama_token_to_piece`` with special tokens rendered, so byte-level and SentencePiece vocabularies
both come out as the bytes the token stands for), control/unknown/unused ids as special, and every
end-of-generation id (``llama_vocab_is_eog``) as a stop token, because that is what makes
``Llama.generate`` stop.

Usage::

    from llama_cpp import Llama, LogitsProcessorList
    from grammask.integrations.llama_cpp import logits_processor
    llm = Llama(model_path, n_ctx=2048)
    out = llm.create_chat_completion(messages, logits_processor=LogitsProcessorList(
        [logits_processor(llm, json_schema=MyModel)]), temperature=0)

Create one processor per completion (it follows one sequence).
"""
from __future__ import annotations

import ctypes
import weakref
from typing import Any

import numpy as np

from ..errors import GrammaskError
from ..kernels import apply_token_bitmask_inplace, bitmask_words
from ..matcher import Matcher
from ..tokenizer_info import TokenizerInfo

__all__ = ["GrammaskLlamaLogitsProcessor", "logits_processor", "tokenizer_info_from_llama"]

_INFO_CACHE: weakref.WeakKeyDictionary[Any, TokenizerInfo] = weakref.WeakKeyDictionary()


def tokenizer_info_from_llama(llm: Any) -> TokenizerInfo:
    """`TokenizerInfo` of a `llama_cpp.Llama`'s vocabulary (cached per model object)."""
    model = getattr(llm, "_model", llm)
    try:
        return _INFO_CACHE[model]
    except (KeyError, TypeError):
        pass
    import llama_cpp

    vocab = model.vocab
    n = int(llama_cpp.llama_vocab_n_tokens(vocab))
    skip = (llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
            | llama_cpp.LLAMA_TOKEN_ATTR_UNUSED | llama_cpp.LLAMA_TOKEN_ATTR_UNDEFINED)
    size = 256
    buf = ctypes.create_string_buffer(size)
    token_bytes: list[bytes | None] = []
    specials, eog = [], []
    for i in range(n):
        attr = int(llama_cpp.llama_vocab_get_attr(vocab, i))
        if llama_cpp.llama_vocab_is_eog(vocab, i):
            eog.append(i)
        if attr & skip:
            token_bytes.append(None)
            specials.append(i)
            continue
        k = llama_cpp.llama_token_to_piece(vocab, i, buf, size, 0, True)
        if k < 0:       # longer than the buffer: -k bytes needed
            big = ctypes.create_string_buffer(-k)
            k = llama_cpp.llama_token_to_piece(vocab, i, big, -k, 0, True)
            token_bytes.append(big.raw[:k])
        else:
            token_bytes.append(buf.raw[:k])
    if not eog:
        eog = [int(llama_cpp.llama_vocab_eos(vocab))]
    kind = "sentencepiece" if int(llama_cpp.llama_vocab_type(vocab)) == llama_cpp.LLAMA_VOCAB_TYPE_SPM \
        else "byte_level"
    n_logits = int(llm.n_vocab()) if hasattr(llm, "n_vocab") else n
    info = TokenizerInfo(token_bytes, eos_token_ids=eog, vocab_size=max(n, n_logits),
                         special_token_ids=specials, decoder_kind=kind)
    try:
        _INFO_CACHE[model] = info
    except TypeError:
        pass
    return info


class GrammaskLlamaLogitsProcessor:
    """``fn(input_ids, scores) -> scores`` for ``Llama(..., logits_processor=[fn])`` calls.

    One processor follows one completion. `forced_text()` exposes the grammar-forced continuation
    (llama.cpp has no batched jump-forward hook; callers driving `Llama.eval` themselves can use it)."""

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
        self.matcher = Matcher(compiled, max_rollback_tokens=0)
        self.vocab_size = compiled.tokenizer_info.vocab_size
        self._bitmask = np.full((1, bitmask_words(self.vocab_size)), -1, dtype=np.int32)
        self._consumed: int | None = None
        self.rejected = False

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        n = len(input_ids)
        if self._consumed is None:
            self._consumed = n            # the prompt
        elif n > self._consumed:
            for t in input_ids[self._consumed:n].tolist():
                if self.matcher.is_terminated() or self.rejected:
                    break
                if not self.matcher.accept_token(int(t)):
                    self.rejected = True
            self._consumed = n
        if self.rejected:
            raise GrammaskError("llama.cpp sampled a token the grammar forbids (another sampler or "
                                "processor changed the scores after grammask's mask?)")
        if scores.shape[-1] < self.vocab_size:
            raise GrammaskError(f"scores have {scores.shape[-1]} columns, the vocabulary {self.vocab_size}")
        self.matcher.fill_next_token_bitmask(self._bitmask)
        out = scores if scores.flags.c_contiguous and scores.flags.writeable \
            else np.ascontiguousarray(scores, dtype=np.float32)
        apply_token_bitmask_inplace(out.reshape(1, -1), self._bitmask)
        return out

    def forced_text(self) -> str:
        return self.matcher.find_jump_forward_string()

    def is_terminated(self) -> bool:
        return self.matcher.is_terminated()


def logits_processor(llm: Any, *, json_schema: Any = None, regex: str | None = None,
                     grammar: Any = None, compiled: Any = None,
                     **compile_options: Any) -> GrammaskLlamaLogitsProcessor:
    """A processor for one completion of `llm` under exactly one of `json_schema` (dict / JSON text /
    Pydantic model), `regex`, `grammar` (Lark / GBNF) or an already `compiled` grammar (compiled
    against `tokenizer_info_from_llama(llm)`)."""
    if compiled is None:
        compiled = _compile(tokenizer_info_from_llama(llm), json_schema, regex, grammar, compile_options)
    return GrammaskLlamaLogitsProcessor(compiled)


def _compile(info: TokenizerInfo, json_schema: Any, regex: str | None, grammar: Any,
             options: dict) -> Any:
    from ..compiler import compile_grammar, compile_json_schema, compile_regex

    given = [x for x in (json_schema, regex, grammar) if x is not None]
    if len(given) != 1:
        raise GrammaskError("give exactly one of json_schema=, regex=, grammar=")
    if json_schema is not None:
        return compile_json_schema(json_schema, info, **{"additional_properties": False, **options})
    if regex is not None:
        return compile_regex(regex, info, **options)
    return compile_grammar(grammar, info, **options)
