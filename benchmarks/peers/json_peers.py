"""JSON-Schema engine adapters for ``benchmarks/maskbench.py``: grammask, xgrammar, llguidance.

They are the regex / CFG adapters of ``peers/regex_peers.py`` and ``peers/cfg_peers.py`` (same
tokenizer setup, bitmask layout and fill-call conventions; see those docstrings) with a JSON
Schema compile added:

* ``prepare_schema(schema)``: untimed conversion of the loaded schema (a dict, a bool, or the raw
  text of a schema with duplicate keys) into what the engine's compile call takes.
* ``compile_json(prepared)``: the timed compile. An engine that refuses a schema raises; the
  benchmark reports that as the record's compile_error, with the exception's first line.
* ``options``: keyword options given to the engine's JSON-Schema compiler (``--<engine>-option
  key=value`` on the command line). ``describe()`` names them.

What each engine gets (defaults; every key can be overridden):

* grammask: ``compile_json_schema(schema, tok, **options)`` on the schema as loaded (dict / bool /
  raw str): parsing it is part of its compile. No options by default (grammask's defaults).
* xgrammar 0.2.8: ``GrammarCompiler(info, max_threads=1, cache_enabled=False)
  .compile_json_schema(schema_json_text, strict_mode=False)``: ``strict_mode=True`` (its default)
  forbids properties and items the schema does not list, which is not JSON Schema (valid
  instances with extra properties would be refused), so it is off, as in JSONSchemaBench's
  "compliant" xgrammar. Layout options (``any_whitespace``, ``separators``) are the caller's:
  ``maskbench.py --peer-whitespace compact`` passes ``any_whitespace=False,
  separators=(",", ":")`` (which 0.2.8 ignores inside its free-form any-JSON rules). One compile thread per worker process (the benchmark runs
  ``--workers`` of them side by side).
* llguidance 1.9.1: ``LLTokenizer(<tokenizer.json text>, eos_token=[...])`` (what
  ``llguidance.hf.from_tokenizer`` builds from a fast tokenizer, without importing transformers);
  ``LLMatcher.grammar_from_json_schema(schema_json_text, defaults=options)``
  then ``LLMatcher(tok, grammar)``: construction is the compile; a matcher that comes out in the
  error state (``Unimplemented keys: [...]``, unsatisfiable schemas, ...) is a compile error.
  Every matcher is a ``deep_copy()`` of that first one. Adapter default options: none
  (``lenient=False``: unimplemented keywords are refused, not ignored); ``maskbench.py
  --peer-whitespace compact`` adds ``whitespace_flexible=False``.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any, ClassVar

from .cfg_peers import GrammaskCfgAdapter, LLGuidanceAdapter, XGrammarCfgAdapter
from .regex_peers import DEFAULT_TOKENIZER_DIR, EngineAdapter, GrammaskAdapter, TokenizerContext

__all__ = ["DEFAULT_TOKENIZER_DIR", "JSON_ADAPTERS", "TokenizerContext", "make_json_adapter"]


def _schema_text(schema: Any) -> str:
    # A str is the raw text of a schema kept unparsed (duplicate keys): pass it through.
    return schema if isinstance(schema, str) else json.dumps(schema, ensure_ascii=False)


def _opts(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in options.items())


class GrammaskJsonAdapter(GrammaskAdapter):
    _REQUIRED = ("TokenizerInfo", "compile_json_schema", "Matcher", "allocate_token_bitmask")

    def __init__(self, options: dict[str, Any] | None = None):
        super().__init__(precompute=False)
        self.options = dict(options or {})

    def prepare_schema(self, schema: Any) -> Any:
        return schema

    def compile_json(self, schema: Any) -> Any:
        return self._gm.compile_json_schema(schema, self.tok, **self.options)

    can_terminate = GrammaskCfgAdapter.can_terminate
    memory_bytes = GrammaskCfgAdapter.memory_bytes

    def describe(self) -> str:
        return (
            "TokenizerInfo.from_pretrained(dir, vocab_size, eos_token_ids); "
            f"compile_json_schema(schema, tok{', ' + _opts(self.options) if self.options else ''}); "
            "Matcher(cg); allocate_token_bitmask(1, V); m.fill_next_token_bitmask(bm, 0); "
            "m.accept_token(t); m.can_terminate()"
        )


class XGrammarJsonAdapter(XGrammarCfgAdapter):
    DEFAULT_OPTIONS: ClassVar[dict[str, Any]] = {"strict_mode": False}

    def __init__(self, options: dict[str, Any] | None = None, max_threads: int | None = 1):
        super().__init__(max_threads)
        self.options = {**self.DEFAULT_OPTIONS, **(options or {})}
        if isinstance(self.options.get("separators"), list):
            self.options["separators"] = tuple(self.options["separators"])

    def prepare_schema(self, schema: Any) -> str:
        return _schema_text(schema)

    def compile_json(self, schema: str) -> Any:
        return self.compiler.compile_json_schema(schema, **self.options)

    def describe(self) -> str:
        return (
            "TokenizerInfo.from_huggingface(hf_tok, vocab_size, stop_token_ids); "
            f"GrammarCompiler(info, max_threads={self.max_threads}, cache_enabled=False)"
            f".compile_json_schema(schema_text, {_opts(self.options)}); GrammarMatcher(cg); "
            "allocate_token_bitmask(1, V) (torch); m.fill_next_token_bitmask(bm, 0); m.accept_token(t)"
        )


class LLGuidanceJsonAdapter(LLGuidanceAdapter):
    def __init__(self, options: dict[str, Any] | None = None):
        super().__init__(compat=False)
        self.options = dict(options or {})

    def available(self) -> tuple[bool, str]:
        # Not llguidance.hf: it imports transformers (seconds), which this adapter does not need.
        try:
            self._llg = importlib.import_module("llguidance")
            self._llg_np = importlib.import_module("llguidance.numpy")
        except Exception as e:  # noqa: BLE001
            return False, f"import llguidance failed: {type(e).__name__}: {e}"
        return True, ""

    def setup(self, ctx: TokenizerContext) -> None:
        # What llguidance.hf.from_tokenizer does with a fast tokenizer (LLTokenizer over the
        # tokenizers JSON), from the tokenizer.json file itself.
        with open(ctx.tokenizer_json, encoding="utf-8") as f:
            text = f.read()
        self.tok = self._llg.LLTokenizer(text, eos_token=list(ctx.eos_token_ids))
        self.vocab_size = int(self.tok.vocab_size)

    def prepare_schema(self, schema: Any) -> str:
        return _schema_text(schema)

    def compile_json(self, schema: str) -> Any:
        LLMatcher = self._llg.LLMatcher
        grammar = LLMatcher.grammar_from_json_schema(schema, defaults=self.options or None)
        m = LLMatcher(self.tok, grammar, log_level=0)
        if m.is_error():
            raise RuntimeError(m.get_error())
        return m

    def describe(self) -> str:
        return (
            "LLTokenizer(tokenizer.json text, eos_token=[...]) (= llguidance.hf.from_tokenizer's call); "
            f"LLMatcher.grammar_from_json_schema(schema_text, defaults={self.options or None}); "
            "LLMatcher(tok, g) (= compile; error state = compile error); m0.deep_copy() per instance; "
            "llguidance.numpy.fill_next_token_bitmask(m, bm, 0); m.consume_token(t); m.is_accepting()"
        )


JSON_ADAPTERS: dict[str, Callable[..., EngineAdapter]] = {
    "grammask": GrammaskJsonAdapter,
    "xgrammar": XGrammarJsonAdapter,
    "llguidance": LLGuidanceJsonAdapter,
}


def make_json_adapter(name: str, options: dict[str, Any] | None = None,
                      xgrammar_threads: int | None = 1) -> EngineAdapter:
    if name == "xgrammar":
        return XGrammarJsonAdapter(options, xgrammar_threads)
    return JSON_ADAPTERS[name](options)
