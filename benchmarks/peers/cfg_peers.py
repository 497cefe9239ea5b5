"""CFG-engine adapters for ``benchmarks/cfg_masks.py``: grammask, xgrammar, llguidance.

They extend the regex adapters of ``peers/regex_peers.py`` (same tokenizer setup, bitmask and
fill-call conventions; see its docstring) with a grammar compile:

* ``supports(syntax)`` -> ``(ok, why)``: whether the engine takes this grammar syntax at all.
* ``compile(src)`` with ``src`` a ``GrammarSource(path, text, syntax, start)``: the timed
  per-grammar compile. An engine that refuses a grammar raises; the benchmark reports that as
  the grammar's compile error.
* ``can_terminate(matcher)``: the engine's own "may stop here" answer (extra consistency check;
  acceptance itself is decided by the EOS bit of the last mask).

What each engine gets:

* grammask: ``compile_grammar(path, tok, syntax=..., start=...)`` on the grammar file itself.
* xgrammar 0.2.8: GBNF through ``GrammarCompiler.compile_grammar(text, root_rule_name=start)``
  (its llama.cpp-EBNF parser); Lark through ``GrammarCompiler.compile_lark(text)`` (added in
  0.2.x; it needs a rule named ``start``, so ``start: <rule>`` is appended when the grammar's
  start rule has another name). ``cache_enabled=False``: every compile is a real compile.
* llguidance 1.9.1: ``llguidance.grammar_from("lark" | "gbnf", text)`` (GBNF goes through its
  ``gbnf_to_lark`` converter), then ``LLMatcher(tokenizer, grammar)``: construction is the
  compile (llguidance builds lexer states lazily, so part of its work shows up in mask time);
  a matcher that comes out in the error state is a compile error. Each text runs on a
  ``deep_copy()`` of that first matcher. Mask call: ``llguidance.numpy.fill_next_token_bitmask``
  (its public numpy entry point, a thin wrapper over ``unsafe_compute_mask_ptr``). Its
  tokenizer must cover every tokenizer id, so its bitmask has ceil(128257/32) words for
  Llama-3 (one more than the model's 128256 logits need); only ids < V are ever checked.

``--peer-compat`` (off by default; then a refused grammar is a compile error) gives the peers
language-preserving rewrites of what they refuse for syntactic reasons: Lark ``rule.N`` /
``TERM.N`` priorities stripped (both peers), and for llguidance's GBNF converter a rule named
``Start`` renamed (it collides with ``root`` renamed to ``start``).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .regex_peers import (
    DEFAULT_TOKENIZER_DIR,
    EngineAdapter,
    GrammaskAdapter,
    TokenizerContext,
    XGrammarAdapter,
    _dist_version,
)

__all__ = ["CFG_ADAPTERS", "DEFAULT_TOKENIZER_DIR", "GrammarSource", "TokenizerContext", "with_lark_start"]


@dataclass(frozen=True)
class GrammarSource:
    path: str | None   # the grammar file (None for inline text, e.g. the warm-up grammar)
    text: str
    syntax: str        # "lark" | "gbnf"
    start: str | None  # None: "start" (Lark) / "root" (GBNF)


_LARK_PRIORITY = re.compile(r"(?m)^([ \t]*[?!]*[A-Za-z_][A-Za-z_0-9]*)\.-?\d+([ \t]*:)")


def strip_lark_priorities(text: str) -> str:
    """``rule.N:`` / ``TERM.N:`` -> ``rule:`` / ``TERM:``. Priorities steer Lark's parser and
    lexer choices but do not change the language (grammask drops them too), and neither peer
    accepts them. Used only with ``--peer-compat``."""
    return _LARK_PRIORITY.sub(r"\1\2", text)


_GBNF_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def rename_gbnf_rule(text: str, old: str, new: str) -> str:
    """Rename rule ``old`` in GBNF text (definitions and references; literals, character
    classes and comments untouched)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"' or c == "[":
            close = '"' if c == '"' else "]"
            j = i + 1
            while j < n and text[j] != close:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif c == "#":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(text[i:j])
            i = j
        else:
            m = _GBNF_IDENT.match(text, i)
            if m:
                out.append(new if m.group() == old else m.group())
                i = m.end()
            else:
                out.append(c)
                i += 1
    return "".join(out)


def _llg_gbnf_name(name: str) -> str:
    """The name llguidance's gbnf_to_lark gives a rule (``fooBar-baz`` -> ``foo_bar_baz``)."""
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name.replace("-", "_")).lower()


def llguidance_gbnf_compat(text: str) -> str:
    """llguidance 1.9.1's GBNF converter renames ``root`` to ``start`` and lower-cases the other
    rules, so a rule called ``Start`` (all GAD/ASAp grammars) collides: rename such rules."""
    names = set(re.findall(r"(?m)^[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t]*::=", text))
    for name in sorted(names):
        if name != "root" and _llg_gbnf_name(name) == "start":
            fresh = name + "_"
            while fresh in names:
                fresh += "_"
            text = rename_gbnf_rule(text, name, fresh)
    return text


_LARK_START_DEF = re.compile(r"(?m)^[ \t]*[?!]?start(?:\.-?\d+)?[ \t]*:")


def with_lark_start(text: str, start: str | None) -> str:
    """Peers start Lark grammars at ``start``: alias another start rule to it."""
    if not start or start == "start":
        return text
    if _LARK_START_DEF.search(text):
        raise ValueError(f"grammar defines 'start' but the benchmark starts at {start!r}")
    return text.rstrip("\n") + f"\n\nstart: {start}\n"


class GrammaskCfgAdapter(GrammaskAdapter):
    _REQUIRED = ("TokenizerInfo", "compile_grammar", "Matcher", "allocate_token_bitmask")

    def __init__(self, precompute: bool = False):
        super().__init__(precompute)
        self.via_ir = False  # compiled through load_lark_file / load_gbnf_file (no load_grammar yet)

    def supports(self, syntax: str) -> tuple[bool, str]:
        return True, ""

    def compile(self, src: GrammarSource) -> Any:  # type: ignore[override]
        fe = importlib.import_module("grammask.grammar")
        if hasattr(fe, "load_grammar"):
            source: Any = src.path if src.path is not None else src.text
            cg = self._gm.compile_grammar(source, self.tok, syntax=src.syntax, start=src.start)
        else:
            # Until the text front door (grammask.grammar.load_grammar) exists: load the IR with
            # the format's own loader, inside the timed call, and compile that.
            if src.syntax == "lark":
                start = src.start or "start"
                g = fe.load_lark_file(src.path, start=start) if src.path else fe.load_lark(src.text, start=start)
            else:
                start = src.start or "root"
                g = fe.load_gbnf_file(src.path, start=start) if src.path else fe.load_gbnf(src.text, start=start)
            cg = self._gm.compile_grammar(g, self.tok)
            self.via_ir = True
        if self.precompute and hasattr(cg, "precompute_masks"):
            cg.precompute_masks()
        return cg

    def memory_bytes(self, compiled: Any) -> int | None:
        fn = getattr(compiled, "memory_bytes", None)
        return int(fn()) if fn is not None else None

    def can_terminate(self, matcher: Any) -> bool | None:
        return bool(matcher.can_terminate())

    def describe(self) -> str:
        return (
            "TokenizerInfo.from_pretrained(dir, vocab_size, eos_token_ids); "
            + ("compile_grammar(load_lark_file|load_gbnf_file(path, start=), tok) (timed together; "
               "grammask.grammar.load_grammar missing)" if self.via_ir else "compile_grammar(path, tok, syntax=, start=)")
            + f"{'; cg.precompute_masks()' if self.precompute else ''}; "
            "Matcher(cg); allocate_token_bitmask(1, V); m.fill_next_token_bitmask(bm, 0); "
            "m.accept_token(t); m.can_terminate()"
        )


class XGrammarCfgAdapter(XGrammarAdapter):
    def supports(self, syntax: str) -> tuple[bool, str]:
        if syntax == "lark" and not hasattr(self.compiler, "compile_lark"):
            return False, "this xgrammar has no Lark front end (GrammarCompiler.compile_lark)"
        return True, ""

    def __init__(self, max_threads: int | None = None, compat: bool = False):
        super().__init__(max_threads)
        self.compat = compat

    def compile(self, src: GrammarSource) -> Any:  # type: ignore[override]
        if src.syntax == "gbnf":
            return self.compiler.compile_grammar(src.text, root_rule_name=src.start or "root")
        text = strip_lark_priorities(src.text) if self.compat else src.text
        return self.compiler.compile_lark(with_lark_start(text, src.start))

    def can_terminate(self, matcher: Any) -> bool | None:
        return None  # GrammarMatcher has no "may stop here" query short of accepting EOS

    def describe(self) -> str:
        return (
            "TokenizerInfo.from_huggingface(hf_tok, vocab_size, stop_token_ids); "
            "GrammarCompiler(info, cache_enabled=False): GBNF .compile_grammar(text, root_rule_name=), "
            f"Lark .compile_lark(text [+ 'start: <rule>']{'; priorities stripped' if self.compat else ''}); GrammarMatcher(cg); "
            "allocate_token_bitmask(1, V) (torch); m.fill_next_token_bitmask(bm, 0); m.accept_token(t)"
        )


class LLGuidanceAdapter(EngineAdapter):
    name = "llguidance"
    dist_name = "llguidance"

    def __init__(self, compat: bool = False):
        self.compat = compat

    def available(self) -> tuple[bool, str]:
        try:
            self._llg = importlib.import_module("llguidance")
            self._llg_np = importlib.import_module("llguidance.numpy")
            self._llg_hf = importlib.import_module("llguidance.hf")
        except Exception as e:  # noqa: BLE001
            return False, f"import llguidance failed: {type(e).__name__}: {e}"
        return True, ""

    def version(self) -> str:
        return _dist_version(self.dist_name)

    def setup(self, ctx: TokenizerContext) -> None:
        # n_vocab is left to the tokenizer: llguidance refuses one smaller than the tokenizer
        # (Llama-3 here has 128257 ids for 128256 logits).
        self.tok = self._llg_hf.from_tokenizer(ctx.hf_tokenizer, eos_token=list(ctx.eos_token_ids))
        self.vocab_size = int(self.tok.vocab_size)

    def supports(self, syntax: str) -> tuple[bool, str]:
        return True, ""

    def compile(self, src: GrammarSource) -> Any:  # type: ignore[override]
        text = src.text
        if src.syntax == "lark":
            text = with_lark_start(strip_lark_priorities(text) if self.compat else text, src.start)
        elif src.start not in (None, "root"):
            raise ValueError("llguidance's GBNF converter starts at 'root'")
        elif self.compat:
            text = llguidance_gbnf_compat(text)
        grammar = self._llg.grammar_from(src.syntax, text)
        m = self._llg.LLMatcher(self.tok, grammar, log_level=0)
        if m.is_error():
            raise RuntimeError(m.get_error())
        return m

    def new_matcher(self, compiled: Any) -> Any:
        return compiled.deep_copy()

    def accept(self, matcher: Any, token_id: int) -> bool:
        return bool(matcher.consume_token(token_id))

    def can_terminate(self, matcher: Any) -> bool | None:
        return bool(matcher.is_accepting())

    def allocate_bitmask(self) -> tuple[Any, np.ndarray]:
        bm = self._llg_np.allocate_token_bitmask(1, self.vocab_size)
        return bm, bm

    def fill_call(self, matcher: Any, native: Any) -> tuple[Callable[..., Any], tuple]:
        return self._llg_np.fill_next_token_bitmask, (matcher, native, 0)

    def describe(self) -> str:
        return (
            "llguidance.hf.from_tokenizer(hf_tok, eos_token=[...]); grammar_from('lark'|'gbnf', text "
            "[+ 'start: <rule>']" + ("; Lark priorities stripped, GBNF rule 'Start' renamed" if self.compat else "")
            + "); LLMatcher(tok, g) (= compile; error state = compile error); "
            "m0.deep_copy() per text; llguidance.numpy.fill_next_token_bitmask(m, bm, 0); "
            "m.consume_token(t); m.is_accepting()"
        )


CFG_ADAPTERS: dict[str, Callable[..., EngineAdapter]] = {
    "grammask": GrammaskCfgAdapter,
    "xgrammar": XGrammarCfgAdapter,
    "llguidance": LLGuidanceAdapter,
}
