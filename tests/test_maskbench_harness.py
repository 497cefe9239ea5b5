"""The MaskBench harness (``benchmarks/maskbench.py``): data loading (schema_ref join, seeded
samples) and an in-process run on a few real records with llguidance, checking the summary's
keys and that its counts add up. No timing asserts.

Skips when ``../shared`` (the MaskBench data and the Llama-3 tokenizer) is missing, and the
engine run when llguidance does not import.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

maskbench = pytest.importorskip("maskbench", reason="benchmarks/maskbench.py does not import")

DATA = Path(maskbench.default_data_dir())
TOKENIZER = Path(maskbench.default_tokenizer_dir())
if not (DATA / "maskbench").is_dir() or not (TOKENIZER / "tokenizer.json").is_file():
    pytest.skip(f"MaskBench data or Llama-3 tokenizer missing ({DATA}, {TOKENIZER}); "
                "set GRAMMASK_SHARED to the shared folder", allow_module_level=True)

SUMMARY_KEYS = {"engine", "records", "pass", "compile_error", "validation_error", "invalidation_error", "timeout",
                "tbm_us", "ttfm_us"}


def test_schema_ref_join_and_sampling():
    recs = maskbench.load_records(str(DATA), ["Github_trivial"])
    assert recs and all(r["group"] == "Github_trivial" for r in recs)
    refs = [r for r in recs if "schema_ref" in r][:3]
    assert refs, "Github_trivial records carry schema_ref"
    store = maskbench.SchemaStore(str(DATA))
    maskbench.resolve_schemas(refs, store)
    assert store.files_read == ["schemas/Github_trivial.jsonl"]
    with open(DATA / "schemas" / "Github_trivial.jsonl", encoding="utf-8") as f:
        by_id = {json.loads(line)["id"]: json.loads(line)["schema"] for line in f}
    for r in refs:
        assert r["schema"] == by_id[r["schema_ref"]["id"]]

    a = maskbench.seeded_sample(recs, 5, seed=3)
    b = maskbench.seeded_sample(recs, 5, seed=3)
    assert [r["id"] for r in a] == [r["id"] for r in b] and len(a) == 5
    order = {r["id"]: n for n, r in enumerate(recs)}
    assert [order[r["id"]] for r in a] == sorted(order[r["id"]] for r in a)  # original order kept
    assert maskbench.seeded_sample(recs, 0, seed=3) == recs


def test_compact_serialisation_keeps_key_order():
    assert maskbench.serialise({"b": 1, "a": [1, "é", None]}) == '{"b":1,"a":[1,"é",null]}'
    assert maskbench.first_line("[12:22:05] /project/cpp/x.cc:4950: Cannot find field\nmore") == "Cannot find field"


@pytest.mark.skipif(importlib.util.find_spec("llguidance") is None, reason="llguidance is not installed")
def test_inprocess_run_with_llguidance(tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    argv = ["--engine", "llguidance", "--groups", "Github_trivial", "--limit", "4", "--workers", "0",
            "--quiet", "--out", str(out), "--json"]
    assert maskbench.main(argv) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 1, lines  # --json: one summary line per engine, nothing else
    s = json.loads(lines[0])
    assert SUMMARY_KEYS <= set(s)
    assert s["engine"] == "llguidance" and s["records"] == 4
    assert s["pass"] + s["compile_error"] + s["validation_error"] + s["invalidation_error"] + s["timeout"] \
        + s["error"] == 4
    assert set(s["tbm_us"]) == {"50", "90", "99", "99.9"} and set(s["ttfm_us"]) == {"50", "90", "99"}
    if s["compile_error"] < 4:
        assert all(v is not None for v in s["ttfm_us"].values())
    if s["masks"]:
        assert all(v is not None for v in s["tbm_us"].values())
    inst = s["instances"]
    assert inst["valid_accepted"] <= inst["valid"] and inst["invalid_rejected"] <= inst["invalid"]

    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in maskbench.load_records(str(DATA), ["Github_trivial"])[:4]]
    for r in rows:
        assert r["engine"] == "llguidance"
        assert {"id", "engine", "status", "ttfm_us", "masks", "detail", "compile_error"} <= set(r)
        assert r["status"] in maskbench.STATUSES
        assert (r["compile_error"] is not None) == (r["status"] == "compile_error")
        if r["status"] == "compile_error":
            assert r["ttfm_us"] is None and r["masks"] == 0
        elif r["status"] == "pass":
            assert r["ttfm_us"] is not None
    for key in ("pass", "compile_error", "validation_error", "invalidation_error", "timeout"):
        assert sum(r["status"] == key for r in rows) == s[key]
    assert sum(r["masks"] for r in rows) == s["masks"]


def test_unknown_group_is_an_error():
    with pytest.raises(SystemExit):
        maskbench.parse_args(["--groups", "NoSuchGroup"])


def test_key_order_diagnostic():
    schema = {"properties": {"a": {"$ref": "#/definitions/x"}, "b": {"items": {"properties": {"m": {}, "n": {}}}}},
              "definitions": {"x": {"properties": {"p": {}, "q": {}}}}}
    assert maskbench.key_order_issue(schema, {"a": {"p": 1, "q": 2}, "b": [{"m": 1, "n": 2}], "zz": 0}) is None
    assert maskbench.key_order_issue(schema, {"b": [], "a": {}}) == "/"
    assert maskbench.key_order_issue(schema, {"a": {"q": 1, "p": 2}}) == "/a"
    assert maskbench.key_order_issue(schema, {"b": [{"m": 1}, {"n": 1, "m": 2}]}) == "/b/1"
