"""References in separate columns (DialogSum's summary1..3): validation asks only for the
prompt's fields and the reference columns, and each example is scored against all of its
references as rouge-score's score_multi scores them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rouge_score import rouge_scorer

from harness.errors import SuiteError
from harness.evaluate.generation import evaluate
from harness.evaluate.scoring import references_of, score
from harness.models.tiny import tiny_random_llama
from harness.suite.loading import load_suite
from harness.suite.plan import plan

SUITE = """\
name: refs
model: tiny-random-llama
train:
  data: train.jsonl
  template: "{{{{dialogue}}}}\\n ||| {{{{summary}}}}"
  steps: 1
methods: [{{method: lora}}]
evals:
  - {{name: sum, data: test.jsonl, references: {references}, limit: 5, max_new_tokens: 6, metrics: [rouge1, rougeL]}}
"""


@pytest.fixture
def data(tmp_path) -> Path:
    rows = [{"dialogue": f"#Person1#: shall we meet at {i}? #Person2#: yes, at {i}.",
             "summary1": f"They meet at {i}.", "summary2": f"The two agree to meet at {i} o'clock.",
             "summary3": f"Person1 and Person2 plan a meeting at {i}."} for i in range(5)]
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    train = [{"dialogue": r["dialogue"], "summary": r["summary1"]} for r in rows]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))
    return tmp_path


def test_reference_columns_validate_without_the_completions_field(data, write_suite):
    # test.jsonl has no `summary` column, which the train template's completion names
    loaded = load_suite(write_suite(SUITE.format(references="[summary1, summary2, summary3]")))
    (ev,) = plan(loaded)[0].evals
    assert ev.references == ["summary1", "summary2", "summary3"]
    with pytest.raises(SuiteError) as err:
        load_suite(write_suite(SUITE.format(references="[summary1, summary4]")))
    assert "evals[0].references: names field(s) summary4 that test.jsonl lacks" in str(err.value)


def test_each_example_is_scored_against_every_reference_column(data, write_suite):
    loaded = load_suite(write_suite(SUITE.format(references="[summary1, summary2, summary3]")))
    (ev,) = plan(loaded)[0].evals
    model, tok = tiny_random_llama()
    scores, rows = evaluate(model, tok, ev, data)
    source = [json.loads(line) for line in (data / "test.jsonl").read_text().splitlines()]
    assert [r["references"] for r in rows] == [[s["summary1"], s["summary2"], s["summary3"]] for s in source]
    # the scoring, with answers that match a different reference column each (the tiny random
    # model's own answers overlap none): the best reference counts, as in score_multi
    answers = [s[f"summary{1 + i % 3}"].replace("meet", "gather") for i, s in enumerate(source)]
    references = [references_of(ev, row, "", f"row {i}") for i, row in enumerate(source)]
    scores, rows = score(ev, [r["prompt"] for r in rows], answers, references)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    for metric in ("rouge1", "rougeL"):
        expected = [scorer.score_multi(refs, answer)[metric].fmeasure for refs, answer in zip(references, answers)]
        single = [scorer.score(refs[0], answer)[metric].fmeasure for refs, answer in zip(references, answers)]
        assert expected != single  # the other columns matter here
        assert [r["scores"][metric] for r in rows] == pytest.approx(expected, abs=1e-12)
        assert scores[metric]["value"] == pytest.approx(sum(expected) / len(expected), abs=1e-12)
