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
