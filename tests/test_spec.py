"""Suite loading: structure, environment expansion, and every problem reported at once."""

from __future__ import annotations

import pytest
from conftest import TINY_SUITE

from harness.errors import SuiteError
from harness.suite.loading import load_suite


def problems_of(path) -> dict[str, str]:
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    return {p.path: p.message for p in info.value.problems}


def test_tiny_suite_loads(write_suite):
    loaded = load_suite(write_suite(TINY_SUITE))
    assert loaded.suite.name == "tiny"
    assert [m.method for m in loaded.suite.methods] == ["full", "lora"]
    assert loaded.suite.train.steps == 2
    assert loaded.notes == []


def test_eval_only_suite_needs_no_train(write_suite):
    loaded = load_suite(write_suite("""\
        name: base-only
        model: tiny-random-llama
        evals: [{name: d2t, data: "builtin:data2text", metrics: [rouge1]}]
    """))
    assert loaded.suite.methods == [] and loaded.suite.train is None


def test_three_mistakes_reported_together(write_suite):
    found = problems_of(write_suite(TINY_SUITE.replace("method: full", "method: lorra")
                                    .replace("r: 4,", "r: -4,")
                                    .replace("[rouge1, bleu]", "[rouge1, rogue2]")))
    assert "did you mean 'lora'" in found["methods[0].method"]
    assert "greater than 0" in found["methods[1].params.r"] and "-4" in found["methods[1].params.r"]
    assert "did you mean 'rouge2'" in found["evals[0].metrics[1]"]


def test_unknown_key_and_bad_type(write_suite):
    found = problems_of(write_suite(TINY_SUITE.replace("steps: 2", "stepz: 2").replace("batch_size: 2", "batch_size: two")))
    assert found["train.stepz"] == "unknown key; did you mean 'steps'?"
    assert "two" in found["train.batch_size"]


def test_environment_variables_expand(write_suite, monkeypatch, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "d.jsonl").write_text('{"input": "a", "output": "b"}\n')
    suite = TINY_SUITE.replace("builtin:data2text\n  limit", "${ROOT:-data}/d.jsonl\n  limit")
    monkeypatch.delenv("ROOT", raising=False)
    assert load_suite(write_suite(suite)).suite.train.data == "data/d.jsonl"
    monkeypatch.setenv("ROOT", str(tmp_path / "data"))
    assert load_suite(write_suite(suite)).suite.train.data == f"{tmp_path}/data/d.jsonl"


def test_unset_variable_without_default_is_a_problem(write_suite, monkeypatch):
    monkeypatch.delenv("NO_SUCH_VAR", raising=False)
    found = problems_of(write_suite(TINY_SUITE.replace("name: tiny", "name: ${NO_SUCH_VAR}")))
    assert "NO_SUCH_VAR is not set" in found["name"]


def test_missing_file_and_template_fields(write_suite, tmp_path):
    (tmp_path / "d.jsonl").write_text('{"question": "a", "answer": "b"}\n')
    suite = TINY_SUITE.replace("builtin:data2text\n  limit", "d.jsonl\n  limit").replace(
        "data: builtin:data2text\n    split", "data: nowhere.jsonl\n    split")
    found = problems_of(write_suite(suite))
    assert "input" in found["train.template"] and "question" in found["train.template"]
    assert "nowhere.jsonl" in found["evals[0].data"]


def test_hub_id_is_a_note_and_a_typo_is_a_problem(write_suite):
    loaded = load_suite(write_suite(TINY_SUITE.replace("model: tiny-random-llama", "model: [tiny-random-llama, org/some-model]")))
    assert any("org/some-model" in n and "not checked offline" in n for n in loaded.notes)
    found = problems_of(write_suite(TINY_SUITE.replace("model: tiny-random-llama", "model: tiny-random-lama")))
    assert "did you mean 'tiny-random-llama'" in found["model"]


def test_sweep_values_are_checked_one_by_one(write_suite):
    suite = TINY_SUITE.replace("params: {r: 4, lora_alpha: 8}", "params: {lora_alpha: 8}\n    sweep: {r: [2, 0], learning_rate: [0.1, -1]}")
    found = problems_of(write_suite(suite))
    assert "greater than 0" in found["methods[1].sweep.r[1]"]
    assert "greater than 0" in found["methods[1].sweep.learning_rate[1]"]
    assert "methods[1].sweep.r[0]" not in found


def test_duplicate_names_and_listed_baseline(write_suite):
    suite = TINY_SUITE.replace("name: lora-r4", "name: full").replace("  - name: full\n    method: full\n",
                                                                       "  - name: full\n    method: full\n  - method: baseline\n", 1)
    found = problems_of(write_suite(suite))
    assert "already used" in found["methods[2].name"]
    assert "added to every suite" in found["methods[1].method"]


def test_method_params_unknown_key_suggests_a_param(write_suite):
    found = problems_of(write_suite(TINY_SUITE.replace("method: full", "method: full\n    params: {lr: 1}")))
    assert found["methods[0].params.lr"] == "unknown key"  # full has no params at all


def test_lora_passes_unknown_keys_to_peft_only_if_it_has_them(write_suite):
    ok = load_suite(write_suite(TINY_SUITE.replace("r: 4, lora_alpha: 8", "r: 4, lora_alpha: 8, use_rslora: true")))
    assert ok.suite.methods[1].params["use_rslora"] is True
    found = problems_of(write_suite(TINY_SUITE.replace("r: 4, lora_alpha: 8", "r: 4, lora_alphaa: 8")))
    assert found["methods[1].params.lora_alphaa"] == "not a field of peft's LoraConfig; did you mean 'lora_alpha'?"


def test_training_settings_that_clash(write_suite):
    suite = TINY_SUITE.replace("  precision: fp32\n", "  precision: fp32\n  select_best: loss\n").replace(
        "    method: full\n", "    method: full\n    stages: [{steps: 1}, {steps: 1, data: nowhere.jsonl}]\n", 1).replace(
        "params: {r: 4, lora_alpha: 8}", "params: {r: 4, lora_alpha: 8}\n    train: {mixture: [{data: builtin:data2text}], validation: {every: 1, metrics: [rouge0]}}")
    found = problems_of(write_suite(suite))
    assert "select_best needs a validation block" in found["train"]
    assert "nowhere.jsonl" in found["methods[0].stages[1].data"]
    assert "did you mean" in found["methods[1].train.validation.metrics[0]"]


def test_a_stage_without_data_and_a_mixture_with_data(write_suite):
    no_data = TINY_SUITE.replace("  data: builtin:data2text\n  limit: 16\n", "  limit: 16\n")
    assert "trains on no data" in problems_of(write_suite(no_data))["methods[0]"]
    both = TINY_SUITE.replace("    method: full\n", "    method: full\n    train: {mixture: [{data: builtin:data2text}], data: builtin:data2text}\n", 1)
    assert "not both" in problems_of(write_suite(both))["methods[0].train"]


def test_metric_args_are_checked_against_the_metric(write_suite):
    ok = TINY_SUITE.replace("metrics: [rouge1, bleu]", "metrics: [rouge1, exact_match]\n    metric_args: {exact_match: {normalize: false}}")
    assert load_suite(write_suite(ok)).suite.evals[0].metric_args == {"exact_match": {"normalize": False}}
    bad = TINY_SUITE.replace("metrics: [rouge1, bleu]", "metrics: [rouge1, exact_match]\n    metric_args: {exact_match: {normalise: false}, bleu: {}}")
    found = problems_of(write_suite(bad))
    assert "takes no argument 'normalise'" in found["evals[0].metric_args.exact_match.normalise"]
    assert "not among" in found["evals[0].metric_args.bleu"]


def test_column_mapping_lets_a_template_read_other_columns(write_suite, tmp_path):
    (tmp_path / "d.jsonl").write_text('{"question": "a", "answer": "b"}\n')
    suite = TINY_SUITE.replace("builtin:data2text\n  limit", "d.jsonl\n  columns: {input: question, output: answer}\n  limit")
    assert load_suite(write_suite(suite)).suite.train.columns == {"input": "question", "output": "answer"}
    found = problems_of(write_suite(suite.replace("output: answer}", "output: answr}")))
    assert "no column 'answr'" in found["train.columns.output"]


def test_mapped_columns_reach_the_rows(tmp_path):
    from harness.data.sources import map_columns
    from harness.errors import HarnessError

    assert map_columns([{"q": "x"}], {"input": "q"}, "f") == [{"q": "x", "input": "x"}]
    with pytest.raises(HarnessError, match="row 1"):
        map_columns([{"q": "x"}], {"input": "nope"}, "f")
