"""Every grammar file of the shared corpus (../shared/data/grammars) loads, or fails with a
located `GrammarError` listed, with its reason, in `EXPECTED_FAILURES`.

Formats: `*.lark` (Lark EBNF: `load_lark_file`), `*.gbnf` (llama.cpp: `load_gbnf_file`) and the
GAD/ASAp benchmark's `*.ebnf` files, which are GBNF too (`root ::= ...`). Start rules: `start`
for Lark and `root` for GBNF; Lark files without a `start` rule use their first
(non-template) rule, as `detect_lark_start` reads it; `DETECTED_STARTS` lists those files, so a
change of heuristic or of file shows up here. Files that only define terminals or templates
(Lark's `common.lark`, grammars written to be imported) have no rule to start from and fail
without a position, as listed.

`load_grammar` (the one entry point `compile_grammar` uses) is checked to give the same IR as
the format loaders (for GBNF: `collapse_regular=True`, as it documents).

`pytest -s tests/test_grammar_corpus.py -k summary` prints the per-directory counts.
"""
from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from tokenizers_fixture import shared_dir

import grammask.grammar as front_ends
from grammask.errors import GrammarError
from grammask.grammar import Grammar, load_gbnf_file, load_lark_file

SUFFIXES = (".lark", ".gbnf", ".ebnf")


def corpus_root() -> Path | None:
    d = shared_dir()
    if d is None:
        return None
    p = d / "data" / "grammars"
    return p if p.is_dir() else None


ROOT = corpus_root()
FILES = sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
               if p.suffix in SUFFIXES and p.is_file()) if ROOT else []
needs_corpus = pytest.mark.skipif(ROOT is None, reason="../shared/data/grammars is missing "
                                                       "(set GRAMMASK_SHARED to ../shared)")

_NO_RULES = "start rule 'start' is not defined (rules: none)"

# path -> (message fragment, located, why). `located`: the error carries line and column.
EXPECTED_FAILURES: dict[str, tuple[str, bool, str]] = {
    # GBNF files that llama.cpp rejects as well
    "gad-asap/examples/sygus/euphony/11604909.ebnf":
        ("'_' is not allowed in GBNF rule names", True,
         "rule names like `_arg_0` use '_', which llama.cpp's parser rejects"),
    "gad-asap/examples/sygus/woosuk/sygus_iter_26_0_bare.ebnf":
        ("unexpected ')' without a matching '('", True,
         "malformed: `\"(not \" Depth0)\"` closes a group that was never opened"),
    "gad-asap/examples/sygus/woosuk/sygus_iter_26_0_completion.ebnf":
        ("unexpected ')' without a matching '('", True, "same file body as the _bare one"),
    # libraries: only terminals or templates, nothing to start from
    "lark/lark/grammars/common.lark": (_NO_RULES, False, "terminal library (no rules)"),
    "lark/lark/grammars/unicode.lark": (_NO_RULES, False, "terminal library (no rules)"),
    "lark/tests/grammars/templates.lark": (_NO_RULES, False, "only a template (sep{item, delim})"),
    "lark/tests/grammars/test.lark": (_NO_RULES, False, "only %import statements"),
    "lark/tests/grammars/test_unicode.lark": (_NO_RULES, False, "one terminal, no rules"),
    "lark/tests/grammars/test_relative_import_of_nested_grammar__nested_grammar.lark":
        (_NO_RULES, False, "one terminal, imported by another test grammar"),
}

# Lark files without a `start` rule: the start rule `detect_lark_start` picks, and why it fits.
DETECTED_STARTS: dict[str, tuple[str, str]] = {
    "lark/tests/grammars/ab.lark": ("startab", "its only top rule"),
    "lark/tests/grammars/leading_underscore_grammar.lark":
        ("c", "`_a` comes first but is used by `c`; the first rule nobody references is `c`"),
    "lark/tests/grammars/three_rules_using_same_token.lark":
        ("a", "three unrelated rules a, b, c: the first one"),
    "lark/tests/grammars/test_relative_import_of_nested_grammar__grammar_to_import.lark":
        ("rule_to_import", "its only rule"),
    "lark/lark/grammars/python.lark":
        ("single_input", ("the first of single_input/file_input/eval_input (Lark's Python "
                          "parsers start at file_input; all three load)")),
    "lark/examples/advanced/python2.lark": ("single_input", "as python.lark"),
}

_RULE_DEF = re.compile(r"^[ \t]*[?!]?([a-z_][a-z_0-9]*)[ \t]*(\{[^}\n]*\})?[ \t]*"
                       r"(?:\.[ \t]*-?\d+[ \t]*)?:", re.MULTILINE)


def detect_lark_start(text: str) -> str:
    """`start` if defined; else the first non-template rule no other rule references; else
    the first non-template rule; else `start` (the loader then reports there are no rules)."""
    body = re.sub(r"//[^\n]*", "", text)
    defs = [(m.group(1), m.group(2) is not None, m.start()) for m in _RULE_DEF.finditer(body)]
    names = [n for n, template, _ in defs if not template]
    if "start" in names or not names:
        return "start"
    for i, (name, template, at) in enumerate(defs):
        if template:
            continue
        others = body[:at] + body[defs[i + 1][2] if i + 1 < len(defs) else len(body):]
        if not re.search(rf"(?<![\w.]){re.escape(name)}\b(?![ \t]*:)", others):
            return name
    return names[0]


def load(rel: str, collapse: bool = False) -> Grammar:
    """The format loader's IR (`collapse`: GBNF with `collapse_regular=True`, as
    `load_grammar` and the engine read it)."""
    return _load(rel, collapse and not rel.endswith(".lark"))


@cache
def _load(rel: str, collapse: bool) -> Grammar:
    path = ROOT / rel
    if path.suffix == ".lark":
        return load_lark_file(path, start=detect_lark_start(path.read_text(encoding="utf-8")))
    return load_gbnf_file(path, collapse_regular=collapse)


@needs_corpus
def test_corpus_is_there() -> None:
    kinds = Counter(Path(f).suffix for f in FILES)
    assert kinds[".lark"] >= 40 and kinds[".gbnf"] >= 8 and kinds[".ebnf"] >= 300, kinds


@needs_corpus
def test_tables_name_existing_files() -> None:
    stale = [f for f in list(EXPECTED_FAILURES) + list(DETECTED_STARTS) if f not in FILES]
    assert not stale, f"table entries for files that are not in the corpus: {stale}"


@needs_corpus
@pytest.mark.parametrize("rel", FILES)
def test_grammar_file_loads_or_fails_as_listed(rel: str) -> None:
    path = ROOT / rel
    if rel in DETECTED_STARTS:
        assert detect_lark_start(path.read_text(encoding="utf-8")) == DETECTED_STARTS[rel][0]
    expected = EXPECTED_FAILURES.get(rel)
    if expected is None:
        try:
            g = load(rel)
        except GrammarError as exc:
            pytest.fail(f"{rel} was expected to load: {exc}")
        assert g.rules and g.start in g.rules
        return
    fragment, located, why = expected
    with pytest.raises(GrammarError) as info:
        load(rel)
    exc = info.value
    assert fragment in exc.message, f"{rel} ({why}): unexpected error {exc}"
    if located:
        assert exc.line is not None and exc.column is not None, f"{rel}: no position in {exc}"
        assert exc.line >= 1 and exc.column >= 1
        assert exc.name and Path(exc.name).name == path.name, (rel, exc.name)


@needs_corpus
@pytest.mark.skipif(not hasattr(front_ends, "load_grammar"),
                    reason="grammask.grammar.load_grammar is not there yet")
@pytest.mark.parametrize("rel", [f for f in FILES if f not in EXPECTED_FAILURES and
                                 not f.startswith("gad-asap/examples/sygus/")])
def test_load_grammar_agrees_with_the_format_loaders(rel: str) -> None:
    """The generic entry point gives the format loader's IR (GBNF: with regular rules
    collapsed, as `load_grammar` documents). The ~280 SyGuS files of GAD are left out (the
    same generator wrote them all; the other GAD files stand for them)."""
    path = ROOT / rel
    direct = load(rel, collapse=True)
    syntax = "lark" if path.suffix == ".lark" else "gbnf"
    generic = front_ends.load_grammar(str(path), syntax=syntax, start=direct.start)
    assert generic.start == direct.start
    assert {n: r.alternatives for n, r in generic.rules.items()} == \
        {n: r.alternatives for n, r in direct.rules.items()}
    assert {n: (t.pattern, t.priority, t.literal) for n, t in generic.terminals.items()} == \
        {n: (t.pattern, t.priority, t.literal) for n, t in direct.terminals.items()}
    assert set(generic.ignore) == set(direct.ignore)


@needs_corpus
def test_corpus_summary() -> None:
    """Per top-level directory: files, loaded, expected failures (printed with -s)."""
    rows: dict[str, Counter] = {}
    for rel in FILES:
        top = str(Path(rel).parent)
        c = rows.setdefault(top, Counter())
        c["files"] += 1
        c["expected failures" if rel in EXPECTED_FAILURES else "load"] += 1
    for top, c in sorted(rows.items()):
        print(f"{top:40s} {c['files']:4d} files  {c['load']:4d} load  "
              f"{c['expected failures']:3d} expected failures")
    assert sum(c["load"] for c in rows.values()) == len(FILES) - len(EXPECTED_FAILURES)
