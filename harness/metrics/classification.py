"""Classification metrics: accuracy and macro-F1 (scikit-learn), with bootstrap intervals.

Same signature as the text metrics: predictions are predicted class names, references
hold the gold class as a one-element list, so one eval loop serves both. Macro-F1 is not a
mean over examples; its interval resamples per-example (tp, fp, fn) counts per class.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from harness.metrics.gold import gold_values
from harness.metrics.stats import CONFIDENCE, MetricResult, corpus_ci, mean_ci


def _gold(predictions: list[str], references: list[list[str]]) -> list[str]:
    return gold_values(predictions, references, "gold labels")


def accuracy(predictions: list[str], references: list[list[str]], *, confidence: float = CONFIDENCE, seed: int = 0) -> MetricResult:
    gold = _gold(predictions, references)
    per_example = [float(p == g) for p, g in zip(predictions, gold)]
    value, low, high = mean_ci(per_example, confidence=confidence, seed=seed)
    return MetricResult(value, low, high, len(per_example), per_example, {}, confidence)


def f1_from_counts(row: list[float]) -> float:
    """Macro-F1 from summed [tp, fp, fn] per class; a class with no support and no prediction
    scores 0, as scikit-learn does with zero_division=0."""
    counts = np.asarray(row, dtype=float).reshape(-1, 3)
    denominator = 2 * counts[:, 0] + counts[:, 1] + counts[:, 2]
    f1 = np.divide(2 * counts[:, 0], denominator, out=np.zeros(len(counts)), where=denominator > 0)
    return float(f1.mean())


def f1_statistics(predictions: list[str], gold: list[str]) -> np.ndarray:
    """Per example, [tp, fp, fn] for each class (the sorted union of gold and predicted
    classes): sums of rows give macro-F1 through f1_from_counts."""
    index = {c: i for i, c in enumerate(sorted(set(gold) | set(predictions)))}
    stats = np.zeros((len(gold), 3 * len(index)), dtype=np.int64)
    for row, (p, g) in enumerate(zip(predictions, gold)):
        if p == g:
            stats[row, 3 * index[g]] = 1  # true positive of the gold class
        else:
            stats[row, 3 * index[p] + 1] = 1  # false positive of the predicted class
            stats[row, 3 * index[g] + 2] = 1  # false negative of the gold class
    return stats


def macro_f1_statistics(predictions: list[str], references: list[list[str]]):
    """(per-example [tp, fp, fn] per class, macro-F1 of one summed row): what paired
    comparisons resample. A variant's own classes, as macro_f1 scores it."""
    return f1_statistics(list(predictions), [refs[0] for refs in references]), f1_from_counts


def macro_f1(predictions: list[str], references: list[list[str]], *, confidence: float = CONFIDENCE, seed: int = 0) -> MetricResult:
    gold = _gold(predictions, references)
    classes = sorted(set(gold) | set(predictions))
    value = float(f1_score(gold, predictions, labels=classes, average="macro", zero_division=0))
    stats = f1_statistics(predictions, gold)
    low, high = corpus_ci(stats, f1_from_counts, value=value, confidence=confidence, seed=seed)
    per_class = f1_score(gold, predictions, labels=classes, average=None, zero_division=0)
    extra = {"per_class_f1": {c: round(float(f), 6) for c, f in zip(classes, per_class)}}
    return MetricResult(value, low, high, len(gold), None, extra, confidence)
