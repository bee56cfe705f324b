"""Re-scoring from saved predictions: `harness score RESULTS [--metrics m1,m2]`, no model loaded.

Owns recomputing the scores of ok records from RESULTS/<suite>/<variant_id>/predictions/
<eval>.jsonl: each metric's value, interval and extras go back into record.json, its
per-example scores into the rows' "scores", and then harness/analysis/compare.py reruns the paired
comparisons of the suite. Metrics are called exactly as harness/evaluate/scoring.py calls
them (same functions, default seed and confidence), so re-scoring unchanged predictions
reproduces the stored numbers bit for bit; a fix to a metric reaches old runs this way.

`metrics` (the --metrics option): None recomputes every metric stored for every eval. A
list computes only those metrics: one an eval already has is recomputed, one it lacks is
added to every eval of the kind the metric is registered for (its registry entry's `kind`),
and the eval's other metrics are left as they are. So adding a metric never needs a rerun.

How an eval's rows are re-scored is its kind's registration (harness/catalog.py, `rescore`):
"text" rows give "prediction" and "references" to the metric; "labels" rows the same, the
prediction as a string (one outside the label set is simply not equal to the gold one, so
it counts as wrong); "columns" calls the metric with its parameters filled from the rows'
columns of the same name (choice_logprobs, choice_lengths, ...; a plural parameter also
takes the singular column, so predictions <- prediction, chosen_logps <- chosen_logp); a
metric needing a column the rows lack (a preference eval's reward metrics, on rows scored
without the untuned model's ref_chosen_logp) is left as it is, with a note. A kind without
`rescore` (lm_eval: scored by lm-eval itself) is never re-scored here.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.analysis.compare import Summary, compare_suite
from harness.errors import HarnessError
from harness.records.predictions import predictions_path, read_predictions, write_predictions
from harness.records.schema import COMPARISON_KEYS, Record, Score
from harness.records.store import Busy, locked, ok_records, read_record, suite_dirs, write_record
from harness.registry import EVAL_KINDS, METRICS


@dataclass
class SuiteRescore:
    """What re-scoring one suite folder did, for the CLI to print."""

    suite_dir: Path
    records: int = 0  # ok records re-scored
    recomputed: int = 0  # (record, eval, metric) scores computed again
    added: int = 0  # ... and scores that were not there before
    notes: list[str] = field(default_factory=list)
    comparison: Summary | None = None


def rescore(results: Path, metrics: list[str] | None = None) -> list[SuiteRescore]:
    """Re-score every ok record under RESULTS, then rerun each suite's comparisons."""
    suites = suite_dirs(results)
    if metrics is not None:
        _check_metrics(suites, metrics)
    return [rescore_suite(s, metrics) for s in suites]


def _eval_kinds(record: Record) -> dict[str, str]:
    kinds = {e["name"]: e.get("kind", "generation") for e in record.spec.get("evals", [])
             if isinstance(e, dict) and isinstance(e.get("name"), str)}
    return {ev: kinds.get(ev, "generation") for ev in [*record.metrics, *(k for k in kinds if k not in record.metrics)]}


def _check_metrics(suites: list[Path], metrics: list[str]) -> None:
    """Every listed metric is known and applies to some eval, before anything is written."""
    if not metrics:
        raise HarnessError("--metrics names no metric: give a comma-separated list such as rougeL,exact_match")
    kinds: set[str] = set()
    stored: set[str] = set()
    for suite in suites:
        for path in suite.glob("*/record.json"):
            try:
                record = read_record(path)
            except ValueError:
                continue
            kinds |= set(_eval_kinds(record).values())
            stored |= {m for scores in record.metrics.values() for m in scores}
    for name in metrics:
        kind = METRICS.get(name).meta.get("kind")  # UnknownName says "did you mean"
        if name not in stored and kind not in kinds:
            raise HarnessError(f"metric {name!r} scores {kind} evals, and no record here has one (eval kinds: {', '.join(sorted(kinds))})")


def rescore_suite(suite_dir: Path, metrics: list[str] | None = None) -> SuiteRescore:
    out = SuiteRescore(Path(suite_dir))
    for path, record in ok_records(suite_dir, out.notes):  # a failed record has nothing to re-score
        try:
            with locked(path.parent):
                _rescore_record(path.parent, read_record(path), metrics, out)
        except Busy:
            out.notes.append(f"{path.parent}: a run holds this variant; not re-scored")
    out.comparison = compare_suite(suite_dir)
    return out


def _rescore_record(directory: Path, record: Record, metrics: list[str] | None, out: SuiteRescore) -> None:
    for ev, kind in _eval_kinds(record).items():
        stored = record.metrics.get(ev, {})
        if metrics is None:
            names = list(stored)
        else:
            names = [m for m in metrics if m in stored or METRICS.get(m).meta.get("kind") == kind]
        if not names:
            continue
        where = f"{directory.name}/{ev}"
        how = EVAL_KINDS.meta(kind, "rescore")
        if how is None:
            out.notes.append(f"{where}: a {kind} eval is not scored from prediction rows; left as it is")
            continue
        try:
            path = predictions_path(directory, ev)
        except HarnessError as err:  # an edited record naming a file elsewhere
            out.notes.append(f"{err}; its scores are left as they are")
            continue
        if not path.is_file():
            out.notes.append(f"{where}: no {path.name} beside the record; its scores are left as they are")
            continue
        rows = read_predictions(directory, ev)
        for metric in names:
            result = _score(how, metric, rows, f"{path}", out)
            if result is None:
                continue
            old = stored.get(metric)
            extra = old.model_extra if old is not None else None
            kept = {k: v for k, v in (extra or {}).items() if k not in COMPARISON_KEYS}
            record.metrics.setdefault(ev, {})[metric] = Score.model_validate({**kept, **result.to_record()})
            out.recomputed += 1
            out.added += old is None
            per_example = result.per_example if result.per_example is not None and len(result.per_example) == len(rows) else None
            for i, row in enumerate(rows):
                if not isinstance(row.get("scores"), dict):  # damaged: the scores are recomputed here anyway
                    row["scores"] = {}
                row["scores"][metric] = per_example[i] if per_example is not None else None
        write_predictions(directory, ev, rows)
    write_record(directory, record)
    out.records += 1


def _score(how: str, metric: str, rows: list[dict], where: str, out: SuiteRescore):
    """The metric's MetricResult on these rows, or None with a note when it cannot be computed here."""
    if metric not in METRICS:
        out.notes.append(f"{where}: metric {metric!r} is not registered (yet); its score is left as it is")
        return None
    fn = METRICS.load(metric)
    kwargs: dict[str, Any] | None = None  # how == "columns": the metric's arguments, from the rows' columns
    if how == "columns":
        kwargs = _bind(fn, rows)
        if kwargs is None:
            out.notes.append(f"{where}: {metric} needs columns these rows lack; its score is left as it is")
            return None
    try:
        if kwargs is not None:  # how == "columns"
            return fn(**kwargs)
        return fn(*_inputs(how, rows, where))
    except HarnessError as err:
        raise HarnessError(f"{where}: {err}") from None


def _inputs(how: str, rows: list[dict], where: str) -> tuple[list[str], list[list[str]]]:
    predictions, references = [], []
    for number, row in enumerate(rows, 1):
        if "prediction" not in row or not isinstance(row.get("references"), list) or not row["references"]:
            raise HarnessError(f"{where} row {number}: needs a prediction and a non-empty list of references")
        prediction, refs = row["prediction"], row["references"]
        if how == "labels":
            # Compared as strings with the gold class: anything off the label set is wrong.
            prediction, refs = ("" if prediction is None else str(prediction)), [str(refs[0])]
        predictions.append(prediction)
        references.append(refs)
    return predictions, references


def _bind(fn, rows: list[dict]) -> dict[str, Any] | None:
    """Keyword arguments for a metric from the rows' columns; None if a required one is missing."""
    kwargs: dict[str, Any] = {}
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if name == "rows":
            kwargs[name] = rows
            continue
        candidates = [name] + ([name[:-1]] if name.endswith("s") else [])
        column = next((c for c in candidates if all(c in row for row in rows)), None)
        if column is not None:
            kwargs[name] = [row[column] for row in rows]
        elif param.default is param.empty:
            return None
    return kwargs
