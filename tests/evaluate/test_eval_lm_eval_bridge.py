"""kind: lm_eval on the tiny model: a local multiple-choice task YAML runs through lm-eval,
its scores equal simple_evaluate's called directly, metrics are selected by name, and the
interval is the normal one from lm-eval's stderr."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.evaluate import lm_eval_bridge
from harness.evaluate.scoring import evaluate
from harness.models.tiny import tiny_random_llama
from harness.suite.schema import EvalSpec

QUESTIONS = [
    ("What is 2+2?", ["3", "4", "five", "22"], 1), ("Capital of France?", ["Paris", "Rome", "Oslo", "Bonn"], 0),
    ("Colour of the sky?", ["green", "red", "blue", "black"], 2), ("Opposite of hot?", ["warm", "cold", "wet", "dry"], 1),
    ("Legs of a cat?", ["two", "three", "four", "six"], 2), ("First letter?", ["a", "b", "c", "z"], 0),
]


@pytest.fixture(scope="module", autouse=True)
def offline():
    saved = {k: os.environ.get(k) for k in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")}
    os.environ.update({k: "1" for k in saved})
    yield
    for k, v in saved.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@pytest.fixture(scope="module")
def tiny():
    return tiny_random_llama()


@pytest.fixture
def task(tmp_path) -> Path:
    """tasks/tiny_mc.yaml: multiple choice over a jsonl (absolute path: lm-eval reads data
    paths from the working directory)."""
    data = tmp_path / "tiny_mc.jsonl"
    data.write_text("".join(json.dumps({"question": q, "choices": c, "answer": a}) + "\n" for q, c, a in QUESTIONS))
    path = tmp_path / "tasks" / "tiny_mc.yaml"
    path.parent.mkdir()
    path.write_text(
        "task: tiny_mc\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data}\n"
        "test_split: test\noutput_type: multiple_choice\n"
        'doc_to_text: "Question: {{question}}\\nAnswer:"\ndoc_to_choice: "{{choices}}"\ndoc_to_target: answer\n'
        "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n"
        "  - metric: acc_norm\n    aggregation: mean\n    higher_is_better: true\n"
    )
    return path


def lm_eval_ev(**kw) -> EvalSpec:
    return EvalSpec(**{"name": "tiny", "data": "tiny_mc.jsonl", "kind": "lm_eval", "task": "tasks/tiny_mc.yaml",
                       "metrics": ["acc"], "batch_size": 4, **kw})


def test_task_yaml_runs_and_equals_simple_evaluate(tiny, task):
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    model, tok = tiny
    scores, rows = evaluate(model, tok, lm_eval_ev(limit=5), task.parent.parent)
    direct = simple_evaluate(model=HFLM(pretrained=model, tokenizer=tok, batch_size=1), tasks=[str(task)], limit=5,
                             task_manager=TaskManager(include_defaults=False))["results"]["tiny_mc"]
    assert set(scores) == {"acc"}  # only the metrics asked for
    acc = scores["acc"]
    assert 0.0 <= acc["value"] <= 1.0 and acc["n"] == 5
    assert acc["value"] == direct["acc,none"] and acc["stderr"] == pytest.approx(direct["acc_stderr,none"])
    assert acc["ci_low"] == pytest.approx(acc["value"] - 1.959964 * acc["stderr"])
    assert acc["ci_high"] == pytest.approx(acc["value"] + 1.959964 * acc["stderr"])
    assert acc["interval"] == "normal, from lm-eval stderr"
    # one row per question, its per-sample acc averaging to the score
    assert [r["id"] for r in rows] == list(range(5))
    assert rows[0]["prompt"] == "Question: What is 2+2?\nAnswer:" and rows[0]["references"] == ["4"]
    assert all(r["prediction"] in QUESTIONS[r["id"]][1] for r in rows)
    assert sum(r["scores"]["acc"] for r in rows) / 5 == pytest.approx(acc["value"])
    assert all(r["scores"]["acc"] == float(r["prediction"] == r["references"][0]) for r in rows)


def test_several_metrics_each_with_per_sample_scores(tiny, task):
    model, tok = tiny
    scores, rows = evaluate(model, tok, lm_eval_ev(metrics=["acc", "acc_norm"], limit=3), task.parent.parent)
    assert set(scores) == {"acc", "acc_norm"} and all(s["n"] == 3 for s in scores.values())
    assert len(rows) == 3 and all(set(r["scores"]) == {"acc", "acc_norm"} for r in rows)
    assert sum(r["scores"]["acc_norm"] for r in rows) / 3 == pytest.approx(scores["acc_norm"]["value"])


@pytest.mark.slow
def test_task_by_name_from_include_path(tiny, task):
    model, tok = tiny  # a name is looked up in lm-eval's whole catalogue too (about 10 s to index)
    scores, _ = evaluate(model, tok, lm_eval_ev(task="tiny_mc", include_path="tasks", limit=3), task.parent.parent)
    assert scores["acc"]["task"] == "tiny_mc" and scores["acc"]["n"] == 3


def test_a_metric_lm_eval_did_not_report_lists_those_it_did(tiny, task):
    model, tok = tiny
    with pytest.raises(HarnessError, match=r"lm-eval reported no metric 'bleu'; it reported: acc, acc_norm"):
        evaluate(model, tok, lm_eval_ev(metrics=["bleu"], limit=2), task.parent.parent)


def test_missing_task_file_and_missing_task_are_harness_errors(tiny, tmp_path):
    model, tok = tiny
    with pytest.raises(HarnessError, match="task file .*nope.yaml does not exist"):
        evaluate(model, tok, lm_eval_ev(task="nope.yaml"), tmp_path)
    with pytest.raises(HarnessError, match="kind lm_eval needs task"):
        evaluate(model, tok, lm_eval_ev(task=None), tmp_path)


def test_scores_without_stderr_get_a_zero_width_interval():
    results = {"results": {"t": {"alias": "t", "acc,none": 0.5, "acc_stderr,none": "N/A", "exact_match,strict-match": 0.25}},
               "group_subtasks": {}, "n-samples": {"t": {"original": 8, "effective": 4}}, "n-shot": {"t": 0}}
    scores = lm_eval_bridge.all_scores(results)
    assert scores["acc"]["ci_low"] == scores["acc"]["ci_high"] == 0.5 and scores["acc"]["stderr"] is None
    assert scores["acc"]["n"] == 4
    assert set(scores) == {"acc", "exact_match,strict-match"}  # a filter other than none is named
    assert set(lm_eval_bridge.select(scores, ["exact_match"], "e")) == {"exact_match,strict-match"}


@pytest.mark.slow
def test_unknown_task_name_says_did_you_mean(tiny, tmp_path):
    model, tok = tiny  # indexes lm-eval's whole catalogue (about 10 s)
    with pytest.raises(HarnessError, match=r"lm-eval knows no task 'hellaswagg'; did you mean 'hellaswag'"):
        evaluate(model, tok, lm_eval_ev(task="hellaswagg"), tmp_path)
