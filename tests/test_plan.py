"""The matrix, the layering of train settings, and the stability of variant ids."""

from __future__ import annotations

import shutil

from conftest import TINY_SUITE

from harness.suite.loading import load_suite
from harness.suite.plan import plan


def ids(path) -> dict[tuple[str, str, int], str]:
    return {(v.model, v.name, v.seed): v.id for v in plan(load_suite(path))}


def test_matrix_models_sweeps_seeds(write_suite, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    suite = TINY_SUITE.replace("model: tiny-random-llama", "model: [tiny-random-llama, ./m]").replace(
        "seeds: [0]", "seeds: [0, 1]").replace("params: {r: 4, lora_alpha: 8}", "sweep: {r: [2, 16]}")
    variants = plan(load_suite(write_suite(suite)))
    # per model: one baseline + (full + lora-r2 + lora-r16) x 2 seeds
    assert len(variants) == 2 * (1 + 3 * 2)
    names = sorted({v.name for v in variants})
    assert names == ["baseline", "full", "lora-r4-r16", "lora-r4-r2"]  # entry name + swept value
    assert {v.params.get("r") for v in variants if v.method == "lora"} == {2, 16}
    assert len({v.id for v in variants}) == len(variants)
    baseline = [v for v in variants if v.method == "baseline"]
    assert len(baseline) == 2 and all(v.stages == [] for v in baseline)


def test_train_settings_layer_in_order(write_suite):
    suite = TINY_SUITE.replace("    method: full\n", "    method: full\n  - name: full-fast\n    method: full\n    train: {learning_rate: 0.01}\n", 1)
    by_name = {v.name: v for v in plan(load_suite(write_suite(suite)))}
    assert by_name["full"].stages[0].learning_rate == 2.0e-5  # full's own default: no lr in the suite
    assert by_name["lora-r4"].stages[0].learning_rate == 2.0e-4  # lora's own default
    assert by_name["full-fast"].stages[0].learning_rate == 0.01  # the entry's override
    assert by_name["full"].stages[0].steps == 2  # the suite's train block
    suite_lr = load_suite(write_suite(TINY_SUITE.replace("steps: 2", "steps: 2\n  learning_rate: 0.5")))
    assert {v.stages[0].learning_rate for v in plan(suite_lr) if v.stages} == {0.5}  # suite beats method defaults


def test_sweep_over_a_train_field(write_suite):
    suite = TINY_SUITE.replace("params: {r: 4, lora_alpha: 8}", "sweep: {learning_rate: [0.001, 0.01]}")
    lora = [v for v in plan(load_suite(write_suite(suite))) if v.method == "lora"]
    assert sorted(v.stages[0].learning_rate for v in lora) == [0.001, 0.01]
    assert sorted(v.name for v in lora) == ["lora-r4-learning_rate0.001", "lora-r4-learning_rate0.01"]


def test_ids_are_stable_and_portable(write_suite, tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text("".join(f'{{"input": "in {i}", "output": "out {i}"}}\n' for i in range(8)))
    suite = TINY_SUITE.replace("builtin:data2text\n  limit", "data.jsonl\n  limit")
    first = ids(write_suite(suite))
    assert ids(write_suite(suite)) == first  # same inputs, same ids
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(data, other / "data.jsonl")
    (other / "suite.yaml").write_text((tmp_path / "suite.yaml").read_text())
    assert ids(other / "suite.yaml") == first  # a copy in another folder: same ids (no absolute paths)


def test_ids_change_when_anything_that_matters_changes(write_suite, tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text('{"input": "a", "output": "b"}\n{"input": "c", "output": "d"}\n')
    suite = TINY_SUITE.replace("builtin:data2text\n  limit", "data.jsonl\n  limit")
    base = ids(write_suite(suite))
    changed_lr = ids(write_suite(suite.replace("lora_alpha: 8", "lora_alpha: 9")))
    assert changed_lr[("tiny-random-llama", "lora-r4", 0)] != base[("tiny-random-llama", "lora-r4", 0)]
    assert changed_lr[("tiny-random-llama", "full", 0)] == base[("tiny-random-llama", "full", 0)]
    data.write_text('{"input": "a", "output": "b"}\n{"input": "c", "output": "e"}\n')  # one byte of training data
    changed_data = ids(write_suite(suite))
    assert changed_data[("tiny-random-llama", "full", 0)] != base[("tiny-random-llama", "full", 0)]
    assert changed_data[("tiny-random-llama", "baseline", 0)] == base[("tiny-random-llama", "baseline", 0)]  # it reads no train data
    templated = ids(write_suite(suite.replace("  precision: fp32", '  precision: fp32\n  template: "Q: {{input}} ||| {{output}}"')))
    assert templated[("tiny-random-llama", "full", 0)] != base[("tiny-random-llama", "full", 0)]
    more_steps = ids(write_suite(suite.replace("steps: 2", "steps: 3")))
    assert more_steps[("tiny-random-llama", "lora-r4", 0)] != base[("tiny-random-llama", "lora-r4", 0)]


def test_where_and_how_a_variant_runs_stay_out_of_its_id(write_suite):
    """Resources and distribution are placement, and settings at "auto" are the hardware's
    choice: none changes an id; a dtype or an optimizer named explicitly does."""
    base = ids(write_suite(TINY_SUITE))
    placed = TINY_SUITE.replace("seeds: [0]", "seeds: [0]\nresources: {gpus: 2, gpu_memory: 20GiB}\n"
                                "distributed: {strategy: fsdp, reshard_after_forward: true}\nload_dtype: auto")
    assert ids(write_suite(placed)) == base
    entry = TINY_SUITE.replace("    method: full\n", "    method: full\n    resources: {gpus: 4}\n    train: {optimizer: auto}\n")
    assert ids(write_suite(entry)) == base
    bf16 = ids(write_suite(TINY_SUITE.replace("seeds: [0]", "seeds: [0]\nload_dtype: bf16")))
    assert all(bf16[k] != base[k] for k in base)
    sgd = ids(write_suite(TINY_SUITE.replace("  precision: fp32", "  precision: fp32\n  optimizer: sgd")))
    assert sgd[("tiny-random-llama", "full", 0)] != base[("tiny-random-llama", "full", 0)]
    assert sgd[("tiny-random-llama", "baseline", 0)] == base[("tiny-random-llama", "baseline", 0)]


def test_placement_reaches_the_variants(write_suite):
    suite = TINY_SUITE.replace("seeds: [0]", "seeds: [0]\nresources: {gpu_memory: 512MB}").replace(
        "    method: full\n", "    method: full\n    resources: {gpus: 2}\n    distributed: {strategy: ddp}\n")
    found = {v.name: v for v in plan(load_suite(write_suite(suite)))}
    assert found["full"].world_size == 2 and found["full"].distributed.strategy == "ddp"
    assert found["full"].resources.gpu_memory is None  # the entry's block replaces the suite's whole
    assert found["lora-r4"].resources.gpu_memory_bytes == 512 * 10**6 and found["lora-r4"].world_size == 1
    assert found["baseline"].resources.gpu_memory_bytes == 512 * 10**6


def test_supervised_ids_stay_as_they_were_before_preference_settings(write_suite):
    """Ids computed by the harness before stages had an objective (copied from its output):
    the new settings stay out of a supervised stage's id, so no record is recomputed."""
    assert {name: i for (_, name, _), i in ids(write_suite(TINY_SUITE)).items()} == {
        "baseline": "baseline-7f6240c3fa", "full": "full-c8f36c5ad0", "lora-r4": "lora-r4-5babc54614"}


def test_preference_settings_are_part_of_a_dpo_stages_id(write_suite):
    dpo = TINY_SUITE.replace("  data: builtin:data2text\n  limit: 16", "  data: builtin:faithfulness\n  objective: dpo\n  limit: 16")
    first = ids(write_suite(dpo))
    assert ids(write_suite(dpo.replace("objective: dpo", "objective: dpo\n  beta: 0.2"))) != first
    assert ids(write_suite(dpo.replace("objective: dpo", "objective: dpo\n  loss_type: ipo"))) != first
