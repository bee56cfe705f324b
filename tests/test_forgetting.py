"""The drift probe and contamination counting."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import TINY_SUITE, fit

from harness.cli import main
from harness.evaluate import drift
from harness.evaluate.contamination import contaminated, training_values
from harness.methods.base import ApplyContext
from harness.metrics.text import normalize_text as normalise
from harness.models.tiny import tiny_random_llama
from harness.registry import METHODS
from harness.suite.schema import DriftProbeSpec, TrainSpec

PAIRS = [("name[Alpha] | food[Thai]\n", "Alpha serves Thai food."), ("name[Beta] | area[riverside]\n", "Beta is by the river.")] * 4
SPEC = DriftProbeSpec(prompts=6, max_new_tokens=12, seed=0)


def test_drift_is_zero_untuned_and_grows_with_full_fine_tuning():
    model, tok = tiny_random_llama()
    samples = drift.draw(model, tok, SPEC)
    assert len(samples.sequences) == 6
    assert drift.drift(model, tok, samples)["value"] == 0.0  # the same model scores its own samples identically
    m = METHODS.load("full")
    applied = m.apply(model, m.parse({}), ApplyContext(steps=20))
    fit(applied, tok, PAIRS, TrainSpec(steps=20, batch_size=4, learning_rate=1e-2, precision="fp32"))
    after = drift.drift(model, tok, samples)
    assert after["value"] > 0.1 and after["ci_low"] <= after["value"] <= after["ci_high"]


def test_samples_are_the_same_for_every_variant():
    (m1, tok), (m2, _) = tiny_random_llama(), tiny_random_llama()
    assert drift.draw(m1, tok, SPEC).sequences == drift.draw(m2, tok, SPEC).sequences
    assert drift.draw(m1, tok, SPEC).sequences != drift.draw(m1, tok, SPEC.model_copy(update={"seed": 1})).sequences


def test_contamination_matches_normalised_field_values(tmp_path):
    train = [{"text": "The Food was   DELICIOUS and the staff kind.", "label": "positive"}]
    evals = [{"review": "the food was delicious and the staff kind.", "label": "positive"},
             {"review": "A different review of another place.", "label": "positive"}]
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))
    seen = training_values([TrainSpec(data="t.jsonl")], tmp_path)
    assert normalise("  A  b ") == "a b"
    assert contaminated(evals, seen) == [0]  # short values such as labels never count


@pytest.mark.slow
def test_drift_and_contamination_in_records(write_suite, tmp_path):
    suite = TINY_SUITE.replace("seeds: [0]", "seeds: [0]\ndrift_probe: {prompts: 4, max_new_tokens: 8}").replace(
        "    split: test\n", "    split: train\n")  # evaluate on training examples on purpose
    result = CliRunner().invoke(main, ["run", str(write_suite(suite)), "--results", str(tmp_path / "r"), "--only", "[bf]*"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = {json.loads(p.read_text())["method"]: json.loads(p.read_text()) for p in (tmp_path / "r" / "tiny").glob("*/record.json")}
    assert records["baseline"]["drift"]["value"] == 0.0 and records["full"]["drift"]["value"] != 0.0
    assert records["baseline"]["contamination"] == {}
    assert records["full"]["contamination"]["d2t"]["count"] >= 1
    assert records["full"]["metrics"]["d2t"]["rouge1"]["eval_dtype"] == "fp32"
