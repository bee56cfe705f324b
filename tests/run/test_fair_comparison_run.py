"""One real run of a suite that uses every part of a fair comparison at once: a 2-shot
baseline, a tokens budget (and a FLOPs one on one entry), a learning-rate search, and an
eval written with two templates. The CLI runs it on the built-in tiny model, each variant in
its own worker process on the CPU, once for the module; each test reads what one part
recorded. (One run instead of one per part keeps CI short.)
"""

from __future__ import annotations

import json
import random
import statistics

import pytest
from click.testing import CliRunner
from conftest import TINY_SUITE

from harness.cli import main
from harness.data import sources
from harness.data.templates import Template, render
from harness.evaluate import shots as in_context
from harness.suite.loading import load_suite
from harness.suite.plan import plan

TWO = '["Describe: {{input}}\\n ||| {{output}}", "{{input}}\\nIn one sentence: ||| {{output}}"]'
SUITE = (TINY_SUITE
         .replace("seeds: [0]", "seeds: [0]\nbaselines: {shots: [0, 2]}")
         .replace("  steps: 2\n", "  budget: {tokens: 1200}\n")
         .replace("    method: full\n", "    method: full\n    train: {batch_size: 4}\n  - name: full-flops\n    method: full\n"
                  "    train: {budget: {flops: 5.0e8}}\n")
         .replace("    params: {r: 4, lora_alpha: 8}\n", "    params: {r: 4, lora_alpha: 8}\n"
                  "    search: {learning_rate: [1.0e-6, 3.0e-3], steps: 2, limit: 8}\n")
         .replace("    split: test\n", f"    split: test\n    template: {TWO}\n"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(the suite file, its records by name, the results folder)."""
    root = tmp_path_factory.mktemp("fair")
    suite = root / "suite.yaml"
    suite.write_text(SUITE)
    out = root / "r"
    result = CliRunner().invoke(main, ["run", str(suite), "--results", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = {r["name"]: r for r in (json.loads(p.read_text()) for p in out.rglob("record.json"))}
    assert sorted(records) == ["baseline", "baseline-2shot", "full", "full-flops", "lora-r4"]
    assert all(r["status"] == "ok" for r in records.values())
    return suite, records, out


def rows(out, record: dict, ev: str) -> list[dict]:
    path = next(out.rglob(f"{record['variant_id']}/predictions/{ev}.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_few_shot_baseline_saw_training_examples(run):
    suite, records, out = run
    shot = records["baseline-2shot"]
    assert shot["params"] == {"shots": 2}
    assert shot["method_info"]["shots"]["evals"]["d2t@1"] == {"min": 2, "fewer": 0}
    few, zero = rows(out, shot, "d2t@1"), rows(out, records["baseline"], "d2t@1")
    assert [r["shots"] for r in few] == [2] * 4
    assert [r["prompt"] for r in few] == [r["prompt"] for r in zero]  # the prompt shown is the eval's own
    # the examples are training rows, drawn by the seeded sample, in the training template
    v = next(x for x in plan(load_suite(suite)) if x.name == "baseline-2shot")
    train = sources.load_split("builtin:data2text", "train", suite.parent)
    picked = random.Random(1234).sample(range(len(train)), 2)
    t = Template(v.shots.template.prompt, v.shots.template.completion)
    assert in_context.draw(v.shots, suite.parent) == [render(t, train[i], "") for i in picked]


def test_budgets_gave_each_variant_its_steps(run):
    _, records, _ = run
    for name in ("full", "lora-r4"):
        stage = records[name]["method_info"]["stages"][0]
        assert stage["budget"]["kind"] == "tokens" and stage["steps"] == max(1, round(1200 / stage["budget"]["tokens_per_step"]))
        assert len(records[name]["train_curve"]) == stage["steps"]
    full, lora = (records[n]["method_info"]["stages"][0] for n in ("full", "lora-r4"))
    assert full["budget"]["tokens_per_step"] == pytest.approx(2 * lora["budget"]["tokens_per_step"], rel=0.01)  # twice the batch
    flops = records["full-flops"]["method_info"]["stages"][0]
    n = records["full-flops"]["cost"]["total_params"]
    # full fine-tuning trains all N: 6N, plus attention over the mean example (2 layers of 64, batches of 2)
    per_step = flops["budget"]["tokens_per_step"]
    per_token = 6 * n + 12 * 2 * 64 * per_step / 2
    assert flops["budget"]["flops_per_token"] == pytest.approx(per_token, rel=1e-4)
    assert flops["steps"] == max(1, round(5.0e8 / (per_token * per_step)))
    # the record counts the same way, over the examples it trained on
    assert "(L=2, h=64, s=" in records["full-flops"]["cost"]["flops_formula"]


def test_the_searched_variant_trained_at_the_chosen_rate(run):
    _, records, _ = run
    search = records["lora-r4"]["search"]
    assert search["values"] == [1.0e-6, 3.0e-3] and search["steps"] == 2
    assert search["chosen"] == search["values"][min(range(2), key=lambda i: search["scores"][i])]  # lowest loss
    groups = records["lora-r4"]["method_info"]["stages"][0]["param_groups"]
    assert {g["learning_rate"] for g in groups} == {search["chosen"]}
    assert records["full"]["search"] == {}


def test_each_template_was_scored_and_the_spread_recorded(run):
    _, records, out = run
    for record in records.values():
        assert set(record["metrics"]) == {"d2t@1", "d2t@2"}
        spread = record["templates"]["d2t"]
        assert spread["evals"] == ["d2t@1", "d2t@2"]
        for metric in ("rouge1", "bleu"):
            values = [record["metrics"][e][metric]["value"] for e in spread["evals"]]
            got = spread["metrics"][metric]
            assert got["values"] == values
            assert got["mean"] == pytest.approx(statistics.fmean(values))
            assert got["std"] == pytest.approx(statistics.stdev(values))
        assert rows(out, record, "d2t@2")[0]["prompt"].endswith("In one sentence:")
