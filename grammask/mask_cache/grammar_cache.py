"""A cache of compiled grammars, in memory and (optionally) on disk, safe across processes.

What is cached where
--------------------
* **Grammar IR** (`grammask.grammar.Grammar`, the output of `schema_to_grammar` /
  `load_grammar`): in a per-cache LRU in memory and, when the cache has a directory, one file
  per key on disk. The IR is what is expensive to rebuild for JSON Schemas (the DFA products
  behind formats, patterns and lengths). It is *tokenizer-independent*, so its key holds no
  tokenizer: one file serves every vocabulary.
* **Compiled grammars** (`CompiledCFG`): in a per-cache LRU in memory only, keyed by the IR key
  plus the parser kind and the tokenizer's `TokenizerInfo.fingerprint`. A `CompiledCFG` is
  immutable to users and thread-safe, so a hit returns *the same object*; its lazily filled
  mask memos are what make a warm hit worth so much.

Keys
----
`key_parts` is a JSON-like dict describing everything the build depends on (for a schema: the
canonical schema, the `JsonSchemaOptions` fields, the `Limits` fields). The cache adds
`grammask.__version__` and `FORMAT_VERSION`; the disk key also adds a fingerprint of the
package's own source files, so an edited checkout with an unchanged version string never
reads grammars built by other code. Values must be dicts with str keys, lists, str, int, finite
float, bool or None; `canonical_key` returns None for anything else and the caller then
compiles without the cache (a tuple and a list would otherwise share a key).

Disk format (no pickle: a cache file may be foreign or hostile)
---------------------------------------------------------------
``<sha256 of the disk key>.ggc``::

    MAGIC (8 bytes) | FORMAT_VERSION (uint32, little endian) | sha256(payload) (32) | payload

The payload is an uncompressed ``.npz`` (written with `np.savez`, read with
``allow_pickle=False``) of exactly four arrays:

* ``meta`` (uint8): UTF-8 JSON with the full disk key (so a renamed or colliding file is
  detected), the grammar name, start, ignore, warnings, rules (name, alternatives, origin),
  terminals (name, pattern, priority, literal, origin, index of its DFA or null) and, per
  DFA, ``[states, byte classes]``;
* ``classes`` (uint8 [dfas, 256]): each DFA's byte -> byte-class map (bytes whose transition
  columns are equal share a class: a JSON terminal's 256 columns are typically 2-30 classes);
* ``trans`` (int32, flat): the DFAs' class-compressed transition tables [states, classes],
  concatenated; a DFA's table is ``compact[:, classes[i]]``;
* ``accepting`` (bool, flat): the DFAs' accepting flags, concatenated.

Few arrays and small tables matter: a disk hit is one read, one sha256 and a handful of numpy
operations (an earlier layout with two arrays per DFA spent most of its time in zip members).

Writes are atomic: a temporary file in the same directory, then `os.replace`. Two processes
writing the same key both complete (the last replace wins; both files are whole and equal).
There is no fsync: a file torn by a crash fails its checksum and is rebuilt.

Reading never trusts the file: a wrong magic, version, checksum, key (a renamed or colliding
file), array name, dtype, shape or value range, or a malformed grammar, makes it *corrupt*. A
corrupt or unreadable file is reported once per path and cache object with a
`GrammaskCacheWarning` (a `UserWarning`, through `warnings.warn`), rebuilt, and overwritten;
nothing about a bad cache file ever raises to the caller. A directory that cannot be created or
written is reported once (also a `GrammaskCacheWarning`) and the cache goes on in memory only.

The default cache
-----------------
`default_cache()` (what `compile_json_schema` / `compile_grammar` use for ``cache=None``) is
memory-only unless the environment variable ``GRAMMASK_CACHE_DIR`` names a directory when it
is first used; then it is on disk there too.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import struct
import sys
import tempfile
import threading
import time
import types
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..automata.dfa import ByteDFA
from ..grammar.ir import Grammar, GrammarWarning, Rule, SourcePos, Terminal

if TYPE_CHECKING:
    from ..compiled_cfg import CompiledCFG

__all__ = ["CACHE_DIR_ENV", "FORMAT_VERSION", "GrammarCache", "GrammaskCacheWarning",
           "canonical_key", "default_cache", "grammar_key_parts", "json_schema_key_parts"]

FORMAT_VERSION = 2           # 2: Grammar.scannerless
MAGIC = b"GGCACHE\x00"
SUFFIX = ".ggc"
CACHE_DIR_ENV = "GRAMMASK_CACHE_DIR"
_HEADER = len(MAGIC) + 4 + 32
_TMP_STALE_SECONDS = 3600.0

# The IR fields this format stores; an IR with other fields is kept in memory only.
_TERMINAL_FIELDS = frozenset({"name", "pattern", "priority", "literal", "origin", "dfa"})
_RULE_FIELDS = frozenset({"name", "alternatives", "origin"})
_GRAMMAR_FIELDS = frozenset({"start", "rules", "terminals", "ignore", "name", "warnings",
                             "scannerless"})


class GrammaskCacheWarning(UserWarning):
    """A grammar cache file was corrupt, foreign or unreadable (it is rebuilt), or the cache
    directory cannot be written (the cache goes on in memory only)."""


class _Corrupt(Exception):
    """A cache file that must not be trusted (the message says why)."""


class _Unserialisable(Exception):
    """An IR this format cannot store faithfully (kept in memory only)."""


# ============================================================================= keys
def canonical_key(key_parts: dict[str, Any]) -> str | None:
    """The canonical JSON text of `key_parts` plus the library and format versions, or None
    when a value is not plain JSON data (the caller then does not cache)."""
    from .. import __version__
    parts = dict(key_parts)
    parts["grammask_version"] = __version__
    parts["cache_format"] = FORMAT_VERSION
    if not _plain_json(parts, 0):
        return None
    try:
        return json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None


def _plain_json(value: Any, depth: int) -> bool:
    if depth > 500:
        return False
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if type(value) is list:
        return all(_plain_json(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(isinstance(k, str) and _plain_json(v, depth + 1) for k, v in value.items())
    return False


_REMEASURE_EVERY = 16

# Limits that decide whether a compile finishes, never what it produces: not part of keys
# (a grammar built under a generous deadline is the same grammar under a tight one).
_RESULT_NEUTRAL_LIMITS = frozenset({"max_compile_seconds", "max_memory_bytes"})


def _limits_dict(limits: Any) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(limits).items()
            if k not in _RESULT_NEUTRAL_LIMITS}


def json_schema_key_parts(schema: Any, options: Any, limits: Any) -> dict[str, Any] | None:
    """Key parts of `schema_to_grammar(schema, options, limits)`; JSON text is parsed first
    (so text and dict share an entry). None when the schema cannot be keyed."""
    if isinstance(schema, (str, bytes, bytearray)):
        try:
            schema = json.loads(schema)
        except ValueError:
            return None          # the builder reports the error
    return {"kind": "json_schema", "schema": schema,
            "options": dataclasses.asdict(options), "limits": _limits_dict(limits)}


def grammar_key_parts(source: Any, syntax: str | None, start: str | None,
                      limits: Any) -> dict[str, Any] | None:
    """Key parts of `load_grammar(source, syntax=, start=)`: the text (a file's content and
    its path, which names it in messages), syntax, start, limits and Lark's version (its
    standard library). None (do not cache) for an already built `Grammar`, an unreadable file,
    and Lark text with relative imports (other files the key cannot see)."""
    path: str | None = None
    if isinstance(source, os.PathLike):
        path = os.fspath(source)
    elif isinstance(source, str):
        if source and "\n" not in source and len(source) < 4096 and os.path.isfile(source):
            path = source
    else:
        return None
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError):
            return None          # load_grammar reports the error
    else:
        text = source
    if not isinstance(text, str) or _RELATIVE_IMPORT in text.replace(" ", "").replace("\t", ""):
        return None
    try:
        import lark
        lark_version = getattr(lark, "__version__", "?")
    except ImportError:          # pragma: no cover - lark is a dependency
        lark_version = None
    return {"kind": "grammar", "text": text, "path": path, "syntax": syntax, "start": start,
            "limits": _limits_dict(limits), "lark_version": lark_version}


_RELATIVE_IMPORT = "%import."

_code_fp: str | None = None
_code_fp_lock = threading.Lock()


def code_fingerprint() -> str:
    """sha256 over grammask's own .py/.pyx sources (computed once per process): part of the
    disk key, so a changed checkout whose version string did not change misses cleanly."""
    global _code_fp
    with _code_fp_lock:
        if _code_fp is None:
            root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            h = hashlib.sha256(b"grammask-sources/1\0")
            found = []
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
                for fn in filenames:
                    if fn.endswith((".py", ".pyx", ".pxd")):
                        found.append(os.path.join(dirpath, fn))
            for p in sorted(found):
                try:
                    with open(p, "rb") as f:
                        data = f.read()
                except OSError:
                    data = b"<unreadable>"
                rel = os.path.relpath(p, root).replace(os.sep, "/").encode()
                h.update(struct.pack("<QQ", len(rel), len(data)) + rel + data)
            _code_fp = h.hexdigest()
        return _code_fp


# ============================================================================= the cache
class GrammarCache:
    """Grammar IR in memory (LRU) and, with a `directory`, on disk; compiled grammars in
    memory (LRU). Thread-safe; several processes may share one directory.

    directory: where the `.ggc` files live (created on first write); None: memory only.
    max_entries: bound of each in-memory LRU (IR and compiled grammars).
    max_bytes: optional bound on the directory's `.ggc` files (oldest by mtime go first;
        a disk hit refreshes its file's mtime).
    max_memory_bytes: bound of each in-memory LRU in bytes (None: entries only): the
        compiled grammars' `memory_bytes()` (automata, lexer tables and the masks memoised
        so far -- they grow while the grammars are used, so the sum is taken again at every
        insertion) and the IR's automata; least recently used entries go first, the newest
        always stays. Without it a server compiling many large schemas keeps 64 grammars'
        masks (MaskBench: ~1.4 GB of a worker's 2.4 GB after 600 records)."""

    def __init__(self, directory: str | os.PathLike[str] | None = None, max_entries: int = 64,
                 max_bytes: int | None = None, max_memory_bytes: int | None = 512 << 20) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be >= 0")
        if max_memory_bytes is not None and max_memory_bytes < 0:
            raise ValueError("max_memory_bytes must be >= 0 or None")
        self.max_memory_bytes = max_memory_bytes
        self._sizes: dict[str, int] = {}                  # LRU key -> bytes, last measured
        self._puts = 0
        self.directory = None if directory is None else \
            os.path.abspath(os.path.expanduser(os.fspath(directory)))
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._ir: OrderedDict[str, Grammar] = OrderedDict()
        self._compiled: OrderedDict[str, CompiledCFG] = OrderedDict()
        self._building: dict[str, list[Any]] = {}        # key -> [lock, users]
        self._warned: set[str] = set()
        self._writable = True
        self._swept = False
        self._counts = {"memory_hits": 0, "disk_hits": 0, "builds": 0, "disk_writes": 0,
                        "corrupt": 0, "compiled_hits": 0, "compiled_builds": 0,
                        "evicted_bytes": 0}

    def __repr__(self) -> str:
        return (f"GrammarCache(directory={self.directory!r}, max_entries={self.max_entries}, "
                f"ir={len(self._ir)}, compiled={len(self._compiled)})")

    # -- public --------------------------------------------------------------------------------
    def get_or_build(self, key_parts: dict[str, Any], build: Callable[[], Grammar]) -> Grammar:
        """The grammar IR for `key_parts`: from memory, else from disk, else `build()` (then
        stored in both). Exceptions of `build` propagate and nothing is stored. Returns a
        fresh `Grammar` container (rules/terminals are frozen and shared)."""
        key = canonical_key(key_parts)
        if key is None:
            return build()
        mkey = _digest(key)
        found = self._memory_get(self._ir, mkey, "memory_hits")
        if found is not None:
            return _copy(found)
        with self._key_lock("ir:" + mkey):
            found = self._memory_get(self._ir, mkey, "memory_hits")
            if found is not None:
                return _copy(found)
            path = disk_key = None
            if self.directory is not None:
                disk_key = key + "\0" + code_fingerprint()
                path = os.path.join(self.directory, _digest(disk_key) + SUFFIX)
                found = self._load(path, disk_key)
            if found is not None:
                self._count("disk_hits")
            else:
                found = build()
                self._count("builds")
                if path is not None and disk_key is not None:
                    self._store(path, disk_key, found)
            self._memory_put(self._ir, mkey, found)
            return _copy(found)

    def compiled(self, key_parts: dict[str, Any], tokenizer_fingerprint: str,
                 make: Callable[[], CompiledCFG]) -> CompiledCFG:
        """The compiled grammar for `key_parts` and the tokenizer: the same object as last
        time when it is still in the in-memory LRU, else `make()` (then remembered)."""
        key = canonical_key({"compiled": key_parts, "tokenizer": tokenizer_fingerprint})
        if key is None or self.max_entries == 0:
            return make()
        mkey = _digest(key)
        found = self._memory_get(self._compiled, mkey, "compiled_hits")
        if found is not None:
            return found
        with self._key_lock("cfg:" + mkey):
            found = self._memory_get(self._compiled, mkey, "compiled_hits")
            if found is not None:
                return found
            found = make()
            self._count("compiled_builds")
            self._memory_put(self._compiled, mkey, found)
            return found

    def clear(self, disk: bool = False) -> None:
        """Forget everything in memory; with `disk`, also delete this directory's `.ggc`
        files (other files there are left alone)."""
        with self._lock:
            self._ir.clear()
            self._compiled.clear()
        if disk and self.directory is not None:
            for name, _size, _mtime in self._entries():
                _unlink(os.path.join(self.directory, name))

    def stats(self) -> dict[str, int]:
        """Counters: memory_hits, disk_hits, builds (IR), disk_writes, corrupt (files
        rejected), compiled_hits, compiled_builds, evicted_bytes (entries dropped for
        `max_memory_bytes`), and the LRU sizes."""
        with self._lock:
            out = dict(self._counts)
            out["ir_entries"] = len(self._ir)
            out["compiled_entries"] = len(self._compiled)
        return out

    # -- memory --------------------------------------------------------------------------------
    def _count(self, what: str) -> None:
        with self._lock:
            self._counts[what] += 1

    def _memory_get(self, lru: OrderedDict, key: str, counter: str) -> Any:
        with self._lock:
            found = lru.get(key)
            if found is not None:
                lru.move_to_end(key)
                self._counts[counter] += 1
            return found

    def _memory_put(self, lru: OrderedDict, key: str, value: Any) -> None:
        with self._lock:
            if self.max_entries == 0:
                return
            lru[key] = value
            lru.move_to_end(key)
            while len(lru) > self.max_entries:
                lru.popitem(last=False)
            if self.max_memory_bytes is None or len(lru) < 2:
                return
            self._puts += 1
            remeasure = not self._puts % _REMEASURE_EVERY
            entries = list(lru.items())
        # Sizes are measured outside the lock (a grammar's masks can number thousands): the
        # new entry now, every entry again every _REMEASURE_EVERY insertions (grammars keep
        # growing while in use), cached in between -- so a compile pays ~0.3 ms, not ~8 ms.
        sizes = []
        for k, v in entries:
            size = self._sizes.get(k)
            if size is None or remeasure or k == key:
                size = self._sizes[k] = _size_of(v)
            sizes.append(size)
        total = sum(sizes)
        with self._lock:
            for k in [k for k in self._sizes if k not in self._ir and k not in self._compiled]:
                del self._sizes[k]
            if total <= self.max_memory_bytes:
                return
            for (k, _v), size in zip(entries[:-1], sizes):   # oldest first; keep the newest
                if total <= self.max_memory_bytes:
                    break
                if lru.pop(k, None) is not None:
                    self._counts["evicted_bytes"] += size
                    self._sizes.pop(k, None)
                total -= size

    def _key_lock(self, key: str) -> _KeyLock:
        return _KeyLock(self, key)

    # -- disk ----------------------------------------------------------------------------------
    def _warn_once(self, tag: str, message: str) -> None:
        with self._lock:
            if tag in self._warned:
                return
            self._warned.add(tag)
        warnings.warn(message, GrammaskCacheWarning, stacklevel=_caller_level())

    def _load(self, path: str, disk_key: str) -> Grammar | None:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            self._count("corrupt")
            self._warn_once("read:" + path, f"grammask grammar cache: cannot read {path} "
                            f"({exc}); rebuilding it")
            return None
        try:
            grammar = decode(data, disk_key)
        except _Corrupt as exc:
            self._count("corrupt")
            self._warn_once("corrupt:" + path, f"grammask grammar cache: ignoring {path}: "
                            f"{exc}; rebuilding it")
            return None
        if self.max_bytes is not None:
            try:
                os.utime(path)
            except OSError:
                pass
        return grammar

    def _store(self, path: str, disk_key: str, grammar: Grammar) -> None:
        if not self._writable:
            return
        try:
            data = encode(grammar, disk_key)
        except _Unserialisable as exc:
            self._warn_once("unserialisable", f"grammask grammar cache: {exc}; such grammars "
                            f"are cached in memory only")
            return
        directory = os.path.dirname(path)
        try:
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                                       suffix=".tmp")
        except OSError as exc:
            self._writable = False
            self._warn_once("unwritable", f"grammask grammar cache: cannot write to "
                            f"{directory} ({exc}); caching in memory only")
            return
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            _unlink(tmp)
            if not os.path.exists(path):      # (a concurrent writer's file is as good)
                self._writable = False
                self._warn_once("unwritable", f"grammask grammar cache: cannot write {path} "
                                f"({exc}); caching in memory only")
            return
        self._count("disk_writes")
        self._housekeeping()

    def _entries(self) -> list[tuple[str, int, float]]:
        out = []
        try:
            with os.scandir(self.directory) as it:
                for e in it:
                    if e.name.endswith(SUFFIX) and not e.name.startswith("."):
                        try:
                            st = e.stat()
                        except OSError:
                            continue
                        out.append((e.name, st.st_size, st.st_mtime))
        except OSError:
            pass
        return out

    def _housekeeping(self) -> None:
        """Once per cache object: remove temporary files of crashed writers (older than an
        hour). After every write when `max_bytes` is set: evict the oldest files."""
        assert self.directory is not None
        if not self._swept:
            self._swept = True
            now = time.time()
            try:
                with os.scandir(self.directory) as it:
                    stale = [e.path for e in it if e.name.startswith(".")
                             and e.name.endswith(".tmp") and SUFFIX in e.name
                             and now - e.stat().st_mtime > _TMP_STALE_SECONDS]
            except OSError:
                stale = []
            for p in stale:
                _unlink(p)
        if self.max_bytes is None:
            return
        entries = sorted(self._entries(), key=lambda e: e[2])
        total = sum(size for _n, size, _m in entries)
        for name, size, _mtime in entries:
            if total <= self.max_bytes:
                break
            _unlink(os.path.join(self.directory, name))
            total -= size


class _KeyLock:
    """A per-key lock (so concurrent threads build one key once), dropped when unused."""

    def __init__(self, cache: GrammarCache, key: str) -> None:
        self.cache, self.key = cache, key

    def __enter__(self) -> None:
        c = self.cache
        with c._lock:
            entry = c._building.get(self.key)
            if entry is None:
                entry = c._building[self.key] = [threading.Lock(), 0]
            entry[1] += 1
        self.lock = entry[0]
        self.lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self.lock.release()
        c = self.cache
        with c._lock:
            entry = c._building[self.key]
            entry[1] -= 1
            if entry[1] == 0:
                del c._building[self.key]


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _caller_level() -> int:
    """The `stacklevel` that attributes a warning to the first frame outside grammask (the
    user's compile call), whatever path through the package led here."""
    level = 2                              # 1: warnings.warn's caller (_warn_once)
    frame: types.FrameType | None = sys._getframe(2)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
            _PACKAGE_DIR):
        level += 1
        frame = frame.f_back
    return level


def _size_of(value: Any) -> int:
    """Bytes an LRU entry holds: a compiled grammar's `memory_bytes()`, an IR's automata."""
    if isinstance(value, Grammar):
        return sum(t.dfa.memory_bytes() for t in list(value.terminals.values())
                   if t.dfa is not None)
    try:
        return int(value.memory_bytes())
    except Exception:                      # noqa: BLE001 - sizing must never fail a compile
        return 0


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _copy(g: Grammar) -> Grammar:
    return dataclasses.replace(g, rules=dict(g.rules), terminals=dict(g.terminals),
                               warnings=list(g.warnings))


# ============================================================================= the default cache
_default: GrammarCache | None = None
_default_lock = threading.Lock()


def default_cache() -> GrammarCache:
    """The process-wide cache used when `compile_*` get ``cache=None``: memory-only, or on
    disk too in ``$GRAMMASK_CACHE_DIR`` when that is set (read on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = GrammarCache(os.environ.get(CACHE_DIR_ENV) or None)
        return _default


def resolve_cache(cache: Any) -> GrammarCache | None:
    """``None`` -> the default cache, ``False`` -> no caching, a `GrammarCache` -> itself."""
    if cache is None:
        return default_cache()
    if cache is False:
        return None
    if isinstance(cache, GrammarCache):
        return cache
    raise TypeError(f"cache must be None, False or a GrammarCache, not {type(cache).__name__}")


# ============================================================================= encode / decode
def _pos(p: SourcePos | None) -> list[Any] | None:
    return None if p is None else [p.line, p.column, p.file]


def encode(grammar: Grammar, disk_key: str) -> bytes:
    """The file bytes of `grammar` under `disk_key` (see the module docstring)."""
    for cls, known in ((Grammar, _GRAMMAR_FIELDS), (Terminal, _TERMINAL_FIELDS),
                       (Rule, _RULE_FIELDS)):
        have = {f.name for f in dataclasses.fields(cls)}
        if have != known:
            raise _Unserialisable(f"the IR class {cls.__name__} has fields "
                                  f"{sorted(have ^ known)} this cache format does not know")
    dfas: list[list[int]] = []
    classmaps: list[np.ndarray] = []
    tables: list[np.ndarray] = []
    accepting: list[np.ndarray] = []
    terminals = []
    for t in grammar.terminals.values():
        dfa_index = None
        if t.dfa is not None:
            if not isinstance(t.dfa, ByteDFA) or t.dfa.start != 0:
                raise _Unserialisable(f"terminal {t.name!r} carries an automaton of type "
                                      f"{type(t.dfa).__name__}")
            compact, classes = _byte_classes(t.dfa.trans)
            dfa_index = len(dfas)
            dfas.append([int(compact.shape[0]), int(compact.shape[1])])
            classmaps.append(classes.reshape(256).astype(np.uint8))
            tables.append(np.ascontiguousarray(compact, dtype="<i4").reshape(-1))
            accepting.append(np.asarray(t.dfa.accepting, dtype=np.bool_))
        terminals.append([t.name, t.pattern, t.priority, t.literal, _pos(t.origin), dfa_index])
    rules = [[r.name, [list(a) for a in r.alternatives], _pos(r.origin)]
             for r in grammar.rules.values()]
    meta = {"key": disk_key, "name": grammar.name, "start": grammar.start,
            "ignore": list(grammar.ignore),
            "warnings": [[w.message, _pos(w.origin)] for w in grammar.warnings],
            "rules": rules, "terminals": terminals, "dfas": dfas,
            "scannerless": grammar.scannerless}
    try:
        text = json.dumps(meta, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _Unserialisable(f"the grammar's metadata is not JSON data ({exc})") from exc
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8),
             classes=np.stack(classmaps) if classmaps else np.zeros((0, 256), np.uint8),
             trans=np.concatenate(tables) if tables else np.zeros(0, "<i4"),
             accepting=np.concatenate(accepting) if accepting else np.zeros(0, np.bool_))
    payload = buf.getvalue()
    return MAGIC + struct.pack("<I", FORMAT_VERSION) + hashlib.sha256(payload).digest() + payload


def _byte_classes(trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct columns of `trans` in first-seen order, byte -> column index)."""
    cols = np.ascontiguousarray(np.asarray(trans, dtype="<i4").T)
    ids: dict[bytes, int] = {}
    classes = np.empty(256, dtype=np.uint8)
    first: list[int] = []
    for b in range(256):
        c = ids.setdefault(cols[b].tobytes(), len(ids))
        if c == len(first):
            first.append(b)
        classes[b] = c
    return np.ascontiguousarray(cols[first].T), classes


def decode(data: bytes, disk_key: str) -> Grammar:
    """The grammar in file bytes `data`, checked against `disk_key`; raises `_Corrupt`."""
    if len(data) < _HEADER:
        raise _Corrupt(f"truncated ({len(data)} bytes)")
    if data[:len(MAGIC)] != MAGIC:
        raise _Corrupt("not a grammask grammar cache file (wrong magic)")
    (version,) = struct.unpack_from("<I", data, len(MAGIC))
    if version != FORMAT_VERSION:
        raise _Corrupt(f"cache format version {version}, this grammask reads "
                       f"{FORMAT_VERSION}")
    payload = memoryview(data)[_HEADER:]
    if hashlib.sha256(payload).digest() != data[len(MAGIC) + 4:_HEADER]:
        raise _Corrupt("checksum mismatch (truncated or corrupt)")
    try:
        return _decode_payload(payload, disk_key)
    except _Corrupt:
        raise
    except Exception as exc:                 # anything at all: the content is not trusted
        raise _Corrupt(f"malformed content ({type(exc).__name__}: {exc})") from exc


def _decode_payload(payload: memoryview, disk_key: str) -> Grammar:
    with np.load(io.BytesIO(payload), allow_pickle=False) as z:
        _check(set(z.files) == {"meta", "classes", "trans", "accepting"}, "unexpected arrays")
        raw = z["meta"]
        _check(raw.dtype == np.uint8 and raw.ndim == 1, "metadata array")
        meta = json.loads(raw.tobytes().decode("utf-8", "surrogatepass"))
        _check(isinstance(meta, dict), "metadata is not an object")
        if meta.get("key") != disk_key:
            raise _Corrupt("written for another key (a renamed or colliding file)")
        classes, flat, acc = z["classes"], z["trans"], z["accepting"]
    dfa_list = _dfas(meta["dfas"], classes, flat, acc)
    terminals: dict[str, Terminal] = {}
    used: set[int] = set()
    _check(isinstance(meta["terminals"], list), "terminals")
    for t in meta["terminals"]:
        _check(isinstance(t, list) and len(t) == 6, "terminal entry")
        name, pattern, priority, literal, origin, dfa_index = t
        _check(isinstance(name, str) and name not in terminals, "terminal name")
        _check(pattern is None or isinstance(pattern, str), "terminal pattern")
        _check(type(priority) is int, "terminal priority")
        _check(literal is None or isinstance(literal, str), "terminal literal")
        dfa = None
        if dfa_index is not None:
            _check(type(dfa_index) is int and 0 <= dfa_index < len(dfa_list)
                   and dfa_index not in used, "dfa index")
            used.add(dfa_index)
            dfa = dfa_list[dfa_index]
        terminals[name] = Terminal(name, pattern, priority, literal, _unpos(origin), dfa)
    _check(len(used) == len(dfa_list), "unused dfa")
    rules: dict[str, Rule] = {}
    _check(isinstance(meta["rules"], list), "rules")
    for r in meta["rules"]:
        _check(isinstance(r, list) and len(r) == 3, "rule entry")
        name, alts, origin = r
        _check(isinstance(name, str) and name not in rules and name not in terminals,
               "rule name")
        _check(isinstance(alts, list) and all(isinstance(a, list) for a in alts), "alternatives")
        rules[name] = Rule(name, tuple(tuple(a) for a in alts), _unpos(origin))
    for rule in rules.values():
        for alt in rule.alternatives:
            for s in alt:
                _check(isinstance(s, str) and (s in rules or s in terminals), "undefined symbol")
    start, name, ignore = meta["start"], meta["name"], meta["ignore"]
    _check(isinstance(start, str) and start in rules, "start rule")
    _check(isinstance(name, str), "grammar name")
    _check(isinstance(ignore, list) and all(isinstance(i, str) and i in terminals
                                            for i in ignore), "ignore")
    _check(isinstance(meta["warnings"], list), "warnings")
    gwarnings = []
    for w in meta["warnings"]:
        _check(isinstance(w, list) and len(w) == 2 and isinstance(w[0], str), "warning")
        gwarnings.append(GrammarWarning(w[0], _unpos(w[1])))
    scannerless = meta.get("scannerless")
    _check(isinstance(scannerless, bool), "scannerless")
    return Grammar(start, rules, terminals, tuple(ignore), name, gwarnings, scannerless)


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise _Corrupt(f"malformed content ({what})")


def _unpos(p: Any) -> SourcePos | None:
    if p is None:
        return None
    _check(isinstance(p, list) and len(p) == 3 and type(p[0]) is int and type(p[1]) is int
           and (p[2] is None or isinstance(p[2], str)), "source position")
    return SourcePos(p[0], p[1], p[2])


def _dfas(shapes: Any, classes: np.ndarray, flat: np.ndarray,
          acc: np.ndarray) -> list[ByteDFA]:
    """Expand the class-compressed DFA tables, checking every shape, dtype and state."""
    _check(isinstance(shapes, list) and all(
        isinstance(d, list) and len(d) == 2 and all(type(v) is int for v in d)
        and 0 < d[0] and 0 < d[1] <= 256 for d in shapes), "dfa shapes")
    _check(classes.dtype == np.uint8 and classes.shape == (len(shapes), 256), "byte classes")
    _check(flat.dtype == np.dtype("<i4") and flat.ndim == 1, "dfa transitions")
    _check(acc.dtype == np.bool_ and acc.ndim == 1, "dfa accepting states")
    _check(flat.shape[0] == sum(n * k for n, k in shapes)
           and acc.shape[0] == sum(n for n, _k in shapes), "dfa sizes")
    out = []
    t_off = a_off = 0
    for i, (n, k) in enumerate(shapes):
        compact = flat[t_off:t_off + n * k].reshape(n, k)
        cmap = classes[i]
        _check(int(cmap.max()) < k, "byte class out of range")
        _check(int(compact.min()) >= -1 and int(compact.max()) < n, "dfa state out of range")
        table = np.take(compact, cmap.astype(np.intp), axis=1)   # (C order, unlike [:, cmap])
        out.append(ByteDFA(table, acc[a_off:a_off + n]))
        t_off += n * k
        a_off += n
    return out
