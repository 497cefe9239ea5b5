"""Token masks: the flat vocabulary, its per-automaton class trie, and the per-state store."""
from .class_trie import ClassTrie, build_class_trie
from .mask_store import MaskStore
from .token_trie import TokenTrie, build_token_trie

__all__ = ["ClassTrie", "MaskStore", "TokenTrie", "build_class_trie", "build_token_trie"]
