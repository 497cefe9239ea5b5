"""`CompiledGrammar`: an immutable, thread-shareable compiled constraint over one vocabulary.

It owns the engine-specific pieces (here a byte DFA and its mask store) behind four small
methods the generic `Matcher` calls, so CFG and JSON-Schema engines plug into the same
matcher, batch kernels and integrations."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .automata import ByteDFA
from .kernels import _kernels
from .mask_cache import MaskStore, TokenTrie
from .mask_cache.mask_store import StoredMask
from .tokenizer_info import TokenizerInfo

DEAD = -1
TERMINATED = -2


class EngineBase:
    """What `Matcher` needs from a compiled constraint: integer states (DEAD / TERMINATED are
    reserved), `initial_state`, `advance(state, bytes)`, `is_accepting`, `mask(state)` as a
    `StoredMask`, `forced_bytes`, plus `tokenizer_info` and the vocabulary `trie`."""

    tokenizer_info: TokenizerInfo
    trie: TokenTrie

    @property
    def vocab_size(self) -> int:
        return self.tokenizer_info.vocab_size


@dataclass(eq=False)
class CompiledGrammar(EngineBase):
    """A constraint compiled against a tokenizer. Create with `compile_regex` (and, later,
    `compile_grammar` / `compile_json_schema`); share it freely between threads and matchers."""

    kind: str
    source: str
    tokenizer_info: TokenizerInfo
    dfa: ByteDFA
    trie: TokenTrie
    mask_store: MaskStore
    compile_seconds: float
    _forced_byte: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        live = self.dfa.trans >= 0
        single = live.sum(axis=1) == 1
        forced = np.where(single & ~self.dfa.accepting, live.argmax(axis=1), -1)
        self._forced_byte = forced.astype(np.int32)

    # -- the engine interface used by Matcher ------------------------------------------------
    def initial_state(self) -> int:
        return self.dfa.start

    def advance(self, state: int, data: bytes) -> int:
        """State after `data`, or DEAD if no completion of the text remains possible."""
        if not data:
            return state
        return int(_kernels.dfa_walk(self.dfa.trans, state, data))

    def is_accepting(self, state: int) -> bool:
        return bool(self.dfa.accepting[state])

    def mask(self, state: int) -> StoredMask:
        return self.mask_store.get(state)

    def forced_bytes(self, state: int, limit: int = 4096) -> bytes:
        """The bytes every completion from `state` must start with (jump-forward)."""
        out = bytearray()
        while state >= 0 and len(out) < limit:
            b = int(self._forced_byte[state])
            if b < 0:
                break
            out.append(b)
            state = int(self.dfa.trans[state, b])
        return bytes(out)

    # -- reporting ---------------------------------------------------------------------------
    def memory_bytes(self) -> int:
        """Bytes held by this grammar (automaton + masks computed so far); the token trie is
        shared by every grammar of the same tokenizer and reported separately in stats()."""  # noqa
        return self.dfa.memory_bytes() + self.mask_store.memory_bytes() + self._forced_byte.nbytes

    def precompute_masks(self) -> None:
        """Compute every state's mask now (e.g. before serving) instead of on first use."""
        self.mask_store.precompute()

    def stats(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dfa_states": self.dfa.num_states,
            "compile_ms": round(self.compile_seconds * 1e3, 3),
            "vocab_size": self.vocab_size,
            "masks_computed": self.mask_store.computed_states,
            "unique_masks": self.mask_store.unique_masks,
            "store_bytes": self.mask_store.memory_bytes(),
            "dfa_bytes": self.dfa.memory_bytes(),
            "byte_classes": self.mask_store.class_trie.num_classes,
            "class_trie_nodes": self.mask_store.class_trie.num_nodes,
            "vocab_text_tokens": self.trie.num_tokens,
            "vocab_bytes": self.trie.memory_bytes(),
        }
