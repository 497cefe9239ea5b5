"""Regex -> minimal byte-level DFA.

`compile_regex_dfa(pattern)` parses Python-`re`-style syntax (see `regex_parser` for the exact
semantics) and returns a `ByteDFA`: minimal, every state reachable and co-reachable, over the
UTF-8 bytes of the text, with whole-string matching."""
from .dfa import ByteDFA, compile_regex_dfa, dfa_from_ast
from .regex_parser import Alt, Anchor, CharSet, Concat, Empty, Node, Repeat, parse_regex
from .utf8 import ranges_to_utf8, utf8_sequences

__all__ = [
    "Alt", "Anchor", "ByteDFA", "CharSet", "Concat", "Empty", "Node", "Repeat",
    "compile_regex_dfa", "dfa_from_ast", "parse_regex", "ranges_to_utf8", "utf8_sequences",
]
