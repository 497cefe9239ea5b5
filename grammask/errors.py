"""Exception types. Every failure a user can cause raises a subclass of `GrammaskError`
naming what went wrong and where, so servers can catch one type and report it."""
from __future__ import annotations


class GrammaskError(Exception):
    """Base class of every error grammask raises on purpose."""


class GrammarError(GrammaskError, ValueError):
    """A grammar, regex or schema is malformed, unsupported, or exceeds a limit.

    `source` is the text in which the problem lies, `position` the 0-based character offset
    (None when not tied to one place); `line`/`column` are 1-based and derived from them.
    """

    def __init__(self, message: str, source: str | None = None, position: int | None = None,
                 name: str | None = None) -> None:
        self.message = message
        self.source = source
        self.position = position
        self.name = name
        self.line: int | None = None
        self.column: int | None = None
        if source is not None and position is not None:
            self.line = source.count("\n", 0, position) + 1
            self.column = position - (source.rfind("\n", 0, position) + 1) + 1
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.name:
            where.append(self.name)
        if self.line is not None:
            where.append(f"line {self.line}, column {self.column}")
        if self.position is not None:
            where.append(f"offset {self.position}")
        text = self.message
        if where:
            text = f"{text} ({', '.join(where)})"
        if self.source is not None and self.position is not None and "\n" not in self.source \
                and len(self.source) <= 200:
            text += f"\n  {self.source}\n  {' ' * self.position}^"
        return text


class LimitExceededError(GrammarError):
    """A documented limit (see `grammask.Limits`) was exceeded while compiling.

    `limit` is the name of the `Limits` field, `maximum` its value and `value` what the input
    needed (at least; seconds for `max_compile_seconds`, bytes for `max_memory_bytes`)."""

    def __init__(self, limit: str, value: float, maximum: float, detail: str = "",
                 source: str | None = None, position: int | None = None) -> None:
        self.limit = limit
        self.value = value
        self.maximum = maximum
        msg = f"limit exceeded: {limit}={maximum} (needed at least {value})"
        if detail:
            msg += f"; {detail}"
        msg += f". Raise Limits({limit}=...) if this is intended."
        super().__init__(msg, source, position)


class SchemaError(GrammarError):
    """A JSON Schema is malformed, or uses something grammask cannot enforce exactly.

    `path` is the JSON pointer of the offending subschema (e.g. ``#/properties/age/minimum``);
    it is part of the message so a server can show where the problem is."""

    def __init__(self, message: str, path: str = "#") -> None:
        self.path = path
        super().__init__(f"{message} (at {path})")


class TokenizerError(GrammaskError, ValueError):
    """A tokenizer could not be understood, or its parameters are inconsistent."""


class MatcherError(GrammaskError, ValueError):
    """A matcher was used wrongly: unknown token id, bad bitmask, rollback too far, ..."""


class InvalidTokenError(MatcherError, IndexError):
    """A token id outside `[0, vocab_size)`."""


class BitmaskError(MatcherError):
    """A bitmask or logits array has the wrong dtype, shape or device."""
