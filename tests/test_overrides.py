"""`--set key.path=value`: overrides applied to the suite as read, before validation. Values
take the type YAML gives them; a bad path or value is an error naming the --set; a bad
setting is reported at its YAML path, exit 2; the variants (and their ids) are those of the
file edited the same way; `harness run` keeps the suite as it ran. Through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import TINY_SUITE

from harness.cli import main
from harness.errors import HarnessError
from harness.suite.loading import load_suite
from harness.suite.overrides import apply_overrides, parse_path
from harness.suite.plan import plan

RAW = {"train": {"steps": 3}, "methods": [{"method": "lora"}]}


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_values_are_typed_and_missing_keys_made():
    out = apply_overrides(RAW, ["train.steps=5", "methods[0].params.r=16", "train.budget.tokens=1000",
                                "seeds=[0, 1]", "train.learning_rate=1.0e-3", "train.chat=false", "train.label=null"])
    assert out == {"train": {"steps": 5, "budget": {"tokens": 1000}, "learning_rate": 1e-3, "chat": False, "label": None},
                   "methods": [{"method": "lora", "params": {"r": 16}}], "seeds": [0, 1]}
    assert RAW == {"train": {"steps": 3}, "methods": [{"method": "lora"}]}  # the suite as read is left alone
    assert apply_overrides(RAW, ["train.steps=5", "train.steps=7"])["train"]["steps"] == 7  # the last wins


@pytest.mark.parametrize(("override", "message"), [
    ("train.steps", "write --set key.path=value"),
    ("methods[3].params.r=4", "methods holds a list of 1; there is no item [3]"),
    ("train.steps.x=1", "train.steps holds int 3, not a mapping"),
    ("evals[0].limit=4", "'evals' is not in the suite; a list item [0] must exist"),
    ("train..steps=1", "is not a key path"),
    ("train.steps=[1, 2", "the value is not YAML"),
])
def test_bad_overrides_name_themselves(override, message):
    with pytest.raises(HarnessError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        apply_overrides(RAW, [override])
    assert str(err.value).startswith(f"--set {override}:")


def test_paths_parse_as_written():
    assert parse_path("methods[0].params.r", "x") == ["methods", 0, "params", "r"]
    assert parse_path("evals[1].metric_args.rouge1.use_stemmer", "x") == ["evals", 1, "metric_args", "rouge1", "use_stemmer"]


def test_validate_reports_an_overridden_setting_at_its_yaml_path(write_suite):
    suite = str(write_suite(TINY_SUITE))
    result = invoke("validate", suite, "--set", "train.steps=-1", "--set", "methods[1].params.r=0")
    assert result.exit_code == 2, result.output
    assert "train.steps" in result.output and "methods[1].params.r" in result.output
    result = invoke("validate", suite, "--set", "methods[7].params.r=4")
    assert result.exit_code == 2 and "--set methods[7].params.r=4: methods holds a list of 2" in result.output
    assert invoke("validate", suite, "--set", "train.steps=4").exit_code == 0


def test_the_variants_are_those_of_the_file_edited_the_same_way(write_suite, tmp_path):
    by_set = plan(load_suite(write_suite(TINY_SUITE), overrides=["train.steps=3", "methods[1].params.r=8"]))
    edited = TINY_SUITE.replace("steps: 2", "steps: 3").replace("r: 4,", "r: 8,")
    by_edit = plan(load_suite(write_suite(edited, "edited.yaml")))
    assert [(v.name, v.id) for v in by_set] == [(v.name, v.id) for v in by_edit]
    assert [v.id for v in by_set] != [v.id for v in plan(load_suite(write_suite(TINY_SUITE, "plain.yaml")))]


@pytest.mark.slow
def test_run_records_the_overridden_settings_and_keeps_the_suite_as_it_ran(write_suite, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    results = tmp_path / "results"
    result = invoke("run", str(write_suite(TINY_SUITE)), "--results", str(results), "--only", "lora*",
                    "--set", "train.steps=1", "--leaderboard", str(tmp_path / "lb.html"))
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(p.read_text()) for p in (results / "tiny").glob("*/record.json")]
    assert record["spec"]["stages"][0]["steps"] == 1 and len(record["train_curve"]) == 1
    copy = next((results / "tiny").glob("suite*.yaml")).read_text()
    assert "--set train.steps=1" in copy and "steps: 1" in copy
