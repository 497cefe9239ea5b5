"""Samplers (grammask.samplers) on toy language models whose distributions are known exactly.

Every random draw is seeded, so each test is deterministic; tolerances are still chosen from
the sampling error (several standard errors, stated at each assertion) so that a different
seed would pass too.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import grammask
from grammask.samplers import (
    ASApTrie,
    CallableLM,
    SamplerError,
    awrs_step,
    exact_distribution,
    kl_divergence,
    sample,
    total_variation,
)
from grammask.samplers.lm import TransformersLM

# --------------------------------------------------------------------------- toy models


def _hand_info():
    """Vocabulary a, b, c, <eos>."""
    return grammask.TokenizerInfo([b"a", b"b", b"c", None], eos_token_ids=[3])


_HAND = {(): [0.45, 0.45, 0.10, 0.0],      # first token
         (0,): [0.5, 0.1, 0.0, 0.4],       # after "a": "b" is unlikely
         (1,): [0.9, 0.05, 0.0, 0.05]}     # after "b": "a" is likely
_DEFAULT = [0.1, 0.1, 0.1, 0.7]


def hand_lm(ids):
    """A model over a, b, c, <eos> given the prompt [0]; hand-computable on ``ab|ba|c``."""
    p = np.asarray(_HAND.get(tuple(ids[1:]), _DEFAULT))
    with np.errstate(divide="ignore"):
        return np.log(p)


# On (ab|ba|c): P(c) = .1 * .7, P(ab) = .45 * .1 * .7, P(ba) = .45 * .9 * .7, so
# P(L) = .385 and P(. | L) = (.07, .0315, .2835) / .385 -- while GCD samples (.1, .45, .45).
HAND_EXACT = {(2,): 0.07 / 0.385, (0, 1): 0.0315 / 0.385, (1, 0): 0.2835 / 0.385}
HAND_GCD = {(2,): 0.1, (0, 1): 0.45, (1, 0): 0.45}


class ToyLM:
    """A fixed random next-token distribution per prefix (seeded by the prefix itself), with a
    few tokens made very likely so that GCD's bias is large."""

    def __init__(self, vocab_size: int, seed: int = 0, scale: float = 2.5) -> None:
        self.vocab_size = vocab_size
        self.seed = seed
        self.scale = scale

    def __call__(self, ids):
        rng = np.random.default_rng([self.seed, len(ids), *ids])
        return rng.normal(size=self.vocab_size) * self.scale


def _toy_info():
    # ids 0..5 text, 6 = special (never allowed), 7 = eos
    return grammask.TokenizerInfo([b"a", b"b", b"c", b"ab", b"ba", b"aa", None, None],
                                  eos_token_ids=[7])


TOY_PATTERN = r"[ab]{1,4}c?"      # finite; many strings have several tokenisations


@pytest.fixture(scope="module")
def toy():
    info = _toy_info()
    compiled = grammask.compile_regex(TOY_PATTERN, info)
    lm = ToyLM(info.vocab_size, seed=3)
    exact = exact_distribution(lm, compiled, [0], max_tokens=6)
    return info, compiled, lm, exact


# --------------------------------------------------------------------------- exact reference


def test_exact_reference_by_hand():
    compiled = grammask.compile_regex(r"(ab|ba|c)", _hand_info())
    ex = exact_distribution(hand_lm, compiled, [0], max_tokens=4)
    for y, p in HAND_EXACT.items():
        assert ex.as_dict()[y] == pytest.approx(p, rel=1e-12)
    for y, p in HAND_GCD.items():
        assert ex.gcd_dict()[y] == pytest.approx(p, rel=1e-12)
    assert ex.log_z == pytest.approx(math.log(0.385), rel=1e-12)
    assert ex.pruned_mass == 0.0


def test_exact_reference_temperature_and_cap():
    compiled = grammask.compile_regex(r"(ab|ba|c)", _hand_info())
    ex = exact_distribution(hand_lm, compiled, [0], max_tokens=1)       # only "c" fits
    assert ex.sequences == [(2,)] and ex.probs[0] == 1.0
    t = 0.5                                                             # p ** 2, renormalised
    ex2 = exact_distribution(hand_lm, compiled, [0], max_tokens=4, temperature=t)
    first = np.asarray(_HAND[()])[:3] ** 2 / (np.asarray(_HAND[()]) ** 2).sum()
    stop = np.asarray(_DEFAULT) ** 2 / (np.asarray(_DEFAULT) ** 2).sum()
    after_a = np.asarray(_HAND[(0,)]) ** 2 / (np.asarray(_HAND[(0,)]) ** 2).sum()
    after_b = np.asarray(_HAND[(1,)]) ** 2 / (np.asarray(_HAND[(1,)]) ** 2).sum()
    raw = {(2,): first[2] * stop[3], (0, 1): first[0] * after_a[1] * stop[3],
           (1, 0): first[1] * after_b[0] * stop[3]}
    z = sum(raw.values())
    for y, p in raw.items():
        assert ex2.as_dict()[y] == pytest.approx(p / z, rel=1e-9)


# --------------------------------------------------------------------------- GCD


def test_gcd_reproduces_its_known_bias():
    compiled = grammask.compile_regex(r"(ab|ba|c)", _hand_info())
    n = 4000
    res = sample(hand_lm, compiled, [0], method="gcd", n=n, max_tokens=4, seed=0)
    emp = res.distribution()
    se = math.sqrt(0.25 / n)                       # largest standard error of a frequency
    for y, q in HAND_GCD.items():
        assert abs(emp.get(y, 0.0) - q) < 5 * se   # GCD follows its own (biased) distribution
    assert total_variation(emp, HAND_EXACT) > 0.25  # ... which is far from the target (TV 0.37)
    assert set(res.texts) <= {"ab", "ba", "c"}
    # logprobs are the model's own: P(ab) = .45 * .1 * .7
    lp = dict(zip(map(tuple, res.token_ids), res.logprobs))
    assert lp[(0, 1)] == pytest.approx(math.log(0.45 * 0.1 * 0.7))


# --------------------------------------------------------------------------- ASAp


@pytest.mark.parametrize("lookahead", [0, None])          # the paper's ASAp, and the default
def test_asap_converges_to_the_exact_conditional(toy, lookahead):
    _, compiled, lm, exact = toy
    target = exact.as_dict()
    trie = ASApTrie()
    warm = sample(lm, compiled, [0], method="asap", n=300, max_tokens=6, seed=1, trie=trie,
                  lookahead=lookahead)
    assert warm.trie is trie and trie.samples == 300
    n = 3000
    res = sample(lm, compiled, [0], method="asap", n=n, max_tokens=6, seed=2, trie=trie,
                 lookahead=lookahead)
    gcd = sample(lm, compiled, [0], method="gcd", n=n, max_tokens=6, seed=2)
    kl_asap = kl_divergence(res.distribution(), target)
    kl_gcd = kl_divergence(gcd.distribution(), target)
    # An exact sampler's empirical KL is about (support - 1) / (2 n) (chi-square / 2n); allow 3x.
    noise = (len(exact.sequences) - 1) / (2 * n)
    assert kl_asap < 3 * noise, (kl_asap, noise)
    assert kl_gcd > 5 * kl_asap, (kl_gcd, kl_asap)
    # the root's bound never drops below the truth, and is close to it after 3,300 samples
    assert trie.efg_bound(()) >= math.exp(exact.log_z) - 1e-12
    assert trie.efg_bound(()) < math.exp(exact.log_z) * 1.05


def test_asap_bounds_become_exact_when_everything_is_explored():
    compiled = grammask.compile_regex(r"(ab|ba|c)", _hand_info())
    trie = ASApTrie()
    sample(hand_lm, compiled, [0], method="asap", n=200, max_tokens=4, seed=0, trie=trie)
    assert trie.efg_bound(()) == pytest.approx(0.385, rel=1e-12)          # P(L), exactly
    assert trie.efg_bound((0,)) == pytest.approx(0.1 * 0.7, rel=1e-12)   # EFG("a")


def test_asap_distribution_is_gcd_then_exact_once_explored(toy):
    """`asap_distribution` (the noise-free view of what ASAp draws next): with a trie that has
    seen one sample it differs from GCD only along that sample's path; once every prefix is
    explored it is the exact conditional."""
    from grammask.samplers import asap_distribution
    compiled = grammask.compile_regex(r"(ab|ba|c)", _hand_info())
    seqs = list(HAND_EXACT)
    trie = ASApTrie()
    sample(hand_lm, compiled, [0], method="asap", n=200, max_tokens=4, seed=0, trie=trie)
    q = asap_distribution(trie, hand_lm, compiled, [0], seqs)
    assert q == pytest.approx([HAND_EXACT[y] for y in seqs], rel=1e-9)
    # a fresh trie's next draw is GCD's (its key is set by one draw; the root is then explored
    # only along that draw)
    _, compiled_t, lm, exact = toy
    one = ASApTrie()
    sample(lm, compiled_t, [0], method="asap", n=1, max_tokens=6, seed=4, trie=one)
    q1 = dict(zip(exact.sequences, asap_distribution(one, lm, compiled_t, [0], exact.sequences)))
    gcd = exact.gcd_dict()
    assert total_variation(q1, gcd) < total_variation(gcd, exact.as_dict())
    many = ASApTrie()
    sample(lm, compiled_t, [0], method="asap", n=3000, max_tokens=6, seed=4, trie=many)
    qn = dict(zip(exact.sequences, asap_distribution(many, lm, compiled_t, [0], exact.sequences)))
    assert kl_divergence(qn, exact.as_dict()) < 0.1 * kl_divergence(gcd, exact.as_dict())
    with pytest.raises(grammask.samplers.SamplerError, match="not been used"):
        asap_distribution(ASApTrie(), hand_lm, compiled, [0], seqs)


def test_asap_lookahead_bounds_stay_upper_bounds_and_converge(toy):
    """``lookahead``: children get one-step bounds before they are visited -- still upper bounds
    on their expected future grammaticality (the root's never drops below P(L)), and the
    next-draw distribution reaches the exact conditional once everything is explored."""
    from grammask.samplers import asap_distribution
    _, compiled, lm, exact = toy
    trie = ASApTrie()
    res = sample(lm, compiled, [0], method="asap", n=400, max_tokens=6, seed=7, trie=trie,
                 lookahead=3)
    assert set(map(tuple, res.token_ids)) <= set(exact.sequences)
    assert trie.efg_bound(()) >= math.exp(exact.log_z) - 1e-12
    for prefix, node in trie.nodes.items():              # every bound >= the truth below it
        below = sum(p for y, p in zip(exact.sequences, np.exp(exact.logp))
                    if y[:len(prefix)] == prefix)
        path = math.exp(sum(lm([0, *prefix[:i]])[prefix[i]] - np.logaddexp.reduce(
            lm([0, *prefix[:i]])) for i in range(len(prefix))))
        assert node.bound >= below / path - 1e-9, prefix
    q = dict(zip(exact.sequences, asap_distribution(trie, lm, compiled, [0], exact.sequences)))
    assert kl_divergence(q, exact.as_dict()) < 0.2 * kl_divergence(exact.gcd_dict(),
                                                                    exact.as_dict())
    with pytest.raises(grammask.samplers.SamplerError, match="lookahead"):
        sample(lm, compiled, [0], method="gcd", n=1, max_tokens=6, lookahead=2)


def test_asap_trie_round_trip_and_continuation():
    compiled = grammask.compile_regex(r"(ab|ba|c)", _hand_info())
    trie = ASApTrie()
    sample(hand_lm, compiled, [0], method="asap", n=3, max_tokens=4, seed=5, trie=trie)
    blob, text = trie.to_bytes(), trie.to_json()
    assert isinstance(blob, bytes) and isinstance(text, str)
    a, b = ASApTrie.from_bytes(blob), ASApTrie.from_json(text)
    assert a == trie and b == trie and len(a) == len(trie) > 0
    # continuing from a restored trie is the same as continuing from the original
    r0 = sample(hand_lm, compiled, [0], method="asap", n=20, max_tokens=4, seed=9, trie=trie)
    r1 = sample(hand_lm, compiled, [0], method="asap", n=20, max_tokens=4, seed=9, trie=a)
    assert r0.token_ids == r1.token_ids and a == trie
    with pytest.raises(SamplerError, match="prompt"):
        sample(hand_lm, compiled, [1], method="asap", n=1, max_tokens=4, trie=a)
    with pytest.raises(SamplerError, match="max_tokens"):
        sample(hand_lm, compiled, [0], method="asap", n=1, max_tokens=5, trie=a)
    with pytest.raises(SamplerError, match="ASAp trie"):
        ASApTrie.from_bytes(b"not a trie")
    with pytest.raises(SamplerError, match="ASAp trie"):
        ASApTrie.from_json('{"format": "x"}')


# --------------------------------------------------------------------------- AWRS


AWRS_CASES = {
    # name: (probabilities, allowed ids)
    "spread": (np.asarray([0.3, 0.25, 0.2, 0.1, 0.1, 0.05]), {1, 3, 5}),
    "top-rejected": (np.asarray([0.9, 0.05, 0.03, 0.02]), {2, 3}),
    "one-allowed": (np.asarray([0.5, 0.3, 0.2]), {1}),
    "all-allowed": (np.asarray([0.6, 0.4]), {0, 1}),
    "tiny-mass": (np.asarray([1 - 3e-9, 1e-9, 2e-9]), {1, 2}),   # exercises the exact phase
    "zeros": (np.asarray([0.0, 0.5, 0.0, 0.5, 0.0]), {3, 4}),
    # 120 tokens, the 12 allowed ones hold ~10% of the mass: ~10 rejections per draw, so the
    # explicit-order phase (and, with mask_after, the mask fallback) is exercised
    "many-rejections": (np.random.default_rng(7).dirichlet(np.ones(120)),
                        set(range(3, 120, 10))),
}


AWRS_MODES = {          # (adaptive, mask_after): the paper's estimator with and without the
    "recursive": (False, None),              # mask fallback, the adaptive weighted-set one
    "recursive-mask1": (False, 1),
    "recursive-mask8": (False, 8),
    "adaptive": (True, None),
    "adaptive-mask8": (True, 8),
}


@pytest.mark.parametrize("mode", sorted(AWRS_MODES))
@pytest.mark.parametrize("name", sorted(AWRS_CASES))
def test_awrs_normaliser_is_unbiased_and_properly_weighted(name, mode):
    p, allowed = AWRS_CASES[name]
    adaptive, mask_after = AWRS_MODES[mode]
    cand = np.ones(len(p), dtype=bool)
    cdf = np.cumsum(p)
    rng = np.random.default_rng([sorted(AWRS_CASES).index(name), sorted(AWRS_MODES).index(mode)])
    runs = 4000
    z = np.empty(runs)
    tok = np.empty(runs, dtype=np.int64)
    checks = 0
    ids = np.asarray(sorted(allowed))
    kw = {"adaptive": adaptive}
    if mask_after is not None:
        kw.update(allowed=lambda: ids, mask_after=mask_after)
    for i in range(runs):
        d = awrs_step(p, cdf, cand, lambda t: t in allowed, rng, **kw)
        z[i], tok[i] = d.z_hat, d.token
        checks += d.checks
    exact_z = float(sum(p[t] for t in allowed))
    se = z.std() / math.sqrt(runs) + 1e-15
    assert abs(z.mean() - exact_z) < 5 * se + 1e-12 * exact_z, (z.mean(), exact_z, se)
    for t in allowed:
        if not adaptive:
            # the paper's estimator: the token is an exact draw from p restricted to the set
            q = p[t] / exact_z
            freq = float(np.mean(tok == t))
            assert abs(freq - q) < 5 * math.sqrt(q * (1 - q) / runs) + 1e-9, (t, freq, q)
        # properly weighted: E[z_hat 1(x = t)] = p(t); z_hat <= 1, so its variance is <= p(t)
        wz = z * (tok == t)
        assert abs(wz.mean() - p[t]) <= 5 * math.sqrt(p[t] / runs), (t, wz.mean(), p[t])
    assert checks / runs <= (len(p) + 1 if mask_after is None else mask_after + 1)


def test_awrs_nothing_allowed_gives_weight_zero():
    p = np.asarray([0.5, 0.5])
    d = awrs_step(p, np.cumsum(p), np.ones(2, dtype=bool), lambda t: False,
                  np.random.default_rng(0))
    assert d.token is None and d.z_hat == 0.0 and d.checks == 2


@pytest.mark.parametrize("estimator", ["adaptive", "recursive"])
def test_awrs_marginal_likelihood_is_unbiased(toy, estimator):
    _, compiled, lm, exact = toy
    runs = 1000
    est = np.empty(runs)
    for i in range(runs):
        r = sample(lm, compiled, [0], method="awrs", n=1, max_tokens=6, seed=1000 + i,
                   awrs=estimator)
        est[i] = math.exp(r.log_ml)
    z = math.exp(exact.log_z)
    se = est.std() / math.sqrt(runs)
    assert abs(est.mean() - z) < 5 * se, (est.mean(), z, se)


def test_awrs_counts_checks_per_token(toy):
    info, compiled, lm, _ = toy
    r = sample(lm, compiled, [0], method="awrs", n=200, max_tokens=6, seed=0)
    assert r.stats.proposal_steps > 0 and r.stats.mask_calls == 0
    assert 1.0 <= r.stats.checks_per_token <= info.vocab_size
    w = r.weights
    assert w is not None and w.sum() == pytest.approx(1.0) and (w >= 0).all()


# --------------------------------------------------------------------------- SMC


@pytest.mark.parametrize("estimator", ["adaptive", "recursive"])
def test_smc_weights_give_the_exact_conditional(toy, estimator):
    _, compiled, lm, exact = toy
    target = exact.as_dict()
    n = 4000
    res = sample(lm, compiled, [0], method="smc", n=n, max_tokens=6, seed=4, ess_threshold=0.5,
                 awrs=estimator)
    emp = res.distribution()
    assert res.weights.sum() == pytest.approx(1.0)
    assert all(s in target for s in emp)
    ess = res.ess
    assert ess is not None and ess > 0.3 * n
    # empirical KL of an exact sampler ~ (support - 1) / (2 ESS); allow 3x
    noise = (len(exact.sequences) - 1) / (2 * ess)
    assert kl_divergence(emp, target) < 3 * noise
    gcd_kl = kl_divergence(exact.gcd_dict(), target)       # the bias SMC removes
    assert kl_divergence(emp, target) < gcd_kl / 5
    # log marginal likelihood (unbiased in exp): over seeds 0-5 its error has std ~0.04 here
    # (P(L) = 0.018, GCD's KL to the target 1.4: heavy weights); allow 5 of them
    assert res.log_ml == pytest.approx(exact.log_z, abs=0.2)
    assert res.stats.resamples >= 1


def test_smc_multinomial_and_length_cap():
    compiled = grammask.compile_regex(r"(ab|ba|c)", _hand_info())
    n = 20000
    res = sample(hand_lm, compiled, [0], method="smc", n=n, max_tokens=1, seed=0,
                 resampling="multinomial", ess_threshold=1.0)
    # only "c" fits in one token: every surviving particle is "c", P(L) = P(c) = .07. About
    # 10% of the particles survive, so exp(log_ml) has relative error sqrt(.9 / (.1 n)) = 2.1%;
    # allow 5 of them.
    alive = [ids for ids, ok in zip(res.token_ids, res.complete) if ok]
    assert alive and all(ids == [2] for ids in alive)
    assert res.log_ml == pytest.approx(math.log(0.07), abs=5 * math.sqrt(0.9 / (0.1 * n)))
    emp = res.distribution()
    assert emp == pytest.approx({(2,): 1.0})


def test_gcd_and_asap_restart_at_the_length_cap():
    compiled = grammask.compile_regex(r"(ab|ba|c)", _hand_info())
    for method in ("gcd", "asap"):
        res = sample(hand_lm, compiled, [0], method=method, n=50, max_tokens=1, seed=0,
                     lookahead=0 if method == "asap" else None)
        assert all(ids == [2] for ids in res.token_ids)
        assert res.stats.attempts > 50          # the others hit the cap and were restarted
    # ASAp's default lookahead sees the dead ends' bound 0 before walking into them
    res = sample(hand_lm, compiled, [0], method="asap", n=50, max_tokens=1, seed=0)
    assert all(ids == [2] for ids in res.token_ids) and res.stats.attempts == 50


def test_length_aware_cap_changes_cost_not_target(toy):
    info, _, lm, _ = toy
    compiled = grammask.compile_regex(r"[ab]{3,5}c", info)     # needs 3 to 6 tokens
    for cap in (3, 4, 5):
        plain = exact_distribution(lm, compiled, [0], max_tokens=cap)
        aware = exact_distribution(lm, compiled, [0], max_tokens=cap, length_aware=True)
        assert plain.sequences == aware.sequences and np.allclose(plain.probs, aware.probs)
        assert aware.nodes < plain.nodes                    # dead ends are not walked
    hand = grammask.compile_regex(r"(ab|ba|c)", _hand_info())
    # with the cap at 1 only "c" fits: length-aware GCD/ASAp never restart ...
    for method in ("gcd", "asap"):
        res = sample(hand_lm, hand, [0], method=method, n=50, max_tokens=1, seed=0,
                     length_aware=True)
        assert res.stats.attempts == 50 and all(ids == [2] for ids in res.token_ids)
    # ... and no SMC particle dies: the first step's allowed mass is P(c) = .1 for every one
    res = sample(hand_lm, hand, [0], method="smc", n=200, max_tokens=1, seed=0,
                 length_aware=True)
    assert all(res.complete)
    assert res.log_ml == pytest.approx(math.log(0.07), abs=1e-9)


def test_same_seed_same_samples(toy):
    _, compiled, lm, _ = toy
    for method in ("gcd", "asap", "awrs", "smc"):
        a = sample(lm, compiled, [0], method=method, n=30, max_tokens=6, seed=11)
        b = sample(lm, compiled, [0], method=method, n=30, max_tokens=6, seed=11)
        assert a.token_ids == b.token_ids and np.array_equal(a.logprobs, b.logprobs)


# --------------------------------------------------------------------------- arguments


def test_bad_arguments_raise_clear_errors():
    info = _hand_info()
    compiled = grammask.compile_regex(r"(ab|ba|c)", info)
    with pytest.raises(SamplerError, match="unknown method 'beam'"):
        sample(hand_lm, compiled, [0], method="beam")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(SamplerError, match="n must be an int >= 1"):
            sample(hand_lm, compiled, [0], n=bad)
    with pytest.raises(SamplerError, match="outside the vocabulary"):
        sample(hand_lm, compiled, [0, 4])
    with pytest.raises(SamplerError, match="token ids must be ints"):
        sample(hand_lm, compiled, [0, "a"])
    with pytest.raises(SamplerError, match="no tokenizer"):
        sample(hand_lm, compiled, "hello")
    with pytest.raises(SamplerError, match="returned 5 scores"):
        sample(lambda ids: np.zeros(5), compiled, [0])
    with pytest.raises(SamplerError, match="has 5 logits"):
        sample(CallableLM(hand_lm, vocab_size=5), compiled, [0])
    with pytest.raises(SamplerError, match="temperature"):
        sample(hand_lm, compiled, [0], temperature=0)
    with pytest.raises(SamplerError, match="max_tokens"):
        sample(hand_lm, compiled, [0], max_tokens=0)
    with pytest.raises(SamplerError, match="ess_threshold"):
        sample(hand_lm, compiled, [0], method="smc", ess_threshold=2)
    with pytest.raises(SamplerError, match="unknown awrs estimator"):
        sample(hand_lm, compiled, [0], method="smc", awrs="geometric")
    with pytest.raises(SamplerError, match="resampling"):
        sample(hand_lm, compiled, [0], method="smc", resampling="stratified-ish")
    with pytest.raises(SamplerError, match="only used by method='asap'"):
        sample(hand_lm, compiled, [0], method="gcd", trie=ASApTrie())
    with pytest.raises(SamplerError, match="compiled grammar"):
        sample(hand_lm, "ab|ba", [0])
    with pytest.raises(SamplerError, match="language model"):
        sample(42, compiled, [0])
    # a string prompt works once there is an encoder
    res = sample(CallableLM(hand_lm, encode=lambda s: [0] * len(s)), compiled, "x", n=2, seed=0)
    assert len(res) == 2


# --------------------------------------------------------------------------- transformers


@pytest.fixture(scope="module")
def tiny_llama():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=64,
                                   num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, max_position_embeddings=256)
    return transformers.LlamaForCausalLM(cfg).eval()


def test_transformers_tree_cache_matches_full_forward(tiny_llama):
    import torch

    lm = TransformersLM(tiny_llama, max_tree_tokens=6, batch_tokens=3)
    prompt = (1, 5, 7)
    conts = [(), (3,), (3, 4), (2, 9, 9), (3, 4, 8), (11,), (3, 4, 8, 1, 2)]
    for _ in range(2):                      # the second round reuses (and resets) the tree
        for c, got in zip(conts, lm.logprobs_batch(prompt, conts)):
            with torch.no_grad():
                ref = tiny_llama(torch.tensor([list(prompt + c)])).logits[0, -1].numpy()
            assert np.abs(ref - got).max() < 1e-4, c
        conts = conts[::-1]
    assert lm.prefills == 1
    got = lm.logprobs((2, 2), (5,))          # a new prompt: prefilled again
    with torch.no_grad():
        ref = tiny_llama(torch.tensor([[2, 2, 5]])).logits[0, -1].numpy()
    assert np.abs(ref - got).max() < 1e-4 and lm.prefills == 2


def test_transformers_lm_samples_every_method(tiny_llama):
    info = grammask.TokenizerInfo([bytes([97 + i % 26]) * (1 + i // 26) for i in range(39)] + [None],
                                  eos_token_ids=[39])
    compiled = grammask.compile_regex(r"[abc]{1,3}", info)
    lm = TransformersLM(tiny_llama)
    exact = exact_distribution(lm, compiled, [1, 2], max_tokens=3)
    for method in ("gcd", "asap", "awrs", "smc"):
        res = sample(lm, compiled, [1, 2], method=method, n=40, max_tokens=3, seed=0)
        assert len(res) == 40
        assert all(t in {"a", "b", "c", "aa", "bb", "cc", "ab"} or set(t) <= set("abc")
                   for t in res.texts)
        target = exact.as_dict()
        for ids, lp in zip(res.token_ids, res.logprobs):
            if math.isfinite(lp):
                assert tuple(ids) in target
                assert lp == pytest.approx(exact.logp[exact.sequences.index(tuple(ids))], abs=1e-5)
    assert lm.prefills == 1                  # one prompt: its KV cache is reused throughout
