"""Paired comparisons between the variants of one suite folder, from their saved predictions.

For every eval and metric, the newest record of each variant (harness/records/newest.py) is
compared on the same examples (rows matched by id, harness/records/predictions.py) with the
zero-shot baseline of its model (`vs_baseline`), with the strongest baseline of its model
for that metric (`vs_strongest_baseline`) and with the best variant of its model for that
metric (`vs_best`; direction from the metric's registry entry), by the test the metric's
registration names (harness/analysis/paired.py). Per-seed spread goes to `across_seeds`,
and the vs_baseline of a tuned variant on a retention eval to the record's `forgetting`.

Baselines are the records with method "baseline": the zero-shot one (no `shots` param, or
0) is the untuned model as it is, the reference for vs_baseline and forgetting; in-context
ones (params {"shots": 5}) are variants too, compared with it. The strongest baseline is
whichever baseline scores best on the metric, so "tuning beats prompting" is measured
against the best prompting tried, not the weakest.

Where comparisons live: in the records themselves, as the comparison fields the record
schema reserves (COMPARISON_KEYS and `forgetting`), written through the one store under
the variant's lock. A record is the unit users copy, attach and gate on, so it carries
what the leaderboard and `harness check` need; everything else in it is written once by
the worker, and these fields are always recomputed whole from the saved predictions, so
they never mix runs. Stale records (an older version of a variant) have theirs cleared.
Imports no torch.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis.paired import corpus_statistics, is_binary, paired_corpus_test, paired_test, pairing
from harness.metrics.stats import corpus_resamples
from harness.records.newest import newest, recency
from harness.records.predictions import keyed_predictions
from harness.records.schema import Record, clear_comparisons
from harness.records.store import Busy, locked, ok_records, read_record, write_record
from harness.registry import METRICS

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
            self.rows[ev] = keyed_predictions(self.directory, ev)
        return self.rows[ev]


def compare_suite(suite_dir: Path) -> Summary:
    """Compute every comparison of the suite folder and write them into its ok records."""
    summary = Summary()
    current, stale = newest(ok_records(suite_dir, summary.notes))
    variants = [_Variant(path.parent, record) for path, record in current]
    by_model: dict[str, list[_Variant]] = defaultdict(list)
    for v in variants:
        clear_comparisons(v.record)
        by_model[v.record.model].append(v)
    for path, record in stale:  # an older version of a variant: its comparisons would be of another set
        clear_comparisons(record)
        _write(_Variant(path.parent, record), summary)
    for model, group in by_model.items():
        _compare_model(model, group, summary)
    for v in variants:
        _write(v, summary)
    summary.variants = len(variants)
    summary.with_baseline = sum(any("vs_baseline" in (s.model_extra or {}) for e in v.record.metrics.values() for s in e.values())
                                for v in variants)
    return summary


def is_zero_shot(record: Record) -> bool:
    """A baseline that shows the model no examples: the untuned model as it is."""
    return record.method == "baseline" and not record.params.get("shots")


def _compare_model(model: str, group: list[_Variant], summary: Summary) -> None:
    baselines = [v for v in group if v.record.method == "baseline"]
    zero_shot = [v for v in baselines if is_zero_shot(v.record)]
    baseline = max(zero_shot, key=lambda v: recency(v.record)) if zero_shot else None
    if not baselines:
        summary.without_baseline.append(model)
    elif baseline is None:
        summary.notes.append(f"{model}: only few-shot baselines, no zero-shot one; no vs_baseline or forgetting")
    elif len(zero_shot) > 1:
        summary.notes.append(f"{model}: {len(zero_shot)} zero-shot baseline records; compared with the newest, "
                             f"{baseline.directory.name}")
    pairs = sorted({(ev, m) for v in group for ev, scores in v.record.metrics.items() for m in scores})
    for ev, metric in pairs:
        having = [v for v in group if metric in v.record.metrics.get(ev, {})]
        higher = _direction(metric, summary)
        best = _top(having, ev, metric, higher)
        strongest = _top([v for v in having if v.record.method == "baseline"], ev, metric, higher)
        for v in having:
            score = v.record.metrics[ev][metric]
            # another seed of the same baseline is the same prompt on the same model: not a comparison
            if baseline is not None and v.record.name != baseline.record.name and metric in baseline.record.metrics.get(ev, {}):
                result = _pair(baseline, v, ev, metric, summary)
                if result is not None:
                    setattr(score, "vs_baseline", result)
                # forgetting is what training did; a baseline trains nothing
                if result is not None and v.record.method != "baseline" and _is_retention(v.record, ev):
                    v.record.forgetting.setdefault(ev, {})[metric] = {
                        "base": baseline.record.metrics[ev][metric].value, "tuned": score.value,
                        **{k: result[k] for k in ("delta", "ci_low", "ci_high", "p_value")}}
            if best is not None and v is not best:
                result = _pair(best, v, ev, metric, summary)
                if result is not None:
                    setattr(score, "vs_best", {**result, "best": best.record.name})
            if strongest is not None and v.record.name != strongest.record.name:
                result = _pair(strongest, v, ev, metric, summary)
                if result is not None:
                    setattr(score, "vs_strongest_baseline", {**result, "baseline": strongest.record.name})
        _across_seeds(having, ev, metric)


def _across_seeds(having: list[_Variant], ev: str, metric: str) -> None:
    runs: dict[str, dict[int, _Variant]] = defaultdict(dict)
    for v in having:
        runs[v.record.name][v.record.seed] = v
    for seeds in runs.values():
        values = [v.record.metrics[ev][metric].value for v in seeds.values()]
        spread = {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                  "n_seeds": len(values)}
        for v in seeds.values():
            setattr(v.record.metrics[ev][metric], "across_seeds", spread)


def _direction(metric: str, summary: Summary) -> bool | None:
    higher = METRICS.get(metric).meta.get("higher_is_better") if metric in METRICS else None
    if higher is None:
        summary.notes.append(f"{metric}: not registered with a direction (higher_is_better); no vs_best")
    return higher


def _top(having: list[_Variant], ev: str, metric: str, higher: bool | None) -> _Variant | None:
    """The best of `having` on the metric; None when its direction is unknown or none is left."""
    if higher is None or not having:
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
    if pairing(metric) is None:
        summary.notes.append(f"{what}: {metric} is not registered with a pairing (binary, mean or corpus); not compared")
        return None
    if pairing(metric) == "corpus":
        boot_ref, boot_v = [_corpus(x, rows, ev, metric, keys) for x, rows in ((ref, a), (v, b))]
        if boot_ref is None or boot_v is None:
            summary.notes.append(f"{what}: a row's prediction or references are missing or malformed; not compared")
            return None
        return paired_corpus_test(boot_ref, boot_v, len(keys))
    try:
        xa = [float(a[k]["scores"][metric]) for k in keys]
        xb = [float(b[k]["scores"][metric]) for k in keys]
    except (KeyError, TypeError, ValueError):
        summary.notes.append(f"{what}: per-example scores missing (`harness score` writes them); not compared")
        return None
    return paired_test(xa, xb, binary=is_binary(metric, xa + xb))


def _corpus(v: _Variant, rows: dict, ev: str, metric: str, keys: list) -> tuple[float, np.ndarray] | None:
    cache_key = (ev, metric, tuple(keys))
    if cache_key not in v.boot:  # the resamples depend on n only: one bootstrap per variant
        try:
            predictions = [rows[k]["prediction"] for k in keys]
            references = [list(rows[k]["references"]) for k in keys]
            stats = corpus_statistics(metric, predictions, references)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None  # a malformed row: the caller notes it
        if stats is None:
            return None
        v.boot[cache_key] = corpus_resamples(*stats)
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
