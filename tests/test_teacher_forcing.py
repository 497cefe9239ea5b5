"""Teacher forcing on real vocabularies: matching strings are accepted token by token (every
token allowed by the mask), non-matching ones are rejected exactly at the first bad token."""
from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import grammask
from grammask import Matcher, compile_regex

from tokenizers_fixture import load_test_encoder, load_test_tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from regex_patterns import PATTERNS, matching_strings  # noqa: E402

TOKENIZERS = ["llama3", "qwen2", "llama2-spm", "mistral-tekken", "gpt2"]


def mask_bits(m: Matcher, vocab_size: int) -> np.ndarray:
    bm = grammask.allocate_token_bitmask(1, vocab_size)
    m.fill_next_token_bitmask(bm)
    return np.unpackbits(bm.view(np.uint8), bitorder="little")[:vocab_size].astype(bool)


@pytest.mark.parametrize("name", TOKENIZERS)
def test_matching_strings_accepted(name: str) -> None:
    tok = load_test_tokenizer(name)
    encode = load_test_encoder(name)
    lead = _leading_space(name)
    for pname, pattern in PATTERNS.items():
        cg = compile_regex(lead + f"(?:{pattern})", tok)
        for text in matching_strings(pname, 4, seed=3):
            if lead and not text:
                continue  # SentencePiece encodes "" as no tokens, without its leading space
            ids = encode(text)
            assert tok.decode_bytes(ids) == (lead + text).encode()
            m = Matcher(cg)
            for i, t in enumerate(ids):
                assert mask_bits(m, tok.vocab_size)[t], f"{pname}: token {i} of {text!r} masked"
                assert m.accept_token(t)
            bits = mask_bits(m, tok.vocab_size)
            assert all(bits[e] for e in tok.eos_token_ids)
            assert m.accept_token(tok.eos_token_ids[0]) and m.is_terminated()


def _corrupt(text: str, rng: random.Random) -> str:
    i = rng.randrange(len(text) + 1)
    return text[:i] + rng.choice(['"', "Z", "é", "\n", "#", "中"]) + text[i:]


@pytest.mark.parametrize("name", ["llama3", "llama2-spm"])
def test_non_matching_rejected_at_first_bad_token(name: str) -> None:
    tok = load_test_tokenizer(name)
    encode = load_test_encoder(name)
    rng = random.Random(5)
    checked = 0
    lead = _leading_space(name)
    for pname, pattern in PATTERNS.items():
        cg = compile_regex(lead + f"(?:{pattern})", tok)
        rx = re.compile(pattern)
        for text in matching_strings(pname, 3, seed=9):
            bad = _corrupt(text, rng)
            if rx.fullmatch(bad):
                continue
            ids = encode(bad)
            m = Matcher(cg)
            prefix = b""
            for t in ids:
                piece = tok.token_bytes[t]
                live = _is_live_prefix(cg, prefix + piece)
                assert mask_bits(m, tok.vocab_size)[t] == live
                assert m.accept_token(t) == live
                if not live:
                    break
                prefix += piece
            else:
                assert not m.can_terminate()  # a live but incomplete prefix
            checked += 1
    assert checked > 10


def _leading_space(name: str) -> str:
    """SentencePiece encoders prefix the text with a space (▁); the grammar then expects it."""
    return " " if name == "llama2-spm" else ""


def _is_live_prefix(cg: grammask.CompiledGrammar, data: bytes) -> bool:
    """Independent of the matcher's walk: the DFA's own byte-by-byte simulation."""
    return cg.dfa.is_live_prefix(data)


UNICODE_TEXTS = [
    "naïve café – déjà vu", "東京都渋谷区 1-2-3", "emoji 👩‍👩‍👧‍👦 and 🇯🇵 flags", "עברית ومرحبا",
    "combining e\u0301 and \u00a0nbsp", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math 𝟙𝟚𝟛", "tab\tand newline\n ok",
]


@pytest.mark.parametrize("name", TOKENIZERS)
def test_unicode_split_tokens(name: str) -> None:
    """Byte-level vocabularies split CJK and emoji into partial-UTF-8 tokens; each must pass."""
    tok = load_test_tokenizer(name)
    encode = load_test_encoder(name)
    lead = _leading_space(name)
    for pattern in (r'[^"]{0,200}', r'"([^"\\]|\\.)*"', r"[\s\S]*[😀-🙏👦-👩]?[\s\S]*"):
        cg = compile_regex(lead + f"(?:{pattern})", tok)
        for text in UNICODE_TEXTS:
            text = f'"{text}"' if pattern.startswith('"') else text
            ids = encode(text)
            m = Matcher(cg)
            for t in ids:
                assert mask_bits(m, tok.vocab_size)[t]
                assert m.accept_token(t)
            assert m.can_terminate()
