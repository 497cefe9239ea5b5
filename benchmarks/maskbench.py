#!/usr/bin/env python
"""MaskBench: JSON-Schema masks of grammask and peer engines, teacher-forcing JSONSchemaBench's
valid and invalid instances with the Llama-3 tokenizer.

Data: ``../shared/data/jsonschemabench/maskbench/*.jsonl`` (``../shared`` relative to the repo
root, or ``$GRAMMASK_SHARED``; ``--data`` overrides the folder). One record per line with the
schema inline (``schema``) or as ``schema_ref: {"file": "schemas/<X>.jsonl", "id": ...}``, joined
by id with ``schemas/<X>.jsonl`` (each schemas file read once, when a selected record first
needs it; only the lines needed are parsed). Records are taken in file-name order, then line order.

Per record and engine (all in a worker process, see below):

1. **TTFM** (time to first mask, us): ``perf_counter_ns`` around compile + new matcher + the
   first bitmask fill. A schema the engine refuses (it raises, or llguidance's matcher comes out
   in the error state) is a **compile_error**, with the engine's message (first line).
2. Every instance (``tests[]``), serialised compactly in stored key order
   (``json.dumps(data, separators=(",", ":"), ensure_ascii=False)``) and encoded with the Llama-3
   tokenizer (``tokenizers``, no special tokens added), through a fresh matcher: at every
   position clear the bitmask, time the engine's fill call (**TBM**, us), check the next token's
   bit, accept the token; at the end one more timed fill and an EOS bit must be set.
   A *valid* instance must pass all of that, else **validation_error**; an *invalid* instance
   must fail somewhere (a token's bit clear, ``accept`` refused, or no EOS at the end), else
   **invalidation_error** (the engine lets through output the schema forbids).
   An instance whose text holds a special-token string (tokenised as that special token) or
   does not round-trip the tokenizer is skipped and counted (``instances.skipped``).
3. A record **passes** when it compiled, every valid instance was accepted and every invalid one
   rejected. Status precedence: compile_error, invalidation_error, validation_error, timeout,
   error (an exception or a crashed worker). ``--timeout`` (s) bounds a whole record (compile +
   all instances): checked between tokens in the worker; a worker stuck in a native call is
   killed ``KILL_SLACK_S`` later and restarted, and the run goes on.

TBM percentiles are over every mask of every record that compiled (valid and invalid
instances; the first mask, inside TTFM, excluded), TTFM percentiles over the records that
compiled. Lazy engines (grammask, llguidance) pay part of their work in TTFM and in the masks.

Workers: ``--workers`` (default 2) subprocesses per engine, engines one after another; each
loads the tokenizer, sets the engine up, warms up on a tiny schema, then takes one record at a
time from the parent over stdin and answers one JSON line (protocol on a private copy of
stdout; what the engine prints goes to stderr). ``--workers 0`` runs in this process (no
kill: a native call that hangs hangs the run). Python's GC is off while a record's instances run.

Peers (xgrammar, llguidance) run on a fixed sample of the selected records (``--peer-sample``,
default 300, drawn with ``--seed``); grammask on all selected records. The output says which
(size, seed, sha1 of the id list).

Usage::

    python benchmarks/maskbench.py --engine grammask                   # all 10,162 records
    python benchmarks/maskbench.py --engine grammask,xgrammar,llguidance --peer-sample 300
    python benchmarks/maskbench.py --engine llguidance,xgrammar --sample 300 --seed 0 --json
    python benchmarks/maskbench.py --groups Github_easy,Kubernetes --limit 50 --out /tmp/mb.jsonl
    python benchmarks/maskbench.py --grammask-option whitespace=compact --ids Github_easy---o10008
    python benchmarks/maskbench.py --engine llguidance --peer-whitespace compact  # grammask's layout

Engine options (``--<engine>-option key=value``, value parsed as JSON where it parses; they
override everything else). Every engine runs with its own defaults (``--peer-whitespace
native``), except xgrammar's ``strict_mode=False`` (see ``peers/json_peers.py``): grammask's
layout is compact (no whitespace, ``,`` and ``:``), the peers allow whitespace between tokens,
which costs them mask time (about 2x on xgrammar's median). ``--peer-whitespace compact`` gives
the peers grammask's layout: xgrammar ``any_whitespace=False, separators=(",", ":")``,
llguidance ``whitespace_flexible=False``. Caveat: xgrammar 0.2.8 ignores ``separators`` in its
built-in any-JSON rules (free-form arrays / objects keep ``", "``: ``basic_array_items ::= ", "
basic_any``), so in compact mode it refuses valid compact instances such as ``{"a":[1,2]}``
under ``{"type": "object"}``; those count as its validation errors.

``--json`` prints only one line per engine: ``{"engine", "records", "pass", "compile_error",
"validation_error", "invalidation_error", "timeout", "tbm_us": {"50", "90", "99", "99.9"},
"ttfm_us": {"50", "90", "99"}, ...extras}`` (extras: ``error``, instance counts, selection,
version, options, wall time, ...). ``--out FILE`` writes one JSONL line per record and engine:
id, group, engine, status, ttfm_us, compile_us, masks, instance counts, compile_error (first
line of the engine's message) and the first failure's detail.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import queue
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
if _ROOT not in sys.path:
    sys.path.insert(1, _ROOT)

import numpy as np
from peers.json_peers import JSON_ADAPTERS, TokenizerContext, make_json_adapter
from regex_masks import _bit, _fmt, _log, _pick, _r, _table, _timed_fill

PEERS = ("xgrammar", "llguidance")
PEER_COMPACT: dict[str, dict[str, Any]] = {   # --peer-whitespace compact
    "xgrammar": {"any_whitespace": False, "separators": [",", ":"]},
    "llguidance": {"whitespace_flexible": False},
}
DEFAULT_ENGINES = ("grammask", "xgrammar", "llguidance")
STATUSES = ("pass", "compile_error", "validation_error", "invalidation_error", "timeout", "error")
DEFAULT_PEER_SAMPLE = 300
KILL_SLACK_S = 5.0        # past --timeout before a worker is killed
STARTUP_LIMIT_S = 300.0   # worker: imports + tokenizer preprocessing + warm-up
MAX_STARTUP_FAILURES = 3  # workers of one engine that may die while starting before it is given up
WARMUP_SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
                 "required": ["a"]}
WARMUP_INSTANCE = {"a": 12, "b": "xy"}
TBM_Q = ("50", "90", "99", "99.9")
TTFM_Q = ("50", "90", "99")


def shared_dir() -> str:
    env = os.environ.get("GRAMMASK_SHARED")
    return env if env else os.path.normpath(os.path.join(_ROOT, "..", "shared"))


def default_data_dir() -> str:
    return os.path.join(shared_dir(), "data", "jsonschemabench")


def default_tokenizer_dir() -> str:
    return os.environ.get("GRAMMASK_BENCH_TOKENIZER") or os.path.join(shared_dir(), "tokenizers", "llama3")


def serialise(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def first_line(msg: str, limit: int = 300) -> str:
    """The first non-empty line of an engine message; xgrammar's ``[hh:mm:ss] file.cc:N: `` prefix
    dropped."""
    for line in str(msg).strip().splitlines():
        line = re.sub(r"^\[\d\d:\d\d:\d\d\] \S+:\d+: ", "", line.strip())
        if line:
            return line[:limit]
    return ""


# ============================================================================= data
class SchemaStore:
    """``schemas/<X>.jsonl`` files, each read once when first needed; a line is parsed only when
    its id is asked for."""

    _ID = re.compile(r'\{"id":"((?:[^"\\]|\\.)*)"')

    def __init__(self, data_dir: str):
        self.data_dir = data_dir
        self._lines: dict[str, dict[str, str]] = {}

    def _file(self, rel: str) -> dict[str, str]:
        lines = self._lines.get(rel)
        if lines is None:
            lines = {}
            with open(os.path.join(self.data_dir, rel), encoding="utf-8") as f:
                for line in f:
                    m = self._ID.match(line)
                    key = json.loads('"' + m.group(1) + '"') if m else json.loads(line)["id"]
                    lines[key] = line
            self._lines[rel] = lines
        return lines

    def get(self, ref: dict[str, Any]) -> Any:
        line = self._file(ref["file"]).get(ref["id"])
        if line is None:
            raise KeyError(f"schema {ref['id']!r} not in {ref['file']}")
        return json.loads(line)["schema"]

    @property
    def files_read(self) -> list[str]:
        return sorted(self._lines)


def list_groups(data_dir: str) -> list[str]:
    d = os.path.join(data_dir, "maskbench")
    return sorted(f[:-6] for f in os.listdir(d) if f.endswith(".jsonl"))


def load_records(data_dir: str, groups: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The MaskBench records of the given groups (all by default), schemas not yet resolved."""
    names = list(groups) if groups is not None else list_groups(data_dir)
    out = []
    for g in sorted(names):
        with open(os.path.join(data_dir, "maskbench", g + ".jsonl"), encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    out.append(json.loads(line))
    return out


def resolve_schemas(records: list[dict[str, Any]], store: SchemaStore) -> None:
    for r in records:
        if "schema" not in r:
            r["schema"] = store.get(r["schema_ref"])


def seeded_sample(items: list[Any], n: int | None, seed: int) -> list[Any]:
    """``n`` items drawn with ``random.Random(seed)``, kept in their original order; all when
    ``n`` is None/0 or not smaller than the list."""
    if not n or n >= len(items):
        return list(items)
    keep = sorted(random.Random(seed).sample(range(len(items)), n))
    return [items[i] for i in keep]


def _local_ref(root: Any, ref: str) -> Any:
    if not ref.startswith("#"):
        return None
    node = root
    for part in ref[1:].split("/")[1:] if ref != "#" else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def key_order_issue(schema: Any, data: Any, root: Any = None, path: str = "", depth: int = 0) -> str | None:
    """Where ``data`` has an object whose keys are not in the order its schema's ``properties``
    declares them (following local ``$ref``s, ``properties`` and ``items``; combinators not
    followed), as a JSON pointer; None if nowhere. A diagnostic for refused valid instances:
    engines that keep the declared property order (all three here do) refuse such instances."""
    root = schema if root is None else root
    for _ in range(32):
        if isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and "properties" not in schema:
            schema = _local_ref(root, schema["$ref"])
        else:
            break
    if depth > 64 or not isinstance(schema, dict):
        return None
    if isinstance(data, dict) and isinstance(schema.get("properties"), dict):
        props = schema["properties"]
        order = {k: i for i, k in enumerate(props)}
        seen = [order[k] for k in data if k in order]
        if seen != sorted(seen):
            return path or "/"
        for k, v in data.items():
            if k in props:
                hit = key_order_issue(props[k], v, root, f"{path}/{k}", depth + 1)
                if hit:
                    return hit
    elif isinstance(data, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(data):
            hit = key_order_issue(schema["items"], v, root, f"{path}/{i}", depth + 1)
            if hit:
                return hit
    return None


def ids_digest(records: list[dict[str, Any]]) -> str:
    return hashlib.sha1("\n".join(r["id"] for r in records).encode()).hexdigest()[:12]


# ============================================================================= the worker side
@dataclass
class EngineState:
    """One engine, set up (tokenizer preprocessing, bitmask, warm-up) in one process."""
    adapter: Any
    ctx: TokenizerContext
    eos: list[int]
    vocab_size: int
    native: Any
    view: np.ndarray
    tokenizer_ms: float
    special: set[int]

    @classmethod
    def create(cls, engine: str, job: dict[str, Any]) -> EngineState:
        adapter = make_json_adapter(engine, job["engine_options"].get(engine) or {}, job.get("xgrammar_threads", 1))
        ok, why = adapter.available()
        if not ok:
            raise EngineUnavailable(why)
        ctx = TokenizerContext(job["tokenizer"], job["vocab_size"], job["eos"])
        _ = ctx.fast_tokenizer
        if engine == "xgrammar":
            _ = ctx.hf_tokenizer  # loaded outside the timed preprocessing
        special = set(ctx.special_token_ids)
        t0 = time.perf_counter_ns()
        adapter.setup(ctx)
        tokenizer_ms = (time.perf_counter_ns() - t0) / 1e6
        native, view = adapter.allocate_bitmask()
        words = (job["vocab_size"] + 31) // 32
        if view.dtype != np.int32 or view.ndim != 2 or view.shape[0] != 1 or view.shape[1] < words:
            raise RuntimeError(f"{engine}: bitmask view {view.shape} {view.dtype}, want (1, >={words}) int32")
        st = cls(adapter, ctx, list(job["eos"]), job["vocab_size"], native, view, tokenizer_ms, special)
        warm = st.process({"id": "warm-up", "group": "-", "schema": WARMUP_SCHEMA,
                           "tests": [{"valid": True, "data": WARMUP_INSTANCE},
                                     {"valid": False, "data": {"a": "x"}}]}, 60.0)
        if warm["status"] != "pass":
            _log(f"[{engine}] warm-up record: {warm['status']}: {warm.get('detail') or warm.get('compile_error')}")
        return st

    # ------------------------------------------------------------------ one record
    def encode(self, text: str) -> list[int] | None:
        ids = self.ctx.encode(text)
        if any(i in self.special or i >= self.vocab_size for i in ids):
            return None
        if self.ctx.fast_tokenizer.decode(ids, skip_special_tokens=False) != text:
            return None
        return ids

    def _piece(self, ids: list[int]) -> str:
        try:
            return self.ctx.fast_tokenizer.decode(ids, skip_special_tokens=False)
        except Exception:  # noqa: BLE001
            return "?"

    def run_instance(self, compiled: Any, ids: list[int], times: list[int], deadline: int) -> tuple[str, int, str]:
        """Teacher-force one instance: (outcome, position, note). outcome: accepted | bit (token
        not allowed) | refused (accept refused, bit set) | eos (no EOS at the end) | timeout | error."""
        adapter, view, perf = self.adapter, self.view, time.perf_counter_ns
        pos = 0
        try:
            m = adapter.new_matcher(compiled)
            fill, args = adapter.fill_call(m, self.native)
            for pos, tid in enumerate(ids):
                _timed_fill(fill, args, view, times)
                if not _bit(view, tid):
                    return "bit", pos, ""
                if not adapter.accept(m, tid):
                    return "refused", pos, ""
                if perf() > deadline:
                    return "timeout", pos + 1, ""
            pos = len(ids)
            _timed_fill(fill, args, view, times)
            eos_ok = any(_bit(view, e) for e in self.eos)
            ct = adapter.can_terminate(m)
            mismatch = "term_mismatch" if ct is not None and bool(ct) != eos_ok else ""
            return ("accepted" if eos_ok else "eos"), pos, mismatch
        except Exception as e:  # noqa: BLE001 - an engine exception fails this instance only
            return "error", pos, f"{type(e).__name__}: {first_line(str(e))}"

    def where(self, ids: list[int], pos: int) -> str:
        tok = f" token {ids[pos]} {self._piece([ids[pos]])!r}" if pos < len(ids) else ""
        return f"at token {pos}/{len(ids)}{tok} after {self._piece(ids[max(0, pos - 12):pos])[-40:]!r}"

    def process(self, rec: dict[str, Any], limit_s: float,
                on_compiled: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Everything for one record; returns its result (with the mask times in ``tbm_ns``)."""
        perf = time.perf_counter_ns
        t_start = perf()
        deadline = t_start + int(limit_s * 1e9)
        adapter = self.adapter
        res: dict[str, Any] = {
            "id": rec["id"], "group": rec.get("group"), "status": None, "ttfm_us": None, "compile_us": None,
            "compile_error": None, "error_type": None, "detail": None, "masks": 0,
            "valid": 0, "invalid": 0, "valid_accepted": 0, "invalid_rejected": 0,
            "validation_errors": 0, "invalidation_errors": 0, "skipped": 0, "errors": 0,
            "invalidation_errors_format": 0, "validation_errors_key_order": 0, "term_mismatch": 0, "refused_with_bit_set": 0, "tbm_ns": [],
        }
        # Untimed: the engine's input form of the schema, and every instance's tokens.
        prepared = adapter.prepare_schema(rec["schema"])
        cases = []
        for n, t in enumerate(rec["tests"]):
            valid = bool(t["valid"])
            res["valid" if valid else "invalid"] += 1
            ids = self.encode(serialise(t["data"]))
            if ids is None:
                res["skipped"] += 1
                continue
            cases.append((n, valid, ids, t))

        gc.collect()
        try:
            t0 = perf()
            compiled = adapter.compile_json(prepared)
            t1 = perf()
        except Exception as e:  # noqa: BLE001 - a refused schema is a result
            res.update(status="compile_error", compile_error=first_line(str(e)) or type(e).__name__,
                       error_type=type(e).__name__)
            if on_compiled:
                on_compiled({"error": res["compile_error"]})
            return res
        try:
            m0 = adapter.new_matcher(compiled)
            fill, args = adapter.fill_call(m0, self.native)
            fill(*args)
            t2 = perf()
        except Exception as e:  # noqa: BLE001 - compiled, but no first mask: an engine error
            res.update(status="error", compile_us=(t1 - t0) / 1e3,
                       detail=f"first mask failed: {type(e).__name__}: {first_line(str(e))}")
            return res
        del m0
        res["compile_us"], res["ttfm_us"] = (t1 - t0) / 1e3, (t2 - t0) / 1e3
        if on_compiled:
            on_compiled({"ttfm_us": res["ttfm_us"], "compile_us": res["compile_us"]})

        details: dict[str, str] = {}
        times: list[int] = res["tbm_ns"]
        timed_out = perf() > deadline
        if timed_out:
            details["timeout"] = f"over {limit_s:g} s after compile ({res['compile_us'] / 1e6:.1f} s)"
        gc.disable()
        try:
            for n, valid, ids, t in cases:
                if timed_out:
                    break
                outcome, pos, note = self.run_instance(compiled, ids, times, deadline)
                if note == "term_mismatch":
                    res["term_mismatch"] += 1
                kind = "valid" if valid else "invalid"
                if outcome == "timeout":
                    timed_out = True
                    details.setdefault("timeout", f"over {limit_s:g} s in {kind} instance #{n} {self.where(ids, pos)}")
                elif outcome == "error":
                    res["errors"] += 1
                    details.setdefault("error", f"{kind} instance #{n}: {note} {self.where(ids, pos)}")
                elif valid and outcome == "accepted":
                    res["valid_accepted"] += 1
                elif valid:
                    res["validation_errors"] += 1
                    if outcome == "eos":
                        why = f"no EOS allowed at the end (after {self._piece(ids[-12:])[-40:]!r})"
                    elif outcome == "bit":
                        why = f"token not allowed {self.where(ids, pos)}"
                    else:
                        why = f"accept refused though its bit is set {self.where(ids, pos)}"
                        res["refused_with_bit_set"] += 1
                    try:
                        order = key_order_issue(rec["schema"], t["data"])
                    except Exception:  # noqa: BLE001 - a diagnostic only
                        order = None
                    if order:
                        res["validation_errors_key_order"] += 1
                        why += f" [instance keys not in the schema's declared order at {order}]"
                    details.setdefault("validation_error", f"valid instance #{n} refused: {why}")
                elif outcome == "accepted":
                    res["invalidation_errors"] += 1
                    text = self._piece(ids)
                    err = first_line(t.get("python_error") or t.get("rust_error") or "", 160)
                    if _FORMAT_ERROR.search(t.get("python_error") or ""):
                        res["invalidation_errors_format"] += 1
                    details.setdefault("invalidation_error", f"invalid instance #{n} accepted ({len(ids)} tokens + EOS): "
                                       f"{text[:160]!r}{'...' if len(text) > 160 else ''}"
                                       + (f"; validator: {err}" if err else ""))
                else:
                    res["invalid_rejected"] += 1
                    if outcome == "refused":
                        res["refused_with_bit_set"] += 1
        finally:
            gc.enable()
        res["masks"] = len(times)
        if not timed_out and perf() > deadline:
            timed_out = True
            details.setdefault("timeout", f"over {limit_s:g} s (compile {res['compile_us'] / 1e6:.1f} s) at the end")
        if res["invalidation_errors"]:
            res["status"] = "invalidation_error"
        elif res["validation_errors"]:
            res["status"] = "validation_error"
        elif timed_out:
            res["status"] = "timeout"
        elif res["errors"]:
            res["status"] = "error"
        else:
            res["status"] = "pass"
        res["detail"] = details.get(res["status"])
        return res


# python-jsonschema's message for a failed `format` assertion ("'x' is not a 'date-time'"): the
# dataset's validator checked formats, so such an invalid instance is invalid by its format only
# when this is the whole story (counted apart, as instances.invalidation_errors_format).
_FORMAT_ERROR = re.compile(r"^.* is not a '[\w-]+'\s*$\s*^Failed validating 'format'", re.MULTILINE)


class EngineUnavailable(Exception):
    pass


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=repr))


def worker_main(engine: str, job_json: str) -> int:
    # The protocol gets a private copy of stdout; whatever the engine prints goes to stderr.
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def emit(ev: dict[str, Any]) -> None:
        proto.write(json.dumps(ev, ensure_ascii=False) + "\n")
        proto.flush()

    job = json.loads(job_json)
    try:
        st = EngineState.create(engine, job)
    except EngineUnavailable as e:
        emit({"ev": "unavailable", "why": str(e)})
        return 0
    except Exception as e:  # noqa: BLE001
        emit({"ev": "fatal", "error": f"{type(e).__name__}: {e}"})
        return 1
    gc.collect()
    gc.freeze()  # imports and engine set-up out of the collector's way: a per-record collect stays cheap
    emit({"ev": "ready", "version": st.adapter.version(), "api": st.adapter.describe(),
          "tokenizer_ms": st.tokenizer_ms, "options": _jsonable(st.adapter.options), "pid": os.getpid()})
    for line in sys.stdin:
        if not line.strip():
            continue
        task = json.loads(line)
        k = task["k"]
        res = st.process(task["record"], job["timeout"], lambda ev, k=k: emit({"ev": "compiled", "k": k, **ev}))
        emit({"ev": "result", "k": k, "result": res})
    return 0


# ============================================================================= the parent side
@dataclass
class EngineRun:
    engine: str
    records: list[dict[str, Any]]
    selection: str
    version: str = "?"
    api: str = ""
    tokenizer_ms: float | None = None
    options: dict[str, Any] | None = None
    failed: str | None = None
    results: list[dict[str, Any] | None] = field(default_factory=list)
    wall_s: float = 0.0
    restarts: int = 0
    workers: int = 0


def _reader(serial: int, stream, q: queue.Queue) -> None:
    for line in stream:
        q.put((serial, line))
    q.put((serial, None))


class _Worker:
    def __init__(self, serial: int, engine: str, job_json: str, q: queue.Queue):
        self.serial = serial
        cmd = [sys.executable, os.path.abspath(__file__), "--_worker", engine, "--_job", job_json]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     encoding="utf-8", bufsize=1)
        threading.Thread(target=_reader, args=(serial, self.proc.stdout, q), daemon=True).start()
        self.ready = False
        self.task: int | None = None
        self.compiled: dict[str, Any] | None = None
        self.deadline = time.monotonic() + STARTUP_LIMIT_S
        self.t_task = 0.0
        self.alive = True
        self.closed = False  # stdin closed by the parent: no more work for it

    def send(self, k: int, record: dict[str, Any], limit_s: float) -> None:
        self.task, self.compiled = k, None
        self.t_task = time.monotonic()
        self.deadline = self.t_task + limit_s + KILL_SLACK_S
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"k": k, "record": record}, ensure_ascii=False) + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        self.closed = True
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except OSError:
            pass

    def kill(self) -> None:
        self.alive = False
        self.proc.kill()  # our own child, through its handle
        self.close()
        self.proc.wait()


def _lost_result(rec: dict[str, Any], status: str, detail: str, compiled: dict[str, Any] | None) -> dict[str, Any]:
    tests = rec.get("tests") or []
    n_valid = sum(bool(t["valid"]) for t in tests)
    r = {"id": rec["id"], "group": rec.get("group"), "status": status, "ttfm_us": None, "compile_us": None,
         "compile_error": None, "detail": detail, "masks": 0, "tbm_ns": [],
         "valid": n_valid, "invalid": len(tests) - n_valid}
    if compiled and "ttfm_us" in compiled:
        r["ttfm_us"], r["compile_us"] = compiled["ttfm_us"], compiled["compile_us"]
    return r


class Progress:
    def __init__(self, run: EngineRun, quiet: bool):
        self.run, self.quiet = run, quiet
        self.t0 = time.monotonic()
        self.last = self.t0
        self.done = 0
        self.counts: Counter = Counter()

    def add(self, res: dict[str, Any]) -> None:
        self.done += 1
        self.counts[res["status"]] += 1
        n = len(self.run.records)
        now = time.monotonic()
        if self.quiet:
            return
        if now - self.last >= 30 or self.done == n:
            self.last = now
            c = self.counts
            _log(f"[{self.run.engine}] {self.done}/{n} records in {now - self.t0:.0f} s: pass {c['pass']}, "
                 f"compile_error {c['compile_error']}, validation_error {c['validation_error']}, "
                 f"invalidation_error {c['invalidation_error']}, timeout {c['timeout']}, error {c['error']}")


def run_engine_pool(run: EngineRun, job: dict[str, Any], n_workers: int, quiet: bool = False) -> None:
    engine, records = run.engine, run.records
    limit = job["timeout"]
    job_json = json.dumps({**job, "timeout": limit})
    q: queue.Queue = queue.Queue()
    pending = deque(range(len(records)))
    run.results = [None] * len(records)
    prog = Progress(run, quiet)
    workers: dict[int, _Worker] = {}
    serial = 0
    startup_failures = 0
    t0 = time.perf_counter()

    def spawn() -> None:
        nonlocal serial
        serial += 1
        workers[serial] = _Worker(serial, engine, job_json, q)

    def finish(k: int, res: dict[str, Any]) -> None:
        if run.results[k] is None:
            res["tbm_ns"] = np.asarray(res.get("tbm_ns", ()), dtype=np.int64)  # compact: 8 B a mask
            run.results[k] = res
            prog.add(res)

    def assign(w: _Worker) -> None:
        if pending and run.failed is None:
            k = pending.popleft()
            try:
                w.send(k, records[k], limit)
            except OSError as e:  # the worker died between reports: its death is handled on EOF
                pending.appendleft(k)
                w.task = None
                _log(f"[{engine}] could not send a record to worker {w.proc.pid}: {e}")
        else:
            w.task, w.deadline = None, float("inf")
            w.close()

    def lost(w: _Worker, why: str) -> None:
        """A worker died or was killed: charge its record, start another if work is left."""
        nonlocal startup_failures
        workers.pop(w.serial, None)
        if w.task is not None:
            k, w.task = w.task, None
            rec = records[k]
            phase = "instances" if w.compiled else "compile"
            if why == "killed":
                status = "timeout"
                detail = f"over {limit:g} s during {phase} (worker killed after {time.monotonic() - w.t_task:.1f} s)"
            else:
                status = "error"
                detail = f"worker {why} during {phase}"
            if w.compiled and w.compiled.get("error"):
                status, detail = "compile_error", None
            res = _lost_result(rec, status, detail, w.compiled)
            if status == "compile_error":
                res["compile_error"] = w.compiled["error"]  # type: ignore[index]
            finish(k, res)
            _log(f"[{engine}] {rec['id']}: {status}: {detail}")
        elif not w.ready:
            startup_failures += 1
            if startup_failures >= MAX_STARTUP_FAILURES and run.failed is None:
                run.failed = f"{startup_failures} workers died while starting (last: {why})"
        if pending and run.failed is None:
            run.restarts += 1
            spawn()

    for _ in range(max(1, min(n_workers, len(pending)))):
        spawn()
    run.workers = len(workers)
    while workers:
        now = time.monotonic()
        wait = min(w.deadline for w in workers.values()) - now
        try:
            sid, line = q.get(timeout=max(0.01, min(wait, 5.0)))
        except queue.Empty:
            now = time.monotonic()
            for w in list(workers.values()):
                if now >= w.deadline and (w.task is not None or not w.ready):
                    w.kill()
                    lost(w, "killed" if w.ready else f"stalled for {STARTUP_LIMIT_S:g} s while starting (killed)")
            continue
        w = workers.get(sid)
        if w is None:
            continue  # a late line from a worker already given up
        if line is None:  # EOF: the worker exited
            rc = w.proc.wait()
            if w.task is not None or not w.ready:
                lost(w, f"exited (rc {rc})")
            else:
                workers.pop(sid, None)
                if not w.closed and pending and run.failed is None:  # died while idle: replace it
                    _log(f"[{engine}] idle worker exited (rc {rc}); starting another")
                    run.restarts += 1
                    spawn()
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            _log(f"[{engine}] worker: {line.rstrip()}")
            continue
        kind = ev.get("ev")
        if kind == "ready":
            w.ready = True
            if run.tokenizer_ms is None:
                run.version, run.api, run.tokenizer_ms = ev["version"], ev["api"], ev["tokenizer_ms"]
                run.options = ev.get("options")
                if not quiet:
                    _log(f"[{engine}] {run.version}: tokenizer preprocessing {run.tokenizer_ms:.0f} ms; "
                         f"{len(records)} records, {run.workers} worker(s)")
            assign(w)
        elif kind == "compiled":
            w.compiled = ev
        elif kind == "result":
            finish(ev["k"], ev["result"])
            assign(w)
        elif kind in ("unavailable", "fatal"):
            if run.failed is None:
                run.failed = (f"unavailable: {ev['why']}" if kind == "unavailable" else ev["error"])
            w.ready, w.deadline = True, float("inf")  # its exit is not a start-up crash
            w.close()
    run.wall_s = time.perf_counter() - t0


def run_engine_inprocess(run: EngineRun, job: dict[str, Any], quiet: bool = False) -> None:
    t0 = time.perf_counter()
    run.results = [None] * len(run.records)
    try:
        st = EngineState.create(run.engine, job)
    except EngineUnavailable as e:
        run.failed = f"unavailable: {e}"
        return
    except Exception as e:  # noqa: BLE001
        run.failed = f"{type(e).__name__}: {e}"
        return
    run.version, run.api, run.tokenizer_ms, run.workers = st.adapter.version(), st.adapter.describe(), st.tokenizer_ms, 0
    run.options = _jsonable(st.adapter.options)
    prog = Progress(run, quiet)
    for k, rec in enumerate(run.records):
        res = st.process(rec, job["timeout"])
        run.results[k] = res
        prog.add(res)
    run.wall_s = time.perf_counter() - t0


# ============================================================================= summaries / output
def _pct(values: Any, qs: tuple[str, ...]) -> dict[str, float | None]:
    if len(values) == 0:
        return {q: None for q in qs}
    a = np.asarray(values, dtype=np.float64)
    return {q: _r(float(v)) for q, v in zip(qs, np.percentile(a, [float(q) for q in qs]))}


def engine_summary(run: EngineRun, job: dict[str, Any]) -> dict[str, Any]:
    results = [r for r in run.results if r is not None]
    counts = Counter(r["status"] for r in results)
    ns = np.concatenate([np.asarray(r["tbm_ns"], dtype=np.int64) for r in results if len(r.get("tbm_ns", ()))]
                        or [np.zeros(0, dtype=np.int64)])
    tbm = ns.astype(np.float64) / 1e3
    ttfm = [r["ttfm_us"] for r in results if r.get("ttfm_us") is not None]
    compile_us = [r["compile_us"] for r in results if r.get("compile_us") is not None]
    inst = {key: sum(int(r.get(key) or 0) for r in results)
            for key in ("valid", "invalid", "valid_accepted", "invalid_rejected", "validation_errors",
                        "validation_errors_key_order", "invalidation_errors", "invalidation_errors_format",
                        "skipped", "errors", "term_mismatch", "refused_with_bit_set")}
    err_types = Counter(r.get("error_type") or "?" for r in results if r["status"] == "compile_error")
    s: dict[str, Any] = {
        "engine": run.engine,
        "records": len(results),
        **{k: counts.get(k, 0) for k in STATUSES[:5]},
        "tbm_us": _pct(tbm, TBM_Q),
        "ttfm_us": _pct(ttfm, TTFM_Q),
        # extras
        "error": counts.get("error", 0),
        "masks": len(tbm),
        "tbm_us_max": _r(float(tbm.max())) if len(tbm) else None,
        "ttfm_us_max": _r(max(ttfm)) if ttfm else None,
        "compile_us_p50": _r(float(np.percentile(compile_us, 50))) if compile_us else None,
        "instances": inst,
        "compile_error_types": dict(err_types.most_common()),
        "selection": run.selection,
        "ids_sha1": ids_digest(run.records),
        "timeout_s": job["timeout"],
        "workers": run.workers,
        "wall_s": _r(run.wall_s, 1),
        "restarts": run.restarts,
        "version": run.version,
        "options": run.options if run.options is not None else (job["engine_options"].get(run.engine) or {}),
    }
    if run.failed:
        s["failed"] = run.failed
    if len(results) < len(run.records):
        s["unfinished"] = len(run.records) - len(results)
    return s


def out_rows(run: EngineRun) -> Iterable[dict[str, Any]]:
    for r in run.results:
        if r is None:
            continue
        ns = np.asarray(r.get("tbm_ns", ()), dtype=np.int64)
        row = {"id": r["id"], "group": r.get("group"), "engine": run.engine, "status": r["status"],
               "ttfm_us": _r(r.get("ttfm_us")), "compile_us": _r(r.get("compile_us")), "masks": len(ns),
               "tbm_us_p50": _r(float(np.median(ns)) / 1e3) if len(ns) else None,
               "tbm_us_max": _r(float(ns.max()) / 1e3) if len(ns) else None}
        for key in ("valid", "invalid", "valid_accepted", "invalid_rejected", "validation_errors",
                    "invalidation_errors", "skipped"):
            if key in r:
                row[key] = r[key]
        row["compile_error"] = r.get("compile_error")
        row["detail"] = r.get("detail")
        yield row


def print_human(runs: list[EngineRun], summaries: list[dict[str, Any]], args: argparse.Namespace,
                header: list[str]) -> None:
    for line in header:
        print(line)
    print()
    for r, s in zip(runs, summaries):
        extra = f", FAILED: {r.failed}" if r.failed else ""
        extra += f", {r.restarts} worker restart(s)" if r.restarts else ""
        tok = f"{r.tokenizer_ms:.0f} ms" if r.tokenizer_ms is not None else "-"
        print(f"{r.engine} {r.version}: {s['records']} records ({r.selection}, ids sha1 {s['ids_sha1']}), "
              f"{r.workers or 'in-process'} worker(s), tokenizer preprocessing {tok}, wall {r.wall_s:.1f} s{extra}")
    print()
    headers = ["engine", "records", "pass", "compile_err", "valid_err", "invalid_err", "timeout", "error",
               "TBM p50", "p90", "p99", "p99.9", "max us", "TTFM p50", "p90", "p99 us", "masks"]
    rows = []
    for s in summaries:
        t, f = s["tbm_us"], s["ttfm_us"]
        rows.append([s["engine"], str(s["records"]), str(s["pass"]), str(s["compile_error"]),
                     str(s["validation_error"]), str(s["invalidation_error"]), str(s["timeout"]), str(s["error"]),
                     _fmt(t["50"]), _fmt(t["90"]), _fmt(t["99"]), _fmt(t["99.9"]), _fmt(s["tbm_us_max"]),
                     _fmt(f["50"]), _fmt(f["90"]), _fmt(f["99"]), str(s["masks"])])
    print(_table(headers, rows))
    print()
    # Instances.
    headers = ["engine", "valid", "accepted", "refused (key order)", "invalid", "rejected", "accepted (format-only)",
               "skipped", "inst. errors", "term?"]
    rows = []
    for s in summaries:
        i = s["instances"]
        rows.append([s["engine"], str(i["valid"]), str(i["valid_accepted"]),
                     f"{i['validation_errors']} ({i['validation_errors_key_order']})",
                     str(i["invalid"]), str(i["invalid_rejected"]),
                     f"{i['invalidation_errors']} ({i['invalidation_errors_format']})",
                     str(i["skipped"]), str(i["errors"]), str(i["term_mismatch"])])
    print(_table(headers, rows))
    print()
    # Per group: pass / records.
    groups = sorted({r.get("group") or "?" for run in runs for r in run.records})
    if len(groups) > 1:
        headers = ["group"] + [f"{run.engine} pass/rec" for run in runs]
        rows = []
        for g in groups:
            row = [g]
            for run in runs:
                rs = [r for r in run.results if r is not None and (r.get("group") or "?") == g]
                row.append(f"{sum(r['status'] == 'pass' for r in rs)}/{len(rs)}" if rs else "-")
            rows.append(row)
        print(_table(headers, rows))
        print()
    # Failures: invalidation errors first (the serious ones), then the rest.
    for run in runs:
        res = [r for r in run.results if r is not None]
        for status in ("invalidation_error", "validation_error", "timeout", "error"):
            bad = [r for r in res if r["status"] == status]
            for r in bad[:args.examples]:
                print(f"! {run.engine} {status}: {r['id']}: {r.get('detail')}")
            if len(bad) > args.examples:
                print(f"! {run.engine} {status}: ... and {len(bad) - args.examples} more")
        msgs = Counter(_norm_msg(r["compile_error"] or "") for r in res if r["status"] == "compile_error")
        for msg, n in msgs.most_common(args.examples):
            print(f"! {run.engine} compile_error x{n}: {msg}")
        if len(msgs) > args.examples:
            print(f"! {run.engine} compile_error: ... and {len(msgs) - args.examples} other messages")
    print()
    for r in runs:
        if r.api:
            print(f"{r.engine} API: {r.api}")
    print()


def _norm_msg(msg: str) -> str:
    """Compile errors grouped by message, numbers blanked."""
    return re.sub(r"\d+", "N", msg)[:200]


# ============================================================================= main
def _parse_option(ap: argparse.ArgumentParser, raw: str) -> tuple[str, Any]:
    if "=" not in raw:
        ap.error(f"engine option {raw!r}: want key=value")
    key, val = raw.split("=", 1)
    try:
        value: Any = json.loads(val)
    except ValueError:
        value = val
    if isinstance(value, str) and value.lower() in ("true", "false", "none"):
        value = {"true": True, "false": False, "none": None}[value.lower()]
    return key.strip(), value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--engine", "--engines", dest="engines", default=",".join(DEFAULT_ENGINES),
                    help="comma list of " + ",".join(JSON_ADAPTERS))
    ap.add_argument("--data", default=None, help="the jsonschemabench folder (default: <repo>/../shared/data/jsonschemabench)")
    ap.add_argument("--groups", default=None, help="comma list of MaskBench groups (file names); default all")
    ap.add_argument("--ids", default=None, help="comma list of record ids (after --groups)")
    ap.add_argument("--limit", type=int, default=None, help="the first N selected records")
    ap.add_argument("--sample", type=int, default=None, help="a seeded sample of N of the selected records (all engines)")
    ap.add_argument("--peer-sample", type=int, default=DEFAULT_PEER_SAMPLE,
                    help="peers (xgrammar, llguidance) run on a seeded sample of N of the selected records; 0 = all")
    ap.add_argument("--seed", type=int, default=0, help="seed of --sample and --peer-sample")
    ap.add_argument("--workers", type=int, default=2, help="worker processes per engine; 0 = in this process")
    ap.add_argument("--timeout", type=float, default=30.0, help="per-record limit in s (compile + all instances)")
    ap.add_argument("--peer-timeout", type=float, default=None, help="per-record limit for the peers (default --timeout)")
    ap.add_argument("--grammask-option", action="append", default=[], metavar="KEY=VALUE",
                    help="keyword for grammask.compile_json_schema (value parsed as JSON when it parses); repeatable")
    ap.add_argument("--xgrammar-option", action="append", default=[], metavar="KEY=VALUE",
                    help="keyword for xgrammar compile_json_schema (default strict_mode=false); repeatable")
    ap.add_argument("--llguidance-option", action="append", default=[], metavar="KEY=VALUE",
                    help="JsonCompileOptions key for llguidance grammar_from_json_schema(defaults=); repeatable")
    ap.add_argument("--peer-whitespace", choices=("compact", "native"), default="native",
                    help="native: the peers' own layout defaults (whitespace allowed); compact: grammask's default "
                         "layout (no whitespace; xgrammar 0.2.8 then refuses compact free-form arrays/objects)")
    ap.add_argument("--xgrammar-threads", type=int, default=1, help="xgrammar GrammarCompiler max_threads per worker")
    ap.add_argument("--tokenizer", default=None, help="tokenizer directory (default <shared>/tokenizers/llama3)")
    ap.add_argument("--vocab-size", type=int, default=128256, help="logits width")
    ap.add_argument("--eos-ids", default="128001,128009", help="EOS token ids")
    ap.add_argument("--out", default=None, help="write per-record results (JSONL) to this file")
    ap.add_argument("--examples", type=int, default=5, help="failure examples shown per engine and kind")
    ap.add_argument("--json", action="store_true", help="print only the JSON summary lines")
    ap.add_argument("--quiet", action="store_true", help="no progress on stderr")
    ap.add_argument("--_worker", help=argparse.SUPPRESS)
    ap.add_argument("--_job", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._worker:
        return args
    args.engine_names = _pick(ap, args.engines, JSON_ADAPTERS, "engine")
    args.eos = [int(x) for x in args.eos_ids.split(",") if x.strip()]
    args.data = args.data or default_data_dir()
    args.tokenizer = args.tokenizer or default_tokenizer_dir()
    args.engine_options = {
        "grammask": dict(_parse_option(ap, o) for o in args.grammask_option),
        "xgrammar": dict(_parse_option(ap, o) for o in args.xgrammar_option),
        "llguidance": dict(_parse_option(ap, o) for o in args.llguidance_option),
    }
    if args.peer_whitespace == "compact":
        for peer, base in PEER_COMPACT.items():
            args.engine_options[peer] = {**base, **args.engine_options[peer]}
    for name, v in (("--limit", args.limit), ("--sample", args.sample), ("--peer-sample", args.peer_sample)):
        if v is not None and v < 0:
            ap.error(f"{name} must be >= 0")
    if args.workers < 0:
        ap.error("--workers must be >= 0")
    if args.groups is not None:
        known = list_groups(args.data) if os.path.isdir(os.path.join(args.data, "maskbench")) else []
        args.group_names = _pick(ap, args.groups, known, "group")
    else:
        args.group_names = None
    return args


def select_records(args: argparse.Namespace) -> tuple[list[dict[str, Any]], str]:
    """The selected records (schemas not resolved yet) and a description of the selection."""
    records = load_records(args.data, args.group_names)
    total = len(records)
    parts = [f"groups {','.join(args.group_names)}" if args.group_names else "all groups"]
    if args.ids:
        want = {x.strip() for x in args.ids.split(",") if x.strip()}
        records = [r for r in records if r["id"] in want]
        parts.append(f"ids {sorted(want)}")
    if args.limit is not None:
        records = records[:args.limit]
        parts.append(f"first {args.limit}")
    if args.sample:
        n = len(records)
        records = seeded_sample(records, args.sample, args.seed)
        parts.append(f"sample {len(records)} of {n} (seed {args.seed})")
    return records, f"{len(records)} of {total} records: " + ", ".join(parts)


def run(args: argparse.Namespace) -> tuple[list[EngineRun], list[dict[str, Any]], list[str]]:
    """Everything but the printing: (runs, summaries, header lines)."""
    records, selection = select_records(args)
    header = [f"MaskBench: {args.data}/maskbench; {selection}",
              f"tokenizer {args.tokenizer} (V={args.vocab_size}, EOS {args.eos}); per-record limit "
              f"{args.timeout:g} s" + (f" (peers {args.peer_timeout:g} s)" if args.peer_timeout is not None else "")
              + f"; {args.workers or 'no'} worker process(es) per engine; peer whitespace {args.peer_whitespace}"]
    peer_records = seeded_sample(records, args.peer_sample, args.seed)
    peer_sel = (f"peer sample of {len(peer_records)}/{len(records)} selected records, seed {args.seed}"
                if len(peer_records) < len(records) else "all selected records")
    needed = records if "grammask" in args.engine_names else peer_records
    t0 = time.perf_counter()
    store = SchemaStore(args.data)
    resolve_schemas(needed, store)
    if not args.quiet:
        _log(f"{selection}; schemas resolved in {time.perf_counter() - t0:.1f} s "
             f"(read {', '.join(store.files_read) or 'no schemas files'})")
    if any(e in PEERS for e in args.engine_names) and len(peer_records) < len(records):
        header.append(f"peers: {peer_sel} (ids sha1 {ids_digest(peer_records)})")
    runs: list[EngineRun] = []
    for engine in args.engine_names:
        peer = engine in PEERS
        recs = peer_records if peer else records
        job = {"tokenizer": args.tokenizer, "vocab_size": args.vocab_size, "eos": args.eos,
               "timeout": (args.peer_timeout if peer and args.peer_timeout is not None else args.timeout),
               "engine_options": args.engine_options, "xgrammar_threads": args.xgrammar_threads}
        r = EngineRun(engine, recs, peer_sel if peer else "all selected records")
        if not args.quiet:
            _log(f"[{engine}] starting: {len(recs)} records")
        if args.workers == 0:
            run_engine_inprocess(r, job, args.quiet)
        else:
            run_engine_pool(r, job, args.workers, args.quiet)
        if r.failed:
            _log(f"[{engine}] FAILED: {r.failed}")
        if r.failed and r.failed.startswith("unavailable"):
            header.append(f"{engine}: skipped ({r.failed})")
            continue
        r.job = job  # type: ignore[attr-defined]
        runs.append(r)
    summaries = [engine_summary(r, r.job) for r in runs]  # type: ignore[attr-defined]
    return runs, summaries, header


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args._worker:
        return worker_main(args._worker, args._job)
    t0 = time.perf_counter()
    runs, summaries, header = run(args)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            for r in runs:
                f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in out_rows(r))
    if not args.json:
        print_human(runs, summaries, args, header)
    for s in summaries:
        print(json.dumps(s, ensure_ascii=False))
    _log(f"total wall time {time.perf_counter() - t0:.1f} s")
    return 0 if runs else 1


if __name__ == "__main__":
    sys.exit(main())
