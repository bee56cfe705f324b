"""Validation of multiple_choice and lm_eval evals, and planning them: subjects with a
did-you-mean, their metrics, a task to run, fields that belong to other kinds, and
variant ids that follow the MMLU files' content."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from harness.errors import SuiteError
from harness.suite.loading import load_suite
from harness.suite.plan import plan

SUITE = """\
name: mc
model: tiny-random-llama
evals:
  - name: mmlu
    kind: multiple_choice
    data: mmlu:data/mm
    split: "test[:2]"
    subjects: [alpha]
    shots: 2
    metrics: [acc, acc_norm]
"""


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "data" / "mm"
    for split, n in (("test", 3), ("dev", 2)):
        for subject in ("alpha", "beta"):
            path = root / split / f"{subject}_{split}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="") as f:
                csv.writer(f).writerows([[f"{subject} {i}?", "a", "b", "c", "d", "B"] for i in range(n)])
    return root


def problems_of(path) -> dict[str, str]:
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    return {p.path: p.message for p in info.value.problems}


def test_an_mmlu_eval_validates_and_plans(write_suite, folder):
    loaded = load_suite(write_suite(SUITE))
    (variant,) = plan(loaded)
    assert variant.evals[0].subjects == ["alpha"]


def test_unknown_subject_wrong_metric_and_missing_folder(write_suite, folder):
    found = problems_of(write_suite(SUITE.replace("[alpha]", "[alpah, beta]").replace("acc_norm]", "rouge1]")))
    assert "did you mean 'alpha'?" in found["evals[0].subjects[0]"] and "known: alpha, beta" in found["evals[0].subjects[0]"]
    assert "evals[0].subjects[1]" not in found
    assert "whose metrics are acc, acc_norm" in found["evals[0].metrics[1]"]
    found = problems_of(write_suite(SUITE.replace("mmlu:data/mm", "mmlu:data/none")))
    assert "MMLU folder" in found["evals[0].data"] and "does not exist" in found["evals[0].data"]


def test_shots_need_the_subjects_dev_file(write_suite, folder):
    (folder / "dev" / "alpha_dev.csv").unlink()
    found = problems_of(write_suite(SUITE))
    assert "no subject 'alpha' in" in found["evals[0].subjects[0]"] and "dev" in found["evals[0].subjects[0]"]
    load_suite(write_suite(SUITE.replace("shots: 2", "shots: 0")))  # no shots, no dev file needed


def test_a_file_without_choices_is_a_problem(write_suite, tmp_path):
    (tmp_path / "q.jsonl").write_text('{"question": "q", "answer": 0}\n')
    found = problems_of(write_suite(SUITE.replace("mmlu:data/mm", "q.jsonl").replace("    subjects: [alpha]\n", "")))
    assert "lacks field(s) choices" in found["evals[0].data"]


def test_fields_of_other_kinds_are_problems(write_suite, folder):
    found = problems_of(write_suite("""\
        name: g
        model: tiny-random-llama
        evals:
          - {name: d2t, data: "builtin:data2text", metrics: [rouge1], subjects: [alpha], task: hellaswag}
    """))
    assert "subjects is for multiple_choice evals" in found["evals[0].subjects"]
    assert "task is for lm_eval evals" in found["evals[0].task"]


def test_lm_eval_needs_a_task_and_an_existing_task_file(write_suite, tmp_path):
    (tmp_path / "q.jsonl").write_text('{"question": "q"}\n')
    base = """\
        name: l
        model: tiny-random-llama
        evals:
          - {name: lm, kind: lm_eval, data: q.jsonl, metrics: [acc]TASK}
    """
    found = problems_of(write_suite(base.replace("TASK", "")))
    assert "names its task" in found["evals[0].task"]
    found = problems_of(write_suite(base.replace("TASK", ", task: tasks/missing.yaml, include_path: nowhere")))
    assert "missing.yaml does not exist" in found["evals[0].task"]
    assert "is not a folder" in found["evals[0].include_path"]
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "t.yaml").write_text("task: t\n")
    # lm-eval's metric names are not the harness's: checked when lm-eval reports them
    loaded = load_suite(write_suite(base.replace("TASK", ", task: tasks/t.yaml").replace("[acc]", "[exact_match, f1]")))
    assert loaded.suite.evals[0].task == "tasks/t.yaml"
    assert load_suite(write_suite(base.replace("TASK", ", task: hellaswag"))).suite.evals[0].task == "hellaswag"


def test_variant_ids_follow_the_content_of_the_files_read(write_suite, folder):
    first = plan(load_suite(write_suite(SUITE)))[0].id
    assert plan(load_suite(write_suite(SUITE)))[0].id == first
    with (folder / "dev" / "beta_dev.csv").open("a") as f:
        f.write("new?,a,b,c,d,A\n")
    assert plan(load_suite(write_suite(SUITE)))[0].id != first
