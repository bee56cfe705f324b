"""log_variant, the entry point: names checked, each tracker once, a tracker's failure a
warning and never the run's, and the logging process left without torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from track_records import DATA, fixture_record, installed

from harness.errors import HarnessError
from harness.track import log_variant

# The package each tracker needs, so a test of one skips where it is not installed.
PACKAGES = {"tensorboard": "tensorboardX", "mlflow": "mlflow", "wandb": "wandb"}


@pytest.fixture(autouse=True)
def contained(tmp_path, monkeypatch):
    """No tracker reaches a server or the user's home from here."""
    for name in ("MLFLOW_TRACKING_URI", "WANDB_MODE", "WANDB_API_KEY", "WANDB_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))


def test_an_unknown_tracker_is_the_callers_mistake(tmp_path):
    with pytest.raises(HarnessError, match=r"unknown tracker 'tensorbaord'; did you mean 'tensorboard'\? \(known: tensorboard, mlflow, wandb\)"):
        log_variant(["tensorboard", "tensorbaord"], fixture_record("baseline"), tmp_path)
    assert not any(tmp_path.iterdir())  # checked before anything is written


def test_no_trackers_log_nothing_and_each_named_one_logs_once(tmp_path):
    if not installed("tensorboardX"):
        pytest.skip("the tensorboard tracker writes with tensorboardX (pip install 'harness[trackers]')")
    assert log_variant([], fixture_record("baseline"), tmp_path) == []
    done = log_variant(["tensorboard", "tensorboard"], fixture_record("baseline"), tmp_path)
    assert [d.tracker for d in done] == ["tensorboard"] and done[0].ok


@pytest.mark.parametrize("tracker", list(PACKAGES))
def test_a_tracker_that_cannot_write_warns_and_the_run_goes_on(tracker, tmp_path, caplog):
    if not installed(PACKAGES[tracker]):
        pytest.skip(f"{PACKAGES[tracker]} is not installed (pip install 'harness[trackers]')")
    results = tmp_path / "results"
    results.write_text("a file where the results folder should be")
    [done] = log_variant([tracker], fixture_record("sft-dpo"), results)
    assert not done.ok and done.where is None and done.error
    assert f"sft-dpo (seed 0): not logged to {tracker}" in caplog.text
    assert results.read_text() == "a file where the results folder should be"


def test_a_missing_package_says_how_to_install_it(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError, as where it is not installed
    [done] = log_variant(["wandb"], fixture_record("baseline"), tmp_path)
    assert not done.ok and "pip install 'harness[trackers]' or pip install wandb" in done.error
    assert "baseline: not logged to wandb" in caplog.text


def test_logging_imports_no_torch(tmp_path):
    """The run loop's process stays torch-free, though tensorboardX imports torch when it can.
    (mlflow and wandb import none either; they are left out here for the seconds they take.)"""
    if not installed("tensorboardX"):
        pytest.skip("the tensorboard tracker writes with tensorboardX (pip install 'harness[trackers]')")
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from harness.records.store import read_record
        from harness.track import log_variant
        [done] = log_variant(["tensorboard"], read_record(Path({str(DATA / "sft-dpo.json")!r})), {str(tmp_path)!r})
        assert done.ok, done
        assert "torch" not in sys.modules, "torch was imported"
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]
