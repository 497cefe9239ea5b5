"""The `grammask` command line: check regexes against text, compile with statistics, demo.

Exit codes: 0 success (text matches), 1 text does not match, 2 error (bad pattern, missing
file, bad tokenizer) reported as one line on stderr."""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Sequence

from .errors import GrammaskError


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
    dfa = compile_regex_dfa(args.pattern)
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
    from .compiler import compile_regex
    tok = _load_tokenizer(args)
    t0 = time.perf_counter()
    cg = compile_regex(args.pattern, tok, precompute=args.precompute)
    stats = {"pattern": args.pattern, "total_ms": round((time.perf_counter() - t0) * 1e3, 3),
             **cg.stats()}
    if args.json:
        print(json.dumps(stats, ensure_ascii=False))
    else:
        width = max(len(k) for k in stats)
        for k, v in stats.items():
            print(f"{k:<{width}}  {v}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    run_demo(pattern=args.pattern, seed=args.seed, max_tokens=args.max_tokens,
             tokenizer=_load_tokenizer(args) if args.tokenizer else None)
    return 0


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


def load_grammar_file(path: str, fmt: str | None, start: str | None) -> Any:
    """A grammar file as IR, by explicit format or by extension (.lark, .gbnf)."""
    fmt = fmt or ("gbnf" if path.endswith(".gbnf") else "lark" if path.endswith(".lark") else None)
    if fmt == "gbnf":
        from .grammar.gbnf_frontend import load_gbnf_file
        return load_gbnf_file(path, start=start or "root")
    if fmt == "lark":
        from .grammar.lark_frontend import load_lark_file
        return load_lark_file(path, start=start or "start")
    raise OSError(f"{path}: cannot tell the grammar format from the extension; pass "
                  f"--format lark or --format gbnf")


def cmd_check(args: argparse.Namespace) -> int:
    from .grammar.collisions import terminal_collisions
    grammar = load_grammar_file(args.grammar, args.format, args.start)
    warnings = grammar.check()
    if not args.grammar.endswith(".gbnf") and args.format != "gbnf":
        # GBNF is scannerless (every character-level reading is kept), so overlapping
        # terminals are normal there; in Lark grammars they are decided by the lexer
        warnings += terminal_collisions(grammar)
    if args.json:
        print(json.dumps({"grammar": args.grammar, "ok": True, **grammar.stats(),
                          "warnings": [str(w) for w in warnings]}))
        return 0
    for w in warnings:
        print(f"{args.grammar}: warning: {w}")
    st = grammar.stats()
    print(f"{args.grammar}: ok ({st['rules']} rules, {st['terminals']} terminals, "
          f"{len(warnings)} warnings)")
    return 0


def _add_tokenizer_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tokenizer", help="tokenizer directory (tokenizer.json) or hub name; "
                                       "default: the embedded Llama-3 vocabulary")
    p.add_argument("--vocab-size", type=int, help="logits width (default: tokenizer size)")
    p.add_argument("--eos", type=int, action="append", help="stop token id (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="grammask", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("match", help="check text against a regex (full match)")
    m.add_argument("pattern")
    m.add_argument("text", nargs="*", help="texts to check (default: stdin)")
    m.add_argument("--file", action="append", help="file whose content to check (repeatable)")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_match)
    c = sub.add_parser("compile", help="compile a regex against a tokenizer, print statistics")
    c.add_argument("pattern")
    _add_tokenizer_args(c)
    c.add_argument("--precompute", action="store_true", help="compute every state's mask")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_compile)
    d = sub.add_parser("demo", help="constrained sampling from random logits")
    d.add_argument("--pattern", default=None)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--max-tokens", type=int, default=160)
    _add_tokenizer_args(d)
    d.set_defaults(func=cmd_demo)
    k = sub.add_parser("check", help="load a Lark or GBNF grammar and report errors/warnings")
    k.add_argument("grammar")
    k.add_argument("--format", choices=["lark", "gbnf"])
    k.add_argument("--start", help="start rule (default: start for Lark, root for GBNF)")
    k.add_argument("--json", action="store_true")
    k.set_defaults(func=cmd_check)
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
