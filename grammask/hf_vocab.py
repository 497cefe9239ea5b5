"""Reading Hugging Face tokenizers: tokenizer.json pieces -> exact token bytes, and the EOS
configuration next to them. Kept apart from `TokenizerInfo` so the class holds only the
vocabulary and its invariants; see `grammask.tokenizer_info` for the rules applied."""
from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import TokenizerError

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

    def __init__(self, kind: str, replaces: Sequence[tuple[str, str]] = (), byte_fallback: bool = False):
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
