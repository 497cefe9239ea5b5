"""Is a text in a grammar's language? If not, where does it stop being a prefix of it, and
what did the grammar expect there?

The grammar is compiled once against a byte-level vocabulary (256 one-byte tokens and an end
token), which costs little more than building the parser and lexer: no real tokenizer is
needed to decide membership. The text is then walked from the initial state; the first byte
after which no completion of the text remains possible is the error offset.

    >>> from grammask.validate import validate_text
    >>> r = validate_text('start: "a"+ "b"', "aac")
    >>> r.ok, r.offset, r.line, r.column, r.reason
    (False, 2, 1, 3, "unexpected character 'c'")
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "ValidationResult",
    "byte_level_tokenizer",
    "compile_for_validation",
    "describe_expected",
    "expected_at",
    "line_column",
    "validate_text",
]

DEAD = -1
_CHUNK = 4096            # bytes advanced at once before falling back to byte steps
_CACHE_SIZE = 16
_SHOW_PATTERN = 24     # regex terminals whose pattern is shorter are shown with it

_byte_vocab: Any = None
_cache: OrderedDict[tuple, Any] = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class ValidationResult:
    """The verdict on one text.

    ok: the whole text is in the language. Otherwise `offset` is the 0-based *byte* offset of
    the first byte that cannot be read (the length of the text when the text is a proper
    prefix of the language: "unexpected end of text"), `line`/`column` are 1-based, counted in
    characters of the UTF-8 decoded text, `expected` lists the grammar's terminal names that
    could come next at that point (ignored terminals such as whitespace are left out unless
    nothing else fits), `can_end` says whether the text could have ended there instead, and
    `reason` says what went wrong in words."""

    ok: bool
    offset: int | None = None
    line: int | None = None
    column: int | None = None
    expected: list[str] = field(default_factory=list)
    reason: str = ""
    can_end: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def byte_level_tokenizer() -> Any:
    """The 257-token vocabulary validation compiles against (bytes 0-255, then EOS)."""
    global _byte_vocab
    if _byte_vocab is None:
        from .tokenizer_info import TokenizerInfo
        _byte_vocab = TokenizerInfo([bytes([b]) for b in range(256)] + [None],
                                    eos_token_ids=[256])
    return _byte_vocab


def compile_for_validation(source: Any, *, syntax: str | None = None, start: str | None = None,
                           parser: str = "auto") -> Any:
    """`compile_grammar(source, byte_level_tokenizer(), ...)`, memoised: grammar text, a
    grammar file (keyed by path and modification time) or a loaded `Grammar` (keyed by
    identity) compiles once however many texts are validated."""
    from .compiler import compile_grammar
    key = _cache_key(source, syntax, start, parser)
    if key is not None:
        with _lock:
            found = _cache.get(key)
            if found is not None:
                _cache.move_to_end(key)
                return found[0]
    compiled = compile_grammar(source, byte_level_tokenizer(), syntax=syntax, start=start,
                               parser=parser)
    if key is not None:
        with _lock:
            # keep the source alive with the entry, so an id() key cannot be reused
            _cache[key] = (compiled, source)
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return compiled


def _cache_key(source: Any, syntax: str | None, start: str | None, parser: str) -> tuple | None:
    from .grammar import Grammar
    if isinstance(source, Grammar):
        return ("grammar", id(source), start, parser)
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str):
        return None
    if source and "\n" not in source and len(source) < 4096 and os.path.isfile(source):
        st = os.stat(source)
        return ("file", os.path.abspath(source), st.st_mtime_ns, st.st_size, syntax, start,
                parser)
    return ("text", source, syntax, start, parser)


def validate_text(compiled_or_grammar_source: Any, text: str | bytes, *, start: str | None = None,
                  syntax: str | None = None, parser: str = "auto") -> ValidationResult:
    """Check that `text` (str: encoded as UTF-8; bytes: as is) is in the grammar's language.

    The first argument is a compiled grammar (anything with `initial_state`, `advance`,
    `is_accepting`, e.g. a `CompiledCFG`; `start`/`syntax`/`parser` are then ignored) or what
    `compile_grammar` accepts (grammar text, a .lark/.gbnf path, a `Grammar`), compiled once
    against the byte-level vocabulary and cached. Raises `GrammarError` for a bad grammar."""
    engine = compiled_or_grammar_source
    if not (hasattr(engine, "advance") and hasattr(engine, "initial_state")):
        engine = compile_for_validation(engine, syntax=syntax, start=start, parser=parser)
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    state, offset = _walk(engine, data)
    if offset is None:
        if engine.is_accepting(state):
            return ValidationResult(True)
        offset = len(data)
        reason = "unexpected end of text"
    else:
        reason = f"unexpected {_describe_at(data, offset)}"
        why = getattr(engine, "refusal_reason", None)
        said = why(state, data[offset:offset + 1]) if why is not None else None
        if said:
            reason += f": {said}"
    line, column = line_column(data, offset)
    expected, can_end = expected_at(engine, state)
    return ValidationResult(False, offset, line, column, expected, reason, can_end)


def _walk(engine: Any, data: bytes) -> tuple[int, int | None]:
    """(last live state, offset of the byte that kills it or None). Advances a chunk at a
    time (the same as byte steps, since a state is everything the walk remembers) and steps
    byte by byte only through the chunk that dies."""
    state = engine.initial_state()
    pos = 0
    while pos < len(data):
        chunk = data[pos:pos + _CHUNK]
        nxt = engine.advance(state, chunk)
        if nxt != DEAD:
            state, pos = nxt, pos + len(chunk)
            continue
        for i in range(len(chunk)):
            nxt = engine.advance(state, chunk[i:i + 1])
            if nxt == DEAD:
                return state, pos + i
            state = nxt
        raise AssertionError("advance over a chunk died but no single byte did")
    return state, None


def expected_at(engine: Any, state: int) -> tuple[list[str], bool]:
    """(terminals that can continue the text from `state`, whether the text may end there).

    `expected_terminals(state)` alone names only the terminals of the lexeme being read when
    `state` is inside one — after `a=[1,` it says COMMA, although the comma is complete and a
    value comes next. So every byte is tried: the terminals alive after one more byte are
    those that continue the current lexeme or start the next one. Ignored terminals
    (whitespace, comments) are left out unless nothing else fits."""
    names: set[str] = set()
    probe = getattr(engine, "expected_terminals", None)
    if probe is not None:
        for b in range(256):
            nxt = engine.advance(state, bytes((b,)))
            if nxt != DEAD:
                names.update(probe(nxt))
    grammar = getattr(engine, "grammar", None)
    ignore = set(getattr(grammar, "ignore", ()) or ())
    shown = sorted(n for n in names if n not in ignore) or sorted(names)
    return shown, bool(engine.is_accepting(state))


def line_column(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters of the UTF-8 text) of the character holding
    byte `offset`."""
    start = offset
    if offset < len(data) and 0x80 <= data[offset] < 0xC0:
        # a continuation byte: back up to the lead byte of its character, if well formed
        lead = offset - 1
        while lead > max(offset - 4, -1) and 0x80 <= data[lead] < 0xC0:
            lead -= 1
        if lead >= 0 and data[lead] >= 0xC0:
            start = lead
    line_start = data.rfind(b"\n", 0, start) + 1
    line = data.count(b"\n", 0, start) + 1
    column = len(data[line_start:start].decode("utf-8", "replace")) + 1
    return line, column


def _describe_at(data: bytes, offset: int) -> str:
    """`character 'x'` for the character starting at `offset`, or `byte 0xNN`."""
    b = data[offset]
    if b < 0x80:
        return f"character {chr(b)!r}"
    width = 2 if b >= 0xC0 else 0
    width = 3 if b >= 0xE0 else width
    width = 4 if b >= 0xF0 else width
    try:
        ch = data[offset:offset + width].decode("utf-8") if width else ""
    except UnicodeDecodeError:
        ch = ""
    if len(ch) == 1:
        return f"character {ch!r}"
    return f"byte 0x{b:02x}"


def describe_expected(result: ValidationResult, grammar: Any = None) -> str:
    """`"," (COMMA), NUMBER, or end of text`: literal terminals by their text, regex
    terminals by name and, when short, pattern (`grammar`: the IR, for the terminals)."""
    terms = getattr(grammar, "terminals", {}) or {}
    parts = []
    for name in result.expected:
        term = terms.get(name)
        lit, pattern = getattr(term, "literal", None), getattr(term, "pattern", None)
        if lit:
            parts.append(f"{_quote(lit)} ({name})")
        elif pattern and len(pattern) <= _SHOW_PATTERN:
            parts.append(f"{name} /{pattern}/")
        else:
            parts.append(name)
    if result.can_end:
        parts.append("end of text")
    if not parts:
        return "nothing"
    if len(parts) <= 2:
        return " or ".join(parts)
    return ", ".join(parts[:-1]) + ", or " + parts[-1]


def _quote(text: str) -> str:
    import json
    return json.dumps(text, ensure_ascii=False)
