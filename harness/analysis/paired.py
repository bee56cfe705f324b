"""Paired tests: is variant b better or worse than variant a on the same examples?

Every test here resamples through the one bootstrap (harness/metrics/stats.py): the same
N_RESAMPLES resamples of example indices (seed SEED) for both sides. delta is always b
minus a, on the metric's own scale. How a metric is paired is part of its registration
(harness/catalog.py, `pairing`):

* "binary" (0/1 per example: accuracy, exact match): McNemar's exact test, a two-sided
  binomial test (scipy.stats.binomtest, p=0.5) on the discordant pairs; 1.0 when there
  are none.
* "mean" (a mean of per-example scores: ROUGE): paired bootstrap of the mean difference.
* "corpus" (BLEU, chrF, TER, macro-F1): paired bootstrap recomputing each corpus score from
  the resampled examples' sufficient statistics (the metric's registered `statistics`).

The bootstrap p-value: with k_le, k_ge the resampled deltas <= 0 and >= 0,
p = min(1, 2 * min(k_le, k_ge) / N_RESAMPLES); 0 means no resample reached zero. Used by
harness/analysis/compare.py (variants of one suite) and harness/gate/check.py (a run
against its baseline). Imports no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats as sps

from harness.metrics.stats import N_RESAMPLES, SEED, percentile_interval, resample_counts
from harness.registry import METRICS, load_target


def pairing(metric: str) -> str | None:
    """How a registered metric is paired ("binary", "mean", "corpus"); None when unregistered."""
    return METRICS.meta(metric, "pairing")


def corpus_statistics(metric: str, predictions: list[str], references: list[list[str]]
                      ) -> tuple[np.ndarray, Callable[[list], float]] | None:
    """(n x k sufficient statistics, score of one summed row) with the metric's own
    arithmetic, from its registered `statistics`; None for a metric that is not "corpus"."""
    target = METRICS.meta(metric, "statistics") if pairing(metric) == "corpus" else None
    return load_target(target)(predictions, references) if target else None


def bootstrap_p_value(deltas: np.ndarray) -> float:
    """Two-sided: twice the smaller share of resampled deltas on either side of zero (ties
    count on both sides, which keeps it conservative), capped at 1."""
    deltas = np.asarray(deltas)
    smaller = min(int(np.sum(deltas <= 0)), int(np.sum(deltas >= 0)))
    return min(1.0, 2.0 * smaller / deltas.size)


def mcnemar_p(a: np.ndarray, b: np.ndarray) -> float:
    """McNemar's exact test on paired 0/1 scores: binomial test of b's wins among discordant pairs."""
    a, b = np.asarray(a) > 0.5, np.asarray(b) > 0.5
    wins_a, wins_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    if wins_a + wins_b == 0:
        return 1.0
    return float(sps.binomtest(wins_b, wins_a + wins_b, 0.5).pvalue)


def paired_test(a, b, *, binary: bool, seed: int = SEED, n_resamples: int = N_RESAMPLES) -> dict[str, Any]:
    """b minus a for per-example scores: McNemar when binary, else the bootstrap p-value."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    deltas = resample_counts(a.size, seed, n_resamples) @ (b - a) / a.size
    low, high = percentile_interval(deltas)
    p = mcnemar_p(a, b) if binary else bootstrap_p_value(deltas)
    return {"delta": float(b.mean() - a.mean()), "ci_low": low, "ci_high": high, "p_value": p,
            "test": "mcnemar" if binary else "paired_bootstrap", "n": int(a.size)}


def paired_corpus_test(a: tuple[float, np.ndarray], b: tuple[float, np.ndarray], n: int) -> dict[str, Any]:
    """b minus a from two `corpus_resamples` results drawn on the same n examples."""
    deltas = b[1] - a[1]
    low, high = percentile_interval(deltas)
    return {"delta": b[0] - a[0], "ci_low": low, "ci_high": high, "p_value": bootstrap_p_value(deltas),
            "test": "paired_bootstrap", "n": n}


def is_binary(metric: str, scores: list[float]) -> bool:
    """A metric paired as "binary" whose scores here really are all 0 or 1."""
    return pairing(metric) == "binary" and set(scores) <= {0.0, 1.0}
