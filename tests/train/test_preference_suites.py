"""Preference stages in a suite, through `harness validate` (click's CliRunner): pairs that
lack a column, settings given without objective dpo, and checks a dpo stage cannot run are
refused with their YAML path and exit 2; a well-formed suite validates. Then one real run
of the tiny Llama (SFT, then DPO on the built-in pairs) whose record carries the per-step
rewards and what its reference was."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import TINY_SUITE

from harness.cli import main

DPO_SUITE = TINY_SUITE.replace("  data: builtin:data2text\n  limit: 16", "  data: builtin:faithfulness\n  limit: 16").replace(
    "  - name: full\n    method: full\n",
    "  - name: full-dpo\n    method: full\n    train: {objective: dpo, loss_type: ipo}\n"
    "  - name: sft-dpo\n    method: lora\n    stages: [{steps: 1}, {objective: dpo, beta: 0.2}]\n")


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_a_preference_suite_validates(write_suite):
    result = invoke("validate", str(write_suite(DPO_SUITE)))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("change", "path", "message"), [
    (("train: {objective: dpo, loss_type: ipo}", "train: {objective: dpo, data: pairs.jsonl}"),
     "methods[0].train.data", "preference pairs need the column(s) rejected"),
    (("train: {objective: dpo, loss_type: ipo}", "train: {beta: 0.3}"), "methods[0].train", "add objective: dpo"),
    (("train: {objective: dpo, loss_type: ipo}", "train: {objective: dpo, validation: {every: 1}}"),
     "methods[0].train", "kind: preference"),
    (("train: {objective: dpo, loss_type: ipo}", "train: {objective: dpo, loss_type: hinge, label_smoothing: 0.1}"),
     "methods[0].train", "label_smoothing applies to loss_type robust"),
    (("train: {objective: dpo, loss_type: ipo}", "train: {objective: dpo, loss_type: kto}"),
     "methods[0].train.loss_type", "sigmoid"),
    (("train: {objective: dpo, loss_type: ipo}", "train: {objective: dpo}\n    search: {learning_rate: [1.0e-4, 1.0e-3]}"),
     "methods[0].search", "trains on preferences"),
])
def test_bad_preference_stages_exit_2_naming_the_place(write_suite, tmp_path, change, path, message):
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"prompt": "Q", "chosen": "a"}) + "\n", encoding="utf-8")
    result = invoke("validate", str(write_suite(DPO_SUITE.replace(*change))))
    assert result.exit_code == 2, result.output
    assert path in result.output and message in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_sft_then_dpo_runs_and_records_rewards_and_reference(write_suite, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    results = tmp_path / "results"
    result = invoke("run", str(write_suite(DPO_SUITE)), "--results", str(results))
    assert result.exit_code == 0, result.output
    records = {r["name"]: r for r in (json.loads(p.read_text()) for p in results.glob("tiny/*/record.json"))}
    chain = records["sft-dpo"]
    sft, dpo = chain["method_info"]["stages"]
    assert "objective" not in sft and dpo["objective"] == "dpo" and dpo["beta"] == 0.2
    assert dpo["reference"]["kind"] == "weights at stage start"  # the adapters SFT left, copied
    assert [p["step"] for p in chain["preference_curve"]] == [2, 3]  # the DPO stage's steps, after SFT's one
    assert chain["train_curve"][1][1] == pytest.approx(0.693147, abs=1e-5)  # log 2: policy = reference at its start
    full = records["full-dpo"]["method_info"]["stages"][0]["reference"]
    assert full["kind"] == "weights at stage start" and full["bytes"] == 4 * records["full-dpo"]["cost"]["trainable_params"]
