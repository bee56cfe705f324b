"""What a tracker logs of one variant, read from its record alone: `describe(record)` ->
RunContent, the same for every tracker, so TensorBoard, MLflow and W&B show the same names
and numbers.

- params: the resolved variant spec flattened to dotted keys (method, params.r, stages.0.
  learning_rate, evals.0.metrics...), with the suite, variant id, label, status and what ran
  (precision, dtypes, parallel, env); lists of plain values as JSON text, None as "null".
- curves, each a list of (step, value), steps counted across stages as the record counts
  them: train/loss; train/stageK/loss too when the variant trained in several stages (split
  where each stage's steps end, method_info["stages"]); validation/<key> from the
  validation checks; preference/<key> from preference training (rewards, margin, accuracy).
- finals: eval/<eval>/<metric> with _ci_low, _ci_high and _n beside it; drift/kl (the drift
  probe) likewise; cost/<field> for every numeric cost (train_seconds, peak_memory_bytes,
  trainable_params, tokens_per_second, train_flops, mfu...). Text cost fields (where a peak
  came from, the FLOPs formula) go to params as cost.<field>.

A new record field worth logging: add it here, and every tracker logs it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from harness.records.schema import Record

Value = str | int | float | bool
MAX_VALUE_CHARS = 6000  # MLflow's limit on a parameter's value; longer text (a prompt template) is cut there
# What the params take from elsewhere in the record (or leave out: data content hashes).
SPEC_SKIPPED = ("id", "suite", "name", "model", "method", "seed", "fingerprints")


@dataclass
class RunContent:
    suite: str
    variant_id: str
    name: str
    label: str  # the run's name: "lora-r8 (seed 0)", or "baseline"
    method: str
    model: str
    seed: int
    status: str  # "ok" or "failed"
    error: str | None
    started: float | None  # seconds since the epoch, when the record says
    finished: float | None
    params: dict[str, Value] = field(default_factory=dict)
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    finals: dict[str, float] = field(default_factory=dict)

    def rows(self) -> list[tuple[int, dict[str, float]]]:
        """Every curve's points merged by step, in step order: one row per step, for a tracker
        whose history must be logged with steps that never go back (W&B)."""
        merged: dict[int, dict[str, float]] = {}
        for tag, points in self.curves.items():
            for step, value in points:
                merged.setdefault(step, {})[tag] = value
        return sorted(merged.items())

    def scores(self) -> dict[str, float]:
        """The finals that are eval scores themselves (no interval bounds, counts or costs)."""
        return {tag: value for tag, value in self.finals.items()
                if tag.startswith("eval/") and not tag.endswith(("_ci_low", "_ci_high", "_n"))}


def label(record: Record) -> str:
    """The name harness gives a variant in its output (Variant.label)."""
    return f"{record.name} (seed {record.seed})" if record.method != "baseline" else record.name


def describe(record: Record) -> RunContent:
    return RunContent(
        suite=record.suite, variant_id=record.variant_id, name=record.name, label=label(record), method=record.method,
        model=record.model, seed=record.seed, status=record.status, error=record.error,
        started=_epoch(record.started_at), finished=_epoch(record.finished_at),
        params=params(record), curves=curves(record), finals=finals(record))


def params(record: Record) -> dict[str, Value]:
    out: dict[str, Value] = {"suite": record.suite, "variant_id": record.variant_id, "name": record.name,
                             "label": label(record), "model": record.model, "method": record.method, "seed": record.seed,
                             "status": record.status}
    spec = {k: v for k, v in record.spec.items() if k not in SPEC_SKIPPED}
    spec.setdefault("params", record.params)  # a record without a spec still says its params
    flatten(spec, "", out)
    if record.precision is not None:
        out["precision"] = record.precision
    for section in ("dtypes", "parallel", "env"):
        flatten(getattr(record, section), section, out)
    for key, value in record.cost.model_dump().items():
        if isinstance(value, str):
            out[f"cost.{key}"] = value
    return {k: v[:MAX_VALUE_CHARS] if isinstance(v, str) else v for k, v in out.items()}


def flatten(value: Any, prefix: str, out: dict[str, Value]) -> None:
    """Nested mappings and lists of mappings as dotted keys (stages.0.learning_rate); a list
    of plain values (a metric list) as JSON text; None as "null"."""
    if isinstance(value, dict) and (value or not prefix):
        for key, item in value.items():
            flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            flatten(item, f"{prefix}.{i}", out)
    elif isinstance(value, (dict, list, tuple)):
        out[prefix] = json.dumps(value)
    elif value is None:
        out[prefix] = "null"
    elif isinstance(value, (str, int, float, bool)):
        out[prefix] = value
    else:
        out[prefix] = str(value)


def curves(record: Record) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    if record.train_curve:
        out["train/loss"] = [(int(step), float(loss)) for step, loss in record.train_curve]
        ends = stage_ends(record)
        if len(ends) > 1:
            start = 0
            for k, end in enumerate(ends, 1):
                out[f"train/stage{k}/loss"] = [(s, v) for s, v in out["train/loss"] if start < s <= end]
                start = end
    for section, points in (("validation", record.validation_curve), ("preference", record.preference_curve)):
        for point in points:
            step = point.get("step")
            if step is None:
                continue
            for key, value in point.items():
                if key != "step" and isinstance(value, (int, float)):
                    out.setdefault(f"{section}/{key}", []).append((int(step), float(value)))
    return out


def stage_ends(record: Record) -> list[int]:
    """The step each training stage ended at, counted across stages as the curve is."""
    stages = record.method_info.get("stages")
    if not isinstance(stages, list):
        return []
    ends, total = [], 0
    for stage in stages:
        steps = stage.get("steps") if isinstance(stage, dict) else None
        if not isinstance(steps, int):
            return []  # a record that does not say: one curve only
        total += steps
        ends.append(total)
    return ends


def finals(record: Record) -> dict[str, float]:
    out: dict[str, float] = {}
    for ev, scores in record.metrics.items():
        for metric, score in scores.items():
            _interval(out, f"eval/{ev}/{metric}", score.value, score.ci_low, score.ci_high, score.n)
    drift = record.drift or {}
    if all(isinstance(drift.get(k), (int, float)) for k in ("value", "ci_low", "ci_high", "n")):
        _interval(out, "drift/kl", drift["value"], drift["ci_low"], drift["ci_high"], drift["n"])
    for key, value in record.cost.model_dump().items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"cost/{key}"] = float(value)
    return out


def _interval(out: dict[str, float], tag: str, value: float, low: float, high: float, n: int) -> None:
    out[tag], out[f"{tag}_ci_low"], out[f"{tag}_ci_high"], out[f"{tag}_n"] = float(value), float(low), float(high), float(n)


def _epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except (ValueError, OverflowError, OSError):
        return None
