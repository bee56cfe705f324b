"""Checkpoints: a variant killed mid-training resumes on its rerun and ends where an unbroken
run ends, exactly (fp32, a CPU, one thread).

How the runs are made: the worker's run_variant on tiny-random-llama variants planned from a
suite, each in its own folder as `harness run` gives it. A kill is either real (a child forked
from this process runs the variant and SIGKILLs itself in the middle of a save, after the new
checkpoint is written into its partial folder and before the rename that publishes it, the
worst moment a kill can land) or, where the point is what resumes rather than how it died, an
exception raised at that same moment, which run_variant does not catch. Either way the rerun
must find the previous checkpoint whole, ignore the half-saved one, and reproduce the loss
curve with ==. Dropout (LoRA's lora_dropout) makes the random state part of what must resume.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
import torch

from harness.run.worker import run_variant
from harness.suite.loading import load_suite
from harness.suite.plan import plan
from harness.train import checkpoint

SUITE = """\
name: ckpt
model: tiny-random-llama
threads: 1
train:
  data: builtin:data2text
  limit: 16
  steps: 8
  batch_size: 2
  max_length: 128
  precision: fp32
  learning_rate: 1.0e-3
  checkpoint_every: 3
methods:
  - {name: lora, method: lora, params: {r: 4, lora_alpha: 8, lora_dropout: 0.1}}
  - name: full
    method: full
    train:
      grad_accum: 2
      learning_rate: 3.0e-2  # high: the best check is step 3's, made before the checkpoint resumed from
      checkpoint_every: 2
      keep_checkpoints: true
      validation: {every: 3, data: builtin:data2text, split: test, limit: 2}
      select_best: loss
  - name: staged
    method: ulmfit
    stages: [{steps: 4}, {steps: 6, learning_rate: 5.0e-4}]
    train: {checkpoint_every: 2}
  - name: sft-dpo
    method: lora
    params: {r: 4, lora_alpha: 8, lora_dropout: 0.1}
    stages: [{steps: 4}, {steps: 6, objective: dpo, data: builtin:faithfulness, learning_rate: 1.0e-2}]
    train: {checkpoint_every: 2}
evals:
  - name: d2t
    data: builtin:data2text
    split: test
    limit: 2
    max_new_tokens: 3
    metrics: [rouge1]
"""


class Interrupted(BaseException):
    """Stands for a kill: run_variant records exceptions, not this, so nothing is written after it."""


@pytest.fixture(autouse=True)
def _threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)  # run_variant pins the suite's one thread


@pytest.fixture
def variants(write_suite):
    return {v.name: v for v in plan(load_suite(write_suite(SUITE)))}


def interrupt_at_save(monkeypatch, n: int, kill=None) -> None:
    """The n-th save is cut short after its partial folder is written, before it is published."""
    calls = []
    publish = checkpoint._publish

    def cut(partial: Path, final: Path) -> None:
        calls.append(final)
        if len(calls) == n:
            if kill is not None:
                kill()
            raise Interrupted
        publish(partial, final)

    monkeypatch.setattr(checkpoint, "_publish", cut)


def broken_and_unbroken(variant, tmp_path: Path, monkeypatch, saves: int):
    """(an uninterrupted run's record, the record of a run stopped at its `saves`-th save and
    run again, the folder of the latter)."""
    reference = run_variant(variant, tmp_path / "unbroken")
    assert reference.status == "ok", reference.error
    directory = tmp_path / "killed"
    interrupt_at_save(monkeypatch, saves)
    with pytest.raises(Interrupted):
        run_variant(variant, directory)
    monkeypatch.undo()
    resumed = run_variant(variant, directory)
    assert resumed.status == "ok", resumed.error
    return reference, resumed, directory


def step_folders(directory: Path) -> list[str]:
    return sorted(p.name for p in (directory / checkpoint.FOLDER).iterdir())


def test_lora_killed_by_sigkill_mid_save_resumes_to_the_unbroken_curve(variants, tmp_path, monkeypatch):
    variant = variants["lora"]
    reference = run_variant(variant, tmp_path / "unbroken")
    assert reference.status == "ok", reference.error
    assert not (tmp_path / "unbroken" / checkpoint.FOLDER).exists()  # removed once the record was written

    directory = tmp_path / "killed"
    interrupt_at_save(monkeypatch, 2, kill=lambda: os.kill(os.getpid(), signal.SIGKILL))
    pid = os.fork()
    if pid == 0:  # the child: runs the variant until it kills itself, mid-save at step 6
        try:
            run_variant(variant, directory)
        finally:
            os._exit(3)  # only if it was not killed
    _, status = os.waitpid(pid, 0)
    monkeypatch.undo()
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert not (directory / "record.json").exists()
    folders = step_folders(directory)
    assert folders[-1] == "step-00000003" and folders[0].startswith(checkpoint.PARTIAL + "step-00000006")

    torch.manual_seed(99)  # whatever state this process is in, the checkpoint's random states win
    resumed = run_variant(variant, directory)
    assert resumed.status == "ok", resumed.error
    assert resumed.train_curve == reference.train_curve  # ==, every step
    assert [s for s, _ in resumed.train_curve] == list(range(1, 9))
    assert resumed.method_info["resumed_from_checkpoint"] == [3]
    assert resumed.method_info["stages"][0]["events"] == [(3, checkpoint.RESUMED)]
    assert resumed.metrics["d2t"]["rouge1"].value == reference.metrics["d2t"]["rouge1"].value
    assert not (directory / checkpoint.FOLDER).exists()


def test_full_fine_tuning_with_select_best_resumes_exactly_and_keeps_its_checkpoint(variants, tmp_path, monkeypatch):
    # stopped at step 6's save; the last whole checkpoint is step 4's
    reference, resumed, directory = broken_and_unbroken(variants["full"], tmp_path, monkeypatch, 3)
    assert resumed.train_curve == reference.train_curve
    assert resumed.validation_curve == reference.validation_curve  # checks at 0, 3, 6 and 8
    info, ref = resumed.method_info["stages"][0], reference.method_info["stages"][0]
    assert info["best_step"] == ref["best_step"] == 3  # the best check and its weights came through the checkpoint
    assert info["events"] == [(4, checkpoint.RESUMED)] and resumed.method_info["resumed_from_checkpoint"] == [4]
    assert resumed.metrics["d2t"]["rouge1"].value == reference.metrics["d2t"]["rouge1"].value
    assert step_folders(directory) == ["step-00000008"]  # keep_checkpoints: the last one stays
    assert step_folders(tmp_path / "unbroken") == ["step-00000008"]


def test_staged_ulmfit_resumes_in_its_second_stage(variants, tmp_path, monkeypatch):
    """Gradual unfreezing (requires_grad changes as it goes), slanted triangular rates and a
    second stage: stage 1's result comes from the checkpoint, stage 2 resumes after step 6."""
    # stopped at step 8's save: steps 2 and 4 (stage 1) and 6 (stage 2) were saved whole
    reference, resumed, directory = broken_and_unbroken(variants["staged"], tmp_path, monkeypatch, 4)
    assert resumed.train_curve == reference.train_curve
    first, second = resumed.method_info["stages"]
    ref_first, ref_second = reference.method_info["stages"]
    assert first == ref_first  # restored whole from the checkpoint, unfreezing events included
    # gradual unfreezing over 10 steps and 4 groups: the head at 1, then a group at 4, 7 and 10
    assert [s for s, _ in first["events"]] == [1, 4] and [s for s, _ in ref_second["events"]] == [7, 10]
    assert second == {**ref_second, "events": [(6, checkpoint.RESUMED), *ref_second["events"]]}
    assert resumed.method_info["resumed_from_checkpoint"] == [6]
    assert resumed.metrics["d2t"]["rouge1"].value == reference.metrics["d2t"]["rouge1"].value


def test_sft_then_dpo_resumes_in_its_dpo_stage_with_the_post_sft_reference(variants, tmp_path, monkeypatch):
    """The DPO stage's reference is a copy of the adapters SFT left; a rerun starts from the
    fresh model, so the copy must come back from the checkpoint (step 6's), or the rewards
    and losses after it would be measured against the wrong model."""
    reference, resumed, _ = broken_and_unbroken(variants["sft-dpo"], tmp_path, monkeypatch, 4)
    assert resumed.train_curve == reference.train_curve
    assert resumed.preference_curve == reference.preference_curve
    assert any(p["margin"] != 0 for p in reference.preference_curve)  # it moved off its reference
    assert resumed.method_info["resumed_from_checkpoint"] == [6]
    assert resumed.method_info["stages"][1]["reference"]["kind"] == "weights at stage start"


def test_a_checkpoint_of_another_variant_is_not_loaded(variants, tmp_path, monkeypatch, write_suite):
    variant = variants["lora"]
    interrupt_at_save(monkeypatch, 2)
    with pytest.raises(Interrupted):
        run_variant(variant, tmp_path / "a")
    monkeypatch.undo()
    other = {v.name: v for v in plan(load_suite(write_suite(SUITE.replace("1.0e-3", "2.0e-3"), "b.yaml")))}["lora"]
    assert other.id != variant.id
    shutil.copytree(tmp_path / "a" / checkpoint.FOLDER, tmp_path / "b" / checkpoint.FOLDER)
    record = run_variant(other, tmp_path / "b")
    assert record.status == "ok", record.error
    assert "resumed_from_checkpoint" not in record.method_info and "events" not in record.method_info["stages"][0]
    assert [s for s, _ in record.train_curve] == list(range(1, 9))


def test_a_checkpoint_is_found_by_its_fingerprint_alone(tmp_path):
    stages = [{"learning_rate": 1e-3, "checkpoint_every": 3, "keep_checkpoints": False}]
    fp = checkpoint.fingerprint("v-1", stages, world=1)
    assert checkpoint.fingerprint("v-1", [{**stages[0], "checkpoint_every": 5, "keep_checkpoints": True}], 1) == fp
    assert checkpoint.fingerprint("v-1", [{**stages[0], "learning_rate": 2e-3}], 1) != fp  # a rate a search chose
    assert checkpoint.fingerprint("v-2", stages, 1) != fp and checkpoint.fingerprint("v-1", stages, 2) != fp
    saver = checkpoint.Checkpoints(tmp_path, fp)
    assert saver.state is None
    saver.save(3, {"done": 3, "weights": {"w": torch.ones(2)}})
    saver.save(6, {"done": 6, "weights": {"w": torch.zeros(2)}})
    assert step_folders(tmp_path) == ["step-00000006"]  # only the newest is kept
    found = checkpoint.Checkpoints(tmp_path, fp).state
    assert found is not None and found["step"] == 6 and torch.equal(found["weights"]["w"], torch.zeros(2))
    assert checkpoint.Checkpoints(tmp_path, "another").state is None


def test_several_processes_are_refused_before_loading_anything(variants, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    record = run_variant(variants["lora"], tmp_path / "ddp")
    assert record.status == "failed"
    assert record.error.startswith("HarnessError: checkpoint_every resumes training in one process only")


def test_checkpoint_settings_are_checked_at_load_time_and_stay_out_of_the_id(write_suite):
    from harness.errors import SuiteError

    base = {v.name: v.id for v in plan(load_suite(write_suite(SUITE.replace("  checkpoint_every: 3\n", ""), "a.yaml")))}
    assert {v.name: v.id for v in plan(load_suite(write_suite(SUITE, "b.yaml")))} == base
    with pytest.raises(SuiteError) as err:
        load_suite(write_suite(SUITE.replace("checkpoint_every: 3", "checkpoint_every: 0"), "c.yaml"))
    assert "train.checkpoint_every" in str(err.value)
    timed = SUITE.replace("  steps: 8\n", "  budget: {seconds: 60}\n").replace("  checkpoint_every: 3\n", "")
    with pytest.raises(SuiteError) as err:
        load_suite(write_suite(timed, "d.yaml"))
    assert "methods[1].train" in str(err.value) and "seconds budget" in str(err.value)


@pytest.mark.slow
def test_a_worker_process_killed_from_outside_resumes_to_the_unbroken_curve(variants, tmp_path):
    """The real entry point (`python -m harness.run.worker DIR`, as `harness run` starts it),
    SIGKILLed by another process at whatever step it has reached once a checkpoint exists."""
    import subprocess
    import sys
    import time

    from harness.run.launch import VARIANT_FILE

    long = variants["lora"].model_copy(update={"stages": [variants["lora"].stages[0].model_copy(update={"steps": 120})]})
    reference = run_variant(long, tmp_path / "unbroken")
    assert reference.status == "ok", reference.error
    directory = tmp_path / "killed"
    directory.mkdir()
    (directory / VARIANT_FILE).write_text(long.model_dump_json(), encoding="utf-8")
    with open(tmp_path / "log.txt", "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "harness.run.worker", str(directory)], stdout=log, stderr=log)
        deadline = time.monotonic() + 300
        while not list((directory / checkpoint.FOLDER).glob("step-*")) and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
        assert worker.wait() == -signal.SIGKILL, (tmp_path / "log.txt").read_text()
    assert not (directory / "record.json").exists(), "the worker ended before it was killed"
    resumed = run_variant(long, directory)
    assert resumed.status == "ok", resumed.error
    (at,) = resumed.method_info["resumed_from_checkpoint"]
    assert at % 3 == 0 and 3 <= at < 120
    assert resumed.train_curve == reference.train_curve
