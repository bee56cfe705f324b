"""The paired tests of harness/analysis/paired.py against scipy, sacrebleu, scikit-learn and hand-worked values."""

from __future__ import annotations

import numpy as np
import pytest
import sacrebleu
from scipy import stats as sps
from sklearn.metrics import f1_score

from harness.analysis.paired import (
    bootstrap_p_value,
    corpus_statistics,
    mcnemar_p,
    paired_corpus_test,
    paired_test,
)
from harness.metrics.stats import corpus_resamples


def test_mcnemar_is_the_exact_binomial_test_on_discordant_pairs():
    # 13 pairs: 4 both right, 2 both wrong, 1 only a right, 6 only b right.
    a = [1] * 4 + [0] * 2 + [1] + [0] * 6
    b = [1] * 4 + [0] * 2 + [0] + [1] * 6
    # By hand: p = 2 * P(X <= 1), X ~ Binomial(7, 1/2) = 2 * (1 + 7) / 128 = 0.125.
    assert mcnemar_p(a, b) == pytest.approx(0.125, abs=1e-12)
    assert mcnemar_p(a, b) == sps.binomtest(6, 7, 0.5).pvalue
    assert mcnemar_p(b, a) == mcnemar_p(a, b)  # two-sided
    result = paired_test(a, b, binary=True)
    assert result["test"] == "mcnemar" and result["n"] == 13
    assert result["delta"] == pytest.approx((6 - 1) / 13)
    assert result["p_value"] == pytest.approx(0.125)
    assert result["ci_low"] <= result["delta"] <= result["ci_high"]
    assert paired_test(b, a, binary=True)["delta"] == pytest.approx(-5 / 13)


def test_mcnemar_without_discordant_pairs_is_one_even_if_concordant_pairs_dominate():
    a = b = [1, 1, 0, 1, 0]
    assert mcnemar_p(a, b) == 1.0
    assert paired_test(a, b, binary=True) == {"delta": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p_value": 1.0, "test": "mcnemar", "n": 5}


def test_mcnemar_large_sample_agrees_with_chi_square_approximation():
    # 60 discordant pairs split 20/40: the continuity-corrected chi-square, (|20-40|-1)^2/60,
    # approximates the exact test; both say p ~ 0.02.
    a = [1] * 20 + [0] * 40 + [1] * 30
    b = [0] * 20 + [1] * 40 + [1] * 30
    chi2 = (abs(20 - 40) - 1) ** 2 / 60
    assert mcnemar_p(a, b) == pytest.approx(sps.chi2.sf(chi2, 1), rel=0.15)
    assert mcnemar_p(a, b) == sps.binomtest(40, 60).pvalue


def test_paired_bootstrap_interval_is_scipys_paired_percentile_bootstrap():
    rng = np.random.default_rng(7)
    a = rng.random(40)
    b = a + rng.normal(0.05, 0.1, 40)
    result = paired_test(a, b, binary=False)
    ref = sps.bootstrap((a, b), lambda x, y, axis=-1: np.mean(y - x, axis=axis), paired=True, vectorized=True,
                        n_resamples=1000, method="percentile", rng=np.random.default_rng(0)).confidence_interval
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((ref.low, ref.high), abs=1e-12)
    assert result["delta"] == pytest.approx(np.mean(b - a))
    assert result["test"] == "paired_bootstrap" and result["n"] == 40


def test_paired_bootstrap_p_value_by_explicit_resampling():
    # Small noisy difference: the p-value is neither 0 nor 1, and is recomputed here from
    # explicit index draws (the same indices for both systems, seed 0).
    rng = np.random.default_rng(3)
    a = rng.random(30)
    b = a + rng.normal(0.02, 0.2, 30)
    idx = np.random.default_rng(0).integers(0, 30, size=(1000, 30))
    deltas = (b[idx] - a[idx]).mean(axis=1)
    expected = min(1.0, 2 * min(np.sum(deltas <= 0), np.sum(deltas >= 0)) / 1000)
    result = paired_test(a, b, binary=False)
    assert 0.0 < expected < 1.0
    assert result["p_value"] == pytest.approx(expected)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx(tuple(np.percentile(deltas, [2.5, 97.5])))


@pytest.mark.parametrize("deltas, p", [
    ([-1, 0, 1, 2, 3], 0.8),  # 2 of 5 at or below zero: 2 * 2/5
    ([1, 2, 3, 4], 0.0),  # none reaches zero
    ([-3, -2, -1, 0.5], 0.5),  # 1 of 4 at or above zero
    ([0, 0, 0], 1.0),  # ties count on both sides, then the cap
    ([-1, 1], 1.0),
])
def test_bootstrap_p_value_definition(deltas, p):
    assert bootstrap_p_value(np.array(deltas, dtype=float)) == pytest.approx(p)


def _texts():
    rng = np.random.default_rng(11)
    words = "the a cat dog sat ran on under mat rug red blue quickly slowly".split()
    refs = [" ".join(rng.choice(words, 8)) for _ in range(25)]
    good = [r if i % 3 else " ".join(r.split()[:5]) for i, r in enumerate(refs)]
    poor = [" ".join(rng.choice(words, 6)) for _ in refs]
    return refs, good, poor


@pytest.mark.parametrize("name, corpus", [("bleu", sacrebleu.corpus_bleu), ("chrf", sacrebleu.corpus_chrf), ("ter", sacrebleu.corpus_ter)])
def test_corpus_bootstrap_recomputes_sacrebleu_on_the_same_resamples(name, corpus):
    refs, good, poor = _texts()
    references = [[r] for r in refs]
    n_resamples = 150
    boots = [corpus_resamples(*corpus_statistics(name, preds, references), n_resamples=n_resamples) for preds in (poor, good)]
    assert boots[0][0] == pytest.approx(corpus(poor, [refs]).score, abs=1e-9)
    assert boots[1][0] == pytest.approx(corpus(good, [refs]).score, abs=1e-9)
    idx = np.random.default_rng(0).integers(0, len(refs), size=(n_resamples, len(refs)))
    expected = np.array([
        corpus([good[i] for i in row], [[refs[i] for i in row]]).score - corpus([poor[i] for i in row], [[refs[i] for i in row]]).score
        for row in idx
    ])
    assert boots[1][1] - boots[0][1] == pytest.approx(expected, abs=1e-9)
    result = paired_corpus_test(boots[0], boots[1], len(refs))
    assert result["delta"] == pytest.approx(corpus(good, [refs]).score - corpus(poor, [refs]).score, abs=1e-9)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx(tuple(np.percentile(expected, [2.5, 97.5])), abs=1e-9)
    assert result["p_value"] == pytest.approx(bootstrap_p_value(expected))


def test_macro_f1_bootstrap_recomputes_scikit_learn_per_resample_with_each_systems_classes():
    rng = np.random.default_rng(5)
    gold = list(rng.choice(["neg", "pos"], 40))
    a = [g if rng.random() < 0.6 else ("pos" if g == "neg" else "neg") for g in gold]
    b = [g if rng.random() < 0.85 else "neutral" for g in gold]  # off the label set: a wrong class of its own
    refs = [[g] for g in gold]
    boots = [corpus_resamples(*corpus_statistics("macro_f1", p, refs), n_resamples=100) for p in (a, b)]
    idx = np.random.default_rng(0).integers(0, 40, size=(100, 40))
    for preds, (value, resampled) in zip((a, b), boots):
        labels = sorted(set(gold) | set(preds))
        assert value == pytest.approx(f1_score(gold, preds, labels=labels, average="macro", zero_division=0))
        expected = [f1_score([gold[i] for i in row], [preds[i] for i in row], labels=labels, average="macro", zero_division=0) for row in idx]
        assert resampled == pytest.approx(expected)


def test_unknown_corpus_metric_has_no_statistics():
    assert corpus_statistics("meteor", ["a"], [["a"]]) is None
