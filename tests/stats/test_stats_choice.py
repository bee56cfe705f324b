"""Re-scoring multiple-choice evals: through the metric registry when the choice metrics are
registered (harness/metrics/choice.py, written elsewhere), left as they are with a note before."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.analysis.rescore import rescore
from harness.metrics.stats import MetricResult, mean_ci
from harness.records.schema import Record, Score
from harness.records.store import read_record, write_jsonl_atomic, write_record
from harness.registry import METRICS, Entry

CALLS: list[dict] = []


def fake_acc(choice_logprobs, gold, *, confidence=0.95, seed=0):
    """Stands in for choice.py's accuracy: is the most likely choice the gold one."""
    CALLS.append({"choice_logprobs": choice_logprobs, "gold": gold})
    per_example = [float(int(np.argmax(lp)) == g) for lp, g in zip(choice_logprobs, gold)]
    value, low, high = mean_ci(per_example, confidence=confidence, seed=seed)
    return MetricResult(value, low, high, len(per_example), per_example)


def make(suite, name, method, right_every):
    """Ten 4-way questions, gold 0; every `right_every`-th answered right. Stored acc is a stale 0.5."""
    directory = suite / name
    rows = [{"id": i, "prediction": "A", "references": ["A"], "gold": 0, "choice_lengths": [1, 1, 1, 1],
             "choice_logprobs": [-1.0, -2.0, -3.0, -4.0] if i % right_every == 0 else [-4.0, -1.0, -3.0, -2.0],
             "scores": {"acc": None}} for i in range(10)]
    write_jsonl_atomic(directory / "predictions" / "mc.jsonl", rows)
    record = Record(suite="s", variant_id=name, name=name, model="m", method=method, params={}, seed=0, status="ok",
                    metrics={"mc": {"acc": Score(value=0.5, ci_low=0.2, ci_high=0.8, n=10)}},
                    spec={"evals": [{"name": "mc", "kind": "multiple_choice", "metrics": ["acc"]}]})
    write_record(directory, record)


@pytest.fixture
def suite(tmp_path):
    suite = tmp_path / "s"
    make(suite, "baseline", "baseline", 5)  # 2 of 10 right
    make(suite, "lora", "lora", 1)  # all right
    return suite


def test_unregistered_choice_metrics_are_left_alone_with_a_note(suite, monkeypatch):
    monkeypatch.delitem(METRICS._entries, "acc", raising=False)
    before = {p: p.read_bytes() for p in suite.glob("*/predictions/*.jsonl")}
    (done,) = rescore(suite)
    assert any("'acc' is not registered" in n for n in done.notes)
    assert read_record(suite / "lora" / "record.json").metrics["mc"]["acc"].value == 0.5
    assert {p: p.read_bytes() for p in suite.glob("*/predictions/*.jsonl")} == before


def test_registered_choice_metrics_get_the_rows_columns(suite, monkeypatch):
    monkeypatch.setitem(METRICS._entries, "acc", Entry("acc", f"{__name__}:fake_acc", "test stand-in",
                                                         {"higher_is_better": True, "kind": "multiple_choice", "pairing": "binary"}))
    CALLS.clear()
    (done,) = rescore(suite)
    assert done.recomputed == 2 and not done.notes
    assert CALLS[0]["gold"] == [0] * 10 and len(CALLS[0]["choice_logprobs"]) == 10
    base, lora = (read_record(suite / n / "record.json") for n in ("baseline", "lora"))
    assert base.metrics["mc"]["acc"].value == pytest.approx(0.2) and lora.metrics["mc"]["acc"].value == 1.0
    saved = [json.loads(line)["scores"]["acc"] for line in (suite / "baseline" / "predictions" / "mc.jsonl").read_text().splitlines()]
    assert saved == [1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0]
    vs = lora.metrics["mc"]["acc"].model_extra["vs_baseline"]
    # 8 discordant pairs, all won by lora: p = 2 / 2**8.
    assert vs["test"] == "mcnemar" and vs["delta"] == pytest.approx(0.8) and vs["p_value"] == pytest.approx(2 / 256)
