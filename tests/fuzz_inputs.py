"""Inputs and the property for fuzzing grammask's front ends (regex, Lark, GBNF, JSON Schema).

Shared by the short in-suite fuzz (`tests/test_fuzz_frontends.py`, hypothesis, derandomized)
and the long campaign (`benchmarks/fuzz_long.py`, random seeds, one worker process per batch
with a wall-clock limit so crashes and hangs are caught too).

Every generator is a function of a `random.Random`, so a failing case is reproduced from
(kind, seed) alone: `python -c "import fuzz_inputs as f; print(f.make_case('lark', 1234))"`.

The property (`check_case`): the input either compiles -- and then a `Matcher` can be created,
masks filled and a short random walk over allowed tokens taken, every allowed token being
accepted -- or it raises a `GrammaskError` subclass. Any other exception is a finding.
"""
from __future__ import annotations

import json
import os
import random
import string
import time
from pathlib import Path
from typing import Any

import numpy as np

import grammask
from grammask import GrammaskError, Limits, Matcher, TokenizerInfo

KINDS = ("regex", "lark", "gbnf", "json_schema", "regex_mutated", "lark_mutated",
         "gbnf_mutated", "json_schema_mutated")

# Tight limits keep each case fast; the property is the same under any limits.
FUZZ_LIMITS = Limits(max_repeat=300, max_nfa_states=60_000, max_dfa_states=6_000,
                     max_grammar_rules=3_000, max_parser_items=20_000, max_parser_states=200_000,
                     max_lexer_states=20_000, max_compile_seconds=5.0,
                     max_memory_bytes=256 << 20)


def fuzz_tokenizer() -> TokenizerInfo:
    """Every byte as a token, plus multi-byte tokens (words, JSON punctuation, UTF-8 pieces),
    a special token and EOS: any text is reachable, tokens straddle lexemes."""
    words = [b"ab", b"abc", b"true", b"false", b"null", b'{"', b'":', b'",', b'"}', b"[]",
             b"{}", b"  ", b"\n  ", b"12", b"-1", b"0.5", b"e+", b"\\n", b"\\u00", b"a b",
             "é".encode(), "中".encode(), "😀".encode(), b"\xe4\xb8", b"if", b"def ",
             b"(a", b"a)", b"1,", b", ", b" = ", b"::=", b"/*", b"*/", b"\r\n", b"\t\t"]
    toks: list[bytes | None] = [bytes([b]) for b in range(256)] + words + [None, None]
    eos = len(toks) - 1
    return TokenizerInfo(toks, eos_token_ids=[eos], special_token_ids=[eos - 1])


_TOK: TokenizerInfo | None = None


def tok() -> TokenizerInfo:
    global _TOK
    if _TOK is None:
        _TOK = fuzz_tokenizer()
    return _TOK


# ============================================================================ shared corpus
def shared_data() -> Path | None:
    env = os.environ.get("GRAMMASK_SHARED")
    p = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"
    p = p / "data"
    return p if p.is_dir() else None


_CORPUS: dict[str, list[Any]] = {}


def corpus(kind: str, limit: int = 400) -> list[Any]:
    """Real inputs to mutate: grammars of ../shared/data/grammars, schemas of JSONSchemaBench,
    and built-in seeds (so the mutators work without ../shared too)."""
    if kind in _CORPUS:
        return _CORPUS[kind]
    out: list[Any] = list(_SEEDS[kind])
    root = shared_data()
    if root is not None:
        if kind == "lark":
            out += [p.read_text(encoding="utf-8", errors="replace")
                    for p in sorted((root / "grammars").rglob("*.lark"))]
        elif kind == "gbnf":
            files = sorted((root / "grammars").rglob("*.gbnf")) + \
                sorted((root / "grammars").rglob("*.ebnf"))[:200]
            out += [p.read_text(encoding="utf-8", errors="replace") for p in files]
        elif kind == "json_schema":
            rng = random.Random(0)
            files = sorted((root / "jsonschemabench" / "schemas").glob("*.jsonl"))
            for f in files:
                lines = f.read_text(encoding="utf-8").splitlines()
                for line in rng.sample(lines, min(len(lines), max(1, limit // len(files)))):
                    try:
                        out.append(json.loads(line)["schema"])
                    except (ValueError, KeyError):
                        pass
        elif kind == "regex":
            for s in corpus("json_schema", limit):
                for pat in _patterns(s):
                    out.append(pat)
    _CORPUS[kind] = out
    return out


def _patterns(schema: Any, depth: int = 0) -> list[str]:
    if depth > 50:
        return []
    if isinstance(schema, dict):
        found = [v for k, v in schema.items() if k == "pattern" and isinstance(v, str)]
        for v in schema.values():
            found += _patterns(v, depth + 1)
        return found
    if isinstance(schema, list):
        return [p for v in schema for p in _patterns(v, depth + 1)]
    return []


_SEEDS: dict[str, list[Any]] = {
    "regex": [r"\d{4}-\d{2}-\d{2}", r"[^\"]{0,20}", r"(a|b)*abb", r"(?i)hello|wor(l)d+",
              r"[\u00e0-\u00ff]+\.(com|org)", r"(?:\+|-)?[0-9]+(\.[0-9]+)?([eE][+-]?\d+)?"],
    "lark": [r"""
start: value
?value: object | array | STRING | NUMBER | "true" | "false" | "null"
array: "[" [value ("," value)*] "]"
object: "{" [pair ("," pair)*] "}"
pair: STRING ":" value
STRING: /"[^"\\]*"/
%import common.SIGNED_NUMBER -> NUMBER
%import common.WS
%ignore WS
""", r"""
?start: sum
?sum: product | sum "+" product | sum "-" product
?product: atom | product "*" atom
?atom: NUMBER | "(" sum ")" | NAME
%import common.CNAME -> NAME
%import common.NUMBER
%ignore " "
""", r"""
start: stmt+
stmt: NAME "=" expr ";" | "if" expr "{" stmt* "}"
expr: NAME | INT | expr OP expr
OP.2: "+" | "-" | "=="
NAME: /[a-z_][a-z0-9_]*/
INT: /\d+/
COMMENT: /#[^\n]*/
%ignore COMMENT
%ignore /[ \t\n]+/
"""],
    "gbnf": [r"""
root ::= object
value ::= object | array | string | number | ("true" | "false" | "null") ws
object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}" ws
array ::= "[" ws ( value ("," ws value)* )? "]" ws
string ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) )* "\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws
ws ::= | " " | "\n" [ \t]{0,20}
""", r"""
root ::= (expr "=" ws term "\n")+
expr ::= term ([-+*/] term)*
term ::= ident | num | "(" ws expr ")" ws
ident ::= [a-z] [a-z0-9_]* ws
num ::= [0-9]+ ws
ws ::= [ \t\n]*
""", r"""
root ::= item{1,3} ("," item)?
item ::= "x" | "y" item? | [^a-z]
"""],
    "json_schema": [
        {"type": "object", "properties": {"a": {"type": "integer", "minimum": 0},
                                          "b": {"type": "string", "maxLength": 5}},
         "required": ["a"]},
        {"type": "array", "items": {"anyOf": [{"type": "number"}, {"type": "null"}]},
         "maxItems": 4},
        {"$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}}},
         "$ref": "#/$defs/n"},
        {"oneOf": [{"type": "string", "format": "date"}, {"type": "integer", "multipleOf": 3}]},
        {"enum": ["a", 1, None, True, {"x": [1]}]},
    ],
}


# ============================================================================ generators
_RX_ATOMS = ["a", "b", "ab", ".", r"\d", r"\w", r"\s", r"\D", "[a-c]", "[^x]", "[é-ÿ]",
             r"\u4e2d", r"\n", r"\.", "(?:a)", "x", "[0-9]", "é", "😀", r"\x41", r"[\s\S]",
             r"\p{L}", r"(?=a)", "^", "$", r"\b", r"\1"]
_RX_QUANT = ["", "", "", "*", "+", "?", "{2}", "{0,3}", "{1,}", "*?", "{,4}", "{3,2}",
             "{1000}", "{2,99999}", "++"]


def gen_regex(rng: random.Random, depth: int = 0) -> str:
    """A random pattern: mostly valid, sometimes with unsupported or broken pieces."""
    n = rng.randint(1, 4)
    parts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.25 and depth < 4:
            inner = "|".join(gen_regex(rng, depth + 1) for _ in range(rng.randint(1, 3)))
            atom = rng.choice(["(", "(?:", "(?P<g%d>" % rng.randint(0, 9), "(?i:"]) + inner + ")"
        else:
            atom = rng.choice(_RX_ATOMS)
        parts.append(atom + rng.choice(_RX_QUANT))
    out = "".join(parts)
    if rng.random() < 0.05:
        out = "(?i)" + out
    return out


_LARK_TERMS = ['"a"', '"if"', '"("', '")"', '","', '"é"', '/[0-9]+/', '/[a-z]+/', '/"[^"]*"/',
               '/\\s+/', '/a*/', '/(a|b)+?c/', '/\\d+(\\.\\d+)?/', '"ab"i', '/[^\\n]+/',
               '/(?=a)a/', 'NUMBER', 'WORD', 'CNAME', 'ESCAPED_STRING', 'WS', 'INT', '"x".."z"']


def gen_lark(rng: random.Random) -> str:
    """A random Lark grammar: rules over rules/terminals with EBNF operators, terminal
    definitions, imports, priorities, templates and %ignore -- mostly loadable."""
    n_rules = rng.randint(1, 6)
    rules = ["start"] + [f"r{i}" for i in range(1, n_rules)]
    terms = [f"T{i}" for i in range(rng.randint(0, 4))]
    lines = []
    imports = set()

    def sym(depth: int) -> str:
        r = rng.random()
        if r < 0.35:
            s = rng.choice(rules)
        elif r < 0.55 and terms:
            s = rng.choice(terms)
        elif r < 0.9:
            s = rng.choice(_LARK_TERMS)
            if s.isupper() or s in ("NUMBER", "WORD", "CNAME", "ESCAPED_STRING", "WS", "INT"):
                imports.add(s)
        else:
            s = "(" + expansion(depth + 1) + ")" if depth < 3 else '"z"'
        return s + rng.choice(["", "", "", "*", "+", "?", "~2", "~1..3"])

    def expansion(depth: int) -> str:
        alts = []
        for _ in range(rng.randint(1, 3)):
            alts.append(" ".join(sym(depth) for _ in range(rng.randint(0, 4))) or '"e"')
        return " | ".join(alts)

    for r in rules:
        prefix = rng.choice(["", "", "?", "!", "_"]) if r != "start" else ""
        prio = f".{rng.randint(-2, 3)}" if rng.random() < 0.1 else ""
        lines.append(f"{prefix}{r}{prio}: {expansion(0)}")
    for t in terms:
        body = " | ".join(rng.choice(_LARK_TERMS[:16]) for _ in range(rng.randint(1, 2)))
        prio = f".{rng.randint(-1, 3)}" if rng.random() < 0.2 else ""
        lines.append(f"{t}{prio}: {body}")
    if rng.random() < 0.2:
        lines.append("_sep{x, sep}: x (sep x)*")
        lines.append(f"r_t: _sep{{{rng.choice(rules)}, \",\"}}")
    for imp in sorted(imports):
        lines.append(f"%import common.{imp}")
    if rng.random() < 0.6:
        lines.append(rng.choice(["%import common.WS\n%ignore WS", '%ignore " "',
                                 "%ignore /[ \\t]+/", "%ignore /#[^\\n]*/", "%ignore T0"]))
    if rng.random() < 0.1:
        lines.append("%declare _INDENT _DEDENT")
    rng.shuffle(lines)
    return "\n".join(lines) + "\n"


_GBNF_ITEMS = ['"a"', '"("', '")"', '"\\n"', '"é"', '[a-z]', '[^"\\\\]', '[0-9]', '[ \\t]',
               '"\\u00e9"', '"\\x41"', '.', '[^\\n]', '"ab"']


def gen_gbnf(rng: random.Random) -> str:
    rules = ["root"] + [f"r{i}" for i in range(1, rng.randint(1, 7))]

    def item(depth: int) -> str:
        r = rng.random()
        if r < 0.35:
            s = rng.choice(rules)
        elif r < 0.85 or depth >= 3:
            s = rng.choice(_GBNF_ITEMS)
        else:
            s = "(" + body(depth + 1) + ")"
        return s + rng.choice(["", "", "", "*", "+", "?", "{2}", "{0,3}", "{1,}", "{,2}"])

    def body(depth: int) -> str:
        return " | ".join(" ".join(item(depth) for _ in range(rng.randint(0, 4)))
                          for _ in range(rng.randint(1, 3)))

    lines = [f"{r} ::= {body(0)}" for r in rules]
    rng.shuffle(lines)
    if rng.random() < 0.2:
        lines.append("# a comment")
    return "\n".join(lines) + "\n"


def gen_schema(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON Schema built from the keywords grammask enforces (and some it refuses)."""
    if depth > 4 or rng.random() < 0.15:
        return rng.choice([True, False, {}, {"type": "null"}, {"const": rng.choice([1, "a", None])}])
    kind = rng.choice(["string", "integer", "number", "boolean", "object", "array", "combo",
                       "enum", "ref", "types"])
    s: dict[str, Any]
    if kind == "string":
        s = {"type": "string"}
        if rng.random() < 0.4:
            s["minLength"] = rng.randint(0, 5)
        if rng.random() < 0.4:
            s["maxLength"] = rng.choice([0, 3, 10, 50, 300])
        if rng.random() < 0.3:
            s["pattern"] = gen_regex(rng, 2)
        if rng.random() < 0.2:
            s["format"] = rng.choice(["date", "date-time", "email", "uuid", "ipv4", "uri",
                                      "hostname", "regex", "nonsense"])
    elif kind in ("integer", "number"):
        s = {"type": kind}
        for kw in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
            if rng.random() < 0.25:
                s[kw] = rng.choice([0, 1, -5, 3, 10**6, 0.5, 2.25, 1e300, -1e-7])
    elif kind == "boolean":
        s = {"type": "boolean"}
    elif kind == "object":
        props = {f"p{i}": gen_schema(rng, depth + 1) for i in range(rng.randint(0, 4))}
        s = {"type": "object", "properties": props}
        if props and rng.random() < 0.5:
            s["required"] = rng.sample(sorted(props), rng.randint(1, len(props)))
        if rng.random() < 0.3:
            s["additionalProperties"] = rng.choice([False, True, gen_schema(rng, depth + 1)])
        if rng.random() < 0.15:
            s["patternProperties"] = {"^x": gen_schema(rng, depth + 1)}
        if rng.random() < 0.1:
            s["minProperties"] = rng.randint(0, 3)
            s["maxProperties"] = rng.randint(0, 5)
    elif kind == "array":
        s = {"type": "array"}
        if rng.random() < 0.7:
            s["items"] = gen_schema(rng, depth + 1)
        if rng.random() < 0.2:
            s["prefixItems"] = [gen_schema(rng, depth + 1) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.3:
            s["minItems"] = rng.randint(0, 3)
        if rng.random() < 0.3:
            s["maxItems"] = rng.randint(0, 6)
        if rng.random() < 0.1:
            s["contains"] = gen_schema(rng, depth + 1)
        if rng.random() < 0.05:
            s["uniqueItems"] = True
    elif kind == "combo":
        kw = rng.choice(["anyOf", "oneOf", "allOf", "not", "if"])
        if kw == "not":
            s = {"not": gen_schema(rng, depth + 1)}
        elif kw == "if":
            s = {"if": gen_schema(rng, depth + 1), "then": gen_schema(rng, depth + 1),
                 "else": gen_schema(rng, depth + 1)}
        else:
            s = {kw: [gen_schema(rng, depth + 1) for _ in range(rng.randint(1, 3))]}
    elif kind == "enum":
        s = {"enum": [rng.choice([1, 2.5, "x", "é", None, True, [1, 2], {"k": "v"}])
                      for _ in range(rng.randint(1, 4))]}
    elif kind == "ref":
        s = {"$defs": {"d": gen_schema(rng, depth + 1)},
             "$ref": rng.choice(["#/$defs/d", "#", "#/nope", "http://x/y.json"])}
    else:
        s = {"type": rng.sample(["string", "integer", "null", "array", "object", "number"],
                                rng.randint(1, 3))}
    return s


# ============================================================================ mutators
_NOISE = list(string.printable) + ["é", "中", "😀", "\x00", "\ufffd", "\udcff", "::=", "->",
                                   "%ignore", "%import", "{", "}", "(", ")", "[", "]", "|",
                                   "*", "+", "?", "/", '"', "\\", "~", ".."]


def mutate_text(text: str, rng: random.Random, rounds: int | None = None) -> str:
    """Character-level mutations: delete/duplicate/move spans, insert noise, swap lines."""
    s = text
    for _ in range(rounds or rng.randint(1, 6)):
        n = len(s)
        op = rng.randrange(7)
        i = rng.randrange(n + 1)
        j = min(n, i + rng.randint(0, 12))
        if op == 0:
            s = s[:i] + s[j:]
        elif op == 1:
            s = s[:i] + s[i:j] * rng.randint(2, 5) + s[j:]
        elif op == 2:
            s = s[:i] + rng.choice(_NOISE) + s[i:]
        elif op == 3 and n:
            k = rng.randrange(n)
            s = s[:k] + rng.choice(_NOISE) + s[k + 1:]
        elif op == 4:
            lines = s.split("\n")
            if len(lines) > 1:
                a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
                lines[a], lines[b] = lines[b], lines[a]
            s = "\n".join(lines)
        elif op == 5:
            lines = s.split("\n")
            k = rng.randrange(len(lines))
            lines.insert(rng.randrange(len(lines) + 1), lines[k])
            s = "\n".join(lines)
        else:
            k = rng.randrange(n + 1)
            s = s[:k] + s[i:j] + s[k:]
    return s


_JSON_VALUES: list[Any] = [None, True, False, 0, -1, 1.5, 1e308, -0.0, 10**30, "", "x", "^a+$",
                           "#/$defs/x", "#", "#x", [], {}, [1, "a"], {"type": "string"},
                           {"$ref": "#"}, "string", "integer", "object", "array", "null"]
_KEYWORDS = ["type", "properties", "required", "items", "prefixItems", "anyOf", "oneOf",
             "allOf", "not", "if", "then", "else", "enum", "const", "minimum", "maximum",
             "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
             "pattern", "format", "minItems", "maxItems", "additionalProperties",
             "patternProperties", "propertyNames", "$ref", "$defs", "definitions",
             "dependentRequired", "dependentSchemas", "contains", "minContains", "maxContains",
             "unevaluatedProperties", "unevaluatedItems", "uniqueItems", "$anchor", "$id",
             "minProperties", "maxProperties", "dependencies", "$dynamicRef", "$dynamicAnchor",
             "$recursiveRef", "$recursiveAnchor"]


def mutate_json(value: Any, rng: random.Random, rounds: int | None = None) -> Any:
    """Structural mutations of a JSON document: replace/delete/duplicate a node, add a
    keyword with a random (possibly wrong-typed) value, wrap a node in a combinator."""
    doc = json.loads(json.dumps(value))
    for _ in range(rounds or rng.randint(1, 5)):
        nodes = _json_nodes(doc)
        parent, key = rng.choice(nodes)
        op = rng.randrange(6)
        if parent is None:
            if op < 3:
                doc = {"anyOf": [doc, gen_schema(rng, 3)]} if rng.random() < 0.5 else doc
            continue
        cur = parent[key]
        if op == 0:
            parent[key] = rng.choice(_JSON_VALUES + [gen_schema(rng, 3)])
        elif op == 1 and isinstance(parent, dict):
            del parent[key]
        elif op == 2 and isinstance(cur, dict):
            cur[rng.choice(_KEYWORDS)] = rng.choice(_JSON_VALUES + [gen_schema(rng, 3)])
        elif op == 3:
            parent[key] = {rng.choice(["anyOf", "oneOf", "allOf"]): [cur, cur]}
        elif op == 4 and isinstance(cur, str):
            parent[key] = mutate_text(cur, rng, 2)
        elif op == 5 and isinstance(cur, (int, float)) and not isinstance(cur, bool):
            parent[key] = rng.choice([cur + 1, -cur, cur * 1000, 0, cur / 3])
    return doc


def _json_nodes(doc: Any) -> list[tuple[Any, Any]]:
    out: list[tuple[Any, Any]] = [(None, None)]
    todo = [doc]
    while todo and len(out) < 5000:
        node = todo.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                out.append((node, k))
                todo.append(v)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                out.append((node, i))
                todo.append(v)
    return out


# ============================================================================ cases
def make_case(kind: str, seed: int) -> tuple[str, Any]:
    """(front end, input) for `kind` and `seed` (deterministic)."""
    rng = random.Random(f"{kind}:{seed}")
    if kind == "regex":
        return "regex", gen_regex(rng)
    if kind == "lark":
        return "lark", gen_lark(rng)
    if kind == "gbnf":
        return "gbnf", gen_gbnf(rng)
    if kind == "json_schema":
        return "json_schema", gen_schema(rng)
    if kind == "regex_mutated":
        return "regex", mutate_text(rng.choice(corpus("regex")), rng, rng.randint(1, 3))
    if kind == "lark_mutated":
        return "lark", mutate_text(rng.choice(corpus("lark")), rng, rng.randint(1, 3))
    if kind == "gbnf_mutated":
        return "gbnf", mutate_text(rng.choice(corpus("gbnf")), rng, rng.randint(1, 3))
    if kind == "json_schema_mutated":
        src = rng.choice(corpus("json_schema"))
        if rng.random() < 0.15:          # text-level: broken JSON must be an error, not a crash
            return "json_schema", mutate_text(json.dumps(src), rng, 2)
        return "json_schema", mutate_json(src, rng)
    raise ValueError(kind)


def compile_case(front: str, payload: Any, limits: Limits = FUZZ_LIMITS) -> Any:
    info = tok()
    if front == "regex":
        return grammask.compile_regex(payload, info, limits=limits)
    if front == "lark":
        return grammask.compile_grammar(payload, info, syntax="lark", limits=limits, cache=False)
    if front == "gbnf":
        return grammask.compile_grammar(payload, info, syntax="gbnf", limits=limits, cache=False)
    if front == "json_schema":
        return grammask.compile_json_schema(payload, info, limits=limits, cache=False)
    raise ValueError(front)


def exercise(compiled: Any, seed: int, steps: int = 12) -> int:
    """A Matcher, masks and a random walk over allowed tokens (each must be accepted);
    returns the number of tokens accepted."""
    info = compiled.tokenizer_info
    rng = random.Random(seed)
    m = Matcher(compiled)
    bitmask = grammask.allocate_token_bitmask(1, info.vocab_size)
    taken = 0
    for step in range(steps):
        m.fill_next_token_bitmask(bitmask, 0)
        allowed = m.allowed_token_ids()
        bits = np.unpackbits(bitmask.view(np.uint8), bitorder="little")[: info.vocab_size]
        assert np.array_equal(np.flatnonzero(bits), allowed), "bitmask != allowed_token_ids"
        if allowed.shape[0] == 0:
            assert not m.can_terminate()
            break
        t = int(allowed[rng.randrange(allowed.shape[0])])
        assert m.accept_token(t), f"allowed token {t} refused"
        taken += 1
        if m.is_terminated():
            break
        if step < 2:          # CFG jump-forward walks 256 bytes per forced byte (up to 4096
            m.find_forced_bytes()     # of them): ~2.7 s a call where a grammar forces that many
    return taken


def check_case(front: str, payload: Any, seed: int = 0,
               limits: Limits = FUZZ_LIMITS) -> str:
    """The fuzz property; returns "ok" or "refused:<ErrorType>". Anything else raises."""
    try:
        compiled = compile_case(front, payload, limits)
    except GrammaskError as exc:
        str(exc)                            # the message itself must be printable
        return f"refused:{type(exc).__name__}"
    try:
        exercise(compiled, seed)
    except GrammaskError as exc:            # a limit hit while masks are built lazily
        str(exc)
        return f"refused-late:{type(exc).__name__}"
    return "ok"


def describe(front: str, payload: Any) -> str:
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"{front}: {text[:2000]!r}"


def timed_check(front: str, payload: Any, seed: int = 0) -> tuple[str, float]:
    t0 = time.perf_counter()
    out = check_case(front, payload, seed)
    return out, time.perf_counter() - t0
