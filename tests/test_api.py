"""The Python API (harness/api.py): a suite given as a dict plans the ids its file does, a
run through `harness.run` writes the records `harness run` writes (a real tiny run of each,
through the real executor: a child process per variant), and `harness.load_results` is the
CSV of `harness report --format csv` as a DataFrame. Also: `import harness` loads no torch
(checked in a fresh interpreter), and `harness.run` stays the function once the `harness.run`
package is imported."""

from __future__ import annotations

import io
import json
import platform
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from conftest import TINY_SUITE

import harness
from harness.cli import main
from harness.errors import HarnessError, SuiteError


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_a_dict_suite_plans_the_ids_of_its_file(write_suite):
    path = write_suite(TINY_SUITE)
    from_file = harness.plan(str(path))
    raw = yaml.safe_load(TINY_SUITE)
    from_dict = harness.plan(raw)
    assert [(v.name, v.id) for v in from_dict] == [(v.name, v.id) for v in from_file]
    assert raw == yaml.safe_load(TINY_SUITE)  # the caller's dict is not changed
    overridden = harness.load_suite(raw, overrides=["train.steps=3"])
    assert overridden.suite.train.steps == 3 and overridden.from_file is False
    assert harness.plan(overridden, only="lora*")[0].id != harness.plan(raw, only="lora*")[0].id  # steps are in the id
    assert [v.name for v in harness.plan(raw, only="lora*")] == ["lora-r4"]


def test_a_bad_dict_names_each_problem_with_its_yaml_path():
    raw = yaml.safe_load(TINY_SUITE)
    raw["methods"][1]["params"]["r"] = "four"
    raw["train"]["stepz"] = 3
    with pytest.raises(SuiteError) as err:
        harness.load_suite(raw)
    text = str(err.value)
    assert "methods[1].params.r" in text and "train.stepz" in text
    with pytest.raises(HarnessError, match="matches no variant"):
        harness.plan(yaml.safe_load(TINY_SUITE), only="nothing*")


def _logged_loss(results, record) -> list[tuple[int, float]]:
    """The training loss TensorBoard holds for the variant, read with tensorboard's own reader."""
    from tensorboard.backend.event_processing import event_accumulator

    events = event_accumulator.EventAccumulator(str(results / "tensorboard" / record.suite / record.variant_id))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars("train/loss")]


def test_an_unknown_or_uninstalled_tracker_is_refused_before_anything_runs(tmp_path, monkeypatch):
    from harness.track import trackers

    raw = yaml.safe_load(TINY_SUITE)
    with pytest.raises(HarnessError, match="unknown tracker 'tensorbord'; did you mean 'tensorboard'"):
        harness.run(raw, results=tmp_path, trackers=["tensorbord"])
    monkeypatch.setattr(trackers.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(HarnessError, match="pip install 'harness\\[trackers\\]'"):
        harness.run(raw, results=tmp_path, trackers=["mlflow"])
    assert not any(tmp_path.iterdir())  # refused before the suite copy or any record


def test_import_harness_loads_no_torch_and_run_stays_callable():
    code = ("import sys, harness; harness.plan; assert 'torch' not in sys.modules, 'torch imported';"
            "import harness.run.slots; assert callable(harness.run); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.slow
def test_api_run_writes_the_records_the_cli_writes(write_suite, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    raw = yaml.safe_load(TINY_SUITE)
    raw["train"].update(steps=1, gradient_checkpointing=True)
    records = harness.run(raw, results=tmp_path / "api", only="lora*", leaderboard=tmp_path / "api.html",
                          trackers=["tensorboard"])
    (record,) = records
    assert record.status == "ok" and record.name == "lora-r4" and (tmp_path / "api.html").is_file()
    assert _logged_loss(tmp_path / "api", record) == [(step, pytest.approx(loss)) for step, loss in record.train_curve]
    # what the peak held: the process before the model, the tensors by part, training's and evaluation's peaks
    parts = record.cost.memory_parts
    assert {"before_load", "weights", "gradients", "optimizer", "peak_train", "peak_eval"} <= set(parts)
    assert record.cost.peak_memory_bytes == max(parts["peak_train"], parts["peak_eval"]) > parts["before_load"]
    assert record.method_info["stages"][0]["gradient_checkpointing"] is True
    if platform.libc_ver()[0] == "glibc":  # freed large blocks returned while it trained (train/allocator.py)
        assert record.method_info["stages"][0]["allocator"]["mmap_threshold"] == 1 << 20

    suite = write_suite(TINY_SUITE)
    cli = invoke("run", str(suite), "--results", str(tmp_path / "cli"), "--only", "lora*", "--set", "train.steps=1",
                 "--set", "train.gradient_checkpointing=true", "--leaderboard", str(tmp_path / "cli.html"), "--tracker", "tensorboard")
    assert cli.exit_code == 0, cli.output
    assert f"tensorboard: {tmp_path / 'cli' / 'tensorboard' / 'tiny' / record.variant_id}" in cli.output
    (path,) = (tmp_path / "cli" / "tiny").glob("*/record.json")
    by_cli = json.loads(path.read_text())
    by_api = record.model_dump(mode="json")
    assert by_cli["variant_id"] == by_api["variant_id"] and by_cli["spec"] == by_api["spec"]
    assert by_cli["train_curve"] == by_api["train_curve"]  # the same training, step for step
    assert by_cli["metrics"] == by_api["metrics"]  # values, intervals, per-metric extras

    # the API's folder is a results folder like any: the CLI skips what the API computed
    logged = sorted((tmp_path / "api" / "tensorboard").rglob("events.*"))
    again = invoke("run", str(suite), "--results", str(tmp_path / "api"), "--only", "lora*", "--set", "train.steps=1",
                   "--set", "train.gradient_checkpointing=true", "--leaderboard", str(tmp_path / "again.html"), "--tracker", "tensorboard")
    assert again.exit_code == 0 and "skip  lora-r4" in again.output, again.output
    assert sorted((tmp_path / "api" / "tensorboard").rglob("events.*")) == logged  # a skipped variant is not logged again

    frame = harness.load_results(tmp_path / "api")
    csv = invoke("report", str(tmp_path / "api" / "tiny"), "--format", "csv")
    expected = pd.read_csv(io.StringIO(csv.output))
    assert list(frame.columns) == list(expected.columns)
    assert len(frame) == len(expected) > 0
    scores = frame[frame["eval"] == "d2t"].set_index("metric")["value"]
    assert scores["rouge1"] == pytest.approx(record.metrics["d2t"]["rouge1"].value)
    assert frame.to_csv(index=False) == csv.output  # the same table, cell for cell
    (loaded,) = harness.load_records(tmp_path / "api" / "tiny")
    assert loaded.variant_id == record.variant_id
