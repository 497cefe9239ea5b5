"""The one exception type the samplers raise on purpose."""
from __future__ import annotations

from ..errors import GrammaskError


class SamplerError(GrammaskError, ValueError):
    """Bad arguments to a sampler (unknown method, n < 1, a prompt or language model that does
    not fit the grammar's vocabulary, an ASAp trie built for another prompt or grammar), or a
    language model that returned something unusable. A `ValueError`, so callers that validate
    arguments generically still catch it."""
