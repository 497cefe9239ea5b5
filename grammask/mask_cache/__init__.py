"""Token masks: the vocabulary trie and the per-state mask store."""
from .mask_store import MaskStore
from .token_trie import TokenTrie, build_token_trie

__all__ = ["MaskStore", "TokenTrie", "build_token_trie"]
