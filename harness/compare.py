"""Paired comparisons between the variants of one suite folder, from their saved predictions.

Owns the comparison fields of a record (harness.results.COMPARISON_KEYS and `forgetting`).
For every eval and metric, each ok variant is compared on the same examples (rows matched
by "id", else "index") with the baseline of its model (`vs_baseline`) and with the best
variant of its model for that metric (`vs_best`; direction from the metric's registry entry).
delta is always this variant minus the other one, on the metric's own scale.

* 0/1 metrics (BINARY_METRICS, or registered with per_example="binary"): McNemar's exact
  test, i.e. a two-sided binomial test (scipy.stats.binomtest, p=0.5) on the discordant
  pairs; 1.0 when there are none.
* other metrics with per-example scores (ROUGE): paired bootstrap of the mean difference.
* corpus metrics (CORPUS_METRICS: BLEU, chrF, TER, macro-F1): paired bootstrap that recomputes
  each corpus score from the resampled examples' sufficient statistics.

Every interval is a 95% paired percentile bootstrap: N_RESAMPLES resamples of example
indices (seed SEED, the same indices for both variants). The bootstrap p-value: with k_le,
k_ge the resampled deltas <= 0 and >= 0, p = min(1, 2 * min(k_le, k_ge) / N_RESAMPLES); 0
means no resample reached zero. Per-seed spread goes to `across_seeds`, and the vs_baseline
of retention evals to the record's `forgetting`. Imports no torch.
To support another corpus metric, add its sufficient statistics to `corpus_statistics`;
a 0/1 metric, register it with per_example="binary".
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy import stats as sps

from harness.metrics.stats import resample_counts
from harness.registry import METRICS
from harness.results import Busy, Record, clear_comparisons, locked, ok_records, read_record, write_record

N_RESAMPLES = 1000
SEED = 0
CONFIDENCE = 0.95
BINARY_METRICS = frozenset({"accuracy", "exact_match", "acc", "acc_norm"})
CORPUS_METRICS = frozenset({"bleu", "chrf", "ter", "macro_f1"})


# ---- the tests themselves (pure functions) ------------------------------------------


@functools.lru_cache(maxsize=32)
def _counts(n: int, seed: int, n_resamples: int) -> np.ndarray:
    counts = resample_counts(n, n_resamples, np.random.default_rng(seed))
    counts.flags.writeable = False  # shared between callers through the cache
    return counts


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


def _interval(deltas: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(deltas, [50.0 * (1.0 - CONFIDENCE), 50.0 * (1.0 + CONFIDENCE)])
    return float(low), float(high)


def paired_test(a, b, *, binary: bool, seed: int = SEED, n_resamples: int = N_RESAMPLES) -> dict[str, Any]:
    """b minus a for per-example scores: McNemar when binary, else the bootstrap p-value."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    deltas = _counts(a.size, seed, n_resamples) @ (b - a) / a.size
    low, high = _interval(deltas)
    p = mcnemar_p(a, b) if binary else bootstrap_p_value(deltas)
    return {"delta": float(b.mean() - a.mean()), "ci_low": low, "ci_high": high, "p_value": p,
            "test": "mcnemar" if binary else "paired_bootstrap", "n": int(a.size)}


def corpus_bootstrap(stats: np.ndarray, score: Callable[[list], float], *, seed: int = SEED,
                     n_resamples: int = N_RESAMPLES) -> tuple[float, np.ndarray]:
    """The corpus score and its value on each resample (same resamples for every variant)."""
    stats = np.asarray(stats)
    sums = _counts(stats.shape[0], seed, n_resamples).astype(np.float64) @ stats.astype(np.float64)
    if np.issubdtype(stats.dtype, np.integer):  # keep counts ints, as the scorer expects
        sums = np.rint(sums).astype(np.int64)
    total = stats.sum(axis=0)
    return score(total.tolist()), np.fromiter((score(r) for r in sums.tolist()), np.float64, n_resamples)


def paired_corpus_test(a: tuple[float, np.ndarray], b: tuple[float, np.ndarray], n: int) -> dict[str, Any]:
    """b minus a from two `corpus_bootstrap` results drawn on the same n examples."""
    deltas = b[1] - a[1]
    low, high = _interval(deltas)
    return {"delta": b[0] - a[0], "ci_low": low, "ci_high": high, "p_value": bootstrap_p_value(deltas),
            "test": "paired_bootstrap", "n": n}


def corpus_statistics(metric: str, predictions: list[str], references: list[list[str]]):
    """(n x k sufficient statistics, score of one summed row) with the metric's own arithmetic."""
    if metric in ("bleu", "chrf", "ter"):
        from harness.metrics.text import sacrebleu_statistics

        return sacrebleu_statistics(metric, predictions, references)
    if metric == "macro_f1":
        from harness.metrics.classification import f1_from_counts, f1_statistics

        # This variant's own classes, as macro_f1 scores it: each variant keeps its value.
        return f1_statistics(predictions, [refs[0] for refs in references]), f1_from_counts
    return None


# ---- one suite folder ---------------------------------------------------------------


@dataclass
class Summary:
    """What a comparison run did, for the one line the CLI prints."""

    variants: int = 0  # ok records compared
    with_baseline: int = 0  # ... of which some score got a vs_baseline
    without_baseline: list[str] = field(default_factory=list)  # models with no baseline record
    written: int = 0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = f"compared {self.variants} variants with the baseline and the best (paired tests)"
        if self.without_baseline:
            text += f"; no baseline record for {', '.join(self.without_baseline)}, so no vs_baseline there"
        return text


@dataclass
class _Variant:
    directory: Path
    record: Record
    rows: dict[str, dict[Any, dict] | None] = field(default_factory=dict)  # eval -> key -> row
    boot: dict[tuple, tuple[float, np.ndarray]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        r = self.record
        return r.name if r.method == "baseline" else f"{r.name} (seed {r.seed})"

    def rows_of(self, ev: str) -> dict[Any, dict] | None:
        if ev not in self.rows:
            path = self.directory / "predictions" / f"{ev}.jsonl"
            try:
                rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
                keyed = {row.get("id", row.get("index")): row for row in rows}
                self.rows[ev] = keyed if len(keyed) == len(rows) else None  # a repeated id pairs nothing safely
            except (OSError, ValueError, AttributeError):
                self.rows[ev] = None
        return self.rows[ev]


def compare_suite(suite_dir: Path) -> Summary:
    """Compute every comparison of the suite folder and write them into its ok records."""
    summary, variants = Summary(), []
    for path, record in ok_records(suite_dir, summary.notes):
        variants.append(_Variant(path.parent, record))
    by_model: dict[str, list[_Variant]] = defaultdict(list)
    for v in variants:
        clear_comparisons(v.record)
        by_model[v.record.model].append(v)
    for model, group in by_model.items():
        _compare_model(model, group, summary)
    for v in variants:
        _write(v, summary)
    summary.variants = len(variants)
    summary.with_baseline = sum(any("vs_baseline" in s.model_extra for e in v.record.metrics.values() for s in e.values())
                                for v in variants)
    return summary


def _age(v: _Variant) -> tuple[str, str]:
    return v.record.finished_at or "", v.record.variant_id


def _compare_model(model: str, group: list[_Variant], summary: Summary) -> None:
    baselines = [v for v in group if v.record.method == "baseline"]
    # Stale records of an older spec can share a folder with new ones; the newest speaks.
    baseline = max(baselines, key=_age) if baselines else None
    if baseline is None:
        summary.without_baseline.append(model)
    elif len(baselines) > 1:
        summary.notes.append(f"{model}: {len(baselines)} baseline records; compared with the newest, {baseline.directory.name}")
    pairs = sorted({(ev, m) for v in group for ev, scores in v.record.metrics.items() for m in scores})
    for ev, metric in pairs:
        having = [v for v in group if metric in v.record.metrics.get(ev, {})]
        best = _best(having, ev, metric, summary)
        for v in having:
            score = v.record.metrics[ev][metric]
            if baseline is not None and v.record.method != "baseline" and metric in baseline.record.metrics.get(ev, {}):
                result = _pair(baseline, v, ev, metric, summary)
                if result is not None:
                    setattr(score, "vs_baseline", result)
                if result is not None and _is_retention(v.record, ev):
                    v.record.forgetting.setdefault(ev, {})[metric] = {
                        "base": baseline.record.metrics[ev][metric].value, "tuned": score.value,
                        **{k: result[k] for k in ("delta", "ci_low", "ci_high", "p_value")}}
            if best is not None and v is not best:
                result = _pair(best, v, ev, metric, summary)
                if result is not None:
                    setattr(score, "vs_best", {**result, "best": best.record.name})
        _across_seeds(having, ev, metric)


def _across_seeds(having: list[_Variant], ev: str, metric: str) -> None:
    runs: dict[str, dict[int, _Variant]] = defaultdict(dict)
    for v in sorted(having, key=_age):
        runs[v.record.name][v.record.seed] = v  # a stale record of the same seed gives way to the newest
    for seeds in runs.values():
        values = [v.record.metrics[ev][metric].value for v in seeds.values()]
        spread = {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                  "n_seeds": len(values)}
        for v in seeds.values():
            setattr(v.record.metrics[ev][metric], "across_seeds", spread)


def _best(having: list[_Variant], ev: str, metric: str, summary: Summary) -> _Variant | None:
    higher = METRICS.get(metric).meta.get("higher_is_better") if metric in METRICS else None
    if higher is None:
        summary.notes.append(f"{metric}: not registered with a direction (higher_is_better); no vs_best")
        return None
    sign = -1.0 if higher else 1.0  # ties go to the first by name and seed, so the pick is stable
    return min(having, key=lambda v: (sign * v.record.metrics[ev][metric].value, v.record.name, v.record.seed, v.directory.name))


def _is_retention(record: Record, ev: str) -> bool:
    return any(isinstance(e, dict) and e.get("name") == ev and e.get("retention") for e in record.spec.get("evals", []))


def _pair(ref: _Variant, v: _Variant, ev: str, metric: str, summary: Summary) -> dict[str, Any] | None:
    """v minus ref on their common examples, or None (with a note) when they cannot be paired."""
    a, b = ref.rows_of(ev), v.rows_of(ev)
    what = f"{v.label} vs {ref.label} on {ev}/{metric}"
    if a is None or b is None:
        summary.notes.append(f"{what}: predictions/{ev}.jsonl missing, unreadable or with repeated ids; not compared")
        return None
    if set(a) != set(b) or None in a or not a:
        summary.notes.append(f"{what}: the example sets differ ({len(a)} vs {len(b)} rows, or rows without id); not compared")
        return None
    keys = list(a)
    if metric not in CORPUS_METRICS and v.record.metrics[ev][metric].model_extra.get("level") == "corpus":
        summary.notes.append(f"{what}: a corpus metric without sufficient statistics here (compare.corpus_statistics); not compared")
        return None
    if metric in CORPUS_METRICS:
        boots = [_corpus(x, rows, ev, metric, keys) for x, rows in ((ref, a), (v, b))]
        if None in boots:
            summary.notes.append(f"{what}: a row's prediction or references are missing or malformed; not compared")
            return None
        return paired_corpus_test(boots[0], boots[1], len(keys))
    try:
        xa = [float(a[k]["scores"][metric]) for k in keys]
        xb = [float(b[k]["scores"][metric]) for k in keys]
    except (KeyError, TypeError, ValueError):
        summary.notes.append(f"{what}: per-example scores missing (`harness score` writes them); not compared")
        return None
    declared = metric in BINARY_METRICS or (metric in METRICS and METRICS.get(metric).meta.get("per_example") == "binary")
    return paired_test(xa, xb, binary=declared and set(xa + xb) <= {0.0, 1.0})


def _corpus(v: _Variant, rows: dict, ev: str, metric: str, keys: list) -> tuple[float, np.ndarray] | None:
    cache_key = (ev, metric, tuple(keys))
    if cache_key not in v.boot:  # the resamples depend on n only: one bootstrap per variant
        try:
            predictions = [rows[k]["prediction"] for k in keys]
            references = [list(rows[k]["references"]) for k in keys]
            stats = corpus_statistics(metric, predictions, references)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None  # a malformed row: the caller notes it
        v.boot[cache_key] = corpus_bootstrap(*stats)
    return v.boot[cache_key]


def _write(v: _Variant, summary: Summary) -> None:
    path = v.directory / "record.json"
    if read_record(path).model_dump() == v.record.model_dump():
        return  # nothing changed: leave the file (and its time stamp) alone
    try:
        with locked(v.directory):
            write_record(v.directory, v.record)
            summary.written += 1
    except Busy:
        summary.notes.append(f"{v.directory}: a run holds this variant; its comparisons are not written")
