"""Boolean DFA operations: language equivalence with the boolean combination of the operands
on random strings, trimming/minimality of the results, emptiness, limits, speed."""
from __future__ import annotations

import random
import time

import numpy as np
import pytest

from grammask.automata import ByteDFA, compile_regex_dfa
from grammask.automata.dfa_ops import difference, empty_dfa, equivalent, intersect, is_empty, minimize, union
from grammask.errors import LimitExceededError
from grammask.limits import Limits

ATOMS = ["a", "b", "c", "[ab]", "[^a]", ".", "é", "(ab)", "\\d"]
PIECES = [b"a", b"b", b"c", b"1", "é".encode(), "中".encode(), b"\n", b"\xc3"]


def random_regex(rng: random.Random, depth: int = 3) -> str:
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(ATOMS)
    kind = rng.randrange(4)
    if kind == 0:
        return "".join(random_regex(rng, depth - 1) for _ in range(rng.randint(2, 3)))
    if kind == 1:
        return "(" + "|".join(random_regex(rng, depth - 1) for _ in range(2)) + ")"
    inner = "(" + random_regex(rng, depth - 1) + ")"
    return inner + rng.choice(["*", "+", "?", "{1,3}", "{2}"])


def random_text(rng: random.Random) -> bytes:
    return b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 7)))


def check_trimmed_minimal(dfa: ByteDFA) -> None:
    """Every state reachable and co-reachable; no two states equivalent (Moore refinement)."""
    if is_empty(dfa):
        assert dfa.num_states == 1 and (dfa.trans == -1).all() and not dfa.accepting[0]
        return
    n = dfa.num_states
    succ = [set(dfa.trans[s].tolist()) - {-1} for s in range(n)]
    seen, todo = {0}, [0]
    while todo:
        for t in succ[todo.pop()] - seen:
            seen.add(t)
            todo.append(t)
    assert len(seen) == n
    live = set(np.flatnonzero(dfa.accepting).tolist())
    changed = True
    while changed:
        changed = False
        for s in range(n):
            if s not in live and succ[s] & live:
                live.add(s)
                changed = True
    assert len(live) == n
    part = dfa.accepting.astype(np.int64)
    while True:
        ext = np.where(dfa.trans >= 0, part[np.maximum(dfa.trans, 0)], -1)
        sig = np.concatenate([part[:, None], ext], axis=1)
        new = np.unique(sig, axis=0, return_inverse=True)[1].reshape(-1)
        if len(np.unique(new)) == len(np.unique(part)):
            break
        part = new
    assert len(np.unique(part)) == n


@pytest.mark.parametrize("seed", range(60))
def test_random_boolean_combinations(seed: int) -> None:
    rng = random.Random(seed)
    ra, rb = random_regex(rng), random_regex(rng)
    a, b = compile_regex_dfa(ra), compile_regex_dfa(rb)
    results = {"and": intersect(a, b), "or": union(a, b), "diff": difference(a, b)}
    for dfa in results.values():
        check_trimmed_minimal(dfa)
    texts = [random_text(rng) for _ in range(300)]
    texts += [t for t in texts if a.matches(t) or b.matches(t)]  # keep positives in play
    for t in texts:
        ma, mb = a.matches(t), b.matches(t)
        assert results["and"].matches(t) == (ma and mb), (ra, rb, t)
        assert results["or"].matches(t) == (ma or mb), (ra, rb, t)
        assert results["diff"].matches(t) == (ma and not mb), (ra, rb, t)
    assert equivalent(union(a, b), union(b, a))
    assert equivalent(intersect(a, b, minimal=False), results["and"])
    assert is_empty(difference(a, a))
    assert is_empty(results["and"]) == is_empty(intersect(b, a))


def test_unminimised_results_are_still_exact_and_minimize_restores_minimality() -> None:
    a, b = compile_regex_dfa("(a|b)*a(a|b){3}"), compile_regex_dfa("(ab|ba|a)*")
    raw = union(a, b, minimal=False)
    assert equivalent(raw, union(a, b))
    check_trimmed_minimal(minimize(raw))
    assert minimize(raw).num_states == union(a, b).num_states


def test_empty_results() -> None:
    a, b = compile_regex_dfa("a+"), compile_regex_dfa("b+")
    assert is_empty(intersect(a, b))
    assert is_empty(empty_dfa()) and not is_empty(a)
    assert equivalent(union(a, intersect(a, b)), a)
    assert equivalent(difference(a, intersect(a, b)), a)
    assert is_empty(intersect(empty_dfa(), a)) and equivalent(union(empty_dfa(), a), a)
    # intersection whose product states are all alive but never accept together
    x, y = compile_regex_dfa("[a-c]*a[a-c]{4}"), compile_regex_dfa("(ab|c)*[a-c]{4}")
    assert is_empty(intersect(x, y))
    # is_empty on an untrimmed automaton: accepting state exists but is unreachable
    trans = np.full((2, 256), -1, dtype=np.int32)
    assert is_empty(ByteDFA(trans, np.array([False, True])))
    trans[0, ord("a")] = 1
    assert not is_empty(ByteDFA(trans, np.array([False, True])))


def test_empty_string_and_utf8() -> None:
    a, b = compile_regex_dfa("(é|a)?"), compile_regex_dfa("[^a]*")
    both = intersect(a, b)
    assert both.matches(b"") and both.matches("é".encode()) and not both.matches(b"a")
    assert not both.matches(b"\xc3")
    assert is_empty(difference(compile_regex_dfa(""), a))


def test_limit() -> None:
    a = compile_regex_dfa("(a|b)*a(a|b){6}")
    b = compile_regex_dfa("(a|b)*b(a|b){6}")
    with pytest.raises(LimitExceededError) as err:
        intersect(a, b, Limits(max_dfa_states=100))
    assert err.value.limit == "max_dfa_states"


def test_speed_of_50_state_products() -> None:
    a = compile_regex_dfa("(a|b)*a(a|b){4}")          # 32 + states
    b = compile_regex_dfa("([a-c]{3}|d)*x?[ab]{0,40}")
    assert 30 <= a.num_states <= 80 and 30 <= b.num_states <= 80
    intersect(a, b)
    t = time.perf_counter()
    for _ in range(10):
        intersect(a, b)
    assert (time.perf_counter() - t) / 10 < 0.02
