"""Where the benchmarks find ``../shared`` (benchmark data, converted tokenizers).

One lookup for every script: ``$GRAMMASK_SHARED`` when set (taken as given), else ``shared``
beside the repository, else ``/work/shared`` (the development machine's copy, for clones made
elsewhere). Callers decide what a missing folder means (skip, default path, or exit)."""
from __future__ import annotations

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BESIDE_REPO = os.path.join(os.path.dirname(ROOT), "shared")


def find_shared() -> str | None:
    """The shared folder, or None when neither candidate exists (and the variable is unset)."""
    env = os.environ.get("GRAMMASK_SHARED")
    if env:
        return env
    for cand in (BESIDE_REPO, "/work/shared"):
        if os.path.isdir(cand):
            return cand
    return None
