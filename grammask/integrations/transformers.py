"""Hugging Face transformers integration: a batch-aware `LogitsProcessor` and a `generate` helper.

`GrammaskLogitsProcessor` plugs into ``model.generate(..., logits_processor=[...])``. It keeps one
`Matcher` per row of the batch and follows the rows wherever transformers moves them:

* greedy / sampling / ``num_return_sequences``: rows never move (the fast path compares the
  previous ``input_ids`` with the new ones in one tensor op);
* beam search: beams are re-ordered every step, so each row is matched to the previous row whose
  generated tokens it extends and that row's matcher is forked;
* finished rows: after EOS transformers keeps appending the pad id; a terminated matcher ignores
  it (and keeps allowing only EOS, so a sampled softmax never sees an all ``-inf`` row);
* a row whose token the grammar rejects (beam search may keep a ``-inf`` beam when fewer allowed
  candidates exist than beams) is marked dead and allowed only EOS, never raising mid-generation;
* logits wider than the tokenizer (padding ids) are masked by the bitmask kernel.

`generate` is the high-level helper: it formats the prompt with the chat template, compiles the
constraint, decodes with a KV cache in its own loop (so it can *jump forward*: when the grammar
forces a continuation, the forced tokens are appended and fed to the model in one forward pass
instead of one pass each) and returns the text, the parsed value (a Pydantic instance when given a
model class) and counters.
"""
from __future__ import annotations

import json
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import transformers

from ..errors import GrammaskError, InvalidTokenError
from ..kernels import apply_token_bitmask_inplace, bitmask_words
from ..matcher import Matcher, fill_next_token_bitmask_batch
from ..tokenizer_info import TokenizerInfo

__all__ = [
    "GenerationResult",
    "GrammaskLogitsProcessor",
    "build_prompt",
    "compile_constraint",
    "generate",
    "tokenizer_info_for_model",
]


# --------------------------------------------------------------------------------------------
# TokenizerInfo for a (tokenizer, model) pair, built once per tokenizer object.

_INFO_CACHE: weakref.WeakKeyDictionary[Any, dict[tuple, TokenizerInfo]] = weakref.WeakKeyDictionary()


def tokenizer_info_for_model(tokenizer: Any, model: Any = None, *,
                             vocab_size: int | None = None) -> TokenizerInfo:
    """`TokenizerInfo` sized to the model's logits (``config.vocab_size``), EOS from the tokenizer and
    the generation config. Cached per tokenizer object: building it walks the whole vocabulary."""
    from .models import tokenizer_info_for

    if isinstance(tokenizer, TokenizerInfo):
        return tokenizer
    if vocab_size is None and model is not None:
        vocab_size = int(_logits_width(model))
    eos = _eos_ids(tokenizer, model)
    key = (vocab_size, tuple(eos))
    try:
        per_tok = _INFO_CACHE.setdefault(tokenizer, {})
    except TypeError:       # not weak-referenceable: no cache
        per_tok = {}
    if key not in per_tok:
        per_tok[key] = tokenizer_info_for(tokenizer, vocab_size=vocab_size, eos_token_ids=eos or None)
    return per_tok[key]


def _logits_width(model: Any) -> int:
    emb = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if emb is not None and getattr(emb, "weight", None) is not None:
        return int(emb.weight.shape[0])
    return int(model.config.vocab_size)


def _eos_ids(tokenizer: Any, model: Any) -> list[int]:
    ids: list[int] = []
    srcs = [getattr(tokenizer, "eos_token_id", None)]
    if model is not None:
        srcs += [getattr(getattr(model, "generation_config", None), "eos_token_id", None),
                 getattr(getattr(model, "config", None), "eos_token_id", None)]
    for src in srcs:
        for x in (src if isinstance(src, (list, tuple)) else [src]):
            if isinstance(x, int) and x >= 0 and x not in ids:
                ids.append(x)
    return ids


def compile_constraint(info: TokenizerInfo, *, json_schema: Any = None, regex: str | None = None,
                       grammar: Any = None, **options: Any) -> Any:
    """Compile exactly one of `json_schema` (dict, JSON text or Pydantic model), `regex` or `grammar`
    (Lark/GBNF text or path) against `info`. Compiled grammars are cached by the compiler."""
    from ..compiler import compile_grammar, compile_json_schema, compile_regex

    given = [n for n, v in (("json_schema", json_schema), ("regex", regex), ("grammar", grammar))
             if v is not None]
    if len(given) != 1:
        raise GrammaskError(f"give exactly one of json_schema=, regex=, grammar= (got {given or 'none'})")
    if json_schema is not None:
        return compile_json_schema(json_schema, info, **options)
    if regex is not None:
        return compile_regex(regex, info, **options)
    return compile_grammar(grammar, info, **options)


# --------------------------------------------------------------------------------------------
# The logits processor.

class GrammaskLogitsProcessor(transformers.LogitsProcessor):
    """Masks every token the grammar forbids, one matcher per row.

    compiled: one compiled grammar for every row, or a list with one per *prompt* of the batch
    (rows ``r*k .. r*k+k-1`` belong to prompt ``r`` when ``num_beams`` or ``num_return_sequences``
    expand each prompt into ``k`` rows, as transformers does).

    A processor follows one ``generate`` call; a later call with a new prompt is detected (its
    ``input_ids`` do not extend the previous ones) and starts fresh matchers, and `reset` forces it.
    After generation, `matchers` holds the final matcher of every row and `dead_rows` the number
    of rows whose chosen token the grammar rejected (only ``-inf`` beams; 0 for greedy/sampling).
    `timings` accumulates seconds spent advancing matchers, filling and applying masks (profiling)."""

    def __init__(self, compiled: Any | Sequence[Any], *, max_rollback_tokens: int | None = 0) -> None:
        grammars = list(compiled) if isinstance(compiled, (list, tuple)) else [compiled]
        if not grammars:
            raise GrammaskError("GrammaskLogitsProcessor needs at least one compiled grammar")
        infos = {g.tokenizer_info.fingerprint for g in grammars}
        if len(infos) != 1:
            raise GrammaskError("every compiled grammar must use the same TokenizerInfo")
        self.compiled = grammars
        self.info: TokenizerInfo = grammars[0].tokenizer_info
        self.vocab_size = self.info.vocab_size
        self._rollback = max_rollback_tokens     # 0: matchers keep no history (fork stays O(1))
        self._eos_row = np.zeros(bitmask_words(self.vocab_size), dtype=np.uint32)
        for e in self.info.eos_token_ids:
            self._eos_row[e >> 5] |= np.uint32(1 << (e & 31))
        self.reset()

    def reset(self) -> None:
        """Forget the current generation (the next call starts new matchers)."""
        self.matchers: list[Matcher] = []
        self._dead: list[bool] = []
        self._prev: torch.Tensor | None = None
        self._bitmask: torch.Tensor | None = None
        self.dead_rows = 0
        self.timings = {"advance": 0.0, "fill": 0.0, "apply": 0.0, "calls": 0}

    # -- row tracking --------------------------------------------------------------------------
    def _start(self, input_ids: torch.Tensor) -> None:
        rows = input_ids.shape[0]
        if rows % len(self.compiled):
            raise GrammaskError(f"{rows} rows cannot be split evenly over {len(self.compiled)} grammars")
        per = rows // len(self.compiled)
        self.matchers = [Matcher(self.compiled[r // per], max_rollback_tokens=self._rollback)
                         for r in range(rows)]
        self._dead = [False] * rows
        self.dead_rows = 0
        self._bitmask = torch.full((rows, bitmask_words(self.vocab_size)), -1, dtype=torch.int32)

    def _continue(self, input_ids: torch.Tensor) -> bool:
        """Map rows onto the previous step's rows and accept each row's new token. False when
        `input_ids` is not a one-token extension of the previous call (a new generation)."""
        prev = self._prev
        if prev is None or input_ids.shape[1] != prev.shape[1] + 1 or input_ids.shape[0] != prev.shape[0]:
            return False
        if not torch.equal(input_ids[:, :-1], prev):
            # beam search re-ordered the rows: each row's parent is the previous row it extends,
            # within its prompt's group of rows (beams never leave it; identical prompts with
            # different grammars would be ambiguous otherwise)
            per = prev.shape[0] // len(self.compiled)
            parents = {(j // per, tuple(r)): j for j, r in enumerate(prev.tolist())}
            order = []
            for i, r in enumerate(input_ids[:, :-1].tolist()):
                j = parents.get((i // per, tuple(r)))
                if j is None:
                    return False
                order.append(j)
            self.matchers = [self.matchers[j].fork() for j in order]
            self._dead = [self._dead[j] for j in order]
        last = input_ids[:, -1].tolist()
        for i, m in enumerate(self.matchers):
            if self._dead[i] or m.is_terminated():
                continue        # finished rows get the pad id appended: nothing to match
            try:
                ok = m.accept_token(last[i])
            except InvalidTokenError:
                ok = False
            if not ok:
                self._dead[i] = True
                self.dead_rows += 1
        return True

    # -- the hook --------------------------------------------------------------------------------
    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.shape[-1] < self.vocab_size:
            raise GrammaskError(f"logits have {scores.shape[-1]} columns but the grammar's tokenizer "
                                f"has {self.vocab_size} ids; build TokenizerInfo with the model's "
                                f"vocab_size")
        t0 = time.perf_counter()
        if not self._continue(input_ids):
            self._start(input_ids)
        self._prev = input_ids
        t1 = time.perf_counter()
        bitmask = self._bitmask
        assert bitmask is not None
        live = [i for i, d in enumerate(self._dead) if not d]
        if len(live) == len(self.matchers):
            fill_next_token_bitmask_batch(self.matchers, bitmask)
        else:
            words = bitmask.numpy().view(np.uint32)
            for i, d in enumerate(self._dead):
                if d:
                    words[i] = self._eos_row
            if live:
                fill_next_token_bitmask_batch([self.matchers[i] for i in live], bitmask, live)
        t2 = time.perf_counter()
        if scores.device.type != "cpu":
            apply_token_bitmask_inplace(scores, bitmask.to(scores.device, non_blocking=True))
        else:
            apply_token_bitmask_inplace(scores, bitmask)
        t = self.timings
        t["advance"] += t1 - t0
        t["fill"] += t2 - t1
        t["apply"] += time.perf_counter() - t2
        t["calls"] += 1
        return scores


# --------------------------------------------------------------------------------------------
# The high-level helper.

@dataclass
class GenerationResult:
    """What `generate` produced.

    text: the generated text (stop token excluded); value: the parsed object (Pydantic instance,
    JSON value, or the text for regex/grammar), None if invalid; valid: the text is a complete
    string of the constraint's language (and parsed); tokens: generated ids (stop token included);
    forward_passes: model calls after the prompt; jump_forward_tokens: tokens appended without a
    forward pass of their own; stop_reason: "eos", "max_new_tokens" or "forced_eos" (the grammar
    allowed nothing but the stop token, so no pass was spent on it); mask_seconds: time in mask fill
    + apply; first_token_seconds: prompt prefill up to the first token (so decode time per token is
    ``(seconds - first_token_seconds) / (num_tokens - 1)``)."""

    text: str
    value: Any
    valid: bool
    tokens: list[int]
    prompt_tokens: int
    forward_passes: int
    jump_forward_tokens: int
    seconds: float
    stop_reason: str
    error: str | None = None
    mask_seconds: float = 0.0
    first_token_seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)

    @property
    def tokens_per_second(self) -> float:
        return len(self.tokens) / self.seconds if self.seconds > 0 else float("inf")


def build_prompt(tokenizer: Any, prompt: str | Sequence[dict], *, chat: bool | None = None,
                 system: str | None = None) -> str:
    """The text to feed the model: with the tokenizer's chat template (and a generation prompt)
    when it has one and `chat` is not False; a list of messages always goes through the template."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    if system is not None:
        messages = [{"role": "system", "content": system}] + messages
    use_chat = getattr(tokenizer, "chat_template", None) is not None if chat is None else chat
    if not use_chat:
        if not isinstance(prompt, str):
            raise GrammaskError("a list of messages needs a tokenizer with a chat template")
        return (system + "\n\n" + prompt) if system else prompt
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def _greedy_or_sample(temperature: float, top_p: float, generator: torch.Generator | None
                      ) -> Callable[[torch.Tensor], int]:
    def pick(logits: torch.Tensor) -> int:
        if temperature <= 0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits / temperature, dim=-1)
        if top_p < 1.0:
            sp, si = torch.sort(probs, descending=True)
            keep = torch.cumsum(sp, 0) - sp < top_p
            probs = torch.zeros_like(probs).scatter_(0, si[keep], sp[keep])
        return int(torch.multinomial(probs, 1, generator=generator))
    return pick


JSON_DEFAULTS: dict[str, Any] = {"additional_properties": False, "key_separator": ": ",
                                 "item_separator": ", "}
"""`generate`'s JSON layout unless overridden: no properties beyond the schema's (what a caller
passing a Pydantic model means; JSON Schema's default would let a model wander into extra keys) and
``json.dumps``'s separators, the layout models saw most in training."""


@torch.inference_mode()
def generate(model: Any, tokenizer: Any, prompt: str | Sequence[dict], *, json_schema: Any = None,
             regex: str | None = None, grammar: Any = None, compiled: Any = None,
             max_new_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0,
             seed: int | None = None, sampler: Callable[[torch.Tensor], int] | None = None,
             chat: bool | None = None, system: str | None = None, jump_forward: bool = True,
             tokenizer_info: TokenizerInfo | None = None, ignore_eos: bool = False,
             **compile_options: Any) -> GenerationResult:
    """Generate one constrained completion of `prompt` with a transformers causal LM.

    Constraint: exactly one of `json_schema` (dict / JSON text / Pydantic model class), `regex`,
    `grammar` (Lark or GBNF), or an already `compiled` grammar; none at all generates freely (the
    unconstrained baseline). Decoding: greedy (`temperature` 0, the default), temperature/top-p
    sampling with `seed`, or any ``sampler(masked_logits_1d) -> token_id``.
    `chat`: None uses the chat template when the tokenizer has one (instruct models answer far
    better with it). `jump_forward`: append grammar-forced tokens without a forward pass each
    (the forced text in the tokenizer's own tokenisation, its last token left to the model).
    `ignore_eos` (unconstrained only): never stop early, for fixed-length baselines.
    compile_options: passed to the compiler; for JSON Schemas `JSON_DEFAULTS` apply unless overridden.
    Returns a `GenerationResult`; the value is a Pydantic instance when `json_schema` is a model."""
    info = tokenizer_info or tokenizer_info_for_model(tokenizer, model)
    if compiled is None and (json_schema is not None or regex is not None or grammar is not None):
        if json_schema is not None:
            compile_options = {**JSON_DEFAULTS, **compile_options}
        compiled = compile_constraint(info, json_schema=json_schema, regex=regex, grammar=grammar,
                                      **compile_options)
    matcher = Matcher(compiled, max_rollback_tokens=0) if compiled is not None else None
    vocab = info.vocab_size
    eos = set(info.eos_token_ids)
    device = next(model.parameters()).device
    text_in = build_prompt(tokenizer, prompt, chat=chat, system=system)
    prompt_ids = tokenizer(text_in, return_tensors="pt", add_special_tokens=False)["input_ids"].to(device)
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    pick = sampler or _greedy_or_sample(temperature, top_p, gen)
    bitmask = torch.full((1, bitmask_words(vocab)), -1, dtype=torch.int32)

    t0 = time.perf_counter()
    tokens: list[int] = []
    pending = prompt_ids
    past = None
    passes = jumped = 0
    mask_s = 0.0
    stop = "max_new_tokens"
    first = 0.0
    while len(tokens) < max_new_tokens:
        out = model(input_ids=pending, past_key_values=past, use_cache=True)
        past = out.past_key_values
        logits = out.logits[0, -1, :].float()
        if pending is not prompt_ids:
            passes += 1
        if matcher is not None:
            tm = time.perf_counter()
            matcher.fill_next_token_bitmask(bitmask)
            apply_token_bitmask_inplace(logits.view(1, -1), bitmask if logits.device.type == "cpu"
                                        else bitmask.to(logits.device))
            mask_s += time.perf_counter() - tm
        else:
            logits[vocab:] = float("-inf")
            if ignore_eos:
                logits[list(eos)] = float("-inf")
        tok = pick(logits)
        tokens.append(tok)
        if len(tokens) == 1:
            first = time.perf_counter() - t0
        if tok in eos:
            stop = "eos"
            if matcher is not None and not matcher.accept_token(tok):
                raise GrammaskError(f"the sampler chose stop token {tok}, which the grammar forbids here")
            break
        if matcher is not None:
            if not matcher.accept_token(tok):
                raise GrammaskError(f"the sampler chose token {tok}, which the grammar forbids; "
                                    f"samplers must respect the masked logits")
            new = [tok]
            if jump_forward:
                forced = _jump_tokens(matcher, tokenizer)[: max_new_tokens - len(tokens)]
                for f in forced:
                    matcher.accept_token(f)
                tokens.extend(forced)
                jumped += len(forced)
                new += forced
            if matcher.can_terminate() and _only_eos(matcher, eos):
                tokens.append(min(eos))         # the stop token is forced: no pass for it
                matcher.accept_token(tokens[-1])
                stop = "forced_eos"
                break
            pending = torch.tensor([new], dtype=torch.long, device=device)
        else:
            pending = torch.tensor([[tok]], dtype=torch.long, device=device)
    seconds = time.perf_counter() - t0

    body = [t for t in tokens if t not in eos]
    text = tokenizer.decode(body, skip_special_tokens=False) if body else ""
    value, valid, error = _parse(text, matcher, json_schema)
    return GenerationResult(text=text, value=value, valid=valid, tokens=tokens,
                            prompt_tokens=int(prompt_ids.shape[1]), forward_passes=passes,
                            jump_forward_tokens=jumped, seconds=seconds, stop_reason=stop,
                            error=error, mask_seconds=mask_s, first_token_seconds=first)


def _jump_tokens(matcher: Matcher, tokenizer: Any) -> list[int]:
    """Tokens to append without sampling: the forced text as the tokenizer itself would encode it,
    minus its last token.

    Why not `Matcher.forced_tokens()` as is: its greedy longest-prefix split can differ from the
    model's own tokenisation, and the model conditions on token boundaries; and the last forced
    token may be the start of a longer token the model would pick (``[`` vs ``["``). Holding it
    back lets the model choose the merge under the mask. Falls back to the matcher's split when the
    tokenizer's does not spell the forced text."""
    text = matcher.find_jump_forward_string()
    if not text:
        return []
    try:
        ids = list(tokenizer.encode(text, add_special_tokens=False))
    except Exception:  # a tokenizer without encode(): the matcher's own split
        ids = []
    if not ids or matcher.validate_tokens(ids) != len(ids):
        ids = matcher.forced_tokens()
    return ids[:-1]


def _only_eos(matcher: Matcher, eos: set[int]) -> bool:
    """True when the grammar allows nothing but a stop token next (the text is complete)."""
    if matcher.find_forced_bytes():
        return False
    allowed = matcher.allowed_token_ids()
    return len(allowed) <= len(eos) and all(int(t) in eos for t in allowed)


def _parse(text: str, matcher: Matcher | None, json_schema: Any) -> tuple[Any, bool, str | None]:
    """(value, valid, error): for a JSON Schema the parsed JSON (a Pydantic instance when a model
    class was given); for regexes and grammars the text itself, valid when the matcher says the
    text is a complete string of the language."""
    if matcher is None:
        return text, True, None
    if not (matcher.is_terminated() or matcher.can_terminate()):
        return None, False, "generation stopped before the text was complete (max_new_tokens)"
    if json_schema is None:
        return text, True, None
    try:
        if isinstance(json_schema, type) and hasattr(json_schema, "model_validate_json"):
            return json_schema.model_validate_json(text), True, None
        return json.loads(text), True, None
    except Exception as exc:  # a Pydantic ValidationError or a JSON error
        return None, False, f"{type(exc).__name__}: {exc}"
