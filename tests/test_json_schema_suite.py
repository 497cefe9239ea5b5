"""JSON Schema Test Suite conformance (draft2020-12, the required keyword files), by teacher
forcing through `grammask.compile_json_schema` with the Llama-3 tokenizer.

The harness is `benchmarks/json_schema_test_suite.py`; its checked-in expected results
(`benchmarks/json_schema_test_suite_expected.json`) list the cases handled right. This test fails
when one of those is no longer handled (a regression), and on ANY invalid instance accepted that
is not in the file's `known_wrong_accepts` (kept empty). Regenerate the file after an improvement
with ``python benchmarks/json_schema_test_suite.py --update-expected``.

The suite data comes from ``../shared/data/json-schema-test-suite`` (or
``$GRAMMASK_JSON_SCHEMA_TEST_SUITE``); the tokenizer from tests/tokenizers_fixture.py (the shared
llama3, else quicktok-v1's bundled vocabulary)."""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest
from tokenizers_fixture import load_test_encoder, load_test_tokenizer

import grammask

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import json_schema_test_suite as suite

TOKENIZER = "llama3"
MAX_LISTED = 40  # failures listed in an assertion message


def _listing(title: str, items: list[str]) -> str:
    shown = items[:MAX_LISTED]
    more = f"\n  ... and {len(items) - len(shown)} more" if len(items) > len(shown) else ""
    return f"{title} ({len(items)}):\n  " + "\n  ".join(shown) + more


@pytest.fixture(scope="module")
def suite_root() -> Path:
    root = suite.suite_dir()
    if root is None:
        pytest.skip("JSON-Schema-Test-Suite data missing: expected ../shared/data/json-schema-test-suite "
                    "(set GRAMMASK_SHARED, or GRAMMASK_JSON_SCHEMA_TEST_SUITE to a checkout)")
    return root


@pytest.fixture(scope="module")
def suite_results(suite_root: Path) -> list[suite.GroupResult]:
    if not hasattr(grammask, "compile_json_schema"):
        pytest.skip("grammask.compile_json_schema is not implemented yet")
    tok, enc = load_test_tokenizer(TOKENIZER), load_test_encoder(TOKENIZER)
    groups = [g for f in suite.suite_files(suite_root) for g in suite.load_groups(suite_root, f)]
    return suite.run_groups(groups, tok, enc)


def test_no_regressions(suite_results: list[suite.GroupResult]) -> None:
    cmp = suite.compare(suite_results, suite.load_expected())
    problems = []
    if cmp.regressions:
        problems.append(_listing("cases listed as handled in json_schema_test_suite_expected.json "
                                 "that are not handled any more", cmp.regressions))
    if cmp.missing:
        problems.append(_listing("listed cases not found in the suite data (different suite version?)",
                                 cmp.missing))
    if problems:
        pytest.fail("\n".join(problems) + "\n(if the change is intended: python benchmarks/json_schema_test_suite.py "
                    "--update-expected)", pytrace=False)


def test_no_wrong_accepts(suite_results: list[suite.GroupResult]) -> None:
    """Invalid data accepted lets a model emit a non-conforming document: never OK."""
    cmp = suite.compare(suite_results, suite.load_expected())
    by_key = {suite.case_key(c.case.file, c.case.id): (r, c) for r, c in suite.wrong_accepts(suite_results)}
    details = [suite.describe_wrong_accept(*by_key[k]) for k in cmp.wrong_accepts]
    if details:
        pytest.fail(_listing("invalid data accepted", details), pytrace=False)


def test_masks_agree_with_accept_token(suite_results: list[suite.GroupResult]) -> None:
    """A mask bit must say exactly what accept_token does (and the EOS bit what can_terminate does)."""
    cmp = suite.compare(suite_results, suite.load_expected())
    if cmp.inconsistencies:
        pytest.fail(_listing("mask / matcher inconsistencies", cmp.inconsistencies), pytrace=False)


def test_no_crashes(suite_results: list[suite.GroupResult]) -> None:
    """A schema grammask cannot handle is refused with a GrammarError, never another exception."""
    bad = [f"{r.group.file} group {r.group.index} ({r.group.description}): {r.message.strip()}"
           for r in suite_results if r.status == "error"]
    bad += [f"{c.case.file} {c.case.id}: {c.detail}" for r in suite_results for c in r.cases
            if c.outcome == "error" and r.status != "error"]
    if bad:
        pytest.fail(_listing("errors other than a GrammarError refusal", bad), pytrace=False)


def test_expected_file_is_well_formed() -> None:
    doc = suite.load_expected()
    assert doc["suite"] == suite.DRAFT
    assert isinstance(doc["known_wrong_accepts"], list)
    for entry in doc["known_wrong_accepts"]:
        assert {"case", "reason"} <= set(entry), entry
    for file, ids in doc["handled"].items():
        assert file.endswith(".json") and len(ids) == len(set(ids)), file


# ---------------------------------------------------------------------------- the harness itself
# A fake engine over a small synthetic suite: checks the classification, the time limit, crash
# isolation and the expected-file comparison without needing compile_json_schema.

_ANY_JSON = r'''
root ::= value
value ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" ( string ":" value ("," string ":" value)* )? "}"
array ::= "[" ( value ("," value)* )? "]"
string ::= "\"" ( [^"\\\x00-\x1f] | "\\" ["\\/bfnrt] | "\\u" [0-9a-fA-F]{4} )* "\""
number ::= "-"? ("0" | [1-9][0-9]*) ("." [0-9]+)? ([eE] [-+]? [0-9]+)?
'''

_SYNTHETIC = {
    "fake.json": [
        {"description": "integer", "schema": {"type": "integer"}, "tests": [
            {"description": "an integer", "data": 12, "valid": True},
            {"description": "a float", "data": 1.5, "valid": False},
            {"description": "integral float", "data": 1.0, "valid": True},   # wrong reject
        ]},
        {"description": "anything goes (fake ignores minimum)", "schema": {"minimum": 3}, "tests": [
            {"description": "above", "data": {"a": [1, "é\u4e2d"]}, "valid": True},
            {"description": "below", "data": 1, "valid": False},             # wrong accept
        ]},
        {"description": "refused", "schema": {"uniqueItems": True}, "tests": [
            {"description": "unique", "data": [1, 2], "valid": True},
            {"description": "not unique", "data": [1, 1], "valid": False},
        ]},
        {"description": "slow", "schema": {"x-sleep": 30}, "tests": [
            {"description": "x", "data": 1, "valid": True},
        ]},
        {"description": "crash", "schema": {"x-crash": True}, "tests": [
            {"description": "x", "data": 1, "valid": False},
        ]},
        {"description": "remote", "schema": {"$ref": "http://localhost:1234/draft2020-12/integer.json"},
         "tests": [{"description": "x", "data": 1, "valid": True}]},
    ],
}


def _fake_engine(tok: grammask.TokenizerInfo):
    any_json = grammask.compile_grammar(_ANY_JSON, tok)

    def compile_fn(schema):
        if isinstance(schema, dict) and "uniqueItems" in schema:
            raise grammask.SchemaError("fake: uniqueItems unsupported", "#/uniqueItems")
        if isinstance(schema, dict) and "x-sleep" in schema:
            time.sleep(schema["x-sleep"])
        if isinstance(schema, dict) and "x-crash" in schema:
            raise KeyError("boom")
        if schema == {"type": "integer"}:
            return grammask.compile_regex(r"-?(0|[1-9][0-9]*)", tok)
        return any_json
    return compile_fn


def test_harness_with_fake_engine(tmp_path: Path) -> None:
    tok, enc = load_test_tokenizer(TOKENIZER), load_test_encoder(TOKENIZER)
    d = tmp_path / "tests" / suite.DRAFT
    d.mkdir(parents=True)
    for name, groups in _SYNTHETIC.items():
        (d / name).write_text(json.dumps(groups), encoding="utf-8")
    assert suite.suite_dir(tmp_path) == tmp_path and suite.suite_files(tmp_path) == ["fake.json"]
    groups = suite.load_groups(tmp_path, "fake.json")
    assert [g.scope_note is None for g in groups] == [True] * 5 + [False]

    t0 = time.monotonic()
    results = suite.run_groups(groups, tok, enc, compile_fn=_fake_engine(tok), timeout_s=2.0, workers=2)
    assert time.monotonic() - t0 < 20
    outcomes = [[c.outcome for c in r.cases] for r in results]
    assert [r.status for r in results] == ["compiled", "compiled", "refused", "timeout", "error", "compiled"]
    assert outcomes[:5] == [["accepted", "rejected", "rejected"], ["accepted", "accepted"],
                            ["refused", "refused"], ["timeout"], ["error"]]
    assert [[c.handled for c in r.cases] for r in results][:3] == [[True, True, False], [True, False],
                                                                    [False, False]]
    assert "KeyError" in results[4].message and "SchemaError" in results[2].message
    assert not any(r.inconsistencies for r in results)

    s = suite.summarise(results)["fake.json"]
    assert (s.cases, s.handled, s.wrong_accepts, s.wrong_rejects, s.refused, s.timeouts, s.errors) == \
        (10, 4, 1, 1, 1, 1, 1)
    assert (s.scope_cases, s.scope_handled) == (9, 3)
    assert "fake.json" in suite.format_table([s])

    doc = suite.expected_document(results, TOKENIZER)
    assert doc["handled"]["fake.json"][0] == "0/0 integer :: an integer"
    cmp = suite.compare(results, doc)
    assert not cmp.regressions and not cmp.missing and not cmp.improvements
    assert cmp.wrong_accepts == ["fake.json 1/1 anything goes (fake ignores minimum) :: below"]
    doc["known_wrong_accepts"] = [{"case": cmp.wrong_accepts[0], "reason": "fake"}]
    doc["handled"]["fake.json"] += ["2/0 refused :: unique", "9/9 gone :: gone"]
    cmp = suite.compare(results, doc)
    assert not cmp.wrong_accepts
    assert cmp.missing == ["fake.json 9/9 gone :: gone"]
    assert len(cmp.regressions) == 1 and re.match(r"fake\.json 2/0 refused :: unique -> refused",
                                                  cmp.regressions[0])
