"""Several templates per task (FLAN-style): training draws one per example with a fixed seed,
an eval scores each as NAME@1, NAME@2..., and the record keeps the mean and the spread.

The draw is checked against random.Random(0) by hand; the end-to-end test runs the real CLI
on the built-in tiny model (CPU) and recomputes the spread from the per-template scores.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import TINY_SUITE

from harness.errors import SuiteError
from harness.suite.loading import load_suite
from harness.suite.plan import plan
from harness.suite.schema import TemplateSpec
from harness.train.trainset import render_pairs

TWO = '["Describe: {{input}}\\n ||| {{output}}", "{{input}}\\nIn one sentence: ||| {{output}}"]'


def with_templates(train: bool = False, evals: bool = True) -> str:
    suite = TINY_SUITE
    if train:
        suite = suite.replace("  data: builtin:data2text\n  limit: 16", f"  data: builtin:data2text\n  template: {TWO}\n  limit: 16")
    if evals:
        suite = suite.replace("    split: test\n", f"    split: test\n    template: {TWO}\n")
    return suite


def test_an_eval_with_several_templates_is_scored_once_per_template(write_suite):
    variants = plan(load_suite(write_suite(with_templates())))
    evals = variants[0].evals
    assert [e.name for e in evals] == ["d2t@1", "d2t@2"]
    assert [e.template.prompt for e in evals] == ["Describe: {{input}}\n", "{{input}}\nIn one sentence:"]
    assert evals[0].metrics == evals[1].metrics == ["rouge1", "bleu"]


def test_training_draws_one_template_per_example_with_a_fixed_seed():
    templates = [TemplateSpec(prompt="A {{input}}\n", completion="{{output}}"), TemplateSpec(prompt="B {{input}}\n", completion="{{output}}")]
    pairs = render_pairs("builtin:data2text", "train", templates, Path("."), 16)
    rng = random.Random(0)
    expected = [rng.randrange(2) for _ in range(16)]  # the draw, by hand
    assert [p[0][0] for p in pairs] == ["AB"[i] for i in expected]
    assert {"A", "B"} == {p[0][0] for p in pairs}  # both wordings are learned
    assert pairs == render_pairs("builtin:data2text", "train", templates, Path("."), 16)  # every variant the same


def test_a_broken_template_in_a_list_is_named_by_its_index(write_suite):
    bad = with_templates().replace('"{{input}}\\nIn one sentence: ||| {{output}}"', '"{{nope}} ||| {{output}}"')
    with pytest.raises(SuiteError, match=r"evals\[0\]\.template\[1\].*nope"):
        load_suite(write_suite(bad))
