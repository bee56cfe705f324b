"""harness baseline / check on real runs of the tiny model: an unchanged rerun passes, a
recipe made worse on purpose fails naming its metrics, a drop within tolerance passes, and
other data is reported as not comparable instead of passing."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from harness.cli import main

SUITE = """\
name: gate
model: tiny-random-llama
threads: 1
train:
  data: builtin:data2text
  template: {{prompt: "{{{{input}}}}\\n", completion: "{{{{output}}}}"}}
  limit: 200
  steps: {steps}
  batch_size: 4
  max_length: 256
  precision: fp32
methods:
  - {{name: full, method: full, train: {{learning_rate: 1.0e-2}}}}
evals:
  - name: d2t
    data: builtin:data2text
    split: "{split}"
    max_new_tokens: 24
    metrics: [rouge1, bleu]
"""

pytestmark = pytest.mark.slow


def run(tmp_path, name: str, steps: int = 60, split: str = "test[:40]", reuse_baseline_from=None):
    """Run the gate suite into tmp_path/name; a baseline variant can be reused (same id)."""
    folder = tmp_path / name
    suite = folder / "gate.yaml"
    folder.mkdir()
    suite.write_text(SUITE.format(steps=steps, split=split))
    only = []
    if reuse_baseline_from is not None:  # the baseline's spec is unchanged: copy it, train only the variant
        source = next(p.parent for p in (reuse_baseline_from / "gate").glob("*/record.json")
                      if json.loads(p.read_text())["method"] == "baseline")
        shutil.copytree(source, folder / "r" / "gate" / source.name)
        only = ["--only", "full"]
    result = CliRunner().invoke(main, ["run", str(suite), "--results", str(folder / "r"), *only], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return folder / "r"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gate")
    good = run(tmp, "good")
    return {
        "good": good,
        "rerun": run(tmp, "rerun"),  # the same suite again, from scratch
        "worse": run(tmp, "worse", steps=3, reuse_baseline_from=good),  # undertrained on purpose
        "other-data": run(tmp, "other", split="test[40:80]"),
        "tmp": tmp,
    }


def check(runs, which: str, *options: str):
    baseline = runs["tmp"] / "baseline.json"
    if not baseline.exists():
        made = CliRunner().invoke(main, ["baseline", str(runs["good"] / "gate"), "--out", str(baseline)])
        assert made.exit_code == 0, made.output
        assert "baseline of suite 'gate', 2 variants, 4 metrics" in made.output
    return CliRunner().invoke(main, ["check", str(runs[which] / "gate"), "--baseline", str(baseline), *options])


def verdicts(result) -> dict[tuple[str, str], dict]:
    data = json.loads(result.output)
    return {(v["variant"], v["metric"]): v for v in data["verdicts"]}


def test_the_baseline_is_self_contained(runs):
    check(runs, "good")
    data = json.loads((runs["tmp"] / "baseline.json").read_text())
    full = next(v for v in data["variants"] if v["name"] == "full")
    d2t = full["evals"]["d2t"]
    assert len(d2t["ids"]) == 40 and d2t["fingerprint"]
    assert d2t["metrics"]["rouge1"]["kind"] == "mean" and len(d2t["metrics"]["rouge1"]["scores"]) == 40
    bleu = d2t["metrics"]["bleu"]
    assert bleu["kind"] == "corpus" and len(bleu["predictions"]) == 40 and bleu["settings"]["signature"].startswith("nrefs:")
    shutil.rmtree(runs["good"] / "gate" / full["variant_id"] / "predictions")  # nothing outside the file is needed
    assert check(runs, "rerun").exit_code == 0


def test_an_unchanged_rerun_passes(runs):
    result = check(runs, "rerun", "--json")
    assert result.exit_code == 0, result.output
    v = verdicts(result)
    assert v[("full", "rouge1")]["status"] == "ok" and v[("full", "rouge1")]["change"] == 0.0  # fp32, pinned: it repeats
    assert json.loads(result.output)["passed"] is True


def test_a_worse_recipe_fails_naming_the_metric(runs, monkeypatch, tmp_path):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = check(runs, "worse")
    assert result.exit_code == 1, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("| full (seed 0) | d2t | rouge1 |"))
    assert "**REGRESSED**" in line
    assert "**FAILED**" in result.output and summary.read_text() == result.output + "\n"  # appended, a blank line after
    v = verdicts(check(runs, "worse", "--json"))
    assert v[("full", "rouge1")]["p_holm"] < 0.05 and v[("full", "rouge1")]["drop"] > 0.03
    assert v[("baseline", "rouge1")]["status"] == "ok"


def test_a_drop_within_tolerance_passes(runs):
    v = verdicts(check(runs, "worse", "--json"))
    rouge, bleu = v[("full", "rouge1")]["drop"], v[("full", "bleu")]["drop"]
    result = check(runs, "worse", "--tolerance", f"rouge1={rouge + 0.01:.4f}", "--tolerance", "bleu=100%", "--json")
    assert result.exit_code == 0, result.output
    assert {x["status"] for k, x in verdicts(result).items() if k[0] == "full"} == {"within tolerance"}
    assert bleu > 0


def test_other_data_is_not_comparable(runs):
    result = check(runs, "other-data")
    assert result.exit_code == 1
    assert ("**NOT COMPARABLE**: different data (baseline: builtin:data2text\\|test[:40], fingerprint "
            in result.output) and "now: builtin:data2text\\|test[40:80]" in result.output
    assert check(runs, "other-data", "--allow-missing").exit_code == 0


def test_bad_input_exits_2_and_names_the_file(runs, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = CliRunner().invoke(main, ["check", str(runs["good"] / "gate"), "--baseline", str(bad)])
    assert result.exit_code == 2 and f"baseline file {bad} is not readable JSON" in result.output
    result = CliRunner().invoke(main, ["check", str(runs["good"] / "gate"), "--baseline", str(tmp_path / "none.json")])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = check(runs, "good", "--tolerance", "rouge1")
    assert result.exit_code == 2 and "write METRIC=VALUE" in result.output
