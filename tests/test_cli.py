"""The `grammask` command line: exit codes, messages, JSON output."""
from __future__ import annotations

import json

import pytest

from grammask.cli import main


def test_match_and_failure_location(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["match", r"\d{4}-\d{2}", "2024-05", "2024-5x"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "argument 1: match"
    assert "column 7" in out[1] and "offset 6" in out[1] and "'0'-'9'" in out[1]


def test_match_too_short_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["match", "--json", "abc", "ab"]) == 1
    rec = json.loads(capsys.readouterr().out)
    assert rec["match"] is False and rec["ended_early"] and rec["offset"] == 2


def test_match_file(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "t.txt"
    f.write_text("é中")
    assert main(["match", "[^a]+", "--file", str(f)]) == 0
    assert capsys.readouterr().out.strip().endswith("match")


def test_bad_pattern_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["match", "(a", "a"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("grammask: error:") and len(err.strip().splitlines()) == 1


def test_compile_stats_json(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import models
    vocab = {"a": 0, "b": 1, "ab": 2, "</s>": 3}
    tk = tokenizers.Tokenizer(models.WordLevel(vocab, unk_token="</s>"))
    d = tmp_path / "tok"
    d.mkdir()
    tk.save(str(d / "tokenizer.json"))
    assert main(["compile", "(ab)+", "--tokenizer", str(d), "--eos", "3", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["dfa_states"] == 3 and stats["vocab_size"] == 4 and stats["compile_ms"] >= 0
    assert main(["compile", "(ab)+", "--tokenizer", str(tmp_path / "missing"), "--eos", "3"]) == 2


def test_terminal_collision_warnings() -> None:
    from grammask.grammar import Grammar, Rule, Terminal
    from grammask.grammar.collisions import terminal_collisions
    g = Grammar("s", {"s": Rule("s", (("A",), ("B",), ("C",), ("D",)))},
                {"A": Terminal("A", "[a-z]+"), "B": Terminal("B", "[a-c]x"),
                 "C": Terminal("C", "if", literal="if"), "D": Terminal("D", "[0-9]+", priority=2)})
    warnings = [str(w) for w in terminal_collisions(g)]
    assert len(warnings) == 1 and "'A' and 'B'" in warnings[0] and "'ax'" in warnings[0]
    g.scannerless = True                 # GBNF: ties keep both kinds, nothing to warn about
    assert terminal_collisions(g) == []


def test_check_grammar_files(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "g.lark"
    good.write_text('start: NAME "=" NUMBER\n%import common.CNAME -> NAME\n%import common.NUMBER\n')
    assert main(["check", str(good)]) == 0
    assert "ok (1 rules" in capsys.readouterr().out
    bad = tmp_path / "g.gbnf"
    bad.write_text('root ::= "a" item\nitem ::= "b" | missing\n')
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("grammask: error:") and "missing" in err and "line 2" in err
    assert main(["check", str(tmp_path / "g.txt")]) == 2


# --- grammars: check, validate, compile ------------------------------------------------------

KV_LARK = """start: pair ("," pair)*
pair: NAME "=" value
value: NUMBER | NAME | list
list: "[" [value ("," value)*] "]"
%import common.CNAME -> NAME
%import common.NUMBER
%import common.WS
%ignore WS
"""


def _stdin(monkeypatch: pytest.MonkeyPatch, data: str) -> None:
    import io
    import sys
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data.encode("utf-8")),
                                                       encoding="utf-8"))


def test_validate_lark(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    g = tmp_path / "kv.lark"
    g.write_text(KV_LARK)
    ok = tmp_path / "ok.txt"
    ok.write_text("a=1, b=[1, x]\n")
    bad = tmp_path / "bad.txt"
    bad.write_text("a=1,\n  b=[1 2]\n")
    short = tmp_path / "short.txt"
    short.write_text("a=[1,")
    assert main(["validate", str(g), str(ok)]) == 0
    assert capsys.readouterr().out == f"{ok}: valid\n"
    assert main(["validate", str(g), str(ok), str(bad), str(short)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{ok}: valid"
    assert out[1] == (f'{bad}:2:8: invalid: unexpected character \'2\' (byte offset 12); '
                      f'expected "," (COMMA) or "]" (RSQB)')
    assert out[2] == (f'{short}:1:6: invalid: unexpected end of text (byte offset 5); '
                      f'expected "[" (LSQB), NAME, or NUMBER')
    assert main(["validate", "--json", str(g), str(bad), str(short)]) == 1
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert recs[0] == {"file": str(bad), "ok": False, "offset": 12, "line": 2, "column": 8,
                       "expected": ["COMMA", "RSQB"], "reason": "unexpected character '2'",
                       "can_end": False}
    assert recs[1]["reason"] == "unexpected end of text" and recs[1]["offset"] == 5
    assert recs[1]["expected"] == ["LSQB", "NAME", "NUMBER"]
    # --start: `pair` alone; the text could end after "a=1", or the number could go on
    assert main(["validate", "--json", "--start", "pair", "--parser", "earley", str(g),
                 str(ok)]) == 1
    rec = json.loads(capsys.readouterr().out)
    assert rec["offset"] == 3 and rec["expected"] == ["NUMBER"] and rec["can_end"]


def test_validate_gbnf_stdin_and_errors(tmp_path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    g = tmp_path / "list.gbnf"
    g.write_text('root ::= item ("," item)*\nitem ::= [a-z]+ | "(" root ")"\n')
    _stdin(monkeypatch, "ab,(c,D)")
    assert main(["validate", str(g)]) == 1
    assert capsys.readouterr().out == ('<stdin>:1:7: invalid: unexpected character \'D\' '
                                       '(byte offset 6); expected "(" (LIT_LPAR) or '
                                       'RE_1 /[a-z]+/\n')
    text = tmp_path / "t.txt"
    text.write_text("ab,(c,d),e")
    assert main(["validate", str(g), str(text), str(tmp_path / "missing.txt")]) == 2
    captured = capsys.readouterr()
    assert captured.out == f"{text}: valid\n"
    assert captured.err.startswith("grammask: error: cannot read") and "missing.txt" in captured.err
    bad = tmp_path / "bad.gbnf"
    bad.write_text('root ::= "a" nothing\n')
    assert main(["validate", str(bad), str(text)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("grammask: error:") and "nothing" in err and len(err.splitlines()) == 1
    # grammar text on stdin, syntax sniffed from `::=`
    _stdin(monkeypatch, 'root ::= "x"+\n')
    assert main(["validate", "-", str(text)]) == 1


def test_validate_text_api(tmp_path) -> None:
    from grammask import validate as v
    g = 'start: WORD+\nWORD: /[a-zé]+/\n%ignore /[ \\n]+/\n'
    assert v.validate_text(g, "abc dé").ok
    assert v.validate_text(g, b"abc d\xc3\xa9").ok
    r = v.validate_text(g, "ab\nc\né! x")
    assert (r.ok, r.offset, r.line, r.column) == (False, 7, 3, 2)   # 'é' is 2 bytes, 1 column
    assert r.reason == "unexpected character '!'" and r.expected == ["WORD"] and r.can_end
    r = v.validate_text(g, "")
    assert (r.offset, r.line, r.column, r.reason) == (0, 1, 1, "unexpected end of text")
    # a failure inside a multi-byte character points at its column
    r = v.validate_text(g, "aè")
    assert (r.offset, r.line, r.column, r.reason) == (2, 1, 2, "unexpected byte 0xa8")
    # compiled once: the same object for the same grammar text, file, or loaded Grammar
    assert v.compile_for_validation(g) is v.compile_for_validation(g)
    f = tmp_path / "g.lark"
    f.write_text(g)
    c = v.compile_for_validation(str(f))
    assert c is v.compile_for_validation(f) and v.validate_text(c, "x y").ok
    # chunked walking finds the same first dead byte as single-byte steps
    import random
    rng = random.Random(0)
    compiled = v.compile_for_validation(KV_LARK)
    for _ in range(200):
        text = "".join(rng.choice("ab=1,[] \n") for _ in range(rng.randrange(30))).encode()
        state, dead = compiled.initial_state(), None
        for i, b in enumerate(text):
            nxt = compiled.advance(state, bytes([b]))
            if nxt < 0:
                dead = i
                break
            state = nxt
        old = v._CHUNK
        try:
            v._CHUNK = 4
            r = v.validate_text(compiled, text)
        finally:
            v._CHUNK = old
        want = dead if dead is not None else (None if compiled.is_accepting(state) else len(text))
        assert r.offset == want, text


def test_check_warnings_and_stdin(tmp_path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    g = tmp_path / "g.lark"
    g.write_text('start: item+\nitem: A | B\norphan: A "!"\nA: /[a-z]+/\nB: /[a-c]x/\n')
    assert main(["check", str(g)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"{g}: warning: {g}:3:1: rule 'orphan' is unreachable from 'start'" in out
    assert any("terminals 'A' and 'B' collide" in line for line in out)
    assert out[-1].startswith(f"{g}: ok (") and out[-1].endswith(", 2 warnings)")
    # --start makes `orphan` the root: `start` and `item` are then unreachable
    assert main(["check", "--json", "--start", "orphan", str(g)]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["syntax"] == "lark" and any("'start' is unreachable" in w for w in rec["warnings"])
    gb = tmp_path / "g.gbnf"
    gb.write_text('root ::= "a" | "b"\nstray ::= "c"\n')
    assert main(["check", str(gb)]) == 0
    assert f"{gb}:2:1: rule 'stray' is unreachable from 'root'" in capsys.readouterr().out
    _stdin(monkeypatch, 'root ::= "a" | "b"\nstray ::= "c"\n')
    assert main(["check", "-"]) == 0
    assert "<stdin>: warning: 2:1: rule 'stray'" in capsys.readouterr().out
    _stdin(monkeypatch, 'start: "a" b\n')
    assert main(["check", "-", "--syntax", "lark"]) == 2
    assert "'b'" in capsys.readouterr().err


def test_check_undefined_symbol_lark(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    g = tmp_path / "g.lark"
    g.write_text('start: pair+\npair: NAME "=" valu\n%import common.CNAME -> NAME\n')
    assert main(["check", str(g)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("grammask: error:") and len(err.splitlines()) == 1
    assert "'valu'" in err and "line 2, column 16" in err


def test_compile_grammar_stats(tmp_path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import models
    vocab = {"a": 0, "b": 1, "ab": 2, "(": 3, ")": 4, "</s>": 5}
    tk = tokenizers.Tokenizer(models.WordLevel(vocab, unk_token="</s>"))
    d = tmp_path / "tok"
    d.mkdir()
    tk.save(str(d / "tokenizer.json"))
    g = tmp_path / "p.gbnf"
    g.write_text('root ::= "(" root ")" | [ab]+\n')
    assert main(["compile", str(g), "--tokenizer", str(d), "--eos", "5", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["kind"] == "cfg" and stats["grammar"] == str(g) and stats["vocab_size"] == 6
    assert stats["parser"] in ("lalr", "earley") and stats["compile_ms"] >= 0
    assert main(["compile", str(g), "--tokenizer", str(d), "--eos", "5"]) == 0
    assert "lexer_states" in capsys.readouterr().out
    _stdin(monkeypatch, 'start: "(" start ")" | "ab"\n')
    assert main(["compile", "-", "--syntax", "lark", "--parser", "earley", "--tokenizer",
                 str(d), "--eos", "5", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["grammar"] == "<stdin>" and stats["parser"] == "earley"
    assert main(["compile", str(tmp_path / "missing.lark"), "--tokenizer", str(d)]) == 2
    assert "no such grammar file" in capsys.readouterr().err
    # a regex still compiles as a regex, even one ending in an escaped `.lark`
    assert main(["compile", r"x\.lark", "--tokenizer", str(d), "--eos", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "regex"
