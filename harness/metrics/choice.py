"""Multiple-choice metrics: `acc` and `acc_norm` as lm-eval defines them, with bootstrap
intervals and accuracy per subject.

Every choice of a question was scored by its log-likelihood as a continuation of the prompt
(harness/evaluate/multiple_choice.py). acc: the most likely choice is the gold one.
acc_norm: the most likely once each log-likelihood is divided by its choice's length, which
lm-eval computes as len() of the choice text (" A" is scored, "A" is measured; it calls this
byte-length normalisation and for ASCII text it is). With MMLU's one-letter choices every
length is 1, so acc_norm equals acc; it differs for choices of unequal length.

The functions take what the prediction rows hold, so nothing needs the model again:
`predictions` (the chosen letter), `references` ([gold letter]) and, as keyword arguments
named after the rows' columns, `choice_logprobs`, `choice_lengths` and `subjects` (column
"subject"). `harness score` (harness/analysis/rescore.py) binds parameters to columns by these names;
`score_choices(rows)` does the same for callers holding rows. Ties go to the first choice,
as numpy's argmax (and so lm-eval) decides them.

To add a metric: a function with the same shape, registered in harness/catalog.py with
kind "multiple_choice".
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness.data.mmlu import LETTERS
from harness.errors import HarnessError
from harness.metrics.gold import gold_values
from harness.metrics.stats import CONFIDENCE, MetricResult, mean_ci


def acc(predictions: list[str], references: list[list[str]], *, subjects: Sequence[str] | None = None,
        confidence: float = CONFIDENCE, seed: int = 0) -> MetricResult:
    """Share of questions whose chosen letter (the most likely choice) is the gold letter."""
    gold = _gold(predictions, references)
    per_example = [float(str(p) == g) for p, g in zip(predictions, gold)]
    return _result(per_example, subjects, confidence, seed)


def acc_norm(predictions: list[str], references: list[list[str]], *, choice_logprobs: list[list[float]],
             choice_lengths: list[list[float]], subjects: Sequence[str] | None = None,
             confidence: float = CONFIDENCE, seed: int = 0) -> MetricResult:
    """Share of questions whose most likely choice per unit of length is the gold one."""
    gold = _gold(predictions, references)
    if len(choice_logprobs) != len(gold) or len(choice_lengths) != len(gold):
        raise HarnessError(f"acc_norm needs choice_logprobs and choice_lengths for each of the {len(gold)} questions, "
                           f"got {len(choice_logprobs)} and {len(choice_lengths)}")
    per_example = []
    for i, (scores, lengths, g) in enumerate(zip(choice_logprobs, choice_lengths, gold), start=1):
        if len(scores) != len(lengths) or not scores or min(lengths) <= 0:
            raise HarnessError(f"question {i}: {len(scores)} choice log-likelihoods but lengths {lengths!r}; "
                               "each choice needs one log-likelihood and a positive length")
        if LETTERS.index(g) >= len(scores):
            raise HarnessError(f"question {i}: gold answer {g} is not among its {len(scores)} choices")
        chosen = int(np.argmax(np.asarray(scores, dtype=np.float64) / np.asarray(lengths, dtype=np.float64)))
        per_example.append(float(LETTERS[chosen] == g))
    return _result(per_example, subjects, confidence, seed)


METRICS: dict[str, Callable[..., MetricResult]] = {"acc": acc, "acc_norm": acc_norm}


def score_choices(rows: list[dict[str, Any]], metrics: Sequence[str] = ("acc", "acc_norm"), *,
                  metric_args: dict[str, dict[str, Any]] | None = None) -> dict[str, MetricResult]:
    """Every named metric from saved prediction rows (prediction, references, choice_logprobs,
    choice_lengths, subject): what `harness score` needs for a multiple_choice eval."""
    if not rows:
        raise HarnessError("no prediction rows to score")
    for i, row in enumerate(rows, start=1):
        missing = [c for c in ("prediction", "references", "choice_logprobs", "choice_lengths") if c not in row]
        if missing:
            raise HarnessError(f"prediction row {i}: no {', '.join(missing)}; rerun the eval to store them")
    columns = {
        "predictions": [row["prediction"] for row in rows],
        "references": [row["references"] for row in rows],
        "choice_logprobs": [row["choice_logprobs"] for row in rows],
        "choice_lengths": [row["choice_lengths"] for row in rows],
        "subjects": [row.get("subject", "") for row in rows],
    }
    out = {}
    for name in metrics:
        if name not in METRICS:
            raise HarnessError(f"{name!r} is not a multiple-choice metric; known: {', '.join(METRICS)}")
        fn = METRICS[name]
        wanted = inspect.signature(fn).parameters
        out[name] = fn(**{k: v for k, v in columns.items() if k in wanted}, **(metric_args or {}).get(name, {}))
    return out


def _gold(predictions: list[str], references: list[list[str]]) -> list[str]:
    return gold_values(predictions, references, "gold answers", allowed=set(LETTERS),
                       hint="the gold answer must be one letter A-Z as [letter]")


def _result(per_example: list[float], subjects: Sequence[str] | None, confidence: float, seed: int) -> MetricResult:
    value, low, high = mean_ci(per_example, confidence=confidence, seed=seed)
    extra: dict[str, Any] = {}
    if subjects is not None and any(subjects):
        if len(subjects) != len(per_example):
            raise HarnessError(f"{len(subjects)} subjects for {len(per_example)} questions: need one per question")
        by: dict[str, list[float]] = {}
        for subject, score in zip(subjects, per_example):
            by.setdefault(str(subject), []).append(score)
        # Over all questions together above; per subject here, unweighted means of their own.
        extra["per_subject"] = {s: float(np.mean(v)) for s, v in sorted(by.items())}
        extra["per_subject_n"] = {s: len(v) for s, v in sorted(by.items())}
    return MetricResult(value, low, high, len(per_example), per_example, extra, confidence)
