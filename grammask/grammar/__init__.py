"""Grammar front ends and the IR they produce (see `grammask.grammar.ir`).

`load_grammar` is the one entry point: Lark EBNF or GBNF, as text or as a file."""
from __future__ import annotations

import os
import re

from ..errors import GrammarError
from ..limits import DEFAULT_LIMITS, Limits
from .gbnf_frontend import load_gbnf, load_gbnf_file
from .ir import Grammar, GrammarWarning, Rule, SourcePos, Terminal
from .lark_frontend import load_lark, load_lark_file

__all__ = ["Grammar", "GrammarWarning", "Rule", "SourcePos", "Terminal", "load_gbnf",
           "load_gbnf_file", "load_grammar", "load_lark", "load_lark_file"]

SYNTAXES = ("lark", "gbnf")
_SUFFIXES = {".lark": "lark", ".gbnf": "gbnf"}
_GBNF_RULE = re.compile(r"^[ \t]*[a-zA-Z0-9-]+[ \t]*::=", re.MULTILINE)


def load_grammar(source: str | os.PathLike[str], *, syntax: str | None = None,
                 start: str | None = None, name: str | None = None,
                 limits: Limits = DEFAULT_LIMITS) -> Grammar:
    """Load a grammar into the IR from Lark EBNF or GBNF text, or from a file.

    `source` is a path when it is an `os.PathLike`, or a `str` naming an existing file (and
    holding no newline); otherwise it is the grammar text. `syntax` is "lark" or "gbnf"; when
    omitted, a file's suffix decides (`.lark`, `.gbnf`), and otherwise the text does: a line
    `name ::= ...` means GBNF, anything else Lark. `start` defaults to "start" for Lark and
    "root" for GBNF (a missing start rule raises a `GrammarError` naming the rules there are).
    `name` names text sources in messages (a file is named by its path, which also anchors
    Lark's relative imports).

    GBNF is loaded with `collapse_regular=True`: regular rules become regex terminals, so the
    lexer sees fewer, larger lexemes, except where greedy lexing would then lose strings of the
    character-level language (those pieces are split again; see `gbnf_frontend`). No terminal
    of the result matches the empty string.
    `limits` bounds what loading may build (GBNF repetitions and nesting, regex sizes)."""
    if syntax is not None and syntax not in SYNTAXES:
        raise ValueError(f"syntax must be one of {SYNTAXES}, not {syntax!r}")
    path = _as_path(source)
    if path is None:
        text, label = str(source), name or "<grammar>"
        syntax = syntax or ("gbnf" if _GBNF_RULE.search(text) else "lark")
    else:
        text, label = _read(path), path
        syntax = syntax or _SUFFIXES.get(os.path.splitext(path)[1].lower()) or \
            ("gbnf" if _GBNF_RULE.search(text) else "lark")
    if syntax == "gbnf":
        return load_gbnf(text, start=start or "root", name=label, collapse_regular=True,
                         file=path, limits=limits)
    return load_lark(text, start=start or "start", name=label, limits=limits)


def _as_path(source: str | os.PathLike[str]) -> str | None:
    if isinstance(source, os.PathLike):
        return os.fspath(source)
    if not isinstance(source, str):
        raise TypeError(f"source must be grammar text or a path, not {type(source).__name__}")
    if source and "\n" not in source and len(source) < 4096 and os.path.isfile(source):
        return source
    return None


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise GrammarError(f"cannot read grammar file: {exc}", name=path) from exc
