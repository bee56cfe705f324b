"""The suite's `trackers:` key: names checked at their YAML path, packages checked by `harness
validate`, and variant ids the same with or without it."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner
from track_records import SUITE, fixture_record

from harness.errors import SuiteError
from harness.suite.loading import load_suite
from harness.suite.plan import plan
from harness.suite.schema import TRACKERS as SCHEMA_TRACKERS
from harness.track.trackers import TRACKERS


def validate(path):
    from harness.cli import main

    return CliRunner().invoke(main, ["validate", str(path)], catch_exceptions=False)


def with_trackers(text: str, trackers: str) -> str:
    return text.replace("seeds: [0]\n", f"seeds: [0]\ntrackers: {trackers}\n")


def test_the_schema_and_the_table_name_the_same_trackers():
    assert list(TRACKERS) == list(SCHEMA_TRACKERS)


def test_an_unknown_tracker_is_reported_at_its_yaml_path(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(with_trackers(SUITE.read_text(), "[tensorboard, tensorbord]"))
    result = validate(path)
    assert result.exit_code == 2, result.output
    [line] = [line for line in result.output.splitlines() if "trackers" in line]
    assert "trackers[1]" in line and "'tensorboard', 'mlflow' or 'wandb'" in line and "tensorbord" in line
    assert "trackers[0]" not in result.output and "Traceback" not in result.output


def test_a_tracker_listed_twice_is_reported(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(with_trackers(SUITE.read_text(), "[mlflow, wandb, mlflow]"))
    with pytest.raises(SuiteError) as err:
        load_suite(path, check_references=False)
    assert [(p.path, p.message) for p in err.value.problems] == [
        ("trackers", "value error, mlflow listed more than once; each tracker logs every variant once, got "
                     "['mlflow', 'wandb', 'mlflow']")]


def test_a_tracker_whose_package_is_missing_is_a_problem_that_says_the_fix(tmp_path, monkeypatch):
    monkeypatch.setitem(TRACKERS, "wandb", dataclasses.replace(TRACKERS["wandb"], module="wandb_is_not_installed_here"))
    path = tmp_path / "suite.yaml"
    path.write_text(with_trackers(SUITE.read_text(), "[wandb]"))
    result = validate(path)
    assert result.exit_code == 2, result.output
    assert "trackers[0]" in result.output and "pip install 'harness[trackers]'" in result.output
    assert "pip install wandb" in result.output


def test_trackers_leave_every_variant_id_as_it_was(tmp_path):
    plain, tracked = tmp_path / "plain" / "suite.yaml", tmp_path / "tracked" / "suite.yaml"
    for path, text in ((plain, SUITE.read_text()), (tracked, with_trackers(SUITE.read_text(), "[tensorboard, mlflow, wandb]"))):
        path.parent.mkdir()
        path.write_text(text)
    loaded = load_suite(tracked, check_references=False)
    assert loaded.suite.trackers == ["tensorboard", "mlflow", "wandb"]
    assert load_suite(plain, check_references=False).suite.trackers == []
    ids = [v.id for v in plan(loaded)]
    assert ids == [v.id for v in plan(load_suite(plain, check_references=False))]
    # and they are the ids the fixture records were run under, from another folder
    assert ids == [fixture_record("baseline").variant_id, fixture_record("sft-dpo").variant_id]
