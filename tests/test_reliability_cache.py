"""Crash-safe on-disk cache, beyond tests/test_grammar_cache.py: several *processes*
(multiprocessing) racing on one grammar and one schema all succeed and leave one valid file;
the key covers grammask's version and sources (a new version never reads an old file); a
writer that dies before its rename leaves no partial cache file; limits that do not change
the result (deadline, memory bound) do not split the cache.

Keys, for the record: the disk file of a grammar's IR is named by sha256 of (canonical
grammar/schema + options + result-relevant limits + grammask version + cache format version
+ sha256 of grammask's sources); its header holds a magic, the format version and the
payload's sha256, and the payload repeats the full key. The IR is tokenizer-independent, so
no tokenizer is in the disk key; compiled grammars (tokenizer-specific) are cached in memory
only, keyed by the same parts plus the parser and `TokenizerInfo.fingerprint`."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import time
import warnings
from pathlib import Path

import pytest

import grammask as gm
from grammask.mask_cache import grammar_cache as gcm
from grammask.mask_cache.grammar_cache import GrammarCache, GrammaskCacheWarning

LARK = r"""
start: pair ("," pair)*
pair: KEY "=" VALUE
KEY: /[a-z]+/
VALUE: /[0-9]+(\.[0-9]+)?/ | ESCAPED_STRING
%import common.ESCAPED_STRING
%import common.WS
%ignore WS
"""
SCHEMA = {"type": "object",
          "properties": {"when": {"type": "string", "format": "date-time"},
                         "n": {"type": "integer", "minimum": 1, "maximum": 999}},
          "required": ["when", "n"]}
TEXT = 'a = 1, bb="x y"'
INSTANCE = '{"when":"2024-01-02T03:04:05Z","n":42}'


def _tiny() -> gm.TokenizerInfo:
    return gm.TokenizerInfo([bytes([b]) for b in range(256)] + [None], eos_token_ids=[256])


def _race_worker(directory: str, go: str, out: mp.Queue) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", GrammaskCacheWarning)
            cache = GrammarCache(directory)
            tok = _tiny()
            deadline = time.time() + 30
            while not os.path.exists(go) and time.time() < deadline:
                time.sleep(0.001)
            cfg = gm.compile_grammar(LARK, tok, cache=cache)
            js = gm.compile_json_schema(SCHEMA, tok, cache=cache)
            ok = gm.Matcher(cfg).accept_string(TEXT) and gm.Matcher(js).accept_string(INSTANCE)
            out.put(("ok" if ok else "refused", cache.stats()))
    except BaseException as exc:   # noqa: BLE001 - reported by the parent
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def _ggc(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix == ".ggc")


def test_processes_compiling_the_same_grammar_at_once_all_succeed(tmp_path):
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    go = tmp_path / "go"
    procs = [ctx.Process(target=_race_worker, args=(str(tmp_path / "cache"), str(go), out))
             for _ in range(4)]
    for p in procs:
        p.start()
    time.sleep(0.2)
    go.write_text("go")
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert all(r[0] == "ok" for r in results), results
    assert sum(r[1]["disk_writes"] + r[1]["disk_hits"] for r in results) >= 8
    files = _ggc(tmp_path / "cache")
    assert len(files) == 2                                   # one grammar, one schema
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.suffix != ".ggc"] == []
    with warnings.catch_warnings():                          # every file whole and valid
        warnings.simplefilter("error", GrammaskCacheWarning)
        fresh = GrammarCache(tmp_path / "cache")
        tok = _tiny()
        assert gm.Matcher(gm.compile_grammar(LARK, tok, cache=fresh)).accept_string(TEXT)
        assert gm.Matcher(gm.compile_json_schema(SCHEMA, tok, cache=fresh)).accept_string(
            INSTANCE)
    assert fresh.stats()["disk_hits"] == 2 and fresh.stats()["corrupt"] == 0


def test_version_and_sources_are_part_of_the_disk_key(tmp_path, monkeypatch):
    tok = _tiny()
    gm.compile_json_schema(SCHEMA, tok, cache=GrammarCache(tmp_path))
    first = _ggc(tmp_path)
    assert len(first) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", GrammaskCacheWarning)   # a miss, not a corrupt file
        monkeypatch.setattr(gm, "__version__", gm.__version__ + ".post999")
        c = GrammarCache(tmp_path)
        gm.compile_json_schema(SCHEMA, tok, cache=c)
        assert c.stats()["builds"] == 1 and c.stats()["disk_hits"] == 0
        monkeypatch.undo()
        monkeypatch.setattr(gcm, "_code_fp", "0" * 64)        # an edited checkout
        c = GrammarCache(tmp_path)
        gm.compile_json_schema(SCHEMA, tok, cache=c)
        assert c.stats()["builds"] == 1
    assert len(_ggc(tmp_path)) == 3


def test_result_neutral_limits_share_one_entry(tmp_path):
    tok = _tiny()
    gm.compile_grammar(LARK, tok, cache=GrammarCache(tmp_path))
    c = GrammarCache(tmp_path)
    gm.compile_grammar(LARK, tok, cache=c,
                       limits=gm.Limits(max_compile_seconds=30, max_memory_bytes=1 << 28))
    assert c.stats()["disk_hits"] == 1
    c = GrammarCache(tmp_path)                                 # a result-relevant limit: miss
    gm.compile_grammar(LARK, tok, cache=c, limits=gm.Limits(max_whitespace=8))
    assert c.stats()["builds"] == 1 and len(_ggc(tmp_path)) == 2


def test_failed_rename_leaves_nothing_behind(tmp_path, monkeypatch):
    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gcm.os, "replace", fail)
    cache = GrammarCache(tmp_path)
    with pytest.warns(GrammaskCacheWarning, match="memory only"):
        cg = gm.compile_grammar(LARK, _tiny(), cache=cache)
    assert gm.Matcher(cg).accept_string(TEXT)
    assert list(tmp_path.iterdir()) == []                     # no partial file, no temp file


def _die_before_rename(directory: str) -> None:
    def die(src, dst):
        os.kill(os.getpid(), signal.SIGKILL)                   # a crash mid-write

    gcm.os.replace = die
    gm.compile_json_schema(SCHEMA, _tiny(), cache=GrammarCache(directory))


def test_writer_killed_mid_write_leaves_no_cache_file(tmp_path):
    ctx = mp.get_context("fork")
    p = ctx.Process(target=_die_before_rename, args=(str(tmp_path),))
    p.start()
    p.join(60)
    assert p.exitcode == -signal.SIGKILL
    assert _ggc(tmp_path) == []                               # only the writer's temp file
    temps = [q for q in tmp_path.iterdir() if q.name.endswith(".tmp")]
    assert len(temps) == 1
    old = time.time() - 2 * 3600                               # an hour-old crash leftover
    os.utime(temps[0], (old, old))
    with warnings.catch_warnings():
        warnings.simplefilter("error", GrammaskCacheWarning)
        cache = GrammarCache(tmp_path)
        cg = gm.compile_json_schema(SCHEMA, _tiny(), cache=cache)
    assert gm.Matcher(cg).accept_string(INSTANCE)
    assert [q.suffix for q in tmp_path.iterdir()] == [".ggc"]  # rebuilt; leftover swept
    assert cache.stats()["builds"] == 1 and cache.stats()["disk_writes"] == 1


def test_a_file_of_garbage_with_a_cache_name_is_rebuilt_once(tmp_path):
    tok = _tiny()
    gm.compile_grammar(LARK, tok, cache=GrammarCache(tmp_path))
    (path,) = _ggc(tmp_path)
    path.write_bytes(os.urandom(4096))
    cache = GrammarCache(tmp_path, max_entries=0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for _ in range(3):
            assert gm.Matcher(gm.compile_grammar(LARK, tok, cache=cache)).accept_string(TEXT)
    assert [r.category for r in record] == [GrammaskCacheWarning]   # reported once
    assert cache.stats()["corrupt"] == 1 and cache.stats()["disk_hits"] == 2
    assert json.loads(json.dumps(cache.stats()))


def test_in_memory_lru_is_bounded_in_bytes():
    """Compiled grammars keep their memoised masks; the in-memory LRU drops the least
    recently used ones once their `memory_bytes()` pass `max_memory_bytes` (newest kept)."""
    tok = _tiny()
    cache = GrammarCache(max_memory_bytes=1)                  # everything is too big
    first = gm.compile_json_schema(SCHEMA, tok, cache=cache)
    second = gm.compile_json_schema({"type": "array", "items": {"type": "string"}}, tok,
                                    cache=cache)
    stats = cache.stats()
    assert stats["compiled_entries"] == 1 and stats["evicted_bytes"] > 0
    assert gm.compile_json_schema({"type": "array", "items": {"type": "string"}}, tok,
                                  cache=cache) is second       # the newest stayed
    assert gm.compile_json_schema(SCHEMA, tok, cache=cache) is not first
    roomy = GrammarCache(max_memory_bytes=None)
    a = gm.compile_json_schema(SCHEMA, tok, cache=roomy)
    gm.compile_json_schema({"type": "integer"}, tok, cache=roomy)
    assert gm.compile_json_schema(SCHEMA, tok, cache=roomy) is a
