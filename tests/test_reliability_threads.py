"""Thread safety: compiled grammars are shared read-only across threads, matchers are per
sequence. One regex, one CFG and one JSON Schema, each compiled once and shared by 8 threads
running several matchers through random valid walks (with forks, rollbacks and batch fills);
every mask must equal the mask a single-threaded run computed on a separately compiled copy.

The threads' grammars are compiled fresh (cache=False) and nothing is precomputed, so the
lazily built parts -- masks, lexer states, parser states, memo tables -- are built *by the
racing threads*, which is where a missing lock would show."""
from __future__ import annotations

import random
import sys
import threading

import numpy as np
import pytest

import grammask as gm

THREADS = 8
WALKS_PER_THREAD = 2
STEPS = 20

REGEX = r'\{"id": [0-9]{1,6}, "tags": \[("[a-z]{1,8}"(, "[a-z]{1,8}"){0,3})?\]\}'
LARK = r"""
?start: value
?value: object | array | STRING | NUMBER | "true" | "false" | "null"
array: "[" [value ("," value)*] "]"
object: "{" [pair ("," pair)*] "}"
pair: STRING ":" value
%import common.ESCAPED_STRING -> STRING
%import common.SIGNED_NUMBER -> NUMBER
%import common.WS
%ignore WS
"""
SCHEMA = {"type": "object",
          "properties": {"name": {"type": "string", "maxLength": 12},
                         "age": {"type": "integer", "minimum": 0, "maximum": 150},
                         "kind": {"enum": ["a", "b", "cc"]},
                         "items": {"type": "array", "items": {"type": "number"}, "maxItems": 4}},
          "required": ["name", "kind"]}


@pytest.fixture(scope="module")
def tok(load_tokenizer_info):
    return load_tokenizer_info("llama3")


def _compile(kind: str, tok):
    if kind == "regex":
        return gm.compile_regex(REGEX, tok, precompute=False)
    if kind == "cfg":
        return gm.compile_grammar(LARK, tok, cache=False)
    return gm.compile_json_schema(SCHEMA, tok, cache=False)


def _mask(m: gm.Matcher, vocab: int) -> bytes:
    bm = gm.allocate_token_bitmask(1, vocab)
    m.fill_next_token_bitmask(bm, 0)
    return bm.tobytes()


def _reference(compiled, seed: int) -> tuple[list[int], list[bytes]]:
    """A random valid walk (token ids) and the mask before each step, single-threaded."""
    rng = random.Random(seed)
    vocab = compiled.tokenizer_info.vocab_size
    eos = set(compiled.tokenizer_info.eos_token_ids)
    m = gm.Matcher(compiled)
    walk, masks = [], []
    for _ in range(STEPS):
        masks.append(_mask(m, vocab))
        allowed = [int(t) for t in m.allowed_token_ids() if int(t) not in eos]
        if not allowed:
            break
        t = rng.choice(allowed)
        assert m.accept_token(t)
        walk.append(t)
    return walk, masks


@pytest.mark.parametrize("kind", ["regex", "cfg", "json_schema"])
def test_shared_grammar_many_threads_same_masks(tok, kind):
    reference = _compile(kind, tok)
    walks = [_reference(reference, seed) for seed in range(THREADS * WALKS_PER_THREAD)]
    shared = _compile(kind, tok)              # fresh: its lazy parts are built by the threads
    vocab = tok.vocab_size
    errors: list[str] = []
    barrier = threading.Barrier(THREADS)

    def run(k: int) -> None:
        try:
            rng = random.Random(1000 + k)
            barrier.wait()
            mine = [walks[i] for i in range(k, len(walks), THREADS)]
            matchers = [gm.Matcher(shared) for _ in mine]
            for step in range(STEPS):           # interleave this thread's walks step by step
                live = [(m, w, masks) for m, (w, masks) in zip(matchers, mine)
                        if step < len(masks)]
                if not live:
                    break
                if rng.random() < 0.5:          # batch fill, GIL-free copy
                    bm = gm.allocate_token_bitmask(len(live), vocab)
                    gm.fill_next_token_bitmask_batch([m for m, _w, _x in live], bm)
                    got = [bm[i:i + 1].tobytes() for i in range(len(live))]
                else:
                    got = [_mask(m, vocab) for m, _w, _x in live]
                for (m, w, masks), g in zip(live, got):
                    if g != masks[step]:
                        errors.append(f"{kind} thread {k} step {step}: mask differs")
                    if step < len(w):
                        if rng.random() < 0.15:       # a fork and a rollback must not disturb
                            f = m.fork()
                            f.accept_token(w[step])
                            f.rollback(1)
                            if _mask(f, vocab) != masks[step]:
                                errors.append(f"{kind} thread {k} step {step}: fork differs")
                        if not m.accept_token(w[step]):
                            errors.append(f"{kind} thread {k} step {step}: token refused")
        except BaseException as exc:            # noqa: BLE001 - reported below
            errors.append(f"{kind} thread {k}: {type(exc).__name__}: {exc}")

    old = sys.getswitchinterval()
    sys.setswitchinterval(5e-5)                 # switch threads very often
    try:
        threads = [threading.Thread(target=run, args=(k,)) for k in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads), "a thread hung"
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors[:10]
    assert sum(len(w) for w, _ in walks) > THREADS * WALKS_PER_THREAD * 4


def test_concurrent_compiles_of_one_grammar_share_one_object(tok):
    """Threads compiling the same schema at once (default in-memory cache) get one object."""
    out: list = []
    errors: list = []
    barrier = threading.Barrier(THREADS)
    cache = gm.GrammarCache()

    def run() -> None:
        try:
            barrier.wait()
            out.append(gm.compile_json_schema(SCHEMA, tok, cache=cache))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(out) == THREADS
    assert all(c is out[0] for c in out)
    m = gm.Matcher(out[0])
    assert m.accept_string('{"name":"x","kind":"cc"}') and m.can_terminate()
    assert np.asarray(out[0].stats()["masks_computed"]) >= 1
