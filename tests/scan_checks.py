"""Helpers the scan tests share: a lexer state's scan (`LexStateMasks`) compared with a full
walk from it, order of straddler entries aside."""
from __future__ import annotations

import numpy as np


def straddler_entries(masks, linked: bool) -> set[tuple[int, int, int, int]]:
    """A scan's straddlers as (lexeme kind, token id, suffix start, suffix end)."""
    kind = "link" if linked else "walk"
    emits = getattr(masks, f"{kind}_emits")
    table = masks.link_offsets if linked else masks.walk_ranges
    ids, starts, ends = (getattr(masks, f"{kind}_{f}") for f in ("tokens", "start", "end"))
    return {(int(emits[r]), int(ids[i]), int(starts[i]), int(ends[i]))
            for r in range(emits.shape[0]) for i in range(table[r, 0], table[r, 256])}


def assert_same_scan(full, fast, label: object, kinds: bool = False) -> None:
    """`fast` classifies every token as the full walk `full` does: accepted tokens, tokens
    that end the lexeme at their first byte, straddlers; with `kinds`, also the same list
    of lexeme kinds (a shared scan renames exactly those)."""
    assert np.array_equal(full.acc, fast.acc), label
    assert (full.f0 is None) == (fast.f0 is None) and (
        full.f0 is None or np.array_equal(full.f0, fast.f0)), label
    for linked in (True, False):
        assert straddler_entries(full, linked) == straddler_entries(fast, linked), label
    if kinds:
        for field in ("link_emits", "walk_emits"):
            assert sorted(getattr(full, field).tolist()) == \
                sorted(getattr(fast, field).tolist()), label


def full_scan(engine, lx: int):
    """The scan of lexer state `lx` of a compiled CFG engine by a full walk of the
    vocabulary (no shortcut, no base, no sharing): what every faster scan must equal."""
    from grammask.mask_cache.cfg_masks import scan_lexer_state
    return scan_lexer_state(engine.trie, engine._token_bytes, engine.lexer.trans,
                            engine.lexer.emit, lx, engine.tokenizer_info.vocab_size, 0)
