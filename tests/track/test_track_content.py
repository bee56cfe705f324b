"""What a tracker logs of a record (harness/track/content.py), against the record's own numbers."""

from __future__ import annotations

import json

from track_records import fixture_record

from harness.track.content import describe


def test_curves_keep_the_records_steps_and_split_the_stages():
    record = fixture_record("sft-dpo")
    content = describe(record)
    assert content.curves["train/loss"] == [(int(s), v) for s, v in record.train_curve]
    sft_steps, dpo_steps = (st["steps"] for st in record.method_info["stages"])
    assert [s for s, _ in content.curves["train/stage1/loss"]] == list(range(1, sft_steps + 1))
    assert [s for s, _ in content.curves["train/stage2/loss"]] == list(range(sft_steps + 1, sft_steps + dpo_steps + 1))
    assert content.curves["validation/loss"] == [(int(p["step"]), p["loss"]) for p in record.validation_curve]
    for key in ("chosen_reward", "rejected_reward", "margin", "accuracy"):
        assert content.curves[f"preference/{key}"] == [(p["step"], p[key]) for p in record.preference_curve]


def test_one_stage_and_no_training_log_no_stage_curves():
    baseline = describe(fixture_record("baseline"))
    assert not any(tag.startswith(("train/", "validation/", "preference/")) for tag in baseline.curves)
    one = fixture_record("sft-dpo")
    one.method_info["stages"] = one.method_info["stages"][:1]
    assert [tag for tag in describe(one).curves if tag.startswith("train/")] == ["train/loss"]


def test_rows_merge_the_curves_by_step_in_order():
    content = describe(fixture_record("sft-dpo"))
    rows = content.rows()
    steps = [step for step, _ in rows]
    assert steps == sorted(set(steps)) and steps[0] == 0  # the validation check before the first step
    by_step = dict(rows)
    for tag, points in content.curves.items():
        for step, value in points:
            assert by_step[step][tag] == value


def test_finals_are_each_score_with_its_interval_and_n_then_drift_and_costs():
    record = fixture_record("sft-dpo")
    finals = describe(record).finals
    for ev, scores in record.metrics.items():
        for metric, score in scores.items():
            tag = f"eval/{ev}/{metric}"
            assert (finals[tag], finals[f"{tag}_ci_low"], finals[f"{tag}_ci_high"], finals[f"{tag}_n"]) == (
                score.value, score.ci_low, score.ci_high, score.n)
    assert finals["drift/kl"] == record.drift["value"] and finals["drift/kl_n"] == record.drift["n"]
    assert finals["cost/train_seconds"] == record.cost.train_seconds
    assert finals["cost/peak_memory_bytes"] == record.cost.peak_memory_bytes
    assert finals["cost/trainable_params"] == record.cost.trainable_params
    assert finals["cost/tokens_per_second"] == record.cost.tokens_per_second
    assert finals["cost/train_flops"] == record.cost.train_flops
    assert "cost/saved_bytes" not in finals  # None: nothing to log
    assert describe(record).scores() == {f"eval/{ev}/{m}": s.value for ev, ss in record.metrics.items() for m, s in ss.items()}


def test_params_are_the_resolved_spec_flattened():
    record = fixture_record("sft-dpo")
    params = describe(record).params
    assert params["suite"] == "track" and params["variant_id"] == record.variant_id and params["seed"] == 0
    assert params["method"] == "lora" and params["model"] == "tiny-random-llama" and params["label"] == "sft-dpo (seed 0)"
    assert params["params.r"] == 4 and params["params.lora_alpha"] == 8.0
    assert params["stages.0.learning_rate"] == 0.01 and params["stages.0.validation.every"] == 2
    assert params["stages.1.objective"] == "dpo" and params["stages.1.validation"] == "null"
    assert json.loads(params["evals.0.metrics"]) == ["rouge1", "rougeL"]
    assert params["env.harness"] == record.env["harness"] and params["env.git_commit"] == "null" and params["dtypes.compute"] == "fp32"
    assert params["cost.peak_memory_source"] == "rss"
    assert not any(key.startswith("fingerprints") for key in params)
    assert all(isinstance(v, (str, int, float, bool)) for v in params.values())
