"""Multiple-choice evals on the tiny model: lm-eval's mmlu prompt written out by hand, the
prediction rows, batch-size invariance, the shared-context scoring path, and a slow check
of batch-size invariance on the real model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from harness.evaluate import multiple_choice
from harness.evaluate.loglik import choice_logprobs, continuation_logprobs
from harness.evaluate.scoring import evaluate
from harness.metrics.choice import score_choices
from harness.models.tiny import tiny_random_llama
from harness.suite.schema import EvalSpec


@pytest.fixture(scope="module")
def tiny():
    return tiny_random_llama()


@pytest.fixture
def folder(tmp_path) -> Path:
    """An MMLU folder: subjects high_school_x (6 test rows) and other (4), 3 dev rows each."""
    def write(path: Path, rows):
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            csv.writer(f).writerows(rows)

    root = tmp_path / "data" / "mm"
    for subject, n in (("high_school_x", 6), ("other", 4)):
        write(root / "test" / f"{subject}_test.csv",
              [[f"  {subject} question {i} ", f"opt{i}a", f"opt {i} b", "c", f"d{'!' * i}", "ABCD"[i % 4]] for i in range(n)])
        write(root / "dev" / f"{subject}_dev.csv", [[f"dev {subject} {i}\n", "w", "x", "y", "z", "CAB"[i]] for i in range(3)])
    return root


def mc(**kw) -> EvalSpec:
    base = {"name": "mc", "data": "mmlu:data/mm", "kind": "multiple_choice", "metrics": ["acc", "acc_norm"]}
    return EvalSpec(**{**base, **kw})


def test_prompt_is_lm_evals_mmlu_format_written_out():
    question = {"question": "  What is 1+1?\n", "choices": ["1", "2", " 3", "4 "], "answer": 1, "subject": "high_school_math"}
    shot = {"question": "Pick A.", "choices": ["a", "b", "c", "d"], "answer": 0, "subject": "high_school_math"}
    expected = (
        "The following are multiple choice questions (with answers) about high school math.\n\n"
        "Pick A.\nA. a\nB. b\nC. c\nD. d\nAnswer: A\n\n"
        "What is 1+1?\nA. 1\nB. 2\nC.  3\nD. 4 \nAnswer:"
    )
    assert multiple_choice.build_prompt(question, [shot]) == expected
    no_subject = {**question, "subject": ""}
    assert multiple_choice.build_prompt(no_subject, []).startswith("The following are multiple choice questions (with answers).\n\nWhat")


def test_rows_carry_what_rescoring_needs(tiny, folder):
    model, tok = tiny
    scores, rows = evaluate(model, tok, mc(shots=2, split="test[:3]"), folder.parent.parent)
    assert len(rows) == 6 and [r["subject"] for r in rows] == ["high_school_x"] * 3 + ["other"] * 3
    first = rows[0]
    assert first["id"] == 0 and first["references"] == ["A"] and first["choice_lengths"] == [1, 1, 1, 1]
    assert first["prompt"].startswith("The following are multiple choice questions (with answers) about high school x.\n\n"
                                      "dev high_school_x 0\nA. w\nB. x\nC. y\nD. z\nAnswer: C\n\n"
                                      "dev high_school_x 1\nA. w")
    assert first["prompt"].endswith("high_school_x question 0\nA. opt0a\nB. opt 0 b\nC. c\nD. d\nAnswer:")
    for row in rows:
        assert row["prediction"] == "ABCD"[int(np.argmax(row["choice_logprobs"]))]
        assert row["scores"]["acc"] == float(row["prediction"] == row["references"][0])
    # one eval over several subjects: accuracy over all their questions together
    per = [r["scores"]["acc"] for r in rows]
    assert scores["acc"]["value"] == pytest.approx(sum(per) / 6) and scores["acc"]["n"] == 6
    assert scores["acc"]["per_subject"] == {"high_school_x": pytest.approx(sum(per[:3]) / 3), "other": pytest.approx(sum(per[3:]) / 3)}
    assert scores["acc"]["shots"] == 2
    # re-scoring the saved rows gives the stored numbers
    saved = [json.loads(json.dumps(r)) for r in rows]
    again = score_choices(saved)
    assert {m: r.to_record() for m, r in again.items()} == {m: {k: v for k, v in s.items() if k not in ("shots", "format", "predicted_by")}
                                                             for m, s in scores.items()}


def test_batch_size_does_not_change_any_choice_score(tiny, folder):
    model, tok = tiny
    _, one = evaluate(model, tok, mc(shots=3, batch_size=1), folder.parent.parent)
    scores16, sixteen = evaluate(model, tok, mc(shots=3, batch_size=16), folder.parent.parent)
    # fp32 matrix products may block differently for another number of rows: equal on an AVX2
    # EPYC, within 3.5e-5 on an AVX-512 one (log-probabilities of about -8); the choice is the same.
    np.testing.assert_allclose([r["choice_logprobs"] for r in one], [r["choice_logprobs"] for r in sixteen], atol=1e-4, rtol=0)
    assert [r["prediction"] for r in one] == [r["prediction"] for r in sixteen]
    assert scores16["acc"]["n"] == 10


def test_shared_context_path_equals_one_sequence_per_choice(tiny):
    model, tok = tiny
    # With the byte-level tokenizer "A" after "Answer:" is one token: the shared-context path.
    contexts = ["Q: one?\nAnswer:", "A longer question, two?\nAnswer:", "x"]
    options = [["A", "B", "C", "D"], ["A", "B"], [" yes", " no"]]  # the last: two tokens each, one pass per choice
    got = choice_logprobs(model, tok, contexts, options, batch_size=2)
    for context, opts, scores in zip(contexts, options, got):
        assert len(scores) == len(opts)
        np.testing.assert_allclose(scores, continuation_logprobs(model, tok, [(context, o) for o in opts], batch_size=1), atol=1e-5)


def test_multiple_choice_jsonl_with_letters(tiny, tmp_path):
    model, tok = tiny
    rows = [{"question": f"q{i}", "choices": ["yes", "no", "maybe"], "answer": "ABC"[i % 3], "id": f"ex{i}"} for i in range(5)]
    (tmp_path / "mc.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    scores, out = evaluate(model, tok, mc(data="mc.jsonl", shots=1), tmp_path)
    assert [r["id"] for r in out] == [f"ex{i}" for i in range(5)]
    assert [r["references"] for r in out] == [["A"], ["B"], ["C"], ["A"], ["B"]]
    assert all(len(r["choice_logprobs"]) == 3 for r in out)
    # the one shot is the file's first row, except for the first question, which gets the second
    assert out[0]["prompt"] == ("The following are multiple choice questions (with answers).\n\n"
                                "q1\nA. yes\nB. no\nC. maybe\nAnswer: B\n\nq0\nA. yes\nB. no\nC. maybe\nAnswer:")
    assert out[3]["prompt"].split("\n\n")[1].startswith("q0\n")


def test_suite_runs_end_to_end_and_harness_score_reproduces_it(folder, write_suite):
    from click.testing import CliRunner

    from harness.cli import main

    suite = write_suite("""\
        name: mc
        model: tiny-random-llama
        threads: 1
        evals:
          - {name: mmlu, kind: multiple_choice, data: "mmlu:data/mm", split: "test[:2]", shots: 1, metrics: [acc, acc_norm]}
    """)
    results = suite.parent / "results"
    run = CliRunner().invoke(main, ["run", str(suite), "--results", str(results)], catch_exceptions=False)
    assert run.exit_code == 0, run.output
    (record_path,) = results.glob("mc/*/record.json")
    stored = json.loads(record_path.read_text())["metrics"]["mmlu"]
    lines = (record_path.parent / "predictions" / "mmlu.jsonl").read_text().splitlines()
    assert len(lines) == 4 and {"choice_logprobs", "choice_lengths", "subject"} <= set(json.loads(lines[0]))
    assert stored["acc"]["per_subject_n"] == {"high_school_x": 2, "other": 2}
    score = CliRunner().invoke(main, ["score", str(results / "mc")], catch_exceptions=False)
    assert score.exit_code == 0, score.output
    again = json.loads(record_path.read_text())["metrics"]["mmlu"]
    for metric in ("acc", "acc_norm"):
        assert {k: again[metric][k] for k in ("value", "ci_low", "ci_high", "n", "per_subject")} == \
               {k: stored[metric][k] for k in ("value", "ci_low", "ci_high", "n", "per_subject")}


@pytest.mark.slow
def test_real_model_choice_scores_do_not_depend_on_batch_size():
    from conftest import SHARED_DATA

    from harness.models.smollm2 import load

    if not (SHARED_DATA / "mmlu").is_dir():
        pytest.skip(f"shared MMLU data not found at {SHARED_DATA / 'mmlu'}")
    model, tok = load()
    ev = mc(data=f"mmlu:{SHARED_DATA / 'mmlu'}", split="test[:8]", subjects=["world_religions", "abstract_algebra"])
    scores1, one = evaluate(model, tok, ev.model_copy(update={"batch_size": 1}), Path("."))
    scores16, sixteen = evaluate(model, tok, ev.model_copy(update={"batch_size": 16}), Path("."))
    # fp32 matrix products may block differently for another number of rows: equal on an AVX2
    # EPYC, within 3.5e-5 on an AVX-512 one (log-probabilities of about -8); the choice is the same.
    np.testing.assert_allclose([r["choice_logprobs"] for r in one], [r["choice_logprobs"] for r in sixteen], atol=1e-4, rtol=0)
    assert scores1["acc"]["value"] == scores16["acc"]["value"]
    assert [r["prediction"] for r in one] == [r["prediction"] for r in sixteen]


def test_continuation_format_scores_the_choice_texts(tiny, folder):
    """lm-eval's mmlu_continuation: 'Question: ...' prompts, shots answered with their text,
    each choice's own text scored, acc_norm by its length."""
    model, tok = tiny
    scores, rows = evaluate(model, tok, mc(shots=1, split="test[:2]", format="continuation"), folder.parent.parent)
    first = rows[0]
    assert first["prompt"] == ("The following are questions (with answers) about high school x.\n\n"
                               "Question: dev high_school_x 0\nAnswer: y\n\n"
                               "Question: high_school_x question 0\nAnswer:")
    assert first["choices"] == ["opt0a", "opt 0 b", "c", "d"] and first["choice_lengths"] == [5, 7, 1, 1]
    assert first["references"] == ["A"] and scores["acc"]["format"] == "continuation"
    assert scores["acc_norm"]["predicted_by"] == "log-likelihood of each choice's text"
    # the texts are what was scored: the likeliest per character need not be the likeliest
    for row in rows:
        per_char = np.asarray(row["choice_logprobs"]) / np.asarray(row["choice_lengths"])
        assert row["scores"]["acc_norm"] == float("ABCD"[int(np.argmax(per_char))] == row["references"][0])
