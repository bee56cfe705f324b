"""compare_suite on a hand-made suite folder: who is compared with whom, seeds, forgetting,
records that must be left alone, and the notes when a comparison cannot be made."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest

from harness.analysis.compare import compare_suite
from harness.analysis.paired import paired_test
from harness.metrics import compute
from harness.records.schema import Record, Score
from harness.records.store import read_record, write_jsonl_atomic, write_record

GOLD = ["pos", "neg"] * 10
REFS = [f"the {c} cat sat on the {m} mat" for c in ("red", "blue", "old", "big", "small") for m in ("new", "wet", "flat", "warm")]
EVALS = [{"name": "gen", "kind": "generation", "metrics": ["rouge1", "ter"]},
         {"name": "cls", "kind": "classification", "label": "label", "metrics": ["accuracy"], "retention": True}]


def make_variant(suite, name, method, seed, gen, cls, status="ok", ids=None):
    """A record and its prediction rows, scored with the real metric functions."""
    directory = suite / f"{name}-{seed}"
    metrics = {}
    for ev, preds, refs, names in (("gen", gen, [[r] for r in REFS], ["rouge1", "ter"]), ("cls", cls, [[g] for g in GOLD], ["accuracy"])):
        results = {m: compute(m, preds, refs) for m in names}
        metrics[ev] = {m: Score.model_validate(r.to_record()) for m, r in results.items()}
        rows = [{"id": (ids or range(len(preds)))[i], "prediction": p, "references": refs[i],
                 "scores": {m: (r.per_example[i] if r.per_example else None) for m, r in results.items()}} for i, p in enumerate(preds)]
        write_jsonl_atomic(directory / "predictions" / f"{ev}.jsonl", rows)
    record = Record(suite="s", variant_id=directory.name, name=name, model="m", method=method, params={}, seed=seed,
                    status=status, metrics=metrics if status == "ok" else {}, spec={"evals": EVALS},
                    finished_at=f"2025-01-01T00:00:0{seed}")
    write_record(directory, record)
    return directory


def degrade(texts, every):
    return [" ".join(t.split()[:3]) if i % every == 0 else t for i, t in enumerate(texts)]


def flip(labels, every):
    return [("neg" if g == "pos" else "pos") if i % every == 0 else g for i, g in enumerate(labels)]


@pytest.fixture
def suite(tmp_path):
    suite = tmp_path / "s"
    make_variant(suite, "baseline", "baseline", 0, degrade(REFS, 1), flip(GOLD, 2))
    make_variant(suite, "lora", "lora", 0, degrade(REFS, 2), flip(GOLD, 3))
    make_variant(suite, "lora", "lora", 1, degrade(REFS, 4), flip(GOLD, 5))
    make_variant(suite, "full", "full", 0, degrade(REFS, 3), flip(GOLD, 4))
    failed = make_variant(suite, "broken", "full", 0, REFS, GOLD, status="failed")
    return suite, (failed / "record.json").read_bytes()


def load(suite, folder):
    return read_record(suite / folder / "record.json")


def per_example(suite, folder, ev, metric):
    rows = (suite / folder / "predictions" / f"{ev}.jsonl").read_text().splitlines()
    return [json.loads(r)["scores"][metric] for r in rows]


def test_each_variant_against_the_baseline_and_the_best(suite):
    suite, failed_bytes = suite
    summary = compare_suite(suite)
    assert summary.variants == 4 and summary.with_baseline == 3 and not summary.notes
    assert summary.line() == "compared 4 variants with the baseline and the best (paired tests)"
    base, lora0, lora1, full = (load(suite, f) for f in ("baseline-0", "lora-0", "lora-1", "full-0"))

    # accuracy: McNemar on the rows' 0/1 scores; lora seed 1 flips every 5th label, the best.
    acc = lora0.metrics["cls"]["accuracy"].model_extra
    expected = paired_test(per_example(suite, "baseline-0", "cls", "accuracy"), per_example(suite, "lora-0", "cls", "accuracy"), binary=True)
    assert acc["vs_baseline"] == expected and acc["vs_baseline"]["test"] == "mcnemar"
    assert acc["vs_baseline"]["delta"] == pytest.approx(lora0.metrics["cls"]["accuracy"].value - base.metrics["cls"]["accuracy"].value)
    assert acc["vs_best"]["best"] == "lora" and acc["vs_best"]["delta"] == pytest.approx(
        lora0.metrics["cls"]["accuracy"].value - lora1.metrics["cls"]["accuracy"].value)
    assert "vs_best" not in lora1.metrics["cls"]["accuracy"].model_extra  # the best itself
    assert "vs_baseline" not in base.metrics["cls"]["accuracy"].model_extra
    assert base.metrics["cls"]["accuracy"].model_extra["vs_best"]["best"] == "lora"

    # rouge1 (higher is better) and TER (lower is better) both crown lora seed 1, the least degraded.
    for metric in ("rouge1", "ter"):
        assert full.metrics["gen"][metric].model_extra["vs_best"]["best"] == "lora"
        assert "vs_best" not in lora1.metrics["gen"][metric].model_extra
    assert full.metrics["gen"]["ter"].model_extra["vs_best"]["delta"] > 0  # more edits than the best
    ter = full.metrics["gen"]["ter"].model_extra["vs_baseline"]
    assert ter["test"] == "paired_bootstrap" and ter["n"] == 20
    assert ter["delta"] == pytest.approx(full.metrics["gen"]["ter"].value - base.metrics["gen"]["ter"].value)
    assert ter["ci_low"] <= ter["delta"] <= ter["ci_high"] and ter["ci_high"] < 0  # fewer edits than the base
    rouge = full.metrics["gen"]["rouge1"].model_extra["vs_baseline"]
    assert rouge == paired_test(per_example(suite, "baseline-0", "gen", "rouge1"), per_example(suite, "full-0", "gen", "rouge1"), binary=False)

    assert (suite / "broken-0" / "record.json").read_bytes() == failed_bytes


def test_seeds_are_aggregated_per_name(suite):
    suite, _ = suite
    compare_suite(suite)
    lora0, lora1, full = (load(suite, f) for f in ("lora-0", "lora-1", "full-0"))
    values = [lora0.metrics["gen"]["rouge1"].value, lora1.metrics["gen"]["rouge1"].value]
    spread = lora0.metrics["gen"]["rouge1"].model_extra["across_seeds"]
    assert values[0] != values[1]
    assert spread == lora1.metrics["gen"]["rouge1"].model_extra["across_seeds"]
    assert spread["n_seeds"] == 2 and spread["mean"] == pytest.approx(statistics.mean(values))
    assert spread["std"] == pytest.approx(statistics.stdev(values))  # sample std: |a - b| / sqrt(2)
    assert spread["std"] == pytest.approx(abs(values[0] - values[1]) / np.sqrt(2))
    assert full.metrics["gen"]["rouge1"].model_extra["across_seeds"] == {"mean": full.metrics["gen"]["rouge1"].value, "std": 0.0, "n_seeds": 1}


def test_forgetting_on_retention_evals_only(suite):
    suite, _ = suite
    compare_suite(suite)
    base, full = load(suite, "baseline-0"), load(suite, "full-0")
    assert base.forgetting == {}
    assert set(full.forgetting) == {"cls"}  # gen is no retention eval
    entry, vs = full.forgetting["cls"]["accuracy"], full.metrics["cls"]["accuracy"].model_extra["vs_baseline"]
    assert entry["base"] == base.metrics["cls"]["accuracy"].value and entry["tuned"] == full.metrics["cls"]["accuracy"].value
    assert {k: entry[k] for k in ("delta", "ci_low", "ci_high", "p_value")} == {k: vs[k] for k in ("delta", "ci_low", "ci_high", "p_value")}


def test_a_second_run_changes_nothing_and_stale_comparisons_are_replaced(suite):
    suite, _ = suite
    compare_suite(suite)
    before = {p: p.read_bytes() for p in suite.glob("*/record.json")}
    assert compare_suite(suite).written == 0
    assert {p: p.read_bytes() for p in suite.glob("*/record.json")} == before
    # The baseline goes: comparisons against it must go too, and the output says why.
    (suite / "baseline-0" / "record.json").unlink()
    summary = compare_suite(suite)
    assert summary.without_baseline == ["m"] and "no baseline record for m" in summary.line()
    full = load(suite, "full-0")
    assert all("vs_baseline" not in s.model_extra for scores in full.metrics.values() for s in scores.values())
    assert full.forgetting == {} and "vs_best" in full.metrics["gen"]["rouge1"].model_extra


def test_different_example_sets_are_reported_not_compared(tmp_path):
    suite = tmp_path / "s"
    make_variant(suite, "baseline", "baseline", 0, REFS, GOLD)
    make_variant(suite, "lora", "lora", 0, REFS, GOLD, ids=list(range(100, 120)))
    summary = compare_suite(suite)
    assert any("example sets differ" in n and "lora (seed 0) vs baseline" in n for n in summary.notes)
    lora = load(suite, "lora-0")
    assert all("vs_baseline" not in s.model_extra for scores in lora.metrics.values() for s in scores.values())
