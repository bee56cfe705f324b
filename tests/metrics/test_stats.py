"""Bootstrap estimators: agreement with scipy and brute force, degenerate data, speed."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from sacrebleu.metrics import BLEU
from scipy import stats as sps

from harness.metrics.stats import MetricResult, corpus_ci, mean_ci, resample_counts


def test_mean_ci_is_scipy_percentile_bootstrap():
    scores = np.random.default_rng(1).random(200)
    value, low, high = mean_ci(scores, seed=5)
    ref = sps.bootstrap(
        (scores,), np.mean, n_resamples=1000, method="percentile", vectorized=True,
        confidence_level=0.95, rng=np.random.default_rng(5),
    ).confidence_interval
    assert value == pytest.approx(scores.mean())
    assert (low, high) == (ref.low, ref.high)
    assert low < value < high


def test_mean_ci_matches_normal_theory_roughly():
    # For n=2000 uniform(0,1) scores the 95% half-width is about 1.96 * sqrt(1/12) / sqrt(n) = 0.0126.
    scores = np.random.default_rng(2).random(2000)
    _, low, high = mean_ci(scores)
    assert (high - low) / 2 == pytest.approx(1.96 * np.sqrt(1 / 12) / np.sqrt(2000), rel=0.15)


def test_mean_ci_narrows_with_n():
    rng = np.random.default_rng(3)
    widths = []
    for n in (20, 200, 2000):
        v, low, high = mean_ci(rng.random(n))
        assert low <= v <= high
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]


@pytest.mark.parametrize("scores", [[0.7], [0.7] * 50, [0.0, 0.0], [1.0] * 3])
def test_degenerate_scores_give_zero_width_without_warnings(scores):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, low, high = mean_ci(scores)
    assert value == low == high == scores[0]


def test_mean_ci_rejects_bad_input():
    with pytest.raises(ValueError):
        mean_ci([])
    with pytest.raises(ValueError):
        mean_ci([0.1, 0.2], confidence=1.0)


def test_mean_ci_seeded():
    scores = np.random.default_rng(4).random(50)
    assert mean_ci(scores, seed=1) == mean_ci(scores, seed=1)
    assert mean_ci(scores, seed=1) != mean_ci(scores, seed=2)


def test_resample_counts_match_the_draws():
    rng_b = np.random.default_rng(9)
    counts = resample_counts(7, 9, 50)
    draws = rng_b.integers(0, 7, size=(50, 7))
    assert counts.shape == (50, 7)
    assert (counts.sum(axis=1) == 7).all()
    for row, d in zip(counts, draws):
        assert (row == np.bincount(d, minlength=7)).all()


def test_corpus_ci_equals_brute_force_resampling():
    # A non-linear ratio statistic, computed naively per resample from the same draws.
    rng = np.random.default_rng(0)
    stats = rng.integers(1, 20, size=(30, 2))
    ratio = lambda row: row[0] / row[1]  # noqa: E731
    low, high = corpus_ci(stats, ratio, value=ratio(stats.sum(0)), seed=11)
    draws = np.random.default_rng(11).integers(0, 30, size=(1000, 30))
    naive = [ratio(stats[d].sum(0)) for d in draws]
    assert (low, high) == tuple(np.percentile(naive, [2.5, 97.5]))


def test_corpus_ci_passes_python_ints_for_integer_stats():
    seen = []

    def score(row):
        seen.append(row)
        return float(sum(row))

    corpus_ci(np.array([[1, 2], [3, 4], [5, 7]]), score, value=22.0, n_resamples=10)
    assert all(type(x) is int for row in seen for x in row)


def test_corpus_ci_degenerate():
    score = lambda row: row[0] / row[1]  # noqa: E731
    assert corpus_ci(np.array([[3, 4]]), score, value=0.75) == (0.75, 0.75)
    assert corpus_ci(np.array([[3, 4]] * 20), score, value=0.75) == (0.75, 0.75)


def test_corpus_ci_is_fast_for_1000_by_1000():
    # 1000 examples, BLEU-shaped statistics, sacrebleu's own scorer per resample.
    rng = np.random.default_rng(0)
    total = rng.integers(5, 30, size=(1000, 4))
    correct = rng.binomial(total, 0.4)
    lens = total[:, :1] + rng.integers(-2, 3, size=(1000, 1))
    stats = np.hstack([total[:, :1], lens, correct, total])
    bleu = BLEU()
    score = lambda row: bleu._compute_score_from_stats(row).score  # noqa: E731
    value = score(stats.sum(0).tolist())
    start = time.perf_counter()
    low, high = corpus_ci(stats, score, value=value)
    assert time.perf_counter() - start < 1.0
    assert low < value < high


def test_metric_result_record_leaves_out_per_example():
    res = MetricResult(0.5, 0.4, 0.6, 3, [0.4, 0.5, 0.6], {"signature": "x"})
    assert res.to_record() == {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n": 3, "signature": "x"}
    assert res.confidence == 0.95
