"""Weights & Biases: a variant logged offline from its record, read back from the run's .wandb
file (wandb's own protobuf records) and checked against the record."""

from __future__ import annotations

import json
import struct
import time

import pytest
from track_records import fixture_record

from harness.track import log_variant
from harness.track.content import describe
from harness.track.wandb_writer import logged_in, mode

wandb = pytest.importorskip("wandb", reason="the wandb tracker writes with wandb (pip install 'harness[trackers]')")


@pytest.fixture(autouse=True)
def offline_and_contained(tmp_path, monkeypatch):
    """No key, no login, wandb's own folders in tmp_path: nothing may reach the network or $HOME."""
    for name in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_DIR", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb-home" / name.lower()))


@pytest.fixture(scope="module", autouse=True)
def _service_ends():
    yield
    wandb.teardown()  # the wandb-core process one init started


def wandb_records(path):
    """The records of a .wandb file: LevelDB's log format (32 KiB blocks of chunks, each with a
    7-byte header) after wandb's 7-byte file header, each record a wandb_internal_pb2.Record."""
    from wandb.proto import wandb_internal_pb2

    data, block = path.read_bytes(), 32768
    assert data[:4] == b":W&B"
    pos, pending, out = 7, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0 or pos + 7 + length > len(data):  # the end of what is written so far
            break
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk  # full or first; middle or last
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            out.append(record)
    return out


def finished_records(path, seconds=30.0):
    """The records once the run's exit record is in: wandb-core writes the file in its own
    process, and finish() returns before it is all on disk (it is by the time the logging
    process exits)."""
    deadline = time.monotonic() + seconds
    while True:
        records = wandb_records(path)
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


def item_key(item):
    return "/".join(item.nested_key) if item.nested_key else item.key


def test_an_offline_run_holds_the_records_config_history_and_summary(tmp_path):
    record = fixture_record("sft-dpo")
    content = describe(record)
    [done] = log_variant(["wandb"], record, tmp_path)
    assert done.ok, done.error
    assert done.where.endswith("(offline)")
    [folder] = (tmp_path / "wandb").glob("offline-run-*")
    assert done.where.startswith(str(folder))
    [log] = folder.glob("run-*.wandb")
    records = finished_records(log)

    [run] = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert (run.project, run.run_group, run.display_name, run.job_type) == ("track", "track", "sft-dpo (seed 0)", "lora")
    config = {item_key(u): json.loads(u.value_json) for u in run.config.update if item_key(u) != "_wandb"}
    assert config == content.params

    history = {}
    for r in records:
        if r.WhichOneof("record_type") == "history":
            row = {item_key(i): json.loads(i.value_json) for i in r.history.item}
            history[row.pop("_step")] = {k: v for k, v in row.items() if not k.startswith("_")}
    assert sorted(history) == [step for step, _ in content.rows()]
    assert [(s, history[s]["train/loss"]) for s, _ in record.train_curve] == [(s, v) for s, v in record.train_curve]
    assert [(p["step"], history[p["step"]]["validation/loss"]) for p in record.validation_curve] == [
        (p["step"], p["loss"]) for p in record.validation_curve]
    assert [history[p["step"]]["preference/margin"] for p in record.preference_curve] == [
        p["margin"] for p in record.preference_curve]

    summary = {}
    for r in records:
        if r.WhichOneof("record_type") == "summary":
            summary.update({item_key(u): json.loads(u.value_json) for u in r.summary.update})
    for tag, value in content.finals.items():
        assert summary[tag] == value, tag
    score = record.metrics["faithful"]["reward_margin"]
    assert (summary["eval/faithful/reward_margin_ci_low"], summary["eval/faithful/reward_margin_n"]) == (score.ci_low, score.n)
    [exit_record] = [r.exit for r in records if r.WhichOneof("record_type") == "exit"]
    assert exit_record.exit_code == 0


def test_offline_unless_logged_in_or_asked(tmp_path, monkeypatch):
    assert not logged_in() and mode() == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert mode() == "disabled"
    monkeypatch.delenv("WANDB_MODE")
    (tmp_path / "netrc").write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert logged_in() and mode() == "online"
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert mode() == "online"


def test_wandb_dir_chooses_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "elsewhere"))
    [done] = log_variant(["wandb"], fixture_record("baseline"), tmp_path / "results")
    assert done.ok, done.error
    assert len(list((tmp_path / "elsewhere" / "wandb").glob("offline-run-*"))) == 1
    assert not (tmp_path / "results").exists()


def test_online_without_a_key_is_refused_not_prompted_for(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "online")
    [done] = log_variant(["wandb"], fixture_record("baseline"), tmp_path)
    assert not done.ok and "not logged in to W&B" in done.error
    assert not list((tmp_path / "wandb").glob("*run-*"))
