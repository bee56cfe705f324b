"""Plugins through Python entry points: the example package in tests/plugin_example/ declares a
metric (word_recall) and a method (bias_only), and a real suite run uses both.

How it starts what it needs: a module-scoped fixture copies tests/plugin_example/ to a
temporary folder (so no build artifacts land in the repository) and really installs it with
pip (--no-deps --no-build-isolation, not editable) into the environment of the interpreter
running the tests; it uninstalls it at teardown, always. Registries read entry points once
per process, so every check runs the CLI as a fresh subprocess (`python -m harness.cli`),
and `harness run` starts its own worker subprocesses (`python -m harness.run.worker`),
which must find the plugin too. While the module runs, other processes of this environment
see the plugin as well.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.records.store import read_record

PLUGIN = Path(__file__).resolve().parent / "plugin_example"
DIST = "harness-plugin-example"

SUITE = """\
name: plugins
model: tiny-random-llama
threads: 1
train:
  data: builtin:data2text
  limit: 16
  steps: 3
  batch_size: 2
  max_length: 128  # a data2text prompt is ~100 byte-level tokens: 64 leaves no completion
  precision: fp32
seeds: [0]
methods:
  - name: bias
    method: bias_only
evals:
  - name: d2t
    data: builtin:data2text
    split: test
    limit: 6
    max_new_tokens: 8
    metrics: [word_recall, rouge1]
"""


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=300)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The CLI in a fresh interpreter, which reads the entry points anew."""
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugin") / "harness-plugin-example"
    shutil.copytree(PLUGIN, folder, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    try:
        installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q",
                                    str(folder)], capture_output=True, text=True, timeout=300)
        assert installed.returncode == 0, installed.stdout + installed.stderr
        yield folder
    finally:
        pip("uninstall", "-y", DIST)


@pytest.fixture(scope="module")
def suite_run(plugin, tmp_path_factory):
    """The suite run once by `harness run`: (folder, suite path, completed process)."""
    folder = tmp_path_factory.mktemp("plugin_run")
    suite = folder / "suite.yaml"
    suite.write_text(textwrap.dedent(SUITE), encoding="utf-8")
    done = cli("run", str(suite), "--results", str(folder / "results"), "--leaderboard", str(folder / "L.html"),
               cwd=folder)
    return folder, suite, done


def words(text: str) -> set[str]:
    return set(text.lower().split())


def word_recall_by_hand(rows: list[dict]) -> list[float]:
    """Per row: the largest share of one reference's word set found in the prediction's."""
    return [max(len(words(ref) & words(row["prediction"])) / len(words(ref)) for ref in row["references"])
            for row in rows]


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_ls_lists_the_plugin_entries(plugin, tmp_path):
    metrics = cli("ls", "metrics", cwd=tmp_path)
    assert metrics.returncode == 0, metrics.stderr
    assert any(line.startswith("word_recall ") and "best reference" in line for line in metrics.stdout.splitlines())
    methods = cli("ls", "methods", cwd=tmp_path)
    assert methods.returncode == 0, methods.stderr
    lines = methods.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("bias_only "))
    assert "only biases and norm weights train" in lines[at]
    assert "params: none; train defaults: learning_rate=0.001" in lines[at + 1]


def test_validate_accepts_the_plugin_names(plugin, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(textwrap.dedent(SUITE), encoding="utf-8")
    done = cli("validate", str(suite), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 variants (1 baseline, 1 tuned)" in done.stdout


@pytest.mark.slow  # real training (the marker's meaning); about 16 s of the module's 19 s on 2 cores
def test_run_scores_with_the_plugin_metric_and_trains_with_the_plugin_method(suite_run):
    folder, _, done = suite_run
    assert done.returncode == 0, done.stdout + done.stderr
    assert (folder / "L.html").is_file()
    records = {r.method: (path.parent, r) for path in (folder / "results" / "plugins").glob("*/record.json")
               for r in [read_record(path)]}
    assert set(records) == {"baseline", "bias_only"}
    directory, record = records["bias_only"]
    assert record.status == "ok", record.error
    assert directory.name == record.variant_id

    # word_recall, computed here from the saved predictions, independently of the plugin
    rows = read_rows(directory / "predictions" / "d2t.jsonl")
    assert len(rows) == 6
    per_example = word_recall_by_hand(rows)
    score = record.metrics["d2t"]["word_recall"]
    assert score.n == 6
    assert score.value == pytest.approx(sum(per_example) / len(per_example), abs=1e-12)
    assert score.ci_low <= score.value <= score.ci_high
    assert "rouge1" in record.metrics["d2t"]

    # only the norm (and, were there any, bias) weights trained
    from harness.models.tiny import tiny_random_llama

    model, _ = tiny_random_llama()
    named = dict(model.named_parameters())
    expected = sum(p.numel() for n, p in named.items() if n.endswith("bias") or "norm" in n)
    assert expected > 0
    assert record.cost.trainable_params == expected
    assert record.cost.total_params == sum(p.numel() for p in named.values())
    assert record.cost.trainable_params < record.cost.total_params
    assert len(record.train_curve) == 3

    # the comparison with the baseline follows the registered pairing ("mean")
    vs = score.model_extra["vs_baseline"]
    assert vs["test"] == "paired_bootstrap" and vs["n"] == 6


@pytest.mark.slow  # needs the run above
def test_rescoring_known_predictions_with_the_plugin_metric(suite_run, tmp_path):
    """A tiny random model predicts noise (word_recall 0): give the tuned variant predictions
    with some reference words, re-score them with `harness score` (a fresh process again) and
    check the plugin's value against the hand computation, and a non-zero paired delta."""
    folder, _, done = suite_run
    assert done.returncode == 0, done.stdout + done.stderr
    results = tmp_path / "results"
    shutil.copytree(folder / "results", results)
    directory = next(p.parent for p in (results / "plugins").glob("*/record.json") if read_record(p).method == "bias_only")
    path = directory / "predictions" / "d2t.jsonl"
    rows = read_rows(path)
    for i, row in enumerate(rows):  # the first 1..3 words of the first reference, upper-cased, and noise
        row["prediction"] = " ".join(row["references"][0].split()[: 1 + i % 3]).upper() + " zzz"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")

    rescored = cli("score", str(results / "plugins"), "--metrics", "word_recall", cwd=tmp_path)
    assert rescored.returncode == 0, rescored.stdout + rescored.stderr
    per_example = word_recall_by_hand(rows)
    assert len(set(per_example)) > 1 and min(per_example) > 0
    score = read_record(directory / "record.json").metrics["d2t"]["word_recall"]
    assert score.value == pytest.approx(sum(per_example) / len(per_example), abs=1e-12)
    assert score.ci_low < score.value < score.ci_high
    assert [r["scores"]["word_recall"] for r in read_rows(path)] == pytest.approx(per_example, abs=1e-12)
    base = next(r for p in (results / "plugins").glob("*/record.json") if (r := read_record(p)).method == "baseline")
    vs = score.model_extra["vs_baseline"]
    assert vs["test"] == "paired_bootstrap"
    assert vs["delta"] == pytest.approx(score.value - base.metrics["d2t"]["word_recall"].value, abs=1e-12)
    assert vs["delta"] > 0
