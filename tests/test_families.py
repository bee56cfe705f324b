"""Encoder classifiers and encoder-decoders: family detection, validation, the tiny models'
smoke suites (every method ok, exact parameter counts), generation on an encoder-decoder,
and the leaderboard of a classification suite."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import ROOT

from harness.cli import main
from harness.models import family, offline_family
from harness.models.family import family_of_config


def test_family_of_config_reads_architectures():
    assert family_of_config({"architectures": ["LlamaForCausalLM"]}) == "causal"
    assert family_of_config({"architectures": ["GPT2LMHeadModel"]}) == "causal"
    assert family_of_config({"architectures": ["BertModel"], "model_type": "bert"}) == "encoder"
    assert family_of_config({"architectures": ["T5ForConditionalGeneration"], "is_encoder_decoder": True}) == "seq2seq"
    assert family_of_config({"model_type": "roberta"}) == "encoder" and family_of_config({"model_type": "llama"}) == "causal"


def test_families_of_builtin_and_local_models(tmp_path):
    assert [offline_family(m, tmp_path) for m in ("tiny-random-llama", "tiny-random-bert", "tiny-random-t5", "minilm-l6")] == \
        ["causal", "encoder", "seq2seq", "encoder"]
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps({"architectures": ["BertForMaskedLM"], "model_type": "bert"}))
    assert offline_family("m", tmp_path) == "encoder" and family("m", tmp_path) == "encoder"
    assert offline_family("org/some-model", tmp_path) is None  # a hub id: not known offline


def test_validation_knows_what_an_encoder_and_an_encoder_decoder_can_do(write_suite):
    suite = write_suite("""\
        name: bad
        model: tiny-random-bert
        train: {data: builtin:sentiment, template: "{{text}} |||", steps: 2}
        methods: [{method: full}]
        evals:
          - {name: gen, data: builtin:data2text, metrics: [rouge1]}
        """)
    result = CliRunner().invoke(main, ["validate", str(suite)])
    assert result.exit_code == 2
    assert "methods[0].train.label: full trains the encoder as a classifier: set train.label" in result.output
    assert "evals[0].kind: a encoder model cannot be scored by a generation eval; its evals are classification" in result.output
    suite = write_suite("""\
        name: bad2
        model: tiny-random-t5
        evals:
          - {name: mc, kind: multiple_choice, data: builtin:arithmetic, metrics: [acc]}
        """, "bad2.yaml")
    result = CliRunner().invoke(main, ["validate", str(suite)])
    assert result.exit_code == 2 and "a seq2seq model cannot be scored by a multiple_choice eval; its evals are generation" in result.output


def run_suite(name: str, tmp_path) -> dict[str, dict]:
    result = CliRunner().invoke(main, ["run", str(ROOT / "suites" / f"{name}.yaml"), "--results", str(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = {r["name"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / name).glob("*/record.json"))}
    assert all(r["status"] == "ok" for r in records.values()), {n: r["error"] for n, r in records.items()}
    return records


@pytest.mark.slow
def test_encoder_smoke_suite_every_method_trains_the_classifier(tmp_path):
    records = run_suite("smoke-encoder", tmp_path)
    trainable = {name: r["cost"]["trainable_params"] for name, r in records.items()}
    # tiny-random-bert, 120,898 parameters: embeddings 49,664 (260 + 512 positions + 2 types, x64, LayerNorm),
    # a block 33,472 (q, k, v, o 4x4,160; 64->128 8,320; 128->64 8,256; two LayerNorms 256), pooler 4,160,
    # classifier 64x2+2 = 130
    assert trainable == {
        "baseline": 0,
        "full": 120_898, "ulmfit": 120_898,
        "freeze-top1": 33_472 + 4_160 + 130,  # the top block and the head (pooler, classifier)
        "lora-r8": 2 * (4 * 8 * 128 + 2 * 8 * 192) + 8 * 128 + 130,  # r=8 on every linear layer, the classifier whole
        "ia3": 2 * (64 + 64 + 64 + 128) + 130,  # key, value, attention output; the feed-forward output scales its 128 inputs
        "adapter": 4 * (64 * 16 + 16 + 16 * 64 + 64) + 4_160 + 130,  # four 64-16-64 adapters and the new head
        "probe": 130,  # a linear head 64 -> 2 on frozen features
    }
    assert records["freeze-top1"]["method_info"]["trainable_groups"] == ["block 1", "head"]
    assert records["ulmfit"]["method_info"]["stages"][0]["events"][0][1] == "unfroze head"
    page = CliRunner().invoke(main, ["report", str(tmp_path / "smoke-encoder"), "--format", "md"])
    assert "accuracy (0-1)" in page.output and "macro_f1 (0-1)" in page.output
    assert "drift" not in page.output and "### Cost" in page.output  # a classifier has no drift column
    for name, r in records.items():
        assert r["drift"] is None  # the drift probe samples a decoder's text
        scores = r["metrics"]["reviews"]
        assert scores["accuracy"]["predicted_by"] == "head" and scores["accuracy"]["n"] == 40
        if name != "baseline":
            curve = [loss for _, loss in r["train_curve"]]
            assert min(curve[-5:]) < curve[0], name


@pytest.mark.slow
def test_seq2seq_smoke_suite_trains_both_stacks(tmp_path):
    records = run_suite("smoke-seq2seq", tmp_path)
    info = records["freeze-top2"]["method_info"]
    assert info["trainable_groups"] == ["block 2", "block 3", "head"] and info["frozen_blocks"] == 2  # 2 encoder + 2 decoder blocks
    assert records["lora-r8"]["method_info"]["peft_type"] == "LORA"
    # 8 virtual tokens of width 64 for each of the two stacks (peft's num_transformer_submodules=2)
    assert records["prompt-tuning"]["cost"]["trainable_params"] == 2 * 8 * 64
    assert records["full"]["cost"]["trainable_params"] == records["full"]["cost"]["total_params"]
    for name, r in records.items():
        if name != "baseline":
            curve = [loss for _, loss in r["train_curve"]]
            assert min(curve[-5:]) < curve[0], name
    full = [json.loads(line) for line in next((tmp_path / "smoke-seq2seq").glob("full-*/predictions/d2t.jsonl")).read_text().splitlines()]
    assert len(full) == 16 and all(len(row["references"]) == 3 for row in full)
    assert not any(row["prediction"] and row["prediction"].startswith(row["prompt"][:10]) for row in full)  # never the prompt echoed


def test_seq2seq_generation_is_the_same_batched_and_alone():
    import torch

    from harness.evaluate.generation import generate
    from harness.models.tiny import tiny_random_t5

    torch.manual_seed(0)
    model, tok = tiny_random_t5()
    # The tiny T5's small init decodes the same padding from any input; weights of a larger
    # scale make each row's output depend on its input, which is what padding could upset.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(std=0.3)
    model.generation_config.suppress_tokens = [tok.pad_token_id, tok.eos_token_id]
    prompts = ["name[A] | food[Thai]", "name[The Long Name Here] | area[riverside] | food[French]", "x"]
    batched = generate(model, tok, prompts, max_new_tokens=6, stop=[], batch_size=3)
    single = [generate(model, tok, [p], max_new_tokens=6, stop=[], batch_size=1)[0] for p in prompts]
    assert batched == single and all(batched) and len(set(batched)) > 1  # each row decoded from its own input


@pytest.mark.parametrize("name", ["prompt_tuning", "p_tuning", "prefix_tuning"])
def test_prompt_methods_train_and_generate_on_an_encoder_decoder(name):
    """peft's SEQ_2_SEQ_LM prompt methods on the tiny T5: a few steps train only the virtual
    tokens (and P-tuning's encoder), and generation runs through peft's own seq2seq path."""
    from harness.evaluate.generation import generate
    from harness.methods.base import ApplyContext
    from harness.models.tiny import tiny_random_t5
    from harness.registry import METHODS
    from harness.suite.schema import TrainSpec
    from harness.train.batches import Source, encode_seq2seq
    from harness.train.loop import train

    model, tok = tiny_random_t5()
    frozen = {n: p.detach().clone() for n, p in model.named_parameters()}
    method = METHODS.load(name)
    applied = method.apply(model, method.parse({"num_virtual_tokens": 4}), ApplyContext(steps=3, family="seq2seq"))
    assert applied.model.peft_config["default"].task_type == "SEQ_2_SEQ_LM"
    examples = [encode_seq2seq(tok, f"name[X{i}] | food[Thai]", f"X{i} serves Thai food.", 128) for i in range(8)]
    result = train(applied, tok, [Source("pairs", examples)], TrainSpec(steps=3, batch_size=4, learning_rate=1e-2, precision="fp32"), 0)
    assert len(result.loss_curve) == 3
    base = applied.model.get_base_model()
    assert all(torch_equal(p, frozen[n]) for n, p in base.named_parameters())  # the model itself never moved
    out = generate(applied.model, tok, ["name[A] | food[Thai]", "name[Long Name] | area[riverside]"], 5, [], 2)
    assert len(out) == 2


def torch_equal(a, b) -> bool:
    import torch

    return torch.equal(a, b)
