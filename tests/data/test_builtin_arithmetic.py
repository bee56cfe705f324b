"""The built-in arithmetic task: right answers (worked out again here), four distinct choices,
splits that share no question, balanced prefixes, and a multiple-choice eval reading it."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from harness.data.builtin import ARITHMETIC, arithmetic, task
from harness.errors import HarnessError
from harness.evaluate.multiple_choice import evaluate
from harness.models.tiny import tiny_random_llama
from harness.suite.schema import EvalSpec

UNIT = {"millimetres": 1, "centimetres": 10, "metres": 1000, "kilometres": 1_000_000, "milligrams": 1, "grams": 1000,
        "kilograms": 1_000_000, "millilitres": 1, "centilitres": 10, "litres": 1000, "seconds": 1, "minutes": 60, "hours": 3600}


def solve(question: str) -> int:
    if m := re.fullmatch(r"What is (\d+) ([+\-×]) (\d+)\?", question):
        a, op, b = int(m[1]), m[2], int(m[3])
        return {"+": a + b, "-": a - b, "×": a * b}[op]
    m = re.fullmatch(r"How many (\w+) are there in (\d+) (\w+)\?", question)
    assert m, question
    return int(m[2]) * UNIT[m[3]] // UNIT[m[1]]


@pytest.mark.parametrize("split", ARITHMETIC.splits)
def test_every_answer_is_right_and_the_choices_distinct(split):
    rows = arithmetic.generate(split)
    assert len(rows) == 4 * arithmetic.SPLIT_SIZES[split]
    for row in rows:
        assert len(set(row["choices"])) == 4, row
        assert int(row["choices"][row["answer"]].replace(",", "")) == solve(row["question"]), row
        assert all(int(c.replace(",", "")) != solve(row["question"]) for i, c in enumerate(row["choices"]) if i != row["answer"])


def test_splits_share_no_question_and_every_prefix_is_balanced():
    questions = {s: {r["question"] for r in arithmetic.generate(s)} for s in ARITHMETIC.splits}
    for a in ARITHMETIC.splits:
        for b in ARITHMETIC.splits:
            assert a == b or not questions[a] & questions[b], (a, b)
    test = arithmetic.generate("test")
    assert Counter(r["subject"] for r in test[:8]) == {s: 2 for s in arithmetic.SUBJECTS}
    # the right answer is not always in the same place
    assert min(Counter(r["answer"] for r in test).values()) >= len(test) // 8


def test_deterministic_fresh_and_registered():
    first = arithmetic.generate("test")
    first[0]["choices"].append("changed")
    assert arithmetic.generate("test") == arithmetic.generate("test") != first
    assert task("arithmetic") is ARITHMETIC
    with pytest.raises(HarnessError, match="no split 'tset'"):
        arithmetic.generate("tset")


def test_a_multiple_choice_eval_reads_it_with_shots_from_dev():
    model, tok = tiny_random_llama()
    ev = EvalSpec(name="arith", data="builtin:arithmetic", kind="multiple_choice", format="continuation", shots=2,
                  subjects=["unit_conversion"], limit=3, metrics=["acc"])
    scores, rows = evaluate(model, tok, ev, Path("."))
    dev = arithmetic.generate("dev")[3::4]  # the unit_conversion rows of dev
    assert len(rows) == 3 and scores["acc"]["n"] == 3
    assert rows[0]["prompt"].startswith("The following are questions (with answers) about unit conversion.\n\n"
                                        f"Question: {dev[0]['question']}\nAnswer: {dev[0]['choices'][dev[0]['answer']]}\n\n")
