"""The learning-rate search: it picks the best held-out score, never reads an eval's split,
and the variant then trains at the chosen rate.

The leak test runs the search in this process on the built-in tiny model with the data
reader wrapped, so every split it reads is seen; the end-to-end test runs the real CLI
(each variant in its own worker process) and reads the records.
"""

from __future__ import annotations

import math
from pathlib import Path

from click.testing import CliRunner
from conftest import TINY_SUITE

from harness.cli import main
from harness.data import sources
from harness.methods.base import ApplyContext
from harness.models.tiny import tiny_random_llama
from harness.registry import METHODS
from harness.run.search import cheap, run_search
from harness.suite.loading import load_suite
from harness.suite.plan import plan
from harness.train.trainset import stage_sources

SEARCH = "search: {learning_rate: [1.0e-6, 3.0e-3], steps: 2, limit: 8}\n"


def test_the_search_reads_held_out_data_only_and_picks_the_best(write_suite, monkeypatch):
    variant = next(v for v in plan(load_suite(write_suite(TINY_SUITE + SEARCH))) if v.name == "lora-r4")
    assert variant.search is not None and variant.search.split == "validation"
    method = METHODS.load("lora")
    params = method.parse(variant.params)

    def build(steps: int):
        model, tok = tiny_random_llama()
        return method.apply(model, params, ApplyContext(steps=steps)), tok

    stage = variant.stages[0]
    _, tok = tiny_random_llama()
    data = stage_sources(stage, tok, Path("."))
    reads: list[tuple[str, str]] = []
    real = sources.load_split

    def watched(ref, split, base_dir, limit=None):
        reads.append((ref, split))
        return real(ref, split, base_dir, limit=limit)

    monkeypatch.setattr(sources, "load_split", watched)
    tuned, entry = run_search(variant.search, stage, data, build, Path("."), 0, None, "causal", {})
    # held-out rows only: the validation split, never the test split the eval scores
    assert reads and set(reads) == {("builtin:data2text", "validation")}
    # the lower validation loss wins, and the stage trains at its rate
    assert entry["metric"] == "loss" and entry["higher_is_better"] is False
    assert all(isinstance(s, float) and math.isfinite(s) for s in entry["scores"])
    best = entry["values"][min(range(2), key=lambda i: entry["scores"][i])]
    assert entry["chosen"] == best == tuned.learning_rate
    assert entry["steps"] == 2 and entry["final_steps"] == stage.steps


def test_short_runs_are_cheap_by_default():
    assert [cheap(n) for n in (12, 20, 80, 1000)] == [12, 20, 20, 250]  # a quarter, at least 20, at most all


def test_a_search_on_the_split_an_eval_scores_is_refused(write_suite):
    leaky = TINY_SUITE + SEARCH.replace("limit: 8", "limit: 8, split: test")
    result = CliRunner().invoke(main, ["validate", str(write_suite(leaky))])
    assert result.exit_code == 2
    assert "search.split" in result.output and "never on the eval's" in result.output
