"""MLflow: variants logged from their records to a local file store, read back with MlflowClient."""

from __future__ import annotations

import os

import pytest
from track_records import fixture_record

from harness.track import log_variant
from harness.track.content import describe
from harness.track.mlflow_writer import ALLOW_FILE_STORE, key

pytest.importorskip("mlflow", reason="the mlflow tracker writes with mlflow-skinny (pip install 'harness[trackers]')")


@pytest.fixture
def no_mlflow_env(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv(ALLOW_FILE_STORE, raising=False)


def client(uri, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv(ALLOW_FILE_STORE, "true")  # reading a file store needs it as much as writing one
    return MlflowClient(tracking_uri=uri)


def test_one_run_per_variant_in_the_suites_experiment_equal_to_the_records(tmp_path, monkeypatch, no_mlflow_env):
    records = [fixture_record("baseline"), fixture_record("sft-dpo")]
    for record in records:
        [done] = log_variant(["mlflow"], record, tmp_path)
        assert done.ok, done.error
    assert ALLOW_FILE_STORE not in os.environ  # set for the writer's calls only
    uri = (tmp_path / "mlruns").resolve().as_uri()
    assert done.where.startswith(uri)
    mlflow = client(uri, monkeypatch)
    experiment = mlflow.get_experiment_by_name("track")
    runs = {r.data.tags["variant_id"]: r for r in mlflow.search_runs([experiment.experiment_id])}
    assert sorted(runs) == sorted(r.variant_id for r in records)
    for record in records:
        content, run = describe(record), runs[record.variant_id]
        assert run.info.run_name == content.label and run.info.status == "FINISHED"
        assert run.data.tags["method"] == record.method and run.data.tags["seed"] == str(record.seed)
        assert run.info.start_time == int(content.started * 1000) and run.info.end_time == int(content.finished * 1000)
        assert run.data.params == {key(k): str(v) for k, v in content.params.items()}
        for ev, scores in record.metrics.items():
            for metric, score in scores.items():
                tag = f"eval/{ev}/{metric}"
                assert (run.data.metrics[tag], run.data.metrics[f"{tag}_ci_low"], run.data.metrics[f"{tag}_ci_high"],
                        run.data.metrics[f"{tag}_n"]) == (score.value, score.ci_low, score.ci_high, score.n)
        assert run.data.metrics["cost/peak_memory_bytes"] == record.cost.peak_memory_bytes
    sft_dpo = fixture_record("sft-dpo")
    run_id = runs[sft_dpo.variant_id].info.run_id
    history = sorted((m.step, m.value) for m in mlflow.get_metric_history(run_id, "train/loss"))
    assert history == [(s, v) for s, v in sft_dpo.train_curve]
    history = sorted((m.step, m.value) for m in mlflow.get_metric_history(run_id, "preference/accuracy"))
    assert history == [(p["step"], p["accuracy"]) for p in sft_dpo.preference_curve]
    assert runs[sft_dpo.variant_id].data.params["stages.1.objective"] == "dpo"


def test_a_failed_variant_ends_failed_with_its_error(tmp_path, monkeypatch, no_mlflow_env):
    record = fixture_record("baseline")
    record.status, record.error = "failed", "worker killed by SIGKILL (out of memory?)"
    [done] = log_variant(["mlflow"], record, tmp_path)
    assert done.ok, done.error
    mlflow = client((tmp_path / "mlruns").resolve().as_uri(), monkeypatch)
    [run] = mlflow.search_runs([mlflow.get_experiment_by_name("track").experiment_id])
    assert run.info.status == "FAILED" and run.data.tags["error"] == record.error


def test_mlflow_tracking_uri_chooses_the_store(tmp_path, monkeypatch, no_mlflow_env):
    elsewhere = (tmp_path / "server-store").resolve().as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", elsewhere)
    [done] = log_variant(["mlflow"], fixture_record("baseline"), tmp_path / "results")
    assert done.ok and done.where.startswith(elsewhere)
    assert not (tmp_path / "results" / "mlruns").exists()
    assert client(elsewhere, monkeypatch).get_experiment_by_name("track") is not None
