"""Helpers the grammar tests share to generate random members of a language: how far each
DFA state is from acceptance, and how shallow each rule's shortest derivation is."""
from __future__ import annotations

from collections import deque

from grammask.automata import ByteDFA
from grammask.grammar import Grammar


def dist_to_accept(d: ByteDFA) -> list[int]:
    """Bytes still needed from each state to reach acceptance (BFS on reversed edges)."""
    n = d.num_states
    preds: list[list[int]] = [[] for _ in range(n)]
    for s in range(n):
        for t in set(d.trans[s].tolist()) - {-1}:
            preds[t].append(s)
    dist = [10**9] * n
    queue = deque(s for s in range(n) if d.accepting[s])
    for s in queue:
        dist[s] = 0
    while queue:
        s = queue.popleft()
        for p in preds[s]:
            if dist[p] > dist[s] + 1:
                dist[p] = dist[s] + 1
                queue.append(p)
    return dist


def rule_heights(grammar: Grammar) -> dict[str, int]:
    """Shortest derivation height of every rule (terminals 0): lets random generators stop
    expanding and head for a finite string."""
    h = {t: 0 for t in grammar.terminals}
    changed = True
    while changed:
        changed = False
        for name, rule in grammar.rules.items():
            best = min((1 + max((h.get(s, 10**9) for s in alt), default=0)
                        for alt in rule.alternatives), default=10**9)
            if best < h.get(name, 10**9):
                h[name] = best
                changed = True
    return h
