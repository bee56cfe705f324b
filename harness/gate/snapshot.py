"""One suite folder's ok records as the evidence a regression check needs.

A snapshot is plain JSON-ready data:

    {"suite": NAME, "variants": [{"name", "model", "seed", "method", "variant_id",
      "harness_version", "evals": {EVAL: {"data", "fingerprint", "ids": [...],
      "metrics": {METRIC: {"value", "ci_low", "ci_high", "n", "kind", "settings", ...}}}}}]}

Per metric, `kind` says what a paired test needs and the entry holds it, in the order of
`ids` (the example ids of the eval's predictions file):

* "binary" (accuracy, exact match): `scores`, each 0 or 1; McNemar's exact test.
* "mean" (ROUGE): `scores`, the per-example values; paired bootstrap.
* "corpus" (BLEU, chrF, TER, macro-F1): `predictions` and `references`, from which the
  check recomputes both sides' sufficient statistics with the current metric code; a
  paired bootstrap of the corpus score.
* "unpaired" (lm-eval's own metrics): no per-example evidence; judged by tolerance alone.

`settings` is what must be equal for two values to measure the same thing (metric_args,
sacrebleu's signature, shots and prompt format, how a class was predicted); `fingerprint`
is the content hash of the eval's data split (harness/data/sources.fingerprint). A baseline
file is a snapshot written down; `harness check` snapshots the new results the same way.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from harness.analysis.paired import is_binary, pairing
from harness.errors import HarnessError
from harness.records.newest import newest
from harness.records.predictions import keyed, read_predictions
from harness.records.schema import Record
from harness.records.store import ok_records
from harness.registry import METRICS

# Score extras that change what a value measures: a difference makes two values incomparable.
SETTING_KEYS = ("signature", "shots", "format", "predicted_by")


def snapshot(suite_dir: Path, notes: list[str]) -> dict[str, Any]:
    """The newest ok record of each (name, model, seed) in the folder, as evidence."""
    current, _ = newest(ok_records(suite_dir, notes))
    current.sort(key=lambda pr: variant_key({"name": pr[1].name, "model": pr[1].model, "seed": pr[1].seed}))
    variants = [_variant(path.parent, record, notes) for path, record in current]
    return {"suite": _one_suite(suite_dir, current), "variants": variants}


def _one_suite(suite_dir: Path, current: list[tuple[Path, Record]]) -> str:
    """The suite the folder's records belong to; a record naming another (edited, or copied
    in from elsewhere) is named, since a check against it would compare other suites."""
    counts = Counter(r.suite for _, r in current)
    if len(counts) > 1:
        suite = counts.most_common(1)[0][0]
        odd = [f"{path} says {r.suite!r}" for path, r in current if r.suite != suite]
        raise HarnessError(f"{suite_dir}: records of suite {suite!r} and of another: {'; '.join(odd)}; "
                           "a results folder holds one suite's records")
    return next(iter(counts), Path(suite_dir).name)


def variant_key(variant: dict[str, Any]) -> tuple[str, str, int]:
    """What matches a baseline variant with a new one: not the id, so a changed recipe is compared."""
    return variant["name"], variant["model"], variant["seed"]


def _variant(directory: Path, record: Record, notes: list[str]) -> dict[str, Any]:
    evals = {}
    specs = {e.get("name"): e for e in record.spec.get("evals", []) if isinstance(e, dict)}
    for ev, scores in sorted(record.metrics.items()):
        evals[ev] = _eval(directory, record, ev, scores, specs.get(ev, {}), notes)
    return {"name": record.name, "model": record.model, "seed": record.seed, "method": record.method,
            "variant_id": record.variant_id, "harness_version": record.env.get("harness"), "evals": evals}


def _eval(directory: Path, record: Record, ev: str, scores: dict, spec: dict, notes: list[str]) -> dict[str, Any]:
    data = f"{spec.get('data')}|{spec.get('split')}"
    rows = _rows(directory, ev, notes)
    by_id = keyed(rows) if rows is not None else None  # _rows keeps only rows with distinct ids
    ids = list(by_id) if by_id is not None else None
    metrics = {}
    for metric, score in sorted(scores.items()):
        extra = score.model_extra or {}
        entry: dict[str, Any] = {
            "value": score.value, "ci_low": score.ci_low, "ci_high": score.ci_high, "n": score.n,
            "higher_is_better": METRICS.get(metric).meta.get("higher_is_better") if metric in METRICS else None,
            "settings": {"metric_args": (spec.get("metric_args") or {}).get(metric),
                         **{k: extra[k] for k in SETTING_KEYS if k in extra}},
        }
        entry.update(_evidence(metric, rows))
        metrics[metric] = entry
    return {"data": data, "fingerprint": (record.spec.get("fingerprints") or {}).get(data), "ids": ids, "metrics": metrics}


def _evidence(metric: str, rows: list[dict] | None) -> dict[str, Any]:
    """The per-example evidence of one metric, or kind "unpaired" when the rows lack it."""
    if rows is None:
        return {"kind": "unpaired"}
    try:
        if pairing(metric) == "corpus":
            references = [r["references"] for r in rows]
            if not all(isinstance(refs, list) and refs for refs in references):
                return {"kind": "unpaired"}  # a corpus score needs each example's references
            return {"kind": "corpus", "predictions": [str(r["prediction"]) for r in rows],
                    "references": [[str(x) for x in refs] for refs in references]}
        scores = [float(r["scores"][metric]) for r in rows]
    except (KeyError, TypeError, ValueError):
        return {"kind": "unpaired"}
    return {"kind": "binary" if is_binary(metric, scores) else "mean", "scores": scores}


def _rows(directory: Path, ev: str, notes: list[str]) -> list[dict] | None:
    """The predictions file's rows when every one has a distinct id, else None (with a note)."""
    try:
        rows = read_predictions(directory, ev)
    except HarnessError as err:
        notes.append(f"{err}; its metrics are judged by tolerance alone")
        return None
    if keyed(rows) is None:
        notes.append(f"{directory / 'predictions' / (ev + '.jsonl')}: rows without distinct ids; its metrics are judged by tolerance alone")
        return None
    return rows
