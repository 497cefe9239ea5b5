"""`Constraint`: what the samplers ask of a compiled grammar, with the length cap and stop
tokens folded in, and every question counted.

Why a wrapper: the samplers target ``P(y | y in L, |y| <= max_tokens)`` where ``|y|`` counts
the text tokens before the stop token. Folding the cap into the allowed set (at depth
``max_tokens`` only a stop token may follow, and only if the text is complete) makes it part of
the constraint, so ASAp learns dead ends at the cap, SMC particles that reach it incomplete get
weight 0, and the exact reference enumerates the same set. Counting full-mask computations and
single-token checks separately is what the AWRS figures ("checks per token") are made of.

``length_aware=True`` goes further: a token is allowed only if the text can still be completed
within the cap after it (a memoised lookahead over the grammar, see `completes_within`). The
target is unchanged, but no sampler ever walks into a dead end at the cap: GCD needs no
restarts, SMC particles do not die there. Off by default because the lookahead explores the
grammar's allowed tokens up to the remaining budget, which is cheap for grammars with small
allowed sets (code, SyGuS) and expensive for free text.

Stop tokens: the grammar's ``tokenizer_info.eos_token_ids``. The matcher allows them exactly
when the text so far is a complete string of the language; any of them ends a sample. An
outcome is the sequence of *text* tokens; its probability includes the probability of stopping
there, summed over the stop ids (``P(y) = prod_t P(y_t | y_<t) * sum_e P(e | y)``).
"""
from __future__ import annotations

import numpy as np

from ..matcher import Matcher
from ..tokenizer_info import TokenKind
from .errors import SamplerError

__all__ = ["Constraint"]


class Constraint:
    """Allowed-set and single-token questions about a compiled grammar for one sampler run."""

    def __init__(self, compiled: object, max_tokens: int, length_aware: bool = False) -> None:
        info = getattr(compiled, "tokenizer_info", None)
        if info is None:
            raise SamplerError(f"expected a compiled grammar (compile_regex / compile_grammar / "
                               f"compile_json_schema), got {type(compiled).__name__}")
        if not isinstance(max_tokens, (int, np.integer)) or isinstance(max_tokens, bool) \
                or max_tokens < 1:
            raise SamplerError(f"max_tokens must be an int >= 1, got {max_tokens!r}")
        self.compiled = compiled
        self.info = info
        self.vocab_size = int(info.vocab_size)
        self.max_tokens = int(max_tokens)
        self.eos = tuple(int(e) for e in info.eos_token_ids)
        self._eos_set = frozenset(self.eos)
        self.eos_array = np.asarray(self.eos, dtype=np.int64)
        # ids that can ever be allowed: text tokens and stop tokens (never padding/specials)
        cand = np.asarray(info.token_kinds) == TokenKind.TEXT
        cand[self.eos_array] = True
        self.candidates = cand
        self.length_aware = bool(length_aware)
        self.mask_calls = 0      # full allowed-set computations
        self.checks = 0          # single-token checks
        self.lookahead_masks = 0  # allowed sets computed by the length-aware lookahead
        # length-aware lookahead memo, per matcher state: the largest budget known to be too
        # small, and the smallest budget known to suffice, to complete the text
        self._too_few: dict[int, int] = {}
        self._enough: dict[int, int] = {}

    def new_matcher(self) -> Matcher:
        return Matcher(self.compiled)

    def is_eos(self, token: int) -> bool:
        return token in self._eos_set

    def _text_ids(self, matcher: Matcher) -> np.ndarray:
        ids = matcher.allowed_token_ids()
        if matcher.can_terminate():
            ids = ids[~np.isin(ids, self.eos_array)]
        return ids.astype(np.int64, copy=False)

    def completes_within(self, matcher: Matcher, budget: int) -> bool:
        """Can the text be completed with at most ``budget`` more text tokens? (Memoised per
        matcher state; explores the allowed tokens breadth of the grammar up to ``budget``
        deep, so it is cheap for grammars with small allowed sets and expensive for ones with
        huge sets, like free text inside a JSON string.)"""
        if matcher.can_terminate():
            return True
        state = matcher.state
        if self._enough.get(state, budget + 1) <= budget:
            return True
        if self._too_few.get(state, -1) >= budget or budget <= 0:
            self._too_few[state] = max(self._too_few.get(state, -1), budget)
            return False
        self.lookahead_masks += 1
        for t in self._text_ids(matcher).tolist():
            child = matcher.fork()
            child.accept_token(t)
            if self.completes_within(child, budget - 1):
                self._enough[state] = min(self._enough.get(state, budget), budget)
                return True
        self._too_few[state] = max(self._too_few.get(state, -1), budget)
        return False

    def _fits(self, matcher: Matcher, token: int, depth: int) -> bool:
        """With the length-aware option: after ``token`` the text can still be completed
        within the cap."""
        child = matcher.fork()
        child.accept_token(token)
        return self.completes_within(child, self.max_tokens - depth - 1)

    def allowed(self, matcher: Matcher, depth: int) -> tuple[np.ndarray, bool]:
        """(sorted allowed text-token ids, whether a stop token is allowed) after ``depth``
        generated tokens."""
        self.mask_calls += 1
        can_stop = matcher.can_terminate()
        if depth >= self.max_tokens:
            return np.empty(0, dtype=np.int64), can_stop
        ids = self._text_ids(matcher)
        if self.length_aware and len(ids):
            keep = [self._fits(matcher, t, depth) for t in ids.tolist()]
            ids = ids[np.asarray(keep, dtype=bool)]
        return ids, can_stop

    def allowed_with_stop(self, matcher: Matcher, depth: int) -> np.ndarray:
        """Every allowed next id, stop tokens included (AWRS's fallback after many rejections)."""
        ids, can_stop = self.allowed(matcher, depth)
        return np.concatenate([ids, self.eos_array]) if can_stop else ids

    def check(self, matcher: Matcher, token: int, depth: int) -> bool:
        """Is ``token`` allowed next? One token, state unchanged (AWRS's only question)."""
        self.checks += 1
        if token in self._eos_set:
            return matcher.can_terminate()
        if depth >= self.max_tokens:
            return False
        if matcher.validate_tokens([token]) != 1:
            return False
        return not self.length_aware or self._fits(matcher, token, depth)

    def decode(self, ids: list[int]) -> str:
        return self.info.decode_bytes(ids).decode("utf-8", errors="replace")
