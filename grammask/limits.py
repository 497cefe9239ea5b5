"""Compile-time limits. Each one bounds a resource a hostile or accidental input could blow up;
exceeding one raises `LimitExceededError` naming the parameter to raise."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Documented limits with production defaults.

    max_regex_length: characters in one regular expression.
    max_repeat: the largest bound allowed in a counted repetition `{m,n}`.
    max_nfa_states: positions of the intermediate code-point automaton (pattern size x repeat counts).
    max_dfa_states: states of the determinised byte DFA (before and after minimisation).
    max_nesting: nesting depth of groups in a regex (parser recursion).
    max_grammar_rules: rules of a context-free grammar after EBNF desugaring.
    max_parser_items: items in one Earley set (kernel); ambiguous grammars grow with input.
    max_parser_states: distinct (memoised) parser states of one compiled grammar.
    max_lexer_states: states of the combined contextual lexer of one compiled grammar.
    max_indent: deepest indentation (columns; a tab counts 8) a Python-style indenter accepts.
    max_cached_masks: memoised CFG configuration masks kept before the memo is cleared (bounds
        memory on long generations; masks are recomputed on demand, never wrong).
    mask_window: top-of-stack LR states a memoised CFG mask may be keyed on (0 disables the
        window memo; larger values share masks less often but never change them).
    """

    max_regex_length: int = 100_000
    max_repeat: int = 10_000
    max_nfa_states: int = 1_000_000
    max_dfa_states: int = 100_000
    max_nesting: int = 200
    max_grammar_rules: int = 50_000
    max_parser_items: int = 100_000
    max_parser_states: int = 2_000_000
    max_lexer_states: int = 200_000
    max_indent: int = 256
    mask_window: int = 4
    max_cached_masks: int = 200_000


DEFAULT_LIMITS = Limits()
