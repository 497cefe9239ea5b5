"""Compile-time limits. Each one bounds a resource a hostile or accidental input could blow up;
exceeding one raises `LimitExceededError` naming the parameter to raise.

Besides the `Limits` record this module holds the *compile budget*: `compile_budget(limits)`
is entered by every `compile_*` entry point and makes the time and memory bounds of that one
call visible to the code that does the work (`checkpoint()` in long loops, `charge_table()`
where automaton tables are allocated), through a context variable, so the bounds hold per call
and per thread without being passed through every layer."""
from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import LimitExceededError

#: Bytes one DFA state's transition row costs (256 int32 targets); the unit of
#: `max_memory_bytes` estimates made before a table is allocated.
STATE_ROW_BYTES = 256 * 4


@dataclass(frozen=True)
class Limits:
    """Documented limits with production defaults.

    max_regex_length: characters in one regular expression.
    max_repeat: the largest bound allowed in a counted repetition `{m,n}`.
    max_nfa_states: positions of the intermediate code-point automaton (pattern size x repeat counts;
        for a pattern with lookaround, states of its Thompson NFA).
    max_dfa_states: states of the determinised byte DFA (before and after minimisation), and of
        each automaton a pattern with lookaround determinises (the pattern, each lookahead
        variant, each lookbehind monitor).
    max_nesting: nesting depth of groups in a regex (parser recursion), of GBNF groups, and of
        JSON Schema subschemas / JSON values in a schema document.
    max_grammar_rules: rules of a context-free grammar after EBNF desugaring.
    max_parser_items: items in one Earley set (kernel); ambiguous grammars grow with input.
    max_parser_states: distinct (memoised) parser states of one compiled grammar.
    max_lexer_states: states of the combined contextual lexer of one compiled grammar.
    max_indent: deepest indentation (columns; a tab counts 8) a Python-style indenter accepts.
    max_cached_masks: memoised CFG configuration masks kept before the memo is cleared (bounds
        memory on long generations; masks are recomputed on demand, never wrong).
    mask_window: top-of-stack LR states a memoised CFG mask may be keyed on (0 disables the
        window memo; larger values share masks less often but never change them).
    precompute_windows: a CFG with LALR windows (no indenter, no bounded whitespace) computes
        every window configuration's mask at compile time when it has at most this many
        (`CompiledCFG.precompute_masks`); a grammar with more, and every other grammar,
        computes masks on first use. Not an error when exceeded: it only trades compile
        time for first-mask latency (0: never precompute).
    max_compile_seconds: wall-clock seconds one `compile_regex` / `compile_grammar` /
        `compile_json_schema` call may take (None: no bound). Checked at checkpoints inside
        every loop whose length depends on the input (determinisation, minimisation, UTF-8
        expansion, automaton products, the JSON Schema builder, the grammar front ends) and
        once more when the compiled grammar is complete. Masks computed lazily after compile
        are not covered (they are bounded by the state limits above).
    max_memory_bytes: bytes of automaton transition tables one compile call may allocate
        (None: no bound): every byte DFA the call builds -- regexes, JSON Schema terminals and
        their intermediate products, cache loads -- costs its table (1,024 bytes per state:
        256 int32 targets, plus its accepting flags), and the finished grammar's own
        `memory_bytes()` (DFA and masks of a regex; lexer table and masks of a CFG) is
        counted at the end. A determinisation or product stops as soon as its table would
        pass what is left, before allocating it. A conservative bound on both the peak memory
        and the work of a compile (intermediate automata count although they are freed).
    max_whitespace: when set, the most bytes of `%ignore`d whitespace a CFG accepts between two
        other lexemes (None, the default: the grammar's own language, unbounded). The
        whitespace-only strings of every `%ignore` terminal become one lexeme kind of at most
        this many bytes that can never directly follow itself, so generation cannot loop on
        whitespace; `%ignore`d comments are unchanged. For JSON Schema (whose whitespace is
        already bounded: none by default, at most `JsonSchemaOptions.max_whitespace` per
        structural character when flexible) it caps that option.
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
    precompute_windows: int = 8192
    max_cached_masks: int = 200_000
    max_compile_seconds: float | None = 120.0
    max_memory_bytes: int | None = 2 << 30
    max_whitespace: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_regex_length", "max_repeat", "max_nfa_states", "max_dfa_states",
                     "max_nesting", "max_grammar_rules", "max_parser_items",
                     "max_parser_states", "max_lexer_states", "max_indent", "mask_window",
                     "precompute_windows", "max_cached_masks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Limits.{name} must be an int >= 0, got {value!r}")
        t = self.max_compile_seconds
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float))
                              or not t > 0):
            raise ValueError(f"Limits.max_compile_seconds must be a number > 0 or None, "
                             f"got {t!r}")
        for name in ("max_memory_bytes", "max_whitespace"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < (1 if name == "max_whitespace" else 0)):
                raise ValueError(f"Limits.{name} must be a positive int or None, "
                                 f"got {value!r}")


DEFAULT_LIMITS = Limits()


# ============================================================================= compile budget
class CompileBudget:
    """The time and memory left to one compile call (see `compile_budget`)."""

    __slots__ = ("limits", "deadline", "started", "used_bytes", "what", "interrupted")

    def __init__(self, limits: Limits, what: str) -> None:
        self.limits = limits
        self.what = what
        self.started = time.perf_counter()
        t = limits.max_compile_seconds
        self.deadline = None if t is None else self.started + float(t)
        self.used_bytes = 0
        self.interrupted = False      # set by the watchdog when it interrupts this compile

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def check_time(self, where: str = "") -> None:
        if self.deadline is not None and time.perf_counter() > self.deadline:
            self._time_error(where)

    def _time_error(self, where: str) -> None:
        t = self.limits.max_compile_seconds
        elapsed = self.elapsed()
        detail = f"compiling {self.what} took longer than {t:g} s"
        if where:
            detail += f" (stopped in {where})"
        raise LimitExceededError("max_compile_seconds", round(elapsed, 3), t or 0.0, detail)

    def would_fit(self, nbytes: int) -> bool:
        cap = self.limits.max_memory_bytes
        return cap is None or self.used_bytes + nbytes <= cap

    def charge(self, nbytes: int, where: str = "") -> None:
        """Count `nbytes` of tables against `max_memory_bytes` (raises once past it)."""
        self.used_bytes += int(nbytes)
        cap = self.limits.max_memory_bytes
        if cap is not None and self.used_bytes > cap:
            self.memory_error(self.used_bytes, where)

    def memory_error(self, needed: int, where: str = "") -> None:
        detail = f"compiling {self.what} needs at least {needed:,} bytes of automaton tables"
        if where:
            detail += f" ({where})"
        raise LimitExceededError("max_memory_bytes", needed,
                                 self.limits.max_memory_bytes or 0, detail)


_BUDGET: contextvars.ContextVar[CompileBudget | None] = contextvars.ContextVar(
    "grammask_compile_budget", default=None)


@contextmanager
def compile_budget(limits: Limits, what: str = "the grammar") -> Iterator[CompileBudget]:
    """Make `limits`' time and memory bounds apply to the work done inside the block (in this
    thread / context). Nested blocks share the outermost budget."""
    outer = _BUDGET.get()
    if outer is not None:
        yield outer
        return
    budget = CompileBudget(limits, what)
    token = _BUDGET.set(budget)
    interrupted = False
    try:
        yield budget
    except _DeadlineInterrupt:        # an interrupt that got past its region's __exit__
        interrupted = True
    finally:
        _BUDGET.reset(token)
        if budget.interrupted:
            _settle(budget)
    if interrupted:
        budget._time_error("third-party code")


def _settle(budget: CompileBudget) -> None:
    """End of a compile the watchdog interrupted: drop its regions and cancel any interrupt
    still pending for this thread, so none can surface in the caller's code afterwards (one
    may land while this runs: it is absorbed and the settling repeated)."""
    import threading
    tid = threading.get_ident()
    while True:
        try:
            dog = _watchdog()
            with dog.lock:
                for rid in [r for r, reg in dog.regions.items() if reg[4] is budget]:
                    dog.regions.pop(rid)
                _set_async_exc(tid, None)
            return
        except _DeadlineInterrupt:
            continue


def current_budget() -> CompileBudget | None:
    return _BUDGET.get()


def checkpoint(where: str = "") -> None:
    """Raise `LimitExceededError('max_compile_seconds')` when the current compile call is
    past its deadline (no-op outside a compile call). Cheap: call it in long loops."""
    budget = _BUDGET.get()
    if budget is not None and budget.deadline is not None and \
            time.perf_counter() > budget.deadline:
        budget._time_error(where)


def charge_table(nbytes: int, where: str = "") -> None:
    """Count an allocated automaton table against the current compile's `max_memory_bytes`
    (no-op outside a compile call)."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.charge(nbytes, where)


def table_states_left() -> int | None:
    """How many more DFA states (rows of STATE_ROW_BYTES) the current compile may allocate
    (None: unbounded); lets a construction stop before it builds an oversized table."""
    budget = _BUDGET.get()
    if budget is None or budget.limits.max_memory_bytes is None:
        return None
    return max(0, (budget.limits.max_memory_bytes - budget.used_bytes) // STATE_ROW_BYTES)


# ============================================================================= interruptible
class _DeadlineInterrupt(BaseException):
    """Injected into a thread running third-party code past its compile deadline (a
    BaseException, so that library code's `except Exception` cannot swallow it)."""


class _Watchdog:
    """One daemon thread that interrupts `interruptible` regions past their deadline with an
    asynchronous exception (`PyThreadState_SetAsyncExc`). Costs nothing while no deadline
    passes. It only fires while the region's frame is on its thread's stack and the thread is
    not inside this module (entering or leaving a region); a region whose frame is gone (the
    exception already left it) is dropped. An asynchronous exception can be swallowed -- raised
    inside a gc callback or a `__del__`, which Python reports and ignores -- so a region past
    its deadline is interrupted again every REFIRE seconds until it ends."""

    REFIRE = 0.05

    def __init__(self) -> None:
        import threading
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.regions: dict[int, list] = {}   # id -> [deadline, thread id, fired, frame, budget]
        self.thread: threading.Thread | None = None
        self.next_id = 0

    def register(self, deadline: float, thread_id: int, frame: object,
                 budget: CompileBudget) -> int:
        import threading
        with self.lock:
            self.next_id += 1
            rid = self.next_id
            self.regions[rid] = [deadline, thread_id, False, frame, budget]
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="grammask-deadline",
                                               daemon=True)
                self.thread.start()
            self.wake.notify()
            return rid

    def unregister(self, rid: int) -> bool:
        """Remove the region; True when it was interrupted (any exception still pending for
        its thread is cancelled)."""
        with self.lock:
            region = self.regions.pop(rid, None)
            if region is None:
                return True                   # dropped by the watchdog: it had fired
            if region[2]:
                _set_async_exc(region[1], None)
            return bool(region[2])

    def _run(self) -> None:
        import sys
        with self.lock:
            while True:
                now = time.perf_counter()
                soonest = None
                frames = None
                for rid, region in list(self.regions.items()):
                    deadline, thread_id, _fired, frame, budget = region
                    if deadline > now:
                        soonest = deadline if soonest is None else min(soonest, deadline)
                        continue
                    if frames is None:
                        frames = sys._current_frames()
                    where = _region_state(frames.get(thread_id), frame)
                    if where == "gone":
                        region[2] = True
                        self.regions.pop(rid)          # its frame has left: nothing to stop
                        continue
                    if where == "inside":
                        region[2] = True
                        budget.interrupted = True
                        _quiet_swallowed_interrupts()
                        _set_async_exc(thread_id, _DeadlineInterrupt)
                        region[0] = now + self.REFIRE
                    else:                              # entering/leaving: look again soon
                        region[0] = now + 0.001
                    soonest = region[0] if soonest is None else min(soonest, region[0])
                self.wake.wait(None if soonest is None else max(soonest - now, 0.0005))


def _region_state(top: object, frame: object) -> str:
    """"inside" the region (its frame on the stack, the thread not in this module), "edge"
    (in this module: entering or leaving it) or "gone"."""
    f = top
    while f is not None:
        if f is frame:
            return "edge" if getattr(top, "f_code").co_filename == __file__ else "inside"
        f = getattr(f, "f_back")
    return "gone"


def _quiet_swallowed_interrupts() -> None:
    """Make `sys.unraisablehook` ignore `_DeadlineInterrupt`s. An interrupt that lands in a
    weakref callback or a `__del__` running inside a region is swallowed there and reported
    as "Exception ignored in ..." (pytest even fails the test); the watchdog fires again
    anyway, so such a report is noise. The filter wraps whatever hook is current and passes
    every other report on to it; it is installed again if someone replaced it."""
    import sys
    hook = sys.unraisablehook
    if getattr(hook, "_grammask_filter", False):
        return

    def filtered(args: object, _next=hook) -> None:
        if isinstance(getattr(args, "exc_value", None), _DeadlineInterrupt) or \
                getattr(args, "exc_type", None) is _DeadlineInterrupt:
            return
        _next(args)

    filtered._grammask_filter = True  # type: ignore[attr-defined]
    sys.unraisablehook = filtered


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    import ctypes
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               ctypes.py_object(exc) if exc else None)


_WATCHDOG: _Watchdog | None = None
_WATCHDOG_LOCK = __import__("threading").Lock()


def _watchdog() -> _Watchdog:
    global _WATCHDOG
    with _WATCHDOG_LOCK:
        if _WATCHDOG is None:
            _WATCHDOG = _Watchdog()
        return _WATCHDOG


class interruptible:
    """`with interruptible("where"):` -- run third-party code that has no checkpoints (Lark's
    grammar loader, its LALR analysis) so that the current compile's `max_compile_seconds`
    still holds: past the deadline the block is interrupted and raises
    `LimitExceededError('max_compile_seconds')`. Only for code working on its own local data:
    the interruption can land between any two bytecodes of the block. A no-op outside a
    compile call or without a time limit."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.rid: int | None = None
        self.budget: CompileBudget | None = None
        self.dog: _Watchdog | None = None

    def __enter__(self) -> "interruptible":
        budget = _BUDGET.get()
        if budget is None or budget.deadline is None:
            return self
        budget.check_time(self.where)
        import sys
        import threading
        self.budget = budget
        self.dog = _watchdog()
        self.rid = self.dog.register(budget.deadline, threading.get_ident(), sys._getframe(1),
                                     budget)
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> bool:
        fired = False
        while True:           # a second interrupt can land anywhere until unregister returns
            try:
                fired = fired or (exc_type is not None and
                                  issubclass(exc_type, _DeadlineInterrupt))
                if self.rid is None:
                    return False
                assert self.dog is not None
                fired = self.dog.unregister(self.rid) or fired
                break
            except _DeadlineInterrupt:
                fired = True
        self.rid = None
        if fired:
            assert self.budget is not None
            self.budget._time_error(self.where)    # raises LimitExceededError
        return False
