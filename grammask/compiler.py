"""Entry points that turn a user's constraint into a `CompiledGrammar`."""
from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .automata import compile_regex_dfa
from .compiled_grammar import CompiledGrammar
from .errors import GrammarError, GrammaskError, LimitExceededError
from .limits import DEFAULT_LIMITS, Limits, _DeadlineInterrupt, compile_budget
from .mask_cache import MaskStore, build_token_trie
from .tokenizer_info import TokenizerInfo


if TYPE_CHECKING:
    from .compiled_cfg import CompiledCFG
    from .max_length import MaxLengthCFG
    from .unique_items import UniqueItemsCFG

AUTO_PRECOMPUTE_STATES = 64

_F = TypeVar("_F", bound=Callable[..., Any])


def _guarded(what: str) -> Callable[[_F], _F]:
    """Run a compile entry point under its `Limits`' compile budget (time and memory, see
    `grammask.limits.compile_budget`) and turn what no front end should ever let escape into
    grammask's documented errors: a `RecursionError` (input nested deeper than any check
    caught) becomes `LimitExceededError('max_nesting')`, a `MemoryError` becomes
    `LimitExceededError('max_memory_bytes')`."""
    def wrap(fn: _F) -> _F:
        @functools.wraps(fn)
        def run(*args: Any, limits: Limits = DEFAULT_LIMITS, **kwargs: Any) -> Any:
            if not isinstance(limits, Limits):
                raise GrammarError(f"limits must be a grammask.Limits, got "
                                   f"{type(limits).__name__}")
            try:
                with compile_budget(limits, what) as budget:
                    out = fn(*args, limits=limits, **kwargs)
                    budget.check_time("the end of compilation")
                    return out
            except GrammaskError:
                raise
            except _DeadlineInterrupt:      # left an `interruptible` block before its exit
                raise LimitExceededError(
                    "max_compile_seconds", limits.max_compile_seconds or 0.0,
                    limits.max_compile_seconds or 0.0,
                    f"compiling the {what} took longer than the deadline") from None
            except RecursionError:
                raise LimitExceededError(
                    "max_nesting", limits.max_nesting + 1, limits.max_nesting,
                    f"the {what} is nested too deeply to compile") from None
            except MemoryError:
                raise LimitExceededError(
                    "max_memory_bytes", limits.max_memory_bytes or 0,
                    limits.max_memory_bytes or 0,
                    f"compiling the {what} ran out of memory") from None
        return run  # type: ignore[return-value]
    return wrap


def _charge_result(nbytes: int) -> None:
    """Count the finished grammar's own structures (masks, lexer table) against
    `max_memory_bytes` (automaton tables were counted as they were built)."""
    from .limits import current_budget
    budget = current_budget()
    if budget is not None:
        budget.charge(nbytes, "the compiled grammar's masks and lexer tables")


@_guarded("regex")
def compile_regex(pattern: str, tokenizer: Any, *, limits: Limits = DEFAULT_LIMITS,
                  precompute: bool | None = None) -> CompiledGrammar:
    """Compile a regular expression (full-match semantics over the generated text).

    tokenizer: a `TokenizerInfo` or anything `TokenizerInfo.from_any` accepts.
    precompute: True computes every state's mask now (slower compile, flat latency after);
    False computes each on first use (memoised); None (default) precomputes automata of at
    most AUTO_PRECOMPUTE_STATES states, whose masks cost well under a millisecond in all.
    Raises `GrammarError` (with the position) for malformed or unsupported patterns and
    `LimitExceededError` when a `Limits` bound is hit."""
    if not isinstance(pattern, str):
        raise GrammarError(f"pattern must be a str, got {type(pattern).__name__}")
    info = tokenizer if isinstance(tokenizer, TokenizerInfo) else TokenizerInfo.from_any(tokenizer)
    trie = build_token_trie(info)  # per tokenizer, cached: not part of a grammar's compile
    t0 = time.perf_counter()
    dfa = compile_regex_dfa(pattern, limits, lookaround=True)
    store = MaskStore(dfa.trans, dfa.accepting, trie, info)
    if precompute or (precompute is None and dfa.num_states <= AUTO_PRECOMPUTE_STATES):
        store.precompute()
    else:
        store.get(dfa.start)  # the first mask is part of compile: time to first mask
    _charge_result(store.memory_bytes())
    return CompiledGrammar("regex", pattern, info, dfa, trie, store, time.perf_counter() - t0)


@_guarded("grammar")
def compile_grammar(source: Any, tokenizer: Any, *, syntax: str | None = None,
                    start: str | None = None, parser: str = "auto",
                    limits: Limits = DEFAULT_LIMITS, cache: Any = None) -> "CompiledCFG":
    """Compile a context-free grammar: Lark EBNF or GBNF text, a path to a `.lark`/`.gbnf`
    file, or an already loaded `grammask.grammar.Grammar`.

    syntax: "lark" or "gbnf" (default: from the file extension, else `::=` means GBNF).
    start: the start rule (default "start" for Lark, "root" for GBNF).
    parser: "auto" (LALR(1) when Lark's analyser builds a table for the grammar — shift/reduce
    conflicts resolved as shift, exactly Lark's lalr language — else Earley; GBNF takes
    Earley on any conflict, its language being the grammar's own), "lalr" or "earley" (every
    context-free grammar, ambiguity included). GBNF is read character-level, as llama.cpp
    reads it (see `grammask.grammar.gbnf_frontend`).
    cache: None (the default `grammask.mask_cache.grammar_cache.default_cache()`), False (no
    caching) or a `GrammarCache`. Text and files are cached (keyed by their content; a file
    also by its path); a `Grammar` object and Lark text with relative imports are not.
    Raises `GrammarError` with file/line/column for malformed grammars and
    `LimitExceededError` when a `Limits` bound is hit."""
    from .compiled_cfg import CompiledCFG
    from . import grammar as front_ends
    from .grammar import Grammar
    from .grammar.whitespace import bound_whitespace
    from .mask_cache.grammar_cache import grammar_key_parts, resolve_cache

    info = tokenizer if isinstance(tokenizer, TokenizerInfo) else TokenizerInfo.from_any(tokenizer)
    trie = build_token_trie(info)
    t0 = time.perf_counter()
    store = resolve_cache(cache)

    def build(grammar: Grammar, text: str) -> CompiledCFG:
        grammar = bound_whitespace(grammar.pruned(), limits)
        compiled = CompiledCFG(grammar, info, trie, limits=limits, source=text, parser=parser)
        _charge_result(compiled.memory_bytes())
        return compiled

    if isinstance(source, Grammar):
        grammar, text = source, source.name
        grammar.check()     # the front ends check what they load (and keep their warnings)
        compiled = build(grammar, text)
    else:
        if not isinstance(source, (str, os.PathLike)):
            raise GrammarError(f"compile_grammar takes grammar text, a path or a Grammar, "
                               f"not {type(source).__name__}")
        if syntax is not None and syntax not in front_ends.SYNTAXES:
            raise GrammarError(f"syntax must be one of {front_ends.SYNTAXES}, not {syntax!r}")
        text = str(source)
        key = None if store is None else grammar_key_parts(source, syntax, start, limits)

        def load() -> Grammar:
            return front_ends.load_grammar(source, syntax=syntax, start=start, limits=limits)

        def make() -> CompiledCFG:
            grammar = load() if store is None or key is None else store.get_or_build(key, load)
            return build(grammar, text)

        compiled = make() if store is None or key is None else \
            store.compiled({**key, "parser": parser}, info.fingerprint, make)
    compiled.compile_seconds = time.perf_counter() - t0
    return compiled


@_guarded("JSON schema")
def compile_json_schema(schema: Any, tokenizer: Any, *, limits: Limits = DEFAULT_LIMITS,
                        parser: str = "earley", cache: Any = None,
                        **options: Any) -> CompiledCFG | UniqueItemsCFG | MaxLengthCFG:
    """Compile a JSON Schema (a dict, a bool, JSON text, or a Pydantic model class /
    `TypeAdapter`) into a grammar whose language is exactly the JSON texts valid against it.

    options: the fields of `grammask.grammar.json_schema.JsonSchemaOptions` (whitespace,
    separators, additional_properties, format_assertion, automaton bounds).
    cache: None (the default `grammask.mask_cache.grammar_cache.default_cache()`: memory, and
    disk when $GRAMMASK_CACHE_DIR is set), False (no caching) or a `GrammarCache`. A hit
    returns the same (shared, thread-safe) `CompiledCFG`; `compile_seconds` is this call's time.
    Raises `SchemaError` naming the schema path for malformed schemas and for keywords a
    grammar cannot enforce exactly (overlapping `oneOf`, `uniqueItems` on object or array
    items, ...), never ignoring them; `LimitExceededError` when a `Limits` bound is hit.
    `uniqueItems` on scalar items is checked at run time: the result is then a
    `grammask.unique_items.UniqueItemsCFG` wrapping the `CompiledCFG` (same interface); so is
    the maxLength of a string whose exact automaton would pass `max_dfa_states`
    (`grammask.max_length.MaxLengthCFG`, around either)."""
    from .compiled_cfg import CompiledCFG
    from .grammar.json_schema import JsonSchemaOptions, schema_to_grammar
    from .grammar.json_schema.builder import MAX_LENGTH_PREFIX, UNIQUE_SEPARATOR
    from .mask_cache.grammar_cache import json_schema_key_parts, resolve_cache
    from .max_length import MaxLengthCFG
    from .unique_items import UniqueItemsCFG

    info = tokenizer if isinstance(tokenizer, TokenizerInfo) else TokenizerInfo.from_any(tokenizer)
    trie = build_token_trie(info)
    t0 = time.perf_counter()
    store = resolve_cache(cache)
    schema = _schema_of(schema)
    try:
        opts = JsonSchemaOptions(**options)
    except TypeError as exc:
        raise GrammarError(f"compile_json_schema: {exc}") from exc
    if limits.max_whitespace is not None and opts.whitespace == "flexible" and \
            opts.max_whitespace > limits.max_whitespace:
        raise LimitExceededError("max_whitespace", opts.max_whitespace, limits.max_whitespace,
                                 "JsonSchemaOptions.max_whitespace is larger")
    key = None if store is None else json_schema_key_parts(schema, opts, limits)

    def build() -> Any:
        return schema_to_grammar(schema, opts, limits)

    def make() -> Any:
        grammar = build() if store is None or key is None else store.get_or_build(key, build)
        grammar = grammar.pruned()
        notes = [str(w) for w in grammar.warnings]      # the builder's (empty language, ...)
        compiled = CompiledCFG(grammar, info, trie, limits=limits, source="<json schema>",
                               parser=parser)
        _charge_result(compiled.memory_bytes())
        compiled.warnings.extend(n for n in notes if n not in compiled.warnings)
        engine: Any = compiled
        if UNIQUE_SEPARATOR in grammar.terminals:
            engine = UniqueItemsCFG(engine)         # uniqueItems, checked at run time
        if any(name.startswith(MAX_LENGTH_PREFIX) for name in grammar.terminals):
            engine = MaxLengthCFG(engine)           # maxLength, checked at run time
        return engine

    compiled = make() if store is None or key is None else \
        store.compiled({**key, "parser": parser}, info.fingerprint, make)
    compiled.compile_seconds = time.perf_counter() - t0
    return compiled


def _schema_of(schema: Any) -> Any:
    """A Pydantic model class or TypeAdapter becomes its JSON Schema; anything else as is."""
    to_schema = getattr(schema, "model_json_schema", None)
    if isinstance(schema, type) and callable(to_schema):
        return to_schema()
    json_schema = getattr(schema, "json_schema", None)
    if callable(json_schema) and type(schema).__name__ == "TypeAdapter":
        return json_schema()
    return schema
