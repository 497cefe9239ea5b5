from __future__ import annotations

import os

import pytest
from hypothesis import settings

# CI replays the same examples every run (no flaky draws); set GRAMMASK_FUZZ_RANDOM=1 to explore.
settings.register_profile("deterministic", derandomize=True, deadline=None)
if not os.environ.get("GRAMMASK_FUZZ_RANDOM"):
    settings.load_profile("deterministic")

from tokenizers_fixture import load_test_encoder, load_test_tokenizer, shared_dir


# --- tokenizer fixtures (see tests/tokenizers_fixture.py) ---------------------------------

@pytest.fixture(scope="session")
def shared_path():
    """The ../shared directory (tokenizers, MODELS.md); skips when it is missing."""
    d = shared_dir()
    if d is None:
        pytest.skip("../shared is missing (set GRAMMASK_SHARED to its path)")
    return d


@pytest.fixture(scope="session")
def load_tokenizer_info():
    """`load_tokenizer_info(name)` -> model-ready TokenizerInfo (skips when unavailable)."""
    return load_test_tokenizer


@pytest.fixture(scope="session")
def load_encoder():
    """`load_encoder(name)` -> function text -> ids for the same vocabulary."""
    return load_test_encoder
