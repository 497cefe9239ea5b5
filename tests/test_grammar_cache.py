"""The compiled-grammar cache: memory and disk hits give the same grammar and masks; a
truncated, corrupt or foreign cache file is detected, reported once and rebuilt; an unwritable
directory degrades to memory; concurrent processes writing one key both succeed."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

import grammask as gm
from grammask.automata.dfa import ByteDFA
from grammask.grammar import load_grammar
from grammask.grammar.ir import Grammar, Rule, Terminal
from grammask.grammar.json_schema import JsonSchemaOptions, schema_to_grammar
from grammask.mask_cache import grammar_cache as gcm
from grammask.mask_cache.grammar_cache import (
    FORMAT_VERSION,
    MAGIC,
    GrammarCache,
    GrammaskCacheWarning,
    canonical_key,
    json_schema_key_parts,
)

TOKENIZER = "llama3"

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
        "created": {"type": "string", "format": "date-time"},
        "name": {"type": "string", "minLength": 1, "maxLength": 12},
        "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]{1,8}$"},
                 "maxItems": 3},
        "score": {"type": "number", "minimum": 0, "maximum": 100},
        "status": {"enum": ["active", "inactive"]},
    },
    "required": ["id", "created", "status"],
    "additionalProperties": False,
}
INSTANCE = {"id": "ABC-1234", "created": "2024-02-29T12:30:00Z", "name": "Zoë",
            "tags": ["x", "yz"], "score": 42.5, "status": "active"}

LARK = r"""
start: pair ("," pair)*
pair.2: KEY "=" value
?value: NUMBER | WORD
KEY: /[a-z]+[0-9]*/
WORD.2: /[A-Za-z_]+/
%import common.NUMBER
%import common.WS
%ignore WS
"""


@pytest.fixture(scope="module")
def tok(load_tokenizer_info):
    return load_tokenizer_info(TOKENIZER)


@pytest.fixture(scope="module")
def encode(load_encoder):
    return load_encoder(TOKENIZER)


@pytest.fixture(scope="module")
def tiny():
    """A byte-level vocabulary: fast to compile against, for tests about files, not masks."""
    return gm.TokenizerInfo([bytes([b]) for b in range(256)] + [None], eos_token_ids=[256])


def schema_key(schema=SCHEMA, limits=gm.DEFAULT_LIMITS, **options):
    return json_schema_key_parts(schema, JsonSchemaOptions(**options), limits)


def the_file(directory: Path) -> Path:
    files = [p for p in directory.iterdir() if p.suffix == ".ggc"]
    assert len(files) == 1, files
    return files[0]


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.suffix != ".ggc"]


def assert_same_grammar(a: Grammar, b: Grammar) -> None:
    assert (a.start, a.name, tuple(a.ignore)) == (b.start, b.name, tuple(b.ignore))
    assert list(a.rules) == list(b.rules)                   # order fixes production numbers
    for name in a.rules:
        assert a.rules[name] == b.rules[name]               # alternatives and origin
    assert list(a.terminals) == list(b.terminals)           # order fixes terminal ids
    for name, t in a.terminals.items():
        u = b.terminals[name]
        assert t == u                                       # name, pattern, priority, literal, origin
        assert (t.dfa is None) == (u.dfa is None)
        if t.dfa is not None:
            assert t.dfa.trans.dtype == u.dfa.trans.dtype == np.int32
            assert np.array_equal(t.dfa.trans, u.dfa.trans)
            assert np.array_equal(t.dfa.accepting, u.dfa.accepting)
    assert [(w.message, w.origin) for w in a.warnings] == [(w.message, w.origin)
                                                           for w in b.warnings]


def mask_trace(compiled, ids: list[int]) -> list[bytes]:
    """The bitmask before every token of `ids` and after the last (teacher forcing)."""
    m = gm.Matcher(compiled)
    bm = gm.allocate_token_bitmask(1, compiled.tokenizer_info.vocab_size)
    out = []
    for t in ids:
        m.fill_next_token_bitmask(bm, 0)
        out.append(np.asarray(bm).tobytes())
        assert m.accept_token(t)
    m.fill_next_token_bitmask(bm, 0)
    out.append(np.asarray(bm).tobytes())
    assert m.can_terminate()
    return out


# ------------------------------------------------------------------------------------ hits
def test_memory_hit_returns_the_compiled_object(tok, encode, tmp_path):
    cache = GrammarCache(tmp_path)
    first = gm.compile_json_schema(SCHEMA, tok, cache=cache)
    second = gm.compile_json_schema(json.dumps(SCHEMA), tok, cache=cache)   # text: same key
    assert second is first
    s = cache.stats()
    assert (s["builds"], s["compiled_builds"], s["compiled_hits"], s["disk_writes"]) == (1, 1, 1, 1)
    assert second.compile_seconds < 0.05
    ids = encode(json.dumps(INSTANCE, separators=(",", ":"), ensure_ascii=False))
    fresh = gm.compile_json_schema(SCHEMA, tok, cache=False)
    assert mask_trace(second, ids) == mask_trace(fresh, ids)


def test_disk_hit_in_a_fresh_cache_equals_the_build(tok, encode, tmp_path):
    gm.compile_json_schema(SCHEMA, tok, cache=GrammarCache(tmp_path))
    built = schema_to_grammar(SCHEMA, JsonSchemaOptions(), gm.DEFAULT_LIMITS)
    assert any(t.dfa is not None for t in built.terminals.values())

    fresh = GrammarCache(tmp_path)                      # a new process, as far as it knows
    loaded = fresh.get_or_build(schema_key(), build=lambda: pytest.fail("rebuilt"))
    assert_same_grammar(loaded, built)
    assert fresh.stats()["disk_hits"] == 1

    other = GrammarCache(tmp_path)
    compiled = gm.compile_json_schema(SCHEMA, tok, cache=other)
    s = other.stats()
    assert (s["disk_hits"], s["builds"], s["compiled_builds"]) == (1, 0, 1)
    ids = encode(json.dumps(INSTANCE, separators=(",", ":"), ensure_ascii=False))
    assert mask_trace(compiled, ids) == mask_trace(gm.compile_json_schema(SCHEMA, tok, cache=False),
                                                   ids)


def test_grammar_text_and_file_round_trip(tiny, tmp_path):
    cache_dir = tmp_path / "cache"
    built = load_grammar(LARK)
    assert built.warnings                          # pair's priority is reported
    c1 = gm.compile_grammar(LARK, tiny, cache=GrammarCache(cache_dir))
    fresh = GrammarCache(cache_dir)
    c2 = gm.compile_grammar(LARK, tiny, cache=fresh)
    assert fresh.stats()["disk_hits"] == 1
    assert_same_grammar(c2.grammar, built)
    assert_same_grammar(c1.grammar, built)
    for text in ["a=1", "ab = Foo, c2=2.5", "a="]:
        m1, m2 = gm.Matcher(c1), gm.Matcher(c2)
        assert m1.accept_string(text) == m2.accept_string(text)
        assert m1.can_terminate() == m2.can_terminate()

    gbnf = tmp_path / "g.gbnf"
    gbnf.write_text('root ::= "x" num\nnum ::= [0-9]+\n', encoding="utf-8")
    first = GrammarCache(cache_dir)
    gm.compile_grammar(gbnf, tiny, cache=first)
    again = GrammarCache(cache_dir)
    cg = gm.compile_grammar(str(gbnf), tiny, cache=again)       # str path and PathLike agree
    assert again.stats()["disk_hits"] == 1
    assert_same_grammar(cg.grammar, load_grammar(gbnf))
    gbnf.write_text('root ::= "y" num\nnum ::= [0-9]+\n', encoding="utf-8")
    changed = GrammarCache(cache_dir)
    cg = gm.compile_grammar(gbnf, tiny, cache=changed)          # keyed by content: a miss
    assert changed.stats()["builds"] == 1 and gm.Matcher(cg).accept_string("y1")


def test_relative_lark_imports_and_grammar_objects_are_not_cached(tiny, tmp_path):
    (tmp_path / "lib.lark").write_text("X: \"x\"\n", encoding="utf-8")
    main = tmp_path / "main.lark"
    main.write_text("start: X\n%import .lib.X\n", encoding="utf-8")
    cache = GrammarCache(tmp_path / "cache")
    gm.compile_grammar(main, tiny, cache=cache)
    gm.compile_grammar(load_grammar(LARK), tiny, cache=cache)
    s = cache.stats()
    assert s["builds"] == s["compiled_builds"] == s["disk_writes"] == 0


def test_key_covers_options_limits_and_tokenizer(tok, tiny, tmp_path):
    cache = GrammarCache(tmp_path)
    a = gm.compile_json_schema(SCHEMA, tiny, cache=cache)
    b = gm.compile_json_schema(SCHEMA, tiny, cache=cache, whitespace="flexible")
    c = gm.compile_json_schema(SCHEMA, tiny, cache=cache, limits=gm.Limits(max_repeat=9_999))
    d = gm.compile_json_schema(SCHEMA, tiny, cache=cache, parser="auto")
    e = gm.compile_json_schema(SCHEMA, tok, cache=cache)        # another vocabulary
    assert len({id(x) for x in (a, b, c, d, e)}) == 5
    s = cache.stats()
    assert s["builds"] == 3 and s["memory_hits"] == 2           # d and e reuse a's IR
    assert len(list(tmp_path.glob("*.ggc"))) == 3
    # a limit the cached IR was built under is never lent to a stricter compile
    with pytest.raises(gm.LimitExceededError):
        gm.compile_json_schema(SCHEMA, tiny, cache=cache, limits=gm.Limits(max_dfa_states=20))


def test_unkeyable_values_bypass_the_cache(tiny, tmp_path):
    assert canonical_key({"schema": {"enum": (1, 2)}}) is None          # tuple vs list
    assert canonical_key({"schema": {1: "x"}}) is None                  # non-str key
    assert canonical_key({"schema": {"const": float("nan")}}) is None
    assert canonical_key({"schema": {"const": 1}}) != canonical_key({"schema": {"const": True}})
    cache = GrammarCache(tmp_path)
    gm.compile_json_schema({"enum": ["a", "b"]}, tiny, cache=cache)
    # a tuple is not a JSON array: the builder rejects it, and the cached list grammar (which
    # json.dumps would give the same text) must not answer for it
    with pytest.raises(gm.SchemaError, match="enum must be an array"):
        gm.compile_json_schema({"enum": ("a", "b")}, tiny, cache=cache)
    assert cache.stats()["builds"] == cache.stats()["compiled_builds"] == 1


def test_cache_false_and_the_default_cache(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(gcm, "_default", None)
    monkeypatch.setenv(gcm.CACHE_DIR_ENV, str(tmp_path / "env"))
    a = gm.compile_json_schema(SCHEMA, tiny)
    b = gm.compile_json_schema(SCHEMA, tiny)
    assert a is b and gcm.default_cache().directory == str(tmp_path / "env")
    assert len(list((tmp_path / "env").glob("*.ggc"))) == 1
    before = gcm.default_cache().stats()
    c = gm.compile_json_schema(SCHEMA, tiny, cache=False)
    d = gm.compile_json_schema(SCHEMA, tiny, cache=False)
    assert c is not d and c is not a
    assert gcm.default_cache().stats() == before
    monkeypatch.setattr(gcm, "_default", None)
    monkeypatch.delenv(gcm.CACHE_DIR_ENV)
    assert gcm.default_cache().directory is None
    with pytest.raises(TypeError):
        gm.compile_json_schema(SCHEMA, tiny, cache="yes")


def test_lru_and_max_bytes_bounds(tiny, tmp_path):
    cache = GrammarCache(tmp_path, max_entries=2, max_bytes=1)
    for n in range(1, 5):
        gm.compile_json_schema({"type": "string", "maxLength": n}, tiny, cache=cache)
    s = cache.stats()
    assert s["ir_entries"] == 2 and s["compiled_entries"] == 2
    assert len(list(tmp_path.glob("*.ggc"))) <= 1               # evicted down to the bound


# ------------------------------------------------------------------------------ bad files
def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _flip(data: bytes) -> bytes:
    i = len(data) - 100
    return data[:i] + bytes([data[i] ^ 0x40]) + data[i + 1:]


def _magic(data: bytes) -> bytes:
    return b"PK\x03\x04junk" + data[10:]


def _version(data: bytes) -> bytes:
    return data[:len(MAGIC)] + struct.pack("<I", FORMAT_VERSION + 1) + data[len(MAGIC) + 4:]


def _empty(data: bytes) -> bytes:
    return b""


@pytest.mark.parametrize("damage", [_truncate, _flip, _magic, _version, _empty, "foreign"])
def test_bad_file_is_reported_once_and_rebuilt(tiny, tmp_path, damage):
    gm.compile_json_schema(SCHEMA, tiny, cache=GrammarCache(tmp_path))
    path = the_file(tmp_path)
    good = path.read_bytes()
    if damage == "foreign":               # a valid file for another key, renamed to this one
        other = tmp_path / "other"
        gm.compile_json_schema({"type": "integer"}, tiny, cache=GrammarCache(other))
        path.write_bytes(the_file(other).read_bytes())
    else:
        path.write_bytes(damage(good))

    cache = GrammarCache(tmp_path, max_entries=0)     # no memory: every call goes to disk
    with pytest.warns(GrammaskCacheWarning) as record:
        compiled = gm.compile_json_schema(SCHEMA, tiny, cache=cache)
    assert len(record) == 1 and str(path) in str(record[0].message)
    assert gm.Matcher(compiled).accept_string(
        json.dumps(INSTANCE, separators=(",", ":"), ensure_ascii=False))
    assert cache.stats()["corrupt"] == 1 and cache.stats()["builds"] == 1
    assert path.read_bytes() == good and leftovers(tmp_path) in ([], ["other"])
    with warnings.catch_warnings():                   # valid now: a clean disk hit
        warnings.simplefilter("error", GrammaskCacheWarning)
        again = GrammarCache(tmp_path)
        gm.compile_json_schema(SCHEMA, tiny, cache=again)
    assert again.stats()["disk_hits"] == 1 and again.stats()["corrupt"] == 0


def test_bad_file_in_a_read_only_directory_warns_once(tiny, tmp_path, monkeypatch):
    gm.compile_json_schema(SCHEMA, tiny, cache=GrammarCache(tmp_path))
    path = the_file(tmp_path)
    path.write_bytes(_flip(path.read_bytes()))

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(gcm.tempfile, "mkstemp", refuse)
    cache = GrammarCache(tmp_path, max_entries=0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for _ in range(3):
            gm.compile_json_schema(SCHEMA, tiny, cache=cache)
    assert all(r.category is GrammaskCacheWarning for r in record)
    messages = sorted(str(r.message) for r in record)
    assert len(messages) == 2, messages              # one for the file, one for the directory
    assert "checksum" in messages[1] or "checksum" in messages[0]
    assert cache.stats()["corrupt"] == 3 and cache.stats()["builds"] == 3


def test_unwritable_directory_degrades_to_memory(tiny, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    cache = GrammarCache(blocker / "cache")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        a = gm.compile_json_schema(SCHEMA, tiny, cache=cache)
        gm.compile_json_schema({"type": "integer"}, tiny, cache=cache)
        b = gm.compile_json_schema(SCHEMA, tiny, cache=cache)
    assert [r.category for r in record] == [GrammaskCacheWarning]
    assert "memory only" in str(record[0].message) and a is b
    assert cache.stats()["disk_writes"] == 0


def test_valid_checksum_but_hostile_content_is_rejected(tiny, tmp_path):
    key = canonical_key(schema_key()) + "\0" + gcm.code_fingerprint()
    path = tmp_path / (gcm._digest(key) + gcm.SUFFIX)
    bad_state = ByteDFA(np.full((1, 256), 7, np.int32), np.array([True]))
    hostile = [
        Grammar("start", {"start": Rule("start", (("NOPE",),))}, {}),                 # undefined
        Grammar("start", {"start": Rule("start", (("T",),))},
                {"T": Terminal("T", "x", dfa=bad_state)}),                          # state 7 of 1
    ]
    for grammar in hostile:
        path.write_bytes(gcm.encode(grammar, key))
        cache = GrammarCache(tmp_path)
        with pytest.warns(GrammaskCacheWarning, match="malformed"):
            compiled = gm.compile_json_schema(SCHEMA, tiny, cache=cache)
        assert cache.stats()["corrupt"] == 1
        assert gm.Matcher(compiled).accept_string(
            json.dumps(INSTANCE, separators=(",", ":"), ensure_ascii=False))


# ------------------------------------------------------------------------------ concurrency
_WORKER = textwrap.dedent("""
    import os, sys, time, json
    import grammask as gm
    from grammask.mask_cache.grammar_cache import GrammarCache
    directory, go, schema = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    tiny = gm.TokenizerInfo([bytes([b]) for b in range(256)] + [None], eos_token_ids=[256])
    cache = GrammarCache(directory)
    deadline = time.time() + 30
    while not os.path.exists(go) and time.time() < deadline:
        time.sleep(0.001)
    compiled = gm.compile_json_schema(schema, tiny, cache=cache)
    assert gm.Matcher(compiled).accept_string(sys.argv[4])
    print(json.dumps(cache.stats()))
""")


def test_two_processes_compile_the_same_schema_at_once(tmp_path):
    cache_dir, go = tmp_path / "cache", tmp_path / "go"
    env = dict(os.environ)
    env.pop(gcm.CACHE_DIR_ENV, None)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    instance = json.dumps(INSTANCE, separators=(",", ":"), ensure_ascii=False)
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(cache_dir), str(go),
                               json.dumps(SCHEMA), instance], env=env, cwd=root,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    go.write_text("go")
    outs = [p.communicate(timeout=60) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "GrammaskCacheWarning" not in err, err
    assert leftovers(cache_dir) == []
    fresh = GrammarCache(cache_dir)
    loaded = fresh.get_or_build(schema_key(), build=lambda: pytest.fail("rebuilt"))
    assert_same_grammar(loaded, schema_to_grammar(SCHEMA, JsonSchemaOptions(), gm.DEFAULT_LIMITS))


def test_threads_and_cache_objects_racing_on_one_file(tiny, tmp_path):
    shared = GrammarCache(tmp_path)
    results, errors = [], []
    barrier = threading.Barrier(8)

    def work(i: int) -> None:
        try:
            barrier.wait()
            cache = shared if i % 2 else GrammarCache(tmp_path, max_entries=0)
            results.append(gm.compile_json_schema(SCHEMA, tiny, cache=cache))
        except BaseException as exc:   # noqa: BLE001 - reported below
            errors.append(exc)

    with warnings.catch_warnings():
        warnings.simplefilter("error", GrammaskCacheWarning)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    assert len(results) == 8
    assert shared.stats()["compiled_builds"] == 1            # one build per key per cache
    assert leftovers(tmp_path) == [] and the_file(tmp_path)
