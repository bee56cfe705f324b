"""Multiple-choice data: MMLU folders (subjects, per-subject slices, dev shots, malformed
rows, fingerprints) and question/choices/answer files."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from conftest import SHARED_DATA

from harness.data import mmlu, questions, sources
from harness.errors import HarnessError

MMLU = SHARED_DATA / "mmlu"
needs_shared = pytest.mark.skipif(not MMLU.is_dir(), reason=f"shared MMLU data not found at {MMLU}")


def write_csv(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


@pytest.fixture
def folder(tmp_path) -> Path:
    """Two subjects: alpha (3 test, 3 dev rows) and beta_gamma (2 test, 2 dev rows)."""
    root = tmp_path / "mm"
    write_csv(root / "test" / "alpha_test.csv", [[f"a{i}?", "w", "x", "y", "z", "ABC"[i]] for i in range(3)])
    write_csv(root / "test" / "beta_gamma_test.csv", [[f"b{i}?", "1", "2", "3", "4", "D"] for i in range(2)])
    write_csv(root / "dev" / "alpha_dev.csv", [[f"da{i}", "p", "q", "r", "s", "B"] for i in range(3)])
    write_csv(root / "dev" / "beta_gamma_dev.csv", [[f"db{i}", "p", "q", "r", "s", "C"] for i in range(2)])
    return root


def test_rows_of_every_subject_in_order(folder):
    rows = mmlu.load("mmlu:mm", "test", folder.parent)
    assert [r["question"] for r in rows] == ["a0?", "a1?", "a2?", "b0?", "b1?"]
    assert rows[0] == {"question": "a0?", "choices": ["w", "x", "y", "z"], "answer": 0, "subject": "alpha"}
    assert [r["answer"] for r in rows] == [0, 1, 2, 3, 3]
    assert [r["subject"] for r in rows] == ["alpha"] * 3 + ["beta_gamma"] * 2


def test_slices_apply_per_subject_and_limit_to_the_whole(folder):
    rows = mmlu.load("mmlu:mm", "test[:2]", folder.parent, subjects=["beta_gamma", "alpha"])
    assert [r["question"] for r in rows] == ["b0?", "b1?", "a0?", "a1?"]  # subjects in the order given
    assert [r["question"] for r in mmlu.load("mmlu:mm", "test[-1:]", folder.parent)] == ["a2?", "b1?"]
    assert [r["question"] for r in mmlu.load("mmlu:mm", "test[:34%]", folder.parent)] == ["a0?", "b0?"]
    assert len(mmlu.load("mmlu:mm", "test", folder.parent, limit=4)) == 4
    both = mmlu.load("mmlu:mm", "dev[:1]+test[:1]", folder.parent, subjects=["alpha"])
    assert [r["question"] for r in both] == ["da0", "a0?"]


def test_load_split_and_columns_route_mmlu_references(folder):
    assert len(sources.load_split("mmlu:mm", "test", folder.parent)) == 5
    assert sources.columns("mmlu:mm", "test", folder.parent) == {"question", "choices", "answer", "subject"}
    with pytest.raises(HarnessError, match="no validation/ folder; it has: dev, test"):
        sources.columns("mmlu:mm", "validation", folder.parent)
    with pytest.raises(HarnessError, match="does not exist"):
        sources.load_split("mmlu:nowhere", "test", folder.parent)


def test_unknown_subject_says_did_you_mean(folder):
    with pytest.raises(HarnessError, match=r"no subject 'alpah'.*did you mean 'alpha'\? known: alpha, beta_gamma"):
        mmlu.load("mmlu:mm", "test", folder.parent, subjects=["alpah"])


@pytest.mark.parametrize("row, message", [
    (["q", "a", "b", "c", "A"], r"alpha_test.csv row 2 \(line 2\): 5 fields, expected 6"),
    (["q", "a", "b", "c", "d", "E"], r"alpha_test.csv row 2 \(line 2\): answer 'E' is not one of A, B, C, D"),
    (["q", "a", "b", "c", "d", ""], r"row 2 \(line 2\): answer '' is not one of"),
])
def test_malformed_rows_name_file_and_row(folder, row, message):
    write_csv(folder / "test" / "alpha_test.csv", [["ok", "a", "b", "c", "d", "A"], row])
    with pytest.raises(HarnessError, match=message):
        mmlu.load("mmlu:mm", "test", folder.parent)


def test_shots_are_the_first_rows_of_the_same_subjects_dev_file(folder):
    pool, where = questions.shot_pool("mmlu:mm", folder.parent, "beta_gamma")
    assert where.endswith("beta_gamma_dev.csv")
    assert [s["question"] for s in questions.first_shots(pool, 2, where, "beta_gamma")] == ["db0", "db1"]
    with pytest.raises(HarnessError, match="3-shot prompts need 3 examples of subject 'beta_gamma'.*has 2"):
        questions.first_shots(pool, 3, where, "beta_gamma")
    (folder / "dev" / "alpha_dev.csv").unlink()
    with pytest.raises(HarnessError, match="alpha_dev.csv; add the dev file or set shots: 0"):
        questions.shot_pool("mmlu:mm", folder.parent, "alpha")


def test_fingerprint_covers_every_split_and_dev_file_but_not_the_path(folder, tmp_path):
    before = sources.fingerprint("mmlu:mm", "test[:2]", folder.parent)
    moved = tmp_path / "elsewhere" / "mm"
    shutil.copytree(folder, moved)
    assert sources.fingerprint("mmlu:mm", "test[:2]", moved.parent) == before
    assert sources.fingerprint("mmlu:mm", "test[:1]", folder.parent) != before  # the split is part of it
    for changed in ("dev/beta_gamma_dev.csv", "test/beta_gamma_test.csv"):
        copy = tmp_path / changed.replace("/", "_") / "mm"
        shutil.copytree(folder, copy)
        with (copy / changed).open("a") as f:
            f.write("extra?,a,b,c,d,A\n")
        assert sources.fingerprint("mmlu:mm", "test[:2]", copy.parent) != before, changed


def test_jsonl_questions_take_index_or_letter_answers_and_filter_subjects(tmp_path):
    path = tmp_path / "mc.jsonl"
    rows = [{"question": "q1", "choices": ["a", "b", "c"], "answer": "C", "subject": "s1", "id": "x-1"},
            {"question": "q2", "choices": ["a", "b"], "answer": 1, "subject": "s2"},
            {"question": "q3", "choices": ["a", "b"], "answer": "0", "subject": "s1"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    got = questions.questions("mc.jsonl", "test", tmp_path)
    assert [(r["answer"], r["subject"]) for r in got] == [(2, "s1"), (1, "s2"), (0, "s1")]
    assert got[0]["id"] == "x-1" and "id" not in got[1]
    assert [r["question"] for r in questions.questions("mc.jsonl", "test", tmp_path, subjects=["s1"])] == ["q1", "q3"]
    with pytest.raises(HarnessError, match=r"no rows of subject 's3'.*it has: s1, s2"):
        questions.questions("mc.jsonl", "test", tmp_path, subjects=["s3"])


@pytest.mark.parametrize("row, message", [
    ({"question": "q", "choices": ["a", "b"], "answer": "C"}, r"row 2: answer 'C' is not an index 0-1 or a letter A-B"),
    ({"question": "q", "choices": ["a", "b"], "answer": 2}, r"row 2: answer 2 is not an index"),
    ({"question": "q", "choices": "ab", "answer": 0}, r"row 2: choices must be a list"),
    ({"question": "q", "answer": 0}, r"row 2: no field\(s\) choices"),
])
def test_malformed_choice_rows_name_the_row(tmp_path, row, message):
    good = {"question": "ok", "choices": ["a", "b"], "answer": 0}
    (tmp_path / "mc.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(HarnessError, match=message):
        questions.questions("mc.jsonl", "test", tmp_path)


def test_shots_from_a_local_file_skip_the_question_asked(tmp_path):
    rows = [{"question": f"q{i}", "choices": ["a", "b"], "answer": 0} for i in range(4)]
    (tmp_path / "mc.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    pool, where = questions.shot_pool("mc.jsonl", tmp_path, "")
    asked = questions.questions("mc.jsonl", "test", tmp_path)[1]
    assert questions.pool_is_eval_data("mc.jsonl") and not questions.pool_is_eval_data("mmlu:x")
    assert [s["question"] for s in questions.first_shots(pool, 2, where, "", skip=asked)] == ["q0", "q2"]


@needs_shared
def test_real_mmlu_folder_reads_all_twelve_subjects():
    rows = mmlu.load(f"mmlu:{MMLU}", "test", Path("."))
    assert len(rows) == 2283  # the data README's count
    assert len({r["subject"] for r in rows}) == 12
    assert all(len(r["choices"]) == 4 and 0 <= r["answer"] < 4 for r in rows)
    pool, _ = questions.shot_pool(f"mmlu:{MMLU}", Path("."), "world_religions")
    assert len(pool) == 5 and pool[0]["question"].strip() == "What is the sign of the covenant for Jewish males?"
