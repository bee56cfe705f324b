"""Records of the smoke suite for the fuzz tests to corrupt.

A real run's folder when CI hands one over (HARNESS_SMOKE_RESULTS: .ci/run runs
suites/smoke.yaml once for the gate), else the same records rebuilt from the committed
baseline: baselines/smoke.json, taken from a real smoke run, holds per variant and eval the
values, intervals and settings a record carries and the per-example ids, scores,
predictions and references its predictions file carries. Either way a few variants only,
so that every example copies and reads little.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from fuzzing import ROOT

from harness.records.schema import Record
from harness.records.store import SUITE_COPY, write_jsonl_atomic, write_record
from harness.suite.loading import load_suite
from harness.suite.plan import plan

VARIANTS = ("baseline", "full", "lora-r8", "probe")
BASELINE = ROOT / "baselines" / "smoke.json"


def smoke_results(dest: Path) -> Path:
    """DEST/smoke: record.json and predictions/*.jsonl of VARIANTS, and the suite's copy."""
    folder = Path(dest) / "smoke"
    given = os.environ.get("HARNESS_SMOKE_RESULTS")
    if given:
        for path in Path(given).glob("*/record.json"):
            if json.loads(path.read_text(encoding="utf-8"))["name"] in VARIANTS:
                shutil.copytree(path.parent, folder / path.parent.name, ignore=shutil.ignore_patterns(".lock", "*.safetensors"))
    else:
        _rebuild(folder)
    shutil.copyfile(ROOT / "suites" / "smoke.yaml", folder / SUITE_COPY)
    return folder


def _rebuild(folder: Path) -> None:
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))
    planned = {v.name: v for v in plan(load_suite(ROOT / "suites" / "smoke.yaml"))}
    for entry in baseline["variants"]:
        if entry["name"] not in VARIANTS:
            continue
        variant = planned[entry["name"]]
        metrics = {ev: {m: {"value": s["value"], "ci_low": s["ci_low"], "ci_high": s["ci_high"], "n": s["n"],
                            **{k: v for k, v in s["settings"].items() if k != "metric_args"}}
                        for m, s in e["metrics"].items()}
                   for ev, e in entry["evals"].items()}
        record = Record(suite="smoke", variant_id=variant.id, name=variant.name, model=variant.model, method=variant.method,
                        params=variant.params, seed=variant.seed, status="ok", metrics=metrics,
                        env={"harness": entry["harness_version"]}, spec=variant.model_dump(mode="json", exclude={"base_dir"}),
                        started_at="2026-01-01T00:00:00+00:00", finished_at="2026-01-01T00:01:00+00:00")
        write_record(folder / variant.id, record)
        for ev, e in entry["evals"].items():
            rows = []
            for i, example in enumerate(e["ids"]):
                row: dict = {"id": example, "scores": {}}
                for m, s in e["metrics"].items():
                    if s["kind"] == "corpus":
                        row.update(prediction=s["predictions"][i], references=s["references"][i])
                    else:
                        row["scores"][m] = s["scores"][i]
                rows.append(row)
            write_jsonl_atomic(folder / variant.id / "predictions" / f"{ev}.jsonl", rows)
