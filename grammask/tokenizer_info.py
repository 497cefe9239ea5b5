"""`TokenizerInfo`: the exact bytes of every token id of a tokenizer.

A grammar engine works on bytes, a model emits token ids; `TokenizerInfo` is the bridge. It
records, for every id below the model's logits width (`vocab_size`), what the token *means*
as a byte string, and classifies each id:

* ``TokenKind.TEXT``     -- a token that stands for a non-empty byte string;
* ``TokenKind.SPECIAL``  -- a control token (BOS/EOS/UNK, chat markers, added special tokens),
  every EOS id, and any token whose byte string is empty (it could never make progress
  through a grammar, so it is never allowed as text);
* ``TokenKind.PADDING``  -- an id the tokenizer does not define: ids past the tokenizer in a
  wider logits matrix (Qwen2: 151,851 tokens, 151,936 logits) and holes in the id space
  (tiktoken cl100k has no ids 100256, 100261..100275).

Token bytes are the bytes the token stands for inside a text, which is what the tokenizer's
*encoder* produced them from:

* byte-level BPE (GPT-2, Llama-3, Qwen2, Mistral Tekken, DeepSeek): each character of the
  vocabulary string is one byte through GPT-2's bytes<->unicode table (``Ġ`` -> ``b" "``);
* SentencePiece-style (Llama-2, Gemma, T5): ``▁`` -> ``b" "``, byte-fallback pieces ``<0xNN>``
  -> that single byte.  The decoder's "strip the leading space" rule concerns decoding a whole
  sequence, not the token: ``▁Hello`` is ``b" Hello"``.  So the concatenated bytes of an
  encoded text start with the space the encoder prepended (``" " + text``);
* tiktoken: the mergeable ranks are bytes already;
* added tokens: ``special=True`` -> SPECIAL; ``special=False`` -> TEXT, their content's UTF-8
  (added tokens are matched in the raw text, so they are *not* passed through the byte table);
* "raw": no byte-level or SentencePiece scheme detected: the vocabulary strings' UTF-8 (assumes a
  concatenative vocabulary). WordPiece / BPEDecoder / CTC pipelines, whose tokens do not
  concatenate to the text, raise `TokenizerError`: build ``TokenizerInfo(token_bytes, ...)``.

Control tokens (``<s> </s> <unk>``, the model's unk token) and special added tokens are SPECIAL;
so are tokens listed as special in tokenizer_config.json / by transformers when they are added
tokens. Duplicate byte strings across ids are fine (Llama-2's ``<0x20>`` and ``▁``).

The kind of a ``tokenizers`` tokenizer is detected from its decoder / pre-tokenizer /
normalizer / model configuration, never from its name.

``vocab_size`` (the logits width) defaults to the tokenizer size.  It may be larger (the extra
ids are PADDING).  It may be *smaller* only when every dropped id is special or undefined:
Llama-3's tokenizer.json defines 128,257 tokens but the model has 128,256 logits; the last one
(``<|endoftext|>``, id 128256) is special and simply dropped.  Dropping a text token is an error.

EOS ids: an explicit ``eos_token_ids`` always wins.  Otherwise they are read from the
tokenizer's configuration (``eos_token_id`` of a transformers tokenizer, tokenizer_config.json
``eos_token``, and ``eos_token_id`` -- an int or a list -- of generation_config.json / config.json
next to it, all of them together); configured ids that fall outside ``vocab_size`` are ignored.
When none is found a `TokenizerError` asks for ``eos_token_ids``.

Errors: inconsistent inputs raise `TokenizerError`; an id outside ``[0, vocab_size)`` given to
`token_to_bytes`/`decode_bytes` raises `InvalidTokenError` (an ``IndexError``).

``transformers`` and ``tokenizers`` are optional and imported lazily; without ``tokenizers``,
`from_pretrained` reads tokenizer.json as plain JSON.
"""
from __future__ import annotations

import enum
import hashlib
import itertools
import json
import os
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidTokenError, TokenizerError

__all__ = ["TokenKind", "TokenizerInfo", "DECODER_KINDS", "bytes_to_unicode"]

DECODER_KINDS = ("byte_level", "sentencepiece", "tiktoken", "raw")


class TokenKind(enum.IntEnum):
    """Classification of a token id. EOS ids are SPECIAL."""

    TEXT = 0
    SPECIAL = 1
    PADDING = 2


# --------------------------------------------------------------------------------------------
# Byte-level (GPT-2) table


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


_BYTE_ENCODER = bytes_to_unicode()
_BYTE_DECODER = {c: b for b, c in _BYTE_ENCODER.items()}
# str.translate table: a table character -> the latin-1 character of its byte; a code point
# <= 0xFF that is NOT a table character -> U+FFFF so that the latin-1 encode fails (characters
# above 0xFF that are not in the table fail by themselves).
_BL_TRANSLATE: dict[int, str] = {cp: "\uffff" for cp in range(256)}
_BL_TRANSLATE.update({ord(c): chr(b) for c, b in _BYTE_DECODER.items()})


def _byte_level_bytes(piece: str) -> bytes:
    try:
        return piece.translate(_BL_TRANSLATE).encode("latin-1")
    except UnicodeEncodeError:
        # Same rule as the `tokenizers` ByteLevel decoder: a string with a character outside
        # the table stands for its own UTF-8.
        return piece.encode("utf-8")


_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def _looks_byte_level(pieces: Iterable[str]) -> bool:
    """Heuristic for vocabularies without configuration (generic transformers tokenizers)."""
    total = bad = marker = 0
    for p in pieces:
        total += 1
        if "Ġ" in p or "Ċ" in p:
            marker += 1
        if any(c not in _BYTE_DECODER for c in p):
            bad += 1
    return total > 0 and marker > 0 and bad <= total // 1000


# --------------------------------------------------------------------------------------------
# Configuration of a `tokenizers` tokenizer, independent of how it was loaded


class _HFSpec:
    """What TokenizerInfo needs from a tokenizer.json (or a live `tokenizers.Tokenizer`)."""

    def __init__(self, vocab: Mapping[str, int], added: list[tuple[int, str, bool]], model: dict,
                 decoder: Any, pre_tokenizer: Any, normalizer: Any, source: str,
                 duplicates: Sequence[tuple[str, int]] = ()) -> None:
        self.vocab = vocab  # piece -> id
        self.duplicates = list(duplicates)  # (piece, id) of pieces that occur at several ids
        self.added = added
        self.model = model
        self.decoder = decoder
        self.pre_tokenizer = pre_tokenizer
        self.normalizer = normalizer
        self.source = source

    @classmethod
    def from_json(cls, j: dict, source: str) -> _HFSpec:
        if not isinstance(j, dict) or not isinstance(j.get("model"), dict):
            raise TokenizerError(f"{source}: not a tokenizer.json (no 'model' object)")
        model = dict(j["model"])
        raw_vocab = model.pop("vocab", None)
        model.pop("merges", None)
        mtype = model.get("type")
        if mtype is None:  # very old files omit the type; infer it
            mtype = "Unigram" if isinstance(raw_vocab, list) else "BPE"
            model["type"] = mtype
        if isinstance(raw_vocab, list):  # Unigram: [[piece, score], ...], id = index
            vocab = {}
            duplicates = []
            for i, entry in enumerate(raw_vocab):
                piece = entry[0] if isinstance(entry, (list, tuple)) else entry
                if not isinstance(piece, str):
                    raise TokenizerError(f"{source}: malformed vocabulary entry {i}: {entry!r}")
                if vocab.setdefault(piece, i) != i:
                    duplicates.append((piece, i))
        elif isinstance(raw_vocab, dict):
            vocab, duplicates = raw_vocab, []
        else:
            raise TokenizerError(f"{source}: model has no vocabulary")
        added = []
        for a in j.get("added_tokens") or []:
            try:
                added.append((int(a["id"]), str(a["content"]), bool(a.get("special", False))))
            except (KeyError, TypeError, ValueError) as e:
                raise TokenizerError(f"{source}: malformed added_tokens entry {a!r}") from e
        return cls(vocab, added, model, j.get("decoder"), j.get("pre_tokenizer"), j.get("normalizer"),
                   source, duplicates)

    def items(self) -> list[tuple[str, int]]:
        return [*self.vocab.items(), *self.duplicates]

    @classmethod
    def from_tokenizer(cls, tk: Any, source: str) -> _HFSpec:
        model_obj = tk.model
        mtype = type(model_obj).__name__
        if mtype == "BPE":  # avoid serialising 100k+ merges: read the attributes
            model = {"type": "BPE", "byte_fallback": bool(getattr(model_obj, "byte_fallback", False)),
                     "unk_token": model_obj.unk_token,
                     "continuing_subword_prefix": model_obj.continuing_subword_prefix,
                     "end_of_word_suffix": model_obj.end_of_word_suffix}
            vocab = tk.get_vocab(with_added_tokens=False)
        else:
            state = json.loads(model_obj.__getstate__())
            return cls.from_json({"model": state,
                                  "added_tokens": _added_from_tokenizer(tk),
                                  "decoder": _state(tk.decoder),
                                  "pre_tokenizer": _state(tk.pre_tokenizer),
                                  "normalizer": _state(tk.normalizer)}, source)
        return cls(vocab, [(a["id"], a["content"], a["special"]) for a in _added_from_tokenizer(tk)],
                   model, _state(tk.decoder), _state(tk.pre_tokenizer), _state(tk.normalizer), source)


def _state(component: Any) -> Any:
    if component is None:
        return None
    try:
        return json.loads(component.__getstate__())
    except Exception:  # pragma: no cover - exotic custom components
        return None


def _added_from_tokenizer(tk: Any) -> list[dict]:
    return [{"id": int(i), "content": str(t.content), "special": bool(t.special)}
            for i, t in tk.get_added_tokens_decoder().items()]


def _flatten(node: Any, key: str) -> list[dict]:
    """The steps of a (possibly nested) Sequence decoder/pre-tokenizer/normalizer."""
    if not isinstance(node, dict):
        return []
    if node.get("type") == "Sequence":
        out: list[dict] = []
        for sub in node.get(key) or []:
            out.extend(_flatten(sub, key))
        return out
    return [node]


class _Converter:
    """Maps a vocabulary string to its bytes, per the detected decoding scheme."""

    def __init__(self, kind: str, replaces: list[tuple[str, str]] = (), byte_fallback: bool = False):
        self.kind = kind
        self.replaces = list(replaces)
        self.byte_fallback = byte_fallback

    def convert_all(self, items: Iterable[tuple[str, int]], out: list) -> None:
        """out[i] = bytes of piece, for every (piece, i) in items."""
        if self.kind == "byte_level":
            items = list(items)
            pieces = [p for p, _ in items]
            try:  # fast path: the whole vocabulary in one translate/encode (1 char = 1 byte)
                blob = "".join(pieces).translate(_BL_TRANSLATE).encode("latin-1")
            except UnicodeEncodeError:
                conv = _byte_level_bytes
                for piece, i in items:
                    out[i] = conv(piece)
                return
            ends = list(itertools.accumulate(map(len, pieces)))
            for (_, i), start, end in zip(items, [0, *ends], ends):
                out[i] = blob[start:end]
            return
        replaces = self.replaces
        bf = self.byte_fallback
        match = _BYTE_PIECE.fullmatch
        for piece, i in items:
            if bf and len(piece) == 6:
                m = match(piece)
                if m is not None:
                    out[i] = bytes((int(m.group(1), 16),))
                    continue
            for pat, rep in replaces:
                piece = piece.replace(pat, rep)
            out[i] = piece.encode("utf-8")


def _detect_scheme(spec: _HFSpec) -> _Converter:
    model = spec.model
    mtype = model.get("type")
    src = spec.source
    if mtype == "WordPiece":
        raise TokenizerError(
            f"{src}: WordPiece tokenizers (BERT-style '##' continuations) do not map tokens to exact "
            "bytes; build TokenizerInfo(token_bytes, ...) from an explicit list instead")
    if mtype == "BPE" and (model.get("continuing_subword_prefix") or model.get("end_of_word_suffix")):
        raise TokenizerError(
            f"{src}: BPE with continuing_subword_prefix/end_of_word_suffix "
            f"({model.get('continuing_subword_prefix')!r}/{model.get('end_of_word_suffix')!r}) is not "
            "a concatenative vocabulary; build TokenizerInfo(token_bytes, ...) from an explicit list")
    byte_fallback = bool(model.get("byte_fallback"))
    dec = _flatten(spec.decoder, "decoders")
    dec_types = [d.get("type") for d in dec]
    pre = _flatten(spec.pre_tokenizer, "pretokenizers")
    pre_types = [p.get("type") for p in pre]
    norm = _flatten(spec.normalizer, "normalizers")

    for bad in ("WordPiece", "BPEDecoder", "CTC"):
        if bad in dec_types:
            raise TokenizerError(
                f"{src}: the {bad} decoder does not map tokens to exact bytes by concatenation; "
                "build TokenizerInfo(token_bytes, ...) from an explicit list instead")
    if "ByteLevel" in dec_types:
        return _Converter("byte_level")
    if "ByteFallback" in dec_types:
        byte_fallback = True
    replaces: list[tuple[str, str]] = []
    sentencepiece = False
    for d in dec:  # per-token steps, in order, up to the first whole-sequence step
        t = d.get("type")
        if t == "Fuse":
            break  # later steps (Strip) apply to the fused whole sequence only
        if t == "Metaspace":
            replaces.append((d.get("replacement") or "▁", " "))
            sentencepiece = True
        elif t == "Replace":
            pat = d.get("pattern") or {}
            if "String" not in pat:
                raise TokenizerError(f"{src}: Replace decoder with a regex pattern is not supported")
            replaces.append((pat["String"], d.get("content", "")))
            sentencepiece = sentencepiece or d.get("content") == " "
    if not replaces and not byte_fallback and "ByteLevel" in pre_types:
        return _Converter("byte_level")  # no informative decoder, a byte-level pre-tokenizer
    if not sentencepiece:
        # The decoder does not say what stands for a space: the encoder side does (a Metaspace
        # pre-tokenizer, or a normalizer replacing " " with a meta symbol).
        for p in pre:
            if p.get("type") == "Metaspace":
                replaces.append((p.get("replacement") or "▁", " "))
                sentencepiece = True
                break
        else:
            for n in norm:
                if n.get("type") == "Replace" and (n.get("pattern") or {}).get("String") == " " \
                        and n.get("content"):
                    replaces.append((n["content"], " "))
                    sentencepiece = True
                    break
    if replaces or byte_fallback:
        return _Converter("sentencepiece" if sentencepiece or byte_fallback else "raw", replaces, byte_fallback)
    return _Converter("raw")


# --------------------------------------------------------------------------------------------
# Configuration files (EOS, extra specials)


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise TokenizerError(f"cannot read {path}: {e}") from e


def _token_content(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and isinstance(v.get("content"), str):
        return v["content"]
    return None


def _int_list(v: Any) -> list:
    if isinstance(v, bool):
        return []
    if isinstance(v, int):
        return [v]
    if isinstance(v, (list, tuple)):
        return [x for x in v if isinstance(x, int) and not isinstance(x, bool)]
    return []


def _config_from_dir(d: Path) -> tuple[list, list]:
    """(EOS candidates, special candidates) from the config files in directory `d`.

    Candidates are ints (ids) or strs (token contents, resolved later)."""
    eos: list = []
    specials: list = []
    for name in ("generation_config.json", "config.json"):
        cfg = _read_json(d / name)
        if isinstance(cfg, dict):
            eos += _int_list(cfg.get("eos_token_id"))
            text_cfg = cfg.get("text_config")
            if isinstance(text_cfg, dict):
                eos += _int_list(text_cfg.get("eos_token_id"))
    tc = _read_json(d / "tokenizer_config.json")
    if isinstance(tc, dict):
        c = _token_content(tc.get("eos_token"))
        if c is not None:
            eos.append(c)
        eos += _int_list(tc.get("eos_token_id"))
        atd = tc.get("added_tokens_decoder")
        if isinstance(atd, dict):
            for k, v in atd.items():
                if isinstance(v, dict) and v.get("special") and str(k).isdigit():
                    specials.append(int(k))
        for key in ("bos_token", "eos_token", "unk_token", "pad_token"):
            c = _token_content(tc.get(key))
            if c is not None:
                specials.append(c)
        for key in ("additional_special_tokens", "extra_special_tokens"):
            v = tc.get(key)
            if isinstance(v, dict):
                v = list(v.values())
            if isinstance(v, list):
                specials += [c for c in map(_token_content, v) if c is not None]
    return eos, specials


def _dedup(xs: Iterable[int]) -> list[int]:
    seen: set[int] = set()
    out = []
    for x in xs:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _check_eos_arg(eos_token_ids: Any) -> list[int] | None:
    if eos_token_ids is None:
        return None
    if _is_int(eos_token_ids):
        return [int(eos_token_ids)]
    if isinstance(eos_token_ids, (str, bytes)) or not isinstance(eos_token_ids, Iterable):
        raise TokenizerError(f"eos_token_ids must be an int or a sequence of ints, got {eos_token_ids!r}")
    out = []
    for x in eos_token_ids:
        if not _is_int(x):
            raise TokenizerError(f"eos_token_ids must contain ints, got {x!r}")
        out.append(int(x))
    return out


# --------------------------------------------------------------------------------------------


class TokenizerInfo:
    """Exact bytes and kind of every token id below ``vocab_size``. Immutable once built.

    Attributes: ``vocab_size`` (logits width), ``token_bytes`` (tuple, bytes for TEXT ids and
    None otherwise), ``token_kinds`` (read-only uint8 array of `TokenKind`), ``eos_token_ids``,
    ``special_token_ids`` (ids of kind SPECIAL, EOS included), ``tokenizer_size`` (ids the
    tokenizer defines), ``decoder_kind`` and ``fingerprint`` (sha256 hex of vocab_size, every
    id's kind and bytes, and the EOS ids; the same in every process).
    """

    vocab_size: int
    token_bytes: tuple
    token_kinds: np.ndarray
    eos_token_ids: tuple
    special_token_ids: frozenset
    tokenizer_size: int
    decoder_kind: str
    fingerprint: str

    def __init__(self, token_bytes: Sequence[bytes | None], *, eos_token_ids: Sequence[int] | int,
                 vocab_size: int | None = None, special_token_ids: Iterable[int] = (),
                 decoder_kind: str = "raw", padding_token_ids: Iterable[int] = ()) -> None:
        """Build from an explicit list: ``token_bytes[i]`` is the bytes of id ``i``.

        ``None`` entries are SPECIAL, and so are empty byte strings, ``special_token_ids`` and
        ``eos_token_ids``. ``padding_token_ids`` (entries must be None) are undefined ids
        (PADDING), as are the ids from ``len(token_bytes)`` to ``vocab_size``. ``vocab_size``
        below ``len(token_bytes)`` is accepted only if every dropped id is None/special/padding.
        """
        if isinstance(token_bytes, (str, bytes, bytearray, memoryview)) or not hasattr(token_bytes, "__len__"):
            raise TokenizerError(
                f"token_bytes must be a sequence of bytes/None, got {type(token_bytes).__name__}")
        n = len(token_bytes)
        if n == 0:
            raise TokenizerError("token_bytes is empty")
        tb: list = list(token_bytes)
        for i in [i for i, b in enumerate(tb) if b is not None and type(b) is not bytes]:
            b = tb[i]
            if isinstance(b, (bytes, bytearray, memoryview)):
                tb[i] = bytes(b)
            elif isinstance(b, str):
                raise TokenizerError(
                    f"token_bytes[{i}] is a str ({b!r}); token bytes must be bytes or None "
                    "(encode text tokens to UTF-8, use None for special tokens)")
            else:
                raise TokenizerError(
                    f"token_bytes[{i}] has type {type(b).__name__}; expected bytes or None")
        if decoder_kind not in DECODER_KINDS:
            raise TokenizerError(f"decoder_kind must be one of {DECODER_KINDS}, got {decoder_kind!r}")

        if vocab_size is None:
            vocab_size = n
        if not _is_int(vocab_size):
            raise TokenizerError(f"vocab_size must be an int, got {vocab_size!r}")
        vocab_size = int(vocab_size)
        if vocab_size <= 0:
            raise TokenizerError(f"vocab_size must be positive, got {vocab_size}")
        limit = max(n, vocab_size)

        def ids(name: str, values: Iterable[int]) -> set[int]:
            if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
                raise TokenizerError(f"{name} must be an iterable of ints, got {values!r}")
            out = set()
            for x in values:
                if not _is_int(x):
                    raise TokenizerError(f"{name} must contain ints, got {x!r}")
                x = int(x)
                if not 0 <= x < limit:
                    raise TokenizerError(f"{name}: id {x} out of range [0, {limit})")
                out.add(x)
            return out

        specials = ids("special_token_ids", special_token_ids)
        padding = ids("padding_token_ids", padding_token_ids)
        for p in padding:
            if p < n and tb[p] is not None:
                raise TokenizerError(f"padding_token_ids: id {p} has bytes {tb[p]!r}; padding ids must be None")

        if vocab_size < n:
            for i in range(vocab_size, n):
                if tb[i] is not None and i not in specials and i not in padding:
                    raise TokenizerError(
                        f"vocab_size {vocab_size} is smaller than the tokenizer ({n} ids) and would drop "
                        f"text token {i} ({tb[i]!r}); only special/undefined ids may lie past vocab_size")
            del tb[vocab_size:]
        elif vocab_size > n:
            tb.extend([None] * (vocab_size - n))

        eos = _check_eos_arg(eos_token_ids)
        if not eos:
            raise TokenizerError("eos_token_ids is empty: at least one EOS id is required")
        for e in eos:
            if not 0 <= e < vocab_size:
                raise TokenizerError(
                    f"EOS token id {e} is out of range for vocab_size {vocab_size} "
                    f"(the tokenizer defines {n} ids)")
        eos = _dedup(eos)

        kinds = np.zeros(vocab_size, dtype=np.uint8)
        kinds[[i for i, b in enumerate(tb) if not b]] = TokenKind.SPECIAL  # None or b""
        if vocab_size > n:
            kinds[n:] = TokenKind.PADDING
        kinds[[p for p in padding if p < vocab_size]] = TokenKind.PADDING
        kinds[[x for x in specials if x < vocab_size]] = TokenKind.SPECIAL
        kinds[eos] = TokenKind.SPECIAL
        non_text = np.flatnonzero(kinds != TokenKind.TEXT)
        for i in non_text.tolist():
            tb[i] = None
        kinds.setflags(write=False)

        self.vocab_size = vocab_size
        self.token_bytes = tuple(tb)
        self.token_kinds = kinds
        self.eos_token_ids = tuple(eos)
        self.special_token_ids = frozenset(np.flatnonzero(kinds == TokenKind.SPECIAL).tolist())
        self.tokenizer_size = n
        self.decoder_kind = decoder_kind
        self.fingerprint = self._compute_fingerprint()

    # ----------------------------------------------------------------------------------------

    def _compute_fingerprint(self) -> str:
        h = hashlib.sha256(b"grammask.TokenizerInfo/1\0")
        h.update(struct.pack("<QQ", self.vocab_size, len(self.eos_token_ids)))
        h.update(np.asarray(self.eos_token_ids, dtype="<i8").tobytes())
        h.update(self.token_kinds.tobytes())
        lengths = np.array([0 if b is None else len(b) for b in self.token_bytes], dtype="<u4")
        h.update(lengths.tobytes())
        h.update(b"".join(filter(None, self.token_bytes)))
        return h.hexdigest()

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        n_text = int(np.count_nonzero(self.token_kinds == TokenKind.TEXT))
        return (f"TokenizerInfo(vocab_size={self.vocab_size}, tokenizer_size={self.tokenizer_size}, "
                f"text={n_text}, special={len(self.special_token_ids)}, eos={list(self.eos_token_ids)}, "
                f"decoder_kind={self.decoder_kind!r}, fingerprint={self.fingerprint[:12]})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TokenizerInfo):
            return NotImplemented
        return self.fingerprint == other.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __setstate__(self, state: dict) -> None:  # pickling keeps token_kinds read-only
        self.__dict__.update(state)
        self.token_kinds.setflags(write=False)

    def _check_id(self, token_id: Any) -> int:
        if not _is_int(token_id):
            raise InvalidTokenError(f"token id must be an int, got {token_id!r}")
        token_id = int(token_id)
        if not 0 <= token_id < self.vocab_size:
            raise InvalidTokenError(f"token id {token_id} out of range [0, {self.vocab_size})")
        return token_id

    def token_to_bytes(self, token_id: int) -> bytes:
        """Bytes of a TEXT token. `InvalidTokenError` (an IndexError) when out of range,
        `TokenizerError` for special/padding ids (they have no bytes)."""
        token_id = self._check_id(token_id)
        b = self.token_bytes[token_id]
        if b is None:
            kind = TokenKind(int(self.token_kinds[token_id])).name
            raise TokenizerError(f"token id {token_id} is a {kind} token and has no bytes")
        return b

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """Concatenated bytes of the TEXT tokens among `ids`; special/padding ids are skipped."""
        tb = self.token_bytes
        out = []
        for t in ids:
            b = tb[self._check_id(t)]
            if b is not None:
                out.append(b)
        return b"".join(out)

    def is_text(self, token_id: int) -> bool:
        """True iff `token_id` is in range and of kind TEXT."""
        return bool(_is_int(token_id) and 0 <= token_id < self.vocab_size
                    and self.token_kinds[token_id] == TokenKind.TEXT)

    # ----------------------------------------------------------------------------------------
    # Constructors

    @classmethod
    def from_any(cls, obj: Any, **kw: Any) -> TokenizerInfo:
        """Dispatch on type: TokenizerInfo (returned as is), tiktoken.Encoding,
        tokenizers.Tokenizer, a transformers tokenizer, a path / hub name, or a list of bytes."""
        if isinstance(obj, TokenizerInfo):
            if kw:
                raise TokenizerError(f"from_any: a TokenizerInfo is returned as is; got options {sorted(kw)}")
            return obj
        if isinstance(obj, (str, os.PathLike)):
            return cls.from_pretrained(obj, **kw)
        mod = type(obj).__module__ or ""
        if mod.startswith("tiktoken") or (hasattr(obj, "_mergeable_ranks") and hasattr(obj, "n_vocab")):
            return cls.from_tiktoken(obj, **kw)
        if mod.startswith("tokenizers") and hasattr(obj, "get_vocab") and hasattr(obj, "model"):
            return cls.from_tokenizers(obj, **kw)
        if hasattr(obj, "convert_ids_to_tokens") or hasattr(obj, "backend_tokenizer") \
                or any(c.__name__ == "PreTrainedTokenizerBase" for c in type(obj).__mro__):
            return cls.from_huggingface(obj, **kw)
        if isinstance(obj, (list, tuple)):
            return cls(obj, **kw)
        raise TokenizerError(f"cannot build TokenizerInfo from a {type(obj).__module__}.{type(obj).__name__}")

    @classmethod
    def from_tokenizers(cls, tokenizer: Any, *, vocab_size: int | None = None,
                        eos_token_ids: Sequence[int] | int | None = None) -> TokenizerInfo:
        """From a `tokenizers.Tokenizer`. It carries no EOS configuration: pass `eos_token_ids`."""
        spec = _HFSpec.from_tokenizer(tokenizer, "tokenizers.Tokenizer")
        return cls._from_spec(spec, vocab_size=vocab_size, eos_token_ids=eos_token_ids)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, *, vocab_size: int | None = None,
                        eos_token_ids: Sequence[int] | int | None = None) -> TokenizerInfo:
        """From a directory holding tokenizer.json (+ tokenizer_config.json, generation_config.json,
        config.json for EOS), read with the `tokenizers` library (or plain JSON without it), or
        a tokenizer.json file. Anything else (a directory without tokenizer.json, a hub name)
        goes to `transformers.AutoTokenizer.from_pretrained`."""
        p = Path(os.fspath(path)).expanduser()
        tj = None
        if p.is_file() and p.suffix == ".json":
            tj, d = p, p.parent
        elif p.is_dir() and (p / "tokenizer.json").is_file():
            tj, d = p / "tokenizer.json", p
        if tj is not None:
            spec = _load_tokenizer_json(tj)
            eos_cands, special_cands = _config_from_dir(d)
            return cls._from_spec(spec, vocab_size=vocab_size, eos_token_ids=eos_token_ids,
                                  config_eos=eos_cands, config_specials=special_cands)
        s = os.fspath(path)
        if not p.is_dir() and (p.is_absolute() or s.startswith((".", "~")) or p.exists()):
            raise TokenizerError(f"{s}: not a directory with a tokenizer.json, nor a tokenizer.json file")
        try:
            from transformers import AutoTokenizer
        except ImportError as e:
            raise TokenizerError(
                f"{s}: no tokenizer.json there, and loading it needs `transformers` (not installed)") from e
        try:
            tok = AutoTokenizer.from_pretrained(s)
        except Exception as e:
            raise TokenizerError(f"transformers.AutoTokenizer could not load {s!r}: {e}") from e
        return cls.from_huggingface(tok, vocab_size=vocab_size, eos_token_ids=eos_token_ids)

    @classmethod
    def from_tiktoken(cls, encoding: Any, *, vocab_size: int | None = None,
                      eos_token_ids: Sequence[int] | int | None = None) -> TokenizerInfo:
        """From a `tiktoken.Encoding`: mergeable ranks are the token bytes, special tokens are
        SPECIAL, unused ids are PADDING. EOS defaults to ``<|endoftext|>`` when the encoding has it."""
        return cls._from_tiktoken_parts(encoding, vocab_size=vocab_size, eos_token_ids=eos_token_ids)

    @classmethod
    def from_huggingface(cls, tokenizer: Any, *, vocab_size: int | None = None,
                         eos_token_ids: Sequence[int] | int | None = None) -> TokenizerInfo:
        """From a transformers tokenizer (fast/`TokenizersBackend`, SentencePiece, tiktoken-based
        or other slow tokenizers)."""
        config_eos: list = []
        e = getattr(tokenizer, "eos_token_id", None)
        config_eos += _int_list(e)
        name = getattr(tokenizer, "name_or_path", None)
        if isinstance(name, str) and name and os.path.isdir(name):
            more_eos, _ = _config_from_dir(Path(name))
            config_eos += [x for x in more_eos if _is_int(x)]
        try:
            added_dec = dict(getattr(tokenizer, "added_tokens_decoder", {}) or {})
        except Exception:
            added_dec = {}
        special_ids = []
        try:
            all_special = list(tokenizer.all_special_ids)
        except Exception:
            all_special = []
        for i in all_special:  # only ids registered as added tokens (a pad token may be a normal one)
            if _is_int(i) and int(i) in added_dec:
                special_ids.append(int(i))
        try:
            hf_len = len(tokenizer)
        except Exception:
            hf_len = 0

        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None and type(backend).__module__.startswith("tokenizers"):
            spec = _HFSpec.from_tokenizer(backend, f"{type(tokenizer).__name__}")
            return cls._from_spec(spec, vocab_size=vocab_size, eos_token_ids=eos_token_ids,
                                  config_eos=config_eos, config_specials=special_ids, min_size=hf_len)

        # tiktoken-based tokenizers (e.g. remote-code Qwen, Kimi): find the Encoding
        for attr in ("tokenizer", "encoding", "_tokenizer", "model", "encoder", "tiktoken"):
            obj = getattr(tokenizer, attr, None)
            if obj is not None and (type(obj).__module__ or "").startswith("tiktoken"):
                return cls._from_tiktoken_parts(obj, vocab_size=vocab_size, eos_token_ids=eos_token_ids,
                                                config_eos=config_eos, extra_special=special_ids,
                                                added=_hf_added(added_dec), min_size=hf_len)
        ranks = getattr(tokenizer, "mergeable_ranks", None)
        if isinstance(ranks, dict) and ranks and isinstance(next(iter(ranks)), bytes):
            sp = getattr(tokenizer, "special_tokens", None)
            return cls._from_tiktoken_parts(None, ranks=ranks, special=sp if isinstance(sp, dict) else {},
                                            vocab_size=vocab_size, eos_token_ids=eos_token_ids,
                                            config_eos=config_eos, extra_special=special_ids,
                                            added=_hf_added(added_dec), min_size=hf_len)

        sp_model = getattr(tokenizer, "sp_model", None)
        if sp_model is not None and hasattr(sp_model, "get_piece_size"):
            n = sp_model.get_piece_size()
            tb: list = [None] * n
            specials = set(special_ids)
            for i in range(n):
                piece = sp_model.id_to_piece(i)
                if sp_model.is_byte(i):
                    m = _BYTE_PIECE.fullmatch(piece)
                    if m is None:
                        raise TokenizerError(f"sentencepiece byte piece {i} {piece!r} is not <0xNN>")
                    tb[i] = bytes((int(m.group(1), 16),))
                elif sp_model.is_control(i) or sp_model.is_unknown(i) or \
                        (hasattr(sp_model, "is_unused") and sp_model.is_unused(i)):
                    specials.add(i)
                else:
                    tb[i] = piece.replace("▁", " ").encode("utf-8")
            return cls._finish(tb, set(range(n)), _hf_added(added_dec), specials, "sentencepiece",
                               vocab_size=vocab_size, eos_token_ids=eos_token_ids, config_eos=config_eos,
                               min_size=hf_len, source=type(tokenizer).__name__)

        # Generic slow tokenizer: its vocabulary strings, with the scheme guessed from them.
        try:
            vocab = dict(tokenizer.get_vocab())
        except Exception as e:
            raise TokenizerError(
                f"cannot read the vocabulary of {type(tokenizer).__name__}; build TokenizerInfo from "
                "an explicit token_bytes list") from e
        added_ids = {int(i) for i in added_dec}
        model_vocab = {s: i for s, i in vocab.items() if i not in added_ids}
        byte_decoder = getattr(tokenizer, "byte_decoder", None)
        if isinstance(byte_decoder, dict) or _looks_byte_level(model_vocab):
            conv = _Converter("byte_level")
        elif any("▁" in s for s in model_vocab):
            conv = _Converter("sentencepiece", [("▁", " ")],
                              byte_fallback="<0x00>" in model_vocab and "<0xFF>" in model_vocab)
        else:
            conv = _Converter("raw")
        size = max([hf_len, *(i + 1 for i in vocab.values()), *(i + 1 for i in added_ids)])
        tb = [None] * size
        conv.convert_all(model_vocab.items(), tb)
        unk = getattr(tokenizer, "unk_token_id", None)
        specials = set(special_ids) | ({unk} if _is_int(unk) else set())
        defined = set(model_vocab.values())
        return cls._finish(tb, defined, _hf_added(added_dec), specials, conv.kind, vocab_size=vocab_size,
                           eos_token_ids=eos_token_ids, config_eos=config_eos, min_size=hf_len,
                           source=type(tokenizer).__name__)

    # ----------------------------------------------------------------------------------------
    # Internals

    @classmethod
    def _from_spec(cls, spec: _HFSpec, *, vocab_size: int | None, eos_token_ids: Any,
                   config_eos: Sequence = (), config_specials: Sequence = (), min_size: int = 0
                   ) -> TokenizerInfo:
        conv = _detect_scheme(spec)
        ids = [i for _, i in spec.items()]
        size = max([min_size, *(a[0] + 1 for a in spec.added)]) if spec.added else min_size
        if ids:
            size = max(size, max(ids) + 1)
        if size == 0:
            raise TokenizerError(f"{spec.source}: empty vocabulary")
        tb: list = [None] * size
        conv.convert_all(spec.items(), tb)
        specials: set[int] = set()
        # the unknown token is a control token
        unk = spec.model.get("unk_token")
        if isinstance(unk, str) and unk in spec.vocab:
            specials.add(spec.vocab[unk])
        unk_id = spec.model.get("unk_id")
        if _is_int(unk_id) and 0 <= unk_id < size:
            specials.add(int(unk_id))
        content_to_id = {c: i for i, c, _ in spec.added}
        # configured special tokens count only when they are added tokens (as transformers
        # registers them): a config naming an ordinary token as pad_token must not remove it
        added_ids = set(content_to_id.values())
        for c in config_specials:
            i = int(c) if _is_int(c) else content_to_id.get(c) if isinstance(c, str) else None
            if i is not None and i in added_ids:
                specials.add(i)
        eos_ids = []
        for c in config_eos:
            if _is_int(c):
                eos_ids.append(int(c))
            elif isinstance(c, str):
                i = content_to_id.get(c, spec.vocab.get(c))
                if i is not None:
                    eos_ids.append(i)
        return cls._finish(tb, set(ids), spec.added, specials, conv.kind, vocab_size=vocab_size,
                           eos_token_ids=eos_token_ids, config_eos=eos_ids, min_size=min_size,
                           source=spec.source)

    @classmethod
    def _finish(cls, tb: list, defined: set[int], added: Iterable[tuple[int, str, bool]],
                specials: set[int], kind: str, *, vocab_size: Any, eos_token_ids: Any,
                config_eos: Sequence[int], min_size: int, source: str) -> TokenizerInfo:
        """Common tail: apply added tokens, find padding holes, resolve EOS, construct."""
        size = len(tb)
        for i, content, special in added:
            if not 0 <= i:
                raise TokenizerError(f"{source}: negative added token id {i}")
            if i >= size:
                tb.extend([None] * (i + 1 - size))
                size = len(tb)
            defined.add(i)
            if special:
                tb[i] = None
                specials.add(i)
            else:
                tb[i] = content.encode("utf-8")
        specials = {s for s in specials if 0 <= s < size}
        # ids no vocabulary entry defines are holes: PADDING
        padding = [i for i in range(size) if tb[i] is None and i not in defined and i not in specials]
        explicit = _check_eos_arg(eos_token_ids)
        if explicit is not None:
            eos = explicit
        else:
            limit = size if vocab_size is None else int(vocab_size) if _is_int(vocab_size) else size
            configured = _dedup(config_eos)
            # configured ids the logits cannot produce are ignored -- unless that leaves none, in
            # which case the constructor reports the inconsistency
            eos = [e for e in configured if 0 <= e < limit] or configured
            if not eos:
                raise TokenizerError(
                    f"{source}: no EOS token id found in the tokenizer's configuration; "
                    "pass eos_token_ids=... (e.g. the model's generation_config eos_token_id)")
        return cls(tb, eos_token_ids=eos, vocab_size=vocab_size, special_token_ids=specials,
                   decoder_kind=kind, padding_token_ids=padding)

    @classmethod
    def _from_tiktoken_parts(cls, encoding: Any, *, ranks: Mapping[bytes, int] | None = None,
                             special: Mapping[str, int] | None = None, vocab_size: Any, eos_token_ids: Any,
                             config_eos: Sequence[int] = (), extra_special: Iterable[int] = (),
                             added: Iterable[tuple[int, str, bool]] = (), min_size: int = 0
                             ) -> TokenizerInfo:
        source = "tiktoken encoding"
        if encoding is not None:
            source = f"tiktoken encoding {getattr(encoding, 'name', '?')!r}"
            ranks = getattr(encoding, "_mergeable_ranks", None)
            special = getattr(encoding, "_special_tokens", None)
            n_vocab = int(encoding.n_vocab)
            if not isinstance(special, dict):
                special = {s: encoding.encode_single_token(s) for s in getattr(encoding, "special_tokens_set", ())}
            if not isinstance(ranks, dict):  # public API fallback: one call per id
                special_ids = set(special.values())
                ranks = {}
                for i in range(n_vocab):
                    if i in special_ids:
                        continue
                    try:
                        ranks[encoding.decode_single_token_bytes(i)] = i
                    except KeyError:
                        pass
        else:
            n_vocab = 0
        special = dict(special or {})
        size = max([n_vocab, min_size, *(v + 1 for v in ranks.values()), *(v + 1 for v in special.values())])
        tb: list = [None] * size
        for b, r in ranks.items():
            if not isinstance(b, bytes) or not _is_int(r):
                raise TokenizerError(f"{source}: malformed mergeable rank {b!r}: {r!r}")
            tb[r] = b
        specials = set(special.values()) | set(extra_special)
        defined = set(ranks.values()) | set(special.values())
        cfg = list(config_eos)
        if "<|endoftext|>" in special:
            cfg.append(special["<|endoftext|>"])
        return cls._finish(tb, defined, list(added), specials, "tiktoken", vocab_size=vocab_size,
                           eos_token_ids=eos_token_ids, config_eos=cfg, min_size=min_size, source=source)


def _hf_added(added_dec: Mapping) -> list[tuple[int, str, bool]]:
    out = []
    for i, t in added_dec.items():
        content = getattr(t, "content", None)
        if content is None:
            content = str(t)
        out.append((int(i), content, bool(getattr(t, "special", False))))
    return out


def _load_tokenizer_json(path: Path) -> _HFSpec:
    try:
        from tokenizers import Tokenizer
    except ImportError:
        Tokenizer = None
    if Tokenizer is not None:
        try:
            tk = Tokenizer.from_file(str(path))
        except Exception as e:
            raise TokenizerError(f"{path}: the tokenizers library cannot load it: {e}") from e
        return _HFSpec.from_tokenizer(tk, str(path))
    j = _read_json(path)
    if j is None:
        raise TokenizerError(f"{path}: no such file")
    return _HFSpec.from_json(j, str(path))
