"""Text-generation metrics: ROUGE (rouge-score), BLEU / chrF / TER (sacrebleu), exact match.

Every metric is a function `(predictions, references, *, confidence=0.95, seed=0) ->
MetricResult`, where `references[i]` is a non-empty list of reference strings for
`predictions[i]`. The scoring itself is always the library's own code, so a value here
equals the number the library prints; this module only adds validation, per-example
scores and a bootstrap interval (harness/metrics/stats.py).

* ROUGE: value is the mean over examples of the F-measure, each example scored against its
  best reference (`RougeScorer.score_multi`), stemmed, on rouge-score's 0-1 scale.
  rouge-score's tokenizer lowercases and keeps only [a-z0-9] tokens, so non-Latin text
  scores 0. rougeLsum splits texts into sentences on "\\n" only (rouge-score's behaviour,
  kept): without newlines it equals rougeL.
* BLEU, chrF, TER: value is sacrebleu's corpus score with default settings, computed from
  sacrebleu's per-sentence sufficient statistics, so it equals `sacrebleu.corpus_bleu(...)`
  etc. exactly. Examples with fewer references are padded with None, which sacrebleu treats
  as "no reference" (the signature then says nrefs:var). `per_example` is the sentence-level
  score (BLEU with effective order), which is not a decomposition of the corpus value.
* exact_match: 1.0 when the prediction equals some reference after normalisation.

To add a metric: write a function with the signature above, build its MetricResult from
`mean_ci` (a mean of per-example scores) or `_sacrebleu_result` (a sacrebleu metric), and
register it in harness/catalog.py.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Sequence

import numpy as np
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU, CHRF, TER
from sacrebleu.metrics.base import Metric

from harness.errors import HarnessError
from harness.metrics.stats import CONFIDENCE, MetricResult, corpus_ci, mean_ci

_ROUGE_SIGNATURE = f"rouge_score:{importlib.metadata.version('rouge-score')}|stemmer:yes|multi:best-f"


def _check_inputs(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    if isinstance(predictions, str) or isinstance(references, str):
        raise HarnessError("predictions and references must be lists, not a single string")
    if len(predictions) != len(references):
        raise HarnessError(
            f"{len(predictions)} predictions but {len(references)} reference lists: "
            "give one list of references per prediction"
        )
    if not predictions:
        raise HarnessError("no predictions to score: the evaluation set is empty")
    for i, (pred, refs) in enumerate(zip(predictions, references)):
        if not isinstance(pred, str):
            raise HarnessError(f"prediction {i} is {type(pred).__name__}, expected a string")
        if isinstance(refs, str):
            raise HarnessError(f"references for example {i} is a string: wrap it in a list, [{refs[:40]!r}...]")
        if len(refs) == 0:
            raise HarnessError(f"example {i} has an empty list of references: give at least one")
        for ref in refs:
            if not isinstance(ref, str):
                raise HarnessError(f"a reference of example {i} is {type(ref).__name__}, expected a string")


def _mean_result(scores: list[float], confidence: float, seed: int, extra: dict | None = None) -> MetricResult:
    value, low, high = mean_ci(scores, confidence=confidence, seed=seed)
    return MetricResult(value, low, high, len(scores), scores, dict(extra or {}), confidence)


# ---- ROUGE ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _rouge_scorer(rouge_type: str) -> rouge_scorer.RougeScorer:
    # Building a scorer loads the Porter stemmer; reuse one per type across calls.
    return rouge_scorer.RougeScorer([rouge_type], use_stemmer=True)


ROUGE_TYPES = tuple(f"rouge{n}" for n in range(1, 10)) + ("rougeL", "rougeLsum")  # every type rouge-score computes
_MEASURES = {"": "fmeasure", "_p": "precision", "_r": "recall"}


def _rouge(rouge_type, predictions, references, confidence, seed, measure: str = "fmeasure") -> MetricResult:
    _check_inputs(predictions, references)
    scorer = _rouge_scorer(rouge_type)
    # score_multi keeps, per example, the reference with the best F; its precision and
    # recall are that reference's.
    scores = [float(getattr(scorer.score_multi(list(refs), pred)[rouge_type], measure))
              for pred, refs in zip(predictions, references)]
    signature = _ROUGE_SIGNATURE + ("" if measure == "fmeasure" else f"|measure:{measure}")
    return _mean_result(scores, confidence, seed, {"signature": signature})


def _rouge_metric(rouge_type: str, suffix: str):
    measure = _MEASURES[suffix]

    def metric(predictions: list[str], references: list[list[str]], *, confidence: float = CONFIDENCE,
               seed: int = 0) -> MetricResult:
        return _rouge(rouge_type, predictions, references, confidence, seed, measure)

    metric.__name__ = metric.__qualname__ = rouge_type + suffix
    metric.__doc__ = (f"Mean {rouge_type} {measure} per example (best reference by F), stemmed, 0-1. rougeN counts "
                      "n-gram overlap, rougeL the longest common subsequence, rougeLsum its union over sentences split on \\n.")
    return metric


# rouge1 ... rouge9, rougeL, rougeLsum (F), and each with _p (precision) and _r (recall): the
# names harness/catalog.py registers.
for _type in ROUGE_TYPES:
    for _suffix in _MEASURES:
        globals()[_type + _suffix] = _rouge_metric(_type, _suffix)


# ---- sacrebleu -----------------------------------------------------------------------


def _reference_streams(references: Sequence[Sequence[str]]) -> list[list[str | None]]:
    # sacrebleu takes one stream per reference position; None marks a missing reference.
    width = max(len(refs) for refs in references)
    return [[refs[j] if j < len(refs) else None for refs in references] for j in range(width)]


CORPUS_SCORERS = {"bleu": BLEU, "chrf": CHRF, "ter": TER}  # sacrebleu metrics at their default settings


def sacrebleu_statistics(name: str, predictions: Sequence[str], references: Sequence[Sequence[str]]):
    """(n x k per-sentence sufficient statistics, corpus score of one summed row) for bleu,
    chrf or ter: sacrebleu's own arithmetic, for bootstraps and paired comparisons."""
    metric = CORPUS_SCORERS[name]()
    stats = metric._extract_corpus_statistics(list(predictions), _reference_streams(references))
    return np.asarray(stats), lambda row: float(metric._compute_score_from_stats(row).score)


def bleu_statistics(predictions: Sequence[str], references: Sequence[Sequence[str]]):
    return sacrebleu_statistics("bleu", predictions, references)


def chrf_statistics(predictions: Sequence[str], references: Sequence[Sequence[str]]):
    return sacrebleu_statistics("chrf", predictions, references)


def ter_statistics(predictions: Sequence[str], references: Sequence[Sequence[str]]):
    return sacrebleu_statistics("ter", predictions, references)


def _sacrebleu_result(
    metric: Metric,
    sentence_metric: Metric,
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    confidence: float,
    seed: int,
) -> MetricResult:
    _check_inputs(predictions, references)
    # Private sacrebleu calls: the per-sentence statistics are what corpus_score sums, and
    # reusing them gives the exact corpus value, sentence scores and bootstrap in one pass.
    stats = metric._extract_corpus_statistics(list(predictions), _reference_streams(references))
    value = float(metric._aggregate_and_compute(stats).score)
    per_example = [float(sentence_metric._compute_score_from_stats(row).score) for row in stats]
    low, high = corpus_ci(
        np.asarray(stats),
        lambda row: float(metric._compute_score_from_stats(row).score),
        value=value,
        confidence=confidence,
        seed=seed,
    )
    extra = {
        "signature": str(metric.get_signature()),
        "level": "corpus",
        "per_example_kind": "sentence-level score; does not average to the corpus value",
    }
    return MetricResult(value, low, high, len(stats), per_example, extra, confidence)


def bleu(predictions: list[str], references: list[list[str]], *, confidence: float = CONFIDENCE, seed: int = 0) -> MetricResult:
    """sacrebleu corpus BLEU, default settings (13a tokens, exp smoothing), 0-100."""
    return _sacrebleu_result(BLEU(), BLEU(effective_order=True), predictions, references, confidence, seed)


def chrf(predictions: list[str], references: list[list[str]], *, confidence: float = CONFIDENCE, seed: int = 0) -> MetricResult:
    """sacrebleu corpus chrF (character 6-grams, beta 2), default settings, 0-100."""
    metric = CHRF()
    return _sacrebleu_result(metric, metric, predictions, references, confidence, seed)


def ter(predictions: list[str], references: list[list[str]], *, confidence: float = CONFIDENCE, seed: int = 0) -> MetricResult:
    """sacrebleu corpus TER (edits per reference word x 100; lower is better, may pass 100)."""
    metric = TER()
    return _sacrebleu_result(metric, metric, predictions, references, confidence, seed)


# ---- exact match ---------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """Strip, collapse runs of whitespace to one space, lowercase."""
    return " ".join(text.split()).lower()


def exact_match(
    predictions: list[str],
    references: list[list[str]],
    *,
    normalize: bool = True,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> MetricResult:
    """Fraction of predictions equal to any of their references (after `normalize_text`), 0-1."""
    _check_inputs(predictions, references)
    norm = normalize_text if normalize else (lambda s: s)
    scores = [float(norm(pred) in {norm(r) for r in refs}) for pred, refs in zip(predictions, references)]
    return _mean_result(scores, confidence, seed, {"normalize": normalize})
