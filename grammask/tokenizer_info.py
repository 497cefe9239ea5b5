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
import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidTokenError, TokenizerError
from .hf_vocab import (_BYTE_PIECE, _check_eos_arg, _config_from_dir, _Converter, _dedup,
                       _detect_scheme, _hf_added, _HFSpec, _int_list, _is_int, _load_tokenizer_json,
                       _looks_byte_level, bytes_to_unicode)

__all__ = ["TokenKind", "TokenizerInfo", "DECODER_KINDS", "bytes_to_unicode"]

DECODER_KINDS = ("byte_level", "sentencepiece", "tiktoken", "raw")


class TokenKind(enum.IntEnum):
    """Classification of a token id. EOS ids are SPECIAL."""

    TEXT = 0
    SPECIAL = 1
    PADDING = 2


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
