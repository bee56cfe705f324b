"""`harness run` ends with comparisons; `harness score` re-scores saved predictions exactly,
adds metrics without a rerun, and neither imports torch. Built on one real run of the tiny
model through the CLI (baseline + lora with seeds 0 and 1, about 30 s)."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import TINY_SUITE
from rouge_score import rouge_scorer

from harness.cli import main
from harness.records.schema import COMPARISON_KEYS

# TINY_SUITE's pattern: one method, two seeds, a rate high enough that the seeds differ,
# a generation eval and a classification eval checked for forgetting.
SUITE = TINY_SUITE.replace("name: tiny", "name: cmp").replace("seeds: [0]", "seeds: [0, 1]").replace(
    "  precision: fp32\n", "  precision: fp32\n  learning_rate: 5.0e-2\n").replace(
    "  - name: full\n    method: full\n", "").replace("limit: 4\n", "limit: 6\n").replace(
    "[rouge1, bleu]", "[rouge1, bleu, chrf]") + """\
  - name: sent
    kind: classification
    data: builtin:sentiment
    split: test
    label: label
    limit: 12
    retention: true
    metrics: [accuracy, macro_f1]
"""


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    (folder / "suite.yaml").write_text(SUITE)
    result = invoke("run", str(folder / "suite.yaml"), "--results", str(folder / "results"))
    assert result.exit_code == 0, result.output
    return folder / "results", result.output


@pytest.fixture
def results(ran, tmp_path):
    """A private copy of the run's results, free to rewrite."""
    return shutil.copytree(ran[0], tmp_path / "results")


def records(suite_dir):
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(suite_dir.glob("*/record.json"))}


def rows(suite_dir, folder, ev):
    return [json.loads(line) for line in (suite_dir / folder / "predictions" / f"{ev}.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_run_ends_with_comparisons_in_every_record(ran):
    results, output = ran
    last = output.rstrip().splitlines()[-2:]
    assert last == ["compared 3 variants with the baseline and the best (paired tests)", "leaderboard: leaderboards/cmp.html"]
    recs = records(results / "cmp")
    base = next(r for r in recs.values() if r["method"] == "baseline")
    tuned = [r for r in recs.values() if r["method"] == "lora"]
    assert sorted(r["seed"] for r in tuned) == [0, 1]
    for r in tuned:
        for ev, metric, test in [("d2t", "rouge1", "paired_bootstrap"), ("d2t", "bleu", "paired_bootstrap"),
                                 ("d2t", "chrf", "paired_bootstrap"), ("sent", "accuracy", "mcnemar"), ("sent", "macro_f1", "paired_bootstrap")]:
            vs = r["metrics"][ev][metric]["vs_baseline"]
            assert set(vs) == {"delta", "ci_low", "ci_high", "p_value", "test", "n"} and vs["test"] == test
            assert vs["n"] == (6 if ev == "d2t" else 12) and 0.0 <= vs["p_value"] <= 1.0 and vs["ci_low"] <= vs["ci_high"]
            assert vs["delta"] == pytest.approx(r["metrics"][ev][metric]["value"] - base["metrics"][ev][metric]["value"], abs=1e-9)
        assert set(r["forgetting"]) == {"sent"} and set(r["forgetting"]["sent"]) == {"accuracy", "macro_f1"}
        assert r["forgetting"]["sent"]["accuracy"]["base"] == base["metrics"]["sent"]["accuracy"]["value"]
    for ev, metric in [("d2t", "rouge1"), ("d2t", "chrf"), ("sent", "accuracy")]:
        scored = sorted(recs.values(), key=lambda r: r["metrics"][ev][metric]["value"])
        # Exactly one record lacks vs_best (the best), and every vs_best names one of the best's name.
        without = [r for r in recs.values() if "vs_best" not in r["metrics"][ev][metric]]
        assert len(without) == 1 and without[0]["metrics"][ev][metric]["value"] == scored[-1]["metrics"][ev][metric]["value"]
        assert {r["metrics"][ev][metric]["vs_best"]["best"] for r in recs.values() if r is not without[0]} == {without[0]["name"]}
    chrf = [r["metrics"]["d2t"]["chrf"]["value"] for r in tuned]
    spread = tuned[0]["metrics"]["d2t"]["chrf"]["across_seeds"]
    assert spread["n_seeds"] == 2 and spread["mean"] == pytest.approx(statistics.mean(chrf))
    assert spread["std"] == pytest.approx(statistics.stdev(chrf)) and spread["std"] > 0  # the seeds differ
    assert base["metrics"]["d2t"]["chrf"]["across_seeds"]["n_seeds"] == 1


@pytest.mark.slow
def test_score_reproduces_every_stored_number_and_comparison(ran, results):
    before = records(results / "cmp")
    result = invoke("score", str(results))  # a folder of suites
    assert result.exit_code == 0, result.output
    assert "re-scored 3 record(s): 15 score(s) computed, 0 of them new" in result.output
    assert "compared 3 variants" in result.output
    after = records(results / "cmp")
    assert after == before  # every value, ci_low, ci_high, extra and comparison, bit for bit
    for folder in before:
        for ev in ("d2t", "sent"):
            assert rows(results / "cmp", folder, ev) == rows(ran[0] / "cmp", folder, ev)


@pytest.mark.slow
def test_score_recomputes_what_changed_in_the_rows(results):
    folder = next(p.parent.name for p in (results / "cmp").glob("*/record.json") if "baseline" in p.parent.name)
    path = results / "cmp" / folder / "predictions" / "sent.jsonl"
    edited = rows(results / "cmp", folder, "sent")
    for row in edited:
        row["prediction"] = "neutral"  # off the label set: wrong everywhere
    path.write_text("".join(json.dumps(r) + "\n" for r in edited))
    assert invoke("score", str(results / "cmp")).exit_code == 0
    acc = records(results / "cmp")[folder]["metrics"]["sent"]["accuracy"]
    assert (acc["value"], acc["ci_low"], acc["ci_high"]) == (0.0, 0.0, 0.0)
    assert all(r["scores"]["accuracy"] == 0.0 for r in rows(results / "cmp", folder, "sent"))
    f1 = records(results / "cmp")[folder]["metrics"]["sent"]["macro_f1"]
    assert f1["value"] == 0.0 and set(f1["per_class_f1"]) == {"negative", "positive", "neutral"}


@pytest.mark.slow
def test_score_adds_metrics_without_a_rerun(ran, results):
    before = records(results / "cmp")
    result = invoke("score", str(results / "cmp"), "--metrics", "rougeL,exact_match")
    assert result.exit_code == 0, result.output
    assert "6 score(s) computed, 6 of them new" in result.output
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    for folder, record in records(results / "cmp").items():
        d2t = record["metrics"]["d2t"]
        assert list(d2t) == ["rouge1", "bleu", "chrf", "rougeL", "exact_match"] and list(record["metrics"]["sent"]) == ["accuracy", "macro_f1"]
        for metric in ("rouge1", "bleu", "chrf"):  # not listed: left exactly as they were
            assert {k: v for k, v in d2t[metric].items() if k not in COMPARISON_KEYS} == \
                {k: v for k, v in before[folder]["metrics"]["d2t"][metric].items() if k not in COMPARISON_KEYS}
        saved = rows(results / "cmp", folder, "d2t")
        expected = [scorer.score_multi(r["references"], r["prediction"])["rougeL"].fmeasure for r in saved]
        assert [r["scores"]["rougeL"] for r in saved] == pytest.approx(expected)
        assert d2t["rougeL"]["value"] == pytest.approx(sum(expected) / len(expected))
        assert d2t["rougeL"]["ci_low"] <= d2t["rougeL"]["value"] <= d2t["rougeL"]["ci_high"] and d2t["rougeL"]["n"] == 6
        hits = [float(" ".join(r["prediction"].split()).lower() in {" ".join(x.split()).lower() for x in r["references"]}) for r in saved]
        assert [r["scores"]["exact_match"] for r in saved] == hits
        assert "across_seeds" in d2t["rougeL"]
        if record["method"] != "baseline":
            assert d2t["exact_match"]["vs_baseline"]["test"] == "mcnemar"
            assert d2t["rougeL"]["vs_baseline"]["test"] == "paired_bootstrap"


def test_score_rejects_a_folder_without_records(tmp_path):
    (tmp_path / "empty").mkdir()
    result = invoke("score", str(tmp_path / "empty"))
    assert result.exit_code == 2 and "no records found" in result.output


@pytest.mark.slow
def test_unknown_metric_is_a_user_error(results):
    result = invoke("score", str(results), "--metrics", "rougeL,rogue2")
    assert result.exit_code == 2 and "did you mean 'rouge2'" in result.output


@pytest.mark.slow
def test_score_and_compare_never_import_torch(results):
    code = ("import sys; from harness.cli import main\n"
            "try:\n    main(['score', sys.argv[1], '--metrics', 'rouge2,accuracy,macro_f1,bleu'])\n"
            "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            "heavy = sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules)\n"
            "assert not heavy, heavy\nprint('torch-free')")
    done = subprocess.run([sys.executable, "-c", code, str(results)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "torch-free" in done.stdout and "compared 3 variants" in done.stdout
    assert all("rouge2" in r["metrics"]["d2t"] for r in records(results / "cmp").values())
