"""word_recall: per example, the largest share of one reference's word set that the
prediction's word set contains (words: lowercased, split on whitespace); the value is the
mean over examples, with a percentile-bootstrap interval (harness's mean_ci)."""

from __future__ import annotations

from harness.errors import HarnessError
from harness.metrics.stats import CONFIDENCE, MetricResult, mean_ci


def _words(text: str) -> set[str]:
    return set(text.lower().split())


def _recall(prediction: str, references: list[str]) -> float:
    found = _words(prediction)
    shares = [len(words & found) / len(words) for words in map(_words, references) if words]
    return max(shares, default=0.0)  # a reference without words counts as nothing to recall


def word_recall(predictions: list[str], references: list[list[str]], *, confidence: float = CONFIDENCE,
                seed: int = 0) -> MetricResult:
    if len(predictions) != len(references):
        raise HarnessError(f"{len(predictions)} predictions but {len(references)} reference lists")
    if not predictions:
        raise HarnessError("no predictions to score: the evaluation set is empty")
    scores = [_recall(pred, list(refs)) for pred, refs in zip(predictions, references)]
    value, low, high = mean_ci(scores, confidence=confidence, seed=seed)
    return MetricResult(value, low, high, len(scores), scores, {}, confidence)
