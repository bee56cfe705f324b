"""Metric results and the one bootstrap: every resample of the harness is drawn here.

Owns `MetricResult` (what every metric function returns), the resampling constants
(CONFIDENCE, N_RESAMPLES, SEED) and the estimators built on them. Paired comparisons
between variants (harness/analysis/paired.py) and the regression gate draw their
resamples from `resample_counts` and `corpus_resamples` too, so a metric's interval and a
comparison's see the same resamples of the same examples. The estimators:

* `mean_ci` -- for metrics that are a mean of per-example scores (ROUGE, exact match):
  scipy.stats.bootstrap, percentile method.
* `corpus_ci` -- for corpus-level metrics (BLEU, chrF, TER) whose value is a non-linear
  function of *summed* per-example sufficient statistics. Examples are resampled, their
  statistics summed by one matrix product, and the corpus score recomputed from each sum.

Both are percentile intervals seeded with `numpy.random.default_rng(seed)`, so a result is
reproducible from (data, seed). A degenerate sample (one example, or every score equal)
has no spread to resample: the interval collapses to the value instead of scipy's nan.
The percentile interval of a non-linear corpus statistic need not contain the full-corpus
value (resampling biases ratios such as BLEU's precisions); it is reported as computed.

To add an estimator, write a function returning (ci_low, ci_high) and call it from the
metric; keep it vectorised over resamples (callers run it on thousands of examples).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

log = logging.getLogger(__name__)

CONFIDENCE = 0.95
N_RESAMPLES = 1000
SEED = 0  # fixed, so intervals and comparisons of different variants resample alike


@dataclass(frozen=True)
class MetricResult:
    """One metric over one set of predictions.

    `per_example` holds one score per input example, in input order, for paired tests
    between systems; None when the metric has no per-example form. For corpus metrics it
    is the sentence-level score, which does not average to `value` (see `extra`).
    """

    value: float
    ci_low: float
    ci_high: float
    n: int
    per_example: list[float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    confidence: float = CONFIDENCE

    def to_record(self) -> dict[str, Any]:
        # per_example is left out: it is n floats, stored by the caller beside the record.
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n, **self.extra}


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")


def mean_ci(
    scores: Sequence[float],
    *,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
) -> tuple[float, float, float]:
    """Mean of `scores` and its percentile-bootstrap interval: (value, ci_low, ci_high)."""
    _check_confidence(confidence)
    data = np.asarray(scores, dtype=np.float64)
    if data.ndim != 1 or data.size == 0:
        raise ValueError("mean_ci needs a non-empty 1-D sequence of scores")
    if np.all(data == data[0]):
        # Exactly the constant: a float mean of n copies can be off in the last bit.
        value = float(data[0])
        return value, value, value
    value = float(data.mean())
    res = sps.bootstrap(
        (data,),
        np.mean,
        n_resamples=n_resamples,
        vectorized=True,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if math.isnan(low) or math.isnan(high):
        # scipy returns nan when every resample is identical; that is a zero-width interval.
        log.debug("bootstrap gave a nan interval for %d scores; using a zero-width one", data.size)
        return value, value, value
    return value, low, high


@functools.lru_cache(maxsize=32)
def resample_counts(n: int, seed: int = SEED, n_resamples: int = N_RESAMPLES) -> np.ndarray:
    """(n_resamples, n) matrix: how often each example is drawn in each resample. Cached
    and read-only: every caller resampling n examples with one seed sees the same draws."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_resamples, n))
    # Offsetting each row's draws lets one bincount count every row at once.
    flat = draws + (np.arange(n_resamples) * n)[:, None]
    counts = np.bincount(flat.ravel(), minlength=n_resamples * n).reshape(n_resamples, n)
    counts.flags.writeable = False
    return counts


def corpus_resamples(stats: np.ndarray, score_from_stats: Callable[[list], float], *, seed: int = SEED,
                     n_resamples: int = N_RESAMPLES) -> tuple[float, np.ndarray]:
    """A corpus score and its value on each resample: (full-corpus score, n_resamples scores).

    `stats` is (n_examples, k): one row of additive sufficient statistics per example.
    `score_from_stats` maps one summed row (a list, ints kept as ints) to the corpus score,
    so the arithmetic stays the scorer's own.
    """
    stats = np.asarray(stats)
    # float64 matmul is BLAS-fast and exact for integer counts far below 2**53.
    sums = resample_counts(stats.shape[0], seed, n_resamples).astype(np.float64) @ stats.astype(np.float64)
    if np.issubdtype(stats.dtype, np.integer):  # keep counts ints, as the scorer expects
        sums = np.rint(sums).astype(np.int64)
    scores = np.fromiter((score_from_stats(row) for row in sums.tolist()), dtype=np.float64, count=n_resamples)
    return score_from_stats(stats.sum(axis=0).tolist()), scores


def corpus_ci(
    stats: np.ndarray,
    score_from_stats: Callable[[list], float],
    *,
    value: float,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
    n_resamples: int = N_RESAMPLES,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of a corpus score: (ci_low, ci_high).

    `stats` and `score_from_stats` as for `corpus_resamples`. `value` is the full-corpus
    score, returned as both bounds when the sample is degenerate.
    """
    _check_confidence(confidence)
    stats = np.asarray(stats)
    if stats.ndim != 2 or stats.shape[0] == 0:
        raise ValueError("corpus_ci needs an (n_examples, k) matrix with n_examples > 0")
    if stats.shape[0] == 1 or np.all(stats == stats[0]):
        # Every resample sums to a multiple of the same row; nothing varies to estimate.
        return value, value
    _, scores = corpus_resamples(stats, score_from_stats, seed=seed, n_resamples=n_resamples)
    return percentile_interval(scores, confidence)


def percentile_interval(samples: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The central `confidence` share of bootstrap samples: (low, high)."""
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(samples, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(low), float(high)
