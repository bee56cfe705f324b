"""`harness eval-adapters`: saved adapters of one base scored with the base loaded once give
the very scores and predictions of a fresh load per adapter (--separate), and bad folders
are refused up front, each named.

The adapters are built on the in-process tiny Llama with random non-zero weights (LoRA with
init_lora_weights=False, IA3 with init_ia3_weights=False, each from its own seed), so each
changes the model's outputs; an IA3 among the LoRAs makes the shared run hold two peft types
(one wrapper each, on the same load).
"""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from conftest import TINY_SUITE

from harness import models
from harness.cli import main
from harness.records.schema import Record
from harness.records.store import write_record
from harness.suite.adapters import adapter_name, base_check

# The tiny suite's model and d2t eval, with a multiple-choice eval and the drift probe; its
# methods and train block are not run: eval-adapters scores the adapters it is given.
SUITE = TINY_SUITE.replace("name: tiny", "name: adapters").replace(
    "threads: 1\n", "threads: 1\ndrift_probe: {prompts: 2, max_new_tokens: 6}\n") + """\
  - name: arithmetic
    kind: multiple_choice
    data: builtin:arithmetic
    limit: 6
    metrics: [acc]
"""


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def adapter_dirs(tmp_path_factory):
    """Two LoRAs and an IA3 of tiny-random-llama, random non-zero, saved as peft saves them."""
    from peft import IA3Config, LoraConfig, get_peft_model

    from harness.models.tiny import tiny_random_llama

    folder = tmp_path_factory.mktemp("adapters")
    configs = {
        "lora-a": (1, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                                 task_type="CAUSAL_LM")),
        "lora-b": (2, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "o_proj", "down_proj"],
                                 init_lora_weights=False, task_type="CAUSAL_LM")),
        "ia3": (3, IA3Config(target_modules=["k_proj", "v_proj", "down_proj"], feedforward_modules=["down_proj"],
                             init_ia3_weights=False, task_type="CAUSAL_LM")),
    }
    dirs = []
    for name, (seed, config) in configs.items():
        base, _ = tiny_random_llama()
        torch.manual_seed(seed)
        get_peft_model(base, config).save_pretrained(folder / name)
        dirs.append(str(folder / name))
    return dirs


def records(suite_dir):
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(suite_dir.glob("*/record.json"))}


def test_one_base_load_scores_exactly_as_a_load_per_adapter(write_suite, adapter_dirs, tmp_path, monkeypatch):
    suite = str(write_suite(SUITE))
    loads = []
    real_load = models.load
    monkeypatch.setattr(models, "load", lambda *a, **k: loads.append(a[0]) or real_load(*a, **k))

    shared = invoke("eval-adapters", suite, *adapter_dirs, "--results", str(tmp_path / "shared"))
    assert shared.exit_code == 0, shared.output
    assert len(loads) == 1
    assert "[4/4] ia3 (method ia3, seed 0) ..." in shared.output and "4 ok, 0 failed" in shared.output
    assert "leaderboard: leaderboards/adapters.html" in shared.output
    separate = invoke("eval-adapters", suite, *adapter_dirs, "--results", str(tmp_path / "separate"), "--separate")
    assert separate.exit_code == 0, separate.output
    assert len(loads) == 1 + 4  # the baseline's and each adapter's own

    one, each = records(tmp_path / "shared" / "adapters"), records(tmp_path / "separate" / "adapters")
    assert sorted(one) == sorted(each) and len(one) == 4  # the same ids: content and evals, not how they ran
    by_name = {r["name"]: r for r in one.values()}
    assert {n: r["method"] for n, r in by_name.items()} == {"baseline": "baseline", "lora-a": "lora", "lora-b": "lora",
                                                            "ia3": "ia3"}
    for vid, record in one.items():
        assert record["status"] == "ok" and each[vid]["status"] == "ok", (record["error"], each[vid]["error"])
        assert record["metrics"] == each[vid]["metrics"]
        assert record["drift"] == each[vid]["drift"]
        for ev in ("d2t", "arithmetic"):
            path = f"{vid}/predictions/{ev}.jsonl"
            assert (tmp_path / "shared/adapters" / path).read_bytes() == (tmp_path / "separate/adapters" / path).read_bytes()
        assert record["method_info"]["evaluated_on"]["shared_base"] is True
        assert each[vid]["method_info"]["evaluated_on"]["shared_base"] is False
        assert record["cost"]["eval_seconds"] > 0

    base_dir = tmp_path / "shared/adapters" / by_name["baseline"]["variant_id"]
    base_rows = (base_dir / "predictions/d2t.jsonl").read_text()
    for name in ("lora-a", "lora-b", "ia3"):
        record = by_name[name]
        assert record["cost"]["trainable_params"] > 0 and record["params"]["adapter"] == record["method_info"]["adapter"]["sha256"][:12]
        assert abs(record["drift"]["value"]) > 1e-3  # the adapter moved the model (an estimate: either sign)
        rows = (tmp_path / "shared/adapters" / record["variant_id"] / "predictions/d2t.jsonl").read_text()
        assert rows != base_rows
    assert abs(by_name["baseline"]["drift"]["value"]) < 1e-6  # disable_adapter() is the base itself

    again = invoke("eval-adapters", suite, *adapter_dirs, "--results", str(tmp_path / "shared"))
    assert again.exit_code == 0 and "0 ok, 0 failed, 4 skipped" in again.output and len(loads) == 5
    report = invoke("report", str(tmp_path / "shared" / "adapters"), "--format", "md")
    assert report.exit_code == 0 and all(name in report.output for name in ("lora-a", "lora-b", "ia3"))


def write_adapter(folder, **config):
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4, **config}))
    (folder / "adapter_model.safetensors").write_bytes(b"not read before every check passes")
    return str(folder)


def test_bad_folders_exit_2_each_named(write_suite, tmp_path):
    suite = str(write_suite(SUITE))
    empty = tmp_path / "no-config"
    empty.mkdir()
    prompt = write_adapter(tmp_path / "prompt", peft_type="PROMPT_TUNING")
    other = write_adapter(tmp_path / "other-base", base_model_name_or_path="Qwen/Qwen2.5-0.5B")
    result = invoke("eval-adapters", suite, str(empty), prompt, other, "--results", str(tmp_path / "r"))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "3 adapter folder(s) cannot be scored" in result.output
    assert f"{empty}: no adapter_config.json" in result.output
    assert f"{prompt}: peft_type PROMPT_TUNING is not an adapter" in result.output
    assert f"{other}: was made for 'Qwen/Qwen2.5-0.5B'" in result.output
    assert not (tmp_path / "r").exists()


def test_a_base_under_another_path_or_alias_is_a_warning(tmp_path):
    assert base_check("tiny-random-llama", "tiny-random-llama", tmp_path) == ("ok", "")
    assert base_check("HuggingFaceTB/SmolLM2-135M-Instruct", "smollm2-135m-instruct", tmp_path)[0] == "warn"
    assert base_check("/elsewhere/SmolLM2-135M-Instruct/", "smollm2-135m-instruct", tmp_path)[0] == "warn"
    assert base_check(None, "tiny-random-llama", tmp_path)[0] == "warn"
    assert base_check("HuggingFaceTB/SmolLM2-360M-Instruct", "smollm2-135m-instruct", tmp_path)[0] == "error"


def test_a_harness_weights_folder_is_named_by_its_variant_and_seed(tmp_path):
    record = Record(suite="s", variant_id="lora-r8-0123456789", name="lora-r8", model="m", method="lora", params={},
                    seed=3, status="ok")
    write_record(tmp_path / record.variant_id, record)
    assert adapter_name(tmp_path / record.variant_id / "weights") == "lora-r8-seed3"  # not lora-r8: that is the run's
    assert adapter_name(tmp_path / "my adapter (v2)") == "my-adapter-v2"
