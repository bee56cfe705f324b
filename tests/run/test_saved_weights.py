"""What `save: true` writes loads in the ecosystem and predicts what the harness evaluated;
`harness export` copies it, merges a LoRA into its base, and refuses what it cannot do.

One tiny suite (tiny-random-llama, two steps at a rate high enough to change its greedy
outputs) runs once for the module through the real CLI, with five saved variants. Each
saved folder is loaded the way a user would (peft, transformers, the harness's loader) onto
a freshly built base, and its greedy predictions on the eval are compared with those the
run recorded in predictions/d2t.jsonl: the very same text, and text different from the
baseline's (so a folder that loaded the untuned model would fail).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from harness.cli import main
from harness.evaluate.scoring import evaluate
from harness.models.tiny import tiny_random_llama
from harness.run import saved
from harness.suite.schema import EvalSpec

SUITE = """\
name: saved
model: tiny-random-llama
threads: 1
train:
  data: builtin:data2text
  limit: 8
  steps: 2
  batch_size: 2
  max_length: 128
  precision: fp32
  learning_rate: 0.01
  save: true
seeds: [0]
methods:
  - {name: full, method: full}
  - {name: freeze, method: freeze, params: {top_blocks: 1}}
  - {name: lora, method: lora, params: {r: 4, lora_alpha: 8}}
  - {name: adapter, method: adapter, params: {bottleneck: 8}}
  - {name: prompt, method: prompt_tuning, params: {num_virtual_tokens: 4}}
evals:
  - {name: d2t, data: builtin:data2text, split: test, limit: 4, max_new_tokens: 8, metrics: [rouge1]}
"""


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """{variant name: its folder} of one run of SUITE, every trained variant saved."""
    root = tmp_path_factory.mktemp("saved")
    (root / "suite.yaml").write_text(SUITE, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CACHE", str(root / "cache"))  # the CPU's peak is measured here, not in the user's cache
        result = invoke("run", str(root / "suite.yaml"), "--results", str(root / "results"))
    assert result.exit_code == 0, result.output
    return {json.loads(p.read_text())["name"]: p.parent for p in (root / "results" / "saved").glob("*/record.json")}


@pytest.fixture(autouse=True)
def _one_thread():
    """The run's workers computed on one thread (threads: 1): the same sums in the same order."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def recorded(folder: Path) -> list[str]:
    return [json.loads(line)["prediction"] for line in (folder / "predictions" / "d2t.jsonl").read_text().splitlines()]


def predictions(model, tokenizer, folder: Path) -> list[str]:
    """What the harness's generation eval predicts with this model, on the eval the run used."""
    record = json.loads((folder / "record.json").read_text())
    ev = EvalSpec.model_validate(record["spec"]["evals"][0])
    _, rows = evaluate(model.eval(), tokenizer, ev, Path("."))
    return [row["prediction"] for row in rows]


def assert_predicts_as_evaluated(model, tokenizer, folder: Path, baseline: Path) -> None:
    got = predictions(model, tokenizer, folder)
    assert got == recorded(folder)
    assert got != recorded(baseline)  # the tuned model, not the base


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lora", "prompt"])
def test_peft_variants_load_with_peft_from_pretrained(run, name):
    from peft import PeftModel
    from transformers import AutoTokenizer

    weights = run[name] / "weights"
    config = json.loads((weights / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "tiny-random-llama"  # a built-in made in memory: its name
    manifest = json.loads((weights / saved.MANIFEST).read_text())
    assert manifest["format"] == "peft" and manifest["model"] == "tiny-random-llama" and manifest["base"] is None
    model = PeftModel.from_pretrained(tiny_random_llama()[0], str(weights))
    assert_predicts_as_evaluated(model, AutoTokenizer.from_pretrained(weights), run[name], run["baseline"])
    record = json.loads((run[name] / "record.json").read_text())
    assert record["cost"]["saved_bytes"] == (weights / "adapter_model.safetensors").stat().st_size


@pytest.mark.slow
@pytest.mark.parametrize("name", ["full", "freeze"])
def test_whole_model_variants_load_with_transformers_alone(run, name):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    weights = run[name] / "weights"
    model = AutoModelForCausalLM.from_pretrained(weights)
    tokenizer = AutoTokenizer.from_pretrained(weights)
    assert tokenizer("Venue 1")["input_ids"] == tiny_random_llama()[1]("Venue 1")["input_ids"]
    assert_predicts_as_evaluated(model, tokenizer, run[name], run["baseline"])
    assert "AutoModelForCausalLM.from_pretrained" in (weights / "README.md").read_text()


@pytest.mark.slow
def test_bottleneck_adapters_load_with_their_loader(run):
    from transformers import AutoTokenizer

    from harness.methods.adapter import load_saved

    weights = run["adapter"] / "weights"
    model = load_saved(tiny_random_llama()[0], weights)
    assert_predicts_as_evaluated(model, AutoTokenizer.from_pretrained(weights), run["adapter"], run["baseline"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lora", "full", "adapter"])
def test_the_harness_loader_loads_every_format(run, name):
    model, tokenizer = saved.load(run[name] / "weights")
    assert_predicts_as_evaluated(model, tokenizer, run[name], run["baseline"])


@pytest.mark.slow
def test_export_merge_makes_a_plain_transformers_folder(run, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "merged"
    result = invoke("export", str(run["lora"]), str(out), "--merge")
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (a transformers folder, the adapter merged into the base" in result.output
    assert not (out / "adapter_config.json").exists() and (out / "model.safetensors").is_file()
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert_predicts_as_evaluated(merged, tokenizer, run["lora"], run["baseline"])
    adapted = PeftModel.from_pretrained(tiny_random_llama()[0], str(run["lora"] / "weights")).eval()
    batch = tokenizer(["name[The Salt Cellar] | area[harbour district]"], return_tensors="pt")
    with torch.no_grad():
        want, got = adapted(**batch).logits, merged(**batch).logits
    assert torch.allclose(got, want, rtol=0, atol=1e-5)
    assert not torch.equal(got, tiny_random_llama()[0](**batch).logits)  # the update is in the weights
    manifest = json.loads((out / saved.MANIFEST).read_text())
    assert manifest["format"] == "transformers" and manifest["merged_from"] == "lora"
    assert str(out) in manifest["load"]["transformers"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dora", "ia3"])
def test_export_merges_dora_and_ia3_too(run, tmp_path, name):
    """The lora variant's folder with a DoRA or IA3 adapter (random, non-zero) in its place."""
    from peft import IA3Config, LoraConfig, PeftModel, get_peft_model

    variant = tmp_path / "variant"
    shutil.copytree(run["lora"], variant)
    config = (LoraConfig(r=4, lora_alpha=8, use_dora=True, init_lora_weights=False, task_type="CAUSAL_LM") if name == "dora"
              else IA3Config(init_ia3_weights=False, task_type="CAUSAL_LM"))
    torch.manual_seed(3)
    get_peft_model(tiny_random_llama()[0], config).save_pretrained(variant / "weights")
    manifest = json.loads((variant / "weights" / saved.MANIFEST).read_text())
    (variant / "weights" / saved.MANIFEST).write_text(json.dumps({**manifest, "method": name}))
    result = invoke("export", str(variant), str(tmp_path / "out"), "--merge")
    assert result.exit_code == 0, result.output
    from transformers import AutoModelForCausalLM

    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "out").eval()
    adapted = PeftModel.from_pretrained(tiny_random_llama()[0], str(variant / "weights")).eval()
    batch = tiny_random_llama()[1](["name[Northwind] | food[Thai]"], return_tensors="pt")
    with torch.no_grad():
        want, got = adapted(**batch).logits, merged(**batch).logits
    assert torch.allclose(got, want, rtol=0, atol=1e-5)
    assert not torch.allclose(got, tiny_random_llama()[0](**batch).logits, rtol=0, atol=1e-3)


@pytest.mark.slow
def test_export_without_merge_copies_a_standalone_adapter_folder(run, tmp_path):
    from peft import PeftModel
    from transformers import AutoTokenizer

    out = tmp_path / "empty"
    out.mkdir()  # an empty folder is fine
    result = invoke("export", str(run["lora"] / "weights"), str(out))  # the weights folder itself is taken too
    assert result.exit_code == 0, result.output
    model = PeftModel.from_pretrained(tiny_random_llama()[0], str(out))
    assert_predicts_as_evaluated(model, AutoTokenizer.from_pretrained(out), run["lora"], run["baseline"])
    assert str(out) in (out / "README.md").read_text() and str(run["lora"]) not in (out / "README.md").read_text()


@pytest.mark.slow
def test_export_refuses_what_it_cannot_do(run, tmp_path):
    unsaved = tmp_path / "unsaved"
    shutil.copytree(run["lora"], unsaved, ignore=shutil.ignore_patterns("weights"))
    record = json.loads((unsaved / "record.json").read_text())
    for stage in record["spec"]["stages"]:
        stage["save"] = False
    (unsaved / "record.json").write_text(json.dumps(record))
    full = tmp_path / "full"
    (full / "x").mkdir(parents=True)
    quantized = tmp_path / "qlora"  # the lora variant's folder, its manifest saying qlora
    shutil.copytree(run["lora"], quantized)
    manifest = json.loads((quantized / "weights" / saved.MANIFEST).read_text())
    (quantized / "weights" / saved.MANIFEST).write_text(json.dumps({**manifest, "method": "qlora"}))
    cases = [
        ((str(tmp_path), str(tmp_path / "o1")), "no record.json, so not a variant's folder"),
        ((str(unsaved), str(tmp_path / "o2")), "was not saved: its train block has no `save: true`"),
        ((str(run["lora"]), str(full)), "exists and is not empty"),
        ((str(run["prompt"]), str(tmp_path / "o3"), "--merge"), "virtual tokens put before the input (PROMPT_TUNING)"),
        ((str(run["adapter"]), str(tmp_path / "o4"), "--merge"), "cannot be folded into the base's weights"),
        ((str(quantized), str(tmp_path / "o5"), "--merge"), "trained its adapter on a base stored in 4 bits"),
        ((str(run["baseline"]), str(tmp_path / "o6")), "was not trained"),
    ]
    for args, message in cases:
        result = invoke("export", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 7))


def test_a_linear_probe_loads_with_its_loader(tmp_path):
    from harness.methods import linear_probe
    from harness.methods.base import ApplyContext
    from harness.registry import METHODS

    method = METHODS.load("linear_probe")
    probe = method.apply(tiny_random_llama()[0], method.parse({"pooling": "last"}), ApplyContext(labels=("neg", "pos"))).model
    with torch.no_grad():
        probe.head.weight.mul_(3).add_(0.5)  # not the head a fresh probe would start with
    linear_probe.save(probe, tmp_path)
    loaded = linear_probe.load_saved(tiny_random_llama()[0], tmp_path)
    batch = tiny_random_llama()[1](["great food", "cold and late"], return_tensors="pt", padding=True)
    with torch.no_grad():
        want, got = probe(**batch).logits, loaded(**batch).logits
    assert torch.equal(got, want) and loaded.labels == ["neg", "pos"] and loaded.pooling == "last"


def test_a_model_read_from_gguf_is_saved_as_the_plain_model_it_is(tmp_path):
    from transformers import AutoModelForCausalLM

    model, _ = tiny_random_llama()
    flag = SimpleNamespace(quantization_config=SimpleNamespace(quant_method="gguf"))
    model.hf_quantizer, model.config.quantization_config = flag, {"quant_method": "gguf"}
    with pytest.raises(ValueError, match="not serializable"):  # what save_pretrained does with the flag
        model.save_pretrained(tmp_path / "refused")
    saved.save_whole(model, tmp_path / "plain")
    assert model.hf_quantizer is flag and model.config.quantization_config == {"quant_method": "gguf"}
    assert "quantization_config" not in json.loads((tmp_path / "plain" / "config.json").read_text())
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "plain")
    weights = load_file(str(tmp_path / "plain" / "model.safetensors"))
    assert all(torch.equal(weights[n], p) for n, p in model.state_dict().items() if n in weights)
    assert all(torch.equal(p, model.state_dict()[n]) for n, p in reloaded.state_dict().items())
