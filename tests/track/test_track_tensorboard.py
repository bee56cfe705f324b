"""TensorBoard: a variant logged from its record, read back with TensorBoard's own reader."""

from __future__ import annotations

import pytest
from track_records import fixture_record, installed

from harness.track import log_variant
from harness.track.content import describe

pytestmark = pytest.mark.skipif(not installed("tensorboardX"), reason="the tensorboard tracker writes with tensorboardX "
                                                                      "(pip install 'harness[trackers]')")
event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator", reason="reading event files back needs tensorboard")


def read(folder):
    events = event_accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


def scalars(events, tag):
    return [(e.step, e.value) for e in events.Scalars(tag)]


def test_curves_scores_and_hparams_read_back_equal_the_record(tmp_path):
    record = fixture_record("sft-dpo")
    [done] = log_variant(["tensorboard"], record, tmp_path)
    folder = tmp_path / "tensorboard" / "track" / record.variant_id
    assert done.ok and done.where == str(folder)
    events = read(folder)
    assert scalars(events, "train/loss") == [(s, pytest.approx(v, rel=1e-6)) for s, v in record.train_curve]
    assert [s for s, _ in scalars(events, "train/stage2/loss")] == [5, 6, 7]
    assert scalars(events, "validation/loss") == [(int(p["step"]), pytest.approx(p["loss"], rel=1e-6))
                                                  for p in record.validation_curve]
    assert scalars(events, "preference/margin") == [(p["step"], pytest.approx(p["margin"], rel=1e-6, abs=1e-9))
                                                    for p in record.preference_curve]
    score = record.metrics["faithful"]["reward_margin"]
    for suffix, expected in (("", score.value), ("_ci_low", score.ci_low), ("_ci_high", score.ci_high), ("_n", score.n)):
        assert scalars(events, f"eval/faithful/reward_margin{suffix}") == [(0, pytest.approx(expected, rel=1e-6))]
    assert scalars(events, "cost/train_seconds") == [(0, pytest.approx(record.cost.train_seconds, rel=1e-6))]
    assert scalars(events, "drift/kl") == [(0, pytest.approx(record.drift["value"], rel=1e-6))]

    from tensorboard.plugins.hparams import plugin_data_pb2

    sessions = []
    for content in events.PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        if data.HasField("session_start_info"):
            sessions.append(data.session_start_info.hparams)
        elif data.HasField("experiment"):
            assert {m.name.tag for m in data.experiment.metric_infos} == set(describe(record).scores())
    [hparams] = sessions
    assert hparams["method"].string_value == "lora" and hparams["params.r"].number_value == 4
    assert hparams["stages.1.objective"].string_value == "dpo" and hparams["variant_id"].string_value == record.variant_id


def test_logging_again_replaces_the_variants_run(tmp_path):
    record = fixture_record("baseline")
    for _ in range(2):
        [done] = log_variant(["tensorboard"], record, tmp_path)
        assert done.ok
    folder = tmp_path / "tensorboard" / "track" / record.variant_id
    assert len(list(folder.glob("events.out.tfevents.*"))) == 1 and [p.name for p in folder.iterdir() if p.is_dir()] == []
    assert scalars(read(folder), "eval/d2t/rouge1") == [(0, pytest.approx(record.metrics["d2t"]["rouge1"].value))]


def test_a_variant_id_that_cannot_be_a_folder_is_refused_not_followed(tmp_path, caplog):
    record = fixture_record("baseline")
    record.variant_id = "../../outside"
    [done] = log_variant(["tensorboard"], record, tmp_path / "results")
    assert not done.ok and "cannot name a folder" in done.error
    assert not (tmp_path / "outside").exists() and "not logged to tensorboard" in caplog.text
