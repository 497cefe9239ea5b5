"""vLLM adapters, tested against vLLM 0.32's interfaces without vLLM installed (its PyPI wheel is a
CUDA 13 build that cannot load on CPU-only torch; see grammask/integrations/vllm.py).

The interface tables below are vLLM 0.32.0's abstract methods (vllm/v1/structured_output/
backend_types.py and vllm/v1/sample/logits_processor/interface.py); where vLLM is importable the
real ABCs are checked too. The requests are driven the way vLLM's scheduler and GPU model runner
drive them: compile per request, accept sampled tokens, validate/rollback speculative drafts, fill
one row of a shared bitmask; for the logits processor, BatchUpdates (removed, added, moved) and
the live output-token lists."""
from __future__ import annotations

import enum
import importlib.util
import inspect
import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from grammask import Matcher, TokenizerInfo
from grammask.integrations import vllm as gv

GRAMMAR_METHODS = {"accept_tokens": ["request_id", "tokens"], "validate_tokens": ["tokens"],
                   "rollback": ["num_tokens"], "fill_bitmask": ["bitmask", "batch_index"],
                   "is_terminated": [], "reset": []}
BACKEND_METHODS = {"compile_grammar": ["request_type", "grammar_spec", "stop_token_ids"],
                   "allocate_token_bitmask": ["max_num_seqs"], "destroy": []}
LOGITSPROC_METHODS = {"__init__": ["vllm_config", "device", "is_pin_memory"], "apply": ["logits"],
                      "is_argmax_invariant": [], "update_state": ["batch_update"]}


class StructuredOutputOptions(enum.Enum):      # vLLM's enum, same member names
    JSON = enum.auto()
    JSON_OBJECT = enum.auto()
    REGEX = enum.auto()
    GRAMMAR = enum.auto()
    CHOICE = enum.auto()
    STRUCTURAL_TAG = enum.auto()


class MoveDirectionality(enum.Enum):
    UNIDIRECTIONAL = enum.auto()
    SWAP = enum.auto()


@dataclass(frozen=True)
class BatchUpdate:
    batch_size: int
    removed: list = field(default_factory=list)
    added: list = field(default_factory=list)
    moved: list = field(default_factory=list)


@dataclass
class SamplingParams:
    extra_args: dict | None = None


def _info() -> TokenizerInfo:
    words = [b"{", b"}", b"\"", b":", b",", b" ", b"a", b"b", b"name", b"age", b"1", b"2", b"3",
             b"yes", b"no", b"x", b"(", b")", b"-", b"true", b"false", b"[", b"]", b"null"]
    vocab = [None, None] + words + [bytes([c]) for c in range(32, 127)]
    return TokenizerInfo(vocab, eos_token_ids=[1], special_token_ids=[0], vocab_size=len(vocab) + 5)


INFO = _info()


def _encode(text: str) -> list[int]:
    """Greedy longest-match over the toy vocabulary."""
    out, data = [], text.encode()
    while data:
        best = max((i for i, b in enumerate(INFO.token_bytes) if b and data.startswith(b)),
                   key=lambda i: len(INFO.token_bytes[i]))
        out.append(best)
        data = data[len(INFO.token_bytes[best]):]
    return out


def _params(cls: type, name: str) -> list[str]:
    return [p for p in inspect.signature(getattr(cls, name)).parameters if p != "self"]


@pytest.mark.parametrize("cls,table", [(gv.GrammaskGrammar, GRAMMAR_METHODS),
                                       (gv.GrammaskBackend, BACKEND_METHODS),
                                       (gv.GrammaskVllmLogitsProcessor, LOGITSPROC_METHODS)])
def test_implements_vllm_interface(cls: type, table: dict) -> None:
    for name, params in table.items():
        assert _params(cls, name)[: len(params)] == params, name


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm not installed (CUDA-only wheel on PyPI)")
def test_registered_with_real_vllm_abcs() -> None:
    assert gv.VLLM_REGISTRATION_ERROR is None, gv.VLLM_REGISTRATION_ERROR
    from vllm.v1.sample.logits_processor import LogitsProcessor
    from vllm.v1.structured_output.backend_types import StructuredOutputBackend, StructuredOutputGrammar
    assert issubclass(gv.GrammaskGrammar, StructuredOutputGrammar)
    assert issubclass(gv.GrammaskBackend, StructuredOutputBackend)
    assert issubclass(gv.GrammaskVllmLogitsProcessor, LogitsProcessor)
    for abc, cls in ((StructuredOutputGrammar, gv.GrammaskGrammar),
                     (StructuredOutputBackend, gv.GrammaskBackend),
                     (LogitsProcessor, gv.GrammaskVllmLogitsProcessor)):
        for name in abc.__abstractmethods__:
            assert callable(getattr(cls, name, None)), name


def _backend() -> gv.GrammaskBackend:
    return gv.GrammaskBackend(vllm_config=None, tokenizer=INFO, vocab_size=INFO.vocab_size)


def _row_allowed(bitmask: torch.Tensor, row: int) -> set[int]:
    bits = np.unpackbits(bitmask[row].numpy().view(np.uint8), bitorder="little")[: INFO.vocab_size]
    return set(np.flatnonzero(bits).tolist())


def test_structured_output_request_lifecycle() -> None:
    """A JSON request as vLLM's scheduler runs it: compile, bitmask row, accept sampled tokens,
    validate + rollback a speculative draft, terminate on the stop token, reset."""
    backend = _backend()
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"],
              "additionalProperties": False}
    g = backend.compile_grammar(StructuredOutputOptions.JSON, json.dumps(schema), stop_token_ids={1})
    bitmask = backend.allocate_token_bitmask(4)
    assert bitmask.dtype == torch.int32 and bitmask.shape == (4, (INFO.vocab_size + 31) // 32)
    ref = Matcher(g.compiled)
    g.fill_bitmask(bitmask, 2)
    assert _row_allowed(bitmask, 2) == set(ref.allowed_token_ids().tolist())

    text = _encode('{"age":12}')
    assert g.accept_tokens("req-0", text[:3])
    assert g.num_processed_tokens == 3
    # speculative draft: the rest, EOS, then junk past EOS -> accepted prefix ends at EOS
    draft = text[3:] + [1] + _encode("x")
    assert g.validate_tokens(draft) == text[3:] + [1]
    assert g.num_processed_tokens == 3 and not g.is_terminated()     # validate does not advance
    assert g.validate_tokens(_encode("x")) == []
    assert g.validate_tokens([INFO.vocab_size + 100]) == []          # out of range: rejected, no raise
    assert g.accept_tokens("req-0", text[3:])
    g.rollback(2)
    assert g.num_processed_tokens == len(text) - 2
    assert g.accept_tokens("req-0", text[-2:] + [1])
    assert g.is_terminated()
    g.fill_bitmask(bitmask, 0)
    assert _row_allowed(bitmask, 0) == {1}                            # only the stop token
    assert g.accept_tokens("req-0", _encode("x"))                     # tokens past EOS are ignored
    g.reset()
    assert not g.is_terminated() and g.num_processed_tokens == 0
    assert not g.accept_tokens("req-0", _encode("x"))                 # rejected: reported, not raised


@pytest.mark.parametrize("kind,spec,good,bad", [
    (StructuredOutputOptions.REGEX, r"\(\d{3}\)-\d{2}", "(123)-45", "(12)"),
    (StructuredOutputOptions.CHOICE, json.dumps(["yes", "no", "a(b)"]), "a(b)", "maybe"),
    (StructuredOutputOptions.GRAMMAR, 'root ::= "[" ("a" | "b")* "]"', "[abba]", "[ac]"),
    (StructuredOutputOptions.GRAMMAR, 'start: "x" NUM\nNUM: /[0-9]+/', "x123", "xx"),
    (StructuredOutputOptions.JSON_OBJECT, "", '{"a":[1,true,null]}', "[1]"),
])
def test_request_types(kind: Any, spec: str, good: str, bad: str) -> None:
    g = _backend().compile_grammar(kind, spec, stop_token_ids={1})
    assert g.accept_tokens("r", _encode(good) + [1]) and g.is_terminated()
    g.reset()
    assert g.validate_tokens(_encode(bad) + [1]) != _encode(bad) + [1]


def test_structural_tag_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="STRUCTURAL_TAG"):
        _backend().compile_grammar(StructuredOutputOptions.STRUCTURAL_TAG, "{}")


def test_backend_stop_tokens_become_the_grammars_eos() -> None:
    g = _backend().compile_grammar(StructuredOutputOptions.REGEX, "ab", stop_token_ids={0, 1})
    assert set(g.compiled.tokenizer_info.eos_token_ids) == {0, 1}
    assert g.accept_tokens("r", _encode("ab") + [0]) and g.is_terminated()


def test_logits_processor_follows_the_persistent_batch() -> None:
    """Three requests (two constrained) added, decoded, moved, swapped and removed the way vLLM's
    InputBatch reports it; the masked rows must always equal a reference matcher's mask."""
    proc = gv.GrammaskVllmLogitsProcessor(None, torch.device("cpu"), False, tokenizer_info=INFO)
    gv.GrammaskVllmLogitsProcessor.validate_params(SamplingParams({"grammask": {"regex": "[ab]+"}}))
    with pytest.raises(ValueError):
        gv.GrammaskVllmLogitsProcessor.validate_params(SamplingParams({"grammask": {"regex": "a", "grammar": "b"}}))
    assert not proc.is_argmax_invariant()

    out = {"r0": [], "r1": [], "r2": []}
    specs = {"r0": {"regex": r"\d{3}"}, "r1": None, "r2": {"choice": ["yes", "no"]}}
    proc.update_state(BatchUpdate(3, added=[
        (0, SamplingParams({"grammask": specs["r0"]}), [5, 6], out["r0"]),
        (1, SamplingParams(None), [5], out["r1"]),
        (2, SamplingParams({"grammask": specs["r2"]}), [7], out["r2"]),
    ]))
    refs = {"r0": Matcher(proc.rows[0].matcher.compiled), "r2": Matcher(proc.rows[2].matcher.compiled)}
    where = {"r0": 0, "r1": 1, "r2": 2}
    rng = np.random.default_rng(0)

    def step() -> None:
        logits = torch.from_numpy(rng.standard_normal((3, INFO.vocab_size)).astype(np.float32))
        res = proc.apply(logits.clone())
        for req, row in where.items():
            finite = set(torch.nonzero(torch.isfinite(res[row])).flatten().tolist())
            if req in refs:
                assert finite == set(refs[req].allowed_token_ids().tolist()), req
                tok = int(torch.argmax(res[row]))
                if tok not in INFO.eos_token_ids:
                    assert refs[req].accept_token(tok)
                    out[req].append(tok)
            else:
                assert len(finite) == INFO.vocab_size          # untouched row
                out[req].append(int(torch.argmax(res[row])))
        proc.update_state(None)

    step()
    # swap rows 0 and 2, as vLLM's condense/reorder does
    proc.update_state(BatchUpdate(3, moved=[(0, 2, MoveDirectionality.SWAP)]))
    where["r0"], where["r2"] = 2, 0
    step()
    # r1 finishes; r0 moves into its slot (unidirectional)
    proc.update_state(BatchUpdate(2, removed=[1], moved=[(2, 1, MoveDirectionality.UNIDIRECTIONAL)]))
    del where["r1"]
    where["r0"] = 1
    logits = torch.zeros(2, INFO.vocab_size)
    res = proc.apply(logits)
    assert set(torch.nonzero(torch.isfinite(res[1])).flatten().tolist()) == set(refs["r0"].allowed_token_ids().tolist())
    assert set(torch.nonzero(torch.isfinite(res[0])).flatten().tolist()) == set(refs["r2"].allowed_token_ids().tolist())
    assert re.fullmatch(r"\d{1,3}", INFO.decode_bytes(out["r0"]).decode())


def test_logits_processor_without_constrained_requests_is_a_no_op() -> None:
    proc = gv.GrammaskVllmLogitsProcessor(None, torch.device("cpu"), False, tokenizer_info=INFO)
    proc.update_state(BatchUpdate(1, added=[(0, SamplingParams(None), [1], [])]))
    logits = torch.randn(1, INFO.vocab_size)
    assert torch.equal(proc.apply(logits.clone()), logits)
